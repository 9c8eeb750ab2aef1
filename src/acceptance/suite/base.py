"""What every library test of the suite shares: skips that keep their reason, and the reference's source."""

from __future__ import annotations

from pathlib import Path

from reframe.core.builtins import variable
from reframe.core.pipeline import RegressionTestPlugin


class SuiteTest(RegressionTestPlugin):
    #: why this case was skipped ('' if it was not); ReFrame's JSON report keeps variables, not
    #: skip messages, and a committee reads the report
    skip_reason = variable(str, value="")
    #: where the reference bounds come from (set from resources/references; logged)
    reference_source = variable(str, value="")
    #: the check's key in resources/references (logged: ``acceptance history`` finds its entry by it)
    reference_check = variable(str, value="")
    #: "not an MLPerf result: ..." for a run on SYNTHETIC data or an open-division recipe ('' when it
    #: can be one): the report and the perflog carry it
    banner = variable(str, value="")

    def skip_because(self, why: str) -> None:
        self.skip_reason = why
        self.skip(why)

    def data_folder(self, value: str, what: str) -> str:
        """``value`` if it is a folder, else a skip naming the path and what it should hold."""
        if not value:
            self.skip_because(f"no {what} for {self.current_partition.fullname} (see README, 'Adding a system')")
        if not Path(value).is_dir():
            self.skip_because(f"data set folder {value} not found ({what}; see README, 'Running on TARA')")
        return value
