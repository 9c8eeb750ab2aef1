"""Distributed inference over the validation set, and the COCO evaluation that overlaps training.

Every rank infers its share of the val images (each image exactly once) with loader workers,
post-processes as the model's own transform does (boxes to the original size; masks pasted by
the reference's method) but on the device with one host sync per image instead of one per mask,
prepares the RLE input there too, and sends its detections to rank 0 only. Rank 0 hands them to
a one-process pool that runs COCOeval while training goes on (``AsyncEvaluator``).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from pycocotools import mask as mask_utils

from . import cocoeval
from .boxes import to_continuous
from .data import CocoDetection, collate

MASK_THRESHOLD = 0.5
# The reference pads each 28x28 mask by one pixel before pasting (Detectron's expand_masks).
MASK_PADDING = 1


@dataclass
class EvalTiming:
    """Seconds spent per part of one rank's inference (the evaluation benchmark reads them)."""

    forward: float = 0.0
    paste: float = 0.0
    encode: float = 0.0
    images: int = 0

    def add(self, other: EvalTiming) -> None:
        self.forward += other.forward
        self.paste += other.paste
        self.encode += other.encode
        self.images += other.images


@dataclass
class Detections:
    results: list[dict] = field(default_factory=list)  # COCO result dicts (bbox + segmentation)
    image_ids: list[int] = field(default_factory=list)  # every image inferred, with or without results


def expand_boxes(boxes: torch.Tensor, scale: float) -> torch.Tensor:
    """Boxes grown about their centres by ``scale`` (the padded mask covers a larger box)."""
    half_w = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale
    half_h = (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    cx = (boxes[:, 2] + boxes[:, 0]) * 0.5
    cy = (boxes[:, 3] + boxes[:, 1]) * 0.5
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1)


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Binary full-image masks (N, H, W, uint8, on the masks' device) from N MxM mask
    probabilities and their boxes, as the reference pastes them: pad by one pixel, grow the box
    to match, resize to the box's integer size ("+1" widths) with bilinear interpolation,
    threshold at 0.5, clip to the image. The box corners reach the host once, for all masks."""
    count = masks.shape[0]
    out = torch.zeros((count, height, width), dtype=torch.uint8, device=masks.device)
    if count == 0:
        return out
    side = masks.shape[-1]
    padded = F.pad(masks.float().reshape(count, 1, side, side), (MASK_PADDING,) * 4)
    corners = expand_boxes(boxes.float(), (side + 2 * MASK_PADDING) / side).to(torch.int64).tolist()
    for i, (x0, y0, x1, y1) in enumerate(corners):
        w, h = max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)
        xa, xb = max(x0, 0), min(x1 + 1, width)
        ya, yb = max(y0, 0), min(y1 + 1, height)
        if xb <= xa or yb <= ya:
            continue
        resized = F.interpolate(padded[i : i + 1], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        out[i, ya:yb, xa:xb] = resized[ya - y0 : yb - y0, xa - x0 : xb - x0] > MASK_THRESHOLD
    return out


def encode_masks(binary: torch.Tensor) -> list[dict]:
    """COCO RLEs of N binary masks. pycocotools wants (H, W, N) in Fortran order, which is the
    memory of an (N, W, H) C-order array: the transpose is made on the masks' device."""
    if binary.shape[0] == 0:
        return []
    host = binary.transpose(1, 2).contiguous().cpu().numpy()
    return mask_utils.encode(host.transpose(2, 1, 0))


def to_coco_results(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, rles: list[dict], image_id: int, category_ids: list[int]
) -> list[dict]:
    """One image's detections as COCO result dicts (xywh boxes, RLE masks as text)."""
    results = []
    for box, score, label, rle in zip(boxes, scores, labels, rles):
        x1, y1, x2, y2 = (float(v) for v in box)
        results.append(
            {
                "image_id": image_id,
                "category_id": category_ids[int(label) - 1],
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "score": float(score),
                "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
            }
        )
    return results


def scale_boxes(boxes: torch.Tensor, resized: tuple[int, int], original: tuple[int, int]) -> torch.Tensor:
    """Boxes from the resized image's coordinates back to the original image's."""
    ratio_h = original[0] / resized[0]
    ratio_w = original[1] / resized[1]
    return boxes * torch.tensor([ratio_w, ratio_h, ratio_w, ratio_h], dtype=boxes.dtype, device=boxes.device)


def val_loader(dataset: CocoDetection, rank: int, world: int, images_per_rank: int, workers: int, pin: bool):
    """This rank's share of the val images (every world-th), in batches, with loader workers."""
    from .stopping import reset_in_child

    return torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, list(range(rank, len(dataset), world))),
        batch_size=max(1, images_per_rank),
        collate_fn=collate,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
        worker_init_fn=reset_in_child if workers > 0 else None,
    )


@torch.no_grad()
def infer(
    model: torch.nn.Module,
    loader,
    category_ids: list[int],
    device: torch.device,
    amp: bool,
    heartbeat: Callable[[str], None] = lambda _: None,
) -> tuple[Detections, EvalTiming]:
    """This rank's detections. The model's own post-processing is bypassed: it pastes masks one
    by one with a host sync each; here boxes and masks are post-processed per image in one go."""
    was_training = model.training
    model.eval()
    found, timing = Detections(), EvalTiming()
    # The timing splits are true only when the device has finished what each part queued.
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    try:
        for images, targets in loader:
            heartbeat("evaluating")
            started = time.perf_counter()
            images = [img.to(device, non_blocking=True).float() for img in images]
            originals = [tuple(img.shape[-2:]) for img in images]
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                batch, _ = model.transform(images)
                features = model.backbone(batch.tensors)
                proposals, _ = model.rpn(batch, features)
                outputs, _ = model.roi_heads(features, proposals, batch.image_sizes)
            sync()
            after_forward = time.perf_counter()
            for output, resized, original, target in zip(outputs, batch.image_sizes, originals, targets):
                t0 = time.perf_counter()
                # The reference's inclusive boxes ("+1" widths) size the pasted masks; the results
                # then carry continuous boxes, whose x2 - x1 is the reference's width.
                boxes = scale_boxes(output["boxes"].float(), resized, original)
                binary = paste_masks(output["masks"], boxes, original[0], original[1])
                sync()
                t1 = time.perf_counter()
                rles = encode_masks(binary)
                found.results += to_coco_results(
                    to_continuous(boxes).cpu().numpy(),
                    output["scores"].float().cpu().numpy(),
                    output["labels"].cpu().numpy(),
                    rles,
                    int(target["image_id"]),
                    category_ids,
                )
                found.image_ids.append(int(target["image_id"]))
                timing.paste += t1 - t0
                timing.encode += time.perf_counter() - t1
            timing.forward += after_forward - started
            timing.images += len(images)
    finally:
        model.train(was_training)
    return found, timing


def gather_to_rank0(found: Detections, rank: int, world: int) -> Detections | None:
    """Every rank's detections on rank 0 (None elsewhere): only rank 0 evaluates."""
    if world == 1:
        return found
    parts: list | None = [None] * world if rank == 0 else None
    dist.gather_object(found, parts, dst=0)
    if rank != 0:
        return None
    merged = Detections()
    for part in parts:
        merged.results += part.results
        merged.image_ids += part.image_ids
    return merged


class AsyncEvaluator:
    """COCOeval in one worker process (spawned, so it imports neither torch nor CUDA).

    The process starts before ``run_start`` and reads nothing; ``load`` (after ``run_start``:
    the clock runs while any part of the system touches the data set) reads the ground truth in
    the background while training starts.
    """

    def __init__(self) -> None:
        self.annotation_file = ""
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self.pool.submit(int).result()  # the worker is up (interpreter and imports), outside the clock

    def load(self, annotation_file: Path) -> None:
        self.annotation_file = str(annotation_file)
        self.pool.submit(cocoeval.preload, self.annotation_file)

    def submit(self, found: Detections) -> Future:
        return self.pool.submit(cocoeval.evaluate, self.annotation_file, found.results, found.image_ids)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
