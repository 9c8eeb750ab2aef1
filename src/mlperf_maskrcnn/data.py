"""COCO 2017 loading, the reference's training-set filter, transforms and the batch sampler.

Training images are decoded, resized (shorter side to ``min_size``, longer side at most
``max_size``), flipped horizontally with p=0.5 and turned into BGR 0-255 tensors by the loader
workers; the model normalises and pads to a multiple of 32. Test images are passed at their
original size, and the model resizes them, so detections come back in original coordinates.
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
    """RGB PIL image -> float CHW tensor in BGR order, 0-255 (Caffe2 convention)."""
    array = np.asarray(image, dtype=np.float32)[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


class CocoDetection(torch.utils.data.Dataset):
    """COCO images with boxes, labels and masks for Mask R-CNN.

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

    def aspect_group(self, index: int) -> int:
        """0 for landscape or square (h/w <= 1), 1 for portrait."""
        info = self.images[index]
        return int(float(info["height"]) / float(info["width"]) > 1)

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
        sx, sy = new_w / width, new_h / height
        boxes, labels, masks = [], [], []
        for ann in self.annotations.get(int(info["id"]), []):
            if ann["iscrowd"]:
                continue
            x, y, w, h = (float(v) for v in ann["bbox"])
            x1, y1 = max(0.0, x * sx), max(0.0, y * sy)
            x2, y2 = min(float(new_w), (x + w) * sx), min(float(new_h), (y + h) * sy)
            if x2 <= x1 or y2 <= y1:
                continue  # empty after clipping: the reference's clip_to_image(remove_empty=True)
            mask = self._mask(ann, width, height, new_w, new_h, sx, sy)
            if flip:
                x1, x2 = new_w - x2, new_w - x1
                mask = mask[:, ::-1]
            boxes.append([x1, y1, x2, y2])
            labels.append(self.label_of[int(ann["category_id"])])
            masks.append(np.ascontiguousarray(mask))
        return {
            "image_id": int(info["id"]),
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "masks": torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, new_h, new_w), dtype=torch.uint8),
        }

    def _mask(self, ann: dict, width: int, height: int, new_w: int, new_h: int, sx: float, sy: float) -> np.ndarray:
        segmentation = ann["segmentation"]
        try:
            if isinstance(segmentation, list):
                # Polygons are scaled, then rasterised at the new size (as the reference does).
                scaled = [[c * (sx if i % 2 == 0 else sy) for i, c in enumerate(poly)] for poly in segmentation]
                rle = mask_utils.merge(mask_utils.frPyObjects(scaled, new_h, new_w))
                return mask_utils.decode(rle).astype(np.uint8)
            rle = segmentation
            if isinstance(rle.get("counts"), list):
                rle = mask_utils.frPyObjects(rle, height, width)
            full = mask_utils.decode(rle)
        except (TypeError, ValueError, KeyError) as err:
            raise DataError(
                f"{self.paths.annotations}: annotation {ann.get('id')} has an unreadable segmentation: {err}"
            ) from err
        return np.asarray(Image.fromarray(full).resize((new_w, new_h), Image.NEAREST), dtype=np.uint8)


def targets_to(targets: list[dict], device: torch.device) -> list[dict]:
    """Training targets on the device (tensors copied without blocking; other values as they are)."""
    return [{k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]


def collate(batch: list) -> tuple[list, list]:
    images = [item[0] for item in batch]
    targets = [item[1] for item in batch]
    return images, targets
