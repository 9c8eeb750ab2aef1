"""Ends a run that cannot end itself: a SIGTERM, or a rank stuck in a collective.

The main thread may be blocked in C code (a collective waiting for a dead peer), where Python
signal handlers never run. So a small thread does the stopping: the signal's C handler wakes it
through ``signal.set_wakeup_fd``, and it also watches a heartbeat that the training and
evaluation loops update. Either way it writes ``run_stop`` (rank 0) or the rank's stop line,
ends every child process (loader workers, the evaluator and its children), and exits.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .contract import DISTRIBUTED_FAILURE, TERMINATED, Stop

# What a shell reports for a process ended by SIGTERM; the launcher passes it on.
EXIT_TERMINATED = 128 + signal.SIGTERM
EXIT_STUCK = 3


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first level first), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces and parentheses: the fields after the last ')'.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def _is_resource_tracker(pid: int) -> bool:
    try:
        return b"multiprocessing.resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def kill_descendants() -> None:
    """SIGKILL every process this one started, grandchildren included (nothing may outlive the run).

    Python's resource tracker is spared: it ends by itself once the last process that uses it is
    gone, and killing it early makes the remaining clean-up print tracebacks.
    """
    for pid in descendants(os.getpid()):
        if _is_resource_tracker(pid):
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def reset_in_child(_worker_id: int | None = None) -> None:
    """For worker processes forked from the trainer (a DataLoader's ``worker_init_fn``): default
    SIGTERM, no inherited wake-up pipe."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class StopGuard:
    """Calls ``on_stop(stop)`` once, from its own thread, then exits the process.

    ``start()`` (main thread) installs the SIGTERM wake-up; ``arm(timeout_s)`` starts watching the
    heartbeat (``beat()``), ``disarm()`` stops watching (the run ends by itself from there).
    """

    def __init__(self, on_stop: Callable[[Stop], None], rank: int) -> None:
        self.on_stop = on_stop
        self.rank = rank
        self.timeout_s: float | None = None
        self.last_beat = time.monotonic()
        self.what = "starting"
        self._lock = threading.Lock()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._thread = threading.Thread(target=self._watch, name="stop-guard", daemon=True)

    def start(self) -> StopGuard:
        # A Python-level handler must exist for the wake-up byte to be written; it does nothing:
        # the thread acts, even while the main thread is blocked.
        signal.signal(signal.SIGTERM, lambda *_: None)
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        self._thread.start()
        return self

    def beat(self, what: str) -> None:
        """The loop made progress; ``what`` says where it is, for the message if it stalls."""
        self.last_beat = time.monotonic()
        self.what = what

    def arm(self, timeout_s: float) -> None:
        self.beat("armed")
        self.timeout_s = timeout_s

    def disarm(self) -> None:
        self.timeout_s = None

    def close(self) -> None:
        """The run ends by itself from here: the guard may no longer act (waits if it is acting)."""
        self.timeout_s = None
        self._lock.acquire()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _watch(self) -> None:
        while True:
            ready, _, _ = select.select([self._read_fd], [], [], 1.0)
            if ready:
                signals = os.read(self._read_fd, 64)
                if signal.SIGTERM in signals:
                    self._stop(
                        Stop("aborted", TERMINATED, f"terminated by SIGTERM (rank {self.rank})"), EXIT_TERMINATED
                    )
            timeout = self.timeout_s
            if timeout is not None and time.monotonic() - self.last_beat > timeout:
                self._stop(
                    Stop(
                        "aborted",
                        DISTRIBUTED_FAILURE,
                        f"rank {self.rank} made no progress for {timeout:.0f} s while {self.what}: a collective "
                        "waited for a peer rank that died or hung",
                    ),
                    EXIT_STUCK,
                )

    def _stop(self, stop: Stop, code: int) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            self.on_stop(stop)
        finally:
            kill_descendants()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
