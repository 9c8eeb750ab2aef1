"""The report's overall verdict, rule by rule (README, "The verdict"), on ReFrame run reports as
ReFrame writes them (aborted cases, fail_deps, fixtures) and on log sets, with the exact reasons."""

from __future__ import annotations

import json

import pytest

from acceptance.report import modes, verdict
from acceptance.report.collect import Criterion, ReportData, criteria_from_run_report
from acceptance.suite.coverage import coverage_problems

MODES = """\
default:
  description: the default mode
  required:
    - {criterion: all-reduce, checks: [AllreduceCheck], num_nodes: 1}
    - {criterion: coverage, checks: [SuiteCoverageCheck, OtherCoverage]}
    - {criterion: loader, checks: [LoaderRateCheck]}
"""
ALL_REDUCE = "AllreduceCheck %num_nodes=1"


@pytest.fixture
def declared(tmp_path):
    path = tmp_path / "modes.yaml"
    path.write_text(MODES)
    return modes.load(path)


def case(name: str, result: str, where: str = "local:default", **extra) -> dict:
    """One test case as ReFrame's JSON run report holds it."""
    system, partition = where.split(":")
    fields = {"name": name, "display_name": name, "unique_name": "_".join(name.replace("%", "").split())}
    fields.update(system=system, partition=partition, result=result, fail_phase=None, fail_reason=None)
    fields.update(fixture=False, dependencies_actual=[], num_nodes=1 if "num_nodes=1" in name else None)
    return {**fields, **extra}


def from_run_report(tmp_path, cases: list[dict]) -> list[Criterion]:
    path = tmp_path / "run-report.json"
    path.write_text(json.dumps({"session_info": {"cmdline": "reframe -c checks/ -r"}, "runs": [{"testcases": cases}]}))
    criteria, session = criteria_from_run_report(path)
    assert session == {"cmdline": "reframe -c checks/ -r"}
    return criteria


def judged(criteria, declared, mode="default", dry_run=False, logs=None, sources=("run.json",)) -> verdict.Verdict:
    data = ReportData("t", criteria=list(criteria), mode=mode, dry_run=dry_run, sources=list(sources))
    if logs is not None:
        data.logs = logs
    return verdict.judge(data, declared, "modes.yaml")


def passing() -> list[dict]:
    return [case(ALL_REDUCE, "pass"), case("SuiteCoverageCheck", "pass"), case("LoaderRateCheck", "pass")]


# ---- ReFrame's results, as the run report gives them --------------------------------------------------
def test_every_required_criterion_passed_is_a_pass(tmp_path, declared):
    found = judged(from_run_report(tmp_path, passing()), declared)
    assert found.outcome == verdict.PASS and found.css == "pass"
    assert found.reasons == ["every criterion mode default requires ran and passed on local:default"]
    assert found.counts == {"passed": 3, "failed": 0, "skipped": 0}
    assert found.counts_text() == "3 passed, 0 failed, 0 skipped"
    assert found.mode == "default" and found.mode_description == "the default mode"
    assert [(s.requirement.name, s.where, s.state, s.cases) for s in found.standings] == [
        ("all-reduce", "local:default", verdict.MET, [ALL_REDUCE]),
        ("coverage", "local:default", verdict.MET, ["SuiteCoverageCheck"]),
        ("loader", "local:default", verdict.MET, ["LoaderRateCheck"]),
    ]


def test_an_aborted_case_is_a_failure(tmp_path, declared):
    cases = passing() + [case("MaskRCNNSmoke %run_index=0", "abort", fail_phase="run", fail_reason="KeyboardInterrupt")]
    found = judged(from_run_report(tmp_path, cases), declared)
    assert found.outcome == verdict.FAIL and found.css == "fail"
    assert found.reasons == ["failed: MaskRCNNSmoke %run_index=0 on local:default: run: KeyboardInterrupt"]
    assert found.counts == {"passed": 3, "failed": 1, "skipped": 0}


def test_a_case_whose_dependencies_failed_is_a_failure_naming_them(tmp_path, declared):
    run0 = case("MaskRCNNSmoke %run_index=0", "pass")
    run1 = case("MaskRCNNSmoke %run_index=1", "fail", fail_phase="sanity", fail_reason="quality target not met")
    deps = [[run0["unique_name"], "local:default", "maskrcnn"], [run1["unique_name"], "local:default", "maskrcnn"]]
    score = case("MaskRCNNSmokeScore", "fail_deps", dependencies_actual=deps)
    found = judged(from_run_report(tmp_path, passing() + [run0, run1, score]), declared)
    assert found.outcome == verdict.FAIL
    assert found.reasons == [
        "failed: MaskRCNNSmoke %run_index=1 on local:default: sanity: quality target not met",
        "failed: MaskRCNNSmokeScore on local:default: dependencies failed: MaskRCNNSmoke %run_index=1 (fail)",
    ]


def test_a_failed_fixture_is_no_criterion_but_fails_its_dependants(tmp_path, declared):
    fixture = case("SyntheticCoco ~local", "fail", fixture=True, fail_phase="run", fail_reason="disk full")
    loader = case("LoaderRateCheck", "fail_deps", dependencies_actual=[[fixture["unique_name"], "local:default", "x"]])
    criteria = from_run_report(
        tmp_path, [case(ALL_REDUCE, "pass"), case("SuiteCoverageCheck", "pass"), fixture, loader]
    )
    assert [c.name for c in criteria] == [ALL_REDUCE, "SuiteCoverageCheck", "LoaderRateCheck"]
    found = judged(criteria, declared)
    assert found.outcome == verdict.FAIL
    assert found.reasons == [
        "failed: LoaderRateCheck on local:default: dependencies failed: SyntheticCoco ~local (fail)"
    ]
    assert found.standings[2].state == verdict.FAILED


def test_dependencies_the_report_does_not_hold_are_named_as_not_run(tmp_path):
    lost = case("MaskRCNNSmokeScore", "fail_deps", dependencies_actual=[["MaskRCNNSmoke_9", "local:default", "e"]])
    bare = case("MaskRCNNBenchmarkScore", "fail_deps")
    criteria = from_run_report(tmp_path, [lost, bare])
    assert [(c.result, c.reason) for c in criteria] == [
        ("fail", "dependencies failed: MaskRCNNSmoke_9 (not run)"),
        ("fail", "dependencies failed: (not named in the run report)"),
    ]


def test_skips_keep_their_reason(tmp_path):
    cases = [
        case("A", "skip", skip_reason="no GPUs"),
        case("B", "skip", fail_reason="from ReFrame"),
        case("C", "skip"),
        case("D", "xfail", fail_phase="sanity", fail_reason="expected"),
        case("E", None),
    ]
    assert [(c.result, c.reason) for c in from_run_report(tmp_path, cases)] == [
        ("skip", "no GPUs"),
        ("skip", "from ReFrame"),
        ("skip", "skipped"),
        ("fail", "sanity: expected"),
        ("fail", "None: None"),
    ]


# ---- the rules on criteria -----------------------------------------------------------------------------
def crit(check: str, result: str, where: str = "local:default", reason: str = "", name: str = "", **params):
    found = Criterion(check, name or check, where, result, reason)
    found.num_nodes = params.get("num_nodes")
    return found


def test_a_failure_also_names_what_is_skipped_or_not_run(declared):
    criteria = [
        crit("AllreduceCheck", "skip", reason="no GPUs", num_nodes=1),
        crit("OtherCoverage", "pass"),
        crit("MaskRCNNSmoke", "fail", reason="sanity: no log"),
    ]
    found = judged(criteria, declared)
    assert found.outcome == verdict.FAIL
    assert found.reasons == [
        "failed: MaskRCNNSmoke on local:default: sanity: no log",
        "also not met: all-reduce on local:default: skipped: no GPUs",
        "also not met: loader on local:default: not run: no test case of LoaderRateCheck in this session (not "
        "selected, or not valid there)",
    ]


def test_incomplete_names_each_unmet_criterion_per_partition(declared):
    criteria = [
        crit("AllreduceCheck", "pass", num_nodes=1),
        crit("AllreduceCheck", "skip", reason="2 nodes needed", name="a2", num_nodes=2),  # not the one required
        crit("SuiteCoverageCheck", "pass"),
        crit("LoaderRateCheck", "skip", reason="no data set"),
        crit("LoaderRateCheck", "skip", reason="no data set", name="again"),
        crit("SuiteCoverageCheck", "pass", where="tara:dgx"),
    ]
    found = judged(criteria, declared)
    assert found.outcome == verdict.INCOMPLETE and found.css == "incomplete"
    assert found.reasons == [
        "required by mode default, not met: loader on local:default: skipped: no data set",
        "required by mode default, not met: all-reduce on tara:dgx: not run: no test case of AllreduceCheck in this "
        "session (not selected, or not valid there)",
        "required by mode default, not met: loader on tara:dgx: not run: no test case of LoaderRateCheck in this "
        "session (not selected, or not valid there)",
    ]
    assert found.counts == {"passed": 3, "failed": 0, "skipped": 3}
    assert [s.cases for s in found.standings[:3]] == [
        ["AllreduceCheck"],
        ["SuiteCoverageCheck"],
        ["LoaderRateCheck", "again"],
    ]


def test_a_criterion_met_once_is_met_and_a_failed_one_gives_its_reasons_once(declared):
    criteria = [
        crit("AllreduceCheck", "fail", reason="sanity: 0 GB/s", num_nodes=1),
        crit("AllreduceCheck", "pass", name="again", num_nodes=1),
        crit("SuiteCoverageCheck", "fail", reason="no feature"),
        crit("OtherCoverage", "fail", reason="no feature", name="other"),
        crit("LoaderRateCheck", "pass"),
    ]
    found = verdict.standings(criteria, declared["default"], dry_run=False)
    assert [(s.state, s.reasons) for s in found] == [
        (verdict.MET, []),
        (verdict.FAILED, ["no feature"]),
        (verdict.MET, []),
    ]
    assert found[1].sentence() == "coverage on local:default: failed: no feature"
    assert found[0].sentence() == "all-reduce on local:default: met"
    two = verdict.Standing(found[1].requirement, "x:y", verdict.SKIPPED, [], ["one", "two"])
    assert two.sentence() == "coverage on x:y: skipped: one; two"


def test_a_dry_run_passes_nothing_and_says_what_a_real_run_would_lack(declared):
    criteria = [
        crit("AllreduceCheck", "pass", num_nodes=1),
        crit("SuiteCoverageCheck", "fail", reason="no feature"),
        crit("LoaderRateCheck", "skip", reason="no data set"),
    ]
    found = judged(criteria, declared, dry_run=True, logs={"runs": [], "sets": [_set("s", valid=True)]})
    assert found.outcome == verdict.DRY_RUN and found.css == "none"
    assert found.reasons == [
        "a dry run: job scripts were written, nothing ran and nothing was measured",
        "a real run would still lack: loader on local:default: skipped: no data set",
    ]
    assert found.counts == {"passed": 0, "failed": 1, "skipped": 1, verdict.NOT_EXECUTED: 1}
    assert [s.state for s in found.standings] == [verdict.NOT_EXECUTED, verdict.FAILED, verdict.SKIPPED]
    assert verdict.case_counts([crit("X", "abort")], dry_run=False) == {"passed": 0, "failed": 1, "skipped": 0}


def test_no_verdict_without_a_declared_mode_or_without_cases(declared):
    ran = [crit("AllreduceCheck", "pass", num_nodes=1)]
    odd = judged(ran, declared, mode="nightly")
    assert (odd.outcome, odd.reasons, odd.standings) == (
        verdict.NO_VERDICT, ["mode 'nightly' declares no required criteria in modes.yaml"], []
    )  # fmt: skip
    assert odd.mode_description == "" and odd.css == "none"
    empty = judged([], declared)
    assert (empty.outcome, empty.reasons) == (verdict.NO_VERDICT, ["the run reports hold no test case"])
    default = verdict.judge_run(ReportData("t", criteria=ran, mode="nightly"), {})
    assert default.reasons == ["mode 'nightly' declares no required criteria in resources/modes.yaml"]


def test_a_criterion_not_run_names_every_check_that_could_meet_it(declared):
    found = judged([crit("AllreduceCheck", "pass", num_nodes=1), crit("LoaderRateCheck", "pass")], declared)
    assert found.reasons == [
        "required by mode default, not met: coverage on local:default: not run: no test case of SuiteCoverageCheck "
        "or OtherCoverage in this session (not selected, or not valid there)"
    ]


def test_pass_names_every_partition_once(declared):
    criteria = [
        crit(check, "pass", where=where, num_nodes=1)
        for where in ("local:default", "tara:dgx")
        for check in ("AllreduceCheck", "SuiteCoverageCheck", "LoaderRateCheck")
    ]
    found = judged(criteria, declared)
    assert found.reasons == ["every criterion mode default requires ran and passed on local:default, tara:dgx"]


# ---- log sets, and the worse of the two ----------------------------------------------------------------
def _run(name: str, problems=(), compliance=True) -> dict:
    verdict_ = None if compliance is None else {"passed": compliance}
    return {"path": f"/logs/set/{name}", "problems": list(problems), "converged": not problems, "compliance": verdict_}


def _set(folder: str, value=28.46, valid=False, provisional=False, note="", problems=()) -> dict:
    score = {"value": value, "valid": valid, "provisional": provisional, "note": note, "problems": list(problems)}
    return {"folder": folder, "score": score}


@pytest.mark.parametrize(
    ("runs", "score", "outcome", "reasons"),
    [
        ([_run("r0"), _run("r1", compliance=None)], _set("/logs/set", valid=True)["score"], verdict.PASS,
         ["log set set: v0.7 score 28.46 min, every log compliant"]),
        ([_run("r0", problems=["r0:3: bad", "r0:9: worse"]), _run("r1", compliance=False), _run("r2", ["x"], False)],
         _set("/logs/set", None, problems=["r0: refused"])["score"], verdict.FAIL,
         ["log set set: r0 refused: r0:3: bad", "log set set: r2 refused: x",
          "log set set: r1: compliance checker (0.7.0) failed", "log set set: r2: compliance checker (0.7.0) failed",
          "log set set: r0: refused"]),
        ([_run("r0")], _set("/logs/set", 30.0, provisional=True, note="provisional: 1 of the 5 runs")["score"],
         verdict.INCOMPLETE, ["log set set: provisional: 1 of the 5 runs"]),
        ([_run("r0")], _set("/logs/set", None, provisional=True, note="1 run(s), none converged: no score")["score"],
         verdict.FAIL, ["log set set: 1 run(s), none converged: no score"]),
        ([_run("r0")], _set("/logs/set", None, note="2 of 5 runs did not converge")["score"], verdict.FAIL,
         ["log set set: 2 of 5 runs did not converge"]),
        ([_run("r0")], _set("/logs/set", 30.0, note="not provisional, not valid")["score"], verdict.FAIL,
         ["log set set: not provisional, not valid"]),
    ],
)  # fmt: skip
def test_a_log_set(runs, score, outcome, reasons):
    assert verdict.judge_set("/logs/set", runs, score) == (outcome, reasons)


def test_run_reports_and_log_sets_take_the_worse_verdict(declared):
    ran = [
        crit("AllreduceCheck", "pass", num_nodes=1),
        crit("SuiteCoverageCheck", "pass"),
        crit("LoaderRateCheck", "pass"),
    ]
    logs = {
        "runs": [_run("r0")],
        "sets": [_set("/logs/set", valid=True), _set("/logs/other", 31.0, provisional=True, note="provisional")],
    }
    found = judged(ran, declared, logs=logs)
    assert found.outcome == verdict.INCOMPLETE
    assert found.reasons == [
        "every criterion mode default requires ran and passed on local:default",
        "log set set: v0.7 score 28.46 min, every log compliant",
        "log set other: provisional",
    ]
    assert found.counts == {"passed": 3, "failed": 0, "skipped": 0}
    logs["sets"].append(_set("/logs/third", None, note="none"))
    assert judged(ran, declared, logs=logs).outcome == verdict.FAIL
    no_mode = judged(ran, declared, mode="nightly", logs={"runs": [], "sets": [_set("/l/s", valid=True)]})
    assert no_mode.outcome == verdict.NO_VERDICT  # a PASS of the logs does not hide an unjudged run


def test_log_sets_alone_count_runs(declared):
    runs = [_run("r0"), _run("r1", problems=["x"]), dict(_run("r2"), converged=False)]
    found = judged([], declared, sources=(), logs={"runs": runs, "sets": [_set("/logs/set", valid=True)]})
    assert found.outcome == verdict.FAIL and found.reasons == ["log set set: r1 refused: x"]
    assert found.counts == {"runs converged": 1, "not converged": 1, "refused": 1}
    assert found.standings == [] and found.mode == ""


def test_nothing_to_judge(declared):
    found = judged([], declared, sources=())
    assert found.outcome == verdict.NO_VERDICT
    assert found.reasons == ["nothing to judge: no run report and no MLPerf log"]
    assert found.counts == {"runs converged": 0, "not converged": 0, "refused": 0}


def test_a_run_report_without_cases_is_still_judged(declared):
    found = judged([], declared, logs={"runs": [_run("r0")], "sets": [_set("/logs/set", valid=True)]})
    assert found.outcome == verdict.NO_VERDICT
    assert found.reasons == [
        "the run reports hold no test case",
        "log set set: v0.7 score 28.46 min, every log compliant",
    ]
    assert found.counts == {"passed": 0, "failed": 0, "skipped": 0}


# ---- modes.yaml ------------------------------------------------------------------------------------------
def test_requirements_describe_themselves(declared):
    required = declared["default"].required
    assert [r.describe() for r in required] == [
        "all-reduce (AllreduceCheck; num_nodes=1)",
        "coverage (SuiteCoverageCheck or OtherCoverage)",
        "loader (LoaderRateCheck)",
    ]
    assert declared["default"].name == "default" and declared["default"].description == "the default mode"
    assert modes.load(_file(declared, "x:\n  required: [{criterion: c, checks: [A]}]\n"))["x"].description == ""
    both = modes.Requirement("run", ("A",), {"num_nodes": 4, "mode": "time-to-train"})
    assert both.describe() == "run (A; num_nodes=4, mode=time-to-train)"


def _file(_, text: str, path=None):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "modes.yaml"
    path.write_text(text)
    return path


NON_EMPTY_CHECKS = "mode 'x', criterion 1 (c): 'checks' must be a non-empty"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x: [1]\n", "mode 'x': expected a mapping with description and required"),
        ("x:\n  required: [[1]]\n",
         "mode 'x', criterion 1: expected a mapping with keys criterion, checks, num_nodes, mode, implementation"),
        ("x:\n  required: [{criterion: c, checks: [A, '']}]\n", NON_EMPTY_CHECKS),
        ("x:\n  required: [{criterion: c, checks: [A, 3]}]\n", NON_EMPTY_CHECKS),
        ("x:\n  required: [{criterion: c, checks: A}]\n", NON_EMPTY_CHECKS),
        ("x:\n  required: [{criterion: '  ', checks: [A]}]\n",
         "mode 'x', criterion 1: 'criterion' (its name in the report)"),
        ("x:\n  required: [{criterion: c, checks: [A], nodes: 1, cores: 2}]\n",
         "mode 'x', criterion 1: unknown key(s) 'nodes', 'cores' (known: criterion, checks, num_nodes, mode, "
         "implementation)"),
        ("x:\n  required: [{criterion: c, checks: [A], mode: fast}]\n",
         "mode 'x', criterion 1 (c): mode 'fast' is not one of ['time-to-train', 'throughput']"),
        ("x:\n  descr: y\n  required: [{criterion: c, checks: [A]}]\n",
         "mode 'x': unknown key(s) 'descr' (known: description, required)"),
        ("x: {required: [}\n", "not readable YAML ("),
        ("", "expected a mapping of mode names to modes"),
    ],
)  # fmt: skip
def test_a_broken_modes_file_says_exactly_what(text, message):
    path = _file(None, text)
    with pytest.raises(ValueError) as err:
        modes.load(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_the_declared_modes_are_the_resources_file(tmp_path, monkeypatch):
    (tmp_path / "modes.yaml").write_text(MODES)
    monkeypatch.setenv("ACCEPTANCE_RESOURCES", str(tmp_path))
    found, source = modes.declared()
    assert source == str(tmp_path / "modes.yaml") and set(found) == {"default"}
    assert found["default"].required[0].params == {"num_nodes": 1}
    assert modes.load()["default"].required[2].checks == ("LoaderRateCheck",)
    trimmed = modes.load(_file(None, "x:\n  required: [{criterion: ' c ', checks: [A], implementation: bundled}]\n"))
    assert trimmed["x"].required[0].name == "c" and trimmed["x"].required[0].params == {"implementation": "bundled"}


# ---- the coverage check ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("features", "environ_features", "problems"),
    [
        ({"coco", "gpu"}, {"maskrcnn"}, []),
        ({"synthetic-data"}, {"maskrcnn", "x"}, []),
        ({"gpu"}, {"maskrcnn"}, ["s:p has neither of the features ['coco', 'synthetic-data']: the Mask R-CNN check "
                                 "does not run there (add 'coco' with extras 'coco_dir', or 'synthetic-data'; README "
                                 "'Adding a system')"]),
        ({"coco"}, {"other"}, ["environment 'env' lacks the feature 'maskrcnn': no check of the suite runs in it"]),
        (set(), set(), [
            "environment 'env' lacks the feature 'maskrcnn': no check of the suite runs in it",
            "s:p has neither of the features ['coco', 'synthetic-data']: the Mask R-CNN check does not "
            "run there (add 'coco' with extras 'coco_dir', or 'synthetic-data'; README 'Adding a system')",
        ]),
    ],
)  # fmt: skip
def test_coverage_problems(features, environ_features, problems):
    assert coverage_problems(features, environ_features, "s:p", "env") == problems
