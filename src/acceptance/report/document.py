"""The report as a document: sections of paragraphs, boxes, tables, lists and figures, which
``render`` writes both as HTML and as Markdown (one model, so the two always say the same)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Link:
    text: str
    href: str  # relative to the report folder


Cell = Union[str, Link, list]  # a list: several links in one cell  # noqa: UP007


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)  # per row: pass / fail / skip / incomplete / none / ''
    caption: str = ""  # a note under the table
    keyed: bool = False  # a two-column table of names (header cells) and values


@dataclass
class Box:
    """A framed statement read first: the verdict, or the not-an-MLPerf-result banner."""

    kind: str  # css class: pass / fail / incomplete / none / banner
    headline: str
    strong: str = ""  # the word set large (the verdict)
    lines: list[str] = field(default_factory=list)
    aside: str = ""  # beside it (the counts)


@dataclass
class Item:
    """A list item: its cells, and (where Markdown should read otherwise) its Markdown text."""

    cells: list[Cell]
    markdown: str = ""


@dataclass
class Figure:
    title: str
    png: bytes
    source: str


Block = Union[str, Table, Box, list, Figure]  # a list: a list of Item  # noqa: UP007


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2
