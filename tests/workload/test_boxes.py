"""The "+1" box arithmetic against the reference's formulas, worked by hand."""

import math

import torch

from mlperf_maskrcnn import boxes

# Proposal [10, 20, 29, 59]: width 29 - 10 + 1 = 20, height 40, centre (10 + 10, 20 + 20) = (20, 40).
# Ground truth [12, 18, 41, 57]: width 30, height 40, centre (27, 38).
PROPOSAL = [10.0, 20.0, 29.0, 59.0]
GT = [12.0, 18.0, 41.0, 57.0]
# Anchor [-22, -10, 25, 13]: 48 x 24, centre (2, 2); ground truth [0, 0, 9, 19]: 10 x 20, centre (5, 10).
ANCHOR = [-22.0, -10.0, 25.0, 13.0]
SMALL_GT = [0.0, 0.0, 9.0, 19.0]


def _close(a, b, tol=1e-5):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32), atol=tol)


def test_encode_with_box_head_weights():
    codes = boxes.BoxCoder((10.0, 10.0, 5.0, 5.0)).encode(torch.tensor([GT]), torch.tensor([PROPOSAL]))
    # dx = 10 * (27 - 20) / 20, dy = 10 * (38 - 40) / 40, dw = 5 * ln(30 / 20), dh = 5 * ln(40 / 40)
    assert _close(codes, [[3.5, -0.5, 5 * math.log(1.5), 0.0]])


def test_encode_with_rpn_weights():
    coder = boxes.BoxCoder((1.0, 1.0, 1.0, 1.0))
    codes = coder.encode(torch.tensor([GT, SMALL_GT]), torch.tensor([PROPOSAL, ANCHOR]))
    expected = [[7 / 20, -2 / 40, math.log(1.5), 0.0], [3 / 48, 8 / 24, math.log(10 / 48), math.log(20 / 24)]]
    assert _close(codes, expected)


def test_decode_inverts_encode_and_keeps_the_x2_minus_one():
    for weights in ((10.0, 10.0, 5.0, 5.0), (1.0, 1.0, 1.0, 1.0)):
        coder = boxes.BoxCoder(weights)
        # Zero codes give the box back: x2 = centre + w / 2 - 1 = 20 + 10 - 1 = 29.
        assert _close(coder.decode(torch.zeros(1, 4), torch.tensor([PROPOSAL])), [PROPOSAL])
        codes = coder.encode(torch.tensor([GT]), torch.tensor([PROPOSAL]))
        assert _close(coder.decode(codes, torch.tensor([PROPOSAL])), [GT], tol=1e-4)
    # Class-specific codes [N, 4k]: the second class's codes decode to the ground truth.
    coder = boxes.BoxCoder((10.0, 10.0, 5.0, 5.0))
    two = torch.tensor([[0.0, 0.0, 0.0, 0.0, 3.5, -0.5, 5 * math.log(1.5), 0.0]])
    assert _close(coder.decode(two, torch.tensor([PROPOSAL])), [PROPOSAL + GT], tol=1e-4)


def test_decode_clamps_log_scale_at_log_1000_over_16():
    # dw, dh clamp at ln(62.5): width 62.5 * 20 = 1250, height 62.5 * 40 = 2500 around (20, 40).
    expected = [[20 - 625, 40 - 1250, 20 + 625 - 1, 40 + 1250 - 1]]
    for weights, big in (((1.0, 1.0, 1.0, 1.0), 10.0), ((10.0, 10.0, 5.0, 5.0), 50.0)):
        decoded = boxes.BoxCoder(weights).decode(torch.tensor([[0.0, 0.0, big, big]]), torch.tensor([PROPOSAL]))
        assert _close(decoded, expected, tol=1e-3)
    assert math.isclose(boxes.BBOX_XFORM_CLIP, math.log(1000 / 16))


def test_iou_and_nms_count_the_last_pixel():
    a = torch.tensor([[0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 4.0, 4.0]])
    b = torch.tensor([[5.0, 5.0, 14.0, 14.0], [4.0, 0.0, 8.0, 4.0]])
    # 10x10 boxes overlapping 5x5: 25 / 175; a 5x5 box inside a 10x10 one: 25 / 100; [0, 0, 4, 4] and
    # [5, 5, 14, 14] share no pixel: 0; 5x5 boxes sharing one column (x = 4): 5 / 45.
    assert _close(boxes.iou(a, b), [[25 / 175, 25 / 100], [0.0, 5 / 45]])
    # [0, 0, 2, 2] and [1, 0, 3, 2]: 6 / 12 = 0.5 with +1 (continuous boxes would give 2 / 6): NMS at 0.4
    # suppresses the second only in the reference's convention.
    pair = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0]])
    kept = boxes.nms(pair, torch.tensor([0.9, 0.8]), 0.4, torch.zeros(2, dtype=torch.int64))
    assert kept.tolist() == [0]
    kept = boxes.nms(pair, torch.tensor([0.9, 0.8]), 0.4, torch.tensor([0, 1]))
    assert sorted(kept.tolist()) == [0, 1]  # separate groups are never compared


def test_clip_keeps_the_last_pixel_inside():
    clipped = boxes.clip(torch.tensor([[-5.0, -3.0, 200.0, 150.0], [10.0, 10.0, 20.0, 20.0]]), 100, 120)
    assert clipped.tolist() == [[0, 0, 119, 99], [10, 10, 20, 20]]
