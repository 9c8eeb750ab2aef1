"""The training batch stream: aspect-grouped global batches, each rank's share, every image once per pass.

The reference groups images by aspect ratio (h/w >= 1 is group 1, the rest group 0) and never
puts two groups in one batch, so a batch is padded to one shape family (800x1344 or 1344x800 at
most), not to a square. Here every global batch is cut from one group, and each rank takes its
contiguous share of it, so all ranks of an iteration pad to the same family too.

Training is a stream of passes; a pass is one random order of the whole training set, cut into
global batches. Epochs are counted in iterations, as the reference counts them (``recipe``
``iterations_per_epoch``), so a pass lasts about one epoch.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator


def aspect_group(width: float, height: float) -> int:
    """The reference's two groups: 1 for h/w >= 1 (portrait and square), 0 for landscape."""
    return int(float(height) / float(width) >= 1.0)


def share(batch: list[int], rank: int, world: int) -> list[int]:
    """Rank's contiguous share of a global batch, sizes differing by at most one."""
    base, extra = divmod(len(batch), world)
    start = rank * base + min(rank, extra)
    return batch[start : start + base + (1 if rank < extra else 0)]


class GroupedBatchStream:
    """Rank ``rank``'s batches, pass after pass, forever (the trainer counts the iterations).

    Each pass draws one permutation (the same on every rank: seeded by seed and pass number),
    fills global batches of ``global_batch`` images of one group, and ends each group with its
    leftovers. A leftover smaller than the number of ranks cannot give every rank an image (DDP
    needs every rank in every step), so it is balanced against the group's previous batch
    (two batches of at least ``world`` images, neither larger than a full one) or, where that
    batch is too small to split, merged into it. Only a group with fewer images than ranks in
    the whole pass (a tiny test set; never COCO) is mixed into another group's batch.
    """

    def __init__(self, groups: list[int], global_batch: int, rank: int, world: int, seed: int):
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not a multiple of {world} ranks")
        if len(groups) < world:
            raise ValueError(f"{len(groups)} training images cannot feed {world} ranks")
        self.groups = groups
        self.global_batch = global_batch
        self.rank, self.world, self.seed = rank, world, seed

    def pass_batches(self, number: int) -> list[list[int]]:
        """The global batches of pass ``number``, in training order."""
        order = list(range(len(self.groups)))
        random.Random(self.seed * 1_000_003 + number).shuffle(order)
        by_group: dict[int, list[list[int]]] = {}
        for index in order:
            batches = by_group.setdefault(self.groups[index], [[]])
            if len(batches[-1]) == self.global_batch:
                batches.append([])
            batches[-1].append(index)
        stray: list[int] = []
        for group in sorted(by_group):
            batches = by_group[group]
            self._balance_tail(batches)
            if len(batches) == 1 and len(batches[0]) < self.world:
                stray += batches.pop()
        result = [b for group in sorted(by_group) for b in by_group[group] if b]
        if stray:
            if result and len(stray) < self.world:
                result[-1] += stray
            else:
                result.append(stray)
        # Full and partial batches interleaved at random, as the reference orders its batches by
        # their first image in the pass's random order.
        random.Random(self.seed * 7_919 + number).shuffle(result)
        return result

    def _balance_tail(self, batches: list[list[int]]) -> None:
        if len(batches) < 2 or len(batches[-1]) >= self.world:
            return
        tail = batches.pop()
        previous = batches.pop()
        joined = previous + tail
        if len(joined) >= 2 * self.world:
            batches += [joined[: -self.world], joined[-self.world :]]
        else:
            batches.append(joined)

    def __iter__(self) -> Iterator[list[int]]:
        for number in itertools.count():
            for batch in self.pass_batches(number):
                yield share(batch, self.rank, self.world)
