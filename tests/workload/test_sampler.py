"""The training batch stream: one aspect group per global batch, every image once per pass, the
reference's groups (square images in group 1) and epoch length."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch

from mlperf_maskrcnn import data, recipe
from mlperf_maskrcnn.data import CocoDetection
from mlperf_maskrcnn.sampler import GroupedBatchStream, aspect_group, share
from mlperf_maskrcnn.synthetic import SynthSpec, write_dataset


@pytest.mark.parametrize(
    ("width", "height", "group"),
    [(640, 480, 0), (480, 640, 1), (500, 500, 1), (501, 500, 0), (500, 501, 1)],
)
def test_aspect_groups_are_the_references(width, height, group):
    # maskrcnn-benchmark quantises h/w with bisect_right([1], h/w): h/w >= 1 is group 1.
    assert aspect_group(width, height) == group


@pytest.mark.parametrize(("images", "batch", "expected"), [(117266, 48, 2444), (117266, 128, 917), (117266, 256, 459)])
def test_iterations_per_epoch_as_nvidia_counts_them(images, batch, expected):
    # NVIDIA v0.7: epoch_size // images_per_batch + 1 (2444 iterations per epoch on a DGX-1).
    assert recipe.iterations_per_epoch(images, batch) == expected


def _pass(groups, global_batch, world, number=0, seed=3):
    per_rank = [
        GroupedBatchStream(groups, global_batch, rank, world, seed).pass_batches(number) for rank in range(world)
    ]
    assert all(p == per_rank[0] for p in per_rank), "every rank cuts the same global batches"
    return per_rank[0]


@pytest.mark.parametrize(
    ("landscape", "portrait", "global_batch", "world"),
    [(37, 23, 6, 2), (45, 5, 8, 4), (45, 11, 8, 4), (100, 61, 48, 8), (13, 7, 4, 4), (9, 9, 2, 2), (30, 30, 6, 1)],
)
def test_each_image_once_per_pass_and_never_two_groups_in_a_batch(landscape, portrait, global_batch, world):
    groups = [0] * landscape + [1] * portrait
    batches = _pass(groups, global_batch, world)
    seen = Counter(i for b in batches for i in b)
    assert sorted(seen) == list(range(len(groups))) and set(seen.values()) == {1}
    for batch in batches:
        assert len({groups[i] for i in batch}) == 1, batch
        assert world <= len(batch), "every rank gets an image in every step"
        shares = [share(batch, r, world) for r in range(world)]
        assert sum(shares, []) == batch
        # A rank never holds more than the recipe's images per GPU, except where a leftover is
        # merged into a batch that was too small to split (one image per GPU).
        limit = global_batch // world if global_batch >= 2 * world else global_batch // world + 1
        assert max(len(s) for s in shares) <= limit


def test_a_group_smaller_than_the_ranks_is_the_only_mixed_batch():
    groups = [0] * 20 + [1] * 2  # 2 portrait images for 4 ranks: they cannot form a batch alone
    batches = _pass(groups, 8, 4)
    mixed = [b for b in batches if len({groups[i] for i in b}) > 1]
    assert len(mixed) == 1 and {i for i in mixed[0] if groups[i] == 1} == {20, 21}


def test_passes_differ_and_the_stream_goes_on():
    groups = [0] * 30 + [1] * 30
    stream = GroupedBatchStream(groups, 6, 0, 1, seed=1)
    assert stream.pass_batches(0) != stream.pass_batches(1)
    first_two_passes = len(stream.pass_batches(0)) + len(stream.pass_batches(1))
    taken = list(itertools.islice(iter(stream), first_two_passes + 3))
    assert len(taken) == first_two_passes + 3


def test_two_ranks_through_a_data_loader_see_the_training_set_once(tmp_path):
    root = write_dataset(tmp_path, SynthSpec(train_images=10, val_images=2, seed=4))
    ds = CocoDetection(root, "train", train=True, min_size=128, max_size=192)
    groups = [aspect_group(im["width"], im["height"]) for im in ds.images]
    count = len(GroupedBatchStream(groups, 4, 0, 2, seed=7).pass_batches(0))
    seen = Counter()
    for rank in (0, 1):
        stream = GroupedBatchStream(groups, 4, rank, 2, seed=7)
        loader = torch.utils.data.DataLoader(ds, batch_sampler=stream, collate_fn=data.collate)
        for _, targets in itertools.islice(loader, count):
            assert targets, "every rank gets at least one image in every step"
            seen.update(t["image_id"] for t in targets)
    assert sorted(seen) == sorted(int(im["id"]) for im in ds.images) and set(seen.values()) == {1}


def test_too_few_images_for_the_ranks_is_refused():
    with pytest.raises(ValueError, match="3 training images cannot feed 4 ranks"):
        GroupedBatchStream([0, 0, 1], 4, 0, 4, seed=0)
