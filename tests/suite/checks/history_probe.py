"""A probe for the history tests: it measures nothing, it prints the figures it is given, and
ReFrame judges and stores them as it does the suite's checks. Seconds per session, so a test can
fill a results database with real sessions (``-S given_rate=88`` makes a slower one).

Its references come from ``resources/references`` under the key ``history-probe`` (the test gives
its own with ``ACCEPTANCE_RESOURCES``); the key is logged as ``reference_check``, which is how
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
    reference_check = variable(str, value="history-probe")
    reference_source = variable(str, value="")
    #: the figures to print: a rate (img/s), a time (s) and a time without bounds (ms)
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
        self.executable_opts = [f"rate={self.given_rate} elapsed={self.given_elapsed} latency={self.given_latency}"]

    @sanity_function
    def printed(self):
        return sn.assert_found(r"rate=\S+ elapsed=\S+ latency=\S+", self.stdout)

    def figure(self, name: str):
        return sn.extractsingle(rf"{name}=(\S+)", self.stdout, 1, float)

    @performance_function("img/s")
    def rate(self):
        return self.figure("rate")

    @performance_function("s")
    def elapsed(self):
        return self.figure("elapsed")

    @performance_function("ms")
    def latency(self):
        return self.figure("latency")
