"""Project a v0.7 score (olympic mean of 5 runs, minutes) from the first minutes of one run's log.

The model of a run that reaches the target after E evaluations (NVIDIA's v0.7 code and the
bundled trainer alike: training pauses for the evaluation's inference after every epoch, the
COCO scoring overlaps the next epoch, and the run stops when the target epoch's result arrives)::

    T = B + E * (N / R) * (1 + a) + E * G + C

- B: run_start to the first epoch_start, measured in the window;
- R: the steady-state training rate (img/s) of the window's iteration lines (the first line,
  warm-up, left out), N the training images (117,266 in a closed COCO run);
- E: the RCP mean epochs at the log's global batch (``rcp.at``), or given;
- a: the time an epoch takes beyond N / R, as a fraction (epoch starts, slower later epochs);
- G: the training pause of one evaluation: the mean of the window's pauses (epoch_stop to the
  next epoch_start) where it holds one, else b * V / R with V the evaluation images (5,000);
- C: the target evaluation's scoring after its pause, and the stop.

a, b and C were fitted (medians) on the 45 published v0.7 runs of nine systems that use NVIDIA's
code, other than the two whose logs the project ships (which validate it): DellEMC DSS8440,
Fujitsu GX V100, Tencent GN10X, NVIDIA DGX-2H (1, 4, 16 nodes) and DGX A100 (1, 2, 32 nodes).
R in the fit was read as here, from each run's first 10 minutes. ``benchmarks/projection_fit.py``
refits them; ``benchmarks/RESULTS.md`` has the errors.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import rcp
from .analysis import COCO_TRAIN_FILTERED
from .parse import ParsedLog, Record, is_number, parse

DEFAULT_MINUTES = 10.0
COCO_VAL_IMAGES = 5000
# Fitted on the 45 runs named in the module docstring (benchmarks/projection_fit.py, 10-minute window).
EPOCH_OVERHEAD = 0.0215  # a: median of 0.0135..0.0385
EVAL_PAUSE_FACTOR = 2.97  # b: median of 2.33..4.16
LAST_EVAL_S = 16.0  # C: median of 7..28 s


@dataclass
class Window:
    """What a log held ``minutes`` after its run_start."""

    path: str
    minutes: float | None  # asked for; None: the whole log
    used_min: float  # from run_start to the last record or iteration line inside the window
    batch: int
    train_images: int
    eval_images: int
    rates: list[float]  # img/s of the iteration lines inside the window, in order
    startup_s: float  # run_start to the first epoch_start
    pauses_s: list[float]  # epoch_stop to the next epoch_start, inside the window


@dataclass
class Projection:
    path: str
    minutes: float | None
    used_min: float
    batch: int
    rate: float  # steady-state img/s
    epochs: float
    epochs_from: str
    startup_s: float
    epoch_s: float  # N / R * (1 + a)
    eval_pause_s: float  # G
    eval_pause_from: str  # "measured (n pauses)" or "modelled"
    tail_s: float  # C
    projected_min: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def formula(self) -> str:
        return (
            f"{self.startup_s:.1f} s + {self.epochs:.2f} x ({self.epoch_s:.1f} s + {self.eval_pause_s:.1f} s) "
            f"+ {self.tail_s:.1f} s = {self.projected_min:.2f} min"
        )


def _value(log: ParsedLog, key: str):
    record = log.first(key)
    return record.value if record is not None else None


def _sizes(log: ParsedLog) -> tuple[int, int, int]:
    """(global batch, training images, evaluation images): a closed run trains on all of COCO."""
    batch = _value(log, "global_batch_size")
    if not (is_number(batch) and batch > 0):
        raise ValueError(f"{log.path}: no global_batch_size before the window's end")
    if _value(log, "submission_division") == "closed":
        return int(batch), COCO_TRAIN_FILTERED, COCO_VAL_IMAGES
    train, val = _value(log, "train_samples"), _value(log, "eval_samples")
    if not (is_number(train) and train > 0):
        raise ValueError(f"{log.path}: an open-division log without train_samples: its epoch length is unknown")
    return int(batch), int(train), int(val) if is_number(val) and val > 0 else COCO_VAL_IMAGES


def _by_epoch(records: list[Record]) -> dict[int, float]:
    return {r.metadata["epoch_num"]: r.time_ms for r in records if isinstance(r.metadata.get("epoch_num"), int)}


def _placed_rates(log: ParsedLog, batch: int, train_images: int) -> list[tuple[float, float]]:
    """(time_ms, img/s) of every iteration line: an iteration sits in its epoch (N / batch
    iterations each) in proportion to its place there, between the epoch's start and stop, or
    after the start at the line's own rate while the epoch is still running."""
    starts, stops = _by_epoch(log.all("epoch_start")), _by_epoch(log.all("epoch_stop"))
    per_epoch = train_images / batch
    lines = [(it, batch / s) for it, s in log.iteration_times if s > 0] + list(log.iteration_rates)
    placed = []
    for iteration, rate in lines:
        epoch = int((iteration - 1) // per_epoch) + 1
        if epoch not in starts or rate <= 0:
            continue
        into = iteration - (epoch - 1) * per_epoch
        if epoch in stops:
            time_ms = starts[epoch] + (stops[epoch] - starts[epoch]) * into / per_epoch
        else:
            time_ms = starts[epoch] + into * batch / rate * 1000.0
        placed.append((time_ms, rate))
    return placed


def window(source: str | Path | ParsedLog, minutes: float | None = DEFAULT_MINUTES) -> Window:
    """The part of a log written within ``minutes`` of its run_start (None: all of it); a log
    whose window is damaged, or holds no training yet, raises ``ValueError`` naming the file."""
    log = source if isinstance(source, ParsedLog) else parse(source)
    starts = log.all("run_start")
    if len(starts) != 1:
        # A file not found or not readable says so; else the count is what is wrong.
        raise ValueError(
            str(log.problems[0]) if log.problems and not starts
            else f"{log.path}: {len(starts)} run_start records; a log of one run has exactly one"
        )  # fmt: skip
    run_start = starts[0].time_ms
    end = run_start + minutes * 60000.0 if minutes is not None else float("inf")
    inside = [r for r in log.records if r.time_ms <= end]
    last_line = max(r.line for r in inside)
    damaged = [str(p) for p in log.problems if p.line <= last_line]
    if damaged:
        raise ValueError(f"{damaged[0]} (within the window: no projection from a damaged log)")
    cut = ParsedLog(log.path, inside)  # the records of the window; the lines are placed from the whole log
    batch, train_images, eval_images = _sizes(cut)
    epoch_starts, epoch_stops = _by_epoch(cut.all("epoch_start")), _by_epoch(cut.all("epoch_stop"))
    span = f"within {minutes:g} min of run_start" if minutes is not None else "in the log"
    if not epoch_starts:
        raise ValueError(f"{log.path}: no epoch started {span}")
    placed = [(t, r) for t, r in _placed_rates(log, batch, train_images) if t <= end]
    if not placed:
        raise ValueError(f"{log.path}: no training progress lines {span}")
    pauses = [(epoch_starts[e + 1] - stop) / 1000.0 for e, stop in sorted(epoch_stops.items()) if e + 1 in epoch_starts]
    latest = max(max(r.time_ms for r in inside), placed[-1][0])
    return Window(
        path=log.path,
        minutes=minutes,
        used_min=(latest - run_start) / 60000.0,
        batch=batch,
        train_images=train_images,
        eval_images=eval_images,
        rates=[r for _, r in placed],
        startup_s=(min(epoch_starts.values()) - run_start) / 1000.0,
        pauses_s=pauses,
    )


def steady_rate(rates: list[float]) -> float:
    """The median rate without the first line (warm-up), as ``analysis`` reads a whole log."""
    return statistics.median(rates[1:] or rates)


def project(
    source: str | Path | ParsedLog,
    minutes: float | None = DEFAULT_MINUTES,
    epochs: float | None = None,
    ruleset: str = rcp.RULESET,
) -> Projection:
    """The projected v0.7 score from the first ``minutes`` of a log (module docstring); ``epochs``
    replaces the RCP's (needed where no RCP applies: an open-division run, a batch above the
    table). Raises ``ValueError`` naming the file when the log cannot be projected."""
    seen = window(source, minutes)
    notes = []
    if epochs is None:
        if seen.train_images != COCO_TRAIN_FILTERED:
            raise ValueError(
                f"{seen.path}: not a closed COCO run (training set {seen.train_images} images): no RCP applies; "
                "give the epochs it needs"
            )
        found = rcp.at(seen.batch, ruleset)
        if found is None:
            raise ValueError(f"{seen.path}: no MLPerf RCP at global batch {seen.batch}: give the epochs it needs")
        epochs, epochs_from = found.mean, f"MLPerf training {ruleset} RCP, {found.how}"
    else:
        epochs_from = "given"
    rate = steady_rate(seen.rates)
    if seen.pauses_s:
        pause, pause_from = statistics.fmean(seen.pauses_s), f"measured ({len(seen.pauses_s)} evaluation pause(s))"
    else:
        pause, pause_from = EVAL_PAUSE_FACTOR * seen.eval_images / rate, f"modelled: {EVAL_PAUSE_FACTOR} x V / R"
    if len(seen.rates) < 3:
        notes.append(f"only {len(seen.rates)} iteration line(s) in the window: the rate is rough")
    epoch_s = seen.train_images / rate * (1.0 + EPOCH_OVERHEAD)
    total_s = seen.startup_s + epochs * (epoch_s + pause) + LAST_EVAL_S
    return Projection(
        path=seen.path,
        minutes=minutes,
        used_min=seen.used_min,
        batch=seen.batch,
        rate=rate,
        epochs=epochs,
        epochs_from=epochs_from,
        startup_s=seen.startup_s,
        epoch_s=epoch_s,
        eval_pause_s=pause,
        eval_pause_from=pause_from,
        tail_s=LAST_EVAL_S,
        projected_min=total_s / 60.0,
        notes=notes,
    )
