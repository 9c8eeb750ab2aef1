"""The performance history on real ReFrame sessions: six runs of a probe check on this machine
(the last one deliberately slower), stored by ReFrame in the results database that config/tara.py
turns on, then read back by ``acceptance history``, ``reframe --performance-compare`` and the
acceptance report. The figures are the probe's inputs, so the medians are known in advance."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from acceptance.report import sessions
from conftest import BIN, ROOT, cases_of, resources_with, run_reframe

PROBE = ROOT / "tests" / "suite" / "checks" / "history_probe.py"
REFERENCES = """
- check: maskrcnn
  system: local:default
  mode: throughput
  source: "test: the probe's bounds"
  perf:
    throughput: {value: 90.0, lower: -0.10, upper: null, unit: img/s}
    eval_time: {value: 11.0, lower: null, upper: 0.10, unit: s}
    projected_time_to_train: {value: 5.0, lower: null, upper: null, unit: min}
"""
# Five ordinary sessions, then a slower one: -12% img/s and +15% s against the medians of the five
# (100 img/s, 10.0 s), within the references' bounds (>= 81 img/s, <= 12.1 s), so ReFrame passes it.
RATES = [100.0, 103.0, 97.0, 101.0, 99.0, 88.0]
ELAPSED = [10.0, 10.2, 9.8, 10.1, 9.9, 11.5]
LATENCY = [5.0, 5.1, 4.9, 5.0, 5.0, 5.2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Six real sessions; their reports, UUIDs, and the database config/tara.py put them in."""
    base = tmp_path_factory.mktemp("history")
    env = dict(resources_with(base / "resources", REFERENCES), ACCEPTANCE_REPORT_DIR=str(base / "reports"))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("RFM_SQLITE_DB_FILE", "RFM_ENABLE_RESULTS_STORAGE"):
            mp.delenv(name, raising=False)  # the config's default location is what is tested
        reports = []
        for n, figures in enumerate(zip(RATES, ELAPSED, LATENCY)):
            names = ("rate", "elapsed", "latency")
            options = [f"-S given_{k}={v}" for k, v in zip(names, figures)]
            done, report = run_reframe(["-r", *" ".join(options).split()], base / f"run-{n}", env, 300, PROBE)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
            assert [c["result"] for c in cases_of(report)] == ["pass"]
            reports.append(base / f"run-{n}" / "report.json")
        env = dict(os.environ, **env)
    uuids = [json.loads(r.read_text())["session_info"]["uuid"] for r in reports]
    return {"base": base, "env": env, "db": base / "reports" / "results.db", "reports": reports, "uuids": uuids}


def history(stored, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "acceptance"), "history", *args], capture_output=True, text=True,
                          env=stored["env"], timeout=300)  # fmt: skip


def reframe_query(stored, *args: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "reframe"), "-C", str(ROOT / "config" / "tara.py"), *args]
    # Its log goes to the working directory: the test's folder, not the checkout.
    return subprocess.run(command, capture_output=True, text=True, env=stored["env"], timeout=300, cwd=stored["base"])


def series_of(data: dict) -> dict[str, dict]:
    assert {(s["where"], s["test"]) for s in data["series"]} == {("local:default", "HistoryProbe %mode=throughput")}
    return {s["variable"]: s for s in data["series"]}


def test_every_session_is_stored_where_the_config_says(stored):
    assert stored["db"].is_file()
    read = sessions.read_database(stored["db"])
    assert read.sessions == stored["uuids"]
    listed = reframe_query(stored, "--list-stored-sessions=all")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert all(uuid in listed.stdout for uuid in stored["uuids"])


def test_the_slower_session_is_a_regression(stored):
    out = stored["base"] / "out"
    done = history(stored, "--system", "local:default", "--out", str(out), "--json")
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["sessions"] == stored["uuids"] and data["regressions"] == 2
    found = series_of(data)
    rate, elapsed, latency = found["throughput"], found["eval_time"], found["projected_time_to_train"]
    assert (rate["baseline"]["median"], rate["baseline"]["runs"], rate["latest"]["value"]) == (100.0, 5, 88.0)
    assert rate["change"] == pytest.approx(-0.12) and rate["verdict"] == "regression"
    assert (rate["better"], rate["margin"], rate["margin_from"]) == ("higher", 0.10, "reference tolerance")
    assert rate["reference"]["value"] == 90.0 and rate["reference"]["origin"] == "resources/references"
    assert rate["baseline"]["sessions"] == stored["uuids"][:5]
    assert elapsed["baseline"]["median"] == 10.0 and elapsed["change"] == pytest.approx(0.15)
    assert (elapsed["better"], elapsed["verdict"]) == ("lower", "regression")
    # No bounds: the unit (min, a time) decides, and the default margin (10%) holds +4%.
    assert (latency["baseline"]["median"], latency["better"], latency["verdict"]) == (5.0, "lower", "ok")
    assert latency["margin_from"].startswith("default")
    page = out / "local_default" / "index.html"
    for var in ("throughput", "eval_time", "projected_time_to_train"):
        png = out / "local_default" / f"HistoryProbe_mode=throughput_{var}.png"
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 10_000
        assert png.name in page.read_text()
    assert "2 regression(s)" in (out / "summary.md").read_text()
    assert json.loads((out / "history.json").read_text()) == data


def test_margin_and_window_are_options(stored):
    wide = history(stored, "--out", str(stored["base"] / "wide"), "--margin", "0.2")
    assert wide.returncode == 0, wide.stderr
    assert "verdict: no regression" in wide.stdout
    expected = "throughput of HistoryProbe %mode=throughput on local:default: 88 img/s, 12.0% below its median"
    assert expected in wide.stdout
    last3 = history(stored, "--out", str(stored["base"] / "last3"), "--last", "3", "--json")
    throughput = series_of(json.loads(last3.stdout))["throughput"]
    assert throughput["baseline"]["median"] == 99.0 and throughput["change"] == pytest.approx(88 / 99 - 1)


def test_run_reports_give_the_same_history(stored):
    done = history(stored, "--reports", *map(str, stored["reports"]), "--out", str(stored["base"] / "files"), "--json")
    assert done.returncode == 1, done.stderr
    from_files = {k: (s["baseline"]["median"], s["verdict"]) for k, s in series_of(json.loads(done.stdout)).items()}
    assert from_files == {
        "throughput": (100.0, "regression"),
        "eval_time": (10.0, "regression"),
        "projected_time_to_train": (5.0, "ok"),
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--since", "2999-01-01"], "no performance figures for since the date"),
        (["--system", "tara:dgx"], "no performance figures for system tara:dgx"),
        (["--since", "last tuesday"], "--since 'last tuesday': expected a date"),
        (["--db", "/nonexistent/results.db"], "/nonexistent/results.db: no ReFrame results database"),
    ],
)
def test_no_data_is_exit_2(stored, args, message):
    done = history(stored, *args, "--out", str(stored["base"] / "none"))
    assert done.returncode == 2 and message in done.stderr


def test_performance_compare_between_two_stored_sessions(stored):
    """The README's command: the slower session against the one before it."""
    fifth, sixth = stored["uuids"][4], stored["uuids"][5]
    done = reframe_query(stored, f"--performance-compare={sixth}/{fifth}/mean:/")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    throughput = next(line for line in lines if "HistoryProbe %mode=throughput" in line and " throughput " in line)
    assert "-11.11" in throughput  # (88 - 99) / 99


def test_the_acceptance_report_links_its_partition_history(stored):
    hist, out = stored["base"] / "linked-history", stored["base"] / "report"
    assert history(stored, "--out", str(hist)).returncode == 1
    done = subprocess.run(
        [str(BIN / "acceptance"), "report", str(stored["reports"][-1]), "--history", str(hist), "--out", str(out)],
        capture_output=True, text=True, env=stored["env"], timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = (out / "index.html").read_text()
    assert "<h2>History</h2>" in page and "href='../linked-history/local_default/index.html'" in page
    summary = (out / "summary.md").read_text()
    assert "## History" in summary
    assert "- local:default: ../linked-history/local_default/index.html (2 regression(s):" in summary


def test_without_a_report_dir_the_database_is_reports_under_the_working_directory(stored, tmp_path, monkeypatch):
    """ReFrame reads config/tara.py from within config/: the default must still be the caller's reports/."""
    for name in ("RFM_SQLITE_DB_FILE", "RFM_ENABLE_RESULTS_STORAGE", "ACCEPTANCE_REPORT_DIR"):
        monkeypatch.delenv(name, raising=False)
    env = {"ACCEPTANCE_RESOURCES": stored["env"]["ACCEPTANCE_RESOURCES"]}
    done, _report = run_reframe(["-r"], tmp_path, env, 300, PROBE)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "reports" / "results.db").is_file()
    here = subprocess.run([str(BIN / "acceptance"), "history", "--out", "h"], capture_output=True, text=True,
                          cwd=tmp_path, env=dict(os.environ, **env), timeout=300)  # fmt: skip
    assert here.returncode == 0 and "no earlier run to compare with" in here.stdout, here.stderr
