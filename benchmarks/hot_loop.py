"""Hot-loop items of the training step on the CPU, A/B: uint8 images, and one host read of the losses.

Two changes a GPU run wants, measured where the suite's CPU runs would pay for them:

- images handed to the device as uint8 and made float there (a quarter of the bytes through
  PCIe), against float32 images (what the data path yields today): on a CPU the ``.float()``
  becomes a real conversion instead of a no-op;
- the loss terms read on the host once per iteration, as one stacked vector (what train.py
  does), against a ``float()`` per term and one for the total (six reads): on a CPU neither is a
  device sync, but the stacking costs a few small ops.

Variants: ``base`` (float32 images, one vector read), ``uint8`` (uint8 images, one vector
read) and ``six-reads`` (float32 images, six reads). Each run is a fresh process (model, batch,
3 warm-up steps, then timed steps), the variants in rotating order each round; the figure is
the median over runs of each run's median step. The model and batch are the smoke recipe's
(the suite's CPU runs): 1 image of about 128x195 with 7 objects, from the trainer's data path.

The two operations are also timed alone (``--ops``: the best of many repeats, which contention
hardly moves), against which a step's time says whether they can show at all.

    .venv/bin/python benchmarks/hot_loop.py --runs 5
    .venv/bin/python benchmarks/hot_loop.py --ops
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shapes  # noqa: E402

VARIANTS = {"base": ("float32", "vector"), "uint8": ("uint8", "vector"), "six-reads": ("float32", "each")}
SCALE = 0.16  # 800x1216 -> 128x195: the smoke recipe's image size


def one_run(variant: str, batch: int, steps: int, threads: int, tree: Path, ids: list[int]) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dtype, reads = VARIANTS[variant]
    trainer = shapes.Trainer(shapes.recipe_for(batch, dry_run=True, scale=SCALE), "cpu", amp=False)
    images, targets = shapes.load_batch(tree, ids[:batch], scale=SCALE)
    if dtype == "uint8":
        images = [img.to(torch.uint8) for img in images]
    times = []
    for n in range(3 + steps):
        started = time.perf_counter()
        trainer.step(images, targets, reads=reads)
        if n >= 3:
            times.append(time.perf_counter() - started)
    return {"variant": variant, "median_step_s": statistics.median(times), "steps": times}


def op_costs(repeats: int = 200) -> dict:
    """Seconds of each operation alone (best of ``repeats``): the uint8-to-float conversion of one
    image (smoke size and 800x1216; float32 images make ``.float()`` a no-op), and the loss read
    (one stacked vector's ``tolist`` against six ``float()``) on the five loss terms and their sum."""
    import timeit

    import torch

    costs = {}
    for name, (height, width) in {"smoke_128x195": (128, 195), "full_800x1216": (800, 1216)}.items():
        image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
        costs[f"uint8_to_float_{name}"] = min(timeit.repeat(image.float, number=1, repeat=repeats))
    weight = torch.ones(5, requires_grad=True)
    terms = list(weight * 2.0)
    total = sum(terms)

    def vector() -> list[float]:
        return torch.stack([total.detach().float()] + [t.detach().float() for t in terms]).tolist()

    def six() -> list[float]:
        return [float(total.detach())] + [float(t.detach()) for t in terms]

    costs["loss_read_vector"] = min(timeit.repeat(vector, number=1, repeat=repeats))
    costs["loss_read_six"] = min(timeit.repeat(six, number=1, repeat=repeats))
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ops", action="store_true", help="time the two operations alone")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.ops:
        for name, seconds in op_costs().items():
            print(f"{name}: {seconds * 1e6:.1f} us")
        return 0
    if args.one:
        ids = json.loads((args.tree / "ids.json").read_text())
        print(json.dumps(one_run(args.one, args.batch, args.steps, args.threads, args.tree, ids)))
        return 0

    runs: dict[str, list[float]] = {v: [] for v in VARIANTS}
    names = list(VARIANTS)
    with tempfile.TemporaryDirectory() as folder:
        tree, index = shapes.make_tree(Path(folder), args.batch, ["800x1216"], [7], scale=SCALE)
        (tree / "ids.json").write_text(json.dumps(index[("800x1216", 7)]))
        for run in range(args.runs):
            for variant in names[run % 3 :] + names[: run % 3]:
                command = [
                    sys.executable,
                    __file__,
                    "--one",
                    variant,
                    "--tree",
                    str(tree),
                    "--steps",
                    str(args.steps),
                    "--batch",
                    str(args.batch),
                    "--threads",
                    str(args.threads),
                ]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return 1
                result = json.loads(done.stdout.strip().splitlines()[-1])
                runs[variant].append(result["median_step_s"])
                print(
                    f"run {run + 1}/{args.runs} {variant}: {result['median_step_s'] * 1000:.1f} ms/step",
                    file=sys.stderr,
                    flush=True,
                )
    import torch

    median = {v: statistics.median(t) for v, t in runs.items()}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads; "
        f"smoke model, batch {args.batch}, {args.steps} timed steps per run, {args.runs} runs per variant"
    )
    print("| variant | images | loss reads | median ms/step | range ms | vs base |")
    print("|---|---|---|---|---|---|")
    for v, (dtype, reads) in VARIANTS.items():
        print(
            f"| {v} | {dtype} | {'one vector' if reads == 'vector' else 'six float()'} | {median[v] * 1000:.1f} | "
            f"{min(runs[v]) * 1000:.1f}-{max(runs[v]) * 1000:.1f} | {median[v] / median['base']:.3f}x |"
        )
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": median}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
