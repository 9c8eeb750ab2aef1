"""A vendor's MLPerf log set against a reference set: the v0.7 score, training throughput in
total and per GPU, and epochs to target, with the ratio and the difference of each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import text
from .collect import ReportData
from .document import Section, Table


@dataclass(frozen=True)
class SetFigures:
    folder: str
    score: float | None  # minutes (a valid or provisional olympic mean)
    throughput: float | None  # img/s: the mean over the runs (per-iteration rate where the log has one)
    epochs: float | None  # mean epochs to target of the converged runs
    gpus: int | None  # from the set's system description

    @property
    def per_gpu(self) -> float | None:
        return self.throughput / self.gpus if self.throughput is not None and self.gpus else None


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def set_figures(folder: str, runs: list[dict], score: dict, gpus: int | None) -> SetFigures:
    rates = [r["throughput_iteration"] or r["throughput_epoch"] for r in runs]
    epochs = [r["epochs_to_target"] for r in runs if r["converged"]]
    return SetFigures(folder, score["value"], _mean(rates), _mean(epochs), gpus)


def gpus_of(data: ReportData, folder: str, first: bool) -> int | None:
    """The set's GPU count: its own description (beside its logs), else --system-json for the first set."""
    description = data.set_systems.get(folder) or (data.system if first else None)
    return description.gpus if description is not None else None


def comparison(vendor: SetFigures, reference: SetFigures) -> Table:
    v, r = Path(vendor.folder).name, Path(reference.folder).name
    table = Table(["figure", f"{v} (vendor)", f"{r} (reference)", "ratio vendor / reference", "difference",
                   "better is"])  # fmt: skip
    lines = [
        ("MLPerf v0.7 score", vendor.score, reference.score, "min", "lower"),
        ("training throughput", vendor.throughput, reference.throughput, "img/s", "higher"),
        ("throughput per GPU", vendor.per_gpu, reference.per_gpu, "img/s per GPU", "higher"),
        ("epochs to target (mean)", vendor.epochs, reference.epochs, "epochs", "lower"),
        ("GPUs", vendor.gpus, reference.gpus, "GPUs", "-"),
    ]
    for name, a, b, unit, better in lines:
        table.rows.append([name, _value(a, unit), _value(b, unit), text.ratio(a, b), text.delta(a, b, unit), better])
        table.classes.append(_judged(a, b, better))
    table.caption = (
        "score: the set's olympic mean (provisional under 5 runs); throughput: the mean of the runs' steady-state "
        "img/s; GPUs: number_of_nodes x accelerators_per_node of the set's system description"
    )
    return table


def _value(value: float | None, unit: str) -> str:
    return f"{text.minutes(value)} min" if unit == "min" and value is not None else text.quantity(value, unit)


def _judged(a: float | None, b: float | None, better: str) -> str:
    if a is None or b is None or better == "-" or a == b:
        return ""
    return "better" if (a < b) == (better == "lower") else "worse"


def comparison_section(data: ReportData) -> Section | None:
    """With exactly two log sets: the first given (the vendor's) against the second (the reference)."""
    sets = list(data.log_sets.items())
    if len(sets) != 2:
        return None
    scores = {entry["folder"]: entry["score"] for entry in data.logs["sets"]}
    vendor, reference = (
        set_figures(folder, runs, scores[folder], gpus_of(data, folder, index == 0))
        for index, (folder, runs) in enumerate(sets)
    )
    return Section("Vendor against reference", [comparison(vendor, reference)])
