"""MLPerf log records written by a job script (no Python on the node needed).

NVIDIA's Slurm scripts log the submission and ``cache_clear`` records in steps of their own,
outside the trainer; the NVIDIA path of the check does the same with ``printf`` lines whose
``time_ms`` is read from the node's clock when the line runs.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from .parse import MARKER

# The metadata mllog writes; here it names the job script rather than a Python file.
_METADATA = {"file": "rfm_job.sh", "lineno": 0}


@dataclass(frozen=True)
class ShellValue:
    """A value the shell computes when the line runs; it must expand to valid JSON."""

    expression: str


_NOW = ShellValue("$(date +%s%3N)")


def shell_event(key: str, value: Any) -> str:
    """A shell line printing one POINT_IN_TIME record with the current time in ms."""
    written = value if isinstance(value, ShellValue) else json.dumps(value)
    head = f'{MARKER} {{"namespace": "", "time_ms": '
    middle = f', "event_type": "POINT_IN_TIME", "key": {json.dumps(key)}, "value": '
    tail = f', "metadata": {json.dumps(_METADATA)}}}'
    if isinstance(written, ShellValue):
        parts = [head, _NOW, middle, written, tail]
    else:
        parts = [head, _NOW, middle + written + tail]
    # Literal text single-quoted, shell expansions double-quoted, all one printf argument.
    text = "".join(f'"{p.expression}"' if isinstance(p, ShellValue) else shlex.quote(p) for p in parts)
    return f"printf '%s\\n' {text}"


# true when the site's clearing command succeeded in this job, else false
CACHE_CLEARED = ShellValue('$([ -n "${MLPERF_CACHE_CLEARED:-}" ] && echo true || echo false)')
