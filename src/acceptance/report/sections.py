"""Build the report's sections from what was collected: the verdict and the banner, the mode's
criteria, every test case, figures of merit, the Mask R-CNN runs, MLPerf log sets, plots, the
history, the system as run and the files the report was made from."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..mlperf import sets
from ..mlperf.analysis import TARGET_BBOX, TARGET_SEGM
from . import plots, text
from .bundle import Bundle, slug
from .collect import Criterion, ReportData, not_mlperf
from .compare import comparison_section
from .document import Box, Figure, Item, Link, Section, Table
from .logsets import description_table, log_set_sections, set_folder, throughput_status
from .verdict import FAILED, MET, NOT_EXECUTED, Verdict, display_result

_STATE_CLASS = {MET: "pass", FAILED: "fail", NOT_EXECUTED: "none"}
_RESULT_CLASS = {"pass": "pass", "fail": "fail", "skip": "skip", NOT_EXECUTED: "none"}
NOT_MLPERF = "Not an MLPerf result"


def case_folder(crit: Criterion) -> str:
    """Where a test case's files go in the report folder: one folder per partition and variant."""
    return f"runs/{slug(crit.where)}/{slug(crit.check + '_' + (crit.hashcode or crit.name))}"


def case_files(crit: Criterion, bundle: Bundle) -> list[Link]:
    """The case's MLPerf log and job files, copied into the report folder."""
    return [Link(what, bundle.add(path, case_folder(crit))) for what, path in crit.files]


# ---- the top of the page ---------------------------------------------------------------------------
def banner(data: ReportData) -> Box | None:
    """Every run that is no MLPerf result, and why: shown above the verdict."""
    lines = []
    for crit in data.criteria:
        why = not_mlperf(crit) if crit.run is not None or crit.banner else ""
        if why:
            lines.append(f"{crit.name} on {crit.where}: {why.removeprefix('not an MLPerf result: ')}")
    for folder, runs in data.log_sets.items():
        divisions = {str(r["hyperparameters"].get("submission_division") or "none") for r in runs}
        if divisions - {"closed"}:
            lines.append(f"log set {folder}: division {', '.join(sorted(divisions))} in its MLPerf logs")
    if not lines:
        return None
    headline = (
        f"{NOT_MLPERF}: these runs used SYNTHETIC data or an open-division recipe; their figures test the suite's "
        "path, not the system"
    )
    return Box("banner", headline, NOT_MLPERF, lines)


def verdict_box(verdict: Verdict) -> Box:
    mode = f"mode {verdict.mode}" + (f": {verdict.mode_description}" if verdict.mode_description else "")
    lines = ([mode] if verdict.mode else []) + verdict.reasons
    return Box(verdict.css, "Overall verdict:", verdict.outcome, lines, aside=verdict.counts_text())


def standings_section(verdict: Verdict) -> Section | None:
    if not verdict.standings:
        return None
    table = Table(["required criterion", "where", "state", "test cases", "why not met"])
    for s in verdict.standings:
        table.rows.append([s.requirement.describe(), s.where, s.state, "; ".join(s.cases) or "-", "; ".join(s.reasons)])
        table.classes.append(_STATE_CLASS.get(s.state, "skip"))
    table.caption = "resources/modes.yaml: a criterion is met where at least one of its test cases passed"
    return Section(f"Criteria mode {verdict.mode} requires", [table])


def cases_section(data: ReportData) -> Section | None:
    if not data.criteria:
        return None
    table = Table(["test case", "what it checks", "where", "result", "reason"])
    for c in data.criteria:
        result = display_result(c, data.dry_run)
        table.rows.append([c.name, c.descr, c.where, result, c.reason])
        table.classes.append(_RESULT_CLASS.get(result, "fail"))
    return Section("Verdict per test case", [table])


# ---- figures of merit and runs ---------------------------------------------------------------------
def merit_sections(data: ReportData) -> list[Section]:
    found = []
    for c in data.criteria:
        if not c.perf:
            continue
        table = Table(["variable", "measured", "reference", "pass range", "verdict"])
        for key, values in c.perf.items():
            value, ref, lower, upper, unit, result = (list(values) + [None] * 6)[:6]
            verdict = text.perf_verdict(result, lower, upper, data.dry_run)
            table.rows.append([key.split(":")[-1], text.quantity(value, unit), text.reference(ref, lower, upper, unit),
                               text.bound(ref, lower, upper, unit), verdict])  # fmt: skip
            table.classes.append(_RESULT_CLASS.get(verdict, ""))
        table.caption = f"reference source: {c.reference_source or 'none'}"
        found.append(Section(f"{c.name} on {c.where}", [table], level=3))
    if found:
        found.insert(0, Section("Figures of merit against their references"))
    return found


def runs_section(data: ReportData, bundle: Bundle) -> Section | None:
    runs = [c for c in data.criteria if c.run is not None]
    if not runs:
        return None
    table = Table(["run", "MLPerf result?", "status", "minutes", "epochs", "best BBOX / SEGM", "img/s", "recipe",
                   "files"])  # fmt: skip
    for c in runs:
        r, best = c.run, c.run.best
        why = not_mlperf(c)
        status = throughput_status(r.status, r.stop_kind, c.mode, c.throughput_iters)
        table.rows.append([
            c.name, f"no: {why.removeprefix('not an MLPerf result: ')}" if why else "may be (closed division)",
            status, text.minutes(r.time_to_train_min), text.number(r.epochs_to_target),
            f"{text.ap(best.bbox if best else None)} / {text.ap(best.segm if best else None)}",
            text.number(r.throughput_iteration or r.throughput_epoch), c.recipe, *_joined(case_files(c, bundle)),
        ])  # fmt: skip
        table.classes.append(_RESULT_CLASS.get(c.result, "fail"))
    table.caption = f"targets: BBOX {TARGET_BBOX} and SEGM {TARGET_SEGM} on one evaluation"
    return Section("Mask R-CNN runs", [table])


def _joined(links: list[Link]) -> list:
    """Several links in one cell: the renderers join a list cell's parts with commas."""
    return [links] if links else ["-"]


# ---- plots -----------------------------------------------------------------------------------------
def figures(data: ReportData, bundle: Bundle | None = None) -> list[Figure]:
    def shown(path: str, sub: str) -> str:
        return bundle.add(path, sub) if bundle else path

    found = []
    for crit in data.criteria:
        if crit.run is not None and crit.run.eval_curve:
            source = f"MLPerf log {shown(crit.log_path, case_folder(crit))} (eval_accuracy)"
            curve = plots.curve(crit.name.split()[0], [asdict(p) for p in crit.run.eval_curve])
            title = f"Convergence: {crit.name} on {crit.where}"
            found.append(Figure(title, plots.convergence([curve], source), source))
    by_where: dict[str, dict[int, float]] = {}
    for crit in data.criteria:
        value = (crit.perf.get(f"{crit.where}:throughput") or [None])[0]
        if crit.check.startswith("MaskRCNN") and crit.num_nodes and value:
            by_where.setdefault(crit.where, {})[int(crit.num_nodes)] = float(value)
    for where, points in by_where.items():
        if len(points) > 1:
            source = f"perfvalues 'throughput' of the Mask R-CNN cases on {where} (ReFrame run report)"
            found.append(Figure(f"Scaling on {where}", plots.scaling(points, source), source))
    for folder, runs in data.log_sets.items():
        curves = [plots.curve(Path(r["path"]).name.split(".")[0], r["eval_curve"]) for r in runs if r["eval_curve"]]
        if curves:
            source = f"MLPerf logs of {Path(folder).name} ({len(curves)} runs, eval_accuracy)"
            found.append(Figure(f"Convergence: {folder}", plots.convergence(curves, source), source))
    return found


# ---- history, system, sources ----------------------------------------------------------------------
def history_section(history: list[tuple[str, str, str]]) -> Section | None:
    if not history:  # the partitions' pages written by `acceptance history`
        return None
    items = [Item([Link(where, link), f": {note}"], f"{where}: {link} ({note})") for where, link, note in history]
    return Section("History", [items])


def system_rows(data: ReportData) -> list[tuple[str, str]]:
    rows = [("suite commit", data.suite_commit)]
    session = data.session
    if session:
        rows += [("ReFrame", str(session.get("version", ""))), ("host", str(session.get("hostname", ""))),
                 ("command", str(session.get("cmdline", ""))), ("session", str(session.get("uuid", ""))),
                 ("started", text.when(session.get("time_start_unix"), session.get("time_start", ""))),
                 ("ended", text.when(session.get("time_end_unix"), session.get("time_end", "")))]  # fmt: skip
    for c in data.criteria:
        if c.environment:
            rows.append((f"{c.name}: software", c.environment))
        if c.binding and c.result != "skip":
            rows.append((f"{c.name}: CPU binding", c.binding))
        if c.run is not None and c.run.hyperparameters:
            hp = ", ".join(f"{k}={v}" for k, v in c.run.hyperparameters.items() if not k.startswith("submission_"))
            rows.append((f"{c.name}: recipe {c.recipe}", hp))
    for image, checksum in data.images.items():
        rows.append((f"image {image}", checksum))
    return rows


def system_section(data: ReportData, bundle: Bundle) -> Section:
    blocks: list = [Table(["", ""], [[k, v] for k, v in system_rows(data)], keyed=True)]
    ran = [c for c in data.criteria if c.result != "skip"]
    if ran:
        jobs = Table(["test case", "where", "job id", "nodes", "completed", "files"])
        for c in ran:
            jobid = c.jobid or ("not submitted (dry run)" if data.dry_run else "-")
            jobs.rows.append([c.name, c.where, jobid, ", ".join(c.nodelist) or "-", text.when(c.completed),
                              *_joined(case_files(c, bundle))])  # fmt: skip
        jobs.caption = "every test case that was not skipped, each repeat on its own line"
        blocks += ["Jobs:", jobs]
    if data.system is not None:
        blocks += [f"System description given with --system-json ({Path(data.system.path).name}):",
                   description_table(data.system, bundle)]  # fmt: skip
    return Section("System as run", blocks)


def sources_section(data: ReportData, bundle: Bundle) -> Section:
    items = [Item([Link(Path(s).name, bundle.add(s, "run-reports")), f" (ReFrame run report, from {s})"])
             for s in data.sources]  # fmt: skip
    items += [Item([f"MLPerf logs of {folder} (in files/{set_folder(folder, i)}/)"])
              for i, folder in enumerate(data.log_sets, 1)]  # fmt: skip
    return Section("Made from", [items])


def run_sets_section(data: ReportData) -> Section | None:
    """The runs of one set scored as MLPerf v0.7 does (mlperf/sets.py), also where ReFrame's score
    test did not run because a run of the set failed."""
    rows = sets.report_rows(data.criteria)
    if not rows:
        return None
    table = Table(["set", "score", "runs averaged and dropped", "RCP"], [list(row.cells()) for row in rows])
    return Section("MLPerf v0.7 scores of this run's sets", [table])


def build(data: ReportData, verdict: Verdict, bundle: Bundle, history: list[tuple[str, str, str]]) -> list[Section]:
    """Every section of the report, in the order a committee reads it."""
    top = Section(data.title, [b for b in (banner(data), verdict_box(verdict)) if b is not None], level=1)
    found = [top, standings_section(verdict), cases_section(data), *merit_sections(data),
             runs_section(data, bundle), run_sets_section(data), *log_set_sections(data, bundle),
             comparison_section(data)]  # fmt: skip
    found += [Section(f.title, [f]) for f in figures(data, bundle)]
    found += [history_section(history), system_section(data, bundle), sources_section(data, bundle)]
    return [s for s in found if s is not None]
