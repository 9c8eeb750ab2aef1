"""Box arithmetic in the reference's inclusive-pixel ("+1") convention: IoU, NMS, clipping, box coder.

maskrcnn-benchmark, like Detectron, reads a box [x1, y1, x2, y2] as the pixels x1..x2 and y1..y2,
so its width is ``x2 - x1 + 1`` (``TO_REMOVE = 1`` in its code). Every box inside our model follows
that convention: targets, anchors, proposals and detections. Adding 1 to x2 and y2 turns such a
box into a continuous one of the same width and height, so torchvision's NMS applied to the shifted
boxes is exactly the reference's NMS; the model's outputs leave in that continuous form.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.ops import batched_nms

ImageSizes = list[tuple[int, int]]  # (height, width) of each image of a batch, before padding
TO_REMOVE = 1.0
# The reference's cap on predicted log-scale changes (BoxCoder.bbox_xform_clip).
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def sizes(boxes: Tensor) -> tuple[Tensor, Tensor]:
    """(widths, heights) with the +1."""
    return boxes[:, 2] - boxes[:, 0] + TO_REMOVE, boxes[:, 3] - boxes[:, 1] + TO_REMOVE


def area(boxes: Tensor) -> Tensor:
    widths, heights = sizes(boxes)
    return widths * heights


def iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """[N, M] IoU of two box sets, as the reference's boxlist_iou computes it."""
    left = torch.max(boxes1[:, None, 0], boxes2[None, :, 0])
    right = torch.min(boxes1[:, None, 2], boxes2[None, :, 2])
    top = torch.max(boxes1[:, None, 1], boxes2[None, :, 1])
    bottom = torch.min(boxes1[:, None, 3], boxes2[None, :, 3])
    inter = (right - left + TO_REMOVE).clamp_(min=0) * (bottom - top + TO_REMOVE).clamp_(min=0)
    return inter / (area(boxes1)[:, None] + area(boxes2)[None, :] - inter)


def to_continuous(boxes: Tensor) -> Tensor:
    """[x1, y1, x2 + 1, y2 + 1]: the same pixels as a continuous box (torchvision's convention)."""
    return boxes + boxes.new_tensor([0.0, 0.0, TO_REMOVE, TO_REMOVE])


def smooth_l1_sum(input: Tensor, target: Tensor, beta: float) -> Tensor:
    """The reference's smooth-L1 (0.5 x^2 / beta below beta, |x| - beta / 2 above), summed."""
    diff = torch.abs(input - target)
    return torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta).sum()


def nms(boxes: Tensor, scores: Tensor, threshold: float, groups: Tensor) -> Tensor:
    """Indices kept by greedy NMS within each group, by decreasing score (IoU with the +1)."""
    return batched_nms(to_continuous(boxes), scores, groups, threshold)


def clip(boxes: Tensor, height: int, width: int) -> Tensor:
    """Clamp into the image: x in [0, width - 1], y in [0, height - 1] (clip_to_image)."""
    x = boxes[..., 0::2].clamp(min=0, max=width - TO_REMOVE)
    y = boxes[..., 1::2].clamp(min=0, max=height - TO_REMOVE)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


class BoxCoder:
    """The reference's box coder: centre offsets and log-scale changes, weighted, with +1 widths."""

    def __init__(self, weights: tuple[float, float, float, float], clip_log_scale: float = BBOX_XFORM_CLIP) -> None:
        self.weights = tuple(float(w) for w in weights)
        self.clip_log_scale = clip_log_scale

    def encode(self, targets: Tensor, boxes: Tensor) -> Tensor:
        """[N, 4] codes that move ``boxes`` onto ``targets`` (the reference's encode(gt, proposals))."""
        wx, wy, ww, wh = self.weights
        widths, heights = sizes(boxes)
        ctr_x, ctr_y = boxes[:, 0] + 0.5 * widths, boxes[:, 1] + 0.5 * heights
        gt_widths, gt_heights = sizes(targets)
        gt_ctr_x, gt_ctr_y = targets[:, 0] + 0.5 * gt_widths, targets[:, 1] + 0.5 * gt_heights
        return torch.stack(
            (
                wx * (gt_ctr_x - ctr_x) / widths,
                wy * (gt_ctr_y - ctr_y) / heights,
                ww * torch.log(gt_widths / widths),
                wh * torch.log(gt_heights / heights),
            ),
            dim=1,
        )

    def decode(self, codes: Tensor, boxes: Tensor) -> Tensor:
        """Boxes from codes [N, 4k] relative to ``boxes`` [N, 4]; x2 = centre + w/2 - 1 as in the reference."""
        boxes = boxes.to(codes.dtype)
        wx, wy, ww, wh = self.weights
        widths, heights = sizes(boxes)
        ctr_x = (boxes[:, 0] + 0.5 * widths)[:, None]
        ctr_y = (boxes[:, 1] + 0.5 * heights)[:, None]
        dx, dy = codes[:, 0::4] / wx, codes[:, 1::4] / wy
        dw = (codes[:, 2::4] / ww).clamp(max=self.clip_log_scale)
        dh = (codes[:, 3::4] / wh).clamp(max=self.clip_log_scale)
        pred_ctr_x, pred_ctr_y = dx * widths[:, None] + ctr_x, dy * heights[:, None] + ctr_y
        half_w, half_h = 0.5 * torch.exp(dw) * widths[:, None], 0.5 * torch.exp(dh) * heights[:, None]
        x1, y1 = pred_ctr_x - half_w, pred_ctr_y - half_h
        # x2 = centre + w/2 - 1: the reference's asymmetry of inclusive boxes.
        decoded = torch.stack((x1, y1, pred_ctr_x + half_w - TO_REMOVE, pred_ctr_y + half_h - TO_REMOVE), dim=2)
        return decoded.reshape(codes.shape)
