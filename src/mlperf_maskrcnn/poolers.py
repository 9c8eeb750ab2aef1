"""RoIAlign over FPN levels P2-P5, each box on the level the FPN paper's rule gives (the reference's Pooler).

Level k = floor(4 + log2(sqrt(area) / 224 + 1e-6)), clamped to 2..5, with the "+1" area; RoIAlign
without the half-pixel offset (aligned=False, as maskrcnn-benchmark's ROIAlign), 2x2 samples per bin.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from . import boxes as box_ops

FPN_SCALES = (1 / 4, 1 / 8, 1 / 16, 1 / 32)
CANONICAL_SCALE = 224
CANONICAL_LEVEL = 4
LEVEL_EPS = 1e-6


def fpn_levels(rois: Tensor, scales: tuple[float, ...] = FPN_SCALES) -> Tensor:
    """0-based index into ``scales`` for each box [R, 4]."""
    k_min = round(-math.log2(scales[0]))
    k_max = round(-math.log2(scales[-1]))
    s = torch.sqrt(box_ops.area(rois))
    levels = torch.floor(CANONICAL_LEVEL + torch.log2(s / CANONICAL_SCALE + LEVEL_EPS))
    return levels.clamp(min=k_min, max=k_max).to(torch.int64) - k_min


class LevelPooler(nn.Module):
    """Pool [R, C, size, size] features for a batch's boxes (one [n_i, 4] tensor per image)."""

    def __init__(self, output_size: int, scales: tuple[float, ...] = FPN_SCALES, sampling_ratio: int = 2) -> None:
        super().__init__()
        self.output_size = output_size
        self.scales = tuple(scales)
        self.sampling_ratio = sampling_ratio

    def forward(self, features: list[Tensor], boxes: list[Tensor]) -> Tensor:
        rois = torch.cat(boxes)
        ids = torch.cat([torch.full((len(b), 1), i, dtype=rois.dtype, device=rois.device) for i, b in enumerate(boxes)])
        rois = torch.cat([ids, rois], dim=1)
        levels = fpn_levels(rois[:, 1:], self.scales)
        first = features[0]
        size = self.output_size
        result = first.new_zeros((len(rois), first.shape[1], size, size))
        for level, (feature, scale) in enumerate(zip(features, self.scales)):
            index = torch.nonzero(levels == level).squeeze(1)
            if index.numel() == 0:
                continue
            pooled = roi_align(feature, rois[index], size, scale, self.sampling_ratio, aligned=False)
            result[index] = pooled.to(result.dtype)
        return result
