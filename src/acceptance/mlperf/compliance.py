"""The official MLPerf compliance checker (mlperf-logging, ruleset 0.7.0) on one log.

It runs as a subprocess of the real tool, ``python -m mlperf_logging.compliance_checker``; a
compressed log is decompressed to a temporary file first, since the tool reads plain text. Its
verdict comes with its warnings: ruleset 0.7.0 only warns about a key logged twice with the same
value (``Required EXACTLY_ONE occurrence of 'run_start' but found 2``) and still says SUCCESS,
so the warnings are shown with a passing verdict too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import tools
from .parse import write_plain

RULESET = "0.7.0"


@dataclass
class ComplianceResult:
    path: str
    passed: bool
    messages: list[str] = field(default_factory=list)  # what the checker said (errors, crash, warnings)
    # What it warned about while passing (it logs its errors at WARNING level too: a failed
    # verdict has only messages).
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "passed": self.passed, "messages": self.messages, "warnings": self.warnings}


def check(path: str | Path, ruleset: str = RULESET, timeout_s: float = 300.0) -> ComplianceResult:
    """The checker's verdict on ``path`` (plain, .xz or .gz; relative to the current folder or not)."""
    given = str(path)
    path = Path(path).resolve()  # the tool runs in a temporary folder
    if not path.is_file():
        return ComplianceResult(given, False, [f"{given}: file not found"])
    with tempfile.TemporaryDirectory(prefix="compliance-") as tmp:
        plain = path
        if path.suffix in (".xz", ".gz"):
            plain = Path(tmp) / "result.txt"
            try:
                write_plain(path, plain)
            except ValueError as err:
                why = f"{given}: compressed data is damaged ({err.__cause__}); not checked"
                return ComplianceResult(given, False, [why])
        args = ["--usage", "training", "--ruleset", ruleset, "--log_output", str(Path(tmp) / "checker.log"), str(plain)]
        ran = tools.run("compliance_checker", args, cwd=Path(tmp), timeout_s=timeout_s)
    # "ERROR - FAILED" only repeats the verdict; the lines before it say why.
    messages = [line for line in ran.said if line.strip() != "ERROR - FAILED"]
    if ran.crash:
        messages.append(f"compliance checker crashed: {ran.crash}")
    passed = ran.returncode == 0 and not ran.crash and any(line.strip().endswith("SUCCESS") for line in ran.output)
    return ComplianceResult(given, passed, messages, ran.warnings if passed else [])
