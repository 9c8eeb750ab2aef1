"""Runs grouped into MLPerf v0.7 sets, and a set's score in words: which runs were averaged, which
were dropped and why (``score.olympic`` decides; this module names the runs).

A ReFrame session's runs of one check, partition, node count, implementation and recipe form a set,
told apart by their ``%run_index=N`` (``suite.maskrcnn``); ``report_rows`` finds them among an
acceptance report's criteria and scores them from their MLPerf logs, so a set whose ReFrame score
test did not run (a run failed its sanity: ReFrame skips the dependants) still shows its MLPerf
score, where one non-converged run counts as the slowest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import rcp
from . import score as scoring
from .analysis import RunSummary

TIME_TO_TRAIN = "time-to-train"


def describe(result: scoring.Score, names: dict[str, str], minutes: dict[str, float | None]) -> str:
    """The score in words, runs named by ``names`` (path -> 'run 2', in run order): which runs were
    averaged and which were dropped, with their minutes."""

    def one(path: str) -> str:
        value = minutes.get(path)
        return f"{names[path]} ({value:.2f} min)" if value is not None else names[path]

    if result.value is None:
        return result.note
    order = list(names)
    used = ", ".join(one(p) for p in sorted(result.used, key=order.index))
    dropped = "; ".join(f"dropped {one(p)}: {why}" for p, why in result.dropped.items())
    kind = "v0.7 score" if result.valid else "provisional score"
    return f"{kind} {result.value:.2f} min: {result.note}, {used}" + (f"; {dropped}" if dropped else "")


_RUN_INDEX = re.compile(r"%run_index=(\d+)")


@dataclass
class SetRow:
    """One set of runs as the acceptance report shows it."""

    label: str  # check name, partition, node count, implementation, recipe
    runs: list[tuple[int, RunSummary]] = field(default_factory=list)
    result: scoring.Score | None = None
    verdict: rcp.SetVerdict | None = None  # the set's mean epochs against the RCP

    def cells(self) -> tuple[str, str, str, str]:
        """(set, score, runs used and dropped, RCP) as plain text."""
        names = {s.path: f"run {i}" for i, s in self.runs}
        minutes = {s.path: s.time_to_train_min for _, s in self.runs}
        value = "-" if self.result.value is None else f"{self.result.value:.2f} min"
        return self.label, value, describe(self.result, names, minutes), self.verdict.message if self.verdict else "-"


def report_rows(criteria: list) -> list[SetRow]:
    """Sets of time-to-train runs among the report's criteria (``report.collect.Criterion``): runs
    of one check, partition, node count, implementation and recipe, told apart by ``%run_index``;
    each with its MLPerf score and its RCP verdict. Sets of one run are left out."""
    sets: dict[tuple, SetRow] = {}
    for crit in criteria:
        found = _RUN_INDEX.search(crit.name)
        if crit.run is None or not found or crit.mode != TIME_TO_TRAIN:
            continue
        key = (crit.check, crit.where, crit.num_nodes, crit.implementation, crit.recipe)
        label = f"{crit.check} on {crit.where}: {crit.num_nodes} node(s), {crit.implementation}, recipe {crit.recipe}"
        sets.setdefault(key, SetRow(label)).runs.append((int(found.group(1)), crit.run))
    rows = [row for row in sets.values() if len(row.runs) > 1]
    for row in rows:
        row.runs.sort(key=lambda pair: pair[0])
        summaries = [s for _, s in row.runs]
        row.result = scoring.olympic(summaries)
        batch = summaries[0].hyperparameters.get("global_batch_size")
        if rcp.for_summary(summaries[0]) is not None:
            row.verdict = rcp.judge_set([s.epochs_to_target for s in summaries], int(batch))
    return rows
