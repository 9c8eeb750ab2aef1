"""The GPU check's SYNTHETIC data sets, made once in the scratch folder for every part.

- ``fixed/``: training images of exact shapes and object counts (benchmarks/shapes.py), enough
  for the largest batch of every (shape, objects) pair, and ``fixed/index.json`` that maps each
  pair to its image indices;
- ``coco/``: a COCO-shaped tree with COCO-sized images (480-640 px a side, resized to 800/1333 by
  the data path) and a synthetic R-50.pkl, for the trainer's run and the evaluation's; its
  training set is sized so that an epoch at the check's batch is 30 iterations.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import results  # noqa: E402
import shapes  # noqa: E402

from mlperf_maskrcnn.synthetic import SynthSpec, write_tree  # noqa: E402

# GPU sizes: batches up to 8 (DGX A100's images per GPU); 235 + 1 kept extra = 236 usable training
# images = 29 full batches of 8 + 1: floor(236 / 8) + 1 = 30 iterations per epoch.
FULL = {"batch": 8, "scale": 1.0, "train": 235, "val": 16, "sides": (480, 640)}
DRY = {"batch": 2, "scale": shapes.DRY_SCALE, "train": 1, "val": 2, "sides": (48, 64)}


def fixed_set(folder: Path, batch: int, scale: float) -> dict:
    tree, index = shapes.make_tree(folder, batch, scale=scale)
    mapping = {f"{shape}/{count}": ids for (shape, count), ids in index.items()}
    (tree / "index.json").write_text(json.dumps({"scale": scale, "batch": batch, "index": mapping}))
    return {"images": sum(len(ids) for ids in mapping.values())}


def coco_tree(folder: Path, train: int, val: int, sides: tuple[int, int]) -> dict:
    write_tree(folder, SynthSpec(train_images=train, val_images=val, min_side=sides[0], max_side=sides[1], seed=3))
    return {"train_images": train, "val_images": val, "sides": list(sides)}


def main(argv: list[str] | None = None) -> int:
    args = results.options(__doc__.split("\n")[0]).parse_args(argv)
    size = DRY if args.dry_run else FULL
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        fixed = pool.submit(fixed_set, args.work / "fixed", size["batch"], size["scale"])
        coco = pool.submit(coco_tree, args.work / "coco", size["train"], size["val"], size["sides"])
        made = {"fixed": fixed.result(), "coco": coco.result()}
    results.write(args.out, "prepare", {**made, "seconds": time.perf_counter() - started, "work": str(args.work)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
