"""The box and mask heads as the reference trains and runs them (maskrcnn-benchmark's ROI heads).

Training: the ground-truth boxes join each image's proposals; each is matched by "+1" IoU (>= 0.5
foreground, else background); 512 per image are sampled, a quarter foreground at most. Box head:
RoIAlign 7x7 on P2-P5, fc6 and fc7 (1024, ReLU), class scores and class-specific box deltas
(weights 10, 10, 5, 5). Losses: cross-entropy over the sampled ROIs; smooth-L1 with beta 1 over the
foreground ROIs' deltas of their class, summed and divided by the number of sampled ROIs. Mask head
on the sampled foreground ROIs: RoIAlign 14x14, four 3x3 convs (256, ReLU), a 2x2 deconv and 1x1
logits per class at 28x28; binary cross-entropy against the polygon targets (``mask_targets``) on
the ROI's class channel, averaged over every pixel.

Test: softmax scores, per-class decoded boxes clipped to the image, score > 0.05, NMS 0.5 per class,
then the 100 best of the image (ties at the cut kept, as the reference's kthvalue threshold does);
mask probabilities of each detection's class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler, Matcher

from . import boxes as box_ops
from .mask_targets import InstanceMasks
from .poolers import LevelPooler

BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
BOX_BETA = 1.0
FPN_LEVELS = ("0", "1", "2", "3")  # P2-P5; P6 feeds only the RPN


def box_head_loss(
    class_logits: Tensor, box_regression: Tensor, labels: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor]:
    """(classification, box) losses of the sampled ROIs; ``targets`` are the codes of every ROI."""
    classification = F.cross_entropy(class_logits, labels)
    positive = torch.nonzero(labels > 0).squeeze(1)
    deltas = box_regression.reshape(len(box_regression), -1, 4)[positive, labels[positive]]
    box = box_ops.smooth_l1_sum(deltas, targets[positive], BOX_BETA)
    return classification, box / max(1, labels.numel())


def mask_head_loss(mask_logits: Tensor, labels: Tensor, mask_targets: Tensor) -> Tensor:
    """Binary cross-entropy of each ROI's class channel against its 28x28 target, mean over pixels."""
    if mask_targets.numel() == 0:
        return mask_logits.sum() * 0
    chosen = mask_logits[torch.arange(len(labels), device=labels.device), labels]
    return F.binary_cross_entropy_with_logits(chosen, mask_targets)


def _instance_masks(target: dict) -> InstanceMasks:
    masks = target.get("masks")
    if not isinstance(masks, InstanceMasks):
        raise TypeError(
            f"target 'masks' must be mask_targets.InstanceMasks (polygons per instance), got {type(masks).__name__}"
        )
    return masks


class ReferenceRoIHeads(nn.Module):
    """Sampling, box head, mask head, their losses and the test-time detections."""

    def __init__(
        self,
        box_head: nn.Module,
        box_predictor: nn.Module,
        mask_head: nn.Module,
        mask_predictor: nn.Module,
        *,
        batch_per_image: int,
        detections_per_image: int,
        positive_fraction: float = 0.25,
        fg_iou: float = 0.5,
        bg_iou: float = 0.5,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.5,
        mask_resolution: int = 28,
    ) -> None:
        super().__init__()
        self.box_pooler = LevelPooler(7)
        self.box_head = box_head
        self.box_predictor = box_predictor
        self.mask_pooler = LevelPooler(14)
        self.mask_head = mask_head
        self.mask_predictor = mask_predictor
        self.coder = box_ops.BoxCoder(BOX_WEIGHTS)
        self.matcher = Matcher(fg_iou, bg_iou, allow_low_quality_matches=False)
        self.sampler = BalancedPositiveNegativeSampler(batch_per_image, positive_fraction)
        self.detections_per_image = detections_per_image
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.mask_resolution = mask_resolution

    def forward(
        self,
        features: dict[str, Tensor],
        proposals: list[Tensor],
        image_sizes: box_ops.ImageSizes,
        targets: list[dict] | None = None,
    ):
        levels = [features[k] for k in FPN_LEVELS]
        if not self.training:
            return self.detect(levels, proposals, image_sizes), {}
        if targets is None:
            raise ValueError("the ROI heads need targets in training")
        rois, labels, matched = self.sample(proposals, targets)
        # Background ROIs' codes are never read; an image without boxes encodes its ROIs on themselves.
        gt_boxes = [t["boxes"][m.clamp(min=0)] if len(t["boxes"]) else r for t, m, r in zip(targets, matched, rois)]
        regression = self.coder.encode(torch.cat(gt_boxes), torch.cat(rois))
        class_logits, box_regression = self.box_predictor(self.box_head(self.box_pooler(levels, rois)))
        loss_classifier, loss_box_reg = box_head_loss(
            class_logits.float(), box_regression.float(), torch.cat(labels), regression
        )
        positive = [label > 0 for label in labels]
        mask_rois = [r[p] for r, p in zip(rois, positive)]
        mask_labels = torch.cat([label[p] for label, p in zip(labels, positive)])
        mask_logits = self.mask_predictor(self.mask_head(self.mask_pooler(levels, mask_rois)))
        # The rasteriser runs on the host: one copy of the batch's positive ROIs and their owners there,
        # one pinned copy of the targets back (per-image copies would wait on the device per image).
        counts = [len(r) for r in mask_rois]
        host_rois = torch.cat(mask_rois).detach().to("cpu", torch.float32).split(counts)
        host_owners = torch.cat([m[p] for m, p in zip(matched, positive)]).cpu().split(counts)
        mask_targets = torch.cat(
            [_instance_masks(t).targets(r, o, self.mask_resolution) for t, r, o in zip(targets, host_rois, host_owners)]
        )
        if mask_logits.is_cuda:
            mask_targets = mask_targets.pin_memory()
        mask_targets = mask_targets.to(mask_logits.device, non_blocking=True)
        losses = {
            "loss_classifier": loss_classifier,
            "loss_box_reg": loss_box_reg,
            "loss_mask": mask_head_loss(mask_logits.float(), mask_labels, mask_targets),
        }
        return [], losses

    @torch.no_grad()
    def sample(self, proposals: list[Tensor], targets: list[dict]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Per image: the sampled ROIs (foreground first), their class labels and matched gt index."""
        labels, matched = [], []
        proposals = [torch.cat([p, t["boxes"].to(p.dtype)]) for p, t in zip(proposals, targets)]
        for rois, target in zip(proposals, targets):
            gt = target["boxes"]
            if gt.numel() == 0:
                labels.append(torch.zeros(len(rois), dtype=torch.int64, device=rois.device))
                matched.append(torch.full((len(rois),), -1, dtype=torch.int64, device=rois.device))
                continue
            matches = self.matcher(box_ops.iou(gt, rois))
            label = target["labels"][matches.clamp(min=0)].to(torch.int64)
            label[matches == Matcher.BELOW_LOW_THRESHOLD] = 0
            label[matches == Matcher.BETWEEN_THRESHOLDS] = -1
            labels.append(label)
            matched.append(matches)
        positive, negative = self.sampler(labels)
        rois_out, labels_out, matched_out = [], [], []
        for rois, label, match, pos, neg in zip(proposals, labels, matched, positive, negative):
            keep = torch.cat([torch.nonzero(pos).squeeze(1), torch.nonzero(neg).squeeze(1)])
            rois_out.append(rois[keep])
            labels_out.append(label[keep])
            matched_out.append(match[keep])
        return rois_out, labels_out, matched_out

    def detect(
        self, levels: list[Tensor], proposals: list[Tensor], image_sizes: box_ops.ImageSizes
    ) -> list[dict[str, Tensor]]:
        class_logits, box_regression = self.box_predictor(self.box_head(self.box_pooler(levels, proposals)))
        scores = F.softmax(class_logits.float(), -1)
        decoded = self.coder.decode(box_regression.float(), torch.cat(proposals))
        counts = [len(p) for p in proposals]
        results = [
            self._filter(b, s, size) for b, s, size in zip(decoded.split(counts), scores.split(counts), image_sizes)
        ]
        boxes = [r["boxes"] for r in results]
        if sum(len(b) for b in boxes) == 0:
            for r in results:
                r["masks"] = levels[0].new_zeros((0, 1, self.mask_resolution, self.mask_resolution)).float()
            return results
        mask_logits = self.mask_predictor(self.mask_head(self.mask_pooler(levels, boxes)))
        labels = torch.cat([r["labels"] for r in results])
        probs = mask_logits.float().sigmoid()[torch.arange(len(labels), device=labels.device), labels][:, None]
        for r, p in zip(results, probs.split([len(b) for b in boxes])):
            r["masks"] = p
        return results

    def _filter(self, boxes: Tensor, scores: Tensor, image_size: tuple[int, int]) -> dict[str, Tensor]:
        """One image's detections: per-class threshold and NMS, then the best ``detections_per_image``."""
        classes = scores.shape[1]
        boxes = box_ops.clip(boxes.reshape(len(boxes), classes, 4), *image_size)[:, 1:].reshape(-1, 4)
        labels = torch.arange(1, classes, device=scores.device).repeat(len(scores))
        scores = scores[:, 1:].reshape(-1)
        candidate = torch.nonzero(scores > self.score_thresh).squeeze(1)
        keep = candidate[box_ops.nms(boxes[candidate], scores[candidate], self.nms_thresh, labels[candidate])]
        if len(keep) > self.detections_per_image > 0:
            kth = torch.kthvalue(scores[keep].cpu(), len(keep) - self.detections_per_image + 1).values
            keep = keep[scores[keep] >= kth.item()]
        return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}
