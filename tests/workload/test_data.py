import json

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from mlperf_maskrcnn import data
from mlperf_maskrcnn.data import CocoDetection, DataError
from mlperf_maskrcnn.mask_targets import InstanceMasks
from mlperf_maskrcnn.synthetic import SynthSpec, write_dataset


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("coco"), SynthSpec(train_images=10, val_images=3, seed=3))


def _ann(image_id, bbox, iscrowd=0):
    return {
        "id": image_id * 10 + len(bbox),
        "image_id": image_id,
        "category_id": 1,
        "bbox": bbox,
        "iscrowd": iscrowd,
        "segmentation": [[0, 0, 1, 0, 1, 1]],
        "area": 1.0,
    }


def test_filter_drops_exactly_the_reference_ones(tmp_path):
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 10, "height": 10} for i in range(1, 7)]
    anns = [
        _ann(1, [0, 0, 5, 5]),  # kept
        _ann(2, [0, 0, 1, 5]),  # only a box of width <= 1: dropped
        _ann(3, [0, 0, 5, 5], iscrowd=1),  # crowd only: kept (reference reads iscrowd=None)
        _ann(4, [0, 0, 0.5, 8]),
        _ann(4, [1, 1, 4, 4]),  # one good box among degenerate: kept
        _ann(6, [0, 0, 3, 1]),  # height <= 1 only: dropped
    ]  # image 5: no annotations: dropped
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    (root / "annotations" / "instances_train2017.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}]})
    )
    ds = CocoDetection(root, "train", train=True)
    assert [ds.image_id(i) for i in range(len(ds))] == [1, 3, 4]
    assert ds.total_images == 6


def test_synthetic_tree_filters_its_three_extras(tree):
    ds = CocoDetection(tree, "train", train=True, min_size=128, max_size=192)
    # 10 good images + empty + degenerate + crowd-only; the filter keeps the crowd-only one.
    assert ds.total_images == 13 and len(ds) == 11
    assert len(ds.category_ids) == 80


def test_training_item_is_resized_bgr_with_consistent_targets(tree):
    ds = CocoDetection(tree, "train", train=True, min_size=128, max_size=192)
    image, target = ds[0]
    assert image.dtype == torch.uint8 and image.shape[0] == 3  # bytes to the device, floats there
    assert min(image.shape[1:]) == 128 and max(image.shape[1:]) <= 192
    assert 0 <= float(image.min()) and float(image.max()) <= 255
    boxes, masks = target["boxes"], target["masks"]
    assert isinstance(masks, InstanceMasks) and len(masks) == len(boxes) == len(target["labels"]) > 0
    for box, polygons in zip(boxes, masks.instances):
        points = np.concatenate(polygons).reshape(-1, 2)
        # The polygon lies within its box (1 px of slack for the inclusive x2), flipped or not.
        assert points[:, 0].min() >= box[0] - 1.01 and points[:, 0].max() <= box[2] + 1.01
        assert points[:, 1].min() >= box[1] - 1.01 and points[:, 1].max() <= box[3] + 1.01


def _one_image_tree(tmp_path, annotations):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "train2017").mkdir()
    Image.new("RGB", (200, 100), (90, 120, 150)).save(root / "train2017" / "1.jpg")
    anns = [dict({"id": n, "image_id": 1, "iscrowd": 0, "area": 1.0}, **a) for n, a in enumerate(annotations, 1)]
    data = {"images": [{"id": 1, "file_name": "1.jpg", "width": 200, "height": 100}], "annotations": anns,
            "categories": [{"id": 3, "name": "a"}, {"id": 7, "name": "b"}]}  # fmt: skip
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    return CocoDetection(root, "train", train=True, min_size=200, max_size=400)


SQUARE = [[10.0, 20.0, 40.0, 20.0, 40.0, 60.0, 10.0, 60.0]]


@pytest.mark.parametrize("flip", [False, True])
def test_targets_are_the_references_boxes_and_polygons(tmp_path, monkeypatch, flip):
    ds = _one_image_tree(
        tmp_path,
        [
            {"bbox": [10, 20, 30, 40], "category_id": 3, "segmentation": SQUARE},  # [10, 20, 39, 59]
            {"bbox": [190, 90, 20, 20], "category_id": 7, "segmentation": SQUARE},  # clipped to [190, 90, 199, 99]
            {"bbox": [50, 50, 1, 30], "category_id": 3, "segmentation": SQUARE},  # x2 = x1: dropped
            {"bbox": [60, 10, 1.5, 5], "category_id": 3, "segmentation": SQUARE},  # [60, 10, 60.5, 14]: kept
            {"bbox": [250, 10, 10, 10], "category_id": 3, "segmentation": SQUARE},  # outside: clipped empty
            {"bbox": [5, 5, 50, 50], "category_id": 7, "segmentation": SQUARE, "iscrowd": 1},  # crowd: left out
        ],
    )
    monkeypatch.setattr(data.random, "random", lambda: 0.0 if flip else 0.9)
    image, target = ds[0]
    # Resize.get_size: 200 x 100 -> 400 x 200, a ratio of 2 on both axes.
    assert image.shape[1:] == (200, 400)
    expected = [[20.0, 40.0, 78.0, 118.0], [380.0, 180.0, 398.0, 198.0], [120.0, 20.0, 121.0, 28.0]]
    polygon = [20.0, 40.0, 80.0, 40.0, 80.0, 120.0, 20.0, 120.0]
    if flip:  # x -> 400 - x - 1, for boxes (x1 and x2 swap) and polygons alike
        expected = [[400 - x2 - 1, y1, 400 - x1 - 1, y2] for x1, y1, x2, y2 in expected]
        polygon = [400 - v - 1 if i % 2 == 0 else v for i, v in enumerate(polygon)]
    assert target["boxes"].tolist() == expected
    assert target["labels"].tolist() == [1, 2, 1]
    assert target["masks"].instances[0][0].tolist() == polygon


def test_non_crowd_rle_travels_as_a_bitmask_at_the_training_size(tmp_path, monkeypatch):
    full = np.zeros((100, 200), dtype=np.uint8, order="F")
    full[20:60, 10:40] = 1
    rle = mask_utils.encode(np.asfortranarray(full))
    rle = {"size": [100, 200], "counts": rle["counts"].decode("ascii")}
    ds = _one_image_tree(tmp_path, [{"bbox": [10, 20, 30, 40], "category_id": 3, "segmentation": rle}])
    monkeypatch.setattr(data.random, "random", lambda: 0.0)  # flipped
    _, target = ds[0]
    (bitmask,) = target["masks"].instances
    assert bitmask.shape == (200, 400) and bitmask.dtype == np.uint8
    assert bitmask[40:120, 400 - 80 : 400 - 20].all() and bitmask.sum() == 80 * 60


def test_targets_to_moves_tensors_and_leaves_the_polygons():
    masks = InstanceMasks([SQUARE])
    moved = data.targets_to([{"boxes": torch.zeros(1, 4), "labels": torch.ones(1), "masks": masks, "image_id": 3}],
                            torch.device("meta"))  # fmt: skip
    assert moved[0]["boxes"].device.type == "meta" and moved[0]["labels"].device.type == "meta"
    assert moved[0]["masks"] is masks and moved[0]["image_id"] == 3


def test_reference_size_matches_maskrcnn_benchmark_rule():
    assert data.reference_size(640, 480, 800, 1333) == (1066, 800)
    assert data.reference_size(480, 640, 800, 1333) == (800, 1066)
    # Very wide: the longer side caps at 1333.
    assert data.reference_size(2000, 500, 800, 1333) == (1332, 333)
    assert data.reference_size(1066, 800, 800, 1333) == (1066, 800)


def test_malformed_annotations_name_file_and_field(tmp_path):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    path = root / "annotations" / "instances_val2017.json"
    path.write_text("{ not json")
    with pytest.raises(DataError, match=r"instances_val2017.json: malformed JSON at line 1"):
        CocoDetection(root, "val", train=False)
    path.write_text(
        json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 4}], "annotations": [], "categories": []})
    )
    with pytest.raises(DataError, match=r"images\[0\] lacks field 'height'"):
        CocoDetection(root, "val", train=False)
    with pytest.raises(DataError, match="data set folder .*nowhere not found"):
        CocoDetection(tmp_path / "nowhere", "val", train=False)


def test_corrupt_image_is_named(tree, tmp_path):
    ds = CocoDetection(tree, "val", train=False)
    victim = ds.paths.images / ds.images[0]["file_name"]
    original = victim.read_bytes()
    try:
        victim.write_bytes(b"\xff\xd8 truncated")
        with pytest.raises(DataError, match=victim.name):
            ds[0]
    finally:
        victim.write_bytes(original)


@pytest.mark.parametrize("flip", [False, True])
def test_pixels_are_bgr_and_flip_with_their_targets(tmp_path, monkeypatch, flip):
    """A red object on the left of a blue image: channel 2 (R in BGR) is high inside the object's
    box and channel 0 (B) high outside it, flipped or not."""
    ds = _one_image_tree(
        tmp_path, [{"bbox": [0, 0, 60, 100], "category_id": 3, "segmentation": [[0, 0, 60, 0, 60, 100, 0, 100]]}]
    )
    picture = Image.new("RGB", (200, 100), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 60, 100))
    picture.save(ds.paths.images / "1.jpg", quality=95)
    monkeypatch.setattr(data.random, "random", lambda: 0.0 if flip else 0.9)
    image, target = ds[0]
    x1, y1, x2, y2 = (int(v) for v in target["boxes"][0].tolist())
    inside = image[:, y1 + 4 : y2 - 4, x1 + 4 : x2 - 4].float().mean(dim=(1, 2))
    outside_x = 5 if flip else 395  # the far side from the object
    outside = image[:, 10:190, outside_x].float().mean(dim=1)
    assert inside[2] > 200 and inside[0] < 50, inside  # red: R (channel 2) high, B (channel 0) low
    assert outside[0] > 200 and outside[2] < 50, outside  # blue
    assert (x1 > 200) == flip  # the box moved with the pixels
