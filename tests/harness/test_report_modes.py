"""The modes' required criteria (resources/modes.yaml) and the verdict rules applied to them."""

from __future__ import annotations

import re

import pytest

from acceptance.report import modes, verdict
from acceptance.report.case_verdicts import is_dry_run, session_mode
from acceptance.report.collect import Criterion, ReportData
from conftest import ROOT

GOOD = """
default:
  description: test
  required:
    - {criterion: all-reduce, checks: [AllreduceCheck], num_nodes: 1}
    - {criterion: coverage, checks: [SuiteCoverageCheck]}
"""


def test_the_projects_modes_load_and_name_only_checks_that_exist():
    found = modes.load()
    assert set(found) == {"acceptance", "smoke", "benchmark", "default"}
    defined = set(re.findall(r"^class (\w+)\(", "".join(p.read_text() for p in (ROOT / "checks").rglob("*.py")), re.M))
    named = {check for mode in found.values() for req in mode.required for check in req.checks}
    assert named <= defined, named - defined
    acceptance = {r.name: r for r in found["acceptance"].required}
    mlperf = acceptance["MLPerf time-to-train run on 4 nodes"]
    assert mlperf.checks == ("MaskRCNNBenchmark",) and mlperf.params == {"mode": "time-to-train", "num_nodes": 4}
    # A smoke run never counts for acceptance.
    assert not mlperf.fits("MaskRCNNSmoke", {"num_nodes": 4, "mode": "time-to-train"})
    assert mlperf.fits("MaskRCNNBenchmark", {"num_nodes": 4, "mode": "time-to-train", "implementation": "bundled"})
    assert not mlperf.fits("MaskRCNNBenchmark", {"num_nodes": 1, "mode": "time-to-train"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("num_nodes: 1", "num_node: 1"), r"mode 'default', criterion 1: unknown key\(s\) 'num_node'"),
        (GOOD.replace("  required:", "  requried:"), r"mode 'default': unknown key\(s\) 'requried'"),
        (GOOD.replace("num_nodes: 1", "num_nodes: 3"), r"criterion 1 \(all-reduce\): num_nodes 3 is not one of"),
        (GOOD.replace("checks: [SuiteCoverageCheck]", "checks: []"), r"criterion 2 \(coverage\): 'checks' must be"),
        (GOOD.replace("criterion: coverage, ", ""), r"criterion 2: 'criterion' \(its name in the report\) is missing"),
        ("default: [1, 2]", r"mode 'default': expected a mapping"),
        ("default: {description: x, required: []}", r"'required' must be a non-empty list"),
        ("- a list", r"expected a mapping of mode names"),
    ],
)
def test_a_broken_modes_file_is_refused_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "modes.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + message):
        modes.load(path)


def test_the_mode_and_a_dry_run_come_from_reframes_command_line():
    assert session_mode("reframe -C config/tara.py -c checks/ -r --mode acceptance") == "acceptance"
    assert session_mode("reframe -c checks/ --mode=smoke -r") == "smoke"
    assert session_mode("reframe -c checks/ -r -n 'Allreduce --mode x'") == "default"  # a quoted name, not an option
    assert is_dry_run("reframe -c checks/ --system tara:dgx --dry-run")
    assert not is_dry_run("reframe -c checks/ -r -n dry-run")


def case(check, result, where="local:default", reason="", **params) -> Criterion:
    crit = Criterion(check, check, where, result, reason)
    crit.num_nodes = params.get("num_nodes")
    return crit


def judged(criteria, mode="default", dry_run=False, text=GOOD, tmp_path=None) -> verdict.Verdict:
    path = tmp_path / "modes.yaml"
    path.write_text(text)
    data = ReportData("t", criteria=criteria, mode=mode, dry_run=dry_run, sources=["run.json"])
    return verdict.judge(data, modes.load(path))


def test_pass_needs_every_required_criterion_on_every_partition(tmp_path):
    ran = [case("AllreduceCheck", "pass", num_nodes=1), case("SuiteCoverageCheck", "pass")]
    assert judged(ran, tmp_path=tmp_path).outcome == verdict.PASS
    # A second partition where only the coverage check ran: incomplete there.
    more = ran + [case("SuiteCoverageCheck", "pass", where="tara:dgx")]
    found = judged(more, tmp_path=tmp_path)
    assert found.outcome == verdict.INCOMPLETE
    assert found.reasons == [
        "required by mode default, not met: all-reduce on tara:dgx: not run: no test case of AllreduceCheck in this "
        "session (not selected, or not valid there)"
    ]


def test_a_skipped_criterion_is_incomplete_with_its_reason_and_a_failure_is_fail(tmp_path):
    why = "local:default has 1 node(s); a 2-node run cannot be scheduled there"
    skipped = [case("AllreduceCheck", "skip", reason=why, num_nodes=1), case("SuiteCoverageCheck", "pass")]
    found = judged(skipped, tmp_path=tmp_path)
    assert found.outcome == verdict.INCOMPLETE and found.counts == {"passed": 1, "failed": 0, "skipped": 1}
    assert found.reasons == [f"required by mode default, not met: all-reduce on local:default: skipped: {why}"]
    failed = skipped + [case("LoaderRateSmoke", "fail", reason="sanity: loaded 0 images")]  # not required, still FAIL
    found = judged(failed, tmp_path=tmp_path)
    assert found.outcome == verdict.FAIL
    assert found.reasons[0] == "failed: LoaderRateSmoke on local:default: sanity: loaded 0 images"
    assert found.reasons[1].startswith("also not met: all-reduce on local:default: skipped")


def test_a_dry_run_and_an_undeclared_mode_give_no_verdict(tmp_path):
    ran = [case("AllreduceCheck", "pass", num_nodes=1), case("SuiteCoverageCheck", "pass")]
    dry = judged(ran, dry_run=True, tmp_path=tmp_path)
    assert dry.outcome == verdict.DRY_RUN and dry.counts == {"passed": 0, "failed": 0, "skipped": 0,
                                                             verdict.NOT_EXECUTED: 2}  # fmt: skip
    odd = judged(ran, mode="nightly", tmp_path=tmp_path)
    assert odd.outcome == verdict.NO_VERDICT
    assert odd.reasons == ["mode 'nightly' declares no required criteria in resources/modes.yaml"]
    assert judged([], tmp_path=tmp_path).outcome == verdict.NO_VERDICT


def test_a_resources_folder_without_modes_gives_no_verdict_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCEPTANCE_RESOURCES", str(tmp_path))
    found, source = modes.declared()
    assert found == {} and source == f"{tmp_path / 'modes.yaml'} (no such file)"
    data = ReportData("t", criteria=[case("SuiteCoverageCheck", "pass")], sources=["run.json"])
    judged_ = verdict.judge(data, found, source)
    assert judged_.outcome == verdict.NO_VERDICT
    assert judged_.reasons == [f"mode 'default' declares no required criteria in {source}"]
