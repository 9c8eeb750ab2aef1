"""Forged, mistyped and damaged logs, each made from a real NVIDIA v0.7 log: the judge refuses them.

A refused log names file and line, is never converged, has no time-to-train, is never scored,
and ``acceptance score`` exits non-zero on it, whatever the official checker says.
"""

import json
import lzma

import pytest

from acceptance import cli
from acceptance.mlperf import analysis, compliance, integrity, parse, score
from conftest import NVIDIA_LOGS

DGX1 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch"
A100X4 = NVIDIA_LOGS / "dgxa100_n4_ngc20.06_pytorch"


@pytest.fixture(scope="module")
def real_lines() -> list[str]:
    return lzma.decompress((DGX1 / "result_0.txt.xz").read_bytes()).decode().splitlines()


RUN_START_LINE = 840  # of that log


def record(line: str) -> dict:
    return json.loads(line.split(":::MLLOG", 1)[1])


def mllog(data: dict) -> str:
    return ":::MLLOG " + json.dumps(data)


def index_of(lines: list[str], key: str, last: bool = False) -> int:
    found = [i for i, line in enumerate(lines) if f'"key": "{key}"' in line]
    return found[-1] if last else found[0]


def with_time(line: str, time_ms: float) -> str:
    return mllog(dict(record(line), time_ms=time_ms))


def write(tmp_path, lines: list[str], name: str = "result_0.txt"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_refused(summary: analysis.RunSummary, *fragments: str) -> None:
    assert summary.refused and not summary.converged
    assert summary.time_to_train_min is None
    for fragment in fragments:
        assert any(fragment in p for p in summary.problems), (fragment, summary.problems)
    assert score.olympic([summary]).value is None


def test_the_real_log_is_sound(real_lines, tmp_path):
    s = analysis.summarize(write(tmp_path, real_lines))
    assert s.converged and not s.problems and s.time_to_train_min == pytest.approx(152.7356, abs=1e-3)


def test_second_run_start_just_before_run_stop(real_lines, tmp_path, capsys):
    lines = list(real_lines)
    stop = index_of(lines, "run_stop")
    lines.insert(stop, with_time(lines[index_of(lines, "run_start")], record(lines[stop])["time_ms"] - 60_000))
    path = write(tmp_path, lines)
    s = analysis.summarize(path)
    assert_refused(s, f"result_0.txt:{stop + 1}: a second run_start (the first is at line {RUN_START_LINE})")
    assert s.reason.startswith("log refused: ")
    # The official checker only warns, and passes: its warning is shown with its verdict.
    verdict = compliance.check(path)
    assert verdict.passed and verdict.warnings == ["Required EXACTLY_ONE occurrence of 'run_start' but found 2"]
    assert cli.main(["score", str(path)]) == 1
    out = capsys.readouterr().out
    assert "refused" in out and "SUCCESS (1 warning)" in out
    assert "compliance checker warnings:" in out and "found 2" in out
    assert "1.00" not in out


def test_duplicate_late_run_stop(real_lines, tmp_path):
    lines = list(real_lines)
    stop = lines[index_of(lines, "run_stop")]
    lines.append(with_time(stop, record(stop)["time_ms"] + 600_000))
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(s, f"result_0.txt:{len(lines)}: a second run_stop")


def test_run_stop_timed_before_run_start(real_lines, tmp_path, capsys):
    lines = list(real_lines)
    stop, start = index_of(lines, "run_stop"), record(lines[index_of(lines, "run_start")])
    lines[stop] = with_time(lines[stop], start["time_ms"] - 5_000)
    path = write(tmp_path, lines)
    s = analysis.summarize(path)
    assert_refused(s, f"result_0.txt:{stop + 1}: run_stop is 5.000 s before run_start (line {RUN_START_LINE})")
    assert cli.main(["score", str(path), "--no-compliance"]) == 1
    assert "-0.08" not in capsys.readouterr().out


def test_zero_duration_is_refused(tmp_path):
    # The smallest log that is otherwise sound: run_start and run_stop at one instant.
    lines = [
        mllog({"key": "run_start", "time_ms": 1000, "value": None, "metadata": {}}),
        mllog({"key": "run_stop", "time_ms": 1000, "value": None, "metadata": {"status": "aborted"}}),
    ]
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(s, "result_0.txt:2: run_stop is at the same time as run_start (line 1)")


def test_run_stop_before_run_start_in_the_file(real_lines, tmp_path):
    lines = list(real_lines)
    stop = lines.pop(index_of(lines, "run_stop"))
    lines.insert(index_of(lines, "run_start"), stop)
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(
        s, f"result_0.txt:{RUN_START_LINE}: run_stop comes before run_start (line {RUN_START_LINE + 1}) in the file"
    )


def test_missing_run_start(real_lines, tmp_path):
    lines = [line for line in real_lines if '"key": "run_start"' not in line]
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(s, "result_0.txt: no run_start in the log")


def test_record_moved_back_in_time(real_lines, tmp_path):
    lines = list(real_lines)
    accuracy = index_of(lines, "eval_accuracy", last=True)
    lines[accuracy] = with_time(lines[accuracy], record(lines[accuracy])["time_ms"] - 300_000)
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(s, f"result_0.txt:{accuracy + 1}: eval_accuracy is ")
    assert any("records may step back at most 1 s" in p for p in s.problems)


@pytest.mark.parametrize(
    ("back_ms", "refused"), [(500, False), (999, False), (1000, False), (1001, True), (1500, True)]
)
def test_order_tolerance_is_one_second(real_lines, tmp_path, back_ms, refused):
    lines = list(real_lines)
    stop = index_of(lines, "epoch_stop")  # a record inside the run, after its epoch_start
    previous = record(lines[stop - 1]) if ":::MLLOG" in lines[stop - 1] else None
    latest = max(record(line)["time_ms"] for line in lines[:stop] if ":::MLLOG" in line)
    assert previous is None or previous["time_ms"] <= latest
    lines[stop] = with_time(lines[stop], latest - back_ms)
    s = analysis.summarize(write(tmp_path, lines))
    assert s.refused is refused
    assert s.converged is not refused


def test_real_multi_rank_logs_step_back_and_pass():
    """NVIDIA's 4-node logs: every rank writes init_start, so time_ms steps back a little."""
    for path in sorted(A100X4.glob("result_*.txt.xz")):
        log = parse.parse(path)
        times = [r.time_ms for r in log.records]
        steps_back = [a - b for a, b in zip(times, times[1:]) if b < a]
        assert steps_back and max(steps_back) < integrity.ORDER_TOLERANCE_MS
        assert analysis.summarize(log).problems == []


def test_evaluation_after_run_stop_cannot_make_a_run_converge(real_lines, tmp_path):
    lines = _non_converged(real_lines)
    stop = record(lines[index_of(lines, "run_stop")])
    late = {"key": "eval_accuracy", "time_ms": stop["time_ms"] + 10, "value": {"BBOX": 0.4, "SEGM": 0.36}}
    lines.append(mllog(dict(late, metadata={"epoch_num": 15})))
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(s, f"result_0.txt:{len(lines)}: eval_accuracy lies outside the run")


def test_second_evaluation_of_an_epoch(real_lines, tmp_path):
    lines = list(real_lines)
    first = index_of(lines, "eval_accuracy")
    lines.insert(first + 1, lines[first])
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(
        s, f"result_0.txt:{first + 2}: a second eval_accuracy for epoch 1 (the first is at line {first + 1})"
    )


@pytest.mark.parametrize("bbox", [5.0, 1.01, "0.40", True, -0.1])
def test_accuracy_that_is_not_an_ap(real_lines, tmp_path, bbox):
    lines = list(real_lines)
    last = index_of(lines, "eval_accuracy", last=True)
    data = record(lines[last])
    lines[last] = mllog(dict(data, value={"BBOX": bbox, "SEGM": 0.35}))
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(s, f"result_0.txt:{last + 1}: eval_accuracy BBOX {bbox!r} is not an AP in [0, 1]")


@pytest.mark.parametrize(
    ("time_ms", "why"),
    [("NaN", "is not a finite number"), ('"1592795797409"', "is not a finite number"), ("true", "not a finite")],
)
def test_record_time_that_is_not_a_number(real_lines, tmp_path, time_ms, why):
    lines = list(real_lines)
    stop = index_of(lines, "run_stop")
    lines[stop] = lines[stop].replace(f'"time_ms": {record(lines[stop])["time_ms"]}', f'"time_ms": {time_ms}')
    s = analysis.summarize(write(tmp_path, lines))
    assert_refused(s, f"result_0.txt:{stop + 1}: MLLOG record time_ms", why, "no run_stop in the log")
    assert s.status == "incomplete"


def test_submission_records_without_time_after_run_stop_are_accepted(real_lines, tmp_path):
    """Google's v0.7 layout: submission_* records last, with time_ms 0; any other key needs a time."""
    keys = [f'"key": "submission_{name}"' for name in ("benchmark", "org", "division", "status", "platform")]
    moved = [line for line in real_lines if any(k in line for k in keys)]
    lines = [line for line in real_lines if line not in moved] + [with_time(line, 0) for line in moved]
    s = analysis.summarize(write(tmp_path, lines))
    assert s.converged and not s.problems and s.hyperparameters["submission_org"] == "NVIDIA"
    lines.append(mllog({"key": "cache_clear", "time_ms": 0, "value": True, "metadata": {}}))
    assert_refused(analysis.summarize(write(tmp_path, lines)), f"result_0.txt:{len(lines)}: cache_clear has time_ms 0")


def test_epochs_run_from_google_style_blocks(real_lines, tmp_path):
    """Google's v0.7 logs have no epoch_start: blocks from first_epoch_num 0, epoch_count each."""
    lines = []
    for line in real_lines:
        if '"key": "epoch_start"' in line or '"key": "epoch_stop"' in line:
            continue
        if '"key": "block_start"' in line or '"key": "block_stop"' in line:
            data = record(line)
            data["metadata"]["first_epoch_num"] -= 1
            line = mllog(data)
        lines.append(line)
    s = analysis.summarize(write(tmp_path, lines))
    assert not s.problems and s.converged
    assert s.epochs_run == 15 and s.epochs_to_target == 14
    # Block and epoch records are a few ms apart: the same figure within 0.01 %.
    expected = analysis.summarize(write(tmp_path, real_lines, "r.txt")).throughput_epoch
    assert s.throughput_epoch == pytest.approx(expected, rel=1e-4)


def test_aborted_without_reason_says_so(real_lines, tmp_path):
    lines = _non_converged(real_lines)
    s = analysis.summarize(write(tmp_path, lines))
    assert s.status == "aborted" and s.reason.startswith("(no reason given); best BBOX 0.3")
    stop = index_of(lines, "run_stop")
    data = record(lines[stop])
    data["metadata"]["status"] = "abort"  # as Google's v0.7 logs write it
    lines[stop] = mllog(data)
    lines = [line for line in lines if '"key": "eval_accuracy"' not in line]
    s = analysis.summarize(write(tmp_path, lines))
    assert s.status == "aborted" and s.reason == "(no reason given)" and not s.problems


def test_run_stop_without_status(real_lines, tmp_path):
    lines = list(real_lines)
    stop = index_of(lines, "run_stop")
    data = record(lines[stop])
    del data["metadata"]["status"]
    lines[stop] = mllog(data)
    assert_refused(
        analysis.summarize(write(tmp_path, lines)), f"result_0.txt:{stop + 1}: run_stop lacks metadata status"
    )


def _non_converged(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        if '"key": "eval_accuracy"' in line:
            line = mllog(dict(record(line), value={"BBOX": 0.30, "SEGM": 0.28}))
        if '"key": "run_stop"' in line:
            line = line.replace('"status": "success"', '"status": "aborted"')
        out.append(line)
    return out
