"""What every library test shares: a skip that leaves its reason in the JSON run report."""

from __future__ import annotations

from reframe.core.builtins import variable
from reframe.core.pipeline import RegressionTestPlugin


class ExplainedSkip(RegressionTestPlugin):
    #: why this case was skipped ('' if it was not); ReFrame's JSON report keeps variables, not
    #: skip messages, and a committee reads the report
    skip_reason = variable(str, value="")

    def skip_because(self, why: str) -> None:
        self.skip_reason = why
        self.skip(why)
