"""The GPU check's speed part: ours versus stock torchvision, the hot-loop variants, FLOPs per image and MFU.

At 800x1216 with 7 objects per image (COCO's mean), float16 autocast, NCHW, cudnn.benchmark on
(the trainer's defaults):

- FLOPs of one training step (forward and backward) per image, counted by
  ``torch.utils.flop_counter.FlopCounterMode`` at batch 1 for both models. It counts matrix
  products and convolutions (forward and backward) only: RoIAlign, NMS, interpolation, the
  element-wise work (frozen BN, ReLU, additions, losses) and the optimizer are not counted, so
  the figure is the model's dense FLOPs, the usual numerator of MFU;
- img/s of ours and stock (benchmarks/shapes.py: ``Trainer``, ``stock_model``), in alternating
  rounds in one process;
- the hot-loop variants of ours (benchmarks/hot_loop.py's: uint8 images, six loss reads), in
  alternating rounds;
- MFU = FLOPs per image x img/s / the GPU's peak dense float16 tensor rate (``PEAK_FP16``) and
  against the matrix rate env.json measured on this GPU.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import results  # noqa: E402
import shapes  # noqa: E402

# Peak dense float16 tensor-core TFLOP/s per GPU (without sparsity), from NVIDIA's datasheets:
# Tesla V100 (SXM2: 125), A100 Tensor Core GPU (312; 624 is with sparsity), H100 Tensor Core GPU
# (SXM: 1,979 with sparsity, so 989 dense) and H200 (the H100 SXM's rates). First match wins.
PEAK_FP16 = (("H200", 989.0), ("H100", 989.0), ("A100", 312.0), ("V100", 125.0))
SHAPE, OBJECTS = "800x1216", 7


def peak_tflops(name: str) -> float | None:
    return next((peak for key, peak in PEAK_FP16 if key in name), None)


def count_flops(trainer, images, targets) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        trainer.step(images[:1], targets[:1])
    by_op = {str(op): n for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return {"per_image": counter.get_total_flops(), "by_op": by_op}


def timed(trainer, images, targets, steps: int, reads: str = "vector") -> float:
    """Seconds per step over ``steps`` steps (each ends with its host read)."""
    trainer.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.step(images, targets, reads=reads)
    trainer.synchronize()
    return (time.perf_counter() - started) / steps


def alternate(contenders: dict, rounds: int, steps: int, warmup: int) -> dict:
    """img/s per contender, (trainer, images, targets, reads) each, in rotating order per round."""
    names = list(contenders)
    for name in names:
        trainer, images, targets, reads = contenders[name]
        for _ in range(warmup):
            trainer.step(images, targets, reads=reads)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for run in range(rounds):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            trainer, images, targets, reads = contenders[name]
            rates[name].append(len(images) / timed(trainer, images, targets, steps, reads))
    return {name: {"img_s": statistics.median(r), "runs": r} for name, r in rates.items()}


def main(argv: list[str] | None = None) -> int:
    parser = results.options(__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--flops-only", action="store_true", help="count FLOPs only (no GPU needed: RESULTS.md)")
    args = parser.parse_args(argv)
    import torch

    cuda = torch.cuda.is_available() and not args.dry_run
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    torch.backends.cudnn.benchmark = cuda
    torch.manual_seed(0)
    index = json.loads((args.work / "fixed" / "index.json").read_text())
    weights = args.work / "coco" / "models" / "R-50.pkl"
    ids = index["index"][f"{SHAPE}/{OBJECTS}"][: args.batch]
    images, targets = shapes.load_batch(args.work / "fixed", ids, scale=index["scale"])
    if cuda:
        images = [img.pin_memory() for img in images]
    recipe = shapes.recipe_for(args.batch, args.dry_run, index["scale"])
    ours = shapes.Trainer(recipe, device, weights=weights)
    stock = shapes.Trainer(recipe, device, weights=weights, stock=True)
    stock_targets = shapes.stock_targets(targets, images)
    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    data: dict = {
        "device": name,
        "shape": SHAPE,
        "padded": shapes.padded(images),
        "objects": OBJECTS,
        "batch": args.batch,
        "amp": cuda,
    }
    data["flops"] = {"ours": count_flops(ours, images, targets), "stock": count_flops(stock, images, stock_targets)}
    results.write(args.out, "speed", data, "ok" if args.flops_only else "partial")
    if args.flops_only:
        return 0

    data["ours_vs_stock"] = alternate(
        {"ours": (ours, images, targets, "vector"), "stock": (stock, images, stock_targets, "vector")},
        args.rounds,
        args.steps,
        args.warmup,
    )
    rate = data["ours_vs_stock"]["ours"]["img_s"]
    data["ours_over_stock"] = rate / data["ours_vs_stock"]["stock"]["img_s"]
    results.write(args.out, "speed", data, "partial")
    del stock

    uint8 = [img.to(torch.uint8) for img in images]
    if cuda:
        uint8 = [img.pin_memory() for img in uint8]
    data["hot_loop"] = alternate(
        {
            "base": (ours, images, targets, "vector"),
            "uint8": (ours, uint8, targets, "vector"),
            "six-reads": (ours, images, targets, "each"),
        },
        args.rounds,
        args.steps,
        1,
    )
    achieved = data["flops"]["ours"]["per_image"] * rate / 1e12
    peak = peak_tflops(name)
    measured = results.read(args.out, "env").get("fp16_matmul_tflops")
    data["mfu"] = {
        "achieved_tflops": achieved,
        "peak_tflops": peak,
        "mfu": achieved / peak if peak else None,
        "measured_matmul_tflops": measured,
        "of_measured_matmul": achieved / measured if measured else None,
    }
    results.write(args.out, "speed", data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
