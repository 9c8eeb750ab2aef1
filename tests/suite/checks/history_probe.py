"""A probe for the history tests: it measures nothing, it prints the figures it is given, and
ReFrame judges and stores them as it does the suite's checks. Seconds per session, so a test can
fill a results database with real sessions (``-S given_rate=88`` makes a slower one).

It reports the Mask R-CNN check's figures (throughput img/s, eval_time s, projected_time_to_train
min), so its references are ``maskrcnn`` entries of ``resources/references`` (the test gives its
own with ``ACCEPTANCE_RESOURCES``); the key is logged as ``reference_check``, which is how
``acceptance history`` finds the same entry again.
"""

import reframe as rfm
import reframe.utility.sanity as sn
from reframe.core.backends import getlauncher
from reframe.core.builtins import parameter, performance_function, run_after, run_before, sanity_function, variable

from acceptance.suite import references


@rfm.simple_test
class HistoryProbe(rfm.RunOnlyRegressionTest):
    valid_systems = ["local"]
    valid_prog_environs = ["+maskrcnn"]
    mode = parameter(["throughput"])
    #: the key of its entries in resources/references (logged; read back by `acceptance history`)
    reference_check = variable(str, value="maskrcnn")
    reference_source = variable(str, value="")
    #: the figures to print: a throughput (img/s), a time (s) and a time without bounds (min)
    given_rate = variable(float, value=100.0)
    given_elapsed = variable(float, value=10.0)
    given_latency = variable(float, value=5.0)
    executable = "echo"

    @run_after("setup")
    def set_references(self):
        found = references.find(self.reference_check, self.current_partition.fullname, mode=self.mode)
        self.require_reference = True
        self.reference = found.for_reframe() if found else {}
        self.reference_source = found.source if found else "none"

    @run_before("run")
    def print_figures(self):
        # One process on this host: the partition's torchrun launcher is for the trainer.
        self.job.launcher = getlauncher("local")()
        figures = {"throughput": self.given_rate, "eval_time": self.given_elapsed}
        figures["projected_time_to_train"] = self.given_latency
        self.executable_opts = [" ".join(f"{k}={v}" for k, v in figures.items())]

    @sanity_function
    def printed(self):
        return sn.assert_found(r"throughput=\S+ eval_time=\S+ projected_time_to_train=\S+", self.stdout)

    def figure(self, name: str):
        return sn.extractsingle(rf"{name}=(\S+)", self.stdout, 1, float)

    @performance_function("img/s")
    def throughput(self):
        return self.figure("throughput")

    @performance_function("s")
    def eval_time(self):
        return self.figure("eval_time")

    @performance_function("min")
    def projected_time_to_train(self):
        return self.figure("projected_time_to_train")
