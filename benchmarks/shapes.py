"""Training batches of exact padded shapes and object counts, made through the project's own data path.

The memory and speed benchmarks (benchmarks/activation_memory.py, benchmarks/hot_loop.py and
the GPU check's parts) share them: ``make_tree`` writes a SYNTHETIC COCO-shaped training split
(``synthetic.write_fixed_set``) and ``load_batch`` reads it back through ``CocoDetection``, so the
targets have whatever format the trainer's data path gives them today.

Shapes are named by the batch's padded size (multiples of 32) at the reference's 800/1333:

- ``800x1216``: 800x1216 images (kept as they are: 1216 <= 1333);
- ``800x1344``: 800x1344 images, resized to 793x1332 and padded to 800x1344: the largest batch
  the aspect-grouped sampler can make;
- ``1344x1344``: landscape and portrait images of that size in one batch: the square padding of
  a mixed-aspect batch, the old sampler's worst case (the trainer no longer makes it).

``scale`` shrinks every size (and the recipe's 800/1333) for dry runs on a CPU.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

# Source image sizes (height, width) per shape; a mixed shape alternates its sizes.
SHAPES = {
    "800x1216": [(800, 1216)],
    "800x1344": [(800, 1344)],
    "1344x1344": [(800, 1344), (1344, 800)],
}
OBJECTS = (7, 60)  # COCO's mean annotations per image is about 7.3; 60 is a crowded image
MIN_SIZE, MAX_SIZE = 800, 1333
# A dry run's sizes: the fixed-shape images at 1/16 (800x1216 -> 50x76) and the COCO-shaped
# tree's at 0.08 (800/1333 -> 64/107): the same code path, seconds per step on two CPU cores.
DRY_SCALE, DRY_TREE_SCALE = 0.0625, 0.08
# A dry run's model: the smoke recipe's, with fewer proposals and sampled ROIs (seconds per step
# on two CPU cores; the code path is the same).
DRY_MODEL = {
    "rpn_batch_per_image": 32,
    "rpn_pre_nms_top_n_train": 100,
    "rpn_pre_nms_top_n_test": 100,
    "rpn_post_nms_top_n_test": 50,
    "roi_batch_per_image": 16,
    "detections_per_image": 10,
}


def sizes(scale: float) -> tuple[int, int]:
    """The recipe's (min_size, max_size) at ``scale``."""
    return max(32, round(MIN_SIZE * scale)), max(48, round(MAX_SIZE * scale))


def make_tree(folder: Path, batch: int, shapes=tuple(SHAPES), objects=OBJECTS, scale: float = 1.0, seed: int = 0):
    """Write ``batch`` images for every (shape, objects) pair; return (tree, {(shape, objects): ids})."""
    from mlperf_maskrcnn.synthetic import write_fixed_set

    plan, index = [], {}
    for shape in shapes:
        for count in objects:
            ids = []
            for n in range(batch):
                height, width = SHAPES[shape][n % len(SHAPES[shape])]
                plan.append((max(16, round(height * scale)), max(16, round(width * scale)), count))
                ids.append(len(plan) - 1)
            index[(shape, count)] = ids
    return write_fixed_set(folder, plan, seed=seed), index


def load_batch(tree: Path, indices: list[int], scale: float = 1.0, seed: int = 0, workers: int = 0):
    """(images, targets) of those training items, as the trainer's loader yields them (flips seeded);
    ``workers`` loader processes decode them in parallel (crowded images take a while)."""
    import torch

    from mlperf_maskrcnn.data import CocoDetection

    min_size, max_size = sizes(scale)
    dataset = CocoDetection(tree, "train", train=True, min_size=min_size, max_size=max_size)
    random.seed(seed)
    torch.manual_seed(seed)
    if workers:
        subset = torch.utils.data.Subset(dataset, indices)
        loader = torch.utils.data.DataLoader(subset, num_workers=min(workers, len(indices)), collate_fn=_single)
        items = list(loader)
    else:
        items = [dataset[i] for i in indices]
    return [image for image, _ in items], [target for _, target in items]


def _single(batch: list):
    return batch[0]


def padded(images) -> str:
    """The batch's padded size, as the model pads it (to 32)."""
    height = max(int(img.shape[-2]) for img in images)
    width = max(int(img.shape[-1]) for img in images)
    return f"{math.ceil(height / 32) * 32}x{math.ceil(width / 32) * 32}"


def recipe_for(batch: int, dry_run: bool, scale: float = 1.0):
    """The recipe the benchmarks build the model from: NVIDIA's DGX-1 recipe (the reference's
    model sizes) with ``batch`` images per GPU and 1,000 candidates per image, as every NVIDIA
    recipe has; a dry run takes the CPU smoke recipe with ``DRY_MODEL`` at ``scale``'s sizes."""
    from mlperf_maskrcnn import recipe as recipes

    if dry_run:
        base = recipes.load("smoke")
        min_size, max_size = sizes(scale)
        return replace(
            base,
            images_per_gpu=batch,
            num_image_candidates=100 * batch,
            min_size=min_size,
            max_size=max_size,
            model=replace(base.model, **DRY_MODEL),
        )
    base = recipes.load("nvidia_dgx1")
    return replace(base, images_per_gpu=batch, num_image_candidates=1000 * batch)


def stock_model(min_size: int = MIN_SIZE, max_size: int = MAX_SIZE, small: bool = False):
    """torchvision's Mask R-CNN as ``maskrcnn_resnet50_fpn`` builds it with an ImageNet backbone
    (FrozenBatchNorm2d, 3 trainable backbone layers, its own RPN and ROI sizes: 2,000 proposals
    per image in training), 91 classes; only its input normalisation is ours (BGR 0-255), so it
    takes the same images and the same R-50.pkl (a constant: no cost). ``small``: a dry run's
    proposal and sample counts (``DRY_MODEL``'s)."""
    from torchvision.models import resnet50
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops.misc import FrozenBatchNorm2d

    from mlperf_maskrcnn.model import PIXEL_MEAN_BGR, PIXEL_STD

    sizes_ = {}
    if small:
        sizes_ = {
            "rpn_pre_nms_top_n_train": DRY_MODEL["rpn_pre_nms_top_n_train"],
            "rpn_post_nms_top_n_train": DRY_MODEL["rpn_pre_nms_top_n_train"],
            "rpn_batch_size_per_image": DRY_MODEL["rpn_batch_per_image"],
            "box_batch_size_per_image": DRY_MODEL["roi_batch_per_image"],
        }
    backbone = _resnet_fpn_extractor(resnet50(weights=None, norm_layer=FrozenBatchNorm2d), 3)
    return MaskRCNN(
        backbone,
        num_classes=91,
        min_size=min_size,
        max_size=max_size,
        image_mean=PIXEL_MEAN_BGR,
        image_std=PIXEL_STD,
        **sizes_,
    )


def stock_targets(targets: list[dict], images) -> list[dict]:
    """Targets torchvision's model takes: the same boxes and labels, and full-image uint8 masks
    (each box filled: a mask's content does not change the model's cost, only its size does)."""
    import torch

    converted = []
    for target, image in zip(targets, images):
        boxes = target["boxes"]
        masks = torch.zeros((len(boxes), *image.shape[-2:]), dtype=torch.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, boxes.round().int().tolist()):
            mask[y1 : y2 + 1, x1 : x2 + 1] = 1
        converted.append({"boxes": boxes, "labels": target["labels"], "masks": masks})
    return converted


class Trainer:
    """The model, its SGD and the loss scaler, and one training step as train.py takes it: images
    and targets to the device, forward under fp16 autocast (on a GPU), backward, optimizer step,
    the loss terms read on the host once. The model is ours (the recipe's, with the reference's
    SGD groups) or, with ``stock``, torchvision's with its reference SGD (lr 0.02, momentum 0.9,
    weight decay 1e-4)."""

    def __init__(
        self, recipe, device, channels_last: bool = False, amp: bool | None = None, weights=None, stock: bool = False
    ) -> None:
        import torch

        from mlperf_maskrcnn import solver
        from mlperf_maskrcnn.model import build_model
        from mlperf_maskrcnn.weights import load_backbone_weights

        self.torch = torch
        self.device = torch.device(device)
        self.amp = self.device.type == "cuda" if amp is None else amp
        small = recipe.model.roi_batch_per_image == DRY_MODEL["roi_batch_per_image"]
        self.model = stock_model(recipe.min_size, recipe.max_size, small) if stock else build_model(recipe)
        if weights is not None:
            # An R-50.pkl (the synthetic one: calibrated, so activations keep unit scale and the
            # losses stay finite; random weights overflow on 0-255 inputs).
            load_backbone_weights(self.model.backbone.body, weights)
        fmt = torch.channels_last if channels_last else torch.preserve_format
        self.model.to(self.device, memory_format=fmt).train()
        if stock:
            trainable = [p for p in self.model.parameters() if p.requires_grad]
            self.optimizer = torch.optim.SGD(trainable, lr=0.02, momentum=0.9, weight_decay=1e-4)
        else:
            self.optimizer = solver.build_optimizer(self.model, recipe, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)

    def forward(self, images, targets) -> dict:
        from mlperf_maskrcnn.data import targets_to

        torch = self.torch
        images = [img.to(self.device, non_blocking=True).float() for img in images]
        targets = targets_to(targets, self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
            return self.model(images, targets)

    def step(self, images, targets, reads: str = "vector") -> list[float]:
        """One iteration; ``reads``: "vector" (one host read of all loss terms, as train.py) or
        "each" (a float() per term and one for the total: six host syncs)."""
        torch = self.torch
        losses = self.forward(images, targets)
        loss = sum(losses.values())
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if reads == "each":
            return [float(loss.detach())] + [float(v.detach()) for v in losses.values()]
        return torch.stack([loss.detach().float()] + [v.detach().float() for v in losses.values()]).tolist()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
