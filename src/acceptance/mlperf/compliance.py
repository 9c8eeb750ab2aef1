"""The official MLPerf compliance checker (mlperf-logging, ruleset 0.7.0) on one log.

It runs as a subprocess of the real tool, ``python -m mlperf_logging.compliance_checker``; a
compressed log is decompressed to a temporary file first, since the tool reads plain text.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .parse import open_text

RULESET = "0.7.0"


@dataclass
class ComplianceResult:
    path: str
    passed: bool
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "passed": self.passed, "messages": self.messages}


def check(path: str | Path, ruleset: str = RULESET, timeout_s: float = 300.0) -> ComplianceResult:
    path = Path(path)
    if not path.is_file():
        return ComplianceResult(str(path), False, [f"{path}: file not found"])
    with tempfile.TemporaryDirectory(prefix="compliance-") as tmp:
        plain = Path(tmp) / "result.txt"
        if path.suffix in (".xz", ".gz"):
            with open_text(path) as src, plain.open("w") as dst:
                shutil.copyfileobj(src, dst)
        else:
            plain = path
        command = [
            sys.executable,
            "-m",
            "mlperf_logging.compliance_checker",
            "--usage",
            "training",
            "--ruleset",
            ruleset,
            "--log_output",
            str(Path(tmp) / "checker.log"),
            str(plain),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            return ComplianceResult(str(path), False, [f"compliance checker timed out after {timeout_s:.0f}s"])
    output = (done.stdout + done.stderr).splitlines()
    passed = done.returncode == 0 and any(line.strip().endswith("SUCCESS") for line in output)
    # Keep what the checker found (warnings, errors, failed rules), not its progress chatter.
    messages = [
        line.strip() for line in output if line.strip() and not line.startswith(("** Logging output", "INFO - "))
    ]
    return ComplianceResult(str(path), passed, messages)
