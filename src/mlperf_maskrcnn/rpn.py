"""The region proposal network as the reference trains it: labels, losses and proposals.

Per image, every anchor is matched to the ground truth by "+1" IoU (>= 0.7 positive, < 0.3
negative, each box's best anchors positive too); anchors that cross the image border are then
ignored (STRADDLE_THRESH 0). 256 anchors per image are sampled, half positive at most; the
objectness loss is the binary cross-entropy over them, the box loss smooth-L1 (beta 1/9) over the
positives, summed and divided by the number sampled.

Proposals: per level and image the top ``pre_nms_top_n`` anchors by objectness, decoded (weights
1, 1, 1, 1), clipped, NMS at 0.7 per level. In training the batch keeps its top ``batch_candidates``
over all images and levels (FPN_POST_NMS_TOP_N_TRAIN is per batch); at test time each image keeps
its top ``post_nms_top_n_test``. Ranking is on float32 objectness: under fp16 autocast the head's
logits are fp16, whose many ties would make the top-k arbitrary, so the 1x1 objectness conv is
evaluated once more in float32 (no gradient) for ranking. Logits rank as the reference's sigmoid
scores do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, Matcher
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RPNHead

from . import boxes as box_ops
from .anchors import AnchorGenerator, visible

RPN_BOX_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
RPN_BETA = 1.0 / 9


class ReferenceRPN(nn.Module):
    """RPN head, anchors, training losses and proposal selection (maskrcnn-benchmark's RPNModule)."""

    def __init__(
        self,
        anchor_generator: AnchorGenerator,
        in_channels: int,
        *,
        batch_per_image: int,
        pre_nms_top_n_train: int,
        pre_nms_top_n_test: int,
        post_nms_top_n_test: int,
        batch_candidates: int,
        positive_fraction: float = 0.5,
        fg_iou: float = 0.7,
        bg_iou: float = 0.3,
        nms_thresh: float = 0.7,
        min_size: float = 0.0,
    ) -> None:
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = RankingHead(in_channels, anchor_generator.num_anchors_per_location())
        self.coder = box_ops.BoxCoder(RPN_BOX_WEIGHTS)
        self.matcher = Matcher(fg_iou, bg_iou, allow_low_quality_matches=True)
        self.sampler = BalancedPositiveNegativeSampler(batch_per_image, positive_fraction)
        self.pre_nms_top_n = {"training": pre_nms_top_n_train, "testing": pre_nms_top_n_test}
        self.post_nms_top_n_test = post_nms_top_n_test
        self.batch_candidates = batch_candidates
        self.nms_thresh = nms_thresh
        self.min_size = min_size

    def forward(self, images: ImageList, features: dict[str, Tensor], targets: list[dict] | None = None):
        """Proposals (one [n_i, 4] tensor per image) and, in training, the two RPN losses."""
        levels = list(features.values())
        objectness, deltas, ranking = self.head(levels)
        anchors_per_level = self.anchor_generator([f.shape[-2:] for f in levels])
        counts = [len(a) for a in anchors_per_level]
        anchors = torch.cat(anchors_per_level)
        scores, codes = _flatten(objectness, deltas)
        with torch.no_grad():
            ranks = torch.cat([_per_anchor(r) for r in ranking], 1)
            proposals = self.select(anchors, counts, ranks, codes.detach().float(), images.image_sizes)
        losses: dict[str, Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("the RPN needs targets in training")
            losses = self.loss(anchors, scores, codes, targets, images.image_sizes)
        return proposals, losses

    def labels(
        self, anchors: Tensor, targets: list[dict], image_sizes: box_ops.ImageSizes
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Per image: each anchor's label (1 foreground, 0 background, -1 ignored) and matched box."""
        labels, matched_boxes = [], []
        for target, (height, width) in zip(targets, image_sizes):
            gt = target["boxes"]
            if gt.numel() == 0:
                label = torch.zeros(len(anchors), device=anchors.device)
                matched = anchors
            else:
                matches = self.matcher(box_ops.iou(gt, anchors))
                label = (matches >= 0).to(torch.float32)
                label[matches == Matcher.BELOW_LOW_THRESHOLD] = 0.0
                label[matches == Matcher.BETWEEN_THRESHOLDS] = -1.0
                matched = gt[matches.clamp(min=0)]
            # Anchors crossing the border are ignored after matching, as the reference orders it: a box
            # whose best anchors all straddle the border gets no positive anchor.
            label[~visible(anchors, height, width)] = -1.0
            labels.append(label)
            matched_boxes.append(matched)
        return labels, matched_boxes

    def loss(
        self, anchors: Tensor, scores: Tensor, codes: Tensor, targets: list[dict], image_sizes: box_ops.ImageSizes
    ) -> dict:
        labels, matched_boxes = self.labels(anchors, targets, image_sizes)
        positive, negative = self.sampler(labels)
        positive = torch.nonzero(torch.cat(positive)).squeeze(1)
        negative = torch.nonzero(torch.cat(negative)).squeeze(1)
        sampled = torch.cat([positive, negative])
        # Encoding only the positives gives the same numbers as encoding every anchor.
        regression = self.coder.encode(torch.cat(matched_boxes)[positive], anchors[positive % len(anchors)])
        box_loss = box_ops.smooth_l1_sum(codes.reshape(-1, 4)[positive].float(), regression, RPN_BETA)
        box_loss = box_loss / max(1, sampled.numel())
        objectness_loss = F.binary_cross_entropy_with_logits(
            scores.reshape(-1)[sampled].float(), torch.cat(labels)[sampled]
        )
        return {"loss_objectness": objectness_loss, "loss_rpn_box_reg": box_loss}

    def select(
        self, anchors: Tensor, counts: list[int], scores: Tensor, codes: Tensor, image_sizes: box_ops.ImageSizes
    ) -> list[Tensor]:
        """Proposals per image: per-level top-k, decode, clip, NMS; then the batch or image cut."""
        mode = "training" if self.training else "testing"
        batch = torch.arange(len(scores), device=scores.device)[:, None]
        picked_boxes, picked_scores, picked_levels, start = [], [], [], 0
        for level, count in enumerate(counts):
            top, index = scores[:, start : start + count].topk(min(self.pre_nms_top_n[mode], count), dim=1)
            index = index + start
            decoded = self.coder.decode(codes[batch, index].reshape(-1, 4), anchors[index].reshape(-1, 4))
            picked_boxes.append(decoded.reshape(len(scores), -1, 4))
            picked_scores.append(top)
            picked_levels.append(torch.full((top.shape[1],), level, dtype=torch.int64, device=scores.device))
            start += count
        boxes, ranks, levels = torch.cat(picked_boxes, 1), torch.cat(picked_scores, 1), torch.cat(picked_levels)
        kept_boxes, kept_scores = [], []
        for image_boxes, image_scores, (height, width) in zip(boxes, ranks, image_sizes):
            image_boxes = box_ops.clip(image_boxes, height, width)
            widths, heights = box_ops.sizes(image_boxes)
            keep = torch.nonzero((widths >= self.min_size) & (heights >= self.min_size)).squeeze(1)
            keep = keep[box_ops.nms(image_boxes[keep], image_scores[keep], self.nms_thresh, levels[keep])]
            kept_boxes.append(image_boxes[keep])
            kept_scores.append(image_scores[keep])
        if self.training:
            return _top_over_batch(kept_boxes, kept_scores, self.batch_candidates)
        return [b[s.topk(min(self.post_nms_top_n_test, len(s))).indices] for b, s in zip(kept_boxes, kept_scores)]


class RankingHead(RPNHead):
    """torchvision's RPN head (the reference's: 3x3 conv + ReLU, 1x1 logits and deltas, all N(0, 0.01),
    bias 0) that also returns float32 objectness for ranking proposals."""

    def forward(self, x: list[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:  # type: ignore[override]
        logits, deltas, ranking = [], [], []
        for feature in x:
            t = self.conv(feature)
            logits.append(self.cls_logits(t))
            deltas.append(self.bbox_pred(t))
            if logits[-1].dtype == torch.float32:
                ranking.append(logits[-1].detach())
                continue
            with torch.no_grad(), torch.autocast(t.device.type, enabled=False):
                weight, bias = self.cls_logits.weight.float(), self.cls_logits.bias.float()
                ranking.append(F.conv2d(t.detach().float(), weight, bias))
        return logits, deltas, ranking


def _per_anchor(logits: Tensor) -> Tensor:
    """[N, A, H, W] -> [N, H * W * A], the anchors' (y, x, anchor) order."""
    return logits.permute(0, 2, 3, 1).reshape(len(logits), -1)


def _flatten(objectness: list[Tensor], deltas: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Head outputs as [N, T] logits and [N, T, 4] codes in the anchors' (level, y, x, anchor) order."""
    codes = []
    for regression in deltas:
        n, a4, h, w = regression.shape
        codes.append(regression.view(n, a4 // 4, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4))
    return torch.cat([_per_anchor(o) for o in objectness], 1), torch.cat(codes, 1)


def _top_over_batch(boxes: list[Tensor], scores: list[Tensor], keep: int) -> list[Tensor]:
    """Each image's share of the batch's ``keep`` best proposals (ranked by rank, so ties keep none extra)."""
    flat = torch.cat(scores)
    if flat.numel() <= keep:
        return boxes
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    chosen[flat.topk(keep, sorted=False).indices] = True
    return [b[c] for b, c in zip(boxes, chosen.split([len(s) for s in scores]))]
