"""One run's figures, rule by rule, on small logs whose every figure is known: times (init, training,
evaluation), epochs (from epoch records or Google's blocks), the evaluation curve, both
throughputs, the run_stop status and the reason a reader is given; and the integrity rules'
boundaries and wording."""

from __future__ import annotations

import pytest

from acceptance.mlperf import analysis
from conftest import mllog, short_run, write_log

START = 1_000_000.0  # run_start of short_run


def summarize(tmp_path, lines, **targets) -> analysis.RunSummary:
    return analysis.summarize(write_log(tmp_path, lines), **targets)


def nvidia_iteration(iteration: int, seconds: float) -> str:
    """A line of NVIDIA's trainer: seconds per iteration, then the running mean in brackets."""
    return f"maskrcnn_benchmark.trainer INFO: eta: 0:01:00  iter: {iteration}  loss: 1.0  time: {seconds} (9.9)"


def replace(lines: list[str], key: str, new: str) -> list[str]:
    """``lines`` with the first record of ``key`` replaced by ``new``."""
    index = next(i for i, line in enumerate(lines) if f'"key": "{key}"' in line)
    return lines[:index] + [new] + lines[index + 1 :]


# ---- the figures of a whole run ----------------------------------------------------------------------
def test_every_figure_of_a_short_run(tmp_path):
    """short_run: init from 30 s to 1 s before run_start, two 60 s epochs each followed by a 5 s
    evaluation, run_stop 1 s after the last; 240 training images, global batch 4."""
    s = summarize(tmp_path, short_run())
    assert (s.status, s.converged, s.reason) == ("success", True, "target met at epoch 2")
    assert s.init_time_s == pytest.approx(29.0)
    assert s.train_time_s == pytest.approx(120.0)
    assert s.eval_time_s == pytest.approx(10.0)
    assert s.time_to_train_min == pytest.approx(131 / 60)
    assert (s.epochs_run, s.epochs_to_target, s.train_images) == (2, 2, 240)
    assert s.throughput_epoch == pytest.approx(240 * 2 / 120.0)
    assert s.throughput_iteration is None  # no iteration lines
    assert [(p.epoch, p.bbox, p.segm) for p in s.eval_curve] == [(1, 0.2, 0.2), (2, 0.38, 0.34)]
    # Minutes since run_start: each evaluation ends 65 s after its epoch started.
    assert [p.minutes for p in s.eval_curve] == pytest.approx([65 / 60, 130 / 60])
    assert s.stop_kind == "" and s.problems == [] and s.notes == []


def test_initialisation_runs_from_the_first_init_start(tmp_path):
    """Every rank logs its own init_start: initialisation began with the earliest of them."""
    lines = short_run()
    lines.insert(1, mllog("init_start", None, START - 20_000))  # a later rank's, 10 s after the first
    lines.insert(2, mllog("init_start", None, START - 10_000))
    assert summarize(tmp_path, lines).init_time_s == pytest.approx(29.0)


def test_no_initialisation_time_without_both_ends(tmp_path):
    assert summarize(tmp_path, [ln for ln in short_run() if "init_stop" not in ln]).init_time_s is None
    assert summarize(tmp_path, [ln for ln in short_run() if "init_start" not in ln]).init_time_s is None


def test_only_evaluations_with_both_ends_are_timed(tmp_path):
    """An eval_stop is matched to the eval_start of its epoch; a start without a stop is not timed."""
    lines = [ln for ln in short_run() if not ('"eval_stop"' in ln and '"epoch_num": 2' in ln)]
    assert summarize(tmp_path, lines).eval_time_s == pytest.approx(5.0)
    lines = [ln for ln in short_run() if '"eval_stop"' not in ln]
    assert summarize(tmp_path, lines).eval_time_s is None


def test_the_result_as_a_record_carries_its_best_evaluation_and_whether_it_was_refused(tmp_path):
    good = summarize(tmp_path, short_run()).to_dict()
    assert good["best"] == {"epoch": 2, "bbox": 0.38, "segm": 0.34, "minutes": pytest.approx(130 / 60)}
    assert good["refused"] is False
    bad = summarize(tmp_path, short_run(evals=())).to_dict()
    assert bad["best"] is None
    assert bad["refused"] is True


# ---- epochs --------------------------------------------------------------------------------------------
def test_epochs_run_counts_each_epoch_once_whatever_the_ranks_logged(tmp_path):
    lines = short_run(evals=((1, 0.1, 0.1), (2, 0.2, 0.2), (3, 0.38, 0.34)))
    second = next(i for i, ln in enumerate(lines) if '"epoch_start"' in ln and '"epoch_num": 2' in ln)
    lines.insert(second + 1, lines[second])  # another rank's epoch_start of epoch 2
    s = summarize(tmp_path, lines)
    assert (s.epochs_run, s.problems) == (3, [])


def block_log(blocks: list[dict], block_s: float = 100.0) -> list[str]:
    """A Google-style v0.7 log: block_start/block_stop only (no epoch records)."""
    lines = [mllog("global_batch_size", 4, START - 2_000), mllog("train_samples", 100, START - 1_500)]
    lines += [mllog("run_start", None, START)]
    now = START
    for meta in blocks:
        lines.append(mllog("block_start", None, now, **meta))
        now += block_s * 1000
        lines.append(mllog("block_stop", None, now, **{k: v for k, v in meta.items() if k == "first_epoch_num"}))
    return lines + [mllog("run_stop", None, now + 1_000, status="aborted")]


@pytest.mark.parametrize(
    ("blocks", "epochs_run", "epochs_timed"),
    [
        ([{"first_epoch_num": 0, "epoch_count": 4}, {"first_epoch_num": 4, "epoch_count": 4}], 8, 8),
        ([{"first_epoch_num": 4, "epoch_count": 4}], 4, 4),  # epochs 4..7: four, not eight
        ([{"first_epoch_num": 0}], 1, 1),  # a block without epoch_count holds one epoch
        ([{"first_epoch_num": 0, "epoch_count": 1000}], 1000, 1000),  # the largest block believed
        ([{"first_epoch_num": 0, "epoch_count": 1001}], 0, None),
        ([{"first_epoch_num": 0, "epoch_count": 0}], 0, None),
        ([{"first_epoch_num": 0, "epoch_count": 2.0}], 0, None),  # not an integer
        ([{"first_epoch_num": "0", "epoch_count": 2}], 0, None),
        ([{"first_epoch_num": 0, "epoch_count": 2}, {"first_epoch_num": 2, "epoch_count": 0}], 2, None),
    ],
)
def test_epochs_from_blocks(tmp_path, blocks, epochs_run, epochs_timed):
    s = summarize(tmp_path, block_log(blocks))
    assert s.epochs_run == epochs_run
    if epochs_timed is None:  # a block that is not believed leaves the training untimed
        assert (s.train_time_s, s.throughput_epoch) == (None, None)
    else:
        assert s.train_time_s == pytest.approx(100.0 * len(blocks))
        assert s.throughput_epoch == pytest.approx(100 * epochs_timed / (100.0 * len(blocks)))


# ---- throughput ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("samples", "division", "images", "note"),
    [
        (240, "open", 240, False),
        (1, "open", 1, False),  # one image is still a size
        (0, "open", None, False),
        (None, "open", None, False),
        (5000, "closed", analysis.COCO_TRAIN_FILTERED, True),  # NVIDIA's iteration cap, logged as train_samples
        (None, "closed", analysis.COCO_TRAIN_FILTERED, False),  # nothing logged: nothing to note
        (analysis.COCO_TRAIN_FILTERED, "closed", analysis.COCO_TRAIN_FILTERED, False),
    ],
)
def test_the_training_images_an_epoch_is_counted_with(tmp_path, samples, division, images, note):
    lines = short_run(division=division)
    lines = replace(lines, "train_samples", mllog("train_samples", samples, START - 27_000))
    if samples is None:
        lines = [ln for ln in lines if "train_samples" not in ln]
    s = summarize(tmp_path, lines)
    assert s.train_images == images
    assert s.throughput_epoch == (pytest.approx(images * 2 / 120.0) if images else None)
    expected = (
        f"{tmp_path / 'result_0.txt'}: train_samples is {samples}, not the 117266 images a closed run trains on "
        "(NVIDIA's v0.7 code logs its iteration cap there); epoch throughput uses 117266"
    )
    assert s.notes == ([expected] if note else [])


def test_an_epoch_shorter_than_a_second_still_has_a_rate(tmp_path):
    s = summarize(tmp_path, short_run(epoch_s=0.5, evals=((1, 0.38, 0.34),)))
    assert s.throughput_epoch == pytest.approx(240 / 0.5)


def with_iterations(times: list[tuple[int, float]], batch: int = 4) -> list[str]:
    lines = short_run(batch=batch)
    at = next(i for i, ln in enumerate(lines) if '"epoch_start"' in ln) + 1
    return lines[:at] + [nvidia_iteration(it, t) for it, t in times] + lines[at:]


@pytest.mark.parametrize(
    ("times", "batch", "rate"),
    [
        # The first window (warm-up, autotuning) is left out: the median of 1, 1, 2 s.
        ([(20, 10.0), (40, 1.0), (60, 1.0), (80, 2.0)], 4, 4.0),
        ([(20, 0.5)], 4, 8.0),  # one window only: it is all there is
        ([(20, 2.0), (40, 0.5)], 1, 2.0),  # a batch of one image
        ([(20, 1.0), (40, 1.0)], 0, None),  # no batch size, no rate
        ([(20, 0.0), (40, 0.0)], 4, None),  # no time per iteration, no rate
    ],
)
def test_steady_state_throughput_from_nvidias_iteration_times(tmp_path, times, batch, rate):
    s = summarize(tmp_path, with_iterations(times, batch))
    assert s.throughput_iteration == (pytest.approx(rate) if rate is not None else None)


# ---- status and reason ---------------------------------------------------------------------------------
def test_run_stop_without_status_is_unknown_and_refused(tmp_path):
    lines = replace(short_run(), "run_stop", mllog("run_stop", None, START + 131_000))
    s = summarize(tmp_path, lines)
    assert s.status == "unknown"
    assert s.problems == [f"{tmp_path / 'result_0.txt'}:{len(lines)}: run_stop lacks metadata status"]


def test_a_status_the_rules_do_not_name_is_kept_as_written(tmp_path):
    s = summarize(tmp_path, short_run(status="Timeout"))
    assert (s.status, s.converged, s.time_to_train_min) == ("timeout", False, pytest.approx(131 / 60))


def test_an_aborted_run_names_its_best_evaluation(tmp_path):
    """No reason in run_stop: the reader gets the best BBOX, even of a run that met the target but
    aborted (an abort is never a convergence); an evaluation without BBOX is never the best."""
    evals = ((1, 0.2, 0.2), (2, 0.38, 0.34), (3, 0.3, 0.3))
    s = summarize(tmp_path, short_run(evals=evals, status="aborted"))
    assert (s.converged, s.reason) == (False, "(no reason given); best BBOX 0.38 SEGM 0.34 at epoch 2")
    lines = short_run(evals=evals, status="aborted")
    lines.insert(-1, mllog("eval_accuracy", {"SEGM": 0.5}, START + 196_000, epoch_num=4))
    s = summarize(tmp_path, lines)
    assert s.reason == "(no reason given); best BBOX 0.38 SEGM 0.34 at epoch 2"


def test_an_aborted_run_without_evaluations_gives_no_reason(tmp_path):
    assert summarize(tmp_path, short_run(evals=(), status="aborted")).reason == analysis.NO_REASON


def test_a_success_without_the_target_names_both_targets(tmp_path):
    s = summarize(tmp_path, short_run(evals=((1, 0.38, 0.2),)))
    path = tmp_path / "result_0.txt"
    assert s.problems == [f"{path}: run_stop says success but no evaluation met BBOX 0.377 and SEGM 0.339"]
    assert s.reason == f"log refused: {s.problems[0]}"  # one problem: no "(and N more)"


def test_both_targets_are_the_callers(tmp_path):
    s = summarize(tmp_path, short_run(), segm_target=0.35)
    assert s.converged is False
    assert s.problems[0].endswith("no evaluation met BBOX 0.377 and SEGM 0.35")
    assert summarize(tmp_path, short_run(), bbox_target=0.3, segm_target=0.2).epochs_to_target == 2


def test_a_refused_success_names_its_first_problem_and_counts_the_rest(tmp_path):
    lines = short_run()
    lines += [mllog("run_start", None, START + 200_000), mllog("run_stop", None, START + 201_000, status="success")]
    s = summarize(tmp_path, lines)
    assert len(s.problems) == 2  # a second run_start, a second run_stop
    assert s.reason == f"log refused: {s.problems[0]} (and 1 more problem(s))"


def test_an_evaluation_without_epoch_is_placed_after_the_others_and_refused(tmp_path):
    lines = short_run()
    at = next(i for i, ln in enumerate(lines) if '"eval_accuracy"' in ln and '"epoch_num": 2' in ln)
    lines[at] = mllog("eval_accuracy", {"BBOX": 0.38, "SEGM": 0.34}, START + 130_000)
    s = summarize(tmp_path, lines)
    assert [p.epoch for p in s.eval_curve] == [1, 2]
    assert s.problems == [f"{tmp_path / 'result_0.txt'}:{at + 1}: eval_accuracy lacks an integer metadata epoch_num"]


@pytest.mark.parametrize(("ap", "kept"), [(0.0, True), (1.0, True), (-0.01, False), (1.01, False)])
def test_an_average_precision_lies_in_zero_to_one_inclusive(tmp_path, ap, kept):
    lines = short_run(evals=((1, 0.2, ap), (2, 0.38, 0.34)))
    s = summarize(tmp_path, lines)
    assert s.eval_curve[0].segm == (ap if kept else None)
    assert s.refused is not kept


def test_the_stop_kind_is_the_bundled_trainers_or_empty(tmp_path):
    assert summarize(tmp_path, short_run()).stop_kind == ""
    assert summarize(tmp_path, short_run(stop_kind="target_reached")).stop_kind == "target_reached"
    assert summarize(tmp_path, short_run()[:-1]).stop_kind == ""  # cut off: no run_stop


# ---- integrity: boundaries and wording --------------------------------------------------------------------
def stepping_back(count: int) -> list[str]:
    """short_run with ``count`` records each 5 s earlier than the record before them."""
    lines = short_run()
    at = next(i for i, ln in enumerate(lines) if '"run_start"' in ln) + 1
    return lines[:at] + [mllog("seed", 1, START - 5_000) for _ in range(count)] + lines[at:]


def test_five_problems_of_a_rule_are_listed_and_the_rest_counted(tmp_path):
    path = tmp_path / "result_0.txt"
    five = summarize(tmp_path, stepping_back(5)).problems
    assert len(five) == 5 and all("seed is 5.000 s earlier than run_start" in p for p in five)
    seven = summarize(tmp_path, stepping_back(7)).problems
    assert seven[:5] == five
    assert seven[5:] == [f"{path}: ... and 2 more records out of time order"]


def test_records_outside_the_run_and_repeated_evaluations_are_counted_by_name(tmp_path):
    path = tmp_path / "result_0.txt"
    lines = short_run()
    lines += [mllog("epoch_start", None, START + 200_000 + i, epoch_num=9) for i in range(7)]
    assert summarize(tmp_path, lines).problems[-1] == f"{path}: ... and 2 more records outside the run"
    lines = short_run()
    accuracy = next(ln for ln in lines if '"eval_accuracy"' in ln)
    at = lines.index(accuracy) + 1
    lines = lines[:at] + [accuracy] * 7 + lines[at:]
    assert summarize(tmp_path, lines).problems[-1] == f"{path}: ... and 2 more repeated evaluations"


def test_a_repeat_after_an_evaluation_without_epoch_is_still_found(tmp_path):
    lines = short_run()
    accuracy = next(ln for ln in lines if '"eval_accuracy"' in ln)
    at = lines.index(accuracy) + 1
    lines = lines[:at] + [mllog("eval_accuracy", {"BBOX": 0.1, "SEGM": 0.1}, START + 65_000), accuracy] + lines[at:]
    problems = summarize(tmp_path, lines).problems
    assert (
        f"{tmp_path / 'result_0.txt'}:{at + 2}: a second eval_accuracy for epoch 1 (the first is at line {at})"
        in problems
    )


def test_a_run_of_no_time_is_refused_in_words(tmp_path):
    lines = replace(short_run(evals=()), "run_stop", mllog("run_stop", None, START, status="aborted"))
    s = summarize(tmp_path, lines)
    assert s.problems == [
        f"{tmp_path / 'result_0.txt'}:{len(lines)}: run_stop is at the same time as run_start (line {len(lines) - 1}): "
        "a run must last a positive time"
    ]


def test_any_positive_time_is_a_time(tmp_path):
    lines = short_run()
    lines[0] = mllog("init_start", None, 0.5)  # half a millisecond after the epoch: odd, but a time
    assert summarize(tmp_path, lines).problems == []


def test_untimed_submission_records_do_not_end_the_order_check(tmp_path):
    lines = short_run()
    at = next(i for i, ln in enumerate(lines) if '"epoch_stop"' in ln)
    lines = lines[:at] + [mllog("submission_org", "X", 0), mllog("seed", 1, START - 5_000)] + lines[at:]
    problems = summarize(tmp_path, lines).problems
    assert problems == [
        f"{tmp_path / 'result_0.txt'}:{at + 2}: seed is 5.000 s earlier than run_start at line {at - 1}: "
        "records may step back at most 1 s"
    ]


def test_a_record_without_a_time_does_not_end_the_order_check(tmp_path):
    lines = short_run()
    at = next(i for i, ln in enumerate(lines) if '"epoch_stop"' in ln)
    lines = lines[:at] + [mllog("seed", 1, 0), mllog("seed", 1, START - 5_000)] + lines[at:]
    path = tmp_path / "result_0.txt"
    assert summarize(tmp_path, lines).problems == [
        f"{path}:{at + 1}: seed has time_ms 0, not a time",
        f"{path}:{at + 2}: seed is 5.000 s earlier than run_start at line {at - 1}: records may step back at most 1 s",
    ]


def test_the_curve_keeps_the_epochs_the_log_gives(tmp_path):
    """Evaluating every second epoch: the curve says epochs 2 and 4, not the 1st and 2nd evaluation."""
    s = summarize(tmp_path, short_run(evals=((2, 0.2, 0.2), (4, 0.38, 0.34))))
    assert [p.epoch for p in s.eval_curve] == [2, 4]
    assert (s.epochs_to_target, s.reason) == (4, "target met at epoch 4")
