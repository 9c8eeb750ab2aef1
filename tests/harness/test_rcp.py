"""MLPerf's RCPs for Mask R-CNN: the numbers mlperf-logging's own rcp_checker computes, and sets of
runs flagged when they converge faster than the reference can or far slower (NVIDIA's published
logs, and crafted logs of runs that reach the target too early or too late)."""

from __future__ import annotations

import json
import math

import pytest
from mlperf_logging.rcp_checker.rcp_checker import RCP_Checker

from acceptance.mlperf import analysis, rcp
from conftest import NVIDIA_LOGS


@pytest.fixture(scope="module")
def checker():
    """The official checker as the package checker runs it (training 1.0.0, pruned RCPs)."""
    return RCP_Checker("training", rcp.RULESET, "maskrcnn", False)


def _official(checker, batch: int):
    """The record rcp_checker's check_directory would compare a set at ``batch`` with."""
    found = checker._find_rcp(batch, "pruned_rcps")
    if found is not None:
        return found
    low = checker._find_top_min_rcp(batch, "pruned_rcps")
    high = checker._find_bottom_max_rcp(batch, "pruned_rcps")
    if low is not None and high is not None:
        return checker._create_interp_rcp(batch, low, high)[1]
    return checker._find_min_rcp("pruned_rcps") if high is not None else None


@pytest.mark.parametrize("batch", [8, 32, 48, 64, 80, 96, 112, 128, 192, 256, 272, 300])
def test_rcp_at_each_batch_is_what_rcp_checker_computes(checker, batch):
    ours, theirs = rcp.at(batch), _official(checker, batch)
    if theirs is None:
        assert ours is None
        return
    assert ours.mean == pytest.approx(theirs["RCP Mean"], abs=1e-9)
    assert ours.stdev == pytest.approx(theirs["RCP Stdev"], abs=1e-9)
    # rcp_checker bisects to 1e-4; the closed form is exact
    assert ours.min_epochs == pytest.approx(theirs["Min Epochs"], abs=2e-4)


def test_the_data_is_mlperf_loggings_file_read_at_runtime():
    path = rcp.data_file()
    assert path.parts[-3:] == ("rcp_checker", "training_1.0.0", "rcps_maskrcnn.json")
    raw = json.loads(path.read_text())
    assert [r.batch for r in rcp.records()] == sorted(int(v["BS"]) for v in raw.values())
    # The figures: 14 epochs at batch 48-128, 17 at 256 (before pruning).
    by_batch = {r.batch: r for r in rcp.records()}
    assert [by_batch[b].mean for b in (48, 64, 128, 256)] == [14.0, 14.0, 14.0, 17.0]
    # Pruned as the package checker prunes: 96 and 256 converge slower than their neighbours' line.
    assert [r.batch for r in rcp.pruned(rcp.records())] == [48, 64, 128, 272]
    with pytest.raises(ValueError, match="no Mask R-CNN RCPs for training 0.7.0"):
        rcp.data_file("0.7.0")


def _epochs(folder: str) -> tuple[list[int | None], int]:
    runs = [analysis.summarize(p) for p in sorted((NVIDIA_LOGS / folder).glob("result_*.txt.xz"))]
    return [r.epochs_to_target for r in runs], runs[0].hyperparameters["global_batch_size"]


@pytest.mark.parametrize(
    "folder, mean, batch",
    [("dgx1_ngc20.06_pytorch", 14.0, 48), ("dgxa100_n4_ngc20.06_pytorch", (14 + 15 + 15) / 3, 128)],
)
def test_nvidias_published_sets_lie_within_the_rcp_range(folder, mean, batch):
    epochs, logged_batch = _epochs(folder)
    verdict = rcp.judge_set(epochs, logged_batch)
    assert logged_batch == batch and verdict.verdict == "within" and not verdict.flagged
    assert verdict.epochs == pytest.approx(mean)
    assert verdict.rcp.mean == 14.0 and verdict.rcp.min_epochs == 14.0
    assert f"global batch {batch}" in verdict.message and "14.00 to 16.80" in verdict.message


def _record(key: str, time_ms: float, value=None, **metadata) -> str:
    return ":::MLLOG " + json.dumps(
        {"namespace": "", "time_ms": time_ms, "event_type": "POINT_IN_TIME", "key": key, "value": value,
         "metadata": {"file": "crafted", "lineno": 1, **metadata}}  # fmt: skip
    )


def crafted_log(path, target_epoch: int | None, batch: int = 128, epochs: int | None = None) -> str:
    """A closed-division log (CRAFTED) whose evaluations meet the target first at ``target_epoch``
    (``None``: never, and run_stop says aborted)."""
    last = epochs or target_epoch or 20
    lines = [_record("submission_division", 1000, "closed"), _record("global_batch_size", 1000, batch),
             _record("train_samples", 1000, 117266), _record("run_start", 2000)]  # fmt: skip
    t = 2000.0
    for epoch in range(1, last + 1):
        lines.append(_record("epoch_start", t, epoch_num=epoch))
        t += 100_000
        lines.append(_record("epoch_stop", t, epoch_num=epoch))
        met = target_epoch is not None and epoch >= target_epoch
        accuracy = {"BBOX": 0.378 if met else 0.30, "SEGM": 0.340 if met else 0.28}
        lines.append(_record("eval_accuracy", t + 10_000, accuracy, epoch_num=epoch))
        t += 10_000
    status = "success" if target_epoch is not None else "aborted"
    lines.append(_record("run_stop", t + 20_000, status=status))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _crafted_set(tmp_path, targets: list[int | None], batch: int = 128) -> list[int | None]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    runs = [analysis.summarize(crafted_log(tmp_path / f"result_{i}.txt", t, batch)) for i, t in enumerate(targets)]
    assert all(r.converged == (t is not None) for r, t in zip(runs, targets))
    return [r.epochs_to_target for r in runs]


def test_a_set_converging_faster_than_the_reference_can_is_flagged(tmp_path):
    epochs = _crafted_set(tmp_path, [12, 12, 13, 13, 14])
    verdict = rcp.judge_set(epochs, 128)
    assert verdict.verdict == "below" and verdict.flagged
    assert verdict.epochs == pytest.approx((12 + 13 + 13) / 3)
    assert verdict.message.startswith("below the RCP range: mean epochs 12.67 (runs: 12, 12, 13, 13, 14)")
    assert "hyperparameter or evaluation error" in verdict.message


def test_a_set_converging_far_slower_than_the_reference_is_flagged(tmp_path):
    epochs = _crafted_set(tmp_path, [17, 18, 18, 19, 25])
    verdict = rcp.judge_set(epochs, 128)
    assert verdict.verdict == "above" and verdict.epochs == pytest.approx(55 / 3)
    assert "far above the RCP: mean epochs 18.33" in verdict.message and "numerics" in verdict.message


def test_a_non_converged_run_counts_as_the_slowest_and_two_leave_no_mean(tmp_path):
    one = rcp.judge_set(_crafted_set(tmp_path / "one", [14, 14, 15, 14, None]), 128)
    assert one.verdict == "within" and one.epochs == pytest.approx((14 + 14 + 15) / 3)
    two = rcp.judge_set(_crafted_set(tmp_path / "two", [14, 14, 15, None, None]), 128)
    assert two.verdict == "no mean" and two.epochs is None
    assert two.message == "epochs 14, 14, 15, -, -: too few runs converged for a mean"
    assert rcp.set_mean([14, None]) == 14.0 and rcp.set_mean([None, None]) is None  # provisional sets


def test_interpolated_and_out_of_table_batches(tmp_path):
    # LANTA's batch 96 lies between the kept 64 and 128: interpolated, a wider band (64 had a 20).
    lanta = rcp.at(96)
    assert lanta.how == "interpolated between batch 64 and 128" and lanta.min_epochs < 13.0
    assert rcp.judge_set([13, 13, 13, 14, 14], 96).verdict == "within"
    assert rcp.at(24).how.startswith("the batch-48 RCP")  # a smaller batch may not converge faster
    assert rcp.judge_set([14] * 5, 512).verdict == "no RCP"
    assert math.isclose(rcp.at(256).max_epochs, rcp.at(256).mean * rcp.SLOW_FACTOR)
    # An open recipe or a synthetic set: no RCP for the run at all.
    smoke = analysis.summarize(crafted_log(tmp_path / "open.txt", 5, batch=2))
    smoke.train_images = 32
    assert rcp.for_summary(smoke) is None
    assert rcp.for_summary(analysis.summarize(crafted_log(tmp_path / "closed.txt", 14))).batch == 128


# ---- edges: where each RCP comes from, the band's bounds, pruning ------------------------------------
def test_every_rcp_names_its_batch_and_the_data_file():
    source = str(rcp.data_file())
    exact, between, below = rcp.at(48), rcp.at(96), rcp.at(24)
    assert [(r.batch, r.source) for r in (exact, between, below)] == [(48, source), (96, source), (24, source)]
    assert exact.how == "RCP at batch 48" and below.how == "the batch-48 RCP: no smaller batch may converge faster"
    assert (below.mean, below.stdev, below.min_epochs) == (exact.mean, exact.stdev, exact.min_epochs)
    assert exact.describe() == (
        "MLPerf training 1.0.0 RCP for Mask R-CNN at global batch 48 (RCP at batch 48): 14.00 epochs, a 5-run set "
        "may average 14.00 to 16.80"
    )


def test_another_ruleset_is_read_where_asked():
    # training 2.0.0 adds batch 8 (12.75 epochs) and prunes 48 and 64: batch 48 is interpolated there.
    assert rcp.at(4, "2.0.0").mean == pytest.approx(12.75) and rcp.at(4).mean == 14.0
    assert rcp.at(48, "2.0.0").how == "interpolated between batch 8 and 128"
    assert rcp.judge_set([13] * 5, 4, "2.0.0").verdict == "within"
    assert rcp.judge_set([13] * 5, 4).verdict == "below"
    assert rcp.judge_set([14] * 5, 512, "2.0.0").message == "no MLPerf RCP above global batch 512 (training 2.0.0)"


def test_a_verdict_carries_its_mean_and_rcp():
    at48 = rcp.at(48)
    none = rcp.judge_set([14] * 5, 512)
    assert (none.epochs, none.rcp, none.verdict) == (14.0, None, "no RCP")
    assert none.message == "no MLPerf RCP above global batch 512 (training 1.0.0)"
    no_mean = rcp.judge_set([14, None, 14, None, 15], 48)
    assert (no_mean.epochs, no_mean.rcp, no_mean.flagged) == (None, at48, False)
    below, above = rcp.judge_set([13.5] * 5, 48), rcp.judge_set([17.3] * 5, 48)
    assert (below.verdict, below.rcp, below.flagged) == ("below", at48, True)
    assert below.message == (
        f"below the RCP range: mean epochs 13.50 (runs: 13.5, 13.5, 13.5, 13.5, 13.5); {at48.describe()}; faster "
        "than the reference converges: look for a hyperparameter or evaluation error"
    )
    assert (above.verdict, above.rcp, above.flagged) == ("above", at48, True)
    assert above.message.endswith("; far slower than the reference converges: look at the system's numerics")
    edge = rcp.judge_set([at48.max_epochs], 48)  # exactly at the band's top: within
    assert edge.verdict == "within" and edge.message.startswith("within the RCP range: mean epochs 16.80")


def test_the_smallest_acceptable_mean():
    assert rcp.min_acceptable_mean(14.0, 0.0, 8) == 14.0
    # one-sided t, alpha 0.05, 8 + 3 - 2 = 9 degrees of freedom: 1.8331
    assert rcp.min_acceptable_mean(14.0, 1.0, 8) == pytest.approx(14.0 - 1.833113 * math.sqrt(1 / 8 + 1 / 3), abs=1e-5)


def _rec(batch: int, mean: float) -> rcp.Record:
    return rcp.Record(batch, (), mean, 0.0, mean)


def test_pruning_drops_batches_above_the_line_of_their_neighbours():
    assert [r.batch for r in rcp.pruned([_rec(32, 10.0), _rec(64, 15.0), _rec(128, 12.0)])] == [32, 128]
    assert [r.batch for r in rcp.pruned([_rec(32, 10.0), _rec(64, 11.0), _rec(96, 12.0)])] == [32, 64, 96]  # on it
    assert [r.batch for r in rcp.pruned([_rec(16, 11.0), _rec(32, 10.0), _rec(64, 12.0)])] == [32, 64]
    by_batch = {r.batch: r for r in rcp.records()}
    assert by_batch[64].epochs == (14,) * 9 + (20,)


def test_an_rcp_file_mlperf_logging_would_not_read_is_named(tmp_path, monkeypatch):
    bad = tmp_path / "rcps_maskrcnn.json"
    bad.write_text(json.dumps({"maskrcnn_ref_48": {"BS": 48}}))
    monkeypatch.setattr(rcp, "data_file", lambda ruleset=rcp.RULESET: bad)
    with pytest.raises(ValueError) as err:
        rcp.records()
    assert str(err.value) == f"{bad}: not an RCP file mlperf-logging would read (KeyError('Epochs to converge'))"


@pytest.mark.parametrize(("batch", "found"), [(48, 48), (1, 1), (0, None), (-48, None), ("48", None), (None, None)])
def test_a_runs_rcp_needs_a_positive_global_batch(batch, found):
    run = analysis.RunSummary("r", "success", True, "", 1.0, 14, 14, hyperparameters={"global_batch_size": batch})
    run.train_images = analysis.COCO_TRAIN_FILTERED
    got = rcp.for_summary(run)
    assert (got.batch if got else None) == found
    assert rcp.for_summary(run, "2.0.0") == (rcp.at(found, "2.0.0") if found else None)
