"""The sections of MLPerf log sets given with --logs: each set's runs as `acceptance score` judges
them (with compliance), its v0.7 score and dropped runs, problems and notes, and its system
description, checked."""

from __future__ import annotations

from pathlib import Path

from mlperf_maskrcnn import contract

from ..cli import status_text, verdict_text  # the words `acceptance score` uses for the same runs
from . import text
from .bundle import Bundle, slug
from .collect import ReportData
from .descriptions import Description
from .document import Item, Link, Section, Table


def set_folder(folder: str, index: int) -> str:
    return f"logs/{index}_{slug(Path(folder).name)}"


def log_set_files(data: ReportData, bundle: Bundle) -> dict[str, str]:
    """Every log of every set, copied: original path -> its path in the report folder."""
    return {run["path"]: bundle.add(run["path"], set_folder(folder, index))
            for index, (folder, runs) in enumerate(data.log_sets.items(), 1) for run in runs}  # fmt: skip


def throughput_status(status: str, stop_kind: str, mode: str, iterations: int | None) -> str:
    """A throughput run stops by design: say so, never 'aborted'."""
    if stop_kind == contract.THROUGHPUT_DONE or (mode == "throughput" and not stop_kind and status == "aborted"):
        return f"stopped after {iterations or 'its set number of'} iterations (by design)"
    return status


def log_set_sections(data: ReportData, bundle: Bundle) -> list[Section]:
    if not data.log_sets:
        return []
    copies = log_set_files(data, bundle)
    found = [Section("MLPerf log sets", ["Each set is one folder of logs, judged as `acceptance score` judges it."])]
    scores = {entry["folder"]: entry["score"] for entry in data.logs["sets"]}
    for folder, runs in data.log_sets.items():
        blocks: list = [_set_table(runs, copies), _score_text(scores[folder])]
        dropped = [Item([f"dropped {Path(p).name}: {why}"]) for p, why in scores[folder]["dropped"].items()]
        notes = [Item([f"problem: {p}"]) for r in runs for p in r["problems"]]
        notes += [Item([f"note: {n}"]) for r in runs for n in r["notes"]]
        blocks += [dropped + notes] if dropped or notes else []
        system = data.set_systems.get(folder)
        if system is not None:
            blocks.append(description_table(system, bundle))
        found.append(Section(f"Log set {folder}", blocks, level=3))
    return found


def _set_table(runs: list[dict], copies: dict[str, str]) -> Table:
    table = Table(["run", "status", "minutes", "epochs", "BBOX", "SEGM", "img/s (iterations)", "img/s (epochs)",
                   "compliance (0.7.0)", "division"])  # fmt: skip
    for run in runs:
        best = run["best"] or {}
        status = throughput_status(status_text(run), run.get("stop_kind", ""), "", None)
        division = run["hyperparameters"].get("submission_division") or "-"
        table.rows.append([
            Link(Path(run["path"]).name, copies[run["path"]]), status, text.minutes(run["time_to_train_min"]),
            text.number(run["epochs_to_target"]), text.ap(best.get("bbox")), text.ap(best.get("segm")),
            text.number(run["throughput_iteration"]), text.number(run["throughput_epoch"]),
            verdict_text(run.get("compliance")), str(division),
        ])  # fmt: skip
        ok = run["converged"] and (run.get("compliance") or {}).get("passed", True)
        table.classes.append("pass" if ok else ("fail" if run["problems"] or run["status"] != "success" else "skip"))
    return table


def _score_text(score: dict) -> str:
    if score["problems"]:
        return "MLPerf v0.7 score: none (the set cannot be scored: " + "; ".join(score["problems"]) + ")"
    if score["value"] is None:
        return f"MLPerf v0.7 score: none ({score['note']})"
    kind = "provisional, not an MLPerf score" if score["provisional"] else "v0.7 score"
    return f"MLPerf v0.7 score: {score['value']:.2f} min ({kind}; {score['note']})"


def description_table(system: Description, bundle: Bundle) -> Table:
    link = bundle.add(system.path, "systems")
    table = Table(["field", "value"], [[k, v] for k, v in system.rows()], keyed=True)
    table.rows.insert(0, ["file", Link(Path(system.path).name, link)])
    checked = "passed" if system.passed else "FAILED: " + "; ".join(system.messages)
    table.caption = f"system description, checked as `acceptance package` checks it: {checked}"
    table.classes = [""] * len(table.rows)
    return table
