"""Anchors against the reference's numbers (Detectron's generate_anchors, worked by hand below)."""

import torch

from mlperf_maskrcnn.anchors import AnchorGenerator, cell_anchors, visible

# Detectron's formula for stride s, size S, ratio r: base window [0, 0, s-1, s-1], centre c = (s-1)/2;
# w0 = round(sqrt(s*s/r)), h0 = round(w0*r) (numpy's round, half to even); w = w0*S/s, h = h0*S/s;
# anchor = [c - (w-1)/2, c - (h-1)/2, c + (w-1)/2, c + (h-1)/2]. For example stride 4, size 32, r 0.5:
# w0 = round(5.66) = 6, h0 = 3, w x h = 48 x 24, c = 1.5 -> [-22, -10, 25, 13]. Stride 32, r 0.5:
# w0 = round(45.25) = 45, h0 = round(22.5) = 22 (half to even), 360 x 176 -> [-164, -72, 195, 103].
REFERENCE_CELLS = {
    (4, 32): [[-22, -10, 25, 13], [-14, -14, 17, 17], [-10, -22, 13, 25]],
    (8, 64): [[-40, -20, 47, 27], [-28, -28, 35, 35], [-20, -44, 27, 51]],
    (16, 128): [[-84, -40, 99, 55], [-56, -56, 71, 71], [-36, -80, 51, 95]],
    (32, 256): [[-164, -72, 195, 103], [-112, -112, 143, 143], [-76, -168, 107, 199]],
    (64, 512): [[-332, -152, 395, 215], [-224, -224, 287, 287], [-148, -328, 211, 391]],
}


def test_cell_anchors_are_detectrons_at_every_level():
    for (stride, size), expected in REFERENCE_CELLS.items():
        assert torch.equal(cell_anchors(stride, size), torch.tensor(expected, dtype=torch.float32)), (stride, size)
    # torchvision's would be 45.25 x 22.63 wide at P2 and centred on 0: not these.


def test_grid_shifts_by_the_stride_without_offset_ratio_order_per_location():
    generator = AnchorGenerator((32, 64, 128, 256, 512))
    levels = generator([(2, 3), (2, 2), (1, 1), (1, 1), (1, 1)])
    p2 = levels[0]
    assert p2.shape == (2 * 3 * 3, 4)
    # Location (y=0, x=0): the cell anchors; (y=0, x=1): shifted by 4 in x; (y=1, x=0): by 4 in y.
    assert p2[0:3].tolist() == REFERENCE_CELLS[(4, 32)]
    assert p2[3:6].tolist() == [[-18, -10, 29, 13], [-10, -14, 21, 17], [-6, -22, 17, 25]]
    assert p2[9:12].tolist() == [[-22, -6, 25, 17], [-14, -10, 17, 21], [-10, -18, 13, 29]]
    assert levels[1][3:6].tolist() == [[-32, -20, 55, 27], [-20, -28, 43, 35], [-12, -44, 35, 51]]
    assert levels[4].tolist() == REFERENCE_CELLS[(64, 512)]


def test_share_of_border_straddling_anchors_on_an_800x1066_image():
    """Anchors with x1 < 0, y1 < 0, x2 >= 1066 or y2 >= 800 are ignored (STRADDLE_THRESH 0); the
    batch is padded to 800 x 1088, so the grids are 200x272, 100x136, 50x68, 25x34 and 13x17."""
    height, width = 800, 1066
    grids = [(200, 272), (100, 136), (50, 68), (25, 34), (13, 17)]
    levels = AnchorGenerator((32, 64, 128, 256, 512))(grids)
    shares = []
    for ((stride, _), cells), (gh, gw), anchors in zip(REFERENCE_CELLS.items(), grids, levels):
        # By hand: per cell anchor, the grid columns k with k*s + x1 >= 0 and k*s + x2 <= 1065, times the rows.
        expected = 0
        for x1, y1, x2, y2 in cells:
            columns = sum(1 for k in range(gw) if k * stride + x1 >= 0 and k * stride + x2 < width)
            rows = sum(1 for k in range(gh) if k * stride + y1 >= 0 and k * stride + y2 < height)
            expected += columns * rows
        inside = int(visible(anchors, height, width).sum())
        assert inside == expected, stride
        shares.append(1 - inside / len(anchors))
    assert [round(100 * s, 1) for s in shares] == [9.2, 16.1, 28.1, 53.2, 86.3]
