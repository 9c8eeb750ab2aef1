"""The MLPerf Training v0.7 score of a set of runs: the olympic mean of 5 run times."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "valid": self.valid,
            "provisional": self.provisional,
            "used": self.used,
            "dropped": self.dropped,
            "note": self.note,
        }


def olympic(runs: list[RunSummary]) -> Score:
    """Drop the fastest and the slowest of 5 runs, average the middle 3.

    A run that did not converge counts as the slowest; two or more such runs give no score.
    """
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
    if len(runs) > RUNS_FOR_SCORE:
        return Score(None, False, False, note=f"{len(runs)} runs: a v0.7 score takes exactly {RUNS_FOR_SCORE}")
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
