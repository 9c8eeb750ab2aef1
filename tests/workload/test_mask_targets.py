"""28x28 mask targets: the reference's polygon crop, resize and rasterisation, worked by hand."""

import numpy as np
import torch

from mlperf_maskrcnn.mask_targets import InstanceMasks

# Proposal [100, 50, 114, 64]: the reference crops with w = x2 - x1 = 14 and h = 14 (no "+1"), so
# polygon coordinates map as (x - 100) * 28 / 14 and (y - 50) * 28 / 14.
PROPOSAL = [100.0, 50.0, 114.0, 64.0]
# Part 1: x 96..107, y 53..70 -> x -8..14, y 6..40 in the 28x28 frame: columns 0-13, rows 6-27.
PART1 = [96.0, 53.0, 107.0, 53.0, 107.0, 70.0, 96.0, 70.0]
# Part 2: x 111..113.5, y 60.5..63 -> x 22..27, y 21..26: columns 22-26, rows 21-25.
PART2 = [111.0, 60.5, 113.5, 60.5, 113.5, 63.0, 111.0, 63.0]


def _expected() -> np.ndarray:
    """A pixel is set when its centre (column + 0.5, row + 0.5) lies inside a part."""
    mask = np.zeros((28, 28), dtype=np.float32)
    mask[6:28, 0:14] = 1
    mask[21:26, 22:27] = 1
    return mask


def test_polygon_instance_is_cropped_scaled_and_rasterised_binary():
    other = [np.array([0.0, 0, 5, 0, 5, 5], np.float32)]
    masks = InstanceMasks([other, [np.array(PART1, np.float32), np.array(PART2, np.float32)]])
    targets = masks.targets(torch.tensor([PROPOSAL]), torch.tensor([1]), 28)
    assert targets.shape == (1, 28, 28) and targets.dtype == torch.float32
    assert set(targets.unique().tolist()) == {0.0, 1.0}
    assert np.array_equal(targets[0].numpy(), _expected())


def test_each_proposal_gets_its_matched_instance():
    square = [np.array([100.0, 50, 114, 50, 114, 64, 100, 64], np.float32)]  # the whole proposal
    masks = InstanceMasks([square, [np.array(PART1, np.float32), np.array(PART2, np.float32)]])
    targets = masks.targets(torch.tensor([PROPOSAL, PROPOSAL]), torch.tensor([1, 0]), 28)
    assert np.array_equal(targets[0].numpy(), _expected())
    assert float(targets[1].sum()) == 28 * 28


def test_rle_instance_uses_its_bitmask_cropped_and_thresholded():
    # Pixels 100-103 cover x in [100, 104): [0, 4) of the box's 14, so target columns 0-7 of 28.
    bitmask = np.zeros((80, 130), dtype=np.uint8)
    bitmask[50:64, 100:104] = 1
    targets = InstanceMasks([bitmask]).targets(torch.tensor([PROPOSAL]), torch.tensor([0]), 28)
    assert set(targets.unique().tolist()) == {0.0, 1.0}
    assert targets[0, :, :8].all() and not targets[0, :, 8:].any()
