"""A ``torchrun`` launcher for partitions without Slurm (a laptop, a CI host).

Slurm partitions use ``srun``: one task per rank, rank and world from SLURM_* variables. Where
there is no Slurm, torchrun starts ``num_tasks`` ranks on this host and sets RANK/WORLD_SIZE;
if one rank dies it stops the others, so a failure cannot hang. It is started through the
suite's own interpreter (``python -m torch.distributed.run``, what the ``torchrun`` script runs),
so the job needs no activated virtual environment.
"""

import sys

from reframe.core.backends import register_launcher
from reframe.core.launchers import JobLauncher


@register_launcher("torchrun")
class TorchrunLauncher(JobLauncher):
    def command(self, job):
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nnodes",
            "1",
            "--nproc-per-node",
            str(job.num_tasks or 1),
            "--no-python",
        ]
