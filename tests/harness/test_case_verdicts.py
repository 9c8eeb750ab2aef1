"""How a ReFrame run report is read, record by record: each test case's result and why, which cases
are criteria, the session's mode and whether it was a dry run, and why a run is no MLPerf result."""

from __future__ import annotations

import pytest

from acceptance.report.case_verdicts import case_result, is_dry_run, judged_cases, not_mlperf, session_mode


def case(name: str, result: str | None, **more) -> dict:
    found = {"name": name, "unique_name": name, "display_name": name, "system": "s", "partition": "p", **more}
    return found if result is None else {**found, "result": result}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (case("A", "pass", fail_reason="ignored"), ("pass", "")),
        (case("A", "fail", fail_phase="sanity", fail_reason="no MLPerf log"), ("fail", "sanity: no MLPerf log")),
        (case("A", "skip", skip_reason="no GPU", fail_reason="other"), ("skip", "no GPU")),
        (case("A", "skip", fail_reason="needs COCO"), ("skip", "needs COCO")),  # older reports
        (case("A", "skip"), ("skip", "skipped")),
        # Anything but a pass or a plain skip is a failure, whatever ReFrame calls it.
        (case("A", "abort", fail_phase="run", fail_reason="KeyboardInterrupt"), ("fail", "run: KeyboardInterrupt")),
        (case("A", "xfail", fail_phase="performance", fail_reason="slow"), ("fail", "performance: slow")),
        (case("A", "PASS"), ("fail", "None: None")),
        (case("A", None), ("fail", "None: None")),  # no result recorded: never a pass
    ],
)
def test_a_cases_result(record, expected):
    assert case_result(record, {}) == expected


def test_a_case_whose_dependencies_did_not_pass_names_each_of_them():
    others = {
        ("F", "s:p"): case("F", "fail", display_name="Fixture %x=1"),
        ("G", "s:p"): case("G", "pass"),
        ("H", "s:p"): case("H", None),
    }
    deps = [["F", "s:p", "e"], ["G", "s:p", "e"], ["H", "s:p", "e"], ["M", "s:p", "e"], ["G", "t:q", "e"]]
    result = case_result(case("A", "fail_deps", dependencies_actual=deps), others)
    assert result == ("fail", "dependencies failed: Fixture %x=1 (fail), H (not run), M (not run), G (not run)")
    assert case_result(case("A", "fail_deps"), others) == ("fail", "dependencies failed: (not named in the run report)")


def test_fixtures_are_no_criteria_and_their_failure_reaches_their_dependants():
    run = {
        "testcases": [
            case("Data", "fail", fixture=True, fail_phase="run", fail_reason="disk full"),
            case("Train", "fail_deps", dependencies_actual=[["Data", "s:p", "e"]]),
            case("Probe", "pass"),
        ]
    }
    judged = judged_cases(run)
    assert [(c["name"], result, why) for c, result, why in judged] == [
        ("Train", "fail", "dependencies failed: Data (fail)"),
        ("Probe", "pass", ""),
    ]
    assert judged_cases({}) == [] and judged_cases({"testcases": None}) == []


@pytest.mark.parametrize(
    ("cmdline", "mode"),
    [
        ("reframe -C config/tara.py -c checks/ -r --mode acceptance", "acceptance"),
        ("reframe -c checks/ --mode=smoke -r", "smoke"),
        ("reframe -c checks/ --mode=a=b -r", "a=b"),  # everything after the first '='
        ("reframe -c checks/ -r --mode", "default"),  # no name follows
        ("reframe -c checks/ -r -n 'Allreduce --mode x'", "default"),  # a quoted name, not an option
        ("reframe -c checks/ --mode smoke -n 'unbalanced", "smoke"),  # read word by word
        ("reframe -c checks/ -r", "default"),
    ],
)
def test_the_sessions_mode(cmdline, mode):
    assert session_mode(cmdline) == mode


@pytest.mark.parametrize("option", ["--dry-run", "--dry-ru", "--dry", "--dr"])
def test_a_dry_run_is_the_option_or_any_prefix_reframe_takes_for_it(option):
    assert is_dry_run(f"reframe -c checks/ --system tara:dgx {option} -r")


@pytest.mark.parametrize(
    "cmdline",
    [
        "reframe -c checks/ -r -n dry-run",
        "reframe -c checks/ -r -n x--dry-run",
        "reframe -c checks/ -r --dont-restage",
        "reframe -c checks/ -r --dry-running",
        "reframe -c checks/ -r --d",
    ],
)
def test_a_dry_run_is_not_a_word_like_it(cmdline):
    assert not is_dry_run(cmdline)


@pytest.mark.parametrize(
    ("banner", "division", "recipe", "why"),
    [
        ("", "closed", "nvidia_dgx1", ""),
        ("", "", "", ""),
        ("", "open", "", "its MLPerf log declares the open division"),
        ("", "", "smoke", "recipe smoke is open division"),
        ("", "open", "smoke", "its MLPerf log declares the open division; recipe smoke is open division"),
        ("", "", "no_such_recipe", ""),  # a recipe this checkout lacks: the log still speaks
        # The check's banner already says why: the recipe is not read again.
        ("smoke run: not an MLPerf result", "open", "smoke",
         "smoke run: not an MLPerf result; its MLPerf log declares the open division"),
        ("smoke run: not an MLPerf result", "closed", "nvidia_dgx1", "smoke run: not an MLPerf result"),
    ],
)  # fmt: skip
def test_why_a_run_is_no_mlperf_result(banner, division, recipe, why):
    assert not_mlperf(banner, division, recipe) == why
