"""The trainer under faults: it stops with run_stop aborted and the reason, never a pass.

Each test runs the real trainer on a small synthetic set (seconds to a minute): marked slow."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from acceptance.mlperf import analysis, parse
from mlperf_maskrcnn import contract
from mlperf_maskrcnn.recipe import recipes_dir
from mlperf_maskrcnn.synthetic import SynthSpec, write_tree

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("faults"), SynthSpec(train_images=4, val_images=2, seed=5))


def _run_stop(tmp_path) -> dict:
    return parse.parse(tmp_path / "mlperf_log.txt").last("run_stop").metadata


def _train(tree, tmp_path, *extra: str) -> tuple[subprocess.CompletedProcess, analysis.RunSummary]:
    log = tmp_path / "mlperf_log.txt"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlperf_maskrcnn",
            "train",
            "--recipe",
            "smoke",
            "--data",
            str(tree),
            "--log-file",
            str(log),
            "--device",
            "cpu",
            "--threads",
            "1",
            "--seed",
            "3",
            "--print-every",
            "1",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, analysis.summarize(log)


def test_nan_loss_aborts_with_the_reason_in_the_log(tree, tmp_path):
    done, summary = _train(tree, tmp_path, "--fault-nan-iter", "2")
    assert done.returncode == 2
    assert summary.status == "aborted" and not summary.converged
    assert "loss became nan at iteration 2" in summary.reason
    assert _run_stop(tmp_path)["stop_kind"] == "nonfinite_loss"


def test_iteration_cap_aborts_with_best_scores(tree, tmp_path):
    done, summary = _train(tree, tmp_path, "--max-iter", "3")
    assert done.returncode == 2
    assert summary.status == "aborted" and not summary.converged
    # Three iterations from random heads score nothing: the reason says so, not "best ... at epoch 0".
    assert summary.reason == (
        "target not reached within the iteration cap (3); no evaluation scored above 0 (targets 0.377/0.339)"
    )


def test_corrupt_image_stops_the_run_naming_it(tree, tmp_path):
    victim = sorted((tree / "train2017").glob("*.jpg"))[0]
    original = victim.read_bytes()
    victim.write_bytes(b"\xff\xd8 not a jpeg")
    try:
        done, summary = _train(tree, tmp_path, "--max-iter", "4")
    finally:
        victim.write_bytes(original)
    assert done.returncode == 2
    assert summary.status == "aborted" and victim.name in summary.reason


def test_bad_recipe_is_refused_before_anything_runs(tree, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((recipes_dir() / "nvidia_dgx1.yaml").read_text().replace("base_lr: 0.06", "base_lr: 0.05"))
    done, _ = _train(tree, tmp_path, "--recipe", str(bad))
    assert done.returncode == 2 and "base_lr rule" in done.stderr
    assert [(rank, kind) for rank, kind, _ in contract.read_rank_stops(done.stderr)] == [(0, "setup_error")]
    log = tmp_path / "mlperf_log.txt"
    assert not log.exists() or "run_start" not in log.read_text()


def test_missing_training_annotations_stop_before_run_start(tree, tmp_path):
    broken = tmp_path / "coco"
    shutil.copytree(tree, broken, ignore=shutil.ignore_patterns("instances_train2017.json", "R-50.pkl"))
    shutil.copy(tree / "models" / "R-50.pkl", broken / "models" / "R-50.pkl")
    done, summary = _train(broken, tmp_path)
    assert done.returncode == 2
    assert f"{broken / 'annotations' / 'instances_train2017.json'} not found" in done.stderr
    assert summary.hyperparameters and "run_start" not in (tmp_path / "mlperf_log.txt").read_text()


def test_malformed_val_annotations_abort_the_timed_run_naming_the_file(tree, tmp_path):
    # The validation annotations are read after run_start (MLPerf's timing rule), so a broken file
    # ends the timed run with run_stop aborted, naming the file.
    broken = tmp_path / "coco"
    shutil.copytree(tree, broken)
    (broken / "annotations" / "instances_val2017.json").write_text('{"images": [{"id": 1}], ')
    done, summary = _train(broken, tmp_path)
    assert done.returncode == 2
    assert summary.status == "aborted" and "instances_val2017.json: malformed JSON at line 1" in summary.reason
    assert _run_stop(tmp_path)["stop_kind"] == "data_error"


def test_closed_recipe_without_weights_is_refused(tree, tmp_path):
    done, _ = _train(tree, tmp_path, "--recipe", "nvidia_dgx1", "--no-weights")
    assert done.returncode == 2 and "--no-weights is for open-division recipes only" in done.stderr


def test_closed_recipe_refuses_another_scale(tree, tmp_path):
    done, _ = _train(tree, tmp_path, "--recipe", "nvidia_dgx1")
    assert done.returncode == 2
    assert "recipe nvidia_dgx1 is for 8 ranks (1 x 8); this job has 1" in done.stderr


def test_missing_weights_are_named(tree, tmp_path):
    done, _ = _train(tree, tmp_path, "--weights", str(tmp_path / "R-50.pkl"))
    assert done.returncode == 2 and f"weight file {tmp_path / 'R-50.pkl'} not found" in done.stderr
