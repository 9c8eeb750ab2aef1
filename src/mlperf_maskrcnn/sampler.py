"""The training batch sampler: aspect-grouped global batches, each rank's share, every image once per epoch."""

from __future__ import annotations

import random


class GroupedEpochSampler:
    """Per-rank batches for one epoch: every training image exactly once across all ranks.

    Each epoch draws one permutation (the same on every rank: seeded by seed and epoch), fills
    global batches of ``global_batch`` images of one aspect group (h/w <= 1 or > 1), then puts
    the leftovers of both groups into the final batch(es). Rank r takes its contiguous share of
    each global batch; a short final batch is shared as evenly as possible, and one with fewer
    images than ranks joins the batch before it, so every rank trains on at least one image.
    """

    def __init__(self, groups: list[int], global_batch: int, rank: int, world: int, seed: int):
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not a multiple of {world} ranks")
        self.groups = groups
        self.global_batch = global_batch
        self.rank, self.world, self.seed = rank, world, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> list[list[int]]:
        order = list(range(len(self.groups)))
        random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        pending: dict[int, list[int]] = {}
        batches: list[list[int]] = []
        for index in order:
            bucket = pending.setdefault(self.groups[index], [])
            bucket.append(index)
            if len(bucket) == self.global_batch:
                batches.append(bucket)
                pending[self.groups[index]] = []
        leftovers = [i for bucket in pending.values() for i in bucket]
        for start in range(0, len(leftovers), self.global_batch):
            batches.append(leftovers[start : start + self.global_batch])
        if len(batches) > 1 and len(batches[-1]) < self.world:
            # Too few images to give every rank one: they join the batch before, so no rank idles
            # (DDP needs every rank in every step) and no image is dropped or repeated.
            tail = batches.pop()
            batches[-1] = batches[-1] + tail
        # Shuffle batch order so the mixed leftover batch is not always last.
        random.Random(self.seed * 7_919 + self.epoch).shuffle(batches)
        return batches

    def __iter__(self):
        for batch in self.global_batches():
            yield share(batch, self.rank, self.world)

    def __len__(self) -> int:
        return len(self.global_batches())


def share(batch: list[int], rank: int, world: int) -> list[int]:
    """Rank's contiguous share of a global batch, sizes differing by at most one."""
    base, extra = divmod(len(batch), world)
    start = rank * base + min(rank, extra)
    return batch[start : start + base + (1 if rank < extra else 0)]
