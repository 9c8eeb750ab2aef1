"""The local fallback: any host that is no known system (a laptop, CI). No GPU assumed.

Mask R-CNN runs at smoke scale on a synthetic data set, 2 CPU ranks started by torchrun.
"""

import os

system = {
    "name": "local",
    "descr": "Local fallback: this host, CPU ranks, no scheduler",
    "hostnames": [r".*"],
    "partitions": [
        {
            "name": "default",
            "descr": "this host",
            "scheduler": "local",
            "launcher": "torchrun",
            "environs": ["maskrcnn"],
            "max_jobs": 1,
            "features": ["cpu", "synthetic-data"],
            "processor": {"num_cpus": os.cpu_count() or 1},
            "extras": {"nodes": 1, "cpu_ranks_per_node": 2, "recipes": {"1": "smoke"}},
        }
    ],
}
