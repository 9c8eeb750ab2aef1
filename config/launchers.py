"""A ``torchrun`` launcher for partitions without Slurm (a laptop, a CI host).

Slurm partitions use ``srun``: one task per rank, rank and world from SLURM_* variables. Where
there is no Slurm, torchrun starts ``num_tasks`` ranks on this host and sets RANK/WORLD_SIZE;
if one rank dies it stops the others, so a failure cannot hang.
"""

from reframe.core.backends import register_launcher
from reframe.core.launchers import JobLauncher


@register_launcher("torchrun")
class TorchrunLauncher(JobLauncher):
    def command(self, job):
        return [
            "torchrun",
            "--standalone",
            "--nnodes",
            "1",
            "--nproc-per-node",
            str(job.num_tasks or 1),
            "--no-python",
        ]
