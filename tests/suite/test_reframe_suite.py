"""The ReFrame suite, run for real (subprocess), judged by its JSON run report and job scripts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, SECRETS, cases_of, resources_with, run_reframe


def _case(report, name_part: str, **params) -> dict:
    for case in cases_of(report):
        if name_part in case["name"] and all(str(case.get(k)) == str(v) for k, v in params.items()):
            return case
    raise AssertionError(f"no test case {name_part} {params}")


def test_main_command_passes_on_the_local_fallback(smoke_run):
    done, report = smoke_run["process"], smoke_run["report"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # bin/suite ends by printing the report it wrote for this run.
    printed = done.stdout.strip().splitlines()[-1]
    assert printed.startswith("acceptance report: ")
    page = printed.split(": ", 1)[1].split(" (summary")[0]
    assert Path(page).is_file() and Path(page).is_relative_to(smoke_run["prefix"] / "reports")
    cases = cases_of(report)
    results = {(c["name"].split()[0], c.get("num_nodes"), c.get("mode")): c["result"] for c in cases}
    assert results[("MaskRCNNSmoke", 1, "time-to-train")] == "pass"
    assert results[("MaskRCNNSmoke", 1, "throughput")] == "pass"
    # 2- and 4-node variants cannot run on a 1-node partition: skipped, saying why.
    for nodes in (2, 4):
        case = _case(report, "MaskRCNNSmoke", num_nodes=nodes, mode="time-to-train")
        assert case["result"] == "skip" and "cannot be scheduled" in case["skip_reason"]
    assert _case(report, "AllreduceCheck", num_nodes=1)["result"] == "pass"
    assert _case(report, "LoaderRateSmoke")["result"] == "pass"
    assert report["session_info"]["num_failures"] == 0


def test_smoke_run_reached_target_within_ten_minutes_with_two_ranks(smoke_run):
    case = _case(smoke_run["report"], "MaskRCNNSmoke", num_nodes=1, mode="time-to-train")
    perf = case["perfvalues"]
    ttt = perf["local:default:time_to_train"]
    assert ttt[5] == "pass" and 0 < ttt[0] < 10.0
    assert perf["local:default:epochs"][0] >= 1
    assert perf["local:default:throughput"][0] > 0
    assert case["num_tasks"] == 2 and case["recipe"] == "smoke"
    log = Path(case["outputdir"]) / case["mlperf_log"]  # the variable the report reads
    text = log.read_text()
    assert '"key": "run_stop"' in text and '"status": "success"' in text
    assert "-m torch.distributed.run" in (Path(case["outputdir"]) / "rfm_job.sh").read_text()


def test_smoke_log_passes_the_official_checker(smoke_run):
    import subprocess
    import sys

    case = _case(smoke_run["report"], "MaskRCNNSmoke", num_nodes=1, mode="time-to-train")
    log = Path(case["outputdir"]) / case["mlperf_log"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlperf_logging.compliance_checker",
            "--usage",
            "training",
            "--ruleset",
            "0.7.0",
            "--log_output",
            str(log.parent / "cc.log"),
            str(log),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "SUCCESS" in done.stdout + done.stderr


def test_throughput_mode_reports_projection(smoke_run):
    case = _case(smoke_run["report"], "MaskRCNNSmoke", num_nodes=1, mode="throughput")
    perf = case["perfvalues"]
    assert perf["local:default:throughput"][0] > 0
    assert perf["local:default:projected_time_to_train"][0] > 0


def test_perflog_records_node_count_and_recipe(smoke_run):
    logs = list((smoke_run["prefix"] / "perflogs" / "local" / "default").glob("MaskRCNNSmoke*.log"))
    assert logs
    text = "".join(p.read_text() for p in logs)
    assert "nodes=1|recipe=smoke|" in text and "time_to_train=" in text


@pytest.fixture
def tara_env(tmp_path):
    """Site facts for TARA's dry runs: placeholder data and image paths (STUB files: there is no
    COCO or Singularity here), an account, and no Lmod."""
    coco = tmp_path / "coco"
    coco.mkdir()
    image = tmp_path / "bundled.sif"
    image.write_text("STUB: stands in for a Singularity image in dry runs\n")
    return {
        "ACCEPTANCE_MODULES_SYSTEM": "nomod",
        "ACCEPTANCE_ACCOUNT": "proj0001",
        "ACCEPTANCE_COCO_DIR": str(coco),
        "ACCEPTANCE_IMAGE_BUNDLED": str(image),
    }


def test_tara_lists_1_2_4_node_variants(tmp_path, tara_env):
    done, _ = run_reframe(["--system", "tara", "-l"], tmp_path / "list", env=tara_env)
    assert done.returncode == 0, done.stderr
    for nodes in (1, 2, 4):
        assert f"MaskRCNNBenchmark %num_nodes={nodes} %implementation=bundled %mode=time-to-train" in done.stdout


def test_dry_run_on_tara_dgx_writes_the_job_script(tmp_path, tara_env):
    prefix = tmp_path / "dry"
    done, report = run_reframe(
        ["--system", "tara:dgx", "--dry-run", "-n", "MaskRCNNBenchmark", "-x", "nvidia"], prefix, env=tara_env
    )
    assert done.returncode == 0, done.stdout[-2000:]
    scripts = sorted(prefix.glob("stage/tara/dgx/maskrcnn/MaskRCNNBenchmark_*/rfm_job.sh"))
    one_node = [s.read_text() for s in scripts if "--nodes=1" in s.read_text()]
    assert one_node, [s.read_text() for s in scripts]
    script = one_node[0]
    assert "#SBATCH --ntasks=8" in script and "#SBATCH --ntasks-per-node=8" in script
    assert "#SBATCH -A proj0001" in script and "#SBATCH --exclusive" in script
    assert "#SBATCH -p dgx" in script
    assert re.search(r"^srun (--cpu-bind=\S+ )?singularity exec --nv ", script, re.MULTILINE)
    assert f"-B {tara_env['ACCEPTANCE_COCO_DIR']}:/coco:ro " in script
    assert "--recipe nvidia_dgx1" in script
    # The 4-node variant cannot run on TARA's 1-node dgx partition: skipped with the reason.
    skipped = [c for c in cases_of(report) if c.get("num_nodes") == 4]
    assert skipped and all("1 node(s)" in c["skip_reason"] for c in skipped)


def test_dry_run_on_lanta_four_nodes_uses_apptainer(tmp_path, tara_env):
    prefix = tmp_path / "lanta"
    done, _ = run_reframe(
        ["--system", "lanta:gpu", "--dry-run", "-n", "MaskRCNNBenchmark", "-x", "nvidia"], prefix, env=tara_env
    )
    assert done.returncode == 0, done.stdout[-2000:]
    scripts = [p.read_text() for p in prefix.glob("stage/lanta/gpu/maskrcnn/MaskRCNNBenchmark_*/rfm_job.sh")]
    four = [s for s in scripts if "--nodes=4" in s]
    assert four
    script = four[0]
    assert "#SBATCH --ntasks=16" in script and "#SBATCH --ntasks-per-node=4" in script
    assert "#SBATCH --gpus-per-node=4" in script
    assert re.search(r"^srun .*apptainer exec ", script, re.MULTILINE) and "--recipe lanta_4x4" in script


def test_missing_account_stops_before_submission(tmp_path, tara_env):
    env = dict(tara_env, ACCEPTANCE_ACCOUNT="")
    done, report = run_reframe(
        ["--system", "tara:dgx", "-r", "-n", "MaskRCNNBenchmark", "-x", "nvidia", "-E", "num_nodes==1"],
        tmp_path / "noacct",
        env=env,
    )
    assert done.returncode != 0
    failed = [c for c in cases_of(report) if c["result"] == "fail"]
    assert failed and all("export ACCEPTANCE_ACCOUNT=" in c["fail_reason"] for c in failed)


def test_shell_syntax_in_a_variable_is_one_argument(tmp_path):
    marker = tmp_path / "pwned"
    prefix = tmp_path / "inject"
    variant = ["-n", "MaskRCNNSmoke", "-E", "num_nodes==1 and mode=='throughput'"]
    # A dry run does not run the synthetic-data fixture: point at an existing folder.
    data = ["-S", f"MaskRCNNSmoke.data_dir={tmp_path}"]
    weights = f"{tmp_path}/R-50.pkl; touch {marker}"
    done, _ = run_reframe(["--dry-run", *variant, *data, "-S", f"MaskRCNNSmoke.weights_file={weights}"], prefix)
    assert done.returncode == 0, done.stdout[-2000:]
    script = next(prefix.glob("stage/local/default/maskrcnn/MaskRCNNSmoke_*/rfm_job.sh")).read_text()
    assert f"--weights '{weights}'" in script
    # A recipe name with shell syntax is one (unknown) name: refused at set-up, naming it; nothing runs.
    done, report = run_reframe(
        ["--dry-run", *variant, *data, "-S", f"MaskRCNNSmoke.recipe=smoke; touch {marker}"], tmp_path / "recipe"
    )
    (case,) = [c for c in cases_of(report) if c["name"].startswith("MaskRCNNSmoke")]
    assert case["result"] == "fail" and case["fail_phase"] == "setup"
    assert f"recipe file {ROOT}/resources/recipes/smoke; touch {marker}.yaml not found" in case["fail_reason"]
    assert not marker.exists()


def test_failing_reference_fails_the_run(tmp_path):
    impossible = (
        "- check: maskrcnn\n  system: local:default\n  nodes: 1\n  implementation: any\n  mode: throughput\n"
        "  source: deliberately impossible (test)\n  perf:\n"
        "    throughput: {value: 1000000.0, lower: -0.1, upper: null, unit: img/s}\n"
        "    projected_time_to_train: {value: 1.0, lower: null, upper: null, unit: min}\n"
    )
    done, report = run_reframe(
        ["-r", "-n", "MaskRCNNSmoke", "-E", "num_nodes==1 and mode=='throughput'"],
        tmp_path / "failref",
        env=resources_with(tmp_path / "resources", impossible),
    )
    assert done.returncode != 0
    case = _case(report, "MaskRCNNSmoke", num_nodes=1, mode="throughput")
    assert case["result"] == "fail" and case["fail_phase"] == "performance"
    assert case["perfvalues"]["local:default:throughput"][5] == "fail"


def test_a_partition_without_a_reference_fails_the_run(tmp_path):
    """require_reference: references that bound other checks, none the all-reduce on local:default."""
    others = (
        "- check: gpus\n  system: local:default\n  source: other checks only (test)\n  perf:\n"
        "    gpu_count: {value: 1, lower: null, upper: null, unit: GPUs}\n"
    )
    done, report = run_reframe(
        ["-r", "-n", "AllreduceCheck", "-E", "num_nodes==1"],
        tmp_path / "noref",
        env=resources_with(tmp_path / "resources", others),
        timeout=600,
    )
    assert done.returncode != 0
    case = _case(report, "AllreduceCheck", num_nodes=1)
    assert case["result"] == "fail" and case["fail_phase"] == "performance"
    assert "no reference value found for performance variable 'busbw'" in case["fail_reason"]
    assert case["reference_source"] == "none"


def test_no_secret_reaches_reports_logs_or_perflogs(smoke_run):
    leaked = []
    for path in smoke_run["prefix"].rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000 and "home" not in path.parts:
            text = path.read_bytes()
            leaked += [f"{path}: {name}" for name, value in SECRETS.items() if value.encode() in text]
    assert not leaked


def test_missing_data_set_skips_naming_the_path(tmp_path):
    missing = tmp_path / "no-such-coco"
    done, report = run_reframe(
        ["--dry-run", "-n", "MaskRCNNSmoke", "-E", "num_nodes==1", "-S", f"MaskRCNNSmoke.data_dir={missing}"],
        tmp_path / "nodata",
    )
    assert done.returncode == 0, done.stdout[-2000:]
    cases = [c for c in cases_of(report) if c["name"].startswith("MaskRCNNSmoke")]
    assert cases and all(c["result"] == "skip" for c in cases)
    assert all(f"data set folder {missing} not found" in c["skip_reason"] for c in cases)
