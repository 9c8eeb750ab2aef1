"""The lines and fields the harness reads from the bundled workload, declared once (torch-free).

The MLPerf log (``:::MLLOG`` records, mllog's format) is the main contract. Beyond it the harness
reads only what this module declares, and both sides use these functions, so rewording a line
here changes writer and reader together:

- ``run_stop`` metadata: ``status`` (MLPerf's), ``reason`` (text for people) and ``stop_kind``
  (one of ``STOP_KINDS``, for programs). The 0.7.0 compliance checker requires only ``status``.
- progress lines that rank 0 writes into the MLPerf log file: iteration, images per second;
- the environment line (software and devices of the run) in the same file;
- rank lines on stderr: a rank other than 0 (which writes no MLPerf log) or a run that stopped
  before its log existed says why it stopped;
- the probes' ``key: value`` lines (``python -m mlperf_maskrcnn.probes``), which the system
  checks read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# ---- run_stop metadata --------------------------------------------------------------------------
STOP_REASON = "reason"
STOP_KIND = "stop_kind"

SETUP_ERROR = "setup_error"  # refused before training: a recipe, weight file or option
TARGET_MET = "target_met"
ITERATION_CAP = "iteration_cap"  # the recipe's max_iter ran out before the target
THROUGHPUT_DONE = "throughput_done"  # a throughput run trained its iterations: by design, no result
NONFINITE_LOSS = "nonfinite_loss"
DATA_ERROR = "data_error"  # a data set file missing or broken
DISTRIBUTED_FAILURE = "distributed_failure"  # a collective failed or timed out (a peer died or hung)
RUNTIME_ERROR = "runtime_error"  # any other error on a rank (out of memory, a bug)
TERMINATED = "terminated"  # a signal: scancel, the job's time limit, kill
STOP_KINDS = (
    SETUP_ERROR,
    TARGET_MET,
    ITERATION_CAP,
    THROUGHPUT_DONE,
    NONFINITE_LOSS,
    DATA_ERROR,
    DISTRIBUTED_FAILURE,
    RUNTIME_ERROR,
    TERMINATED,
)
# Kinds whose cause is usually elsewhere (another rank, the scheduler): the harness adds what
# the launcher and scheduler printed.
KINDS_NEEDING_JOB_OUTPUT = (DISTRIBUTED_FAILURE, RUNTIME_ERROR, TERMINATED)


@dataclass(frozen=True)
class Stop:
    """Why a run stopped: MLPerf's status, a kind from STOP_KINDS and a sentence for people."""

    status: str  # "success" or "aborted"
    kind: str
    reason: str

    def metadata(self) -> dict[str, str]:
        return {"status": self.status, STOP_KIND: self.kind, STOP_REASON: self.reason}


# ---- progress lines -----------------------------------------------------------------------------
_PROGRESS_TAG = "progress:"
_PROGRESS = re.compile(r"progress: iter (\d+)/(\d+) epoch (\d+) .*?\bimg/s (\d+(?:\.\d+)?)\b")


def progress_line(
    iteration: int, max_iter: int, epoch: int, loss: float, terms: dict[str, float], lr: float, images_per_s: float
) -> str:
    parts = " ".join(f"{name}={value:.4f}" for name, value in terms.items())
    return (
        f"{_PROGRESS_TAG} iter {iteration}/{max_iter} epoch {epoch} loss {loss:.4f} ({parts}) "
        f"lr {lr:.6f} img/s {images_per_s:.2f}"
    )


def read_progress(line: str) -> tuple[int, float] | None:
    """(iteration, images per second) of a progress line, None for any other line."""
    match = _PROGRESS.search(line)
    return (int(match.group(1)), float(match.group(4))) if match else None


# ---- the environment line -----------------------------------------------------------------------
_ENVIRONMENT_TAG = "environment:"
_ENVIRONMENT = re.compile(r"environment: (\S.*)$", re.MULTILINE)


def environment_line(facts: dict[str, str]) -> str:
    """``environment: torch=2.4 gpu=NVIDIA_A100 ...``: values have no spaces."""
    return _ENVIRONMENT_TAG + " " + " ".join(f"{k}={str(v).replace(' ', '_')}" for k, v in facts.items())


def read_environment(text: str) -> dict[str, str]:
    """The facts of the first environment line in ``text`` ({} when there is none)."""
    match = _ENVIRONMENT.search(text)
    if not match:
        return {}
    return dict(item.split("=", 1) for item in match.group(1).split() if "=" in item)


# ---- rank lines on stderr -----------------------------------------------------------------------
_RANK_TAG = ":::RANKSTOP"
_RANK = re.compile(re.escape(_RANK_TAG) + r" (\{.*\})")


def rank_stop_line(rank: int, kind: str, reason: str) -> str:
    """One line a rank prints on stderr when it stops without success (JSON after a tag)."""
    return f"{_RANK_TAG} " + json.dumps({"rank": rank, STOP_KIND: kind, STOP_REASON: reason})


def read_rank_stops(text: str) -> list[tuple[int, str, str]]:
    """(rank, kind, reason) of every rank line in ``text``, in order; malformed ones skipped."""
    found = []
    for match in _RANK.finditer(text):
        try:
            data = json.loads(match.group(1))
            found.append((int(data["rank"]), str(data[STOP_KIND]), str(data[STOP_REASON])))
        except (ValueError, KeyError, TypeError):
            continue
    return found


# ---- probe lines ------------------------------------------------------------------------------------
_PROBE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*): (\S.*)$", re.MULTILINE)


def probe_line(key: str, value: object) -> str:
    return f"{key}: {value}"


def read_probe(text: str) -> dict[str, str]:
    """Every ``key: value`` line of a probe's output (the first value of a repeated key)."""
    found: dict[str, str] = {}
    for key, value in _PROBE.findall(text):
        found.setdefault(key, value.strip())
    return found
