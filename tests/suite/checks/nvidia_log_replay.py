"""STUB for NVIDIA's trainer on GPUs (none here): the Mask R-CNN check's NVIDIA path, with the
job printing one of NVIDIA's published v0.7 result files where the trainer would print its log.

Everything after the job is the real check: its sanity function (run_stop, target, official
compliance checker) and its performance functions against references, as ReFrame runs them.
Only set-up (no GPU nodes, image or checkout here) and the command are replaced. The logs come
from ``ACCEPTANCE_REPLAY_LOGS`` (shared/data/mlperf-v0.7-nvidia-maskrcnn).
"""

import os
import shlex
from pathlib import Path

import reframe as rfm
from reframe.core.backends import getlauncher
from reframe.core.builtins import parameter, run_after, run_before

from acceptance.suite.hooks import Layout
from acceptance.suite.maskrcnn import MaskRCNNTraining

LOGS = Path(os.environ.get("ACCEPTANCE_REPLAY_LOGS", "/nonexistent"))


def _logs(folder: str) -> list[str]:
    return sorted(str(p) for p in (LOGS / folder).glob("result_*.txt.xz")) or ["(no logs found)"]


class _NvidiaLogReplay(MaskRCNNTraining):
    valid_systems = ["local"]
    implementation = parameter(["nvidia-v0.7"])
    mode = parameter(["time-to-train"])
    gpus_per_node = 8

    @run_after("setup")
    def choose_layout(self):
        # The published run's layout; this host only prints its log.
        self.layout = Layout(self.num_nodes, self.gpus_per_node, self.gpus_per_node)
        self.num_tasks = 1

    @run_after("setup")
    def locate_inputs(self):
        if not Path(self.log_file).is_file():
            self.skip_because(f"{self.log_file}: not found (ACCEPTANCE_REPLAY_LOGS)")

    @run_before("run")
    def build_command(self):
        self.job.launcher = getlauncher("local")()
        self.executable = f"xz -dc {shlex.quote(self.log_file)}"


@rfm.simple_test
class Dgx1LogReplay(_NvidiaLogReplay):
    num_nodes = parameter([1])
    log_file = parameter(_logs("dgx1_ngc20.06_pytorch"))
    recipe = "nvidia_dgx1"


@rfm.simple_test
class DgxA100x4LogReplay(_NvidiaLogReplay):
    num_nodes = parameter([4])
    log_file = parameter(_logs("dgxa100_n4_ngc20.06_pytorch"))
    recipe = "nvidia_dgxa100_4x8x4"
