"""The NVIDIA v0.7 path and the container binds: job scripts from real ReFrame dry runs on TARA's
dgx partition and LANTA, and NVIDIA's published logs judged by the check's own functions.

There is no GPU, Singularity, NGC image or NVIDIA build here: the image and the checkout's build
product are STUB files (named so) that only need to exist for the set-up to pass.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import subprocess
from pathlib import Path

import pytest

from acceptance import cli, containers
from acceptance.mlperf import analysis, rcp
from conftest import NVIDIA_LOGS, ROOT, cases_of, resources_with, run_reframe

DGX1 = "dgx1_ngc20.06_pytorch"
A100X4 = "dgxa100_n4_ngc20.06_pytorch"


@pytest.fixture
def site(tmp_path):
    """TARA/LANTA site facts pointing at placeholder files."""
    coco = tmp_path / "coco"
    (coco / "models").mkdir(parents=True)
    checkout = tmp_path / "training_results_v0.7" / "pytorch"
    (checkout / "tools").mkdir(parents=True)
    (checkout / "tools" / "train_mlperf.py").write_text("# STUB: NVIDIA's trainer is not here\n")
    (checkout / "maskrcnn_benchmark").mkdir()
    (checkout / "maskrcnn_benchmark" / "_C.cpython-36m-x86_64-linux-gnu.so").write_text("STUB build product\n")
    images = {}
    for name in ("bundled", "nvidia"):
        images[name] = tmp_path / f"{name}.sif"
        images[name].write_text(f"STUB: stands in for the {name} Singularity image\n")
    env = {
        "ACCEPTANCE_MODULES_SYSTEM": "nomod",
        "ACCEPTANCE_ACCOUNT": "proj0001",
        "ACCEPTANCE_COCO_DIR": str(coco),
        "ACCEPTANCE_IMAGE_BUNDLED": str(images["bundled"]),
        "ACCEPTANCE_IMAGE_NVIDIA": str(images["nvidia"]),
        "ACCEPTANCE_NVIDIA_CHECKOUT": str(checkout),
    }
    return {"env": env, "coco": coco, "checkout": checkout, "images": images}


def _scripts(prefix: Path, system: str, partition: str, nodes: int) -> dict[str, str]:
    """implementation -> the time-to-train job script for ``nodes`` nodes."""
    found = {}
    for path in prefix.glob(f"stage/{system}/{partition}/maskrcnn/MaskRCNNBenchmark_*/rfm_job.sh"):
        text = path.read_text()
        if f"--nodes={nodes}\n" not in text or "--throughput-iters" in text or "SOLVER.MAX_ITER 200 " in text:
            continue
        found["nvidia-v0.7" if "train_mlperf.py" in text else "bundled"] = text
    return found


def _dry_run(tmp_path: Path, where: str, nodes: int, env: dict, *extra: str) -> tuple[dict[str, str], dict, Path]:
    """A real ReFrame dry run of the benchmark check on ``where`` (system:partition); the
    time-to-train job scripts for ``nodes`` nodes by implementation, the JSON report, the prefix."""
    prefix = tmp_path / where.replace(":", "-")
    done, report = run_reframe(["--system", where, "--dry-run", "-n", "MaskRCNNBenchmark", *extra], prefix, env)
    assert done.returncode == 0, done.stdout[-3000:]
    system, partition = where.split(":")
    return _scripts(prefix, system, partition, nodes), report, prefix


def _masks(script: str) -> list[int]:
    match = re.search(r"--cpu-bind=verbose,mask_cpu:(\S+)", script)
    assert match, script
    return [int(m, 16) for m in match.group(1).split(",")]


def _cores(mask: int) -> list[int]:
    return [bit for bit in range(mask.bit_length()) if mask >> bit & 1]


def test_tara_dgx_job_scripts_for_both_implementations(tmp_path, site):
    scripts, report, prefix = _dry_run(tmp_path, "tara:dgx", 1, site["env"])
    assert set(scripts) == {"bundled", "nvidia-v0.7"}
    coco, checkout = site["coco"], site["checkout"]
    for impl, script in scripts.items():
        # One task per GPU on the one DGX-1 node, whole node, account and partition.
        for line in ("#SBATCH --ntasks=8", "#SBATCH --ntasks-per-node=8", "#SBATCH --exclusive", "#SBATCH -p dgx",
                     "#SBATCH -A proj0001", "#SBATCH --gres=gpu:8"):  # fmt: skip
            assert line in script, (impl, line)
        assert "srun --cpu-bind=verbose,mask_cpu:" in script and "singularity exec" in script
        assert " --nv " in script and f"-B {coco}:/coco:ro " in script
        # DGX-1: 2 sockets x 20 cores, hyperthreads; each GPU's rank gets 5 cores of its socket
        # and their siblings, no core shared.
        masks = _masks(script)
        assert len(masks) == 8
        assert _cores(masks[0]) == [0, 1, 2, 3, 4, 40, 41, 42, 43, 44]
        assert _cores(masks[4]) == [20, 21, 22, 23, 24, 60, 61, 62, 63, 64]
        assert sum(len(_cores(m)) for m in masks) == 80 and len(set().union(*map(_cores, masks))) == 80
    bundled, nvidia = scripts["bundled"], scripts["nvidia-v0.7"]
    assert str(site["images"]["bundled"]) in bundled and "--recipe nvidia_dgx1" in bundled
    assert str(site["images"]["nvidia"]) in nvidia
    # NVIDIA's trainer: checkout and data read-only, rank/world from Slurm inside each task,
    # the rendezvous on the first node, the DGX-1 configuration's hyperparameters.
    assert f"-B {checkout}:/workspace/object_detection:ro " in nvidia and f"-B {coco}:/data:ro " in nvidia
    # The workload's interpreter is named: the image's (conda in NGC 20.06, system Python after).
    assert "/opt/conda/bin/python -u " in nvidia and "/usr/bin/python3 -u -m mlperf_maskrcnn train" in bundled
    assert 'RANK="${SLURM_PROCID:-0}"' in nvidia and 'WORLD_SIZE="${SLURM_NTASKS:-1}"' in nvidia
    assert '--local_rank "$LOCAL_RANK"' in nvidia
    assert 'export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"' in nvidia
    for pair in ("DTYPE float16", "SOLVER.BASE_LR 0.06", "SOLVER.MAX_ITER 80000", "SOLVER.IMS_PER_BATCH 48",
                 "SOLVER.WARMUP_ITERS 625", "TEST.IMS_PER_BATCH 8", "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN 6000",
                 "MODEL.WEIGHT /coco/models/R-50.pkl"):  # fmt: skip
        assert pair in nvidia, pair
    assert "(24000, 32000)" in nvidia
    # The records NVIDIA's scripts log outside the trainer come before it.
    assert nvidia.index('"key": "cache_clear"') < nvidia.index("srun ")
    assert nvidia.index('"key": "submission_platform"') < nvidia.index("srun ")
    # Every run's record carries the image digest.
    digests = {c["implementation"]: c["image_digest"] for c in cases_of(report) if c.get("num_nodes") == 1}
    for impl, name in (("bundled", "bundled"), ("nvidia-v0.7", "nvidia")):
        want = hashlib.sha256(site["images"][name].read_bytes()).hexdigest()
        assert digests[impl] == f"sha256:{want}"
    # The acceptance report shows what the run recorded: each image's digest and the binding.
    assert cli.main(["report", str(prefix / "report.json"), "--out", str(tmp_path / "report")]) == 0
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert f"- image {site['images']['nvidia']}: {digests['nvidia-v0.7']}" in summary
    assert "CPU binding: mask_cpu:0x1f000000001f," in summary


def test_lanta_four_node_job_scripts_for_both_implementations(tmp_path, site):
    scripts, _, _ = _dry_run(tmp_path, "lanta:gpu", 4, site["env"])
    assert set(scripts) == {"bundled", "nvidia-v0.7"}
    for impl, script in scripts.items():
        for line in ("#SBATCH --ntasks=16", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-node=4",
                     "--network=job_vni,single_node_vni"):  # fmt: skip
            assert line in script, (impl, line)
        assert "apptainer exec" in script and " --nv " in script
        assert f"-B {site['coco']}:/coco:ro " in script
        # The site's NCCL network in the image: its plugin bound in, NCCL_NET named (quoted: a space).
        assert "export NCCL_NET='AWS Libfabric'" in script and "export NCCL_DEBUG=INFO" in script
        assert "-B /opt/cray/aws-ofi-nccl/lib:/opt/cray/aws-ofi-nccl/lib:ro " in script
        # One EPYC 7713 (64 cores, no SMT): 16 cores per A100.
        assert [_cores(m) for m in _masks(script)] == [list(range(i * 16, i * 16 + 16)) for i in range(4)]
    assert "--recipe lanta_4x4" in scripts["bundled"]
    nvidia = scripts["nvidia-v0.7"]
    assert "SOLVER.IMS_PER_BATCH 96" in nvidia


def test_cache_clearing_runs_on_every_node_before_the_records(tmp_path, site):
    env = dict(site["env"], ACCEPTANCE_CACHE_CLEAR_COMMAND="sync && sudo -n /sbin/sysctl vm.drop_caches=3")
    scripts, _, _ = _dry_run(tmp_path, "lanta:gpu", 4, env)
    assert set(scripts) == {"bundled", "nvidia-v0.7"}
    for impl, script in scripts.items():
        clear = (
            "if srun --ntasks=4 --ntasks-per-node=1 sh -c 'sync && sudo -n /sbin/sysctl vm.drop_caches=3'; "
            "then export MLPERF_CACHE_CLEARED=1; else echo 'page cache not cleared' >&2; fi"
        )
        assert clear in script, impl
        if impl == "nvidia-v0.7":
            assert script.index(clear) < script.index('"key": "cache_clear"')


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("missing", "is not NVIDIA's v0.7 maskrcnn checkout (no tools/train_mlperf.py)"),
        ("unbuilt", "is not built (no maskrcnn_benchmark/_C*.so): build it in its image"),
    ],
)
def test_missing_or_unbuilt_checkout_skips_saying_what_to_do(tmp_path, site, damage, reason):
    if damage == "missing":
        (site["checkout"] / "tools" / "train_mlperf.py").unlink()
    else:
        next((site["checkout"] / "maskrcnn_benchmark").glob("_C*.so")).unlink()
    done, report = run_reframe(
        ["--system", "tara:dgx", "--dry-run", "-n", "MaskRCNNBenchmark", "-E", "num_nodes==1"],
        tmp_path / damage,
        site["env"],
    )
    assert done.returncode == 0, done.stdout[-2000:]
    nvidia = [c for c in cases_of(report) if c["implementation"] == "nvidia-v0.7"]
    bundled = [c for c in cases_of(report) if c["implementation"] == "bundled"]
    assert nvidia and all(c["result"] == "skip" and reason in c["skip_reason"] for c in nvidia)
    assert all(str(site["checkout"]) in c["skip_reason"] for c in nvidia)
    assert bundled and all(c["result"] == "pass" for c in bundled)  # a dry run "passes" what it would submit


def test_symlinked_data_layout_binds_the_link_targets(tmp_path, site):
    """A /coco layout made of links to folders elsewhere: the targets are bound too, read-only,
    at their own paths so that the links resolve inside the container."""
    elsewhere = tmp_path / "downloads" / "train2017"
    elsewhere.mkdir(parents=True)
    (site["coco"] / "train2017").symlink_to(elsewhere)
    (site["coco"] / "val2017").mkdir()
    mounts = containers.data_mounts(site["coco"], ("/coco", "/data"))
    assert mounts == [(str(site["coco"]), "/coco"), (str(site["coco"]), "/data"), (str(elsewhere), str(elsewhere))]
    scripts, _, _ = _dry_run(tmp_path, "tara:dgx", 1, site["env"], "-E", "num_nodes==1")
    assert set(scripts) == {"bundled", "nvidia-v0.7"}
    for script in scripts.values():
        assert f"-B {elsewhere}:{elsewhere}:ro " in script


# ---- NVIDIA's published logs through the check's sanity and performance functions ---------------
# The DGX-1 runs and their score are judged against tara:dgx's entry in resources/references (the
# project's own file, linked in below); the 4x DGX A100 ones against these, for the local partition.
REPLAY_REFERENCES = """
- check: maskrcnn
  system: local:default
  nodes: 4
  implementation: nvidia-v0.7
  mode: time-to-train
  source: NVIDIA v0.7 4x DGX A100 published figures (replay test)
  perf:
    score: {value: 28.46, lower: -0.01, upper: 0.01, unit: min}
    time_to_train: {value: 28.46, lower: null, upper: null, unit: min}
    throughput: {value: 1189.0, lower: -0.02, upper: 0.02, unit: img/s}
    eval_time: {value: 551.0, lower: -0.2, upper: 0.2, unit: s}
"""


def replay(tmp_path: Path, logs: Path, name: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """The replay checks run by real ReFrame on ``logs`` (five runs and a score per set)."""
    env = {"ACCEPTANCE_REPLAY_LOGS": str(logs), **resources_with(tmp_path / f"resources-{name}", REPLAY_REFERENCES)}
    (tmp_path / f"resources-{name}" / "references" / "maskrcnn.yaml").symlink_to(
        ROOT / "resources" / "references" / "maskrcnn.yaml"
    )
    checks = ROOT / "tests" / "suite" / "checks" / "nvidia_log_replay.py"
    return run_reframe(["-r", *extra], tmp_path / name, env, checks=checks)


def perf_of(case: dict) -> dict[str, list]:
    return {key.split(":")[-1]: value for key, value in case["perfvalues"].items()}


def test_published_nvidia_logs_are_five_runs_each_and_score_as_published(tmp_path):
    done, report = replay(tmp_path, NVIDIA_LOGS, "published", "--performance-report")
    assert done.returncode == 0, done.stdout[-3000:]
    cases = cases_of(report)
    assert len(cases) == 12 and all(c["result"] == "pass" for c in cases)
    for folder, check, published in ((DGX1, "MaskRCNNReplayDgx1", 153.78), (A100X4, "MaskRCNNReplayA100x4", 28.46)):
        runs = sorted((c for c in cases if c["name"].startswith(check + " ")), key=lambda c: c["run_index"])
        # Five runs told apart by run_index in their names, each printing its own result file.
        assert [c["run_index"] for c in runs] == [0, 1, 2, 3, 4]
        assert [Path(c["log_file"]).name for c in runs] == [f"result_{i}.txt.xz" for i in range(5)]
        assert all(Path(c["log_file"]).parent.name == folder and f"%run_index={c['run_index']}" in c["display_name"]
                   for c in runs)  # fmt: skip
        for case in runs:
            perf = perf_of(case)
            minutes = analysis.summarize(case["log_file"]).time_to_train_min
            # A run's minutes are reported, never bounded; its img/s is bounded; its epochs are
            # reported against MLPerf's RCP at its batch (14).
            assert perf["time_to_train"][0] == pytest.approx(minutes, abs=1e-9)
            assert perf["time_to_train"][2:4] == [None, None] and perf["throughput"][2] is not None
            assert perf["epochs"][1:4] == [14.0, None, None]
        (score_case,) = [c for c in cases if c["name"].startswith(check + "Score")]
        perf = perf_of(score_case)
        assert round(perf["score"][0], 2) == published and perf["score"][5] == "pass"
        assert score_case["run_names"] == sorted(c["unique_name"] for c in runs)
    dgx1 = next(c for c in cases if c["name"].startswith("MaskRCNNReplayDgx1Score"))
    perf = perf_of(dgx1)
    # Judged against the tara:dgx reference: 153.78 min, at most +10%.
    assert perf["score"][1:5] == [153.78, None, 0.10, "min"]
    assert dgx1["reference_source"].startswith("tara:dgx: NVIDIA MLPerf Training v0.7, 1x DGX-1")
    assert round(perf["dropped_fastest"][0], 2) == 152.74 and round(perf["dropped_slowest"][0], 2) == 155.17
    assert perf["epochs"][:4] == [14.0, 14.0, 0.0, pytest.approx(rcp.SLOW_FACTOR - 1)]
    assert dgx1["score_note"] == (
        "v0.7 score 153.78 min: olympic mean of the middle 3, run 1 (153.86 min), run 2 (153.46 min), "
        "run 4 (154.01 min); dropped run 0 (152.74 min): fastest; dropped run 3 (155.17 min): slowest"
    )
    assert dgx1["rcp_note"].startswith("within the RCP range: mean epochs 14.00 (runs: 14, 14, 14, 14, 14)")
    a100 = next(c for c in cases if c["name"].startswith("MaskRCNNReplayA100x4Score"))
    assert "dropped run 3 (27.07 min): fastest; dropped run 4 (33.03 min): slowest" in a100["score_note"]
    assert perf_of(a100)["epochs"][0] == pytest.approx(44 / 3)  # 14, 15, 15 of the middle runs
    # The score and the dropped runs in the perflog and in ReFrame's performance report.
    perflog = (tmp_path / "published" / "perflogs" / "local" / "default" / "MaskRCNNReplayDgx1Score.log").read_text()
    assert "|score=153.8 min (ref 153.78" in perflog and "|dropped_fastest=152.7 min" in perflog  # 4 digits
    assert "|epochs=14 epochs" in perflog
    assert re.search(r"MaskRCNNReplayDgx1Score %num_nodes=1 .*\bscore\b.*153\.779", done.stdout)
    # The acceptance report shows each set's score with the runs it used and dropped.
    assert cli.main(["report", str(tmp_path / "published" / "report.json"), "--out", str(tmp_path / "report")]) == 0
    summary = (tmp_path / "report" / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| MaskRCNNReplayDgx1 on local:default"))
    assert "| 153.78 min | v0.7 score 153.78 min" in row and "dropped run 3 (155.17 min): slowest" in row
    assert "within the RCP range" in row


def test_damaged_nvidia_logs_fail_the_check_saying_why(tmp_path):
    text = lzma.decompress((NVIDIA_LOGS / DGX1 / "result_0.txt.xz").read_bytes()).decode()
    folder = tmp_path / "logs" / DGX1
    folder.mkdir(parents=True)
    # Cut off before run_stop (a killed job), and a run whose every evaluation misses the target.
    cut = text[: text.index('"key": "run_stop"')].rsplit("\n", 1)[0] + "\n"
    (folder / "result_0.txt.xz").write_bytes(lzma.compress(cut.encode()))
    missed = re.sub(r'("key": "eval_accuracy", "value": )\{[^}]*\}', r'\1{"BBOX": 0.2, "SEGM": 0.2}', text)
    missed = missed.replace('"status": "success"', '"status": "aborted"')
    (folder / "result_1.txt.xz").write_bytes(lzma.compress(missed.encode()))
    done, report = replay(tmp_path, tmp_path / "logs", "damaged")
    assert done.returncode != 0
    results = {Path(c["log_file"]).name: c for c in cases_of(report) if c["name"].startswith("MaskRCNNReplayDgx1 ")}
    assert results["result_0.txt.xz"]["result"] == "fail"
    assert "run_stop" in results["result_0.txt.xz"]["fail_reason"]
    assert results["result_1.txt.xz"]["result"] == "fail"
    assert "quality target BBOX 0.377 / SEGM 0.339 not met" in results["result_1.txt.xz"]["fail_reason"]
    # No 4x DGX A100 logs in this folder: those runs skip, naming what they looked for.
    a100 = [c for c in cases_of(report) if c["name"].startswith("MaskRCNNReplayA100x4 ")]
    assert len(a100) == 5 and all(c["result"] == "skip" and "ACCEPTANCE_REPLAY_LOGS" in c["skip_reason"] for c in a100)


def test_gpu_checks_request_the_gpus_on_every_node_of_the_allocation(tmp_path, site):
    prefix = tmp_path / "gpus"
    done, report = run_reframe(["--system", "lanta:gpu", "--dry-run", "-n", "GpusVisibleCheck|ContainerCheck"],
                               prefix, site["env"])  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    gpus = (prefix / "stage/lanta/gpu/maskrcnn/GpusVisibleCheck/rfm_job.sh").read_text()
    # As many nodes as the MLPerf run uses (4), one task each, every GPU requested as jobs do.
    for line in ("#SBATCH --ntasks=4", "#SBATCH --ntasks-per-node=1", "#SBATCH --gpus-per-node=4"):
        assert line in gpus, line
    assert "nvidia-smi --query-gpu=name --format=csv,noheader" in gpus
    container = (prefix / "stage/lanta/gpu/maskrcnn/ContainerCheck/rfm_job.sh").read_text()
    assert "#SBATCH --gpus-per-node=4" in container and "apptainer exec --nv" in container
    assert "/usr/bin/python3 -m mlperf_maskrcnn.probes devices" in container


def test_a_run_longer_than_the_partition_allows_is_skipped(tmp_path, site):
    done, report = run_reframe(
        ["--system", "lanta:gpu-devel", "--dry-run", "-n", "MaskRCNNBenchmark", "-x", "nvidia",
         "-E", "num_nodes==4 and mode=='time-to-train'", "-S", "run_time_limit=3h"],
        tmp_path / "limit", site["env"],
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    (case,) = cases_of(report)
    assert case["result"] == "skip"
    assert case["skip_reason"].startswith("lanta:gpu-devel allows jobs of 2h; this run needs 3h")
