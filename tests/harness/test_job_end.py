"""Why a job ended, read from its output: Slurm's and torchrun's messages and the trainer's rank lines."""

from __future__ import annotations

import pytest

from acceptance.suite.job_end import job_end_reason
from mlperf_maskrcnn import contract

RANK2_DISTRIBUTED = contract.rank_stop_line(2, contract.DISTRIBUTED_FAILURE, "distributed failure on rank 2: reset")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("srun: error: n3: task 2: Killed\nsrun: error: n1: task 0: Exited with exit code 3", "rank 2 on n3: Killed"),
        (
            "slurmstepd: error: *** JOB 12 ON n1 CANCELLED AT 2026-11-28T10:00:00 DUE TO TIME LIMIT ***",
            "the job's time limit ended it",
        ),
        (
            "slurmstepd: error: *** STEP 12.0 ON n1 CANCELLED AT 2026-11-28T10:00:00 ***",
            "the job was cancelled (scancel)",
        ),
        ("[0]:\n  time      : x\n  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 3)", "rank 1 exited with -9"),
        (f"noise\n{RANK2_DISTRIBUTED}\n", "rank 2: distributed failure on rank 2: reset"),
        (contract.rank_stop_line(0, contract.SETUP_ERROR, "/coco/x.json not found"), "rank 0: /coco/x.json not found"),
        ("nothing useful\nerror: free text the trainer printed for people", "see the job's output"),
    ],
)
def test_job_end_reason_names_rank_time_limit_or_the_ranks_own_words(text, expected):
    assert expected in job_end_reason(text)


def test_a_rank_that_met_the_target_is_not_a_reason():
    assert job_end_reason(contract.rank_stop_line(0, contract.TARGET_MET, "met")) == "see the job's output"
