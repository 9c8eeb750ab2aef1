"""The training run: init, run_start, epochs with overlapped evaluation, run_stop.

Read it top to bottom: ``train(options)`` is the whole MLPerf run. Rank 0 writes the MLPerf log;
every rank trains its share of each global batch; evaluation of epoch N runs while epoch N+1
trains, and the run stops at the first evaluation that meets both targets.
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from . import distributed, evaluate, solver
from . import recipe as recipes
from .data import CocoDetection, CocoPaths, DataError, collate, targets_to
from .mlperf_log import MLPerfLog, constants
from .model import build_model
from .sampler import GroupedEpochSampler
from .weights import load_backbone_weights


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
    submission_org: str = "ThaiSC"
    submission_platform: str | None = None
    submission_status: str = "onprem"
    fault_nan_iter: int | None = None  # fault injection for tests: the loss becomes NaN here


class RunAborted(RuntimeError):
    """The run stops without reaching the target; the message goes to run_stop."""


class ThroughputDone(Exception):
    """A throughput run trained its iterations; it is not an MLPerf result and says so."""

    PREFIX = "throughput mode"


_LOG: MLPerfLog | None = None


def _say(rank: int, text: str) -> None:
    """Rank 0's progress: into the MLPerf log's stream and file, so the log carries timings."""
    if rank != 0:
        return
    if _LOG is not None and _LOG.enabled:
        _LOG.text(text)
    else:
        print(text, flush=True)


def train(options: TrainOptions) -> int:
    """One MLPerf run; returns the process exit code: 0 for a run that met the target (or a
    throughput run that trained its iterations), 2 for one that did not."""
    env = distributed.detect()
    use_cuda = options.device == "cuda" or (options.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", env.local_rank) if use_cuda else torch.device("cpu")
    if options.threads:
        torch.set_num_threads(options.threads)
    global _LOG
    log = _LOG = MLPerfLog(options.log_file, enabled=env.rank == 0)
    recipe = recipes.load(options.recipe)
    if recipe.division == "closed" and env.world != recipe.ranks:
        # The decay steps follow from the global batch: a closed recipe runs only at its scale.
        raise recipes.RecipeError(
            f"recipe {recipe.name} is for {recipe.ranks} ranks ({recipe.nodes} x {recipe.gpus_per_node}); "
            f"this job has {env.world}: choose the recipe for this scale"
        )

    log.event(constants.SUBMISSION_BENCHMARK, constants.MASKRCNN)
    log.event(constants.SUBMISSION_ORG, options.submission_org)
    log.event(constants.SUBMISSION_DIVISION, recipe.division)
    log.event(constants.SUBMISSION_STATUS, options.submission_status)
    log.event(constants.SUBMISSION_PLATFORM, options.submission_platform or recipe.platform or "unknown")
    log.event(constants.CACHE_CLEAR, options.cache_cleared)
    log.start(constants.INIT_START)

    distributed.init(env, use_cuda, options.dist_timeout_s)
    if env.world * recipe.images_per_gpu != recipe.global_batch:
        _say(env.rank, f"note: recipe {recipe.name} is for {recipe.ranks} ranks, running on {env.world}")
    global_batch = env.world * recipe.images_per_gpu
    seed = options.seed if options.seed is not None else _shared_seed(env.world)
    log.event(constants.SEED, seed)
    _seed_everything(seed + env.rank)

    _say(env.rank, f"environment: {_environment(use_cuda, env.world)}")
    model = build_model(recipe)
    if options.weights is not None:
        count = load_backbone_weights(model.backbone.body, options.weights)
        _say(env.rank, f"loaded {count} backbone tensors from {options.weights}")
    model.to(device)
    ddp = model
    if env.world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[env.local_rank] if use_cuda else None)
    optimizer = solver.build_optimizer(model, recipe)
    amp = use_cuda and recipe.dtype == "float16"
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**16, enabled=amp)
    max_iter = options.throughput_iters or options.max_iter or recipe.max_iter

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

    # Fail before run_start on a missing training tree; its annotations are read (and checked)
    # after run_start, where NVIDIA's v0.7 code builds its training data loader too.
    train_paths = CocoPaths(Path(options.data), "train")
    for needed in (train_paths.annotations, train_paths.images):
        if not needed.exists():
            raise DataError(f"{needed} not found (training set of {options.data})")
    val_set = CocoDetection(options.data, "val", train=False)
    evaluator = evaluate.AsyncEvaluator(val_set.paths.annotations) if env.rank == 0 else None
    if evaluator is not None:
        evaluator.warm_up()
    _barrier(env.world)
    log.end(constants.INIT_STOP)

    log.start(constants.RUN_START)
    status, reason = constants.ABORTED, "not started"
    try:
        train_set = CocoDetection(options.data, "train", train=True, min_size=recipe.min_size, max_size=recipe.max_size)
        if len(train_set) < env.world:
            raise DataError(f"{len(train_set)} usable training images cannot feed {env.world} ranks")
        log.event(constants.TRAIN_SAMPLES, len(train_set))
        log.event(constants.EVAL_SAMPLES, len(val_set))
        _say(
            env.rank,
            f"training {len(train_set)} of {train_set.total_images} images (filtered), "
            f"{len(val_set)} val images; {env.world} ranks x {recipe.images_per_gpu} = global batch "
            f"{global_batch}; recipe {recipe.name}; device {device.type}",
        )
        sampler = GroupedEpochSampler(
            [train_set.aspect_group(i) for i in range(len(train_set))], global_batch, env.rank, env.world, seed
        )
        loader = torch.utils.data.DataLoader(
            train_set,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=recipe.dataloader_workers,
            pin_memory=use_cuda,
            persistent_workers=recipe.dataloader_workers > 0,
        )
        state = _Loop(
            options, recipe, env, device, ddp, model, optimizer, scaler, amp, log, evaluator, val_set, max_iter
        )
        status, reason = state.run(loader, sampler)
    except ThroughputDone as done:
        status, reason = constants.ABORTED, str(done)
    except (RunAborted, DataError) as err:
        status, reason = constants.ABORTED, str(err)
    except (RuntimeError, dist.DistBackendError) as err:
        # A collective that failed (a peer rank died or timed out), or another runtime error on
        # this rank (its peers then fail in their next collective). Name it and stop now.
        kind = "distributed failure" if _is_collective_error(err) else "runtime error"
        status, reason = constants.ABORTED, f"{kind} on rank {env.rank}: {_first_line(err)}"
        log.end(constants.RUN_STOP, status=status, reason=reason)
        print(f"rank {env.rank}: {reason}", file=sys.stderr, flush=True)
        if evaluator is not None:
            evaluator.close()
        os._exit(3)  # the process group may be broken: skip its teardown, which could block
    if status != constants.SUCCESS and env.rank != 0:
        # Only rank 0 writes the MLPerf log: say on stderr why this rank stopped (a corrupt image).
        print(f"rank {env.rank}: run aborted: {reason}", file=sys.stderr, flush=True)
    if status == constants.SUCCESS:
        log.end(constants.RUN_STOP, status=status)
    else:
        log.end(constants.RUN_STOP, status=status, reason=reason)
    _say(env.rank, f"run_stop: {status} ({reason})")
    if evaluator is not None:
        evaluator.close()
    distributed.shutdown()
    throughput_done = options.throughput_iters is not None and reason.startswith(ThroughputDone.PREFIX)
    return 0 if status == constants.SUCCESS or throughput_done else 2


class _Loop:
    """Epochs, iterations and the evaluation that overlaps them; all ranks in lock step."""

    def __init__(
        self, options, recipe, env, device, ddp, model, optimizer, scaler, amp, log, evaluator, val_set, max_iter
    ):
        self.options, self.recipe, self.env, self.device = options, recipe, env, device
        self.ddp, self.model, self.optimizer, self.scaler, self.amp = ddp, model, optimizer, scaler, amp
        self.log, self.evaluator, self.val_set, self.max_iter = log, evaluator, val_set, max_iter
        self.iteration = 0
        self.pending = None  # rank 0: Future of the COCOeval in flight
        self.pending_epoch = 0  # all ranks: the epoch whose evaluation is in flight (0: none)
        self.best = (0.0, 0.0, 0)  # best (BBOX, SEGM, epoch) seen, for the abort message
        self.window_start, self.window_images = time.time(), 0

    def run(self, loader, sampler) -> tuple[str, str]:
        epoch = 0
        while True:
            epoch += 1
            sampler.set_epoch(epoch)
            self.log.start(constants.BLOCK_START, first_epoch_num=epoch, epoch_count=1)
            self.log.start(constants.EPOCH_START, epoch_num=epoch)
            met, capped = False, False
            for images, targets in loader:
                if self.iteration >= self.max_iter:
                    capped = True
                    break
                self.iteration += 1
                met = self.step(images, targets, epoch)
                if met:
                    break
            self.log.end(constants.EPOCH_STOP, epoch_num=epoch)
            self.log.end(constants.BLOCK_STOP, first_epoch_num=epoch)
            if met:
                return constants.SUCCESS, f"target met by the evaluation of epoch {self.best[2]}"
            if self.pending_epoch and self.collect_eval():
                return constants.SUCCESS, f"target met by the evaluation of epoch {self.best[2]}"
            if self.options.throughput_iters and self.iteration >= self.max_iter:
                raise ThroughputDone(
                    f"{ThroughputDone.PREFIX}: {self.iteration} iterations trained, no evaluation "
                    "(not a time-to-train result)"
                )
            if capped or self.iteration >= self.max_iter:
                bbox, segm, best_epoch = self.best
                raise RunAborted(
                    f"target not reached within the iteration cap ({self.max_iter}); best BBOX "
                    f"{bbox:.4f} SEGM {segm:.4f} at epoch {best_epoch} (targets "
                    f"{self.recipe.target_bbox}/{self.recipe.target_segm})"
                )
            if not self.options.throughput_iters:
                self.start_eval(epoch)

    def step(self, images, targets, epoch: int) -> bool:
        """One iteration; returns True when an evaluation that finished meets the target."""
        images = [img.to(self.device, non_blocking=True) for img in images]
        targets = targets_to(targets, self.device)
        lr = solver.set_lr(self.optimizer, self.recipe, self.iteration)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
            losses = self.ddp(images, targets)
        names = sorted(losses)
        loss = sum(losses[k] for k in names)
        if self.options.fault_nan_iter == self.iteration:
            loss = loss * float("nan")
        # One collective per iteration carries the loss terms and rank 0's evaluation poll, so every
        # rank sees the same loss (and stops together on NaN) and the same evaluation result.
        done = self.pending is not None and self.pending.done()
        scores = self.pending.result() if done else {"BBOX": 0.0, "SEGM": 0.0}
        vector = torch.tensor(
            [float(loss.detach())]
            + [float(losses[k].detach()) for k in names]
            + [float(done), scores["BBOX"], scores["SEGM"]],
            dtype=torch.float64,
        )
        if self.env.world > 1:
            # Only rank 0 has non-zero evaluation entries, so the sum carries its values.
            dist.all_reduce(vector)
            vector[:-3] /= self.env.world
        total = float(vector[0])
        if not math.isfinite(total):
            raise RunAborted(f"loss became {total} at iteration {self.iteration} (epoch {epoch})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.recipe.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.window_images += self.recipe.images_per_gpu * self.env.world
        if self.iteration % self.options.print_every == 0:
            elapsed = time.time() - self.window_start
            terms = " ".join(f"{k}={float(v):.4f}" for k, v in zip(names, vector[1:-3]))
            _say(
                self.env.rank,
                f"progress: iter {self.iteration}/{self.max_iter} epoch {epoch} loss {total:.4f} "
                f"({terms}) lr {lr:.6f} img/s {self.window_images / max(elapsed, 1e-9):.2f}",
            )
            self.window_start, self.window_images = time.time(), 0
        if float(vector[-3]) > 0:
            return self.finish_eval(float(vector[-2]), float(vector[-1]))
        return False

    def start_eval(self, epoch: int) -> None:
        self.log.start(constants.EVAL_START, epoch_num=epoch)
        started = time.time()
        results, covered = evaluate.infer(
            self.model,
            self.val_set,
            self.env.rank,
            self.env.world,
            max(1, self.recipe.test_batch // max(1, self.recipe.ranks)),
            self.device,
            self.amp,
        )
        results, covered = evaluate.gather_to_rank0(results, covered, self.env.world)
        if self.evaluator is not None:
            self.pending = self.evaluator.submit(results, covered)
        self.pending_epoch = epoch
        _say(
            self.env.rank,
            f"eval: epoch {epoch} inference done in {time.time() - started:.1f}s "
            f"({len(covered)} images, {len(results)} detections); scoring in the background",
        )

    def collect_eval(self) -> bool:
        """Wait for the evaluation in flight; every rank learns its scores. True if target met."""
        scores = self.pending.result() if self.pending is not None else {"BBOX": 0.0, "SEGM": 0.0}
        vector = torch.tensor([scores["BBOX"], scores["SEGM"]], dtype=torch.float64)
        if self.env.world > 1:
            dist.broadcast(vector, src=0)
        return self.finish_eval(float(vector[0]), float(vector[1]))

    def finish_eval(self, bbox: float, segm: float) -> bool:
        epoch = self.pending_epoch
        self.log.event(constants.EVAL_ACCURACY, {"BBOX": bbox, "SEGM": segm}, epoch_num=epoch)
        self.log.end(constants.EVAL_STOP, epoch_num=epoch)
        met = bbox >= self.recipe.target_bbox and segm >= self.recipe.target_segm
        if (bbox, segm) > self.best[:2]:
            self.best = (bbox, segm, epoch)
        _say(
            self.env.rank,
            f"eval: epoch {epoch} BBOX {bbox:.4f} SEGM {segm:.4f} "
            f"(targets {self.recipe.target_bbox}/{self.recipe.target_segm}){' MET' if met else ''}",
        )
        self.pending, self.pending_epoch = None, 0
        if met:
            self.best = (bbox, segm, epoch)
        return met


def _environment(use_cuda: bool, world: int) -> str:
    """Software and devices of this run, one line for the report's "system as run"."""
    import torchvision

    parts = [f"torch={torch.__version__}", f"torchvision={torchvision.__version__}", f"ranks={world}"]
    if use_cuda:
        parts += [
            f"cuda={torch.version.cuda}",
            f"gpu={torch.cuda.get_device_name(0).replace(' ', '_')}",
            f"gpus_per_node={torch.cuda.device_count()}",
            f"driver={_driver_version()}",
        ]
    else:
        parts += ["device=cpu", f"threads={torch.get_num_threads()}"]
    return " ".join(parts)


def _driver_version() -> str:
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


def _is_collective_error(err: BaseException) -> bool:
    if isinstance(err, dist.DistBackendError):
        return True
    text = str(err).lower()
    return any(word in text for word in ("gloo", "nccl", "connection closed", "connection reset", "timed out"))


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _shared_seed(world: int) -> int:
    seed = random.SystemRandom().randrange(2**31)
    if world > 1:
        holder = [seed]
        dist.broadcast_object_list(holder, src=0)
        seed = holder[0]
    return seed


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()
