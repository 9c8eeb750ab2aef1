"""COCO 2017 loading, the reference's training-set filter, and its training transforms and targets.

Training images are decoded, resized (shorter side to ``min_size``, longer side at most
``max_size``), flipped horizontally with p=0.5 and turned into BGR 0-255 tensors by the loader
workers; the model normalises and pads to a multiple of 32. Test images are passed at their
original size, and the model resizes them, so detections come back in original coordinates.

Targets follow maskrcnn-benchmark's COCODataset and transforms, in its inclusive "+1" box
convention (``boxes``): crowd annotations are left out; a COCO box [x, y, w, h] becomes
[x, y, x + w - 1, y + h - 1] (w - 1 and h - 1 at least 0), is clipped to [0, width - 1] x
[0, height - 1] of the original image and dropped unless x2 > x1 and y2 > y1 (so a box 1 pixel wide
or less goes); boxes and polygons are then scaled by new/old size per axis and, when flipped,
mirrored as x -> new_width - x - 1. Segmentations stay polygons (``mask_targets.InstanceMasks``),
rasterised per proposal at 28x28 by the model: no full-image mask travels with a batch.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from pycocotools import mask as mask_utils

from .mask_targets import InstanceMasks

REQUIRED_IMAGE_FIELDS = ("id", "file_name", "width", "height")
REQUIRED_ANNOTATION_FIELDS = ("image_id", "category_id", "bbox", "iscrowd", "segmentation")


class DataError(ValueError):
    """A data set file that is missing, malformed or unreadable; the message names it."""


@dataclass(frozen=True)
class CocoPaths:
    root: Path
    split: str  # "train" or "val"

    @property
    def annotations(self) -> Path:
        return self.root / "annotations" / f"instances_{self.split}2017.json"

    @property
    def images(self) -> Path:
        return self.root / f"{self.split}2017"


def read_annotations(path: Path) -> dict:
    """Read and check a COCO instances file; errors name the file and the field."""
    if not path.is_file():
        raise DataError(f"annotation file {path} not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from err
    if not isinstance(data, dict):
        raise DataError(f"{path}: top level must be an object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: field '{key}' missing or not a list")
    for n, image in enumerate(data["images"]):
        for field in REQUIRED_IMAGE_FIELDS:
            if field not in image:
                raise DataError(f"{path}: images[{n}] lacks field '{field}'")
    for n, ann in enumerate(data["annotations"]):
        for field in REQUIRED_ANNOTATION_FIELDS:
            if field not in ann:
                raise DataError(f"{path}: annotations[{n}] lacks field '{field}'")
        bbox = ann["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise DataError(f"{path}: annotations[{n}].bbox must be [x, y, w, h], got {bbox!r}")
    for n, cat in enumerate(data["categories"]):
        if "id" not in cat:
            raise DataError(f"{path}: categories[{n}] lacks field 'id'")
    return data


def has_valid_annotation(annotations: list[dict]) -> bool:
    """The reference's filter: some box, and not every box of width or height <= 1.

    Crowd boxes count here (the reference reads annotations with ``iscrowd=None``) and are
    dropped from the targets later; this keeps 117,266 of COCO's 118,287 training images.
    """
    if not annotations:
        return False
    return not all(any(side <= 1 for side in ann["bbox"][2:]) for ann in annotations)


def reference_size(width: int, height: int, min_size: int, max_size: int) -> tuple[int, int]:
    """(new width, new height) as maskrcnn-benchmark's Resize.get_size computes it."""
    size = float(min_size)
    short, long = float(min(width, height)), float(max(width, height))
    if long / short * size > max_size:
        size = float(int(round(max_size * short / long)))
    if (width <= height and width == size) or (height <= width and height == size):
        return width, height
    if width < height:
        return int(size), int(size * height / width)
    return int(size * width / height), int(size)


def to_bgr_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 CHW tensor in BGR order, 0-255 (Caffe2 convention). Bytes, not
    floats: a quarter of the host-to-device traffic; the trainer converts on the device."""
    array = np.asarray(image, dtype=np.uint8)[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


class CocoDetection(torch.utils.data.Dataset):
    """COCO images with boxes, labels and instance polygons for Mask R-CNN.

    ``train=True`` applies the reference filter, resize and flip; otherwise images keep their
    size and the target carries only the image id.
    """

    def __init__(self, root: str | Path, split: str, train: bool, min_size: int = 800, max_size: int = 1333):
        self.paths = CocoPaths(Path(root), split)
        if not self.paths.root.is_dir():
            raise DataError(f"data set folder {self.paths.root} not found")
        if not self.paths.images.is_dir():
            raise DataError(f"image folder {self.paths.images} not found")
        data = read_annotations(self.paths.annotations)
        self.train = train
        self.min_size, self.max_size = min_size, max_size
        self.category_ids = sorted(int(c["id"]) for c in data["categories"])
        self.label_of = {cid: n + 1 for n, cid in enumerate(self.category_ids)}
        by_image: dict[int, list[dict]] = {}
        for ann in data["annotations"]:
            by_image.setdefault(int(ann["image_id"]), []).append(ann)
        for ann in data["annotations"]:
            if int(ann["category_id"]) not in self.label_of:
                raise DataError(
                    f"{self.paths.annotations}: annotation {ann.get('id')} has category_id "
                    f"{ann['category_id']} not declared in categories"
                )
        images = sorted(data["images"], key=lambda im: int(im["id"]))
        self.total_images = len(images)
        if train:
            images = [im for im in images if has_valid_annotation(by_image.get(int(im["id"]), []))]
        self.images = images
        self.annotations = by_image

    def __len__(self) -> int:
        return len(self.images)

    def image_id(self, index: int) -> int:
        return int(self.images[index]["id"])

    def _open(self, info: dict) -> Image.Image:
        path = self.paths.images / info["file_name"]
        try:
            with Image.open(path) as handle:
                image = handle.convert("RGB")
        except (OSError, UnidentifiedImageError) as err:
            raise DataError(f"image {path} (id {info['id']}) unreadable: {err}") from err
        return image

    def __getitem__(self, index: int):
        info = self.images[index]
        image = self._open(info)
        if not self.train:
            return to_bgr_tensor(image), {"image_id": int(info["id"])}
        width, height = image.size
        new_w, new_h = reference_size(width, height, self.min_size, self.max_size)
        image = image.resize((new_w, new_h), Image.BILINEAR)
        flip = random.random() < 0.5
        if flip:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        target = self._target(info, width, height, new_w, new_h, flip)
        return to_bgr_tensor(image), target

    def _target(self, info: dict, width: int, height: int, new_w: int, new_h: int, flip: bool) -> dict:
        annotations = [ann for ann in self.annotations.get(int(info["id"]), []) if not ann["iscrowd"]]
        boxes = reference_boxes([ann["bbox"] for ann in annotations], width, height)
        keep = np.nonzero((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))[0]
        ratio_x, ratio_y = float(new_w) / float(width), float(new_h) / float(height)
        boxes = boxes[keep] * np.array([ratio_x, ratio_y, ratio_x, ratio_y], dtype=np.float32)
        masks = [self._segmentation(annotations[i], width, height, new_w, new_h, ratio_x, ratio_y) for i in keep]
        if flip:
            boxes = np.stack([new_w - boxes[:, 2] - 1, boxes[:, 1], new_w - boxes[:, 0] - 1, boxes[:, 3]], axis=1)
            masks = [flip_segmentation(m, new_w) for m in masks]
        return {
            "image_id": int(info["id"]),
            "boxes": torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32)).reshape(-1, 4),
            "labels": torch.tensor([self.label_of[int(annotations[i]["category_id"])] for i in keep]).long(),
            "masks": InstanceMasks(masks),
        }

    def _segmentation(self, ann: dict, width: int, height: int, new_w: int, new_h: int, ratio_x: float, ratio_y: float):
        """Polygons scaled to the new size (the reference's); an RLE as a bitmask at the new size."""
        segmentation = ann["segmentation"]
        try:
            if isinstance(segmentation, list):
                polygons = []
                for poly in segmentation:
                    if len(poly) < 6:
                        continue  # fewer than 3 points draw nothing (pycocotools would read 4 numbers as a box)
                    p = np.array(poly, dtype=np.float32)
                    p[0::2] *= np.float32(ratio_x)
                    p[1::2] *= np.float32(ratio_y)
                    polygons.append(p)
                return polygons
            rle = segmentation
            if isinstance(rle.get("counts"), list):
                rle = mask_utils.frPyObjects(rle, height, width)
            full = mask_utils.decode(rle)
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise DataError(
                f"{self.paths.annotations}: annotation {ann.get('id')} has an unreadable segmentation: {err}"
            ) from err
        return np.array(Image.fromarray(full).resize((new_w, new_h), Image.NEAREST), dtype=np.uint8)


def reference_boxes(bboxes: list, width: int, height: int) -> np.ndarray:
    """COCO [x, y, w, h] boxes as the reference's clipped xyxy boxes (float32, "+1" convention)."""
    xywh = np.array(bboxes, dtype=np.float32).reshape(-1, 4)
    x1, y1 = xywh[:, 0], xywh[:, 1]
    x2 = x1 + np.maximum(xywh[:, 2] - 1, 0)
    y2 = y1 + np.maximum(xywh[:, 3] - 1, 0)
    boxes = np.stack([x1, y1, x2, y2], axis=1)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width - 1)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height - 1)
    return boxes


def flip_segmentation(segmentation, width: int):
    """Mirror one instance: polygon x -> width - x - 1 (the reference's), or a bitmask's columns."""
    if isinstance(segmentation, np.ndarray):
        return np.ascontiguousarray(segmentation[:, ::-1])
    flipped = []
    for poly in segmentation:
        p = poly.copy()
        p[0::2] = width - poly[0::2] - 1
        flipped.append(p)
    return flipped


def targets_to(targets: list[dict], device: torch.device) -> list[dict]:
    """Targets with their tensors on ``device`` (non-blocking); the polygons stay on the CPU,
    where the mask targets are rasterised."""
    return [{k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]


def collate(batch: list) -> tuple[list, list]:
    images = [item[0] for item in batch]
    targets = [item[1] for item in batch]
    return images, targets
