"""torchvision's Mask R-CNN configured to the MLPerf v0.7 reference (maskrcnn-benchmark R-50-FPN 1x).

The seven known differences between torchvision and the reference (benchmark.md), and what we do:

1. Post-NMS top-N: the reference keeps ``num_image_candidates`` proposals over the whole per-GPU
   batch in training; torchvision keeps a number per image. MATCHED: ``BatchCandidatesRPN``.
2. Anchor centring and the "+1" box convention (the reference's boxes are inclusive pixel
   indices, widths ``x2 - x1 + 1``); the reference also ignores anchors that straddle the image
   border in the RPN loss. DOCUMENTED: torchvision uses continuous coordinates throughout, for
   anchors, targets and the box coder alike, so the encoding is self-consistent; the half-pixel
   shift of anchor centres is below the anchor stride's resolution and IoU matching is unchanged
   in kind. Straddling anchors are still labelled by IoU, which only adds border anchors to the
   sampled pool; the method (anchors, IoU thresholds, sampling, losses) is the same.
3. FrozenBatchNorm eps: MATCHED, eps = 0 (the R-50.pkl stores scale and bias only).
4. Input normalisation: MATCHED, BGR 0-255 input, Caffe2 means, std 1.
5. Stride in the 1x1 conv (MSRA) instead of the 3x3: MATCHED, set on each downsampling block.
6. Bias parameters with 2x LR and no weight decay: MATCHED in ``solver.param_groups``.
7. Warmup semantics: MATCHED, ``mlperf_linear`` as logged by NVIDIA (``Recipe.lr_at``).

Also documented: the reference's Fast R-CNN box loss is smooth-L1 with beta 1, torchvision's
1/9; both are the same loss family on the same targets, and the RPN (beta 1/9) matches.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor
from torchvision.models import resnet50
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops.misc import FrozenBatchNorm2d

from .recipe import Recipe

# Caffe2 ImageNet means in BGR order, 0-255 scale; the reference divides by 1.
PIXEL_MEAN_BGR = [102.9801, 115.9465, 122.7717]
PIXEL_STD = [1.0, 1.0, 1.0]
SIZE_DIVISIBILITY = 32


class ReferenceTransform(GeneralizedRCNNTransform):
    """Normalise and pad to 32; resize only at test time.

    In training the data pipeline has already resized and flipped each image on the loader's
    CPU workers (as the reference does), so resizing again would only cost time.
    """

    def resize(self, image: Tensor, target: dict | None = None):  # type: ignore[override]
        if self.training:
            return image, target
        return super().resize(image, target)


class BatchCandidatesRPN(RegionProposalNetwork):
    """RPN whose training proposals are the top ``batch_candidates`` of the whole batch.

    maskrcnn-benchmark (FPN_POST_NMS_PER_BATCH) ranks every image's post-NMS proposals together
    and keeps ``num_image_candidates`` for the batch; at test time it keeps a number per image.
    """

    def __init__(self, *args, batch_candidates: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batch_candidates = batch_candidates

    def filter_proposals(self, proposals, objectness, image_shapes, num_anchors_per_level):
        boxes, scores = super().filter_proposals(proposals, objectness, image_shapes, num_anchors_per_level)
        if not self.training:
            return boxes, scores
        flat = torch.cat(scores)
        if flat.numel() <= self.batch_candidates:
            return boxes, scores
        # By rank, not by a score threshold, so ties cannot keep extra boxes.
        top = torch.topk(flat, self.batch_candidates, sorted=False).indices
        keep_flat = torch.zeros_like(flat, dtype=torch.bool)
        keep_flat[top] = True
        kept_boxes, kept_scores, start = [], [], 0
        for b, s in zip(boxes, scores):
            keep = keep_flat[start : start + s.numel()]
            start += s.numel()
            kept_boxes.append(b[keep])
            kept_scores.append(s[keep])
        return kept_boxes, kept_scores


def build_backbone():
    """ResNet-50 (MSRA strides, frozen BN with eps 0) with FPN P2-P6; stem and res2 frozen."""
    body = resnet50(weights=None, norm_layer=partial(FrozenBatchNorm2d, eps=0.0))
    for layer in (body.layer2, body.layer3, body.layer4):
        first = layer[0]
        first.conv1.stride = (2, 2)
        first.conv2.stride = (1, 1)
    # trainable_layers=3: layer2..layer4 train, stem and layer1 frozen (FREEZE_CONV_BODY_AT=2).
    # The default extra block max-pools P5 into P6, which only the RPN sees.
    return _resnet_fpn_extractor(body, trainable_layers=3)


def build_model(recipe: Recipe, num_classes: int = 81) -> MaskRCNN:
    """Mask R-CNN with the recipe's sizes; 81 classes is COCO's 80 plus background."""
    size = recipe.model
    backbone = build_backbone()
    model = MaskRCNN(
        backbone,
        num_classes=num_classes,
        min_size=recipe.min_size,
        max_size=recipe.max_size,
        image_mean=PIXEL_MEAN_BGR,
        image_std=PIXEL_STD,
        box_score_thresh=0.05,
        box_nms_thresh=0.5,
        box_detections_per_img=size.detections_per_image,
        box_fg_iou_thresh=0.5,
        box_bg_iou_thresh=0.5,
        box_batch_size_per_image=size.roi_batch_per_image,
        box_positive_fraction=0.25,
        bbox_reg_weights=(10.0, 10.0, 5.0, 5.0),
    )
    anchors = AnchorGenerator(
        sizes=tuple((s,) for s in size.anchor_sizes),
        aspect_ratios=((0.5, 1.0, 2.0),) * len(size.anchor_sizes),
    )
    levels = len(size.anchor_sizes)
    model.rpn = BatchCandidatesRPN(
        anchors,
        RPNHead(backbone.out_channels, anchors.num_anchors_per_location()[0]),
        fg_iou_thresh=0.7,
        bg_iou_thresh=0.3,
        batch_size_per_image=size.rpn_batch_per_image,
        positive_fraction=0.5,
        pre_nms_top_n={"training": size.rpn_pre_nms_top_n_train, "testing": size.rpn_pre_nms_top_n_test},
        # Per image in training: everything NMS leaves (at most pre-NMS per level); the batch-wide
        # cut to num_image_candidates follows in BatchCandidatesRPN.
        post_nms_top_n={
            "training": size.rpn_pre_nms_top_n_train * levels,
            "testing": size.rpn_post_nms_top_n_test,
        },
        nms_thresh=0.7,
        batch_candidates=recipe.num_image_candidates,
    )
    model.transform = ReferenceTransform(
        recipe.min_size,
        recipe.max_size,
        PIXEL_MEAN_BGR,
        PIXEL_STD,
        size_divisible=SIZE_DIVISIBILITY,
    )
    return model
