"""One MLPerf training run, read top to bottom: init, run_start, epochs with overlapped evaluation, run_stop.

``main(options)`` is the whole run. Rank 0 writes the MLPerf log; every rank trains its share of
each global batch; the evaluation of epoch N runs while epoch N+1 trains, and the run stops at
the first evaluation that meets both targets. Below ``main``: one training step, one epoch, and
the evaluation's start and collection, each taking the one ``Run`` object that holds the run.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from . import contract, distributed, evaluate, solver
from . import recipe as recipes
from .contract import Stop
from .data import CocoDetection, CocoPaths, DataError, collate, targets_to
from .mlperf_log import MLPerfLog, constants
from .model import build_model
from .sampler import GroupedBatchStream, aspect_group
from .stopping import EXIT_STUCK, StopGuard, kill_descendants, reset_in_child
from .weights import load_backbone_weights

SUCCESS, ABORTED = constants.SUCCESS, constants.ABORTED
# Under mixed precision a non-finite loss skips the step (the loss scale backs off), as the
# reference's fp16 optimizer does; only a loss that stays non-finite this long ends the run.
NONFINITE_LIMIT = 50
# The reference's dynamic loss scaler: start at 2^16, double after 1000 clean steps, halve on overflow.
LOSS_SCALE = {"init_scale": 2.0**16, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 1000}


@dataclass
class TrainOptions:
    recipe: str
    data: Path
    weights: Path | None
    log_file: Path | None
    seed: int | None = None
    max_iter: int | None = None  # overrides the recipe's cap (tests)
    throughput_iters: int | None = None  # throughput mode: train this many iterations, no evaluation
    print_every: int = 20
    dist_timeout_s: float = 300.0
    cache_cleared: bool = False
    threads: int | None = None
    device: str = "auto"
    channels_last: bool = False
    # Off by default: image shapes and the mask head's ROI count change nearly every iteration, and
    # cuDNN would time its algorithms again for each new shape (benchmarks/gpu/check.sh measures both).
    cudnn_benchmark: bool = False
    submission_org: str = "ThaiSC"
    submission_platform: str | None = None
    submission_status: str = "onprem"
    fault_nan_iter: int | None = None  # fault injection for tests: the loss becomes NaN here


@dataclass
class Run:
    """One training run: its parts, its knobs, and the state the loop advances."""

    recipe: recipes.Recipe
    env: distributed.DistEnv
    device: torch.device
    log: MLPerfLog
    guard: StopGuard
    options: TrainOptions
    model: torch.nn.Module
    ddp: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp: bool
    val_set: CocoDetection
    val_loader: torch.utils.data.DataLoader
    evaluator: evaluate.AsyncEvaluator | None  # rank 0 only
    max_iter: int
    iterations_per_epoch: int
    iteration: int = 0
    best: tuple[float, float, int] = (0.0, 0.0, 0)  # (BBOX, SEGM, epoch), for the abort message
    pending: Future | None = None  # rank 0: the COCOeval in flight
    pending_epoch: int = 0  # every rank: the epoch whose evaluation is in flight (0: none)
    nonfinite: int = 0  # consecutive non-finite losses
    window: list[float] = field(default_factory=lambda: [time.perf_counter(), 0.0])  # start, images

    @property
    def global_batch(self) -> int:
        return self.env.world * self.recipe.images_per_gpu

    @property
    def throughput(self) -> bool:
        return self.options.throughput_iters is not None


def main(options: TrainOptions) -> int:
    """One MLPerf run; returns the exit code: 0 for a run that met the target (or a throughput run
    that trained its iterations), 2 for one that did not, 3 when a rank failed."""
    env = distributed.detect()
    device = distributed.choose_device(options.device, env)
    if options.threads:
        torch.set_num_threads(options.threads)
    log = MLPerfLog(options.log_file, enabled=env.rank == 0)
    recipe = load_recipe(options, env.world)
    guard = StopGuard(lambda stop: report_stop(log, env.rank, stop), env.rank).start()

    log_submission(log, options, recipe)
    log.start(constants.INIT_START)
    distributed.init(env, device, options.dist_timeout_s)
    seed = shared_seed(options.seed, env.world)
    log.event(constants.SEED, seed)
    seed_everything(seed + env.rank)
    log.text(contract.environment_line(environment(device, env.world)))

    model = build_model(recipe)
    if options.weights is not None:
        count = load_backbone_weights(model.backbone.body, options.weights)
        log.text(f"loaded {count} backbone tensors from {options.weights}")
    model.to(device, memory_format=torch.channels_last if options.channels_last else torch.preserve_format)
    torch.backends.cudnn.benchmark = device.type == "cuda" and options.cudnn_benchmark
    ddp = parallel(model, env, device)
    optimizer = solver.build_optimizer(model, recipe, device)
    scheduler = solver.build_scheduler(optimizer, recipe)
    solver.quiet_skipped_first_step()
    amp = device.type == "cuda" and recipe.dtype == "float16"
    scaler = torch.amp.GradScaler(device.type, enabled=amp, **LOSS_SCALE)
    global_batch = env.world * recipe.images_per_gpu
    log_hyperparameters(log, recipe, global_batch)

    # Nothing below run_start may touch the data set (MLPerf's timing rule): only check that the
    # tree is there, without opening a file, and start the evaluator's process empty.
    paths = {split: CocoPaths(Path(options.data), split) for split in ("train", "val")}
    for needed in (p for split in paths.values() for p in (split.annotations, split.images)):
        if not needed.exists():
            raise DataError(f"{needed} not found (data set {options.data})")
    evaluator = evaluate.AsyncEvaluator() if env.rank == 0 else None
    distributed.barrier()
    log.end(constants.INIT_STOP)

    log.start(constants.RUN_START)
    distributed.barrier()  # no rank reads the data set before rank 0 has started the clock
    guard.arm(options.dist_timeout_s)
    try:
        if evaluator is not None:
            evaluator.load(paths["val"].annotations)
        train_set = CocoDetection(options.data, "train", train=True, min_size=recipe.min_size, max_size=recipe.max_size)
        val_set = CocoDetection(options.data, "val", train=False)
        if len(train_set) < env.world:
            raise DataError(f"{len(train_set)} usable training images cannot feed {env.world} ranks")
        log.event(constants.TRAIN_SAMPLES, len(train_set))
        log.event(constants.EVAL_SAMPLES, len(val_set))
        groups = [aspect_group(im["width"], im["height"]) for im in train_set.images]
        stream = GroupedBatchStream(groups, global_batch, env.rank, env.world, seed)
        batches = iter(data_loader(train_set, stream, recipe.dataloader_workers, device))
        per_rank = recipe.test_batch // env.world
        pinned = device.type == "cuda"
        val_loader = evaluate.val_loader(val_set, env.rank, env.world, per_rank, recipe.dataloader_workers, pinned)
        run = Run(
            recipe=recipe, env=env, device=device, log=log, guard=guard, options=options,
            model=model, ddp=ddp, optimizer=optimizer, scheduler=scheduler, scaler=scaler, amp=amp,
            val_set=val_set, val_loader=val_loader, evaluator=evaluator,
            max_iter=options.throughput_iters or options.max_iter or recipe.max_iter,
            iterations_per_epoch=recipes.iterations_per_epoch(len(train_set), global_batch),
        )  # fmt: skip
        log.text(
            f"training {len(train_set)} of {train_set.total_images} images (filtered), {len(val_set)} val images; "
            f"{env.world} ranks x {recipe.images_per_gpu} = global batch {global_batch}, "
            f"{run.iterations_per_epoch} iterations per epoch; recipe {recipe.name}; device {device}"
        )
        stop = train_epochs(run, batches)
    except DataError as err:
        stop = Stop(ABORTED, contract.DATA_ERROR, message_of(err))
    except (RuntimeError, dist.DistBackendError) as err:
        # A collective that failed (a peer died), or an error on this rank (its peers then fail in
        # their next collective). The process group may be broken: do not wait for its teardown.
        kind = contract.DISTRIBUTED_FAILURE if is_collective_error(err) else contract.RUNTIME_ERROR
        end_run(
            log,
            guard,
            env.rank,
            evaluator,
            Stop(ABORTED, kind, f"{kind.replace('_', ' ')} on rank {env.rank}: {message_of(err)}"),
        )
        os._exit(EXIT_STUCK)
    end_run(log, guard, env.rank, evaluator, stop)
    distributed.shutdown()
    return 0 if stop.kind in (contract.TARGET_MET, contract.THROUGHPUT_DONE) else 2


def train_epochs(run: Run, batches) -> Stop:
    """Epochs until the target is met, the iteration cap runs out, or a step fails."""
    for epoch in itertools.count(1):
        stop = train_one_epoch(run, batches, epoch)
        if stop is None and run.pending_epoch:
            stop = collect_eval(run)
        if stop is not None:
            return stop
        if run.iteration >= run.max_iter:
            if run.throughput:
                return Stop(
                    ABORTED,
                    contract.THROUGHPUT_DONE,
                    f"throughput mode: {run.iteration} iterations trained, no evaluation (not a time-to-train result)",
                )
            bbox, segm, best_epoch = run.best
            best = (
                f"best BBOX {bbox:.4f} SEGM {segm:.4f} at epoch {best_epoch}"
                if best_epoch
                else "no evaluation scored above 0"
            )
            return Stop(
                ABORTED,
                contract.ITERATION_CAP,
                f"target not reached within the iteration cap ({run.max_iter}); {best} "
                f"(targets {run.recipe.target_bbox}/{run.recipe.target_segm})",
            )
        if not run.throughput:
            start_eval(run, epoch)
    raise AssertionError("unreachable")


def train_one_epoch(run: Run, batches, epoch: int) -> Stop | None:
    """The reference's epoch: ``iterations_per_epoch`` iterations (fewer at the cap). Returns a
    stop when the run ends inside it (the target met by the evaluation in flight, a bad loss)."""
    run.log.start(constants.BLOCK_START, first_epoch_num=epoch, epoch_count=1)
    run.log.start(constants.EPOCH_START, epoch_num=epoch)
    stop = None
    for _ in range(run.iterations_per_epoch):
        if run.iteration >= run.max_iter:
            break
        images, targets = next(batches)
        run.iteration += 1
        stop = train_step(run, images, targets, epoch)
        if stop is not None:
            break
    run.log.end(constants.EPOCH_STOP, epoch_num=epoch)
    run.log.end(constants.BLOCK_STOP, first_epoch_num=epoch)
    return stop


def train_step(run: Run, images, targets, epoch: int) -> Stop | None:
    """One iteration. One collective carries the loss terms and rank 0's evaluation poll, read on
    the host once, so every rank sees the same loss and stops together on the same result."""
    run.guard.beat(f"training iteration {run.iteration}")
    device = run.device
    images = [img.to(device, non_blocking=True).float() for img in images]
    targets = targets_to(targets, device)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=run.amp):
        losses = run.ddp(images, targets)
    names = sorted(losses)
    loss = sum(losses[k] for k in names)
    if run.options.fault_nan_iter == run.iteration:
        loss = loss * float("nan")
    done = run.pending is not None and run.pending.done()
    scores = run.pending.result() if done else {"BBOX": 0.0, "SEGM": 0.0}
    poll = torch.tensor([float(done), scores["BBOX"], scores["SEGM"]])
    if device.type == "cuda":
        # Pinned and non-blocking: a pageable copy would wait for the whole forward on the stream.
        poll = poll.pin_memory().to(device, non_blocking=True)
    vector = torch.cat([torch.stack([loss.detach().float()] + [losses[k].detach().float() for k in names]), poll])
    if run.env.world > 1:
        # Only rank 0 has non-zero poll entries, so the sum carries its values.
        dist.all_reduce(vector)
        vector[: -len(poll)] /= run.env.world
    run.scaler.scale(loss).backward()
    values = vector.tolist()  # the step's one sync for its losses and poll (the ROI heads copy once more)
    total = values[0]
    if not math.isfinite(total):
        run.nonfinite += 1
        if not run.amp or run.nonfinite >= NONFINITE_LIMIT:
            return Stop(
                ABORTED,
                contract.NONFINITE_LOSS,
                f"loss became {total} at iteration {run.iteration} (epoch {epoch})"
                + (f"; {run.nonfinite} non-finite losses in a row, their steps skipped" if run.amp else ""),
            )
    else:
        run.nonfinite = 0
    if run.recipe.grad_clip_norm:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.recipe.grad_clip_norm)
    run.scaler.step(run.optimizer)  # skipped (and the scale backed off) when gradients overflowed
    run.scaler.update()
    run.optimizer.zero_grad(set_to_none=True)
    run.scheduler.step()
    run.window[1] += run.global_batch
    if run.iteration % run.options.print_every == 0:
        report_progress(run, epoch, total, dict(zip(names, values[1 : 1 + len(names)])))
    if values[-3] > 0:
        return finish_eval(run, values[-2], values[-1])
    return None


def report_progress(run: Run, epoch: int, total: float, terms: dict[str, float]) -> None:
    elapsed = time.perf_counter() - run.window[0]
    rate = run.window[1] / max(elapsed, 1e-9)
    # The LR after the scheduler stepped: what the reference's trainer prints at this iteration.
    lr = run.optimizer.param_groups[0]["lr"]
    run.log.text(contract.progress_line(run.iteration, run.max_iter, epoch, total, terms, lr, rate))
    run.window[:] = [time.perf_counter(), 0.0]


def start_eval(run: Run, epoch: int) -> None:
    """Infer the val set on every rank now; rank 0 scores it in the background."""
    run.log.start(constants.EVAL_START, epoch_num=epoch)
    started = time.perf_counter()
    found, _ = evaluate.infer(run.model, run.val_loader, run.val_set.category_ids, run.device, run.amp, run.guard.beat)
    merged = evaluate.gather_to_rank0(found, run.env.rank, run.env.world)
    if run.evaluator is not None and merged is not None:
        run.pending = run.evaluator.submit(merged)
        run.log.text(
            f"eval: epoch {epoch} inference done in {time.perf_counter() - started:.1f}s "
            f"({len(merged.image_ids)} images, {len(merged.results)} detections); scoring in the background"
        )
    run.pending_epoch = epoch
    run.window[:] = [time.perf_counter(), 0.0]


def collect_eval(run: Run) -> Stop | None:
    """Wait for the evaluation in flight (end of the next epoch); every rank learns its scores."""
    run.guard.beat(f"waiting for the evaluation of epoch {run.pending_epoch}")
    scores = run.pending.result() if run.pending is not None else {"BBOX": 0.0, "SEGM": 0.0}
    vector = torch.tensor([scores["BBOX"], scores["SEGM"]], dtype=torch.float64)
    if run.env.world > 1:
        dist.broadcast(vector, src=0)  # a CPU tensor: the group's gloo side carries it
    return finish_eval(run, float(vector[0]), float(vector[1]))


def finish_eval(run: Run, bbox: float, segm: float) -> Stop | None:
    epoch = run.pending_epoch
    run.log.event(constants.EVAL_ACCURACY, {"BBOX": bbox, "SEGM": segm}, epoch_num=epoch)
    run.log.end(constants.EVAL_STOP, epoch_num=epoch)
    met = bbox >= run.recipe.target_bbox and segm >= run.recipe.target_segm
    if met or (bbox, segm) > run.best[:2]:
        run.best = (bbox, segm, epoch)
    run.log.text(
        f"eval: epoch {epoch} BBOX {bbox:.4f} SEGM {segm:.4f} "
        f"(targets {run.recipe.target_bbox}/{run.recipe.target_segm}){' MET' if met else ''}"
    )
    run.pending, run.pending_epoch = None, 0
    if met:
        return Stop(SUCCESS, contract.TARGET_MET, f"target met by the evaluation of epoch {epoch}")
    return None


# ---- set-up helpers ---------------------------------------------------------------------------------
def load_recipe(options: TrainOptions, world: int) -> recipes.Recipe:
    recipe = recipes.load(options.recipe)
    if recipe.division == "closed" and options.weights is None:
        raise recipes.RecipeError(
            f"recipe {recipe.name} is closed division, which starts from the ImageNet R-50 weights: "
            "--no-weights is for open-division recipes only"
        )
    if recipe.division == "closed" and world != recipe.ranks:
        # The decay steps follow from the global batch: a closed recipe runs only at its scale.
        raise recipes.RecipeError(
            f"recipe {recipe.name} is for {recipe.ranks} ranks ({recipe.nodes} x {recipe.gpus_per_node}); "
            f"this job has {world}: choose the recipe for this scale"
        )
    return recipe


def log_submission(log: MLPerfLog, options: TrainOptions, recipe: recipes.Recipe) -> None:
    log.event(constants.SUBMISSION_BENCHMARK, constants.MASKRCNN)
    log.event(constants.SUBMISSION_ORG, options.submission_org)
    log.event(constants.SUBMISSION_DIVISION, recipe.division)
    log.event(constants.SUBMISSION_STATUS, options.submission_status)
    log.event(constants.SUBMISSION_PLATFORM, options.submission_platform or recipe.platform or "unknown")
    log.event(constants.CACHE_CLEAR, options.cache_cleared)


def log_hyperparameters(log: MLPerfLog, recipe: recipes.Recipe, global_batch: int) -> None:
    log.event(constants.GLOBAL_BATCH_SIZE, global_batch)
    log.event(constants.NUM_IMAGE_CANDIDATES, recipe.num_image_candidates)
    log.event(constants.OPT_NAME, "sgd_with_momentum")
    log.event(constants.OPT_BASE_LR, recipe.base_lr)
    log.event(constants.OPT_LR_WARMUP_STEPS, recipe.warmup_iters)
    log.event(constants.OPT_LR_WARMUP_FACTOR, recipe.warmup_factor)
    log.event(constants.OPT_LR_DECAY_FACTOR, recipe.decay_factor)
    log.event(constants.OPT_LR_DECAY_STEPS, list(recipe.decay_steps))
    log.event(constants.MIN_IMAGE_SIZE, recipe.min_size)
    log.event(constants.MAX_IMAGE_SIZE, recipe.max_size)


def parallel(model: torch.nn.Module, env: distributed.DistEnv, device: torch.device) -> torch.nn.Module:
    """DDP over the ranks. Every trainable parameter takes part in every step (the graph is
    static), and gradients can live in the all-reduce buckets (no copy, less memory)."""
    if env.world == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        gradient_as_bucket_view=True,
        static_graph=True,
    )


def data_loader(dataset: CocoDetection, stream: GroupedBatchStream, workers: int, device: torch.device):
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=stream,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        worker_init_fn=reset_in_child if workers > 0 else None,
    )


def environment(device: torch.device, world: int) -> dict[str, str]:
    """Software and devices of this run, for the report's "system as run"."""
    import torchvision

    facts = {"torch": torch.__version__, "torchvision": torchvision.__version__, "ranks": str(world)}
    if device.type == "cuda":
        facts.update(
            cuda=str(torch.version.cuda),
            gpu=torch.cuda.get_device_name(device),
            gpus_per_node=str(torch.cuda.device_count()),
            driver=driver_version(),
        )
    else:
        facts.update(device="cpu", threads=str(torch.get_num_threads()))
    return facts


def driver_version() -> str:
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return "unknown"
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.split()[0] if done.returncode == 0 and done.stdout.split() else "unknown"


def shared_seed(requested: int | None, world: int) -> int:
    """The run's seed: the one given, else drawn by rank 0 and shared (every rank logs the same)."""
    seed = requested if requested is not None else random.SystemRandom().randrange(2**31)
    if requested is None and world > 1:
        holder = [seed]
        dist.broadcast_object_list(holder, src=0)
        seed = holder[0]
    return seed


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---- ending -----------------------------------------------------------------------------------------
def report_stop(log: MLPerfLog, rank: int, stop: Stop) -> None:
    """run_stop in rank 0's log; other ranks, which write no log, say on stderr why they stopped."""
    log.stop(stop)
    log.text(f"run_stop: {stop.status} ({stop.reason})")
    if rank != 0 and stop.kind not in (contract.TARGET_MET, contract.THROUGHPUT_DONE):
        print(contract.rank_stop_line(rank, stop.kind, stop.reason), file=sys.stderr, flush=True)


def end_run(log: MLPerfLog, guard: StopGuard, rank: int, evaluator, stop: Stop) -> None:
    guard.close()
    report_stop(log, rank, stop)
    if evaluator is not None:
        evaluator.close()
    kill_descendants()  # loader workers and the evaluator: nothing outlives the run


def is_collective_error(err: BaseException) -> bool:
    if isinstance(err, dist.DistBackendError):
        return True
    text = str(err).lower()
    return any(word in text for word in ("gloo", "nccl", "connection closed", "connection reset", "timed out"))


def message_of(err: BaseException) -> str:
    """One line: the error's own message (for a loader worker's error, the original one)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if any("Original Traceback" in line for line in lines):
        # DataLoader re-raises a worker's error with its traceback: the last line is the message.
        last = lines[-1]
        return last.split(": ", 1)[1] if ": " in last and last.split(": ", 1)[0].endswith("Error") else last
    return lines[0]
