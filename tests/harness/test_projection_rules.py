"""The projection's arithmetic on a small log whose numbers are chosen by hand: where each iteration
line lands in time, what the window holds, and the projected score from the model's formula
(``T = B + E x (N / R x (1 + a) + G) + C``, a = 0.0215, b = 2.97, C = 16 s)."""

from __future__ import annotations

import pytest

from acceptance.mlperf import parse, projection
from conftest import mllog, write_log
from mlperf_maskrcnn import contract

T0 = 1_000_000.0  # run_start, ms


def progress(iteration: int, rate: float) -> str:
    return contract.progress_line(iteration, 1000, 1, 1.0, {}, 0.02, rate)


def head(division="open", batch=10, train=1000, val=200) -> list[str]:
    lines = [mllog("init_start", None, T0 - 5000), mllog("submission_division", division, T0 - 4000)]
    sizes = (("global_batch_size", batch), ("train_samples", train), ("eval_samples", val))
    lines += [mllog(key, value, T0 - 3000) for key, value in sizes if value is not None]
    return lines + [mllog("run_start", None, T0)]


def running_log() -> list[str]:
    """Batch 10 of 1,000 images: 100 iterations an epoch. Epoch 1 starts 20 s after run_start and
    trains for 100 s, a 10 s pause, epoch 2 for 100 s, a 12 s pause, epoch 3 still running."""
    return head() + [
        progress(1000, 10.0),  # a line of an epoch that has not started: skipped
        mllog("epoch_start", None, T0 + 20_000, epoch_num=1),
        progress(20, 5.0),  # warm-up
        progress(40, 10.0),
        progress(60, 0.0),  # no rate: skipped
        progress(80, 0.5),
        progress(100, 12.0),  # the last iteration of epoch 1
        mllog("epoch_stop", None, T0 + 120_000, epoch_num=1),
        mllog("epoch_start", None, T0 + 130_000, epoch_num=2),
        progress(101, 10.0),  # the first of epoch 2
        progress(180, 9.0),
        mllog("eval_stop", None, T0 + 210_000, epoch_num=1),
        mllog("eval_accuracy", {"BBOX": 0.2, "SEGM": 0.2}, T0 + 210_002, epoch_num=1),
        progress(200, 10.0),
        mllog("epoch_stop", None, T0 + 230_000, epoch_num=2),
        mllog("epoch_start", None, T0 + 242_000, epoch_num=3),
        progress(220, 10.0),
        progress(240, 8.0),
    ]


@pytest.fixture
def log(tmp_path):
    return write_log(tmp_path, running_log())


def test_each_line_is_placed_in_its_epoch(log):
    placed = projection._placed_rates(parse.parse(log), 10, 1000)
    assert placed == [
        (T0 + 40_000, 5.0),  # epoch 1 (20 s .. 120 s after run_start): iteration 20 of 100
        (T0 + 60_000, 10.0),
        (T0 + 100_000, 0.5),
        (T0 + 120_000, 12.0),  # iteration 100 ends epoch 1
        (T0 + 131_000, 10.0),  # iteration 101 begins epoch 2 (130 s .. 230 s)
        (T0 + 210_000, 9.0),
        (T0 + 230_000, 10.0),
        (T0 + 262_000, 10.0),  # epoch 3 has no stop yet: 20 iterations x 10 images at 10 img/s after its start
        (T0 + 292_000, 8.0),  # 40 iterations at 8 img/s: 50 s
    ]


def test_nvidias_iteration_times_are_placed_too(tmp_path):
    nvidia = ["iter: 30 loss: 1.0 time: 0.0 (0.0)", "iter: 50 loss: 1.0 time: 2.0 (2.1)"]
    lines = running_log()[:8] + nvidia + [progress(20, 5.0)]
    placed = projection._placed_rates(parse.parse(write_log(tmp_path, lines)), 10, 1000)
    # A zero time is no rate; 10 images in 2 s is 5 img/s: 50 x 10 images after epoch 1's start at 20 s.
    assert placed == [(T0 + 120_000, 5.0), (T0 + 60_000, 5.0)]


def test_the_whole_log(log):
    seen = projection.window(log, minutes=None)
    assert (seen.path, seen.minutes, seen.batch, seen.train_images, seen.eval_images) == (str(log), None, 10, 1000, 200)
    assert seen.rates == [5.0, 10.0, 0.5, 12.0, 10.0, 9.0, 10.0, 10.0, 8.0]
    assert seen.startup_s == 20.0 and seen.pauses_s == [10.0, 12.0]
    assert seen.used_min == 292_000 / 60_000  # the last line's place, after the last record


def test_a_window_ends_at_its_minute_exactly(log):
    seen = projection.window(parse.parse(log), minutes=3.5)  # 210 s: the eval_stop and iteration 180
    assert seen.minutes == 3.5 and seen.used_min == 3.5
    assert seen.rates == [5.0, 10.0, 0.5, 12.0, 10.0, 9.0]
    assert seen.pauses_s == [10.0]


def test_a_record_written_at_the_windows_last_millisecond_is_inside(tmp_path):
    lines = head() + [
        mllog("epoch_start", None, T0 + 20_000, epoch_num=1),
        progress(50, 10.0),
        mllog("epoch_stop", None, T0 + 110_000, epoch_num=1),
        mllog("epoch_start", None, T0 + 120_000, epoch_num=2),  # 2 minutes after run_start, to the millisecond
        progress(150, 10.0),
    ]
    seen = projection.window(write_log(tmp_path, lines), minutes=2.0)
    assert seen.pauses_s == [10.0] and seen.used_min == 2.0 and seen.rates == [10.0]


def test_a_window_without_a_pause_models_it(log):
    got = projection.project(log, minutes=1.5, epochs=20)
    assert got.rate == 10.0 and got.startup_s == 20.0 and got.used_min == 1.0
    assert got.eval_pause_s == pytest.approx(2.97 * 200 / 10) and got.eval_pause_from == "modelled: 2.97 x V / R"
    assert got.epoch_s == pytest.approx(1000 / 10 * 1.0215)
    assert got.projected_min == pytest.approx((20 + 20 * (102.15 + 59.4) + 16) / 60)
    assert got.notes == ["only 2 iteration line(s) in the window: the rate is rough"]
    assert projection.project(log, minutes=1.75, epochs=20).notes == []  # three lines


def test_a_window_with_pauses_measures_them(log):
    got = projection.project(log, minutes=None, epochs=20)
    assert got.rate == 10.0  # the median without the warm-up line
    assert got.eval_pause_s == 11.0 and got.eval_pause_from == "measured (2 evaluation pause(s))"
    assert got.projected_min == pytest.approx((20 + 20 * (102.15 + 11.0) + 16) / 60)
    assert (got.path, got.minutes, got.batch, got.epochs, got.epochs_from, got.tail_s) == (
        str(log), None, 10, 20, "given", 16.0
    )  # fmt: skip
    assert got.formula() == f"20.0 s + 20.00 x (102.2 s + 11.0 s) + 16.0 s = {got.projected_min:.2f} min"
    assert got.to_dict()["projected_min"] == got.projected_min


def test_the_steady_rate_leaves_out_the_first_line():
    assert projection.steady_rate([100.0, 1.0, 2.0, 3.0]) == 2.0
    assert projection.steady_rate([7.0]) == 7.0


def test_a_closed_log_trains_on_all_of_coco_and_takes_the_rcp(tmp_path):
    lines = head("closed", batch=4, train=12345, val=None) + running_log()[7:]
    seen = projection.window(write_log(tmp_path, lines), minutes=None)
    assert (seen.batch, seen.train_images, seen.eval_images) == (4, 117266, 5000)
    got = projection.project(tmp_path / "result_0.txt", minutes=None)
    assert (
        got.epochs == 14.0
        and got.epochs_from == "MLPerf training 1.0.0 RCP, the batch-48 RCP: no smaller batch may converge faster"
    )
    assert projection.project(tmp_path / "result_0.txt", minutes=None, ruleset="2.0.0").epochs == pytest.approx(12.75)
    big = write_log(tmp_path / "big", head("closed", batch=512) + running_log()[7:])
    with pytest.raises(ValueError) as err:
        projection.project(big)
    assert str(err.value) == f"{big}: no MLPerf RCP at global batch 512: give the epochs it needs"


@pytest.mark.parametrize(
    ("sizes", "found"),
    [
        ({"batch": 1}, (1, 1000, 200)),
        ({"val": 1}, (10, 1000, 1)),
        ({"val": 0}, (10, 1000, 5000)),
        ({"val": "200"}, (10, 1000, 5000)),
        ({"val": None}, (10, 1000, 5000)),
        ({"train": 1}, (10, 1, 200)),
        ({"batch": 0}, "no global_batch_size before the window's end"),
        ({"batch": "10"}, "no global_batch_size before the window's end"),
        ({"batch": None}, "no global_batch_size before the window's end"),
        ({"train": 0}, "an open-division log without train_samples: its epoch length is unknown"),
        ({"train": "1000"}, "an open-division log without train_samples: its epoch length is unknown"),
    ],
)
def test_the_sizes_a_log_gives(tmp_path, sizes, found):
    path = write_log(tmp_path, head(**sizes) + [mllog("epoch_start", None, T0 + 20_000, epoch_num=1), progress(1, 5.0)])
    if isinstance(found, str):
        with pytest.raises(ValueError) as err:
            projection.window(path, minutes=None)
        assert str(err.value) == f"{path}: {found}"
    else:
        seen = projection.window(path, minutes=None)
        assert (seen.batch, seen.train_images, seen.eval_images) == found


def test_an_open_log_needs_its_epochs(log):
    with pytest.raises(ValueError) as err:
        projection.project(log)
    assert str(err.value) == (
        f"{log}: not a closed COCO run (training set 1000 images): no RCP applies; give the epochs it needs"
    )


def test_logs_that_cannot_be_projected_say_why(tmp_path):
    lines = running_log()
    two = write_log(tmp_path / "two", lines[:6] + lines[5:6] + lines[6:] + ['  :::MLLOG {"key": bad'])
    with pytest.raises(ValueError) as err:
        projection.window(two)
    assert str(err.value) == f"{two}: 2 run_start records; a log of one run has exactly one"
    none = write_log(tmp_path / "none", lines[:5] + lines[6:])
    with pytest.raises(ValueError) as err:
        projection.window(none)
    assert str(err.value) == f"{none}: 0 run_start records; a log of one run has exactly one"
    damaged = lines[:8] + [':::MLLOG {"key": "epoch_stop", "time_ms": }'] + lines[8:]
    path = write_log(tmp_path / "damaged", damaged)
    with pytest.raises(ValueError) as err:
        projection.window(path, minutes=None)
    assert str(err.value) == (
        f"{path}:9: malformed MLLOG JSON (Expecting value) (within the window: no projection from a damaged log)"
    )
    later = write_log(tmp_path / "later", lines + [':::MLLOG {"key": "epoch_stop", "time_ms": }'])
    assert projection.window(later, minutes=None).rates[-1] == 8.0  # damage after the last record: not read
    idle = write_log(tmp_path / "idle", lines[:8])
    with pytest.raises(ValueError) as err:
        projection.window(idle, minutes=None)
    assert str(err.value) == f"{idle}: no training progress lines in the log"
