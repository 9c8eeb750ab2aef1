"""COCO bbox + segm AP of a list of detections (pycocotools semantics). Imports no torch.

It runs in a separate process so that the evaluation of epoch N overlaps the training of
epoch N+1, as NVIDIA's v0.7 implementation does, without competing for the GIL.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

_GROUND_TRUTH: dict[str, object] = {}


def _ground_truth(path: str):
    from pycocotools.coco import COCO

    if path not in _GROUND_TRUTH:
        with contextlib.redirect_stdout(io.StringIO()):
            _GROUND_TRUTH[path] = COCO(path)
    return _GROUND_TRUTH[path]


def evaluate(annotation_file: str | Path, detections: list[dict], image_ids: list[int]) -> dict[str, float]:
    """AP@[.5:.95] for "bbox" and "segm" over ``image_ids``; 0.0 where there are no detections."""
    from pycocotools.cocoeval import COCOeval

    gt = _ground_truth(str(annotation_file))
    scores = {"BBOX": 0.0, "SEGM": 0.0}
    if not detections:
        return scores
    # One result set per type, as the reference builds them: box results carry only boxes, mask
    # results only masks (their areas and boxes then come from the masks).
    box_results = [{k: d[k] for k in ("image_id", "category_id", "bbox", "score")} for d in detections]
    mask_results = [{k: d[k] for k in ("image_id", "category_id", "segmentation", "score")} for d in detections]
    with contextlib.redirect_stdout(io.StringIO()):
        for iou_type, key, results in (("bbox", "BBOX", box_results), ("segm", "SEGM", mask_results)):
            dt = gt.loadRes(results)
            evaluator = COCOeval(gt, dt, iou_type)
            evaluator.params.imgIds = sorted(image_ids)
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            scores[key] = float(max(evaluator.stats[0], 0.0))
    return scores
