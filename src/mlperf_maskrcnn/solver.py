"""SGD with the reference's parameter groups and the ``mlperf_linear`` warmup + step schedule."""

from __future__ import annotations

import torch

from .recipe import Recipe


def param_groups(model: torch.nn.Module, recipe: Recipe) -> list[dict]:
    """Weights: base LR and weight decay; biases: ``bias_lr_factor`` x LR and no weight decay."""
    weights, biases = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (biases if name.endswith(".bias") else weights).append(param)
    return [
        {"params": weights, "lr": recipe.base_lr, "weight_decay": recipe.weight_decay, "name": "weights"},
        {
            "params": biases,
            "lr": recipe.base_lr * recipe.bias_lr_factor,
            "weight_decay": 0.0,
            "name": "biases",
        },
    ]


def build_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.SGD:
    return torch.optim.SGD(param_groups(model, recipe), lr=recipe.base_lr, momentum=recipe.momentum)


def set_lr(optimizer: torch.optim.Optimizer, recipe: Recipe, iteration: int) -> float:
    """Set every group's LR for a 1-based iteration; return the weights' LR."""
    lr = recipe.lr_at(iteration)
    for group in optimizer.param_groups:
        group["lr"] = lr * (recipe.bias_lr_factor if group.get("name") == "biases" else 1.0)
    return lr
