"""How the report writes numbers, pass ranges, verdicts and times, and how its plots tell runs apart."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from acceptance.mlperf import parse
from acceptance.report import plots, text
from conftest import NVIDIA_LOGS


def test_integers_as_integers_other_numbers_to_four_significant_digits():
    assert text.number(5.0) == "5" and text.number(8) == "8"  # epochs and GPU counts
    assert text.number(2.831383333333333) == "2.831"  # the perflog's old 16 digits
    assert text.number(1189.34) == "1189" and text.number(0.5512) == "0.5512" and text.number(204.87) == "204.9"
    assert text.number(None) == "-" and text.minutes(153.7833) == "153.78"
    assert text.ap(0.37651) == "0.3765"  # never rounded up to the 0.377 target


def test_pass_ranges_carry_the_unit_and_unbounded_values_no_verdict():
    assert text.bound(1.3, -0.7, None, "GB/s") == ">= 0.39 GB/s"
    assert text.bound(5.0, None, 1.0, "min") == "<= 10 min"
    assert text.bound(8.0, 0.0, 0.0, "GPUs") == "= 8 GPUs"
    assert text.bound(100.0, -0.1, 0.1, "img/s") == "90 .. 110 img/s"
    assert text.bound(2.0, None, None, "min") == "none (reported only)"
    assert text.reference(2.0, None, None, "min") == "2 min (for comparison only)"
    assert text.perf_verdict("pass", None, None, dry_run=False) == "reported only"
    assert text.perf_verdict("fail", -0.1, None, dry_run=False) == "fail"
    assert text.perf_verdict(None, -0.1, None, dry_run=True) == "not measured (dry run)"


def test_times_are_local_date_times(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Bangkok")
    time.tzset()
    try:
        # ReFrame's 20261129T163412+0000, as its report's time_start_unix gives it
        unix = dt.datetime(2026, 11, 29, 16, 34, 12, tzinfo=dt.timezone.utc).timestamp()
        assert text.when(unix) == "2026-11-29 23:34:12 +07"
        assert text.when(None, "20261129T163412+0000") == "20261129T163412+0000"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_ratios_and_differences_of_the_published_scores():
    # NVIDIA's v0.7 scores: 4x DGX A100 28.46 min, one DGX-1 153.78 min.
    assert text.ratio(28.46, 153.78) == "0.185x"
    assert text.delta(28.46, 153.78, "min") == "-125.3 min (-81.5%)"
    assert text.delta(15.0, 14.0, "epochs") == "+1 epochs (+7.1%)"
    assert text.ratio(None, 2.0) == "-" and text.delta(1.0, None, "s") == "-"


def test_convergence_is_plotted_against_minutes_since_run_start():
    log = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch" / "result_0.txt.xz"
    records = parse.parse(log)
    start = records.first("run_start").time_ms
    expected = [(r.time_ms - start) / 60000.0 for r in records.all("eval_accuracy")]
    from acceptance.mlperf import analysis

    points = [p.__dict__ for p in analysis.summarize(log).eval_curve]
    curve = plots.curve("result_0", points)
    assert curve.minutes == pytest.approx(expected) and len(expected) == 14
    assert curve.minutes[-1] == pytest.approx(152.74, abs=0.1)  # ends near run_stop (the published 152.74 min)
    assert plots.convergence([curve], "test")[:4] == b"\x89PNG"


def test_every_run_of_a_large_set_looks_different():
    looks = [tuple(sorted(plots.style(i).items())) for i in range(40)]
    assert len(set(looks)) == 40
    # In grey-scale print the colour is lost: the first ten still differ by marker.
    assert len({plots.style(i)["marker"] for i in range(10)}) == 10


def test_node_lists_read_as_lists_whatever_form_the_report_gives():
    from acceptance.report.collect import nodelist

    assert nodelist(["vm"]) == ["vm"]
    assert nodelist("vm") == ["vm"]  # never "v,m"
    assert nodelist("n1,n2, n3") == ["n1", "n2", "n3"]
    assert nodelist(None) == [] and nodelist([]) == []
