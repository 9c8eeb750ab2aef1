"""One run's figures from its MLPerf log: status, time-to-train, epochs, curve, throughput."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlperf_maskrcnn import contract

from . import integrity
from .parse import ParsedLog, Record, is_number, parse

TARGET_BBOX = 0.377
TARGET_SEGM = 0.339
# COCO train2017 after the reference's filter: a closed-division run trains on exactly these.
COCO_TRAIN_FILTERED = 117266

HYPERPARAMETER_KEYS = (
    "submission_benchmark",
    "submission_org",
    "submission_division",
    "submission_status",
    "submission_platform",
    "seed",
    "global_batch_size",
    "num_image_candidates",
    "opt_name",
    "opt_base_learning_rate",
    "opt_learning_rate_warmup_steps",
    "opt_learning_rate_warmup_factor",
    "opt_learning_rate_decay_factor",
    "opt_learning_rate_decay_steps",
    "min_image_size",
    "max_image_size",
    "train_samples",
    "eval_samples",
)


@dataclass(frozen=True)
class EvalPoint:
    epoch: int
    bbox: float | None
    segm: float | None
    minutes: float | None  # since run_start

    def meets(self, bbox_target: float = TARGET_BBOX, segm_target: float = TARGET_SEGM) -> bool:
        return self.bbox is not None and self.segm is not None and self.bbox >= bbox_target and self.segm >= segm_target


@dataclass
class RunSummary:
    path: str
    status: str  # what run_stop says: "success" or "aborted"; "incomplete" without run_stop
    converged: bool  # run_stop success AND an evaluation met both targets AND no problem
    reason: str
    time_to_train_min: float | None  # run_start to run_stop; None without them or when refused
    epochs_to_target: int | None
    epochs_run: int  # epochs started (epoch_start records, else block_start ranges)
    eval_curve: list[EvalPoint] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    init_time_s: float | None = None
    eval_time_s: float | None = None
    train_time_s: float | None = None
    throughput_epoch: float | None = None  # img/s, completed epochs, evaluation excluded
    throughput_iteration: float | None = None  # img/s, steady state from per-iteration lines
    train_images: int | None = None
    # The log is damaged, forged or contradicts itself: it is refused (never converged, no
    # time-to-train, no score), whatever else it says.
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not a fault
    digest: str = ""  # sha256 of the log's text: the same log twice in a set is found by it
    # The bundled trainer's kind of stop (mlperf_maskrcnn.contract.STOP_KINDS); '' for other trainers.
    stop_kind: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.problems)

    @property
    def best(self) -> EvalPoint | None:
        points = [p for p in self.eval_curve if p.bbox is not None]
        return max(points, key=lambda p: (p.bbox, p.segm or 0.0)) if points else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        best = self.best
        data["best"] = asdict(best) if best else None
        data["refused"] = self.refused
        return data


# run_stop statuses as the logs write them; Google's v0.7 logs say "abort".
_STATUSES = {"success": "success", "aborted": "aborted", "abort": "aborted"}
NO_REASON = "(no reason given)"


def summarize(
    source: str | Path | ParsedLog, bbox_target: float = TARGET_BBOX, segm_target: float = TARGET_SEGM
) -> RunSummary:
    log = source if isinstance(source, ParsedLog) else parse(source)
    problems = [str(p) for p in log.problems] + integrity.problems(log)
    run_start, run_stop = log.first("run_start"), log.last("run_stop")
    hyper = {key: rec.value for key in HYPERPARAMETER_KEYS if (rec := log.first(key)) is not None}

    curve = _eval_curve(log, run_start, problems)
    first_met = next((p for p in curve if p.meets(bbox_target, segm_target)), None)
    status, reason = _stop(log, run_stop, problems)
    if status == "success" and first_met is None:
        problems.append(
            f"{log.path}: run_stop says success but no evaluation met BBOX {bbox_target} and SEGM {segm_target}"
        )
    converged = status == "success" and first_met is not None and not problems
    if problems and status == "success":
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        reason = f"log refused: {problems[0]}{more}"
    elif not reason:
        reason = _default_reason(status, converged, first_met, curve)
    ttt = None
    if not problems and run_start is not None and run_stop is not None:
        ttt = (run_stop.time_ms - run_start.time_ms) / 60000.0

    summary = RunSummary(
        path=log.path,
        status=status,
        converged=converged,
        reason=reason,
        time_to_train_min=ttt,
        epochs_to_target=first_met.epoch if first_met else None,
        epochs_run=_epochs_run(log),
        eval_curve=curve,
        hyperparameters=hyper,
        problems=problems,
        digest=log.digest,
        stop_kind=str(run_stop.metadata.get(contract.STOP_KIND, "")) if run_stop is not None else "",
    )
    _timings(summary, log)
    return summary


def _stop(log: ParsedLog, run_stop: Record | None, problems: list[str]) -> tuple[str, str]:
    """(status, reason) as run_stop gives them."""
    if run_stop is None:
        return "incomplete", "no run_stop in the log (the run was cut off or is still running)"
    written = run_stop.metadata.get("status")
    if written is None:
        problems.append(f"{log.path}:{run_stop.line}: run_stop lacks metadata status")
    status = str(written or "unknown").lower()
    return _STATUSES.get(status, status), str(run_stop.metadata.get("reason") or "")


def _default_reason(status: str, converged: bool, first_met: EvalPoint | None, curve: list[EvalPoint]) -> str:
    if converged and first_met is not None:
        return f"target met at epoch {first_met.epoch}"
    best = max(curve, key=lambda p: p.bbox or 0.0, default=None)
    if status == "aborted" and best is not None:
        return f"{NO_REASON}; best BBOX {best.bbox} SEGM {best.segm} at epoch {best.epoch}"
    return NO_REASON


def _epochs_run(log: ParsedLog) -> int:
    """Epochs started: epoch_start's epoch_num, else the ranges block_start records open (Google's
    v0.7 logs have blocks only: first_epoch_num from 0, epoch_count epochs each)."""
    epochs = {repr(r.metadata.get("epoch_num")) for r in log.all("epoch_start")}
    if epochs:
        return len(epochs)
    covered: set[int] = set()
    for block in log.all("block_start"):
        first, count = block.metadata.get("first_epoch_num"), block.metadata.get("epoch_count", 1)
        if _is_int(first) and _is_int(count) and 0 < count <= MAX_BLOCK_EPOCHS:
            covered.update(range(first, first + count))
    return len(covered)


# More epochs than any Mask R-CNN run trains: a block claiming more is not believed.
MAX_BLOCK_EPOCHS = 1000


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ap(value: object) -> bool:
    """An average precision: a number in [0, 1] (a smoke run on easy synthetic data may reach 1)."""
    return is_number(value) and 0.0 <= value <= 1.0


def _eval_curve(log: ParsedLog, run_start: Record | None, problems: list[str]) -> list[EvalPoint]:
    curve = []
    for rec in log.all("eval_accuracy"):
        value = rec.value if isinstance(rec.value, dict) else {}
        scores = {}
        for name in ("BBOX", "SEGM"):
            got = value.get(name)
            if got is None:
                problems.append(f"{log.path}:{rec.line}: eval_accuracy lacks {name}")
            elif not _ap(got):
                problems.append(f"{log.path}:{rec.line}: eval_accuracy {name} {got!r} is not an AP in [0, 1]")
            else:
                scores[name] = float(got)
        epoch = rec.metadata.get("epoch_num")
        if not _is_int(epoch):
            problems.append(f"{log.path}:{rec.line}: eval_accuracy lacks an integer metadata epoch_num")
        minutes = (rec.time_ms - run_start.time_ms) / 60000.0 if run_start else None
        curve.append(
            EvalPoint(epoch if _is_int(epoch) else len(curve) + 1, scores.get("BBOX"), scores.get("SEGM"), minutes)
        )
    return curve


def _intervals(log: ParsedLog, start_key: str, stop_key: str, by: str) -> list[tuple[Record, float]]:
    """(start record, seconds) for each start/stop pair matched by the integer metadata ``by``;
    unmatched starts are dropped."""
    starts = {r.metadata.get(by): r for r in log.all(start_key) if _is_int(r.metadata.get(by))}
    spans = []
    for rec in log.all(stop_key):
        start = starts.get(rec.metadata.get(by)) if _is_int(rec.metadata.get(by)) else None
        if start is not None:
            spans.append((start, (rec.time_ms - start.time_ms) / 1000.0))
    return spans


def _training_spans(log: ParsedLog) -> tuple[int, float | None]:
    """(epochs timed, seconds training): epoch intervals, else block intervals (Google's v0.7 logs)."""
    epochs = _intervals(log, "epoch_start", "epoch_stop", "epoch_num")
    if epochs:
        return len(epochs), sum(s for _, s in epochs)
    blocks = _intervals(log, "block_start", "block_stop", "first_epoch_num")
    counts = [start.metadata.get("epoch_count", 1) for start, _ in blocks]
    if not blocks or not all(_is_int(c) and 0 < c <= MAX_BLOCK_EPOCHS for c in counts):
        return 0, None
    return sum(counts), sum(s for _, s in blocks)


def _timings(summary: RunSummary, log: ParsedLog) -> None:
    init_starts = log.all("init_start")
    init_stop = log.first("init_stop")
    if init_starts and init_stop:
        summary.init_time_s = (init_stop.time_ms - min(r.time_ms for r in init_starts)) / 1000.0
    evals = _intervals(log, "eval_start", "eval_stop", "epoch_num")
    summary.eval_time_s = sum(s for _, s in evals) if evals else None
    epochs_timed, summary.train_time_s = _training_spans(log)

    samples = summary.hyperparameters.get("train_samples")
    division = summary.hyperparameters.get("submission_division")
    train_images = int(samples) if is_number(samples) and samples > 0 else None
    if division == "closed" and train_images != COCO_TRAIN_FILTERED:
        # NVIDIA's v0.7 code logs its iteration cap as train_samples; a closed run uses all of COCO.
        if train_images is not None:
            summary.notes.append(
                f"{log.path}: train_samples is {train_images}, not the {COCO_TRAIN_FILTERED} images a closed "
                f"run trains on (NVIDIA's v0.7 code logs its iteration cap there); epoch throughput uses "
                f"{COCO_TRAIN_FILTERED}"
            )
        train_images = COCO_TRAIN_FILTERED
    summary.train_images = train_images
    if train_images and summary.train_time_s and summary.train_time_s > 0:
        summary.throughput_epoch = train_images * epochs_timed / summary.train_time_s

    batch = summary.hyperparameters.get("global_batch_size")
    if log.iteration_times and is_number(batch) and batch > 0:
        # Skip the first window (warm-up, cudnn autotuning): steady state only.
        times = [t for it, t in log.iteration_times if it > log.iteration_times[0][0]] or [
            t for _, t in log.iteration_times
        ]
        median = statistics.median(times)
        summary.throughput_iteration = float(batch) / median if median > 0 else None
    elif log.iteration_rates:
        rates = [r for it, r in log.iteration_rates if it > log.iteration_rates[0][0]] or [
            r for _, r in log.iteration_rates
        ]
        summary.throughput_iteration = statistics.median(rates)
