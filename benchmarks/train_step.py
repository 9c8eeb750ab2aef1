"""Benchmark 1: training step images/s and peak memory, the bundled model and solver versus
stock torchvision Mask R-CNN, same image size, batch, threads and inputs.

- ours: ``mlperf_maskrcnn.model.build_model``, the reference's model and targets, with the
  reference's sizes (DGX-1 recipe: 1,000 RPN candidates per image, 512 sampled ROIs), frozen BN
  (eps 0), stem and res2 frozen, MSRA strides, batch-wide candidates, straddling anchors ignored,
  polygon mask targets rasterised at 28x28, the reference's SGD groups (biases 2x LR, no decay);
  inputs already resized by the data pipeline, as in training.
- stock: ``maskrcnn_resnet50_fpn``'s model as its factory builds it with an ImageNet backbone
  (FrozenBatchNorm2d, 3 trainable backbone layers, its default RPN/ROI sizes: 2,000 proposals
  per image) with random weights (none can be downloaded here), torchvision's reference SGD
  (lr 0.02, momentum 0.9, weight decay 1e-4); its transform resizes every input to
  ``min_size`` (set to the input size, so it rescales by 1.0).

Each measurement runs in a fresh process (so peak RSS is that model's), ours and stock
alternating; the learning rate is 0 so that every step computes on the same finite weights.
``--device cuda --amp`` measures on a GPU with float16 autocast (benchmarks/gpu/).

    .venv/bin/python benchmarks/train_step.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _inputs(torch, size: int, batch: int, device: str, seed: int, bgr_255: bool):
    """The same random images and objects for both models (ours reads BGR 0-255 and polygons, as the
    data pipeline gives them; stock RGB 0-1 and full-image bitmasks)."""
    import numpy as np

    from mlperf_maskrcnn.mask_targets import InstanceMasks

    generator = torch.Generator().manual_seed(seed)
    height, width = size, math.ceil(size * 4 / 3)
    images, targets = [], []
    for _ in range(batch):
        rgb = torch.rand(3, height, width, generator=generator)
        images.append((rgb.flip(0) * 255.0 if bgr_255 else rgb).to(device))
        count = 4
        xy = torch.rand(count, 2, generator=generator) * torch.tensor([width * 0.6, height * 0.6])
        wh = 16 + torch.rand(count, 2, generator=generator) * torch.tensor([width * 0.35, height * 0.35])
        boxes = torch.cat([xy, xy + wh], dim=1)
        masks = torch.zeros(count, height, width, dtype=torch.uint8)
        polygons = []
        for i, (x1, y1, x2, y2) in enumerate(boxes.round().int().tolist()):
            masks[i, y1:y2, x1:x2] = 1
            polygons.append([np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float32)])
        labels = torch.randint(1, 81, (count,), generator=generator)
        target = {"boxes": boxes.to(device), "labels": labels.to(device)}
        target["masks"] = InstanceMasks(polygons) if bgr_255 else masks.to(device)
        targets.append(target)
    return images, targets


def _ours(torch, size: int, batch: int):
    from mlperf_maskrcnn import recipe as recipes
    from mlperf_maskrcnn import solver
    from mlperf_maskrcnn.model import build_model

    base = recipes.load("nvidia_dgx1")
    per_image = base.num_image_candidates // base.images_per_gpu
    recipe = replace(base, images_per_gpu=batch, num_image_candidates=per_image * batch, min_size=size,
                     max_size=math.ceil(size * 4 / 3))  # fmt: skip
    model = build_model(recipe, num_classes=81)
    return model, solver.build_optimizer(model, recipe, torch.device("cpu"))


def _stock(torch, size: int, batch: int):
    from torchvision.models import resnet50
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops.misc import FrozenBatchNorm2d

    backbone = _resnet_fpn_extractor(resnet50(weights=None, norm_layer=FrozenBatchNorm2d), 3)
    model = MaskRCNN(backbone, num_classes=91, min_size=size, max_size=math.ceil(size * 4 / 3))
    params = [p for p in model.parameters() if p.requires_grad]
    return model, torch.optim.SGD(params, lr=0.02, momentum=0.9, weight_decay=1e-4)


def measure(which: str, size: int, batch: int, threads: int, steps: int, warmup: int, device: str, amp: bool) -> dict:
    """One model's steady training rate in this process."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, optimizer = (_ours if which == "ours" else _stock)(torch, size, batch)
    # Learning rate 0: the step does all its work (forward, losses, backward, momentum, decay) on the
    # same finite weights every time. From random weights at full LR both models reach NaN by the
    # second step, and timing NaN arithmetic measures nothing useful.
    for group in optimizer.param_groups:
        group["lr"] = 0.0
    model.to(device).train()
    images, targets = _inputs(torch, size, batch, device, seed=1, bgr_255=which == "ours")
    scaler = torch.amp.GradScaler(device, enabled=amp)

    def step() -> float:
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=amp):
            losses = model(images, targets)
            loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(loss.detach())

    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    finite = all(math.isfinite(step()) for _ in range(steps))
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {
        "which": which,
        "img_s": steps * batch / seconds,
        "finite": finite,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256, help="image short side (long side 4/3 of it)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5, help="measurements per model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="float16 autocast (GPU)")
    parser.add_argument("--one", choices=("ours", "stock"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="write the raw measurements here")
    args = parser.parse_args(argv)
    knobs = (args.size, args.batch, args.threads, args.steps, args.warmup, args.device, args.amp)
    if args.one:
        print(json.dumps(measure(args.one, *knobs)))
        return 0

    runs: dict[str, list[dict]] = {"ours": [], "stock": []}
    for run in range(args.runs):
        for which in ("ours", "stock") if run % 2 == 0 else ("stock", "ours"):
            command = [sys.executable, __file__, "--one", which, "--size", str(args.size), "--batch", str(args.batch),
                       "--threads", str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup),
                       "--device", args.device] + (["--amp"] if args.amp else [])  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[which].append(result)
            note = "" if result["finite"] else " (a non-finite loss: not a valid measurement)"
            print(f"run {run + 1}/{args.runs} {which}: {result['img_s']:.3f} img/s{note}", file=sys.stderr, flush=True)

    import torch
    import torchvision

    rate = {w: [r["img_s"] for r in rs] for w, rs in runs.items()}
    median = {w: statistics.median(v) for w, v in rate.items()}
    height, width = args.size, math.ceil(args.size * 4 / 3)
    print(f"image {height}x{width}, batch {args.batch}, {args.threads} threads, {args.steps} timed steps after "
          f"{args.warmup}, device {args.device}{' amp' if args.amp else ''}")  # fmt: skip
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__}, torchvision {torchvision.__version__}")  # fmt: skip
    memory = "peak_gpu_mb" if args.device == "cuda" else "peak_rss_mb"
    print(f"| model | median img/s | range img/s | median {memory} |")
    print("|---|---|---|---|")
    for w in ("ours", "stock"):
        peak = statistics.median(r[memory] for r in runs[w])
        print(f"| {w} | {median[w]:.3f} | {min(rate[w]):.3f}-{max(rate[w]):.3f} | {peak:.0f} |")
    print(f"ours / stock: {median['ours'] / median['stock']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
