"""Mask R-CNN's mask targets: each instance's polygons cropped to its proposal and rasterised at 28x28.

The reference (maskrcnn-benchmark's project_masks_on_boxes) takes the ground-truth polygons of the
instance a positive proposal matched, shifts them by the proposal's corner (x1, y1), scales them by
M / w and M / h with w = x2 - x1 and h = y2 - y1 (at least 1; no "+1" here) and rasterises them
with pycocotools at M x M: binary targets. NVIDIA's CUDA kernel does the same on the GPU. We do it
on the CPU with the same pycocotools calls, in float32 as the reference's tensors are.

An instance whose annotation is RLE (COCO writes RLE only for crowd regions, which the training
targets leave out; the reference cannot read a non-crowd RLE at all) carries its bitmask at the
training image's size instead. Its target is that bitmask cropped and resized to M x M by RoIAlign
(continuous coordinates, 2x2 samples per bin) and thresholded at 0.5: binary too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import Tensor
from torchvision.ops import roi_align

Polygons = list  # one instance: a list of flat float32 arrays [x0, y0, x1, y1, ...]


class InstanceMasks:
    """The segmentations of one training image's instances, in the image's (resized, flipped) pixels.

    Each instance is a list of polygons (flat float32 xy arrays) or a uint8 bitmask [H, W].
    """

    def __init__(self, instances: Sequence[Polygons | np.ndarray]) -> None:
        self.instances = list(instances)

    def __len__(self) -> int:
        return len(self.instances)

    def __repr__(self) -> str:
        kinds = sum(1 for i in self.instances if isinstance(i, np.ndarray))
        return f"InstanceMasks({len(self)} instances, {kinds} as bitmasks)"

    def targets(self, boxes: Tensor, index: Tensor, size: int) -> Tensor:
        """[K, size, size] float32 binary targets of instance ``index[k]`` inside proposal ``boxes[k]``."""
        boxes = boxes.detach().to("cpu", torch.float32)
        out = np.zeros((len(boxes), size, size), dtype=np.float32)
        owners = index.tolist()
        polygon_rows = [k for k, i in enumerate(owners) if not isinstance(self.instances[i], np.ndarray)]
        if polygon_rows:
            rows = np.array(polygon_rows)
            out[rows] = rasterise([self.instances[owners[k]] for k in polygon_rows], boxes[rows].numpy(), size)
        bitmask_rows = [k for k, i in enumerate(owners) if isinstance(self.instances[i], np.ndarray)]
        if bitmask_rows:
            rows = np.array(bitmask_rows)
            out[rows] = _bitmask_targets([self.instances[owners[k]] for k in bitmask_rows], boxes[rows], size)
        return torch.from_numpy(out)


def rasterise(instances: list[Polygons], boxes: np.ndarray, size: int) -> np.ndarray:
    """[K, size, size]: instance k's polygons, cropped to ``boxes[k]`` (x1, y1, x2, y2), rasterised.

    One pycocotools call rasterises every polygon of the batch; then each instance's parts are merged.
    Polygons have at least 3 points (``data`` drops shorter ones, which pycocotools would read as boxes).
    """
    boxes = boxes.astype(np.float32)
    # float32 like the reference's tensors; each ratio in double, as its float(M) / float(w) is.
    spans = np.maximum(boxes[:, 2:] - boxes[:, :2], np.float32(1)).astype(np.float64)
    scales = (float(size) / spans).astype(np.float32)
    scaled, parts = [], []
    for k, polygons in enumerate(instances):
        parts.append(len(polygons))
        for poly in polygons:
            p = np.array(poly, dtype=np.float32)
            p[0::2] = (p[0::2] - boxes[k, 0]) * scales[k, 0]
            p[1::2] = (p[1::2] - boxes[k, 1]) * scales[k, 1]
            scaled.append(p.astype(np.float64))
    out = np.zeros((len(instances), size, size), dtype=np.float32)
    if not scaled:
        return out
    rles = mask_utils.frPyObjects(scaled, size, size)
    merged, drawn, start = [], [], 0
    for k, count in enumerate(parts):
        if count:  # an instance without any outline keeps an empty target
            merged.append(mask_utils.merge(rles[start : start + count]) if count > 1 else rles[start])
            drawn.append(k)
        start += count
    out[drawn] = mask_utils.decode(merged).transpose(2, 0, 1)
    return out


def _bitmask_targets(bitmasks: list[np.ndarray], boxes: Tensor, size: int) -> np.ndarray:
    """RLE-sourced instances: RoIAlign of each full-image bitmask in its box, thresholded at 0.5."""
    out = np.empty((len(bitmasks), size, size), dtype=np.float32)
    for k, (bitmask, box) in enumerate(zip(bitmasks, boxes)):
        image = torch.from_numpy(np.ascontiguousarray(bitmask)).to(torch.float32)[None, None]
        rois = torch.cat([box.new_zeros(1), box])[None]
        out[k] = (roi_align(image, rois, (size, size), 1.0, sampling_ratio=2, aligned=True)[0, 0] >= 0.5).numpy()
    return out
