"""Detectron's RPN anchors: cell anchors per FPN level, their grid, and which lie inside the image.

A level of stride s and size S has one cell anchor per aspect ratio r (height / width), computed as
Detectron's generate_anchors does: start from the window [0, 0, s - 1, s - 1] (centre (s - 1) / 2),
take width round(sqrt(s * s / r)) and height round(width * r) (numpy's rounding, half to even),
scale both by S / s and centre the result, in the inclusive "+1" convention. At stride 4, size 32
that gives [-22, -10, 25, 13], [-14, -14, 17, 17], [-10, -22, 13, 25]. The grid shifts the cell
anchors by multiples of the stride, with no centring offset; per location the anchors keep the
ratio order. An anchor is visible (counts in the RPN loss) when it does not cross the border of
the image before padding (STRADDLE_THRESH 0).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

STRIDES = (4, 8, 16, 32, 64)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
STRADDLE_THRESH = 0.0


def cell_anchors(stride: int, size: float, ratios: tuple[float, ...] = ASPECT_RATIOS) -> Tensor:
    """[len(ratios), 4] anchors of one level around the first grid cell."""
    centre = (stride - 1) / 2.0
    scale = size / stride
    rows = []
    for ratio in ratios:
        base_w = float(round(math.sqrt(stride * stride / ratio)))  # round(): half to even, as numpy
        base_h = float(round(base_w * ratio))
        w, h = base_w * scale, base_h * scale
        rows.append([centre - 0.5 * (w - 1), centre - 0.5 * (h - 1), centre + 0.5 * (w - 1), centre + 0.5 * (h - 1)])
    return torch.tensor(rows, dtype=torch.float32)


def grid_anchors(cells: Tensor, stride: int, grid_h: int, grid_w: int) -> Tensor:
    """[grid_h * grid_w * A, 4]: row-major locations, the A cell anchors at each."""
    xs = torch.arange(0, grid_w * stride, stride, dtype=torch.float32, device=cells.device)
    ys = torch.arange(0, grid_h * stride, stride, dtype=torch.float32, device=cells.device)
    shift_y, shift_x = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=-1).reshape(-1, 1, 4)
    return (shifts + cells.reshape(1, -1, 4)).reshape(-1, 4)


def visible(anchors: Tensor, height: int, width: int, straddle: float = STRADDLE_THRESH) -> Tensor:
    """Anchors that do not cross the border of an image of this size (before padding)."""
    return (
        (anchors[:, 0] >= -straddle)
        & (anchors[:, 1] >= -straddle)
        & (anchors[:, 2] < width + straddle)
        & (anchors[:, 3] < height + straddle)
    )


class AnchorGenerator(nn.Module):
    """The anchors of every FPN level for a batch's padded feature maps (the same for each image)."""

    def __init__(
        self,
        sizes: tuple[float, ...],
        strides: tuple[int, ...] = STRIDES,
        ratios: tuple[float, ...] = ASPECT_RATIOS,
    ) -> None:
        super().__init__()
        if len(sizes) != len(strides):
            raise ValueError(f"one anchor size per FPN level: {len(sizes)} sizes for {len(strides)} strides")
        self.strides = tuple(strides)
        self.ratios = tuple(ratios)
        for level, (stride, size) in enumerate(zip(strides, sizes)):
            # Non-persistent: follows .to(device), stays out of checkpoints, never cast to half.
            self.register_buffer(f"cells{level}", cell_anchors(stride, size, ratios), persistent=False)

    def num_anchors_per_location(self) -> int:
        return len(self.ratios)

    def forward(self, grid_sizes: list[tuple[int, int]]) -> list[Tensor]:
        """Per level, [H * W * A, 4] float32 anchors in the order the RPN head's outputs are read."""
        return [
            grid_anchors(getattr(self, f"cells{level}").float(), stride, int(h), int(w))
            for level, (stride, (h, w)) in enumerate(zip(self.strides, grid_sizes))
        ]
