"""The shape a log must have before its times can be trusted; each break is a problem naming file and line.

The rules (a log that breaks one is refused: never converged, no time-to-train, no score):

- exactly one ``run_start`` and exactly one ``run_stop``, the stop after the start in the file,
  and a positive time between them;
- the records of the run (``block_*``, ``epoch_*``, ``eval_*``) lie between the two;
- at most one ``eval_accuracy`` per epoch;
- records are in time order, within ``ORDER_TOLERANCE_MS``: each record's ``time_ms`` may be at
  most 1 s earlier than the latest one before it in the file. Several processes write a result
  file (every rank logs its own ``init_start``), so real logs step back a little: across the 75
  published v0.7 Mask R-CNN logs (DellEMC, Fujitsu, Google, NVIDIA, Tencent) the largest step back
  is 459 ms, among the 256 ``init_start`` records of NVIDIA's 32-node DGX A100 runs; every other
  record is in order. 1 s covers that, and shifts a time-to-train by at most 1 s;
- every record has a positive ``time_ms``, except the ``submission_*`` records, which Google's
  v0.7 logs append after ``run_stop`` with ``time_ms`` 0: those carry no time and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from .parse import ParsedLog, Record

ORDER_TOLERANCE_MS = 1000.0
# Records that belong to the timed run: between run_start and run_stop, never outside.
RUN_KEYS = ("block_start", "block_stop", "epoch_start", "epoch_stop", "eval_start", "eval_stop", "eval_accuracy")
UNTIMED_PREFIX = "submission_"
# Enough to say what is wrong; a log broken everywhere would bury the first cause.
MAX_PER_RULE = 5


def problems(log: ParsedLog) -> list[str]:
    """Every break of the rules above, as ``FILE:LINE: what`` (``FILE: what`` when nothing is there)."""
    found = _one_each(log)
    found += _capped(log.path, "records out of time order", _time_order(log))
    found += _capped(log.path, "records outside the run", _outside_run(log))
    found += _capped(log.path, "repeated evaluations", _repeated_evaluations(log))
    return found


def _capped(path: str, what: str, messages: Iterator[str]) -> list[str]:
    listed = list(messages)
    if len(listed) <= MAX_PER_RULE:
        return listed
    return listed[:MAX_PER_RULE] + [f"{path}: ... and {len(listed) - MAX_PER_RULE} more {what}"]


def _one_each(log: ParsedLog) -> list[str]:
    found = []
    for key in ("run_start", "run_stop"):
        records = log.all(key)
        if not records:
            found.append(f"{log.path}: no {key} in the log")
        for extra in records[1:]:
            found.append(
                f"{log.path}:{extra.line}: a second {key} (the first is at line {records[0].line}); "
                "a log holds exactly one"
            )
    starts, stops = log.all("run_start"), log.all("run_stop")
    if len(starts) == 1 and len(stops) == 1:
        start, stop = starts[0], stops[0]
        if stop.line < start.line:
            found.append(f"{log.path}:{stop.line}: run_stop comes before run_start (line {start.line}) in the file")
        seconds = (stop.time_ms - start.time_ms) / 1000.0
        if seconds <= 0:
            when = f"{-seconds:.3f} s before" if seconds < 0 else "at the same time as"
            found.append(
                f"{log.path}:{stop.line}: run_stop is {when} run_start (line {start.line}): "
                "a run must last a positive time"
            )
    return found


def _untimed(record: Record) -> bool:
    return record.key.startswith(UNTIMED_PREFIX) and record.time_ms == 0


def _time_order(log: ParsedLog) -> Iterator[str]:
    latest: Record | None = None
    for record in log.records:
        if _untimed(record):
            continue
        if record.time_ms <= 0:
            yield f"{log.path}:{record.line}: {record.key} has time_ms {record.time_ms:g}, not a time"
            continue
        if latest is not None and record.time_ms < latest.time_ms - ORDER_TOLERANCE_MS:
            back = (latest.time_ms - record.time_ms) / 1000.0
            yield (
                f"{log.path}:{record.line}: {record.key} is {back:.3f} s earlier than {latest.key} at line "
                f"{latest.line}: records may step back at most {ORDER_TOLERANCE_MS / 1000:g} s"
            )
            continue
        if latest is None or record.time_ms > latest.time_ms:
            latest = record


def _outside_run(log: ParsedLog) -> Iterator[str]:
    starts, stops = log.all("run_start"), log.all("run_stop")
    if len(starts) != 1 or len(stops) != 1:
        return  # the count rule has already refused the log; "outside" would have no meaning
    first, last = starts[0].line, stops[0].line
    for record in log.records:
        if record.key in RUN_KEYS and not first < record.line < last:
            yield (
                f"{log.path}:{record.line}: {record.key} lies outside the run "
                f"(run_start at line {first}, run_stop at line {last})"
            )


def _repeated_evaluations(log: ParsedLog) -> Iterator[str]:
    seen: dict[str, int] = {}
    for record in log.all("eval_accuracy"):
        epoch = record.metadata.get("epoch_num")
        if epoch is None:
            continue  # reported by the summary (eval_accuracy lacks epoch_num)
        if repr(epoch) in seen:
            yield (
                f"{log.path}:{record.line}: a second eval_accuracy for epoch {epoch} "
                f"(the first is at line {seen[repr(epoch)]})"
            )
        else:
            seen[repr(epoch)] = record.line
