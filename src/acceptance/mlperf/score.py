"""The MLPerf Training v0.7 score of a set of runs: the olympic mean of 5 run times."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .analysis import RunSummary

RUNS_FOR_SCORE = 5


@dataclass
class Score:
    value: float | None  # minutes; None when no valid (or provisional) score exists
    valid: bool  # a full v0.7 score: 5 runs, at most one not converged
    provisional: bool  # fewer than 5 runs: a mean of what there is, not an MLPerf score
    used: list[str] = field(default_factory=list)  # runs averaged
    dropped: dict[str, str] = field(default_factory=dict)  # run -> why it was dropped
    note: str = ""
    # The set cannot be scored at all: a refused log, the same log twice, too many runs.
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "valid": self.valid,
            "provisional": self.provisional,
            "used": self.used,
            "dropped": self.dropped,
            "note": self.note,
            "problems": self.problems,
        }


def set_problems(runs: list[RunSummary]) -> list[str]:
    """Why this set of runs cannot be scored, each naming the logs: a refused log (damaged or
    forged: not a run that failed, so it cannot count as the slowest), the same log twice, more
    runs than a score takes."""
    found = [f"{r.path}: refused ({len(r.problems)} problem(s)), so the set has no score" for r in runs if r.refused]
    first_of: dict[str, str] = {}
    for run in runs:
        if run.digest and run.digest in first_of:
            found.append(f"{run.path} is the same log as {first_of[run.digest]}")
        first_of.setdefault(run.digest, run.path)
    if len(runs) > RUNS_FOR_SCORE:
        names = ", ".join(Path(r.path).name for r in runs)
        found.append(f"{len(runs)} runs ({names}): a v0.7 score takes exactly {RUNS_FOR_SCORE}")
    return found


def olympic(runs: list[RunSummary]) -> Score:
    """Drop the fastest and the slowest of 5 runs, average the middle 3.

    A run that did not converge counts as the slowest; two or more such runs give no score. A set
    with a refused log, a log given twice or more than 5 runs has no score (``Score.problems``).
    """
    problems = set_problems(runs)
    if problems:
        return Score(None, False, False, note="no score: " + "; ".join(problems), problems=problems)
    converged = [r for r in runs if r.converged and r.time_to_train_min is not None]
    failed = [r for r in runs if r not in converged]
    if len(runs) < RUNS_FOR_SCORE:
        if not converged:
            return Score(None, False, True, note=f"{len(runs)} run(s), none converged: no score")
        mean = sum(r.time_to_train_min for r in converged) / len(converged)
        return Score(
            mean,
            False,
            True,
            used=[r.path for r in converged],
            dropped={r.path: f"not converged ({r.status})" for r in failed},
            note=f"provisional: {len(runs)} of the {RUNS_FOR_SCORE} runs a v0.7 score needs; "
            f"mean of the {len(converged)} converged run(s)",
        )
    if len(failed) >= 2:
        return Score(
            None,
            False,
            False,
            dropped={r.path: f"not converged ({r.status})" for r in failed},
            note=f"{len(failed)} of {len(runs)} runs did not converge: no valid score (at most one may fail)",
        )
    ordered = sorted(converged, key=lambda r: r.time_to_train_min)
    dropped = {ordered[0].path: "fastest"}
    if failed:
        dropped[failed[0].path] = f"not converged ({failed[0].status}): counts as the slowest"
        middle = ordered[1:]
    else:
        dropped[ordered[-1].path] = "slowest"
        middle = ordered[1:-1]
    value = sum(r.time_to_train_min for r in middle) / len(middle)
    return Score(
        value, True, False, used=[r.path for r in middle], dropped=dropped, note="olympic mean of the middle 3"
    )
