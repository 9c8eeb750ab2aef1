"""The CI cluster: a real Slurm 22.05 with 4 simulated nodes n[1-4] on one host (no GPU).

Brought up by ``tests/suite/cluster/slurm_up.sh``; selected explicitly with ``--system ci-cluster``
(its host is also the local fallback's, so it is never picked by host name).
"""

import os

from .common import partition

system = {
    "name": "ci-cluster",
    "descr": "Slurm 22.05, 4 simulated nodes on one host (tests/suite/cluster)",
    "hostnames": [r"^\b$"],  # never matches: select with --system ci-cluster
    "partitions": [
        partition(
            "debug",
            "4 simulated CPU nodes, one rank per node",
            ["cpu", "synthetic-data"],
            {
                "nodes": 4,
                "cpu_ranks_per_node": 1,
                # The 4 simulated nodes share the host's cores: one torch thread per rank, or
                # 4 ranks x 2 threads would oversubscribe 2 cores fourfold.
                "threads_per_rank": 1,
                "recipes": {"1": "smoke_1rank", "2": "smoke", "4": "smoke_4ranks"},
            },
            # 'slurm' needs accounting (slurmdbd), 'squeue' does not; the bring-up script says which.
            scheduler=os.environ.get("ACCEPTANCE_CI_SCHEDULER", "slurm"),
            access=["-p debug"],
            sched_options={"use_nodes_option": True},
            processor={"num_cpus": 2},
        )
    ],
}
