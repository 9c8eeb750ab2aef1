"""The report's overall verdict from real ReFrame run reports, one per outcome, each made in seconds:
a dry run on TARA's dgx partition (NO VERDICT), `--mode acceptance` on this machine (INCOMPLETE:
most of what acceptance requires cannot run here), an all-reduce check held to a bound no host
meets (FAIL), and quick checks run twice (`--repeat 2`) under a mode that requires only them
(PASS), whose report must list every repeat's job and node list.

There is no GPU, COCO or Singularity here: the dry run's data set and image paths do not exist, so
those checks are skipped with their reasons, as they would be on a site that lacks them.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from acceptance import cli
from acceptance.report import verdict
from conftest import cases_of, resources_with, run_reframe

QUICK = ["-n", "AllreduceCheck", "-n", "SuiteCoverage"]
# The all-reduce reference of the local fallback, as resources/references/system.yaml gives it.
ALLREDUCE = """
- check: allreduce
  system: local:default
  nodes: 1
  source: "test: {source}"
  perf: {{busbw: {{value: {value}, lower: {lower}, upper: null, unit: GB/s}}}}
"""
# A mode file whose default mode requires only the quick checks: a PASS in seconds.
QUICK_MODES = """
default:
  description: the quick checks only (test)
  required:
    - {criterion: all-reduce bandwidth, checks: [AllreduceCheck], num_nodes: 1}
    - {criterion: coverage, checks: [SuiteCoverageCheck]}
"""


def report_of(run_report: Path, out: Path) -> str:
    assert cli.main(["report", str(run_report), "--out", str(out)]) == 0
    return (out / "summary.md").read_text()


def verdict_line(summary: str) -> str:
    return next(line for line in summary.splitlines() if line.startswith("Overall verdict:"))


def test_a_dry_run_gives_no_verdict_and_names_what_a_real_run_would_lack(tmp_path):
    env = {"ACCEPTANCE_MODULES_SYSTEM": "nomod", "ACCEPTANCE_ACCOUNT": "proj0001",
           "ACCEPTANCE_COCO_DIR": str(tmp_path / "no-coco"),
           "ACCEPTANCE_IMAGE_BUNDLED": str(tmp_path / "none.sif")}  # fmt: skip
    done, report = run_reframe(["--system", "tara:dgx", "--mode", "acceptance", "--dry-run"], tmp_path, env, 300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = sorted(c["result"] for c in cases_of(report))
    # ReFrame calls the dry cases 'pass' (GPUs visible, coverage). Skipped: the five runs of both
    # 4-node MLPerf variants and their two set scores (1 node here), the all-reduce at 1 node (no
    # image) and at 2 and 4 (1 node), the container, COCO and loader checks (no image, no data).
    assert results.count("pass") == 2 and results.count("skip") == 18
    summary = report_of(tmp_path / "report.json", tmp_path / "out")
    assert verdict_line(summary) == (
        "Overall verdict: **NO VERDICT (dry run)** (0 passed, 0 failed, 18 skipped, 2 not executed (dry run))"
    )
    assert "PASS" not in summary.split("## ")[0]  # the title, the verdict and its reasons
    assert ("a real run would still lack: MLPerf time-to-train run on 4 nodes on tara:dgx: skipped: "
            "tara:dgx has 1 node(s); a 4-node run cannot be scheduled there") in summary  # fmt: skip
    assert f"data set folder {tmp_path / 'no-coco'} not found" in summary
    # No measurement passes for a pass: the GPU count was never read.
    assert "| gpu_count | - | 8 GPUs | = 8 GPUs | not measured (dry run) |" in summary
    assert "| GpusVisibleCheck | tara:dgx | not submitted (dry run) |" in summary


def test_acceptance_on_a_machine_without_its_checks_is_incomplete_naming_each(tmp_path):
    done, report = run_reframe(["--system", "local", "--mode", "acceptance", "-x", "MaskRCNNSmoke", "-r"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert {c["result"] for c in cases_of(report)} == {"pass", "skip"}  # nothing failed, yet no PASS
    summary = report_of(tmp_path / "report.json", tmp_path / "out")
    assert verdict_line(summary).startswith("Overall verdict: **INCOMPLETE** (2 passed, 0 failed, 2 skipped)")
    lines = [line for line in summary.splitlines() if line.startswith("- required by mode acceptance, not met:")]
    named = {line.split("not met: ")[1].split(" on local:default")[0] for line in lines}
    assert named == {"MLPerf time-to-train run on 4 nodes", "MLPerf v0.7 score of 5 runs on 4 nodes",
                     "every node sees its GPUs",
                     "all-reduce bandwidth on 4 nodes", "the workload image starts and sees the GPUs",
                     "the COCO 2017 tree matches its manifest", "the data pipeline's rate on one node"}  # fmt: skip
    # A skipped criterion comes with its skip reason, one that never ran says so.
    assert ("all-reduce bandwidth on 4 nodes on local:default: skipped: local:default has 1 node(s); a 4-node run "
            "cannot be scheduled there") in summary  # fmt: skip
    assert "MLPerf time-to-train run on 4 nodes on local:default: not run: no test case of MaskRCNNBenchmark" in summary


def test_a_failed_bound_gives_fail_naming_the_case(tmp_path):
    references = ALLREDUCE.format(source="a bound no host meets", value=1000.0, lower=-0.1)
    env = resources_with(tmp_path / "resources", references)
    done, report = run_reframe([*QUICK, "--system", "local", "-r"], tmp_path, env)
    assert done.returncode != 0
    failed = [c for c in cases_of(report) if c["result"] == "fail"]
    assert [c["display_name"] for c in failed] == ["AllreduceCheck %num_nodes=1"]
    summary = report_of(tmp_path / "report.json", tmp_path / "out")
    assert verdict_line(summary).startswith("Overall verdict: **FAIL** (1 passed, 1 failed, 2 skipped)")
    assert "- failed: AllreduceCheck %num_nodes=1 on local:default: performance:" in summary
    busbw = failed[0]["perfvalues"]["local:default:busbw"][0]
    assert f"| busbw | {busbw:.4g} GB/s | 1000 GB/s | >= 900 GB/s | fail |" in summary
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<div class='box fail'>" in page and "<tr class='fail'><td>AllreduceCheck %num_nodes=1</td>" in page


@pytest.fixture(scope="module")
def repeated(tmp_path_factory):
    """The quick checks, each twice (--repeat 2), held to the real all-reduce reference."""
    base = tmp_path_factory.mktemp("repeat")
    measured = "measured: gloo, 2 ranks on one 2-core host, 1.2-1.5 GB/s (2026-11-28)"
    env = resources_with(base / "resources", ALLREDUCE.format(source=measured, value=1.3, lower=-0.7))
    (base / "resources" / "modes.yaml").write_text(QUICK_MODES)
    done, report = run_reframe([*QUICK, "--system", "local", "-r", "--repeat", "2"], base, env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {"base": base, "env": env, "report": report}


def test_every_required_criterion_passed_gives_pass(repeated, monkeypatch):
    monkeypatch.setenv("ACCEPTANCE_RESOURCES", repeated["env"]["ACCEPTANCE_RESOURCES"])
    summary = report_of(repeated["base"] / "report.json", repeated["base"] / "out")
    assert verdict_line(summary) == "Overall verdict: **PASS** (4 passed, 0 failed, 4 skipped)"
    assert "- every criterion mode default requires ran and passed on local:default" in summary
    page = (repeated["base"] / "out" / "index.html").read_text()
    assert "<div class='box pass'>" in page


def test_the_same_run_under_the_projects_default_mode_is_incomplete(repeated, tmp_path):
    # Without the test's mode file: the suite's default mode also wants a Mask R-CNN run and a loader check.
    summary = report_of(repeated["base"] / "report.json", tmp_path / "out")
    assert verdict_line(summary).startswith("Overall verdict: **INCOMPLETE**")
    assert "not met: Mask R-CNN time-to-train run on local:default: not run" in summary
    assert verdict.PASS not in verdict_line(summary)


def test_every_repeat_has_its_job_and_node_list(repeated, tmp_path):
    ran = [c for c in cases_of(repeated["report"]) if c["result"] == "pass"]
    assert len(ran) == 4 and len({c["jobid"] for c in ran}) == 4
    summary = report_of(repeated["base"] / "report.json", tmp_path / "out")
    host = socket.gethostname().split(".")[0]
    for case in ran:
        start = f"| {case['display_name']} | local:default | "
        row = next(line for line in summary.splitlines() if line.startswith(start))
        assert f"| {case['jobid']} | {host} |" in row, row  # the node list as ReFrame recorded it
        assert case["job_nodelist"] == [host]
    assert {re.search(r"%\.repeat_no=(\d)", c["display_name"]).group(1) for c in ran} == {"0", "1"}

