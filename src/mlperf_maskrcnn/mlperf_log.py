"""The MLPerf log through ``mlperf_logging.mllog``: rank 0 writes it, to stdout and a file."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mlperf_logging import mllog
from mlperf_logging.mllog import constants

from .contract import Stop


class MLPerfLog:
    """Thin wrapper: no-ops on ranks other than 0, so call sites need no rank checks.

    ``run_stop`` is written once, by whichever comes first: the run's own end, or a signal or
    watchdog thread ending it from outside (``stopping``). Nothing is logged after it.
    """

    def __init__(self, path: str | Path | None, enabled: bool) -> None:
        self.enabled = enabled
        self.logger = mllog.get_mllogger()
        self._lock = threading.RLock()
        self.stopped: Stop | None = None
        if enabled and path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            mllog.config(filename=str(path), default_stack_offset=3)

    def _write(self, method, key: str, value: Any, metadata: dict) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self.stopped is None:
                method(key=key, value=value, metadata=metadata or None)

    def text(self, line: str) -> None:
        """A plain line into the same stream and file (as NVIDIA's result files hold)."""
        if self.enabled:
            with self._lock:
                self.logger.logger.info(line)

    def event(self, key: str, value: Any = None, **metadata: Any) -> None:
        self._write(self.logger.event, key, value, metadata)

    def start(self, key: str, value: Any = None, **metadata: Any) -> None:
        self._write(self.logger.start, key, value, metadata)

    def end(self, key: str, value: Any = None, **metadata: Any) -> None:
        self._write(self.logger.end, key, value, metadata)

    def stop(self, stop: Stop) -> bool:
        """Write ``run_stop`` with the stop's status, kind and reason; False if already written."""
        with self._lock:
            if self.stopped is not None:
                return False
            self.end(constants.RUN_STOP, **stop.metadata())
            self.stopped = stop
            return True


__all__ = ["MLPerfLog", "constants"]
