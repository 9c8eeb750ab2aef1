"""SGD with the reference's parameter groups, and the one LR schedule (``Recipe.lr_at``) as a scheduler."""

from __future__ import annotations

import inspect
import warnings

import torch

from .recipe import Recipe


def param_groups(model: torch.nn.Module, recipe: Recipe) -> list[dict]:
    """Weights: base LR and weight decay; biases: ``bias_lr_factor`` x base LR and no weight decay.

    Each group's ``lr`` is its own base LR: the scheduler derives every later LR from it, so the
    bias factor lives here and nowhere else.
    """
    weights, biases = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # The reference's rule: every parameter whose name contains "bias".
        (biases if "bias" in name else weights).append(param)
    return [
        {"params": weights, "lr": recipe.base_lr, "weight_decay": recipe.weight_decay},
        {"params": biases, "lr": recipe.base_lr * recipe.bias_lr_factor, "weight_decay": 0.0},
    ]


def build_optimizer(model: torch.nn.Module, recipe: Recipe, device: torch.device) -> torch.optim.SGD:
    """SGD with momentum; fused on CUDA where this torch has it (one kernel for all parameters)."""
    options: dict = {"lr": recipe.base_lr, "momentum": recipe.momentum}
    if device.type == "cuda" and "fused" in inspect.signature(torch.optim.SGD).parameters:
        options["fused"] = True
    return torch.optim.SGD(param_groups(model, recipe), **options)


def build_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe) -> torch.optim.lr_scheduler.LambdaLR:
    """``recipe.lr_at`` for every group, from the group's own base LR; step it once per iteration,
    after the optimizer (step k then holds the LR of iteration k+1, as the reference's does)."""
    factors = [
        (lambda step, base=group["lr"]: recipe.lr_at(step, base) / base) for group in optimizer.param_groups
    ]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factors)


def quiet_skipped_first_step() -> None:
    """A mixed-precision run may skip its first optimizer step (an overflowing loss scale) as the
    reference's does; torch then warns that the scheduler stepped first. That order is intended."""
    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
