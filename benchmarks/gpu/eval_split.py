"""The GPU check's evaluation part: where inference time goes (forward, mask pasting, RLE encoding), and
the post-processing before and after the trainer's rewrite.

``evaluate.infer`` over the SYNTHETIC val set of the scratch folder (COCO-sized images, the
test batch of the recipe, the trainer's loader), three times: the first pass holds cuDNN's
autotuning of the new shapes, the second is the steady one as the trainer times it, the third
the same with a device sync at the end of the ROI heads and after each paste. ``infer`` reads
the clock without syncing, so on a GPU work still queued when it reads it is counted in the
next part (the forward's tail in the paste, the paste's kernels in the encoding); the third pass
gives the true split, the second what the trainer's figures say. Per image each. The model
is the trainer's with the synthetic R-50.pkl, its box score threshold lowered to 0 where the
ROI heads have one, so that each image has the full 100 detections to paste and encode (an
untrained model scores nothing above 0.05). Then benchmarks/eval_postprocess.py's before/after
comparison on the same device.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import eval_postprocess  # noqa: E402
import results  # noqa: E402
import shapes  # noqa: E402

from mlperf_maskrcnn import recipe as recipes  # noqa: E402


def per_image(timing) -> dict:
    count = max(timing.images, 1)
    return {
        "images": timing.images,
        "forward_ms": timing.forward / count * 1e3,
        "paste_ms": timing.paste / count * 1e3,
        "encode_ms": timing.encode / count * 1e3,
    }


@contextmanager
def synchronized(evaluate, model, sync):
    """A sync after the ROI heads and after each paste, for the duration."""
    hook = model.roi_heads.register_forward_hook(lambda *_: sync())
    original = evaluate.paste_masks

    def paste_then_sync(*args, **kwargs):
        pasted = original(*args, **kwargs)
        sync()
        return pasted

    evaluate.paste_masks = paste_then_sync
    try:
        yield
    finally:
        hook.remove()
        evaluate.paste_masks = original


def main(argv: list[str] | None = None) -> int:
    parser = results.options(__doc__.split("\n")[0])
    parser.add_argument("--postprocess-images", type=int, default=10)
    args = parser.parse_args(argv)
    import torch

    from mlperf_maskrcnn import evaluate
    from mlperf_maskrcnn.data import CocoDetection
    from mlperf_maskrcnn.model import build_model
    from mlperf_maskrcnn.weights import load_backbone_weights

    cuda = torch.cuda.is_available() and not args.dry_run
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    torch.backends.cudnn.benchmark = False  # the trainer's default
    recipe = shapes.recipe_for(2, True, shapes.DRY_TREE_SCALE) if args.dry_run else recipes.load("gpu_check")
    model = build_model(recipe)
    load_backbone_weights(model.backbone.body, args.work / "coco" / "models" / "R-50.pkl")
    model.to(device)
    lowered = hasattr(model.roi_heads, "score_thresh")
    if lowered:
        model.roi_heads.score_thresh = 0.0
    val_set = CocoDetection(args.work / "coco", "val", train=False)
    loader = evaluate.val_loader(val_set, 0, 1, recipe.test_batch, 0 if args.dry_run else 4, cuda)
    data: dict = {
        "device": str(device),
        "test_batch": recipe.test_batch,
        "val_images": len(val_set),
        "score_threshold_lowered": lowered,
    }
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for name in ("first_pass", "second_pass", "synchronized_pass"):
        started = time.perf_counter()
        if name == "synchronized_pass":
            with synchronized(evaluate, model, sync):
                found, timing = evaluate.infer(model, loader, val_set.category_ids, device, cuda)
        else:
            found, timing = evaluate.infer(model, loader, val_set.category_ids, device, cuda)
        data[name] = {
            **per_image(timing),
            "wall_s": time.perf_counter() - started,
            "detections_per_image": len(found.results) / max(len(found.image_ids), 1),
        }
        results.write(args.out, "eval", data, "partial")
    del model
    detections = 10 if args.dry_run else 100
    images = 2 if args.dry_run else args.postprocess_images
    data["postprocess"] = eval_postprocess.measure(images, detections, str(device), threads=2 if args.dry_run else 4)
    results.write(args.out, "eval", data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
