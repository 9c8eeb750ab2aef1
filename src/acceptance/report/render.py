"""Write the report folder: ``index.html`` (inline CSS, PNGs as data URIs, no scripts),
``summary.md`` saying the same in plain text, and ``files/`` with everything they cite."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from urllib.parse import quote

from . import history_page, modes, sections, verdict
from .bundle import Bundle
from .collect import ReportData
from .document import Box, Figure, Link, Section, Table

# Colour says the result; border style and type say it again, for grey-scale print.
CSS = """
body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#111;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #999;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #999;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#eee}
tr.pass td{background:#e6f4ea}tr.pass td:first-child{border-left:6px solid #1b7f3b}
tr.fail td{background:#fde7e7;font-weight:bold}tr.fail td:first-child{border-left:6px double #b3261e}
tr.skip td{background:#fff4dc;font-style:italic}tr.skip td:first-child{border-left:6px dashed #a86400}
tr.none td{background:#eee;color:#333}tr.none td:first-child{border-left:6px dotted #555}
tr.better td:first-child{border-left:6px solid #1b7f3b}tr.worse td:first-child{border-left:6px double #b3261e}
.box{padding:.5em 1em;margin:.8em 0}.box p{margin:.2em 0}.box ul{margin:.3em 0}
.box .strong{font-size:1.7em;font-weight:bold;letter-spacing:.04em}.box .aside{font-size:1.1em;margin-left:1em}
.box.pass{border:5px solid #1b7f3b;background:#e6f4ea}
.box.fail{border:7px double #b3261e;background:#fde7e7}
.box.incomplete{border:5px dashed #a86400;background:#fff4dc}
.box.none{border:5px dotted #555;background:#eee}
.box.banner{border:5px solid #5b2a86;background:#f1e8f8}
small,.caption{color:#444;font-size:.85em}img{max-width:100%;border:1px solid #ccc}
@media print{*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _cell_html(cell) -> str:
    if isinstance(cell, Link):
        # Quoted: a copied file's name may hold a space, '#' or '?'.
        return f"<a href='{html.escape(quote(cell.href))}'>{html.escape(cell.text)}</a>"
    if isinstance(cell, list):
        return ", ".join(_cell_html(c) for c in cell)
    return html.escape(str(cell))


def _table_html(table: Table) -> str:
    rows = []
    if not table.keyed:
        rows.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.headers) + "</tr>")
    for index, row in enumerate(table.rows):
        kind = table.classes[index] if index < len(table.classes) else ""
        attr = f" class='{kind}'" if kind else ""
        if table.keyed:
            rows.append(f"<tr{attr}><th>{_cell_html(row[0])}</th><td>{_cell_html(row[1])}</td></tr>")
        else:
            rows.append(f"<tr{attr}>" + "".join(f"<td>{_cell_html(c)}</td>" for c in row) + "</tr>")
    caption = f"<p class='caption'>{html.escape(table.caption)}</p>" if table.caption else ""
    return "<table>" + "\n".join(rows) + "</table>" + caption


def _block_html(block) -> str:
    e = html.escape
    if isinstance(block, Table):
        return _table_html(block)
    if isinstance(block, Box):
        lines = "".join(f"<li>{e(line)}</li>" for line in block.lines)
        strong = f" <span class='strong'>{e(block.strong)}</span>" if block.strong and block.kind != "banner" else ""
        strong += f" <span class='aside'>{e(block.aside)}</span>" if block.aside else ""
        head = f"<b>{e(block.headline)}</b>" if block.kind == "banner" else e(block.headline)
        return f"<div class='box {e(block.kind)}'><p>{head}{strong}</p><ul>{lines}</ul></div>"
    if isinstance(block, Figure):
        encoded = base64.b64encode(block.png).decode("ascii")
        return (f"<img alt='{e(block.title)}' src='data:image/png;base64,{encoded}'><br>"
                f"<small>source: {e(block.source)}</small>")  # fmt: skip
    if isinstance(block, list):
        return (
            "<ul>" + "".join("<li>" + "".join(_cell_html(c) for c in item.cells) + "</li>" for item in block) + "</ul>"
        )
    return f"<p>{e(str(block))}</p>"


def to_html(title: str, found: list[Section]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style></head><body>"]  # fmt: skip
    for section in found:
        parts.append(f"<h{section.level}>{html.escape(section.title)}</h{section.level}>")
        parts.extend(_block_html(b) for b in section.blocks)
    parts.append("</body></html>")
    return "\n".join(parts)


def _cell_md(cell) -> str:
    if isinstance(cell, Link):
        return f"{cell.text} ({cell.href})"
    if isinstance(cell, list):
        return ", ".join(_cell_md(c) for c in cell)
    return str(cell).replace("|", "/").replace("\n", " ")


def _block_md(block) -> list[str]:
    if isinstance(block, Table):
        if block.keyed:
            lines = [f"- {_cell_md(k)}: {_cell_md(v)}" for k, v in block.rows]
        else:
            lines = ["| " + " | ".join(block.headers) + " |", "|" + "---|" * len(block.headers)]
            lines += ["| " + " | ".join(_cell_md(c) for c in row) + " |" for row in block.rows]
        return lines + ([""] + [block.caption] if block.caption else [])
    if isinstance(block, Box):
        if block.kind == "banner":
            return [f"> **{block.strong}**: {block.headline.removeprefix(block.strong + ': ')}"] + [
                f"> - {line}" for line in block.lines
            ]
        aside = f" ({block.aside})" if block.aside else ""
        return [f"{block.headline} **{block.strong}**{aside}", ""] + [f"- {line}" for line in block.lines]
    if isinstance(block, Figure):
        return [f"Figure: {block.title} (in index.html; source: {block.source})"]
    if isinstance(block, list):
        return [f"- {item.markdown or ''.join(_cell_md(c) for c in item.cells)}" for item in block]
    return [str(block)]


def to_markdown(found: list[Section]) -> str:
    lines = []
    for section in found:
        lines += ["#" * section.level + " " + section.title, ""]
        for block in section.blocks:
            lines += _block_md(block) + [""]
    return "\n".join(lines).rstrip() + "\n"


def write(data: ReportData, out: Path, history_dir: Path | None = None) -> tuple[Path, Path]:
    """The report of ``data`` in ``out``: index.html, summary.md and files/; returns the first two."""
    out.mkdir(parents=True, exist_ok=True)
    judged = verdict.judge(data, *modes.declared())
    wheres = [c.where for c in data.criteria]
    history = history_page.partition_links(history_dir, wheres, out) if history_dir else []
    found = sections.build(data, judged, Bundle(out), history)
    page, summary = out / "index.html", out / "summary.md"
    page.write_text(to_html(data.title, found))
    summary.write_text(to_markdown(found))
    return page, summary
