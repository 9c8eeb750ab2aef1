"""The history's rules as tables: which way is worse, the margin, the median and the verdict; the
reference found through references.find; the reader's refusal of formats it does not know."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from acceptance.report import history, history_page, render, sessions
from acceptance.report.collect import Criterion, ReportData
from acceptance.report.history import Band
from acceptance.report.sessions import Measurement
from acceptance.suite import references
from conftest import resources_with


def band(lower, upper, value=100.0) -> Band:
    return Band(value, lower, upper, "test", "resources/references")


@pytest.mark.parametrize(
    "ref, unit, better",
    [
        (band(-0.10, None), "img/s", "higher"),  # throughput: a lower bound only
        (band(None, 0.10), "min", "lower"),  # time-to-train: an upper bound only
        (band(None, 0.25), "epochs", "lower"),  # the bounds decide where the unit cannot
        (band(-0.5, None), "s", "higher"),  # ... and over the unit
        (None, "min", "lower"),
        (None, "s", "lower"),
        (None, "GB/s", "higher"),
        (None, "img/s", "higher"),
        (band(None, None), "ms", "lower"),  # no bounds: the unit
        (band(0.0, 0.0), "GPUs", "either"),  # both bounds, a count: any change
        (None, "", "either"),
    ],
)
def test_which_way_is_worse(ref, unit, better):
    assert history.direction(ref, unit)[0] == better


@pytest.mark.parametrize(
    "ref, better, expected",
    [
        (band(-0.10, None), "higher", 0.10),
        (band(None, 0.15), "lower", 0.15),
        (band(-0.35, 0.5), "higher", 0.35),
        (band(-0.2, 0.05), "either", 0.05),
        (band(None, None), "lower", None),
        (band(-0.1, None), "lower", None),  # no bound on the worse side
        (None, "higher", None),
    ],
)
def test_margin_is_the_tolerance_on_the_worse_side(ref, better, expected):
    assert history.tolerance(ref, better) == expected


@pytest.mark.parametrize(
    "before, latest, better, margin, median, change, verdict",
    [
        ([100, 103, 97, 101, 99], 88, "higher", 0.10, 100, -0.12, "regression"),
        ([100, 103, 97, 101, 99], 91, "higher", 0.10, 100, -0.09, "ok"),
        ([100, 103, 97, 101, 99], 90, "higher", 0.10, 100, -0.10, "ok"),  # at the margin: within
        ([100, 103, 97, 101, 99], 112, "higher", 0.10, 100, 0.12, "improved"),
        ([10.0, 10.2, 9.8, 10.1, 9.9], 11.5, "lower", 0.10, 10.0, 0.15, "regression"),
        ([10.0, 10.2, 9.8, 10.1, 9.9], 8.5, "lower", 0.10, 10.0, -0.15, "improved"),
        ([153.8, 160.1], 170.0, "lower", 0.10, 156.95, 170 / 156.95 - 1, "ok"),  # even count: mean of middle two
        ([8, 8, 8], 7, "either", 0.0, 8, -0.125, "regression"),
        ([8, 8, 8], 9, "either", 0.0, 8, 0.125, "regression"),
        ([0, 0, 0], 1, "lower", 0.0, 0, None, "regression"),  # from 0 problems to 1: no relative change
        ([0, 0], 0, "lower", 0.0, 0, None, "ok"),
        ([], 5, "higher", 0.1, None, None, "no history"),
    ],
)
def test_latest_against_the_median(before, latest, better, margin, median, change, verdict):
    got_median, got_change, got_verdict = history.judge(before, latest, better, margin)
    assert got_median == pytest.approx(median) if median is not None else got_median is None
    assert got_change == pytest.approx(change) if change is not None else got_change is None
    assert got_verdict == verdict


def point(value, time, where="tara:dgx", test="MaskRCNNBenchmark %num_nodes=1", var="throughput", **kw) -> Measurement:
    defaults = dict(unit="img/s", ref=204.0, lower=-0.1, upper=None, result="pass", session=f"s{time}")
    return Measurement(time=float(time), where=where, environ="maskrcnn", test=test, variable=var, value=value,
                       **{**defaults, **kw})  # fmt: skip


def test_series_are_per_partition_test_and_variable_in_time_order():
    found = history.select(
        [point(3, 30), point(1, 10), point(2, 20, var="epochs"), point(5, 5, where="tara:gpu"),
         point(4, 40, test="MaskRCNNBenchmark %num_nodes=2"), point(6, 6, where="lanta:gpu")],
        system="tara", since=6.0,
    )  # fmt: skip
    assert {k: [p.value for p in v] for k, v in found.items()} == {
        ("tara:dgx", "MaskRCNNBenchmark %num_nodes=1", "throughput"): [1, 3],
        ("tara:dgx", "MaskRCNNBenchmark %num_nodes=1", "epochs"): [2],
        ("tara:dgx", "MaskRCNNBenchmark %num_nodes=2", "throughput"): [4],
    }
    assert list(history.select([point(1, 1), point(5, 5, where="tara:gpu")], system="tara:gpu")) == [
        ("tara:gpu", "MaskRCNNBenchmark %num_nodes=1", "throughput")
    ]


def test_since_is_a_local_date():
    assert history.parse_since("2026-03-01") == datetime(2026, 3, 1).timestamp()
    assert history.parse_since("2026-03-01T06:30") == datetime(2026, 3, 1, 6, 30).timestamp()
    with pytest.raises(ValueError, match="--since 'March': expected a date YYYY-MM-DD"):
        history.parse_since("March")


REFS = """
- check: maskrcnn
  system: local:default
  nodes: 1
  implementation: bundled
  mode: throughput
  source: "test: bundled throughput"
  perf:
    throughput: {value: 50.0, lower: -0.25, upper: null, unit: img/s}
- check: maskrcnn
  system: local:default
  nodes: 1
  implementation: bundled
  mode: time-to-train
  source: "test: bundled time-to-train"
  perf:
    throughput: {value: 40.0, lower: -0.05, upper: null, unit: img/s}
    time_to_train: {value: 9.0, lower: null, upper: 0.2, unit: min}
"""


def finder(tmp_path):
    """references.find on a references folder of the test's own (the entries above)."""
    folder = Path(resources_with(tmp_path / "res", REFS)["ACCEPTANCE_RESOURCES"]) / "references"
    return lambda *args: references.find(*args, folder=folder)


def smoke(value, time, mode="throughput", var="throughput", **kw) -> Measurement:
    keys = {"num_nodes": 1, "implementation": "bundled", "mode": mode, "reference_check": "maskrcnn"}
    test = f"MaskRCNNSmoke %num_nodes=1 %implementation=bundled %mode={mode}"
    return point(value, time, where="local:default", test=test, var=var, keys=keys, **kw)


def test_the_reference_is_todays_entry_for_the_variant(tmp_path):
    """The variant's parameters select the entry; its tolerance is the margin, its bound the band."""
    find = finder(tmp_path)
    minutes = [smoke(v, t, mode="time-to-train", var="time_to_train", unit="min") for t, v in enumerate([9, 9, 9, 11])]
    ttt = history.build(minutes, 5, None, find)
    assert ttt.reference == Band(9.0, None, 0.2, "test: bundled time-to-train", "resources/references")
    assert (ttt.better, ttt.margin, ttt.margin_from, ttt.verdict) == ("lower", 0.2, "reference tolerance", "regression")
    thr = history.build([smoke(50.0, 1), smoke(40.0, 2)], 5, None, find)
    assert (thr.reference.source, thr.margin, thr.change, thr.verdict) == ("test: bundled throughput", 0.25, -0.2, "ok")
    assert history.build([smoke(50.0, 1), smoke(40.0, 2)], 5, 0.1, find).verdict == "regression"  # --margin


def test_without_an_entry_the_reference_applied_in_the_session(tmp_path):
    find = finder(tmp_path)
    applied = dict(test="NewCheck", ref=12.0, lower=None, upper=0.3, unit="s")
    odd = history.build([point(10, 1, **applied), point(14, 2, **applied)], 5, None, find)
    assert (odd.reference.value, odd.reference.origin, odd.better, odd.margin) == (12.0, "session s2", "lower", 0.3)
    bare = history.build([point(1, 1, test="X", ref=None, unit="GB/s"), point(2, 2, test="X", ref=None, unit="GB/s")],
                         5, None, find)  # fmt: skip
    assert (bare.reference, bare.better, bare.margin, bare.verdict) == (None, "higher", 0.10, "improved")


def test_analyse_names_an_empty_selection():
    read = sessions.Sessions("ReFrame results database R", ["a"], [point(1, 1)])
    with pytest.raises(ValueError, match="R: no performance figures for system lanta in 1 stored session"):
        history.analyse(read, system="lanta")
    with pytest.raises(ValueError, match="--last 0"):
        history.analyse(read, last=0)


# ---- the reader: ReFrame 4.10's formats, and clear refusals ------------------------------------------


def report(cases_per_run: list[list[dict]], version: str = "4.2") -> dict:
    info = {"data_version": version, "uuid": "u-1", "time_start_unix": 1000.0}
    return {"session_info": info, "runs": [{"testcases": cases} for cases in cases_per_run]}


def case(result: str, value, **kw) -> dict:
    perf = {"tara:dgx:throughput": [value, 204.0, -0.1, None, "img/s", result]} if value is not None else {}
    where = {"system": "tara", "partition": "dgx", "environ": "maskrcnn", "job_completion_time_unix": 2000.0}
    params = {"num_nodes": 1, "mode": "throughput"}
    return {"name": "MaskRCNNBenchmark %num_nodes=1", **where, "perfvalues": perf, **params, **kw}


def test_a_retry_replaces_the_first_attempt():
    uuid, found = sessions.measurements_of(report([[case("fail", 150.0)], [case("pass", 201.0)]]), "R")
    assert uuid == "u-1"
    assert [(m.where, m.variable, m.value, m.result, m.time, m.keys) for m in found] == [
        ("tara:dgx", "throughput", 201.0, "pass", 2000.0, {"num_nodes": 1, "mode": "throughput"})
    ]
    assert sessions.measurements_of(report([[case("fail", None)]]), "R")[1] == []  # failed before performance


@pytest.mark.parametrize(
    "bad, message",
    [
        (report([[case("pass", 1.0)]], version="3.1"), "R: run report data_version 3.1; this reader knows ReFrame 4.x"),
        ({"runs": []}, "R: no 'session_info'"),
        (report([[{"system": "tara"}]]), "R: runs[0].testcases[]: a test case lacks 'name'"),
        (
            report([[case("pass", 1.0, perfvalues={"tara:dgx:x": [1.0, "img/s"]})]]),
            "perfvalues['tara:dgx:x']: expected",
        ),
        (report([[case("pass", "fast")]]), "perfvalues['tara:dgx:throughput'][0]: expected a number, found 'fast'"),
    ],
)
def test_unknown_report_formats_are_refused(bad, message):
    with pytest.raises(ValueError) as err:
        sessions.measurements_of(bad, "R")
    assert message in str(err.value)


def database(path, version: str | None, blob: str) -> None:
    """A file laid out as ReFrame 4.10's results database (tables as its _SqliteStorage makes them)."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sessions(uuid TEXT PRIMARY KEY, session_start_unix REAL, "
                     "session_end_unix REAL, json_blob TEXT, report_file TEXT)")  # fmt: skip
        conn.execute("CREATE TABLE metadata(schema_version TEXT)")
        if version:
            conn.execute("INSERT INTO metadata VALUES (?)", (version,))
        conn.execute("INSERT INTO sessions VALUES ('u-1', 1000.0, 1001.0, ?, '')", (blob,))
    conn.close()


def test_database_versions(tmp_path):
    good = tmp_path / "good.db"
    database(good, "1.0", json.dumps(report([[case("pass", 201.0)]])))
    read = sessions.read_database(good)
    assert (read.sessions, [m.value for m in read.measurements]) == (["u-1"], [201.0])
    newer = tmp_path / "newer.db"
    database(newer, "2.0", json.dumps(report([])))
    with pytest.raises(ValueError, match=r"newer.db: results database schema version 2.0; this reader knows 1.0"):
        sessions.read_database(newer)
    broken = tmp_path / "broken.db"
    database(broken, "1.0", "{not json")
    with pytest.raises(ValueError, match="broken.db session u-1: json_blob is not JSON"):
        sessions.read_database(broken)
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    with pytest.raises(ValueError, match="other.db: not a ReFrame results database"):
        sessions.read_database(other)


# ---- the folder and the report's link to it ---------------------------------------------------------


def test_history_folder_and_the_reports_link(tmp_path):
    gpus = dict(var="gpus", unit="GPUs", ref=8.0, lower=0.0, upper=0.0)
    figures = [point(204, 1), point(200, 2), point(150, 3), point(8, 1, **gpus), point(8, 3, **gpus)]
    read = sessions.Sessions(
        "ReFrame results database R", ["s1", "s2", "s3"], figures + [point(1, 2, where="lanta:gpu")]
    )
    found = history.analyse(read, finder=lambda *a: None)
    assert [(s.where, s.variable, s.verdict) for s in found.series] == [
        ("lanta:gpu", "throughput", "no history"), ("tara:dgx", "gpus", "ok"), ("tara:dgx", "throughput", "regression")
    ]  # fmt: skip
    out = tmp_path / "history"
    history_page.write(found, out)
    assert (out / "tara_dgx" / "MaskRCNNBenchmark_num_nodes=1_throughput.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "history.json").read_text())["regressions"] == 1
    ran = [Criterion("MaskRCNNBenchmark", "MaskRCNNBenchmark %num_nodes=1", "tara:dgx", "pass", ""),
           Criterion("GpusVisible", "GpusVisible", "tara:gpu", "pass", "")]  # fmt: skip
    data = ReportData("t", criteria=ran)
    page, summary = render.write(data, tmp_path / "report", out)
    assert (
        "<a href='../history/tara_dgx/index.html'>tara:dgx</a>: 1 regression(s): MaskRCNNBenchmark" in page.read_text()
    )
    assert "tara:gpu" not in summary.read_text().split("## History")[1].split("##")[0]  # no history there
    with pytest.raises(ValueError, match="history.json: not a history"):
        render.write(data, tmp_path / "report2", tmp_path)
