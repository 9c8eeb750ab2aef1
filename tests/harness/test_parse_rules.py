"""How an MLPerf log is read (``acceptance.mlperf.parse``): plain, .xz and .gz files, records found
anywhere in a line, each malformed record named by file and line, and the trainers' iteration lines."""

from __future__ import annotations

import gzip
import json
import lzma

import pytest

from acceptance.mlperf import parse
from conftest import mllog, write_log

# Bytes that are not UTF-8 (a rank's garbled output): they must never stop the reading.
GARBLED = b"srun: \xff\xfe rank 3 wrote this\n"


def _record(**fields) -> str:
    return ":::MLLOG " + json.dumps(fields)


def test_a_record_is_read_wherever_its_marker_stands_in_a_line(tmp_path):
    lines = [
        "+ srun python train.py",
        "0: " + mllog("global_batch_size", 48, 1500.0, file="train.py", lineno=12),
        "3: rank prefix " + _record(key="run_start", value=None, time_ms=2000),  # no event_type, no metadata
    ]
    log = parse.parse(write_log(tmp_path, lines))
    assert log.problems == []
    assert log.records == [
        parse.Record("global_batch_size", 48, 1500.0, "POINT_IN_TIME", {"file": "train.py", "lineno": 12}, 2),
        parse.Record("run_start", None, 2000.0, "", {}, 3),
    ]


def test_a_marker_inside_a_records_text_does_not_split_the_record(tmp_path):
    line = mllog("submission_platform", "node :::MLLOG relay", 10.0)
    log = parse.parse(write_log(tmp_path, [line]))
    assert log.problems == [] and log.first("submission_platform").value == "node :::MLLOG relay"


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"key": 5, "time_ms": 1}, "MLLOG record key is not a string"),
        ({"key": "run_start", "time_ms": "1" * 50}, f"MLLOG record time_ms {'1' * 40} is not a finite number"),
        ({"key": "run_start", "time_ms": None}, "MLLOG record time_ms None is not a finite number"),
        ({"key": "run_start", "time_ms": 1, "metadata": [1]}, "MLLOG record metadata is not an object"),
    ],
)
def test_a_record_with_a_mistyped_field_is_named_by_file_and_line(tmp_path, fields, why):
    path = write_log(tmp_path, [mllog("init_start", None, 0.0), _record(**fields), mllog("run_start", None, 5.0)])
    log = parse.parse(path)
    assert [str(p) for p in log.problems] == [f"{path}:2: {why}"]
    assert [r.key for r in log.records] == ["init_start", "run_start"]  # the rest of the file is still read


def test_an_iteration_line_whose_number_cannot_be_read_is_named_and_the_rest_read(tmp_path):
    lines = [
        mllog("run_start", None, 0.0),
        "iter: 20 loss: 1.5 time: 1.2.3 (0.5) lr: 0.002",  # matches NVIDIA's pattern, no number float() reads
        "iter: 40 loss: 1.4 time: 0.25 (0.3) lr: 0.004",
    ]
    path = write_log(tmp_path, lines)
    log = parse.parse(path)
    assert [str(p) for p in log.problems] == [
        f"{path}:2: unreadable progress line (could not convert string to float: '1.2.3')"
    ]
    assert log.iteration_times == [(40, 0.25)]


@pytest.mark.parametrize(
    ("name", "pack"),
    [("result_0.txt", bytes), ("result_0.txt.xz", lzma.compress), ("result_0.txt.gz", gzip.compress)],
)
def test_undecodable_bytes_are_replaced_in_plain_and_compressed_logs(tmp_path, name, pack):
    text = (mllog("run_start", None, 10.0) + "\n").encode() + GARBLED + (mllog("run_stop", None, 20.0) + "\n").encode()
    path = tmp_path / name
    path.write_bytes(pack(text))
    log = parse.parse(path)
    assert log.problems == [] and [(r.key, r.line) for r in log.records] == [("run_start", 1), ("run_stop", 3)]
    plain = tmp_path / "plain.txt"
    parse.write_plain(path, plain)
    assert plain.read_text(encoding="utf-8").splitlines()[1] == "srun: \ufffd\ufffd rank 3 wrote this"


def test_a_folder_without_logs_is_named(tmp_path):
    (tmp_path / "notes.md").write_text("no log here\n")
    with pytest.raises(ValueError) as err:
        parse.collect_logs([tmp_path])
    assert str(err.value) == f"no MLPerf logs (result_*.txt[.xz|.gz], *.log) in folder {tmp_path}"
