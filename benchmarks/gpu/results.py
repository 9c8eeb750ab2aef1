"""The GPU check's part files: each part's JSON in the output folder, written whole or not at all.

A part writes ``OUTDIR/<part>.json`` as soon as it has something (``status`` "partial" while it
runs, "ok" at its end), so a part that is killed still leaves what it measured. check.sh then
marks the file with the part's exit (``mark``), or writes one for a part it never started
(``skip``). Parts share their options here: ``--out``, ``--work`` (synthetic data, outside
OUTDIR) and ``--dry-run`` (CPU, tiny sizes).

    python3 benchmarks/gpu/results.py mark OUTDIR PART EXIT_CODE LOGFILE SECONDS
    python3 benchmarks/gpu/results.py skip OUTDIR PART REASON
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

TIMEOUT_CODES = (124, 137)  # timeout(1)'s own, and a SIGKILL after it


def path(outdir: Path, part: str) -> Path:
    return Path(outdir) / f"{part}.json"


def read(outdir: Path, part: str) -> dict:
    try:
        return json.loads(path(outdir, part).read_text())
    except (OSError, ValueError):
        return {}


def write(outdir: Path, part: str, data: dict, status: str = "ok") -> None:
    """Replace the part's file atomically (a reader never sees half a file)."""
    target = path(outdir, part)
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {"part": part, "status": status, "written": time.strftime("%Y-%m-%dT%H:%M:%S"), **data}
    scratch = target.with_suffix(f".tmp{os.getpid()}")
    scratch.write_text(json.dumps(record, indent=1, default=str))
    scratch.replace(target)


def mark(outdir: Path, part: str, code: int, log: Path, seconds: float | None = None) -> str:
    """Record how the part's process ended; a part that failed keeps what it wrote."""
    data = read(outdir, part)
    data.pop("part", None)
    status = data.pop("status", None)
    if code in TIMEOUT_CODES:
        status = "timeout"
    elif code != 0:
        status = "failed"
    elif status != "ok":
        status = "failed" if status is None else status  # exited 0 without a finished file
    data["exit_code"] = code
    if seconds is not None:
        data["seconds"] = seconds
    if status != "ok":
        try:
            data["log_tail"] = Path(log).read_text(errors="replace")[-2500:]
        except OSError:
            data["log_tail"] = f"(no log at {log})"
    write(outdir, part, data, status)
    return status


def options(description: str) -> argparse.ArgumentParser:
    """The options every part takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="the check's output folder")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (synthetic data sets)")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: the script's own test")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) == 6 and args[0] == "mark":
        print(mark(Path(args[1]), args[2], int(args[3]), Path(args[4]), float(args[5])))
        return 0
    if len(args) == 4 and args[0] == "skip":
        write(Path(args[1]), args[2], {"reason": args[3]}, "skipped")
        return 0
    print(__doc__.strip().splitlines()[-2:], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
