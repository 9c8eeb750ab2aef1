"""Slurm with pyxis/enroot, NVIDIA's way to run the benchmark: job scripts that real ReFrame dry
runs write for a 4-node x 8-GPU partition described only in config/ (the vendor file of README's
"Adding a system", dropped into a copy of config/), and those scripts run.

There is no Slurm controller, pyxis, enroot, image or GPU here: the images are STUB files that
start with squashfs's magic number, the NVIDIA checkout's build product is a STUB, and the
scripts run with STUB ``srun``, ``enroot`` and ``scontrol`` programs first on PATH, which record
the arguments they get.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from test_adding_a_system import REFERENCES as MLPERF_REFERENCES
from test_job_scripts import STUB

from acceptance import cli, containers
from conftest import ROOT, cases_of, resources_with, run_reframe

REGISTRY = "registry.vendor.example#mlperf/maskrcnn-nvidia:20.06-py3"  # the README file's default
WORKSPACE = "/workspace/object_detection"

# The vendor's offer of test_adding_a_system for this partition, and its system checks' bounds.
REFERENCES = MLPERF_REFERENCES.replace("vendor:gpu", "vendor:pyxis") + """
- {check: container, system: "vendor:pyxis", source: test, perf: {gpus: {value: 8, lower: 0.0, upper: 0.0, unit: GPUs}}}
- check: allreduce
  system: vendor:pyxis
  nodes: any
  source: test
  perf: {busbw: {value: 100.0, lower: -0.5, upper: null, unit: GB/s}}
"""


def readme_vendor_file() -> str:
    """The vendor's system file as README's "Adding a system" shows it."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Adding a system") :]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block and '"container_runtime": "pyxis"' in block.group(1), "README shows no pyxis partition"
    return block.group(1)


def _squashfs(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(containers.SQUASHFS_MAGIC + b" STUB: stands in for an enroot squashfs image\n")
    return path


def _site(tmp_path: Path, coco_name: str = "coco", images_name: str = "images", checkout_name: str = "checkout"):
    """A copy of config/ with the README's vendor file, and the site folders it names."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("__pycache__"))
    (config / "systems" / "vendor.py").write_text(readme_vendor_file())
    coco = tmp_path / coco_name
    (coco / "models").mkdir(parents=True)
    checkout = tmp_path / checkout_name
    (checkout / "tools").mkdir(parents=True)
    (checkout / "tools" / "train_mlperf.py").write_text("# STUB: NVIDIA's trainer is not here\n")
    (checkout / "maskrcnn_benchmark").mkdir()
    (checkout / "maskrcnn_benchmark" / "_C.cpython-36m-x86_64-linux-gnu.so").write_text("STUB build product\n")
    images = tmp_path / images_name
    env = {
        "ACCEPTANCE_MODULES_SYSTEM": "nomod",
        "ACCEPTANCE_COCO_DIR": str(coco),
        "ACCEPTANCE_IMAGES_DIR": str(images),
        "ACCEPTANCE_NVIDIA_CHECKOUT": str(checkout),
        **resources_with(tmp_path / "resources", REFERENCES),
    }
    return config / "tara.py", env, {"coco": coco, "checkout": checkout, "images": images}


def _srun_argv(script: str) -> list[str]:
    """The words of the job's srun line that runs the container, as the shell reads them."""
    (line,) = [line for line in script.splitlines() if line.startswith("srun ") and "--container-image" in line]
    return shlex.split(line)


def _command(argv: list[str]) -> list[str]:
    """What srun runs: the words after its options."""
    return argv[next(i for i, word in enumerate(argv) if i and not word.startswith("-")) :]


def _cores(mask: str) -> list[int]:
    bits = int(mask, 16)
    return [b for b in range(bits.bit_length()) if bits >> b & 1]


def _time_to_train_scripts(prefix: Path) -> dict[str, Path]:
    found = {}
    for path in prefix.glob("stage/vendor/pyxis/maskrcnn/MaskRCNNBenchmark_*/rfm_job.sh"):
        text = path.read_text()
        if "--nodes=4\n" in text and "--throughput-iters" not in text and "SOLVER.MAX_ITER 200 " not in text:
            found["nvidia-v0.7" if "train_mlperf.py" in text else "bundled"] = path
    return found


def test_job_scripts_from_config_run_both_implementations_through_pyxis(tmp_path):
    config, env, site = _site(tmp_path)
    bundled_image = _squashfs(site["images"] / "mlperf-maskrcnn-bundled.sqsh")
    prefix = tmp_path / "run"
    args = ["--system", "vendor:pyxis", "--dry-run", "-n", "MaskRCNNBenchmark|ContainerCheck|AllreduceCheck"]
    done, report = run_reframe(args, prefix, env, config=config)
    assert done.returncode == 0, done.stdout[-3000:]
    scripts = _time_to_train_scripts(prefix)
    assert set(scripts) == {"bundled", "nvidia-v0.7"}
    coco, checkout = site["coco"], site["checkout"]
    argvs = {}
    for impl, path in scripts.items():
        script = path.read_text()
        # One task per GPU on 4 nodes x 8 GPUs, as config/ describes them.
        for line in ("#SBATCH --nodes=4", "#SBATCH --ntasks=32", "#SBATCH --ntasks-per-node=8",
                     "#SBATCH --gpus-per-node=8", "#SBATCH -p gpu"):  # fmt: skip
            assert line in script, (impl, line)
        assert "singularity" not in script and "apptainer" not in script and " --nv " not in script
        argv = argvs[impl] = _srun_argv(script)
        stage = path.parent
        assert argv[0] == "srun" and "--container-workdir=/rfm_workdir" in argv and "--no-container-mount-home" in argv
        # The CPU binding stays srun's: 2x EPYC 7742 with SMT, 16 cores and their siblings per GPU.
        (bind,) = [w for w in argv if w.startswith("--cpu-bind=")]
        masks = bind.removeprefix("--cpu-bind=verbose,mask_cpu:").split(",")
        assert len(masks) == 8
        assert _cores(masks[0]) == [*range(0, 16), *range(128, 144)]
        assert _cores(masks[4]) == [*range(64, 80), *range(192, 208)]
        mounts = f"{coco}:/coco:ro,{stage}:/rfm_workdir"
        if impl == "nvidia-v0.7":
            mounts = f"{coco}:/coco:ro,{coco}:/data:ro,{checkout}:{WORKSPACE}:ro,{stage}:/rfm_workdir"
        assert f"--container-mounts={mounts}" in argv, argv
        assert "export NCCL_DEBUG=INFO" in script
    # The bundled trainer is the command itself; NVIDIA's is the same bash -c as under Singularity.
    assert f"--container-image={bundled_image}" in argvs["bundled"]
    bundled = _command(argvs["bundled"])
    assert bundled[:6] == ["/usr/bin/python3", "-u", "-m", "mlperf_maskrcnn", "train", "--recipe"]
    assert bundled[bundled.index("--data") + 1] == "/coco" and "nvidia_dgxa100_4x8x4" in bundled
    assert f"--container-image={REGISTRY}" in argvs["nvidia-v0.7"]
    nvidia = _command(argvs["nvidia-v0.7"])
    assert nvidia[:2] == ["bash", "-c"] and 'RANK="${SLURM_PROCID:-0}"' in nvidia[2]
    assert f"/opt/conda/bin/python -u {WORKSPACE}/tools/train_mlperf.py" in nvidia[2]
    assert "SOLVER.IMS_PER_BATCH 128" in nvidia[2]
    nvidia_script = scripts["nvidia-v0.7"].read_text()
    assert nvidia_script.index('"key": "submission_platform"') < nvidia_script.index("srun ")
    assert 'export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"' in nvidia_script
    # What the run records of each image: the squashfs file's sha256; the reference, not pinned.
    mlperf = [c for c in cases_of(report) if c["name"].startswith("MaskRCNNBenchmark") and c["num_nodes"] == 4]
    digests = {c["implementation"]: c["image_digest"] for c in mlperf}
    assert digests["bundled"] == "sha256:" + hashlib.sha256(bundled_image.read_bytes()).hexdigest()
    assert digests["nvidia-v0.7"].startswith(f"not pinned: registry reference {REGISTRY},")
    # ... and the acceptance report shows what the run recorded.
    assert cli.main(["report", str(prefix / "report.json"), "--out", str(tmp_path / "report")]) == 0
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert f"- image {bundled_image}: {digests['bundled']}" in summary
    assert f"- image {REGISTRY}: {digests['nvidia-v0.7']}" in summary
    # The system checks' probes run in the bundled image the same way.
    stage = prefix / "stage/vendor/pyxis/maskrcnn"
    probe = _srun_argv((stage / "ContainerCheck" / "rfm_job.sh").read_text())
    assert f"--container-image={bundled_image}" in probe
    assert f"--container-mounts={stage / 'ContainerCheck'}:/rfm_workdir" in probe
    assert _command(probe) == ["/usr/bin/python3", "-m", "mlperf_maskrcnn.probes", "devices"]
    (allreduce,) = [p for p in stage.glob("AllreduceCheck_*/rfm_job.sh") if "--nodes=4\n" in p.read_text()]
    assert _command(_srun_argv(allreduce.read_text()))[:3] == ["/usr/bin/python3", "-m", "mlperf_maskrcnn.probes"]


def _stubs(folder: Path) -> Path:
    folder.mkdir()
    for name in ("srun", "enroot", "scontrol"):
        path = folder / name
        path.write_text(STUB.replace("{name}", name))
        path.chmod(0o755)
    return folder


def test_shell_syntax_in_paths_and_images_reaches_srun_as_literal_options(tmp_path):
    # Mounted paths may not hold whitespace (enroot's mount lines), so their shell syntax has none.
    config, env, site = _site(
        tmp_path, coco_name="coco$(touch${IFS}pwned-x)", images_name="images; touch pwned-y",
        checkout_name="checkout`touch${IFS}pwned-c`",
    )  # fmt: skip
    bundled_image = _squashfs(site["images"] / "mlperf-maskrcnn-bundled.sqsh")
    nvidia_image = _squashfs(tmp_path / "nvidia $(touch pwned-z).sqsh")
    env["ACCEPTANCE_IMAGE_NVIDIA"] = str(nvidia_image)
    prefix = tmp_path / "rfm"
    variant = "num_nodes==4 and mode=='time-to-train'"
    done, _ = run_reframe(["--system", "vendor:pyxis", "--dry-run", "-n", "MaskRCNNBenchmark", "-E", variant],
                          prefix, env, config=config)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    scripts = sorted(prefix.glob("stage/vendor/pyxis/maskrcnn/MaskRCNNBenchmark_*/rfm_job.sh"))
    assert len(scripts) == 2  # bundled and NVIDIA's implementation
    stubs = _stubs(tmp_path / "stubs")
    calls = tmp_path / "calls.jsonl"
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PATH=f"{stubs}:{os.environ['PATH']}", STUB_LOG=str(calls))
    runs = [subprocess.run(["bash", s], cwd=work, env=env, capture_output=True, text=True, timeout=60) for s in scripts]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert not list(tmp_path.rglob("pwned-*")), "shell syntax was run"
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    # The job script never calls enroot: pyxis does, inside Slurm's step daemon.
    assert not [argv for argv in recorded if argv[0] == "enroot"]
    launched = {("nvidia" if str(nvidia_image) in " ".join(a) else "bundled"): a for a in recorded if a[0] == "srun"}
    assert set(launched) == {"bundled", "nvidia"}
    coco, checkout = site["coco"], site["checkout"]
    stages = {("nvidia" if "train_mlperf.py" in s.read_text() else "bundled"): s.parent for s in scripts}
    assert launched["bundled"][1:3] == [
        f"--container-image={bundled_image}",
        f"--container-mounts={coco}:/coco:ro,{stages['bundled']}:/rfm_workdir",
    ]
    assert launched["nvidia"][1:3] == [
        f"--container-image={nvidia_image}",
        f"--container-mounts={coco}:/coco:ro,{coco}:/data:ro,{checkout}:{WORKSPACE}:ro,{stages['nvidia']}:/rfm_workdir",
    ]
    bundled = _command(launched["bundled"])
    assert bundled[0] == "/usr/bin/python3" and bundled[bundled.index("--data") + 1] == "/coco"


@pytest.mark.parametrize("kind", ["missing", "not-squashfs"])
def test_a_declared_runtime_without_its_image_skips_saying_why(tmp_path, kind):
    config, env, site = _site(tmp_path)
    bundled_image = site["images"] / "mlperf-maskrcnn-bundled.sqsh"
    if kind == "not-squashfs":
        bundled_image.parent.mkdir()
        bundled_image.write_bytes(b"#!/usr/bin/env run-singularity\nSTUB: a Singularity image under a .sqsh name\n")
        reason = f"container image {bundled_image} is not an enroot squashfs file"
    else:
        reason = f"container image {bundled_image} not found (pyxis runs an enroot squashfs file or registry reference"
    args = ["--system", "vendor:pyxis", "--dry-run", "-n", "MaskRCNNBenchmark|ContainerCheck", "-x", "nvidia"]
    done, report = run_reframe(args, tmp_path / kind, env, config=config)
    assert done.returncode == 0, done.stdout[-3000:]
    cases = [c for c in cases_of(report) if c["name"].startswith("ContainerCheck") or c.get("num_nodes") == 4]
    assert {c["name"].split()[0] for c in cases} == {"ContainerCheck", "MaskRCNNBenchmark"}
    for case in cases:
        assert case["result"] == "skip" and case["skip_reason"].startswith(reason), case["skip_reason"]
