"""The local fallback: any host that is no known system (a laptop, CI). No GPU assumed.

Mask R-CNN runs at smoke scale on a synthetic data set, 2 CPU ranks started by torchrun.
Loaded last by config/tara.py, so its catch-all host name never shadows a real system.
"""

import os

from .common import partition

system = {
    "name": "local",
    "descr": "Local fallback: this host, CPU ranks, no scheduler",
    "hostnames": [r".*"],
    "partitions": [
        partition(
            "default",
            "this host",
            ["cpu", "synthetic-data"],
            {"nodes": 1, "cpu_ranks_per_node": 2, "recipes": {"1": "smoke"}},
            scheduler="local",
            launcher="torchrun",
            max_jobs=1,
            processor={"num_cpus": os.cpu_count() or 1},
        )
    ],
}
