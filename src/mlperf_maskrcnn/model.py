"""Mask R-CNN R-50-FPN as the MLPerf v0.7 reference builds and trains it, behind torchvision's interface.

The reference is NVIDIA's v0.7 maskrcnn-benchmark (configs/e2e_mask_rcnn_R_50_FPN_1x.yaml). The
network is assembled from torchvision parts where they compute the same thing (ResNet-50, FPN,
RPN head, box and mask head layers, RoIAlign, matcher and sampler); anchors, box arithmetic,
losses, proposal selection, pooling levels, mask targets, detection post-processing and the
initialisation of every new layer are the reference's (``anchors``, ``boxes``, ``rpn``, ``poolers``,
``roi_heads``, ``mask_targets``). ``model(images, targets)`` returns the reference's five losses
(loss_objectness, loss_rpn_box_reg, loss_classifier, loss_box_reg, loss_mask) in training;
``model(images)`` returns per image boxes (continuous [x1, y1, x2, y2] at the original size),
labels, scores and masks ([N, 1, H, W] probabilities) in eval.

Where we still differ from the reference (README, "Compliance", has the table and the numbers):

1. Mixed precision: torch.amp fp16 autocast with float32 weights instead of the reference's
   whole-model fp16 (``model.half()``) with float32 master copies. Frozen BN computes in the
   activation's dtype as the reference's fp16 module does; proposals are ranked on float32
   objectness instead of fp16 sigmoid scores, which changes only which of tied proposals survive.
2. Test-time resizing runs on the device (bilinear, antialiased, float) to the reference's size,
   instead of PIL on uint8 in the loader: the pixels differ by PIL's rounding to integers.
3. Anchors and ROIs are sampled with torch's per-image random permutations: the reference's
   distribution, not its random numbers.
4. Inputs the reference cannot read: a non-crowd RLE mask (COCO has none) is RoI-aligned from its
   bitmask and thresholded; a polygon of fewer than 3 points (which pycocotools would read as a
   box) is dropped.
"""

from __future__ import annotations

from functools import partial

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import resnet50
from torchvision.models.detection.backbone_utils import BackboneWithFPN, _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import misc as misc_ops

from . import boxes as box_ops
from .anchors import AnchorGenerator
from .data import reference_size
from .recipe import Recipe
from .roi_heads import ReferenceRoIHeads
from .rpn import ReferenceRPN

# Caffe2 ImageNet means in BGR order, 0-255 scale; the reference divides by 1.
PIXEL_MEAN_BGR = [102.9801, 115.9465, 122.7717]
PIXEL_STD = [1.0, 1.0, 1.0]
SIZE_DIVISIBILITY = 32
FPN_CHANNELS = 256
BOX_HEAD_DIM = 1024
MASK_HEAD_LAYERS = (256, 256, 256, 256)


class FrozenBatchNorm2d(misc_ops.FrozenBatchNorm2d):
    """Frozen BN (eps 0: the R-50.pkl stores scale and bias only) computed in the input's dtype.

    torchvision's version multiplies by float32 buffers, so under fp16 autocast it returns float32
    and every backbone activation it touches is stored twice as large.
    """

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.to(x.dtype).reshape(1, -1, 1, 1) + shift.to(x.dtype).reshape(1, -1, 1, 1)


class ReferenceTransform(GeneralizedRCNNTransform):
    """Normalise and pad to 32; resize test images to the reference's size; continuous output boxes.

    In training the data pipeline has already resized and flipped each image on the loader's
    CPU workers (as the reference does), so resizing again would only cost time.
    """

    def resize(self, image: Tensor, target: dict | None = None):  # type: ignore[override]
        if self.training:
            return image, target
        height, width = image.shape[-2:]
        new_w, new_h = reference_size(int(width), int(height), int(self.min_size[-1]), int(self.max_size))
        resized = F.interpolate(image[None], size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        return resized[0], target

    def postprocess(self, result, image_shapes, original_image_sizes):  # type: ignore[override]
        # torchvision's paste uses the "+1" box convention, as the reference's Masker does, so masks are
        # pasted with the inclusive boxes first; the boxes then leave as continuous ones (x2 + 1).
        result = super().postprocess(result, image_shapes, original_image_sizes)
        if not self.training:
            for detections in result:
                detections["boxes"] = box_ops.to_continuous(detections["boxes"])
        return result


def build_backbone() -> BackboneWithFPN:
    """ResNet-50 (MSRA strides, frozen BN with eps 0) with FPN P2-P6; stem and res2 frozen."""
    body = resnet50(weights=None, norm_layer=partial(FrozenBatchNorm2d, eps=0.0))
    for layer in (body.layer2, body.layer3, body.layer4):
        first = layer[0]
        first.conv1.stride = (2, 2)
        first.conv2.stride = (1, 1)
    # trainable_layers=3: layer2..layer4 train, stem and layer1 frozen (FREEZE_CONV_BODY_AT=2). The FPN
    # convs are kaiming_uniform(a=1), bias 0, as the reference's; P6 max-pools P5 (kernel 1, stride 2).
    return _resnet_fpn_extractor(body, trainable_layers=3)


def init_reference_heads(box_head: TwoMLPHead, box_predictor: FastRCNNPredictor, mask_predictor: nn.Module) -> None:
    """The reference's initialisation where torchvision's differs.

    fc6, fc7: kaiming_uniform(a=1) (Caffe2's XavierFill), bias 0; class scores N(0, 0.01) and box
    deltas N(0, 0.001), bias 0; the mask predictor's deconv and logits keep torchvision's
    kaiming_normal(fan_out, relu), which is the reference's, and get bias 0. The RPN head (N(0, 0.01),
    bias 0), the FPN and the mask head's four convs (kaiming_normal fan_out, bias 0) already match.
    """
    for fc in (box_head.fc6, box_head.fc7):
        nn.init.kaiming_uniform_(fc.weight, a=1)
        nn.init.zeros_(fc.bias)
    nn.init.normal_(box_predictor.cls_score.weight, std=0.01)
    nn.init.normal_(box_predictor.bbox_pred.weight, std=0.001)
    for layer in (box_predictor.cls_score, box_predictor.bbox_pred, *mask_predictor.children()):
        if not isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            continue  # the predictor's ReLU
        nn.init.zeros_(layer.bias)


def build_model(recipe: Recipe, num_classes: int = 81) -> GeneralizedRCNN:
    """Mask R-CNN with the recipe's sizes; 81 classes is COCO's 80 plus background."""
    size = recipe.model
    backbone = build_backbone()
    rpn = ReferenceRPN(
        AnchorGenerator(tuple(float(s) for s in size.anchor_sizes)),
        backbone.out_channels,
        batch_per_image=size.rpn_batch_per_image,
        pre_nms_top_n_train=size.rpn_pre_nms_top_n_train,
        pre_nms_top_n_test=size.rpn_pre_nms_top_n_test,
        post_nms_top_n_test=size.rpn_post_nms_top_n_test,
        batch_candidates=recipe.num_image_candidates,
    )
    box_head = TwoMLPHead(FPN_CHANNELS * 7 * 7, BOX_HEAD_DIM)
    box_predictor = FastRCNNPredictor(BOX_HEAD_DIM, num_classes)
    mask_head = MaskRCNNHeads(FPN_CHANNELS, list(MASK_HEAD_LAYERS), 1)
    mask_predictor = MaskRCNNPredictor(MASK_HEAD_LAYERS[-1], MASK_HEAD_LAYERS[-1], num_classes)
    init_reference_heads(box_head, box_predictor, mask_predictor)
    roi_heads = ReferenceRoIHeads(
        box_head,
        box_predictor,
        mask_head,
        mask_predictor,
        batch_per_image=size.roi_batch_per_image,
        detections_per_image=size.detections_per_image,
    )
    transform = ReferenceTransform(
        recipe.min_size, recipe.max_size, PIXEL_MEAN_BGR, PIXEL_STD, size_divisible=SIZE_DIVISIBILITY
    )
    return GeneralizedRCNN(backbone, rpn, roi_heads, transform)
