"""The GPU check's memory parts: peak memory and speed per batch shape, and what fits under a memory cap.

One training step as train.py takes it (shapes.Trainer: float16 autocast, loss scaling, fused
SGD), on batches from the trainer's data path (benchmarks/shapes.py: 800x1216, 800x1344 and the
mixed 1344x1344; 7 and 60 objects per image), with and without channels_last and
cudnn.benchmark. Per configuration: whether every step ran (or where it ran out of memory),
img/s over the timed steps, and the peak memory allocated and reserved over all its steps.

With ``--cap-gib`` the process first limits itself to that much of the GPU
(``torch.cuda.set_per_process_memory_fraction``: a V100-16GB is about 15.5 GiB usable, an
A100-40GB about 38.5) and checks that the limit holds (allocating until refused); then each
configuration either fits or runs out of memory under it. One process per cap.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import results  # noqa: E402
import shapes  # noqa: E402

GIB = 2**30


def pinned(value, device):
    """Host tensors in page-locked memory (as the trainer's loader gives them on a GPU)."""
    if device.type != "cuda":
        return value
    if hasattr(value, "pin_memory") and hasattr(value, "is_pinned"):
        return value.pin_memory()
    if isinstance(value, dict):
        return {k: pinned(v, device) for k, v in value.items()}
    return value


def apply_cap(torch, cap_gib: float) -> dict:
    """Limit this process to ``cap_gib`` and check the limit by allocating 256 MiB blocks until refused."""
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(cap_gib * GIB / total, 0)
    blocks = []
    try:
        while len(blocks) * 0.25 < cap_gib + 4:
            blocks.append(torch.empty(GIB // 4, dtype=torch.uint8, device="cuda"))
    except torch.cuda.OutOfMemoryError:
        pass
    reached = len(blocks) * 0.25
    del blocks
    gc.collect()
    torch.cuda.empty_cache()
    return {
        "cap_gib": cap_gib,
        "fraction": cap_gib * GIB / total,
        "allocated_until_refused_gib": reached,
        "enforced": reached <= cap_gib + 0.25,
    }


def run_config(trainer, images, targets, warmup: int, steps: int) -> dict:
    torch = trainer.torch
    cuda = trainer.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, done, finite = [], 0, True
    try:
        for n in range(warmup + steps):
            started = time.perf_counter()
            values = trainer.step(images, targets)  # ends with the host read: the step is done
            finite = finite and all(v == v and abs(v) != float("inf") for v in values)
            done += 1
            if n >= warmup:
                times.append(time.perf_counter() - started)
        found = {
            "fits": True,
            "img_s": len(images) / statistics.median(times),
            "step_ms": statistics.median(times) * 1e3,
            "loss_finite": finite,
        }
    except torch.cuda.OutOfMemoryError as err:
        found = {"fits": False, "oom_at_step": done + 1, "error": str(err).splitlines()[0][:240]}
    if cuda:
        found["peak_allocated_gib"] = torch.cuda.max_memory_allocated() / GIB
        found["peak_reserved_gib"] = torch.cuda.max_memory_reserved() / GIB
    if not found["fits"]:
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.scaler = torch.amp.GradScaler("cuda", enabled=trainer.amp)  # a step cut short leaves it mid-step
        gc.collect()
        torch.cuda.empty_cache()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = results.options(__doc__.split("\n")[0])
    parser.add_argument("--name", default="matrix", help="the part's name (its JSON file)")
    parser.add_argument("--batches", type=int, nargs="+", default=[8])
    parser.add_argument("--layouts", nargs="+", default=["nchw", "channels_last"], choices=["nchw", "channels_last"])
    parser.add_argument("--benchmark", nargs="+", default=["on", "off"], choices=["on", "off"])
    parser.add_argument("--shapes", nargs="+", default=list(shapes.SHAPES), choices=list(shapes.SHAPES))
    parser.add_argument("--cap-gib", type=float)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args(argv)
    import torch

    index = json.loads((args.work / "fixed" / "index.json").read_text())
    device = torch.device("cpu" if args.dry_run or not torch.cuda.is_available() else "cuda", 0)
    torch.manual_seed(0)
    data: dict = {"device": str(device), "batches": args.batches, "rows": []}
    if args.cap_gib is not None:
        data["cap"] = (
            apply_cap(torch, args.cap_gib)
            if device.type == "cuda"
            else {"cap_gib": args.cap_gib, "enforced": "not on a CPU"}
        )
    weights = args.work / "coco" / "models" / "R-50.pkl"
    batches = {}
    for key, ids in index["index"].items():
        if key.split("/")[0] not in args.shapes:
            continue
        images, targets = shapes.load_batch(
            args.work / "fixed", ids[: max(args.batches)], scale=index["scale"], workers=0 if args.dry_run else 8
        )
        batches[key] = ([pinned(i, device) for i in images], [pinned(t, device) for t in targets])
    results.write(args.out, args.name, data, "partial")
    for batch in args.batches:
        recipe = shapes.recipe_for(batch, args.dry_run, index["scale"])
        for layout in args.layouts:
            trainer = shapes.Trainer(recipe, device, channels_last=layout == "channels_last", weights=weights)
            for bench in args.benchmark:
                torch.backends.cudnn.benchmark = bench == "on"
                for key, (images, targets) in batches.items():
                    shape, objects = key.split("/")
                    row = {
                        "shape": shape,
                        "padded": shapes.padded(images[:batch]),
                        "objects": int(objects),
                        "batch": batch,
                        "layout": layout,
                        "cudnn_benchmark": bench,
                    }
                    row.update(run_config(trainer, images[:batch], targets[:batch], args.warmup, args.steps))
                    data["rows"].append(row)
                    results.write(args.out, args.name, data, "partial")
                    print(json.dumps(row), flush=True)
            del trainer
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    results.write(args.out, args.name, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
