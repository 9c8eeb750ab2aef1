"""Evaluation's post-processing: the device path (one host sync per image) gives exactly what the
model's own transform gives (torchvision's paste, the reference's Masker method), and its RLEs
are pycocotools' encoding of those masks."""

from __future__ import annotations

import numpy as np
import torch
from pycocotools import mask as mask_utils

from mlperf_maskrcnn import evaluate
from mlperf_maskrcnn import recipe as recipes
from mlperf_maskrcnn.boxes import to_continuous
from mlperf_maskrcnn.model import build_model


def _model():
    torch.manual_seed(0)
    model = build_model(recipes.load("smoke")).eval()
    # Random weights score every class near 1/81: a zero threshold keeps detections to compare.
    model.roi_heads.score_thresh = 0.0
    return model


@torch.no_grad()
def test_device_post_processing_equals_the_models_own():
    model = _model()
    images = [torch.rand(3, 150, 220) * 255, torch.rand(3, 190, 130) * 255]
    reference = model([img.clone() for img in images])
    batch, _ = model.transform([img.clone() for img in images])
    features = model.backbone(batch.tensors)
    proposals, _ = model.rpn(batch, features)
    outputs, _ = model.roi_heads(features, proposals, batch.image_sizes)
    for ref, out, resized, img in zip(reference, outputs, batch.image_sizes, images):
        original = tuple(img.shape[-2:])
        assert len(ref["boxes"]) > 10
        boxes = evaluate.scale_boxes(out["boxes"].float(), resized, original)
        assert torch.allclose(to_continuous(boxes), ref["boxes"], atol=1e-4)
        ours = evaluate.paste_masks(out["masks"], boxes, *original)
        theirs = (ref["masks"][:, 0] > evaluate.MASK_THRESHOLD).to(torch.uint8)
        assert ours.shape == theirs.shape and torch.equal(ours, theirs)


def test_rles_are_pycocotools_encoding_of_the_masks():
    masks = torch.zeros(3, 40, 60, dtype=torch.uint8)
    masks[0, 5:20, 10:30] = 1
    masks[1, 30:, :7] = 1
    masks[2, ::3, ::5] = 1  # a pattern that a wrong memory order would scramble
    ours = evaluate.encode_masks(masks)
    expected = mask_utils.encode(np.asfortranarray(masks.permute(1, 2, 0).numpy()))
    assert [r["counts"] for r in ours] == [r["counts"] for r in expected]
    assert all(list(r["size"]) == [40, 60] for r in ours)
    assert np.array_equal(mask_utils.decode(ours[2]), masks[2].numpy())
