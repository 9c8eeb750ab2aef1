"""Named hyperparameter sets ("recipes") and the MLPerf v0.7 closed-division rules.

A recipe is a YAML file in ``resources/recipes/``. This module does not import torch, so the
harness can read recipes (to pick one for a scale, to print it in a report) without the workload.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .resources import resource

# Fixed by the v0.7 rules for Mask R-CNN (training_policies, hyperparameter table).
REFERENCE_BATCH = 16
REFERENCE_DECAY_STEPS = (60000, 80000)
BASE_LR_UNIT = 0.02
MIN_IMAGE_SIZE = 800
MAX_IMAGE_SIZE = 1333
DECAY_FACTOR = 0.1
CANDIDATES_UNIT = 1000
TARGET_BBOX = 0.377
TARGET_SEGM = 0.339


class RecipeError(ValueError):
    """A recipe file that cannot be read or that breaks a rule."""


@dataclass(frozen=True)
class ModelSize:
    """Model knobs a closed-division run keeps at the reference values.

    Only an open-division recipe (the CPU smoke recipe) changes them.
    """

    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512)
    rpn_batch_per_image: int = 256
    rpn_pre_nms_top_n_train: int = 2000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 1000
    roi_batch_per_image: int = 512
    detections_per_image: int = 100


@dataclass(frozen=True)
class Recipe:
    """One training configuration: scale, solver, sizes, and where it comes from."""

    name: str
    description: str
    source: str
    division: str  # "closed" or "open"
    nodes: int
    gpus_per_node: int
    images_per_gpu: int
    base_lr: float
    warmup_iters: int
    warmup_factor: float
    decay_steps: tuple[int, int]
    max_iter: int
    test_batch: int  # global evaluation batch, as NVIDIA's TEST.IMS_PER_BATCH
    num_image_candidates: int
    min_size: int = MIN_IMAGE_SIZE
    max_size: int = MAX_IMAGE_SIZE
    decay_factor: float = DECAY_FACTOR
    momentum: float = 0.9
    weight_decay: float = 1e-4
    bias_lr_factor: float = 2.0
    dataloader_workers: int = 4
    dtype: str = "float16"
    grad_clip_norm: float | None = None
    target_bbox: float = TARGET_BBOX
    target_segm: float = TARGET_SEGM
    open_division_reason: str = ""
    platform: str = ""
    model: ModelSize = field(default_factory=ModelSize)

    @property
    def ranks(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def global_batch(self) -> int:
        return self.ranks * self.images_per_gpu

    def lr_at(self, step: int, base_lr: float | None = None) -> float:
        """The learning rate at scheduler step ``step`` of a parameter group whose base LR is
        ``base_lr`` (default: the recipe's, i.e. the weights' group).

        The reference's WarmupMultiStepLR with ``mlperf_linear`` warmup: during warmup the
        group's own base LR minus ``(warmup_iters - step) * warmup_factor`` (so the bias group,
        at twice the base, starts at 2*base - delta), then x0.1 at each decay step (a step
        equal to a decay step is already decayed). Step k is the LR of the (k+1)-th iteration,
        and the one NVIDIA's logs print at iteration k (printed after the scheduler stepped).
        """
        base = self.base_lr if base_lr is None else base_lr
        delta = (self.warmup_iters - step) * self.warmup_factor if step < self.warmup_iters else 0.0
        decays = bisect.bisect_right(list(self.decay_steps), step)
        return (base - delta) * self.decay_factor**decays

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decay_steps"] = list(self.decay_steps)
        data["model"]["anchor_sizes"] = list(self.model.anchor_sizes)
        data["global_batch"] = self.global_batch
        return data


def iterations_per_epoch(train_images: int, global_batch: int) -> int:
    """The reference's epoch length in iterations: floor(images / global batch) + 1 (NVIDIA v0.7's
    data loader; on COCO at batch 48 that is 2444, and its logs' epoch boundaries follow it)."""
    return train_images // global_batch + 1


def closed_division_violations(recipe: Recipe) -> list[str]:
    """Every closed-division rule the recipe breaks, each naming the rule; empty if none.

    The rules (MLPerf Training v0.7, Mask R-CNN): base LR = 0.02*K for an integer K; decay steps
    = (60000, 80000) * (1 + K2/10) * 16 / global_batch for one integer K2 >= 0 (NVIDIA's DGX-1
    config uses K2 = 2, its 32-node config K2 = 5); decay factor 0.1; image sizes 800/1333;
    num_image_candidates 1000 or 1000 x images per chip; model sizes at the reference values.
    """
    problems: list[str] = []
    k = recipe.base_lr / BASE_LR_UNIT
    if k < 1 - 1e-9 or abs(k - round(k)) > 1e-6:
        problems.append(
            f"base_lr rule: opt_base_learning_rate must be 0.02*K for an integer K >= 1, got {recipe.base_lr}"
        )
    if not _decay_steps_follow_rule(recipe.decay_steps, recipe.global_batch):
        problems.append(
            "decay_steps rule: opt_learning_rate_decay_steps must be (60000, 80000) * (1 + K/10)"
            f" * 16 / global_batch for one integer K >= 0; got {list(recipe.decay_steps)} at "
            f"global batch {recipe.global_batch}"
        )
    if abs(recipe.decay_factor - DECAY_FACTOR) > 1e-12:
        problems.append(f"decay_factor rule: opt_learning_rate_decay_factor must be 0.1, got {recipe.decay_factor}")
    if recipe.min_size != MIN_IMAGE_SIZE or recipe.max_size != MAX_IMAGE_SIZE:
        problems.append(
            f"image_size rule: min_image_size/max_image_size must be 800/1333, got {recipe.min_size}/{recipe.max_size}"
        )
    allowed = {CANDIDATES_UNIT, CANDIDATES_UNIT * recipe.images_per_gpu}
    if recipe.num_image_candidates not in allowed:
        problems.append(
            f"candidates rule: num_image_candidates must be 1000 or 1000 x images per chip "
            f"({sorted(allowed)}), got {recipe.num_image_candidates}"
        )
    if recipe.model != ModelSize():
        problems.append(
            "model rule: anchor sizes, sampling and detection counts must be the reference's, "
            f"got {asdict(recipe.model)}"
        )
    if (recipe.target_bbox, recipe.target_segm) != (TARGET_BBOX, TARGET_SEGM):
        problems.append(
            f"quality rule: targets must be BBOX {TARGET_BBOX} and SEGM {TARGET_SEGM}, got "
            f"{recipe.target_bbox}/{recipe.target_segm}"
        )
    if recipe.grad_clip_norm is not None:
        problems.append("solver rule: the reference does not clip gradients (grad_clip_norm)")
    return problems


def _decay_steps_follow_rule(steps: tuple[int, int], global_batch: int) -> bool:
    if len(steps) != 2:
        return False
    for k in range(0, 100):
        scale = (1 + k / 10) * REFERENCE_BATCH / global_batch
        expected = [base * scale for base in REFERENCE_DECAY_STEPS]
        if all(abs(got - want) <= 1.0 for got, want in zip(steps, expected)):
            return True
    return False


def validate(recipe: Recipe) -> None:
    """Refuse a recipe that breaks a rule, unless it is declared open division with a reason."""
    if recipe.division not in ("closed", "open"):
        raise RecipeError(f"recipe {recipe.name}: division must be 'closed' or 'open'")
    if recipe.nodes < 1 or recipe.gpus_per_node < 1 or recipe.images_per_gpu < 1:
        raise RecipeError(f"recipe {recipe.name}: nodes, gpus_per_node, images_per_gpu must be >= 1")
    if recipe.test_batch < 1 or recipe.max_iter < 1:
        raise RecipeError(f"recipe {recipe.name}: test_batch and max_iter must be >= 1")
    if list(recipe.decay_steps) != sorted(recipe.decay_steps):
        raise RecipeError(f"recipe {recipe.name}: decay_steps must be increasing")
    if recipe.division == "open":
        if not recipe.open_division_reason.strip():
            raise RecipeError(f"recipe {recipe.name}: an open-division recipe must say why (open_division_reason)")
        return
    problems = closed_division_violations(recipe)
    if problems:
        raise RecipeError(f"recipe {recipe.name} breaks the closed-division rules:\n  " + "\n  ".join(problems))


def recipes_dir() -> Path:
    """The recipes shipped with the project (``resources/recipes``)."""
    return resource("recipes")


def from_dict(data: dict[str, Any], origin: str = "<dict>") -> Recipe:
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(data) - known - {"global_batch"})
    if unknown:
        raise RecipeError(f"{origin}: unknown recipe field(s) {unknown}")
    data = dict(data)
    data.pop("global_batch", None)
    model = data.pop("model", None) or {}
    model_known = {f.name for f in fields(ModelSize)}
    bad_model = sorted(set(model) - model_known)
    if bad_model:
        raise RecipeError(f"{origin}: unknown model field(s) {bad_model}")
    if "anchor_sizes" in model:
        model["anchor_sizes"] = tuple(model["anchor_sizes"])
    if "decay_steps" in data:
        data["decay_steps"] = tuple(data["decay_steps"])
    try:
        recipe = Recipe(**data, model=ModelSize(**model))
    except TypeError as err:
        raise RecipeError(f"{origin}: {err}") from err
    for name, kind in (
        ("nodes", int),
        ("gpus_per_node", int),
        ("images_per_gpu", int),
        ("warmup_iters", int),
        ("max_iter", int),
        ("test_batch", int),
        ("num_image_candidates", int),
        ("base_lr", float),
        ("warmup_factor", float),
        ("decay_factor", float),
    ):
        value = getattr(recipe, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and not isinstance(value, int))
        ):
            raise RecipeError(f"{origin}: field '{name}' must be {kind.__name__}, got {value!r}")
    return recipe


def load(name_or_path: str | Path, check: bool = True) -> Recipe:
    """Load a recipe by name (``resources/recipes/NAME.yaml``) or path, then apply the rules."""
    path = Path(name_or_path)
    if not path.suffix:
        path = recipes_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        available = ", ".join(available_recipes())
        raise RecipeError(f"recipe file {path} not found (available: {available})")
    try:
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise RecipeError(f"{path}: a recipe must be a mapping of fields")
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {err}") from err
    data.setdefault("name", path.stem)
    recipe = from_dict(data, origin=str(path))
    if check:
        validate(recipe)
    return recipe


def available_recipes() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))
