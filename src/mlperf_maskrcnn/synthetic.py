"""Synthetic, COCO-2017-shaped data sets and a synthetic R-50.pkl (SYNTHETIC: no COCO here).

The tree has the layout both implementations expect under ``/coco``::

    annotations/instances_train2017.json  annotations/instances_val2017.json
    train2017/*.jpg  val2017/*.jpg  models/R-50.pkl

Images are noisy backgrounds with 1-3 solid shapes of a few classes (rectangles, triangles,
ellipses drawn as 32-gons); each object's mask is its polygon, as COCO writes every non-crowd
object (and as the reference's training targets read them). The crowd region is an uncompressed
RLE, as COCO's crowds are, so both COCO mask encodings are exercised. All 80 COCO category ids are
declared; only ``classes`` of them are used. The training set also holds images the reference's
filter must drop (no annotations, only degenerate boxes) and one it keeps (a crowd box only).

The weight file has the real Detectron key names and shapes. Its values are random convolutions
whose frozen-BN scale and bias are calibrated on the synthetic images, so each layer's output has
unit scale as in a pretrained network; it is not ImageNet-trained and says so in its name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils

from .weights import caffe2_to_torchvision, write_blobs

# COCO 2017's 80 category ids (1..90 with gaps).
COCO_CATEGORY_IDS = [i for i in range(1, 91) if i not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]
CLASS_COLOURS = [(220, 40, 40), (40, 200, 60), (50, 80, 230), (230, 200, 40), (200, 60, 220)]
SHAPES = ("rectangle", "ellipse", "triangle")


@dataclass(frozen=True)
class SynthSpec:
    train_images: int = 32
    val_images: int = 8
    min_side: int = 128
    max_side: int = 160
    classes: int = 3
    seed: int = 0
    # Extra train images: two the filter must drop (no annotations; a degenerate box only) and one
    # it keeps (a crowd box only).
    filtered_extras: bool = True


ELLIPSE_VERTICES = 32


def _shape_polygon(kind: str, x0: float, y0: float, w: float, h: float) -> list[float]:
    if kind == "rectangle":
        pts = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    elif kind == "ellipse":
        angles = np.linspace(0.0, 2 * np.pi, ELLIPSE_VERTICES, endpoint=False)
        pts = list(zip(x0 + w / 2 * (1 + np.cos(angles)), y0 + h / 2 * (1 + np.sin(angles))))
    else:  # triangle
        pts = [(x0 + w / 2, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    return [float(c) for p in pts for c in p]


def _uncompressed_rle(polygon: list[float], height: int, width: int) -> dict:
    """COCO's crowd encoding: run lengths (first of zeros) in column-major order."""
    binary = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([polygon], height, width)))
    flat = binary.flatten(order="F")
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"size": [height, width], "counts": [int(c) for c in counts]}


def _draw_image(rng: np.random.Generator, spec: SynthSpec, image_id: int, category_ids: list[int]):
    w = int(rng.integers(spec.min_side, spec.max_side + 1))
    h = int(rng.integers(spec.min_side, spec.max_side + 1))
    background = rng.normal(128, 30, size=(h, w, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(background, "RGB")
    annotations = []
    for _ in range(int(rng.integers(1, 4))):
        cls = int(rng.integers(0, spec.classes))
        kind = SHAPES[cls % len(SHAPES)]
        sw = float(rng.uniform(0.25, 0.5) * w)
        sh = float(rng.uniform(0.25, 0.5) * h)
        x0 = float(rng.uniform(0, w - sw))
        y0 = float(rng.uniform(0, h - sh))
        layer = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(layer)
        poly = _shape_polygon(kind, x0, y0, sw, sh)
        draw.polygon(poly, fill=1)
        area = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects([poly], h, w))))
        colour = np.array(CLASS_COLOURS[cls % len(CLASS_COLOURS)]) + rng.integers(-20, 21, size=3)
        fill = Image.new("RGB", (w, h), tuple(int(c) for c in colour.clip(0, 255)))
        image.paste(fill, (0, 0), layer.point(lambda v: 255 if v else 0))
        annotations.append(
            {
                "image_id": image_id,
                "category_id": category_ids[cls],
                "segmentation": [poly],
                "area": area,
                "bbox": [x0, y0, sw, sh],
                "iscrowd": 0,
            }
        )
    return image, annotations


def _write_split(root: Path, split: str, count: int, spec: SynthSpec, rng, first_id: int) -> dict:
    folder = root / f"{split}2017"
    folder.mkdir(parents=True, exist_ok=True)
    used = COCO_CATEGORY_IDS[: spec.classes]
    images, annotations = [], []
    for n in range(count):
        image_id = first_id + n
        image, anns = _draw_image(rng, spec, image_id, used)
        name = f"{image_id:012d}.jpg"
        image.save(folder / name, quality=95)
        images.append({"id": image_id, "file_name": name, "width": image.width, "height": image.height})
        annotations.extend(anns)
    if split == "train" and spec.filtered_extras:
        extra_id = first_id + count
        for kind in ("empty", "degenerate", "crowd"):
            image, anns = _draw_image(rng, spec, extra_id, used)
            name = f"{extra_id:012d}.jpg"
            image.save(folder / name, quality=95)
            images.append({"id": extra_id, "file_name": name, "width": image.width, "height": image.height})
            if kind == "degenerate":
                ann = dict(anns[0], bbox=[5.0, 5.0, 1.0, 20.0])
                annotations.append(ann)
            elif kind == "crowd":
                rle = _uncompressed_rle(anns[0]["segmentation"][0], image.height, image.width)
                annotations.append(dict(anns[0], iscrowd=1, segmentation=rle))
            extra_id += 1
    for ann_id, ann in enumerate(annotations, start=1):
        ann["id"] = first_id * 10 + ann_id
    categories = [{"id": cid, "name": f"synthetic-{cid}", "supercategory": "synthetic"} for cid in COCO_CATEGORY_IDS]
    return {
        "info": {"description": f"SYNTHETIC COCO-2017-shaped {split} set (not COCO)"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def write_dataset(root: str | Path, spec: SynthSpec = SynthSpec()) -> Path:
    """Write the synthetic tree under ``root``; return it."""
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    for split, count, first in (("train", spec.train_images, 1000), ("val", spec.val_images, 9000)):
        data = _write_split(root, split, count, spec, rng, first)
        (root / "annotations" / f"instances_{split}2017.json").write_text(json.dumps(data))
    return root


def write_weights(path: str | Path, calibration_dir: str | Path | None = None, seed: int = 0) -> int:
    """Write a synthetic R-50.pkl with Detectron's names and shapes; return the blob count.

    Conv weights are He-normal. Each frozen BN is then set, in forward order on a batch of
    calibration images (any JPEGs, or noise), to map its input to zero mean and unit variance
    per channel (the last BN of each residual branch to 0.2, so blocks start near identity).
    """
    import torch

    from .model import PIXEL_MEAN_BGR, build_backbone

    torch.manual_seed(seed)
    body = build_backbone().body
    with torch.no_grad():
        for module in body.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    batch = _calibration_batch(calibration_dir, PIXEL_MEAN_BGR)
    hooks = []
    for name, module in body.named_modules():
        if type(module).__name__ == "FrozenBatchNorm2d":
            gain = 0.2 if name.endswith("bn3") else 1.0
            hooks.append(module.register_forward_pre_hook(_calibrator(gain)))
    with torch.no_grad():
        body(batch)
    for hook in hooks:
        hook.remove()
    params = {**dict(body.named_parameters()), **dict(body.named_buffers())}
    blobs = {c2: params[tv].detach().numpy().astype(np.float32) for c2, tv in caffe2_to_torchvision()}
    rng = np.random.default_rng(seed)
    # The real file also carries the ImageNet classifier and momentum blobs; the loader skips them.
    blobs["fc1000_w"] = rng.normal(0, 0.01, size=(1000, 2048)).astype(np.float32)
    blobs["fc1000_b"] = np.zeros(1000, dtype=np.float32)
    blobs["conv1_w_momentum"] = np.zeros_like(blobs["conv1_w"])
    write_blobs(path, blobs)
    return len(blobs)


def _calibrator(gain: float):
    import torch

    def hook(module, inputs):
        (x,) = inputs
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-5)
        with torch.no_grad():
            module.weight.copy_(gain / std)
            module.bias.copy_(-mean * gain / std)
            module.running_mean.zero_()
            module.running_var.fill_(1.0)

    return hook


def _calibration_batch(folder: str | Path | None, mean_bgr: list[float]):
    import torch

    tensors = []
    if folder is not None:
        for path in sorted(Path(folder).glob("*.jpg"))[:8]:
            rgb = np.asarray(Image.open(path).convert("RGB").resize((128, 128)), dtype=np.float32)
            tensors.append(torch.from_numpy(rgb[:, :, ::-1].copy()).permute(2, 0, 1))
    if not tensors:
        tensors = [torch.rand(3, 128, 128) * 255 for _ in range(4)]
    batch = torch.stack(tensors)
    return batch - torch.tensor(mean_bgr).view(1, 3, 1, 1)


def write_tree(root: str | Path, spec: SynthSpec = SynthSpec()) -> Path:
    """Data set plus ``models/R-50.pkl``: everything a smoke run needs."""
    root = write_dataset(root, spec)
    (root / "models").mkdir(exist_ok=True)
    write_weights(root / "models" / "R-50.pkl", root / "train2017", seed=spec.seed)
    return root


def write_fixed_set(root: str | Path, images: list[tuple[int, int, int]], seed: int = 0) -> Path:
    """A training split of images of exact sizes with an exact number of objects each (benchmarks:
    memory and speed at given shapes and crowding); ``images`` holds (height, width, objects).

    Objects are polygons (rectangles and triangles) of COCO-like sizes, side lengths drawn
    log-uniformly from 8 pixels to half the shorter side; every box is usable, none is crowd.
    Image ids count from 1 in the order given.
    """
    root = Path(root)
    folder = root / "train2017"
    folder.mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    entries, annotations = [], []
    for image_id, (height, width, objects) in enumerate(images, start=1):
        pixels = rng.integers(60, 196, size=(height, width, 3), dtype=np.uint8)
        image = Image.fromarray(pixels, "RGB")
        draw = ImageDraw.Draw(image)
        top = max(9.0, min(height, width) / 2)
        for n in range(objects):
            w, h = np.exp(rng.uniform(np.log(8.0), np.log(top), size=2))
            x0, y0 = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
            poly = _shape_polygon(("rectangle", "triangle")[n % 2], x0, y0, float(w), float(h))
            draw.polygon(poly, fill=tuple(int(c) for c in rng.integers(0, 256, size=3)))
            category = COCO_CATEGORY_IDS[n % len(COCO_CATEGORY_IDS)]
            area = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects([poly], height, width))))
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": category, "segmentation": [poly],
                 "area": area, "bbox": [x0, y0, float(w), float(h)], "iscrowd": 0}
            )  # fmt: skip
        name = f"{image_id:012d}.jpg"
        image.save(folder / name, quality=90)
        entries.append({"id": image_id, "file_name": name, "width": width, "height": height})
    categories = [{"id": cid, "name": f"synthetic-{cid}", "supercategory": "synthetic"} for cid in COCO_CATEGORY_IDS]
    data = {"info": {"description": "SYNTHETIC fixed-shape train set (not COCO)"}, "licenses": [],
            "images": entries, "annotations": annotations, "categories": categories}  # fmt: skip
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    return root
