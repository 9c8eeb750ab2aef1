"""STUB for NVIDIA's trainer on GPUs (none here): the Mask R-CNN check's NVIDIA path, with the
job printing one of NVIDIA's published v0.7 result files where the trainer would print its log.

Everything after the job is the real check: its sanity function (run_stop, target, official
compliance checker) and its performance functions against references, as ReFrame runs them, and
the real set test scoring the five runs (``run_index`` 0..4 print ``result_0`` .. ``result_4``).
Only set-up (no GPU nodes, image or checkout here) and the command are replaced. The logs come
from ``ACCEPTANCE_REPLAY_LOGS`` (shared/data/mlperf-v0.7-nvidia-maskrcnn). The DGX-1 runs and their
score are judged against the reference of ``tara:dgx`` in resources/references (the system they
stand for); the 4x DGX A100 ones against the references of the partition they run on. The names
start with MaskRCNN, as the suite's checks do: the acceptance report reads their MLPerf logs.
"""

import os
import shlex
from pathlib import Path

import reframe as rfm
from reframe.core.backends import getlauncher
from reframe.core.builtins import parameter, run_after, run_before, variable
from reframe.core.pipeline import RegressionTestPlugin

from acceptance.suite import references
from acceptance.suite.hooks import Layout
from acceptance.suite.maskrcnn import MaskRCNNTraining
from acceptance.suite.mlperf_set import MaskRCNNScore

LOGS = Path(os.environ.get("ACCEPTANCE_REPLAY_LOGS", "/nonexistent"))


class _JudgedAs(RegressionTestPlugin):
    """Judge against another system's reference entry (``judged_as``), keyed to this partition."""

    #: system:partition whose reference entry applies ('': this partition's own)
    judged_as = variable(str, value="")

    @run_after("setup")
    def use_that_systems_reference(self):
        if not self.judged_as:
            return
        found = references.find(
            "maskrcnn", self.judged_as, nodes=self.num_nodes, implementation=self.implementation, mode=self.mode
        )
        self.reference = {self.current_partition.fullname: dict(found.perf)} if found else {}
        self.reference_source = f"{self.judged_as}: {found.source}" if found else "none"


class _NvidiaLogReplay(MaskRCNNTraining):
    valid_systems = ["local"]
    implementation = parameter(["nvidia-v0.7"])
    mode = parameter(["time-to-train"])
    gpus_per_node = 8
    runs = 5
    #: the published result file this run prints (result_<run_index>)
    log_file = variable(str, value="")

    @run_after("init")
    def pick_log(self):
        self.log_file = str(LOGS / self.folder / f"result_{self.run_index}.txt.xz")

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
class MaskRCNNReplayDgx1(_JudgedAs, _NvidiaLogReplay):
    num_nodes = parameter([1])
    folder = "dgx1_ngc20.06_pytorch"
    recipe = "nvidia_dgx1"
    judged_as = "tara:dgx"


@rfm.simple_test
class MaskRCNNReplayDgx1Score(_JudgedAs, MaskRCNNScore):
    run_test = MaskRCNNReplayDgx1
    judged_as = "tara:dgx"


@rfm.simple_test
class MaskRCNNReplayA100x4(_NvidiaLogReplay):
    num_nodes = parameter([4])
    folder = "dgxa100_n4_ngc20.06_pytorch"
    recipe = "nvidia_dgxa100_4x8x4"


@rfm.simple_test
class MaskRCNNReplayA100x4Score(MaskRCNNScore):
    run_test = MaskRCNNReplayA100x4
