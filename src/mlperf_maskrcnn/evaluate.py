"""Distributed inference over the validation set and the asynchronous COCO evaluation.

Every rank infers its share of the val images (each image exactly once), encodes its masks as
RLE, and rank 0 gathers the detections and hands them to a one-process pool that runs COCOeval
while training goes on (``AsyncEvaluator``).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from pycocotools import mask as mask_utils

from . import cocoeval
from .data import CocoDetection, collate

MASK_THRESHOLD = 0.5


def to_coco_results(output: dict, image_id: int, category_ids: list[int]) -> list[dict]:
    """One image's detections as COCO result dicts (xywh boxes, RLE masks as text)."""
    boxes = output["boxes"].float().cpu().numpy()
    scores = output["scores"].float().cpu().numpy()
    labels = output["labels"].cpu().numpy()
    masks = (output["masks"][:, 0] > MASK_THRESHOLD).cpu().numpy().astype(np.uint8)
    if len(boxes) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
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


@torch.no_grad()
def infer(
    model: torch.nn.Module,
    dataset: CocoDetection,
    rank: int,
    world: int,
    images_per_rank: int,
    device: torch.device,
    amp: bool,
) -> tuple[list[dict], list[int]]:
    """This rank's detections and the image ids it covered."""
    indices = list(range(rank, len(dataset), world))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices),
        batch_size=max(1, images_per_rank),
        collate_fn=collate,
        num_workers=0,
    )
    was_training = model.training
    model.eval()
    results: list[dict] = []
    covered: list[int] = []
    try:
        for images, targets in loader:
            images = [img.to(device, non_blocking=True) for img in images]
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                outputs = model(images)
            for output, target in zip(outputs, targets):
                results.extend(to_coco_results(output, target["image_id"], dataset.category_ids))
                covered.append(target["image_id"])
    finally:
        model.train(was_training)
    return results, covered


def gather_to_rank0(results: list[dict], covered: list[int], world: int) -> tuple[list[dict], list[int]]:
    if world == 1:
        return results, covered
    gathered: list = [None] * world
    dist.all_gather_object(gathered, (results, covered))
    all_results = [r for part, _ in gathered for r in part]
    all_ids = [i for _, ids in gathered for i in ids]
    return all_results, all_ids


class AsyncEvaluator:
    """COCOeval in one worker process (spawned, so it imports neither torch nor CUDA)."""

    def __init__(self, annotation_file: Path) -> None:
        self.annotation_file = str(annotation_file)
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def warm_up(self) -> None:
        """Start the worker and read the ground truth now, during init, not on the clock."""
        self.pool.submit(cocoeval.evaluate, self.annotation_file, [], []).result()

    def submit(self, detections: list[dict], image_ids: list[int]) -> Future:
        return self.pool.submit(cocoeval.evaluate, self.annotation_file, detections, image_ids)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
