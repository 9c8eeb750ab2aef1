"""``acceptance score`` on sets that must not score: a refused log, the same log twice, six runs;
and on inputs that used to crash it: relative paths, a damaged .xz."""

import json
import lzma
import shutil

import pytest

from acceptance import cli
from acceptance.mlperf import analysis, compliance, score
from conftest import NVIDIA_LOGS

DGX1 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch"
LOGS = sorted(DGX1.glob("result_*.txt.xz"))


def _text(index: int) -> str:
    return lzma.decompress(LOGS[index].read_bytes()).decode()


def _set_of_five(folder):
    folder.mkdir(parents=True)
    for path in LOGS:
        shutil.copy(path, folder / path.name)
    return folder


def test_a_refused_log_takes_the_whole_set_out_of_scoring(tmp_path, capsys):
    folder = _set_of_five(tmp_path / "set")
    lines = _text(4).splitlines()
    stop = next(i for i, line in enumerate(lines) if '"key": "run_stop"' in line)
    lines.append(lines[stop])  # a second run_stop
    (folder / "result_4.txt.xz").unlink()
    (folder / "result_4.txt").write_text("\n".join(lines) + "\n")
    runs = [analysis.summarize(p) for p in sorted(folder.iterdir())]
    result = score.olympic(runs)
    # Not "counts as the slowest": a forged log is not a run that failed to converge.
    assert result.value is None and not result.valid and not result.provisional
    assert result.problems == [f"{folder / 'result_4.txt'}: refused (1 problem(s)), so the set has no score"]
    assert cli.main(["score", str(folder), "--no-compliance"]) == 1
    out = capsys.readouterr().out
    assert "none (the set cannot be scored: see problems)" in out and "153.78" not in out


def test_the_same_log_twice_is_named(tmp_path, capsys):
    folder = _set_of_five(tmp_path / "set")
    (folder / "result_4.txt.xz").unlink()
    (folder / "result_4.txt").write_text(_text(1))  # result_1, decompressed: the same content
    result = score.olympic([analysis.summarize(p) for p in sorted(folder.iterdir())])
    assert result.value is None
    assert result.problems == [f"{folder / 'result_4.txt'} is the same log as {folder / 'result_1.txt.xz'}"]
    assert cli.main(["score", str(folder), "--no-compliance"]) == 1
    assert "is the same log as" in capsys.readouterr().out


def test_one_file_given_twice_is_named(capsys):
    assert cli.main(["score", str(LOGS[0]), str(LOGS[0]), "--no-compliance"]) == 1
    assert f"{LOGS[0]} is the same log as {LOGS[0]}" in capsys.readouterr().out


def test_six_runs_are_an_error(tmp_path, capsys):
    folder = _set_of_five(tmp_path / "set")
    lines = _text(0).splitlines()
    lines[0] += " "  # a sixth run that is not a copy of another
    (folder / "result_5.txt").write_text("\n".join(lines) + "\n")
    assert cli.main(["score", str(folder), "--json", "--no-compliance"]) == 1
    entry = json.loads(capsys.readouterr().out)["sets"][0]["score"]
    assert entry["value"] is None
    assert entry["problems"] == [
        "6 runs (result_0.txt.xz, result_1.txt.xz, result_2.txt.xz, result_3.txt.xz, result_4.txt.xz, "
        "result_5.txt): a v0.7 score takes exactly 5"
    ]


def test_five_real_runs_still_score_and_pass(capsys):
    assert cli.main(["score", str(DGX1), "--no-compliance"]) == 0
    assert "score of" in capsys.readouterr().out


def test_relative_paths_are_checked_where_they_point(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "runs" / "dgx1"
    folder.mkdir(parents=True)
    shutil.copy(LOGS[0], folder / LOGS[0].name)
    (folder / "result_1.txt").write_text(_text(1))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert compliance.check("../runs/dgx1/result_1.txt").passed
    assert cli.main(["score", "../runs/dgx1", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["compliance"]["passed"] for r in runs] == [True, True]
    assert [r["compliance"]["path"] for r in runs] == ["../runs/dgx1/result_0.txt.xz", "../runs/dgx1/result_1.txt"]


def test_a_damaged_xz_is_one_line_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "result_0.txt.xz"
    bad.write_bytes(b"not xz at all" * 100)
    s = analysis.summarize(bad)
    assert (
        s.refused and s.problems[0] == f"{bad}:1: not readable compressed data (Input format not supported by decoder)"
    )
    verdict = compliance.check(bad)
    assert not verdict.passed
    assert verdict.messages == [
        f"{bad}: compressed data is damaged (Input format not supported by decoder); not checked"
    ]
    assert cli.main(["score", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert f"{bad}: compliance: {bad}: compressed data is damaged" in captured.out


def test_a_crashing_checker_is_never_a_pass(tmp_path):
    # A record that is a JSON list: the official 0.7.0 parser raises on it. The crash is reported
    # as one line with the exception, never read as a verdict.
    path = tmp_path / "result_0.txt"
    path.write_text(":::MLLOG [1]\n")
    verdict = compliance.check(path)
    assert not verdict.passed
    crash = [m for m in verdict.messages if m.startswith("compliance checker crashed: ")]
    assert len(crash) == 1 and "TypeError: list indices must be integers or slices, not str (at " in crash[0]
    assert all("Traceback" not in m for m in verdict.messages)
    assert analysis.summarize(path).problems[0] == f"{path}:1: MLLOG record is a JSON list, not an object"


@pytest.mark.parametrize("name", ["result_0.txt", "result_0.txt.xz"])
def test_compliance_warnings_come_with_a_passing_verdict(tmp_path, name):
    lines = _text(0).splitlines()
    start = next(i for i, line in enumerate(lines) if '"key": "global_batch_size"' in line)
    lines.insert(start, lines[start])  # logged twice with the same value: 0.7.0 only warns
    text = "\n".join(lines) + "\n"
    path = tmp_path / name
    path.write_bytes(lzma.compress(text.encode()) if name.endswith(".xz") else text.encode())
    verdict = compliance.check(path)
    assert verdict.passed
    assert verdict.warnings == ["Required EXACTLY_ONE occurrence of 'global_batch_size' but found 2"]


def test_a_failed_verdict_lists_errors_not_warnings(tmp_path):
    # 0.7.0 logs its errors at WARNING level: a failing verdict's lines are its reasons, not warnings.
    text = _text(0).replace('"value": {"BBOX": 0.3788', '"value": {"BBOX": 0.1788')
    path = tmp_path / "result_0.txt"
    path.write_text(text)
    verdict = compliance.check(path)
    assert not verdict.passed and verdict.warnings == []
    assert any("Failed checks for eval_accuracy" in m for m in verdict.messages)
