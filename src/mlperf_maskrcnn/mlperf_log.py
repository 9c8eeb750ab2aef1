"""The MLPerf log through ``mlperf_logging.mllog``: rank 0 writes it, to stdout and a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlperf_logging import mllog
from mlperf_logging.mllog import constants


class MLPerfLog:
    """Thin wrapper: no-ops on ranks other than 0, so call sites need no rank checks."""

    def __init__(self, path: str | Path | None, enabled: bool) -> None:
        self.enabled = enabled
        self.logger = mllog.get_mllogger()
        if enabled and path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            mllog.config(filename=str(path), default_stack_offset=2)

    def text(self, line: str) -> None:
        """A plain progress line into the same stream and file (as NVIDIA's result files hold)."""
        if self.enabled:
            self.logger.logger.info(line)

    def event(self, key: str, value: Any = None, **metadata: Any) -> None:
        if self.enabled:
            self.logger.event(key=key, value=value, metadata=metadata or None)

    def start(self, key: str, value: Any = None, **metadata: Any) -> None:
        if self.enabled:
            self.logger.start(key=key, value=value, metadata=metadata or None)

    def end(self, key: str, value: Any = None, **metadata: Any) -> None:
        if self.enabled:
            self.logger.end(key=key, value=value, metadata=metadata or None)


__all__ = ["MLPerfLog", "constants"]
