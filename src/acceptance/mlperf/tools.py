"""Run one of MLPerf's own tools (``python -m mlperf_logging.X``) and keep what it said.

The tools log every step at INFO level; what matters is their WARNING and ERROR lines (with the
lines that continue them) and, when a tool crashes, its exception: a crash is never a pass, and
its message (``KeyError: 'division'``) is the only clue to what in the input broke it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Progress chatter: INFO lines, divider bars, "** Logging output also at FILE".
_CHATTER = re.compile(r"^(INFO - |\*\* |-{10,}$)")
_TRACEBACK = "Traceback (most recent call last)"
_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')


@dataclass
class ToolRun:
    returncode: int
    said: list[str] = field(default_factory=list)  # what the tool said beyond its progress chatter
    crash: str = ""  # "KeyError: 'division' (at package_checker.py:89: ...)" when it raised
    output: list[str] = field(default_factory=list)  # every line, for tests and debugging

    @property
    def warnings(self) -> list[str]:
        return [line[len("WARNING - ") :].strip() for line in self.said if line.startswith("WARNING - ")]


def run(module: str, args: list[str], cwd: Path | None = None, timeout_s: float = 600.0) -> ToolRun:
    """``python -m mlperf_logging.MODULE ARGS`` in ``cwd`` (default: a fresh temporary folder, so
    the tool's own log files land nowhere else); a timeout is reported as a crash."""
    with tempfile.TemporaryDirectory(prefix="mlperf-tool-") as tmp:
        command = [sys.executable, "-m", f"mlperf_logging.{module}", *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=cwd or tmp)
        except subprocess.TimeoutExpired:
            return ToolRun(-1, crash=f"timed out after {timeout_s:.0f} s")
    output = (done.stdout + done.stderr).splitlines()
    # A traceback is summed up in ``crash``; what the tool said before it is kept.
    before = next((i for i, line in enumerate(output) if line.startswith(_TRACEBACK)), len(output))
    said = [line.rstrip() for line in output[:before] if line.strip() and not _CHATTER.match(line.strip())]
    return ToolRun(done.returncode, said, _crash(output), output)


def _crash(output: list[str]) -> str:
    """The exception a Python traceback in ``output`` ended with, and where it was raised."""
    starts = [i for i, line in enumerate(output) if line.startswith(_TRACEBACK)]
    if not starts:
        return ""
    tail = output[starts[-1] :]
    exception = next((line.strip() for line in reversed(tail) if line.strip() and not line.startswith(" ")), "")
    frames = [(i, m) for i, line in enumerate(tail) if (m := _FRAME.match(line))]
    if not frames:
        return exception
    index, last = frames[-1]
    # The frame's source line, indented under it (a frame of code without source has none).
    following = tail[index + 1] if index + 1 < len(tail) else ""
    code = following.strip() if following.startswith("    ") and not _FRAME.match(following) else ""
    where = f"{Path(last.group(1)).name}:{last.group(2)}"
    return f"{exception} (at {where}: {code})" if code else f"{exception} (at {where})"
