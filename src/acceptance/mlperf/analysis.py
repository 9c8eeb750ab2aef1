"""One run's figures from its MLPerf log: status, time-to-train, epochs, curve, throughput."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .parse import ParsedLog, Record, parse

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
    status: str  # "success", "aborted" or "incomplete"
    converged: bool  # run_stop success AND an evaluation met both targets
    reason: str
    time_to_train_min: float | None
    epochs_to_target: int | None
    epochs_run: int
    eval_curve: list[EvalPoint] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    init_time_s: float | None = None
    eval_time_s: float | None = None
    train_time_s: float | None = None
    throughput_epoch: float | None = None  # img/s, completed epochs, evaluation excluded
    throughput_iteration: float | None = None  # img/s, steady state from per-iteration lines
    train_images: int | None = None
    problems: list[str] = field(default_factory=list)  # the log is damaged or contradicts itself
    notes: list[str] = field(default_factory=list)  # worth knowing, not a fault

    @property
    def best(self) -> EvalPoint | None:
        points = [p for p in self.eval_curve if p.bbox is not None]
        return max(points, key=lambda p: (p.bbox, p.segm or 0.0)) if points else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        best = self.best
        data["best"] = asdict(best) if best else None
        return data


def summarize(
    source: str | Path | ParsedLog, bbox_target: float = TARGET_BBOX, segm_target: float = TARGET_SEGM
) -> RunSummary:
    log = source if isinstance(source, ParsedLog) else parse(source)
    problems = [str(p) for p in log.problems]
    run_start, run_stop = log.first("run_start"), log.last("run_stop")
    hyper = {key: rec.value for key in HYPERPARAMETER_KEYS if (rec := log.first(key)) is not None}

    curve = _eval_curve(log, run_start, problems)
    first_met = next((p for p in curve if p.meets(bbox_target, segm_target)), None)
    if run_stop is None:
        status, reason = "incomplete", "no run_stop in the log (the run was cut off or is still running)"
    else:
        status = str(run_stop.metadata.get("status", "")).lower() or "unknown"
        reason = str(run_stop.metadata.get("reason", ""))
    if run_start is None:
        problems.append(f"{log.path}: no run_start in the log")
    converged = status == "success" and first_met is not None
    if status == "success" and first_met is None:
        problems.append(
            f"{log.path}: run_stop says success but no evaluation met BBOX {bbox_target} and SEGM {segm_target}"
        )
    if not reason:
        if converged:
            reason = f"target met at epoch {first_met.epoch}"
        elif status == "aborted":
            best = max(curve, key=lambda p: p.bbox or 0.0, default=None)
            reason = "aborted" + (f"; best BBOX {best.bbox} SEGM {best.segm} at epoch {best.epoch}" if best else "")
    ttt = None
    if run_start is not None and run_stop is not None:
        ttt = (run_stop.time_ms - run_start.time_ms) / 60000.0

    summary = RunSummary(
        path=log.path,
        status=status,
        converged=converged,
        reason=reason,
        time_to_train_min=ttt,
        epochs_to_target=first_met.epoch if first_met else None,
        epochs_run=len({r.metadata.get("epoch_num") for r in log.all("epoch_start")}),
        eval_curve=curve,
        hyperparameters=hyper,
        problems=problems,
    )
    _timings(summary, log)
    return summary


def _eval_curve(log: ParsedLog, run_start: Record | None, problems: list[str]) -> list[EvalPoint]:
    curve = []
    for rec in log.all("eval_accuracy"):
        value = rec.value if isinstance(rec.value, dict) else {}
        bbox, segm = value.get("BBOX"), value.get("SEGM")
        for name, got in (("BBOX", bbox), ("SEGM", segm)):
            if got is None:
                problems.append(f"{log.path}:{rec.line}: eval_accuracy lacks {name}")
        epoch = rec.metadata.get("epoch_num")
        if epoch is None:
            problems.append(f"{log.path}:{rec.line}: eval_accuracy lacks metadata epoch_num")
        minutes = (rec.time_ms - run_start.time_ms) / 60000.0 if run_start else None
        curve.append(
            EvalPoint(
                int(epoch) if epoch is not None else len(curve) + 1,
                float(bbox) if bbox is not None else None,
                float(segm) if segm is not None else None,
                minutes,
            )
        )
    return curve


def _intervals(log: ParsedLog, start_key: str, stop_key: str) -> list[tuple[int, float]]:
    """(epoch, seconds) for each start/stop pair matched by epoch_num; unmatched starts dropped."""
    starts = {r.metadata.get("epoch_num"): r.time_ms for r in log.all(start_key)}
    spans = []
    for rec in log.all(stop_key):
        epoch = rec.metadata.get("epoch_num")
        if epoch in starts:
            spans.append((int(epoch), (rec.time_ms - starts[epoch]) / 1000.0))
    return spans


def _timings(summary: RunSummary, log: ParsedLog) -> None:
    init_starts = log.all("init_start")
    init_stop = log.first("init_stop")
    if init_starts and init_stop:
        summary.init_time_s = (init_stop.time_ms - min(r.time_ms for r in init_starts)) / 1000.0
    evals = _intervals(log, "eval_start", "eval_stop")
    summary.eval_time_s = sum(s for _, s in evals) if evals else None
    epochs = _intervals(log, "epoch_start", "epoch_stop")
    summary.train_time_s = sum(s for _, s in epochs) if epochs else None

    samples = summary.hyperparameters.get("train_samples")
    division = summary.hyperparameters.get("submission_division")
    train_images = int(samples) if isinstance(samples, (int, float)) else None
    if division == "closed" and train_images != COCO_TRAIN_FILTERED:
        # NVIDIA's v0.7 code logs its iteration cap as train_samples; a closed run uses all of COCO.
        if train_images is not None:
            summary.notes.append(
                f"{log.path}: train_samples is {train_images}, not COCO's {COCO_TRAIN_FILTERED} "
                "(NVIDIA v0.7 logs its iteration cap there); epoch throughput uses 117266"
            )
        train_images = COCO_TRAIN_FILTERED
    summary.train_images = train_images
    if train_images and summary.train_time_s:
        summary.throughput_epoch = train_images * len(epochs) / summary.train_time_s

    batch = summary.hyperparameters.get("global_batch_size")
    if log.iteration_times and batch:
        # Skip the first window (warm-up, cudnn autotuning): steady state only.
        times = [t for it, t in log.iteration_times if it > log.iteration_times[0][0]] or [
            t for _, t in log.iteration_times
        ]
        summary.throughput_iteration = float(batch) / statistics.median(times)
    elif log.iteration_rates:
        rates = [r for it, r in log.iteration_rates if it > log.iteration_rates[0][0]] or [
            r for _, r in log.iteration_rates
        ]
        summary.throughput_iteration = statistics.median(rates)
