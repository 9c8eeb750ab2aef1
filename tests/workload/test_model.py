import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import misc

from mlperf_maskrcnn import recipe as recipes
from mlperf_maskrcnn.mask_targets import InstanceMasks
from mlperf_maskrcnn.model import FrozenBatchNorm2d, build_backbone, build_model
from mlperf_maskrcnn.roi_heads import box_head_loss
from mlperf_maskrcnn.rpn import RankingHead, ReferenceRPN, _top_over_batch


@pytest.fixture(scope="module")
def reference_model():
    torch.manual_seed(0)
    return build_model(recipes.load("nvidia_dgx1"))


def test_model_matches_reference_configuration(reference_model):
    model = reference_model
    body = model.backbone.body
    # MSRA: the stride sits in the first 1x1 conv of each downsampling block.
    for layer in (body.layer2, body.layer3, body.layer4):
        assert layer[0].conv1.stride == (2, 2) and layer[0].conv2.stride == (1, 1)
    assert body.bn1.eps == 0.0 and body.layer3[2].bn2.eps == 0.0
    # Stem and res2 frozen, res3..res5 train.
    assert not any(p.requires_grad for p in body.conv1.parameters())
    assert not any(p.requires_grad for p in body.layer1.parameters())
    assert all(p.requires_grad for p in body.layer2.parameters())
    assert model.transform.image_mean == [102.9801, 115.9465, 122.7717] and model.transform.image_std == [1, 1, 1]
    assert model.transform.size_divisible == 32
    rpn, heads = model.rpn, model.roi_heads
    assert isinstance(rpn, ReferenceRPN) and rpn.batch_candidates == 6000
    assert rpn.pre_nms_top_n == {"training": 2000, "testing": 1000} and rpn.post_nms_top_n_test == 1000
    assert rpn.sampler.batch_size_per_image == 256 and rpn.matcher.allow_low_quality_matches
    assert (rpn.matcher.high_threshold, rpn.matcher.low_threshold, rpn.nms_thresh) == (0.7, 0.3, 0.7)
    assert rpn.coder.weights == (1.0, 1.0, 1.0, 1.0)
    assert heads.box_pooler.sampling_ratio == 2 and heads.box_pooler.output_size == 7
    assert heads.mask_pooler.output_size == 14 and heads.mask_resolution == 28
    assert heads.sampler.batch_size_per_image == 512 and heads.sampler.positive_fraction == 0.25
    assert heads.coder.weights == (10.0, 10.0, 5.0, 5.0)
    assert (heads.score_thresh, heads.nms_thresh, heads.detections_per_image) == (0.05, 0.5, 100)


def _check(tensor, std, bias=None):
    measured = float(tensor.detach().float().std())
    assert abs(measured - std) <= 0.1 * std, (measured, std)
    if bias is not None:
        assert torch.count_nonzero(bias) == 0


def test_every_new_layer_has_the_reference_initialisation(reference_model):
    model = reference_model
    # RPN conv, objectness and deltas: N(0, 0.01), bias 0.
    head = model.rpn.head
    for conv in (head.conv[0][0], head.cls_logits, head.bbox_pred):
        _check(conv.weight, 0.01, conv.bias)
    # FPN: kaiming_uniform(a=1): std = 1 / sqrt(fan_in); bias 0.
    fpn = model.backbone.fpn
    for block, channels in zip(fpn.inner_blocks, (256, 512, 1024, 2048)):
        _check(block[0].weight, 1 / math.sqrt(channels), block[0].bias)
    for block in fpn.layer_blocks:
        _check(block[0].weight, 1 / math.sqrt(256 * 9), block[0].bias)
    heads = model.roi_heads
    # fc6, fc7: kaiming_uniform(a=1), bias 0; fc6 sees 256 x 7 x 7 inputs.
    _check(heads.box_head.fc6.weight, 1 / math.sqrt(256 * 49), heads.box_head.fc6.bias)
    _check(heads.box_head.fc7.weight, 1 / math.sqrt(1024), heads.box_head.fc7.bias)
    _check(heads.box_predictor.cls_score.weight, 0.01, heads.box_predictor.cls_score.bias)
    _check(heads.box_predictor.bbox_pred.weight, 0.001, heads.box_predictor.bbox_pred.bias)
    # Mask head: four 3x3 convs, kaiming_normal(fan_out, relu): std = sqrt(2 / (256 * 9)); bias 0.
    for block in heads.mask_head:
        _check(block[0].weight, math.sqrt(2 / (256 * 9)), block[0].bias)
    # conv5_mask (deconv, weight [256, 256, 2, 2]: fan_out 256 * 4) and the 81 logits (fan_out 81).
    _check(heads.mask_predictor.conv5_mask.weight, math.sqrt(2 / 1024), heads.mask_predictor.conv5_mask.bias)
    _check(heads.mask_predictor.mask_fcn_logits.weight, math.sqrt(2 / 81), heads.mask_predictor.mask_fcn_logits.bias)


def test_box_loss_is_smooth_l1_with_beta_1_over_the_sampled_rois():
    # 4 sampled ROIs, 3 classes; ROI 0 is class 2, ROI 2 class 1, the others background.
    labels = torch.tensor([2, 0, 1, 0])
    regression = torch.full((4, 12), 100.0)  # other classes' deltas must not count
    regression[0, 8:12] = torch.tensor([0.5, -2.0, 0.0, 1.0])
    regression[2, 4:8] = torch.tensor([1.0, 1.0, 1.0, 1.0])
    targets = torch.zeros(4, 4)
    targets[0] = torch.tensor([0.0, 0.0, 0.0, 0.25])
    targets[2] = torch.tensor([1.0, 0.0, 3.0, 0.9])
    classification, box = box_head_loss(torch.zeros(4, 3), regression, labels, targets)
    # |d| = 0.5, 2, 0, 0.75 -> 0.125 + 1.5 + 0 + 0.28125; |d| = 0, 1, 2, 0.1 -> 0 + 0.5 + 1.5 + 0.005;
    # summed (3.91125) and divided by the 4 sampled ROIs. (beta 1/9 would give 1.0222.)
    assert math.isclose(float(box), 3.91125 / 4, rel_tol=1e-6)
    assert math.isclose(float(classification), math.log(3), rel_tol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_frozen_bn_keeps_the_activation_dtype_under_autocast(dtype):
    """On the CPU: torch's CPU autocast runs both fp16 (the GPU recipe's dtype) and bfloat16."""
    bn = FrozenBatchNorm2d(4, eps=0.0)
    bn.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    bn.running_var.copy_(torch.tensor([4.0, 1.0, 1.0, 16.0]))
    x = torch.ones(1, 4, 2, 2, dtype=dtype)
    with torch.autocast("cpu", dtype=dtype):
        y = bn(x)
        stock = misc.FrozenBatchNorm2d(4, eps=0.0)(x)
    assert y.dtype == dtype and y[0, :, 0, 0].tolist() == [0.5, 2.0, 3.0, 1.0]
    assert stock.dtype == torch.float32  # torchvision's: why ours exists
    backbone = build_backbone().eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        features = backbone(torch.rand(1, 3, 64, 64))
        stem = backbone.body.bn1(backbone.body.conv1(torch.rand(1, 3, 64, 64)))
    assert stem.dtype == dtype
    assert all(f.dtype == dtype for f in features.values())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_proposals_are_ranked_on_float32_objectness_under_autocast(dtype):
    torch.manual_seed(0)
    head = RankingHead(256, 3)
    feature = torch.randn(1, 256, 32, 32)
    with torch.autocast("cpu", dtype=dtype):
        logits, _, ranking = head([feature])
        hidden = head.conv(feature)
    assert logits[0].dtype == dtype and ranking[0].dtype == torch.float32
    expected = F.conv2d(hidden.float(), head.cls_logits.weight, head.cls_logits.bias)
    assert torch.allclose(ranking[0], expected, atol=1e-5)
    # The low-precision logits tie where the float32 ones do not.
    assert ranking[0].unique().numel() > logits[0].unique().numel()


def test_batch_keeps_its_top_candidates_by_rank_even_among_ties():
    boxes = [torch.arange(5.0)[:, None].repeat(1, 4), torch.arange(5.0, 8.0)[:, None].repeat(1, 4)]
    scores = [torch.tensor([0.9, 0.5, 0.5, 0.5, 0.1]), torch.tensor([0.5, 0.8, 0.2])]
    kept = _top_over_batch(boxes, scores, 4)
    assert sum(len(b) for b in kept) == 4  # a threshold at 0.5 would keep 6
    assert 0.0 in kept[0][:, 0].tolist() and 6.0 in kept[1][:, 0].tolist()


def test_rpn_keeps_candidates_over_the_whole_batch_in_training_and_per_image_at_test():
    torch.manual_seed(0)
    rpn = build_model(recipes.load("smoke")).rpn
    rpn.batch_candidates = 50
    anchors = torch.rand(400, 4) * 50
    anchors[:, 2:] += anchors[:, :2] + 5
    scores = torch.randn(2, 400)
    codes = torch.zeros(2, 400, 4)
    rpn.train()
    boxes = rpn.select(anchors, [400], scores, codes, [(128, 128), (128, 128)])
    assert sum(len(b) for b in boxes) == 50
    rpn.eval()
    boxes = rpn.select(anchors, [400], scores, codes, [(128, 128), (128, 128)])
    assert all(len(b) <= 100 for b in boxes) and sum(len(b) for b in boxes) > 50  # smoke: 100 per image


def test_anchors_crossing_the_border_are_ignored_after_matching():
    rpn = build_model(recipes.load("smoke")).rpn
    anchors = torch.tensor([[-2.0, 0.0, 9.0, 9.0], [20.0, 20.0, 29.0, 29.0], [40.0, 40.0, 49.0, 49.0]])
    # Box 0's best anchor is anchor 0 (IoU 100 / 120), which crosses x = 0: ignored, so box 0 gets no
    # positive anchor; anchor 1 overlaps nothing (background); anchor 2 is box 1 exactly.
    target = {"boxes": torch.tensor([[0.0, 0.0, 9.0, 9.0], [40.0, 40.0, 49.0, 49.0]])}
    labels, _ = rpn.labels(anchors, [target], [(64, 64)])
    assert labels[0].tolist() == [-1.0, 0.0, 1.0]


def _targets(count: int):
    boxes = torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 30.0, 120.0, 90.0]])[:count]
    polygons = [[b[[0, 1, 2, 1, 2, 3, 0, 3]].numpy()] for b in boxes]
    return {"boxes": boxes, "labels": torch.tensor([1, 2])[:count], "masks": InstanceMasks(polygons)}


def test_training_returns_the_reference_losses_and_eval_returns_detections():
    torch.manual_seed(0)
    model = build_model(recipes.load("smoke"))
    images = [torch.rand(3, 128, 160) * 255, torch.rand(3, 128, 150) * 255, torch.rand(3, 128, 140) * 255]
    model.train()
    # The third image has no box left (all of them clipped away, say): every anchor and ROI is background.
    losses = model(images, [_targets(2), _targets(1), _targets(0)])
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        detections = model([torch.rand(3, 100, 150) * 255])
    d = detections[0]
    assert set(d) == {"boxes", "labels", "scores", "masks"}
    assert d["masks"].shape[1:] == (1, 100, 150) and len(d["masks"]) == len(d["boxes"]) == len(d["scores"])
    # At most 20 (smoke), plus any that tie with the 20th: the reference's kthvalue threshold keeps ties.
    ranked = d["scores"].sort(descending=True).values
    assert len(ranked) <= 20 or bool((ranked[20:] == ranked[19]).all())
    assert len(d["masks"]) > 0 and 0.0 <= float(d["masks"].min()) and float(d["masks"].max()) <= 1.0


def test_transform_resizes_only_at_test_time_to_the_reference_size():
    model = build_model(recipes.load("smoke"))
    image = torch.rand(3, 100, 150) * 255
    model.transform.train()
    batched, _ = model.transform([image], [{"boxes": torch.tensor([[1.0, 1, 20, 20]])}])
    assert batched.image_sizes == [(100, 150)] and batched.tensors.shape[-2:] == (128, 160)
    model.transform.eval()
    batched, _ = model.transform([image])
    # Resize.get_size: 150 / 100 * 128 = 192 <= 192, so short side 128 and long int(128 * 150 / 100).
    assert batched.image_sizes == [(128, 192)]
    assert isinstance(batched, ImageList)


def test_every_trainable_parameter_gets_a_gradient_from_an_image_without_objects():
    """The trainer's DDP runs with static_graph: every step must reach the same parameters, also
    on a rank whose images hold no object (a crowd-only image survives the reference's filter)."""

    torch.manual_seed(0)
    model = build_model(recipes.load("smoke")).train()
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64), "masks": InstanceMasks([])}
    losses = model([torch.rand(3, 128, 160) * 255], [empty])
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
