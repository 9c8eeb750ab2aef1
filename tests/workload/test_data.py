import json

import pytest
import torch

from mlperf_maskrcnn import data
from mlperf_maskrcnn.data import CocoDetection, DataError
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
    assert image.dtype == torch.float32 and image.shape[0] == 3
    assert min(image.shape[1:]) == 128 and max(image.shape[1:]) <= 192
    assert 0 <= float(image.min()) and float(image.max()) <= 255
    boxes, masks = target["boxes"], target["masks"]
    assert masks.shape[1:] == image.shape[1:] and len(masks) == len(boxes) == len(target["labels"])
    for box, mask in zip(boxes, masks):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        # The mask lies within its box (1 px of rasterisation slack), whether flipped or not.
        assert xs.min() >= box[0] - 1.5 and xs.max() <= box[2] + 1.5
        assert ys.min() >= box[1] - 1.5 and ys.max() <= box[3] + 1.5


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
