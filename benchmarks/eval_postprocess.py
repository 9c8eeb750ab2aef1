"""Evaluation post-processing per image, before and after: detections to COCO RLE masks.

Both paths start from what the ROI heads return for one image (boxes in the resized image, 28x28
mask probabilities, scores, labels) and end with one COCO RLE per detection:

- before: torchvision's own post-processing (``GeneralizedRCNNTransform.postprocess``: boxes
  rescaled, each mask pasted into the original image one by one, as float), then the threshold,
  the copy to the host and the C-order to Fortran-order copy pycocotools wants, then encoding;
  what the trainer did until it was reshaped.
- after: ``evaluate.scale_boxes``, ``evaluate.paste_masks`` (the reference's paste: one host read
  of all box corners, uint8 masks) and ``evaluate.encode_masks`` (the transpose made on the
  masks' device), the trainer's path now.

Inputs are SYNTHETIC and the same for both: COCO-sized images (original 480x640, resized to
800x1066), 100 detections each (the reference's detections per image), boxes of COCO-like sizes,
masks that are smooth blobs (so the RLEs are as long as real ones, not noise). Paths alternate
image by image; the figure is the median seconds per image. Agreement: the share of detections
whose two RLEs are identical, and the mean mask IoU between the paths.

    .venv/bin/python benchmarks/eval_postprocess.py --images 20
    python3 benchmarks/eval_postprocess.py --device cuda   # on a GPU (benchmarks/gpu/check.sh)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

ORIGINAL = (480, 640)
RESIZED = (800, 1066)


def synthetic_outputs(images: int, detections: int, device: str, seed: int = 0) -> list[dict]:
    """ROI-head outputs of ``images`` images: boxes in the resized image, blob-shaped masks."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    height, width = RESIZED
    outputs = []
    for _ in range(images):
        side = torch.exp(torch.empty(detections, 2).uniform_(3.0, 6.2, generator=generator))  # ~20 to ~490 px
        side = torch.minimum(side, torch.tensor([width * 0.9, height * 0.9]))
        corner = torch.rand(detections, 2, generator=generator) * (torch.tensor([width, height]) - side)
        boxes = torch.cat([corner, corner + side], dim=1)
        grid = torch.linspace(-1, 1, 28)
        centre = (torch.rand(detections, 2, 1, 1, generator=generator) - 0.5) * 0.6
        radius = 0.4 + 0.5 * torch.rand(detections, 1, 1, generator=generator)
        distance = ((grid.view(1, 1, 28) - centre[:, 0]) ** 2 + (grid.view(1, 28, 1) - centre[:, 1]) ** 2).sqrt()
        masks = torch.sigmoid((radius - distance) * 12).unsqueeze(1)
        outputs.append(
            {
                "boxes": boxes.to(device),
                "masks": masks.to(device),
                "scores": torch.rand(detections, generator=generator).to(device),
                "labels": torch.randint(1, 81, (detections,), generator=generator).to(device),
            }
        )
    return outputs


def before(transform, output: dict) -> list[dict]:
    """torchvision's post-processing, then host copies and encoding, as the trainer used to."""
    import numpy as np
    from pycocotools import mask as mask_utils

    result = transform.postprocess([dict(output)], [RESIZED], [ORIGINAL])[0]
    binary = (result["masks"][:, 0] > 0.5).cpu().numpy().astype(np.uint8)
    result["boxes"].cpu()
    return mask_utils.encode(np.asfortranarray(binary.transpose(1, 2, 0)))


def after(output: dict) -> list[dict]:
    """The trainer's post-processing now (mlperf_maskrcnn.evaluate)."""
    from mlperf_maskrcnn import evaluate

    boxes = evaluate.scale_boxes(output["boxes"].float(), RESIZED, ORIGINAL)
    binary = evaluate.paste_masks(output["masks"], boxes, ORIGINAL[0], ORIGINAL[1])
    boxes.cpu()
    return evaluate.encode_masks(binary)


def agreement(first: list[dict], second: list[dict]) -> tuple[float, float]:
    """(share of identical RLEs, mean IoU) between two paths' masks of the same detections."""
    from pycocotools import mask as mask_utils

    same = sum(a["counts"] == b["counts"] for a, b in zip(first, second))
    ious = [float(mask_utils.iou([a], [b], [0])[0][0]) for a, b in zip(first, second)]
    return same / max(len(first), 1), statistics.fmean(ious) if ious else 1.0


def measure(images: int, detections: int, device: str, threads: int) -> dict:
    import torch
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    torch.set_num_threads(threads)
    transform = GeneralizedRCNNTransform(800, 1333, [0.0] * 3, [1.0] * 3).eval()
    outputs = synthetic_outputs(images + 1, detections, device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    before(transform, outputs[-1]), after(outputs[-1])  # warm-up (kernels, allocator)
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    same, iou = [], []
    for n, output in enumerate(outputs[:-1]):
        rles = {}
        for path in ("before", "after") if n % 2 == 0 else ("after", "before"):
            sync()
            started = time.perf_counter()
            rles[path] = before(transform, output) if path == "before" else after(output)
            sync()
            seconds[path].append(time.perf_counter() - started)
        share, mean_iou = agreement(rles["before"], rles["after"])
        same.append(share)
        iou.append(mean_iou)
    median = {path: statistics.median(values) for path, values in seconds.items()}
    return {
        "device": device,
        "images": images,
        "detections_per_image": detections,
        "threads": threads,
        "original": list(ORIGINAL),
        "resized": list(RESIZED),
        "before_s_per_image": median["before"],
        "after_s_per_image": median["after"],
        "before_range": [min(seconds["before"]), max(seconds["before"])],
        "after_range": [min(seconds["after"]), max(seconds["after"])],
        "speedup": median["before"] / median["after"],
        "identical_rle_share": statistics.fmean(same),
        "mean_iou": statistics.fmean(iou),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    import torch

    found = measure(args.images, args.detections, args.device, args.threads)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, device {args.device}, "
        f"{args.threads} threads"
    )
    print(
        f"{args.images} images, {args.detections} detections each, {ORIGINAL[0]}x{ORIGINAL[1]} original, "
        f"{RESIZED[0]}x{RESIZED[1]} resized"
    )
    print("| path | median ms per image | range ms |")
    print("|---|---|---|")
    for path in ("before", "after"):
        low, high = found[f"{path}_range"]
        print(f"| {path} | {found[f'{path}_s_per_image'] * 1000:.1f} | {low * 1000:.1f}-{high * 1000:.1f} |")
    print(
        f"after / before: {found['speedup']:.2f}x faster; identical RLEs {found['identical_rle_share']:.1%}, "
        f"mean mask IoU {found['mean_iou']:.4f}"
    )
    if args.json:
        args.json.write_text(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
