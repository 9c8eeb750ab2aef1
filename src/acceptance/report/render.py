"""Write ``index.html`` (self-contained: inline CSS, PNGs as data URIs) and ``summary.md``."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

from ..mlperf import sets
from ..mlperf.analysis import TARGET_BBOX, TARGET_SEGM
from . import history_page, plots
from .collect import Criterion, ReportData

CSS = """
body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#111;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #999;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #999;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#eee}
.pass{font-weight:bold}.fail{font-weight:bold;text-decoration:underline}.skip{font-style:italic;color:#555}
.verdict{font-size:1.2em;padding:.5em;border:2px solid #111;display:inline-block}
small{color:#444}img{max-width:100%;border:1px solid #ccc}
"""


@dataclass
class Figure:
    title: str
    png: bytes
    source: str


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _bound(ref, lower, upper) -> str:
    if ref is None:
        return "-"
    parts = []
    if lower is not None:
        parts.append(f">= {ref * (1 + lower):.4g}")
    if upper is not None:
        parts.append(f"<= {ref * (1 + upper):.4g}")
    return " and ".join(parts) or "reported only"


def overall(data: ReportData) -> str:
    results = [c.result for c in data.criteria]
    if not results:
        return "no test cases"
    if any(r == "fail" for r in results):
        return "FAIL"
    if all(r == "skip" for r in results):
        return "NOTHING RAN (all skipped)"
    return "PASS"


def figures(data: ReportData) -> list[Figure]:
    found = []
    for crit in data.criteria:
        if crit.run is not None and crit.run.eval_curve:
            source = f"MLPerf log {crit.log_path} (eval_accuracy records)"
            found.append(
                Figure(f"Convergence: {crit.name} on {crit.where}", plots.convergence([("", crit.run)], source), source)
            )
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
        curves = [(Path(r.path).name.split(".")[0], r) for r in runs if r.eval_curve]
        if curves:
            source = f"MLPerf logs in {folder}"
            found.append(Figure(f"Convergence: {folder}", plots.convergence(curves, source), source))
    return found


def _criterion_rows(crit: Criterion) -> list[list[str]]:
    rows = []
    for key, values in crit.perf.items():
        value, ref, lower, upper, unit, verdict = (list(values) + [None] * 6)[:6]
        rows.append(
            [
                key.split(":")[-1],
                f"{_fmt(value)} {unit or ''}",
                f"{_fmt(ref)} {unit or ''}",
                _bound(ref, lower, upper),
                str(verdict),
            ]
        )
    return rows


def write_html(data: ReportData, out: Path, figs: list[Figure], history: list[tuple[str, str, str]] = ()) -> Path:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(data.title)}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{e(data.title)}</h1>"]  # fmt: skip
    parts.append(f"<p class='verdict'>Overall verdict: <b>{e(overall(data))}</b></p>")
    if data.criteria:
        parts.append(
            "<h2>Verdict per criterion</h2><table><tr><th>check</th><th>where</th><th>result</th><th>reason</th></tr>"
        )
        for c in data.criteria:
            parts.append(
                f"<tr><td>{e(c.name)}</td><td>{e(c.where)}</td><td class='{e(c.result)}'>{e(c.result)}</td><td>{e(c.reason)}</td></tr>"
            )
        parts.append("</table>")
        parts.append("<h2>Figures of merit against their references</h2>")
        for c in data.criteria:
            rows = _criterion_rows(c)
            if not rows:
                continue
            parts.append(
                f"<h3>{e(c.name)} on {e(c.where)}</h3><table><tr><th>variable</th><th>measured</th><th>reference</th><th>bound</th><th>verdict</th></tr>"
            )
            parts.extend("<tr>" + "".join(f"<td>{e(x)}</td>" for x in row) + "</tr>" for row in rows)
            parts.append(f"</table><small>reference source: {e(c.reference_source or 'none')}</small>")
    runs = [c for c in data.criteria if c.run is not None]
    if runs:
        parts.append("<h2>Mask R-CNN runs</h2><table><tr><th>run</th><th>status</th><th>minutes</th><th>epochs</th>"
                     "<th>best BBOX / SEGM</th><th>img/s</th><th>recipe</th><th>log</th></tr>")  # fmt: skip
        for c in runs:
            r, best = c.run, c.run.best
            rel = os.path.relpath(c.log_path, out)
            parts.append(
                f"<tr><td>{e(c.name)}</td><td>{e(r.status)}</td><td>{_fmt(r.time_to_train_min)}</td><td>{_fmt(r.epochs_to_target)}</td>"
                f"<td>{_fmt(best.bbox if best else None, 3)} / {_fmt(best.segm if best else None, 3)} (targets {TARGET_BBOX} / {TARGET_SEGM})</td>"
                f"<td>{_fmt(r.throughput_iteration or r.throughput_epoch, 1)}</td><td>{e(c.recipe)}</td>"
                f"<td><a href='{e(rel)}'>{e(Path(c.log_path).name)}</a></td></tr>"
            )
        parts.append("</table>")
    if data.log_sets:
        parts.append(
            "<h2>MLPerf scores of log sets</h2><table><tr><th>folder</th><th>score (min)</th><th>kind</th><th>dropped</th></tr>"
        )
        for folder, s in data.scores().items():
            kind = "v0.7 score" if s.valid else ("provisional" if s.provisional else "no valid score")
            dropped = "; ".join(f"{Path(p).name}: {why}" for p, why in s.dropped.items())
            parts.append(
                f"<tr><td>{e(folder)}</td><td>{_fmt(s.value)}</td><td>{e(kind)}: {e(s.note)}</td><td>{e(dropped)}</td></tr>"
            )
        parts.append("</table>")
    run_sets = sets.report_rows(data.criteria)
    if run_sets:  # the runs of a set, scored as MLPerf v0.7 does (mlperf/sets.py)
        parts.append("<h2>MLPerf v0.7 scores of this run's sets</h2><table><tr><th>set</th><th>score</th>"
                     "<th>runs averaged and dropped</th><th>RCP</th></tr>")  # fmt: skip
        parts.extend("<tr>" + "".join(f"<td>{e(x)}</td>" for x in row.cells()) + "</tr>" for row in run_sets)
        parts.append("</table>")
    for fig in figs:
        encoded = base64.b64encode(fig.png).decode("ascii")
        parts.append(
            f"<h2>{e(fig.title)}</h2><img alt='{e(fig.title)}' src='data:image/png;base64,{encoded}'><br><small>source: {e(fig.source)}</small>"
        )
    if history:  # the partitions' pages written by `acceptance history`
        parts.append("<h2>History</h2><ul>")
        parts.extend(f"<li><a href='{e(link)}'>{e(where)}</a>: {e(note)}</li>" for where, link, note in history)
        parts.append("</ul>")
    parts.append("<h2>System as run</h2><table>")
    for key, value in system_rows(data):
        parts.append(f"<tr><th>{e(key)}</th><td>{e(value)}</td></tr>")
    parts.append("</table><h2>Made from</h2><ul>")
    parts.extend(f"<li><a href='{e(os.path.relpath(s, out))}'>{e(s)}</a></li>" for s in data.sources)
    parts.append("</ul></body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path


def system_rows(data: ReportData) -> list[tuple[str, str]]:
    rows = [("suite commit", data.suite_commit)]
    session = data.session
    if session:
        rows += [("ReFrame", str(session.get("version", ""))), ("host", str(session.get("hostname", ""))),
                 ("command", str(session.get("cmdline", ""))), ("started", str(session.get("time_start", "")))]  # fmt: skip
    seen = set()
    for c in data.criteria:
        if c.result == "skip" or c.where in seen and not c.run:
            continue
        seen.add(c.where)
        if c.jobid or c.nodelist:
            rows.append((f"{c.name}: job", f"{c.where} job {c.jobid} on {','.join(c.nodelist)}"))
        if c.environment:
            rows.append((f"{c.name}: software", c.environment))
        if c.binding:
            rows.append((f"{c.name}: CPU binding", c.binding))
        if c.run is not None and c.run.hyperparameters:
            hp = ", ".join(f"{k}={v}" for k, v in c.run.hyperparameters.items() if not k.startswith("submission_"))
            rows.append((f"{c.name}: recipe {c.recipe}", hp))
    for image, checksum in data.images.items():
        rows.append((f"image {image}", checksum))
    return rows


def write_markdown(data: ReportData, out: Path, figs: list[Figure], history: list[tuple[str, str, str]] = ()) -> Path:
    lines = [f"# {data.title}", "", f"Overall verdict: **{overall(data)}**", ""]
    if data.criteria:
        lines += ["## Verdict per criterion", "", "| check | where | result | reason |", "|---|---|---|---|"]
        lines += [f"| {c.name} | {c.where} | {c.result} | {c.reason.replace('|', '/')} |" for c in data.criteria]
        lines += ["", "## Figures of merit", ""]
        for c in data.criteria:
            rows = _criterion_rows(c)
            if rows:
                lines += [f"{c.name} on {c.where} (reference: {c.reference_source or 'none'})", "",
                          "| variable | measured | reference | bound | verdict |", "|---|---|---|---|---|"]  # fmt: skip
                lines += ["| " + " | ".join(row) + " |" for row in rows]
                lines.append("")
    if data.log_sets:
        lines += ["## MLPerf scores of log sets", ""]
        for folder, s in data.scores().items():
            lines.append(f"- {folder}: {_fmt(s.value)} min ({s.note})")
        lines.append("")
    run_sets = sets.report_rows(data.criteria)
    if run_sets:
        lines += ["## MLPerf v0.7 scores of this run's sets", "", "| set | score | runs averaged and dropped | RCP |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += ["| " + " | ".join(x.replace("|", "/") for x in row.cells()) + " |" for row in run_sets] + [""]
    if history:
        lines += ["## History", ""] + [f"- {where}: {link} ({note})" for where, link, note in history] + [""]
    lines += ["## System as run", ""] + [f"- {k}: {v}" for k, v in system_rows(data)]
    lines += ["", "## Figures", ""] + [f"- {f.title} (in index.html; source: {f.source})" for f in figs]
    lines += ["", "## Made from", ""] + [f"- {s}" for s in data.sources]
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def write(data: ReportData, out: Path, history_dir: Path | None = None) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    figs = figures(data)
    wheres = [c.where for c in data.criteria]
    history = history_page.partition_links(history_dir, wheres, out) if history_dir else []
    return write_html(data, out, figs, history), write_markdown(data, out, figs, history)
