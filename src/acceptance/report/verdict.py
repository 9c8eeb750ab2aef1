"""The overall verdict of a report: PASS only when every criterion the mode requires ran and passed.

Rules (README, "Reports"): a dry run gives NO VERDICT (dry run); any failed test case, refused or
non-compliant log, or log set without a valid score gives FAIL; a required criterion that no passed
test case meets (skipped, with its reason, or not run at all) gives INCOMPLETE, and so does a log
set of fewer than 5 runs; otherwise PASS. A mode that resources/modes.yaml does not declare (or a
resources folder without that file) gives NO VERDICT, naming mode and file. Run reports and log
sets together: the worse of their verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .collect import Criterion, ReportData
from .modes import Mode, Requirement

PASS, FAIL, INCOMPLETE = "PASS", "FAIL", "INCOMPLETE"
NO_VERDICT = "NO VERDICT"
DRY_RUN = "NO VERDICT (dry run)"
_RANK = {PASS: 0, INCOMPLETE: 1, NO_VERDICT: 2, FAIL: 3}

MET, FAILED, SKIPPED, NOT_RUN, NOT_EXECUTED = "met", "failed", "skipped", "not run", "not executed (dry run)"


@dataclass
class Standing:
    """Where one required criterion stands on one system:partition."""

    requirement: Requirement
    where: str
    state: str  # MET, FAILED, SKIPPED, NOT_RUN, NOT_EXECUTED
    cases: list[str] = field(default_factory=list)  # the test cases that fit it
    reasons: list[str] = field(default_factory=list)  # why they did not pass

    def sentence(self) -> str:
        why = f": {'; '.join(self.reasons)}" if self.reasons else ""
        return f"{self.requirement.name} on {self.where}: {self.state}{why}"


@dataclass
class Verdict:
    outcome: str  # PASS, FAIL, INCOMPLETE, NO VERDICT (dry run), NO VERDICT
    mode: str = ""
    mode_description: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # passed / failed / skipped (/ not executed)
    reasons: list[str] = field(default_factory=list)  # why the outcome, one sentence each
    standings: list[Standing] = field(default_factory=list)

    @property
    def css(self) -> str:
        return {PASS: "pass", FAIL: "fail", INCOMPLETE: "incomplete"}.get(self.outcome, "none")

    def counts_text(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())


def display_result(crit: Criterion, dry_run: bool) -> str:
    """A case's result as the report shows it: a dry run's pass is 'not executed'."""
    return NOT_EXECUTED if dry_run and crit.result == "pass" else crit.result


def case_counts(criteria: list[Criterion], dry_run: bool) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    names = {"pass": "passed", "skip": "skipped", NOT_EXECUTED: NOT_EXECUTED}
    for crit in criteria:
        key = names.get(display_result(crit, dry_run), "failed")  # "fail", and anything unknown
        counts[key] = counts.get(key, 0) + 1
    return counts


def standings(criteria: list[Criterion], mode: Mode, dry_run: bool) -> list[Standing]:
    """Each required criterion on each system:partition the session ran on."""
    found = []
    for where in dict.fromkeys(c.where for c in criteria):
        for req in mode.required:
            fits = [c for c in criteria if c.where == where and req.fits(c.check, c.params)]
            results = {display_result(c, dry_run) for c in fits}
            if "pass" in results:
                state = MET
            elif NOT_EXECUTED in results:
                state = NOT_EXECUTED
            elif "fail" in results:
                state = FAILED
            else:
                state = SKIPPED if fits else NOT_RUN
            reasons = [] if state == MET else list(dict.fromkeys(c.reason for c in fits if c.reason))
            if state == NOT_RUN:
                checks = " or ".join(req.checks)
                reasons = [f"no test case of {checks} in this session (not selected, or not valid there)"]
            found.append(Standing(req, where, state, [c.name for c in fits], reasons))
    return found


def judge_run(data: ReportData, modes: dict[str, Mode], source: str = "resources/modes.yaml") -> Verdict:
    """The verdict of the test cases of the run reports, by the mode's required criteria (from ``source``)."""
    mode = modes.get(data.mode)
    verdict = Verdict(NO_VERDICT, data.mode, mode.description if mode else "", case_counts(data.criteria, data.dry_run))
    verdict.standings = standings(data.criteria, mode, data.dry_run) if mode else []

    def unmet(*states: str) -> list[str]:
        return [s.sentence() for s in verdict.standings if s.state in states]

    if data.dry_run:
        verdict.outcome = DRY_RUN
        verdict.reasons = ["a dry run: job scripts were written, nothing ran and nothing was measured"]
        verdict.reasons += [f"a real run would still lack: {line}" for line in unmet(SKIPPED)]
        return verdict
    failed = [f"failed: {c.name} on {c.where}: {c.reason}" for c in data.criteria if c.result == "fail"]
    if failed:
        also = [f"also not met: {line}" for line in unmet(SKIPPED, NOT_RUN)]
        verdict.outcome, verdict.reasons = FAIL, failed + also
    elif mode is None:
        verdict.reasons = [f"mode '{data.mode}' declares no required criteria in {source}"]
    elif not data.criteria:
        verdict.reasons = ["the run reports hold no test case"]
    elif unmet(SKIPPED, NOT_RUN):
        verdict.outcome = INCOMPLETE
        verdict.reasons = [f"required by mode {data.mode}, not met: {u}" for u in unmet(SKIPPED, NOT_RUN)]
    else:
        wheres = ", ".join(dict.fromkeys(c.where for c in data.criteria))
        verdict.outcome = PASS
        verdict.reasons = [f"every criterion mode {data.mode} requires ran and passed on {wheres}"]
    return verdict


def judge_set(folder: str, runs: list[dict], score: dict) -> tuple[str, list[str]]:
    """(outcome, reasons) of one log set: every run sound and compliant, and a valid v0.7 score."""
    name = Path(folder).name
    problems = [f"log set {name}: {Path(r['path']).name} refused: {r['problems'][0]}" for r in runs if r["problems"]]
    problems += [
        f"log set {name}: {Path(r['path']).name}: compliance checker (0.7.0) failed"
        for r in runs
        if r.get("compliance") and not r["compliance"]["passed"]
    ]
    problems += [f"log set {name}: {p}" for p in score["problems"]]
    if problems:
        return FAIL, problems
    if score["valid"]:
        return PASS, [f"log set {name}: v0.7 score {score['value']:.2f} min, every log compliant"]
    if score["provisional"] and score["value"] is not None:
        return INCOMPLETE, [f"log set {name}: {score['note']}"]
    return FAIL, [f"log set {name}: {score['note']}"]


def judge(data: ReportData, modes: dict[str, Mode], source: str = "resources/modes.yaml") -> Verdict:
    """The report's overall verdict: the run's and every log set's, the worst of them."""
    run = judge_run(data, modes, source) if data.criteria or data.sources else None
    if run is not None and run.outcome == DRY_RUN:
        return run
    outcomes, reasons = ([run.outcome], list(run.reasons)) if run else ([], [])
    for entry in data.logs["sets"]:
        outcome, why = judge_set(entry["folder"], data.log_sets.get(entry["folder"], []), entry["score"])
        outcomes.append(outcome)
        reasons += why
    outcome = max(outcomes, key=_RANK.__getitem__) if outcomes else NO_VERDICT
    reasons = reasons or ["nothing to judge: no run report and no MLPerf log"]
    if run is None:
        return Verdict(outcome, counts=_run_counts(data), reasons=reasons)
    run.outcome, run.reasons = outcome, reasons
    return run


def _run_counts(data: ReportData) -> dict[str, int]:
    """Log sets only: MLPerf runs by what the judge made of them."""
    runs = data.logs["runs"]
    refused = sum(1 for r in runs if r["problems"])
    converged = sum(1 for r in runs if r["converged"])
    return {"runs converged": converged, "not converged": len(runs) - converged - refused, "refused": refused}
