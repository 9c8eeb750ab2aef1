"""Write a history folder: a grey-scale PNG per series, one page per system:partition, an index,
``summary.md`` and ``history.json``.

Layout of ``OUT``::

    index.html, summary.md, history.json      every partition
    <system>_<partition>/index.html           that partition's series: table and plots
    <system>_<partition>/<test>_<var>.png     one plot per series
"""

from __future__ import annotations

import html
import json
import os
import re
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from .history import History, Series  # noqa: E402
from .plots import _png  # noqa: E402  (the report's footnote and PNG settings)

CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#111}"
    "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #999;padding:3px 7px;text-align:left}"
    "th{background:#eee}.regression{font-weight:bold;text-decoration:underline}img{max-width:100%}"
)
COLUMNS = ["test", "variable", "latest", "median (runs)", "change", "better", "margin", "verdict"]


def slug(text: str) -> str:
    """A file name for ``text`` (a partition, a test with parameters, a variable)."""
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", text).strip("_")


def partition_folder(where: str) -> str:
    return slug(where.replace(":", "_"))


def plot_name(series: Series) -> str:
    return f"{slug(series.test)}_{slug(series.variable)}.png"


def plot(series: Series, source: str) -> bytes:
    """The series over time, its reference value and bound as a band, the baseline median, the latest point."""
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    times = [datetime.fromtimestamp(p.time) for p in series.points]
    values = [p.value for p in series.points]
    unit = series.unit
    band = series.reference
    if band is not None:
        low, high = band.limits()
        bounded = "to its bound" if low != high else "(no bound)"
        ax.axhspan(low, high, color="0.85", label=f"reference {band.value:.4g} {unit} {bounded}")
        ax.axhline(band.value, color="0.45", linestyle="--", linewidth=1)
    if series.median is not None:
        label = f"median of last {len(series.baseline)}: {series.median:.4g}"
        ax.axhline(series.median, color="0", linestyle=":", linewidth=1, label=label)
        signs = {"higher": [-1], "lower": [1], "either": [-1, 1]}[series.better]
        for n, sign in enumerate(signs):
            limit = series.median + sign * series.margin * abs(series.median)
            label = f"regression beyond {series.margin:.1%}" if n == 0 else None
            ax.axhline(limit, color="0.3", linestyle="-.", linewidth=0.8, label=label)
    ax.plot(times, values, "-o", color="0", markersize=3, label="measured")
    ax.plot(times[-1:], values[-1:], "s", color="0", markerfacecolor="white", markersize=8,
            label=f"latest: {series.verdict}")  # fmt: skip
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel(f"{series.variable} ({unit})" if unit else series.variable)
    ax.set_xlabel("job completion (local time)")
    ax.set_title(f"{series.test} on {series.where}: {series.variable}", fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # clear of the data
    ax.grid(True, color="0.9")
    return _png(fig, source)


def _source(history: History, series: Series) -> str:
    first, last = series.points[0].session[:8], series.points[-1].session[:8]
    return f"{history.source}; {len(series.points)} session(s), {first}..{last}"


def _row(series: Series) -> list[str]:
    median = "-" if series.median is None else f"{series.median:.4g} ({len(series.baseline)})"
    change = "-" if series.change is None else f"{series.change:+.1%}"
    return [
        series.test,
        series.variable,
        f"{series.latest.value:.4g} {series.unit}",
        median,
        change,
        series.better,
        f"{series.margin:.1%} ({series.margin_from})",
        series.verdict,
    ]


def _table(rows: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = "".join(
        f"<tr class='{e(r[-1])}'>" + "".join(f"<td>{e(x)}</td>" for x in r) + "</tr>" for r in rows
    )  # fmt: skip
    return f"<table><tr>{head}</tr>{body}</table>"


def _page(title: str, body: list[str]) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>" + "\n".join(body) + "</body></html>"
    )


def by_partition(history: History) -> dict[str, list[Series]]:
    parts: dict[str, list[Series]] = {}
    for series in history.series:
        parts.setdefault(series.where, []).append(series)
    return parts


def _settings(history: History) -> str:
    margin = "the reference's tolerance" if history.margin is None else f"{history.margin:.1%}"
    return f"latest value against the median of the last {history.last} run(s) before it; margin: {margin}"


def write(history: History, out: Path) -> Path:
    """Write the folder; return its index.html."""
    e = html.escape
    out.mkdir(parents=True, exist_ok=True)
    index = [f"<p>{e(_settings(history))}.<br><small>source: {e(history.source)}</small></p>",
             "<table><tr><th>system:partition</th><th>series</th><th>regressions</th></tr>"]  # fmt: skip
    summary = ["# Performance history", "", _settings(history) + ".", "", f"Source: {history.source}", ""]
    for where, series in by_partition(history).items():
        folder = out / partition_folder(where)
        folder.mkdir(exist_ok=True)
        body = [f"<p>{e(_settings(history))}. <a href='../index.html'>All partitions</a></p>",
                _table([_row(s) for s in series])]  # fmt: skip
        for s in series:
            source = _source(history, s)
            (folder / plot_name(s)).write_bytes(plot(s, source))
            body.append(
                f"<h2>{e(s.test)}: {e(s.variable)}</h2><p>{e(s.sentence())}</p>"
                f"<img alt='{e(s.variable)} over time' src='{e(plot_name(s))}'><br><small>source: {e(source)}; "
                f"reference: {e(s.reference.source if s.reference else 'none')}</small>"
            )
        (folder / "index.html").write_text(_page(f"History of {where}", body))
        bad = [s.variable for s in series if s.verdict == "regression"]
        index.append(
            f"<tr><td><a href='{e(folder.name)}/index.html'>{e(where)}</a></td><td>{len(series)}</td>"
            f"<td class='{'regression' if bad else ''}'>{len(bad)}{': ' + e(', '.join(bad)) if bad else ''}</td></tr>"
        )
        summary += [f"## {where} ({folder.name}/index.html)", "", "| " + " | ".join(COLUMNS) + " |",
                    "|" + "---|" * len(COLUMNS)]  # fmt: skip
        summary += ["| " + " | ".join(x.replace("|", "/") for x in _row(s)) + " |" for s in series]
        summary += [""] + [f"- {s.sentence()}" for s in series] + [""]
    index.append("</table>")
    verdict = f"{len(history.regressions())} regression(s)" if history.regressions() else "no regression"
    index.insert(0, f"<p><b>Verdict: {e(verdict)}</b></p>")
    summary.insert(2, f"Verdict: **{verdict}**")
    summary.insert(3, "")
    (out / "index.html").write_text(_page("Performance history", index))
    (out / "summary.md").write_text("\n".join(summary) + "\n")
    (out / "history.json").write_text(json.dumps(history.to_dict(), indent=2) + "\n")
    return out / "index.html"


def partition_links(history_dir: Path, wheres: list[str], report_dir: Path) -> list[tuple[str, str, str]]:
    """For each of ``wheres`` that has a page in ``history_dir``: (where, link relative to
    ``report_dir``, the partition's regressions in words). Reads the folder's history.json."""
    path = history_dir / "history.json"
    try:
        data = json.loads(path.read_text())
        series = data["series"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a history written by 'acceptance history' ({err})") from err
    links = []
    for where in dict.fromkeys(wheres):
        mine = [s for s in series if s.get("where") == where]
        page = history_dir / partition_folder(where) / "index.html"
        if not mine or not page.is_file():
            continue
        bad = [f"{s['test']} {s['variable']}" for s in mine if s.get("verdict") == "regression"]
        note = f"{len(bad)} regression(s): {', '.join(bad)}" if bad else f"no regression in {len(mine)} series"
        links.append((where, os.path.relpath(page, report_dir), note))
    return links
