import dataclasses

import pytest

from mlperf_maskrcnn import recipe as recipes
from mlperf_maskrcnn.recipe import Recipe, RecipeError


def test_every_shipped_recipe_loads_and_nvidia_ones_are_closed():
    names = recipes.available_recipes()
    for expected in (
        "nvidia_dgx1",
        "nvidia_dgx2",
        "nvidia_dgx2_4x16x2",
        "nvidia_dgxa100",
        "nvidia_dgxa100_2x8x6",
        "nvidia_dgxa100_4x8x4",
        "nvidia_dgxa100_32x8",
        "lanta_4x4",
        "smoke",
    ):
        assert expected in names
    for name in names:
        r = recipes.load(name)
        if name.startswith(("nvidia", "lanta")):
            assert r.division == "closed"
            assert recipes.closed_division_violations(r) == []


def test_global_batches_match_nvidia_table():
    table = {
        "nvidia_dgx1": 48,
        "nvidia_dgx2": 96,
        "nvidia_dgx2_4x16x2": 128,
        "nvidia_dgxa100": 64,
        "nvidia_dgxa100_2x8x6": 96,
        "nvidia_dgxa100_4x8x4": 128,
        "nvidia_dgxa100_32x8": 256,
        "lanta_4x4": 96,
    }
    for name, batch in table.items():
        assert recipes.load(name).global_batch == batch


def test_dgxa100_warmup_matches_nvidia_logs_and_decays_at_steps():
    r = recipes.load("nvidia_dgxa100")
    assert r.lr_at(20) == pytest.approx(0.002)
    assert r.lr_at(40) == pytest.approx(0.004)
    assert r.lr_at(800) == pytest.approx(0.08)
    assert r.lr_at(17999) == pytest.approx(0.08)
    assert r.lr_at(18000) == pytest.approx(0.008)
    assert r.lr_at(24000) == pytest.approx(0.0008)


def test_4x_dgxa100_lr_at_20_as_its_log_prints():
    # shared/data .../dgxa100_n4_ngc20.06_pytorch/result_0: "iter: 20 ... lr: 0.005120"
    assert recipes.load("nvidia_dgxa100_4x8x4").lr_at(20) == pytest.approx(0.00512)


@pytest.mark.parametrize(
    "change, rule",
    [
        ({"base_lr": 0.05}, "base_lr rule"),
        ({"decay_steps": (20000, 32000)}, "decay_steps rule"),
        ({"decay_factor": 0.2}, "decay_factor rule"),
        ({"min_size": 640}, "image_size rule"),
        ({"max_size": 1024}, "image_size rule"),
        ({"num_image_candidates": 1500}, "candidates rule"),
        ({"grad_clip_norm": 5.0}, "solver rule"),
        ({"target_bbox": 0.3}, "quality rule"),
    ],
)
def test_closed_division_refuses_each_violation_naming_the_rule(change, rule):
    bad = dataclasses.replace(recipes.load("nvidia_dgx1"), **change)
    with pytest.raises(RecipeError, match=rule):
        recipes.validate(bad)


def test_open_division_needs_a_reason_and_smoke_says_why():
    smoke = recipes.load("smoke")
    assert smoke.division == "open"
    assert "size only" in smoke.open_division_reason
    with pytest.raises(RecipeError, match="open_division_reason"):
        recipes.validate(dataclasses.replace(smoke, open_division_reason=""))


def test_unknown_field_and_missing_recipe_are_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nbase_lrr: 0.1\n")
    with pytest.raises(RecipeError, match="base_lrr"):
        recipes.load(path)
    with pytest.raises(RecipeError, match="not found"):
        recipes.load("no_such_recipe")


def test_decay_rule_accepts_nvidia_k2_values():
    # DGX-1 uses (1 + 2/10), the 32-node config (1 + 5/10): both must be accepted.
    base = recipes.load("nvidia_dgxa100_32x8")
    assert recipes.closed_division_violations(base) == []
    assert isinstance(base, Recipe)
