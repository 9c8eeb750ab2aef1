"""Read MLPerf logs: ``:::MLLOG {json}`` records anywhere in a file, and per-iteration timings.

A result file holds more than MLLOG lines: shell traces, Slurm messages, the trainer's own
output, several ranks' prefixes. Records are found wherever ``:::MLLOG`` appears in a line. A
record that is not valid JSON (or a truncated last line) becomes a ``LogProblem`` naming the
file and line; the rest of the file is still read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import math
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlperf_maskrcnn import contract

MARKER = ":::MLLOG"

# NVIDIA v0.7 (maskrcnn_benchmark MetricLogger): "iter: 1600 ... time: 0.2307 (0.2358)"; the first
# number is the median over the logger's window, the second the running mean.
_NVIDIA_ITER = re.compile(r"\biter: (\d+)\b.*?\btime: ([0-9.]+) \(([0-9.]+)\)")


@dataclass(frozen=True)
class Record:
    key: str
    value: Any
    time_ms: float
    event_type: str
    metadata: dict
    line: int


@dataclass(frozen=True)
class LogProblem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class ParsedLog:
    path: str
    records: list[Record] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)
    # (iteration, seconds per iteration) from NVIDIA's trainer lines
    iteration_times: list[tuple[int, float]] = field(default_factory=list)
    # (iteration, images per second) from the bundled trainer's progress lines
    iteration_rates: list[tuple[int, float]] = field(default_factory=list)
    # sha256 of the text as read (a compressed and a plain copy of one log agree)
    digest: str = ""

    def first(self, key: str) -> Record | None:
        return next((r for r in self.records if r.key == key), None)

    def last(self, key: str) -> Record | None:
        return next((r for r in reversed(self.records) if r.key == key), None)

    def all(self, key: str) -> list[Record]:
        return [r for r in self.records if r.key == key]


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a plain, .xz or .gz log as text (undecodable bytes replaced, never fatal)."""
    path = Path(path)
    if path.suffix == ".xz":
        return io.TextIOWrapper(lzma.open(path, "rb"), encoding="utf-8", errors="replace")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


def write_plain(path: str | Path, dest: str | Path) -> None:
    """Write a plain, .xz or .gz log's text to ``dest``; damaged compressed data raises
    ``ValueError`` naming the file (MLPerf's tools read only plain text)."""
    try:
        with open_text(path) as src, Path(dest).open("w", encoding="utf-8") as dst:
            shutil.copyfileobj(src, dst)
    except (EOFError, lzma.LZMAError, OSError) as err:
        raise ValueError(f"{path}: cannot be read ({err})") from err


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, ends with a newline), reading compressed data as far as it goes."""
    with open_text(path) as handle:
        number = 0
        try:
            for number, text in enumerate(handle, start=1):
                yield number, text, text.endswith("\n")
        except (EOFError, lzma.LZMAError, OSError) as err:
            raise _Unreadable(number + 1, number == 0, str(err)) from err


class _Unreadable(Exception):
    """Compressed data that stops decoding at ``line`` (``at_start``: not one line could be read)."""

    def __init__(self, line: int, at_start: bool, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.at_start = at_start

    def __str__(self) -> str:
        if self.at_start:
            return f"not readable compressed data ({self.args[0]})"
        return f"compressed data ends early ({self.args[0]})"


def parse(path: str | Path) -> ParsedLog:
    """All MLLOG records and iteration timings of one file."""
    path = Path(path)
    result = ParsedLog(str(path))
    if not path.is_file():
        result.problems.append(LogProblem(str(path), 0, "file not found"))
        return result
    hasher = hashlib.sha256()
    try:
        for number, text, complete in _lines(path):
            hasher.update(text.encode("utf-8", "replace"))
            position = text.find(MARKER)
            if position >= 0:
                _read_record(result, number, text[position + len(MARKER) :], complete)
                continue
            if "iter" in text:
                try:
                    _read_iteration(result, text)
                except ValueError as err:  # a number its pattern matched but float() cannot read
                    result.problems.append(LogProblem(str(path), number, f"unreadable progress line ({err})"))
    except _Unreadable as err:
        result.problems.append(LogProblem(str(path), err.line, str(err)))
    result.digest = hasher.hexdigest()
    return result


def _read_record(result: ParsedLog, number: int, payload: str, complete: bool) -> None:
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as err:
        why = "truncated MLLOG record (last line cut off)" if not complete else f"malformed MLLOG JSON ({err.msg})"
        result.problems.append(LogProblem(result.path, number, why))
        return
    why = _malformed(data)
    if why:
        result.problems.append(LogProblem(result.path, number, f"MLLOG record {why}"))
        return
    record = Record(
        key=data["key"],
        value=data.get("value"),
        time_ms=float(data["time_ms"]),
        event_type=str(data.get("event_type", "")),
        metadata=data.get("metadata") or {},
        line=number,
    )
    result.records.append(record)


def is_number(value: object) -> bool:
    """A finite JSON (or YAML) number: int or float, not a bool, not NaN or infinite, not an
    integer too large for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _malformed(data: object) -> str:
    """Why a decoded record cannot be used ("" when it can): the fields the judge reads, typed."""
    if not isinstance(data, dict):
        return f"is a JSON {type(data).__name__}, not an object"
    for name in ("key", "time_ms"):
        if name not in data:
            return f"lacks a field: '{name}'"
    if not isinstance(data["key"], str):
        return "key is not a string"
    time_ms = data["time_ms"]
    if not is_number(time_ms):
        return f"time_ms {str(time_ms)[:40]} is not a finite number"
    if not isinstance(data.get("metadata") or {}, dict):
        return "metadata is not an object"
    return ""


def _read_iteration(result: ParsedLog, text: str) -> None:
    match = _NVIDIA_ITER.search(text)
    if match:
        result.iteration_times.append((int(match.group(1)), float(match.group(2))))
        return
    progress = contract.read_progress(text)  # the bundled trainer's progress line
    if progress is not None:
        result.iteration_rates.append(progress)


LOG_PATTERNS = ("result_*.txt", "result_*.txt.xz", "result_*.txt.gz", "*.log", "mlperf*.txt")


def collect_logs(paths: list[Path]) -> list[Path]:
    """Files as given; folders expand to their result/MLPerf log files, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            matches = sorted({m for pattern in LOG_PATTERNS for m in path.glob(pattern)})
            if not matches:
                raise ValueError(f"no MLPerf logs (result_*.txt[.xz|.gz], *.log) in folder {path}")
            found.extend(matches)
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"{path}: no such file or folder")
    return found
