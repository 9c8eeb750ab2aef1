"""Sets of runs through real ReFrame: a set with a run that did not converge, sets that converge
too fast and too slowly for MLPerf's RCP (CRAFTED from NVIDIA's published logs), the acceptance
mode's five runs on a real site's job scripts, and the projection a throughput smoke run reports."""

from __future__ import annotations

import json
import lzma
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_nvidia_path import A100X4, DGX1, perf_of, replay

from acceptance import cli
from acceptance.mlperf import projection
from conftest import NVIDIA_LOGS, ROOT, cases_of, run_reframe


def _copy_set(source: Path, dest: Path, edit=None) -> None:
    """The five published logs of ``source`` in ``dest``, each text passed through ``edit``."""
    dest.mkdir(parents=True)
    for path in sorted(source.glob("result_*.txt.xz")):
        text = lzma.decompress(path.read_bytes()).decode()
        (dest / path.name).write_bytes(lzma.compress((edit(path.name, text) if edit else text).encode()))


def _not_converging(name: str, text: str) -> str:
    """result_1 never meets the target and stops aborted (CRAFTED); the others as published."""
    if name != "result_1.txt.xz":
        return text
    missed = re.sub(r'("key": "eval_accuracy", "value": )\{[^}]*\}', r'\1{"BBOX": 0.2, "SEGM": 0.2}', text)
    return missed.replace('"status": "success"', '"status": "aborted"')


def test_a_set_with_a_failed_run_is_not_scored_by_reframe_but_by_mlperfs_rule_in_the_report(tmp_path):
    _copy_set(NVIDIA_LOGS / DGX1, tmp_path / "logs" / DGX1, _not_converging)
    done, report = replay(tmp_path, tmp_path / "logs", "one-failed", "-n", "MaskRCNNReplayDgx1")
    assert done.returncode != 0
    cases = {c["display_name"]: c for c in cases_of(report)}
    runs = [c for name, c in cases.items() if "%run_index=" in name]
    assert sorted(c["result"] for c in runs) == ["fail", "pass", "pass", "pass", "pass"]
    (score,) = [c for name, c in cases.items() if name.startswith("MaskRCNNReplayDgx1Score")]
    # ReFrame runs a dependant only after every dependency passed ("dependencies failed").
    assert score["result"] == "fail_deps"
    assert cli.main(["report", str(tmp_path / "one-failed" / "report.json"), "--out", str(tmp_path / "report")]) == 0
    summary = (tmp_path / "report" / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| MaskRCNNReplayDgx1 on local:default"))
    # MLPerf's rule: the non-converged run counts as the slowest; the fastest (run 0) is dropped too.
    middle = (153.46 + 155.17 + 154.01) / 3
    assert f"| {middle:.2f} min | v0.7 score {middle:.2f} min" in row
    dropped = "dropped run 0 (152.74 min): fastest; dropped run 1 (153.86 min): not converged (aborted)"
    assert f"{dropped}: counts as the slowest" in row


def _shift_epochs(shift: int):
    """Every epoch number moved by ``shift``: the same run reaching the target ``shift`` epochs later (CRAFTED)."""

    def edit(name: str, text: str) -> str:
        return re.sub(
            r'"(epoch_num|first_epoch_num)": (\d+)', lambda m: f'"{m.group(1)}": {int(m.group(2)) + shift}', text
        )

    return edit


def _target_at_epoch_12(name: str, text: str) -> str:
    """The evaluation of epoch 12 meets the target (CRAFTED): a set converging too fast for batch 48."""
    met = '{"BBOX": 0.3781, "SEGM": 0.3412}'
    return re.sub(r'("key": "eval_accuracy", "value": )\{[^}]*\}(, "metadata": \{[^}]*"epoch_num": 12\})',
                  rf"\1{met}\2", text)  # fmt: skip


def test_sets_converging_too_fast_or_far_too_slowly_fail_their_rcp_band(tmp_path):
    _copy_set(NVIDIA_LOGS / DGX1, tmp_path / "logs" / DGX1, _target_at_epoch_12)
    _copy_set(NVIDIA_LOGS / A100X4, tmp_path / "logs" / A100X4, _shift_epochs(3))
    done, report = replay(tmp_path, tmp_path / "logs", "rcp")
    assert done.returncode != 0
    cases = {c["display_name"]: c for c in cases_of(report)}
    assert all(c["result"] == "pass" for name, c in cases.items() if "%run_index=" in name)  # each run is sound
    fast = next(c for name, c in cases.items() if name.startswith("MaskRCNNReplayDgx1Score"))
    assert fast["result"] == "fail" and fast["fail_phase"] == "performance"
    assert perf_of(fast)["epochs"][0] == 12.0 and perf_of(fast)["epochs"][5] == "fail"
    assert perf_of(fast)["score"][5] == "pass"  # faster than the reference: the score alone would pass
    assert fast["rcp_note"].startswith("below the RCP range: mean epochs 12.00 (runs: 12, 12, 12, 12, 12)")
    slow = next(c for name, c in cases.items() if name.startswith("MaskRCNNReplayA100x4Score"))
    assert slow["result"] == "fail" and perf_of(slow)["epochs"][0] == pytest.approx(44 / 3 + 3)
    assert slow["rcp_note"].startswith("far above the RCP: mean epochs 17.67 (runs: 17, 18, 18, 17, 20)")
    assert "epochs=17.666666666666668 epochs, expected 14.0 (l=14.0, u=16.8" in slow["fail_reason"]


def test_acceptance_mode_runs_five_4_node_runs_and_their_score(tmp_path):
    coco = tmp_path / "coco"
    coco.mkdir()
    image = tmp_path / "bundled.sif"
    image.write_text("STUB: stands in for the bundled Singularity image in a dry run\n")
    env = {"ACCEPTANCE_MODULES_SYSTEM": "nomod", "ACCEPTANCE_ACCOUNT": "proj0001", "ACCEPTANCE_COCO_DIR": str(coco),
           "ACCEPTANCE_IMAGE_BUNDLED": str(image)}  # fmt: skip
    args = ["--system", "lanta:gpu", "--mode", "acceptance", "--dry-run", "-n", "MaskRCNNBenchmark",
            "-E", "implementation=='bundled'"]  # fmt: skip
    done, report = run_reframe(args, tmp_path / "dry", env)
    assert done.returncode == 0, done.stdout[-3000:]
    cases = cases_of(report)
    runs = sorted((c for c in cases if c["name"].startswith("MaskRCNNBenchmark ")), key=lambda c: c["run_index"])
    assert [(c["num_nodes"], c["mode"], c["run_index"]) for c in runs] == [(4, "time-to-train", i) for i in range(5)]
    (score,) = [c for c in cases if c["name"].startswith("MaskRCNNBenchmarkScore")]
    assert score["num_nodes"] == 4 and score["run_names"] == sorted(c["unique_name"] for c in runs)
    # Five job scripts, one per run, in stage folders of their own.
    scripts = list((tmp_path / "dry").glob("stage/lanta/gpu/maskrcnn/MaskRCNNBenchmark_*/rfm_job.sh"))
    assert len(scripts) == 5 and all("--recipe lanta_4x4" in p.read_text() for p in scripts)
    # Outside the acceptance mode a variant runs once, and no set test is loaded.
    done, report = run_reframe(["--system", "lanta:gpu", "-l", "-n", "MaskRCNNBenchmark"], tmp_path / "list", env)
    assert done.returncode == 0 and "%run_index=0" in done.stdout
    assert "%run_index=1" not in done.stdout and "MaskRCNNBenchmarkScore" not in done.stdout


def test_throughput_smoke_run_reports_the_projection_acceptance_project_gives(smoke_run, capsys):
    case = next(c for c in cases_of(smoke_run["report"])
                if c["name"].startswith("MaskRCNNSmoke ") and c["mode"] == "throughput")  # fmt: skip
    log = Path(case["outputdir"]) / case["mlperf_log"]
    reported = perf_of(case)["projected_time_to_train"][0]
    # The smoke recipe is open division (no RCP): the check gives its 5 epochs.
    assert reported == pytest.approx(projection.project(log, None, epochs=5).projected_min)
    assert cli.main(["project", str(log), "--epochs", "5", "--minutes", "60", "--json"]) == 0
    (printed,) = json.loads(capsys.readouterr().out)
    assert printed["projected_min"] == pytest.approx(reported) and printed["epochs_from"] == "given"
    assert printed["eval_pause_from"].startswith("modelled")  # a throughput run never evaluates


def test_fit_script_prints_the_validation_rows_of_the_error_table(tmp_path):
    """benchmarks/projection_fit.py on a folder laid out as training_results_v0.7 holding the two
    shared sets only: both are validation sets, so nothing is fitted; their rows are RESULTS.md's."""
    for folder in (DGX1, A100X4):
        dest = tmp_path / "NVIDIA" / "results" / folder / "maskrcnn"
        dest.mkdir(parents=True)
        for path in sorted((NVIDIA_LOGS / folder).glob("result_*.txt.xz")):
            (dest / path.name[: -len(".xz")]).write_bytes(lzma.decompress(path.read_bytes()))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "projection_fit.py"), str(tmp_path),
                           "--minutes", "10"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| NVIDIA/dgx1_ngc20.06_pytorch (validation) | 153.78 | 151.46, -1.5% |" in done.stdout
    assert "| NVIDIA/dgxa100_n4_ngc20.06_pytorch (validation) | 28.46 | 28.09, -1.3% |" in done.stdout
