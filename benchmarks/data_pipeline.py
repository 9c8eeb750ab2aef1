"""Benchmark 3: training images per second per CPU core from JPEG files: decode, resize to the
reference size (800 short side, 1333 at most), random flip, BGR tensor, aspect-grouped batches
of 2, as the trainer's loader does (``mlperf_maskrcnn.data``), on one core (no worker
processes, one torch thread).

The images are SYNTHETIC JPEGs of COCO's sizes (480-640 pixels a side; no COCO here), made once
and cached. Set against what one GPU consumes in NVIDIA's v0.7 runs (benchmark.md: about 25
img/s per V100, 50 per A100), it says how many cores each GPU's loader needs, and whether the
cores the suite binds to each rank (DGX-1: 5 per V100, LANTA: 16 per A100) are enough.

    .venv/bin/python benchmarks/data_pipeline.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Images per second one GPU trains on in NVIDIA's v0.7 runs, and the cores the suite binds to
# each GPU's rank on the two systems.
GPU_DEMAND = {"V100 (DGX-1)": (25.0, 5), "A100 (LANTA)": (50.0, 16)}


def tree(cache: Path, images: int) -> Path:
    from mlperf_maskrcnn.synthetic import SynthSpec, write_dataset

    root = cache / f"loader-set-{images}"
    if not (root / "annotations" / "instances_train2017.json").is_file():
        print(f"making {images} synthetic JPEGs ...", file=sys.stderr, flush=True)
        write_dataset(root, SynthSpec(train_images=images, val_images=2, min_side=480, max_side=640, seed=3))
    return root


def one_pass(root: Path, images: int, batch: int) -> tuple[int, float]:
    """One core: no worker processes (the caller sets one torch thread)."""
    from mlperf_maskrcnn.probes import loader_rate

    return loader_rate(str(root), images, workers=0, min_size=800, max_size=1333, batch=batch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = parser.parse_args(argv)

    import PIL
    import torch

    torch.set_num_threads(1)
    root = tree(args.cache, args.images)
    one_pass(root, args.images, args.batch)  # warm the page cache: the figure is decode, not disk
    rates = []
    for run in range(args.runs):
        done, seconds = one_pass(root, args.images, args.batch)
        rates.append(done / seconds)
        print(f"run {run + 1}/{args.runs}: {done} images, {rates[-1]:.1f} img/s", file=sys.stderr, flush=True)
    median = statistics.median(rates)
    print(f"{args.images} synthetic JPEGs 480-640 px -> 800 short side, batch {args.batch}, 1 core, 1 thread")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__}, Pillow {PIL.__version__}")  # fmt: skip
    print(f"per core: median {median:.1f} img/s, range {min(rates):.1f}-{max(rates):.1f} ({args.runs} runs)")
    for gpu, (demand, bound) in GPU_DEMAND.items():
        need = demand / median
        verdict = "enough" if bound >= need else "NOT enough"
        print(f"{gpu}: {demand:.0f} img/s needs {need:.1f} cores at this rate; {bound} bound per rank: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
