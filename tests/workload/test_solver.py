"""The solver against the reference's numbers: parameter groups, and the LR of every group at a
given iteration as maskrcnn-benchmark's WarmupMultiStepLR (mlperf_linear) computes it:
lr_g(k) = (base_g - (warmup - k) * factor) * 0.1 ** bisect_right(steps, k) during warmup, the
scheduler stepped once after each iteration (so iteration k trains with k-1, and NVIDIA's log
line at iteration k prints k)."""

from __future__ import annotations

import pytest
import torch

from mlperf_maskrcnn import recipe as recipes
from mlperf_maskrcnn import solver
from mlperf_maskrcnn.model import build_model


def _trained_lrs(recipe: recipes.Recipe, iterations: int) -> list[tuple[float, float]]:
    """(weights LR, bias LR) each iteration trained with, driving a real optimizer and scheduler."""
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    bias = torch.nn.Parameter(torch.zeros(2))
    module = torch.nn.Module()
    module.weight, module.bias = weight, bias
    optimizer = solver.build_optimizer(module, recipe, torch.device("cpu"))
    scheduler = solver.build_scheduler(optimizer, recipe)
    used = []
    for _ in range(iterations):
        used.append(tuple(g["lr"] for g in optimizer.param_groups))
        optimizer.step()
        scheduler.step()
    return used


def test_dgx1_bias_lr_at_iterations_0_and_1():
    # DGX-1: base 0.06, warmup 625 x 9.6e-5. Bias group base 0.12: 0.12 - 625 * 9.6e-5 = 0.06 at
    # step 0 (the first iteration), 0.12 - 624 * 9.6e-5 = 0.060096 at step 1; weights 0 and 9.6e-5.
    used = _trained_lrs(recipes.load("nvidia_dgx1"), 2)
    assert used[0] == pytest.approx((0.0, 0.06), abs=1e-12)
    assert used[1] == pytest.approx((9.6e-5, 0.060096), abs=1e-12)


def test_dgxa100_prints_0_002_at_iteration_20_and_0_004_at_40():
    # NVIDIA's DGX A100 logs print lr 0.002000 at iter 20 and 0.004000 at iter 40 (weights group,
    # printed after the scheduler stepped): 0.08 - (800 - 20) * 1e-4 = 0.002.
    r = recipes.load("nvidia_dgxa100")
    used = _trained_lrs(r, 41)
    assert used[20][0] == pytest.approx(0.002, abs=1e-12) and used[40][0] == pytest.approx(0.004, abs=1e-12)
    assert used[20][1] == pytest.approx(2 * 0.08 - 780 * 1e-4, abs=1e-12)  # 0.082: not twice 0.002
    assert r.lr_at(20) == pytest.approx(0.002) and r.lr_at(18000, base_lr=0.16) == pytest.approx(0.016)


def test_bias_parameters_get_twice_the_lr_and_no_weight_decay():
    r = recipes.load("nvidia_dgxa100")
    model = build_model(r)
    optimizer = solver.build_optimizer(model, r, torch.device("cpu"))
    weights, biases = optimizer.param_groups
    assert weights["weight_decay"] == 1e-4 and biases["weight_decay"] == 0.0
    assert weights["lr"] == pytest.approx(0.08) and biases["lr"] == pytest.approx(0.16)
    bias_names = {n for n, p in model.named_parameters() if p.requires_grad and "bias" in n}
    assert {id(p) for p in biases["params"]} == {id(p) for n, p in model.named_parameters() if n in bias_names}
    assert all(p.dim() == 1 for p in biases["params"])
    assert optimizer.defaults["momentum"] == 0.9
