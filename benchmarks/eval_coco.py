"""Benchmark 2: COCO bbox + segm evaluation at COCO scale, three ways, same AP.

A SYNTHETIC set shaped like COCO 2017 val (no COCO here): 5,000 images of 360-640 x 480-640
pixels, about 7.3 ground-truth objects per image (about 36,500 in all, polygon masks, 80 COCO
category ids, 1% crowd regions), and 100 detections with RLE masks per image, as the trainer's
inference writes them: some close to a ground-truth object, the rest anywhere.

Timed, per engine, from the detections in memory to the 12 summary numbers of both types
(loadRes, evaluate, accumulate, summarize); reading the annotation file is not timed (the
trainer's evaluator reads it once, during init). Engines, in rotating order each run:
- pycocotools: what the reference and most users run.
- faster-coco-eval: its C++ matching and accumulation, one process.
- ours: ``mlperf_maskrcnn.cocoeval.evaluate_all``: faster-coco-eval with the box and the mask
  evaluations in two processes.
Every engine's 24 numbers must equal pycocotools' to 1e-4.

    .venv/bin/python benchmarks/eval_coco.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mlperf_maskrcnn import cocoeval  # noqa: E402

# COCO 2017's 80 category ids (1-90 with gaps).
CATEGORY_IDS = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]


def _polygon(rng: np.random.Generator, x: float, y: float, w: float, h: float) -> list[float]:
    """A star-shaped polygon of 8-16 vertices inside the box."""
    count = int(rng.integers(8, 17))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = rng.uniform(0.6, 1.0, count)
    px = x + w / 2 + np.cos(angles) * radii * w / 2
    py = y + h / 2 + np.sin(angles) * radii * h / 2
    return np.stack([px, py], axis=1).ravel().round(2).tolist()


def _rle(polygon: list[float], height: int, width: int) -> dict:
    rle = mask_utils.merge(mask_utils.frPyObjects([polygon], height, width))
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def make_set(images: int, per_image: float, detections: int, seed: int) -> tuple[dict, list[dict]]:
    rng = np.random.default_rng(seed)
    gt = {"images": [], "annotations": [], "categories": [{"id": c, "name": f"c{c}"} for c in CATEGORY_IDS]}
    dets: list[dict] = []
    next_id = 1
    for image_id in range(1, images + 1):
        height, width = int(rng.integers(360, 641)), int(rng.integers(480, 641))
        gt["images"].append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "height": height, "width": width})
        objects = []
        for _ in range(int(rng.poisson(per_image))):
            w, h = float(rng.uniform(8, width / 2)), float(rng.uniform(8, height / 2))
            x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
            category = int(rng.choice(CATEGORY_IDS))
            crowd = rng.random() < 0.01
            polygon = _polygon(rng, x, y, w, h)
            if crowd:
                segmentation = _rle(polygon, height, width)
                area = float(mask_utils.area(mask_utils.frPyObjects([polygon], height, width)).sum())
            else:
                segmentation = [polygon]
                xs, ys = np.array(polygon[0::2]), np.array(polygon[1::2])
                area = float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))
            gt["annotations"].append({"id": next_id, "image_id": image_id, "category_id": category,
                                      "bbox": [x, y, w, h], "area": area, "iscrowd": int(crowd),
                                      "segmentation": segmentation})  # fmt: skip
            next_id += 1
            objects.append((x, y, w, h, category, polygon))
        for n in range(detections):
            if objects and n < 3 * len(objects):
                # Near a ground-truth object: its outline moved and scaled, sometimes mislabelled.
                x0, y0, w0, h0, category, outline = objects[n % len(objects)]
                jitter = rng.normal(0, 0.04 * (1 + n // len(objects)), 4)
                sx, sy = max(0.3, 1 + jitter[2]), max(0.3, 1 + jitter[3])
                cx, cy = x0 + w0 / 2 + jitter[0] * w0, y0 + h0 / 2 + jitter[1] * h0
                xs = np.clip(cx + (np.array(outline[0::2]) - x0 - w0 / 2) * sx, 0, width - 1)
                ys = np.clip(cy + (np.array(outline[1::2]) - y0 - h0 / 2) * sy, 0, height - 1)
                polygon = np.stack([xs, ys], axis=1).ravel().round(2).tolist()
                if rng.random() < 0.1:
                    category = int(rng.choice(CATEGORY_IDS))
                score = float(rng.uniform(0.3, 1.0))
            else:
                w, h = float(rng.uniform(4, width / 2)), float(rng.uniform(4, height / 2))
                x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
                polygon = _polygon(rng, x, y, w, h)
                category = int(rng.choice(CATEGORY_IDS))
                score = float(rng.uniform(0.0, 0.6))
            xs, ys = polygon[0::2], polygon[1::2]
            box = [min(xs), min(ys), max(max(xs) - min(xs), 1.0), max(max(ys) - min(ys), 1.0)]
            dets.append({"image_id": image_id, "category_id": category, "bbox": box,
                         "score": score, "segmentation": _rle(polygon, height, width)})  # fmt: skip
    return gt, dets


def load_or_make(cache: Path, images: int, per_image: float, detections: int, seed: int):
    name = cache / f"eval-set-{images}x{detections}-{per_image}-{seed}"
    gt_file, det_file = name.with_suffix(".json"), name.with_suffix(".dets.pickle")
    if not (gt_file.is_file() and det_file.is_file()):
        cache.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        print(f"making the synthetic set ({images} images) ...", file=sys.stderr, flush=True)
        gt, dets = make_set(images, per_image, detections, seed)
        gt_file.write_text(json.dumps(gt))
        det_file.write_bytes(pickle.dumps(dets, protocol=pickle.HIGHEST_PROTOCOL))
        print(f"made in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return gt_file, pickle.loads(det_file.read_bytes())


def run_engine(name: str, gt_file: Path, dets: list[dict], image_ids: list[int]) -> tuple[float, list[float]]:
    engine, parallel = (cocoeval.DEFAULT_ENGINE, True) if name == "ours" else (name, False)
    started = time.perf_counter()
    found = cocoeval.evaluate_all(gt_file, dets, image_ids, engine, parallel=parallel)
    return time.perf_counter() - started, found["bbox"] + found["segm"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--objects-per-image", type=float, default=7.3)
    parser.add_argument("--detections", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--json", type=Path, help="write the raw timings here")
    args = parser.parse_args(argv)

    gt_file, dets = load_or_make(args.cache, args.images, args.objects_per_image, args.detections, args.seed)
    gt_count = len(json.loads(gt_file.read_text())["annotations"])
    image_ids = list(range(1, args.images + 1))
    engines = ["pycocotools", "faster-coco-eval", "ours"]
    for name in engines[:2]:
        cocoeval.ground_truth(str(gt_file), name)  # read once, untimed, as the trainer does
    times: dict[str, list[float]] = {e: [] for e in engines}
    results: dict[str, list[float]] = {}
    for run in range(args.runs):
        order = engines[run % 3 :] + engines[: run % 3]
        for name in order:
            seconds, numbers = run_engine(name, gt_file, dets, image_ids)
            times[name].append(seconds)
            results.setdefault(name, numbers)
            print(f"run {run + 1}/{args.runs} {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
    reference = results["pycocotools"]
    worst = {e: max(abs(a - b) for a, b in zip(results[e], reference)) for e in engines}
    median = {e: statistics.median(t) for e, t in times.items()}
    print(f"set: {args.images} images, {gt_count} ground-truth objects, {len(dets)} detections with masks")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"versions: pycocotools {version('pycocotools')}, faster-coco-eval {version('faster-coco-eval')}, "
          f"numpy {np.__version__}")  # fmt: skip
    print(f"AP bbox {reference[0]:.4f} segm {reference[12]:.4f} (pycocotools)")
    print("| engine | median s | range s | speed-up vs pycocotools | max |stat - pycocotools| |")
    print("|---|---|---|---|---|")
    for e in engines:
        print(f"| {e} | {median[e]:.1f} | {min(times[e]):.1f}-{max(times[e]):.1f} | "
              f"{median['pycocotools'] / median[e]:.2f}x | {worst[e]:.1e} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"times": times, "stats": results}, indent=1))
    agree = all(w <= 1e-4 for w in worst.values())
    print(f"identical AP to 1e-4: {'yes' if agree else 'NO'}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
