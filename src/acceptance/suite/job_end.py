"""Why a job ended early, from what Slurm, torchrun and the trainer's ranks wrote to its output.

The trainer's own lines are read through ``mlperf_maskrcnn.contract`` (its rank lines); the other
patterns are the launchers' and the scheduler's messages, which this project does not control.
"""

from __future__ import annotations

import re

from mlperf_maskrcnn import contract

_SRUN_TASK = re.compile(r"srun: error: (\S+): task (\d+): (.+)")
_TORCHRUN_RANK = re.compile(r"rank\s*:\s*(\d+) \(local_rank: \d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)")
_TIME_LIMIT = re.compile(r"CANCELLED AT \S+ DUE TO TIME LIMIT|DUE TO TIME LIMIT")
_CANCELLED = re.compile(r"\*\*\* (?:JOB|STEP) \S+ ON \S+ CANCELLED AT \S+(?: DUE TO (.+?))? \*\*\*")


def job_end_reason(text: str) -> str:
    """One sentence naming what ended the job: the time limit, a cancellation, which rank died
    and how, and what each rank that stopped said; 'see the job's output' when nothing is known."""
    reasons = []
    if _TIME_LIMIT.search(text):
        reasons.append("the job's time limit ended it (partial log kept)")
    else:
        cancelled = _CANCELLED.search(text)
        if cancelled:
            reasons.append(f"the job was cancelled ({(cancelled.group(1) or 'scancel').lower()})")
    dead = [f"rank {task} on {node}: {what.strip()}" for node, task, what in _SRUN_TASK.findall(text)]
    dead += [f"rank {rank} exited with {code}" for rank, code in _TORCHRUN_RANK.findall(text)]
    if dead:
        reasons.append("rank(s) died: " + "; ".join(dict.fromkeys(dead)))
    stops = contract.read_rank_stops(text)
    said = [f"rank {rank}: {reason}" for rank, kind, reason in stops if kind != contract.TARGET_MET]
    if said:
        reasons.append("; ".join(dict.fromkeys(said)))
    return "; ".join(reasons) or "see the job's output"
