import dataclasses

import pytest
import yaml

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


# ---- the rules' edges and words (torch-free: mutation-tested, benchmarks/mutation.sh) ---------------
DGX1_RULES = "recipe nvidia_dgx1 breaks the closed-division rules:\n  "


def _violations(**change) -> list[str]:
    return recipes.closed_division_violations(dataclasses.replace(recipes.load("nvidia_dgx1"), **change))


@pytest.mark.parametrize(
    ("steps", "accepted"),
    [
        ((24000, 32000), True),  # K = 2 at batch 48
        ((24000.5, 32000), True),  # within 1 step of the rule
        ((24000, 31999.5), True),
        ((24001.5, 32000), False),
        ((30001, 40000), True),  # K = 5 is (30000, 40000) exactly: one whole step off is still within
        ((30000, 40001), True),
        ((30002, 40000), False),
        ((20000, 80000 / 3), True),  # K = 0: (60000, 80000) x 16 / 48
        ((220000, 880000 / 3), False),  # K = 100 is past the rule's range
        ((24000,), False),
        ((24000, 32000, 40000), False),
    ],
)
def test_decay_steps_rule_edges(steps, accepted):
    assert (_violations(decay_steps=steps) == []) is accepted


@pytest.mark.parametrize(
    ("base_lr", "accepted"), [(0.02, True), (0.04, True), (0.0, False), (0.01, False), (0.03, False)]
)
def test_base_lr_is_a_whole_multiple_of_0_02(base_lr, accepted):
    assert (_violations(base_lr=base_lr) == []) is accepted


def test_each_rule_says_what_it_wants_and_what_it_got():
    assert _violations(base_lr=0.05) == [
        "base_lr rule: opt_base_learning_rate must be 0.02*K for an integer K >= 1, got 0.05"
    ]
    assert _violations(decay_steps=(20000, 32000)) == [
        "decay_steps rule: opt_learning_rate_decay_steps must be (60000, 80000) * (1 + K/10) * 16 / global_batch "
        "for one integer K >= 0; got [20000, 32000] at global batch 48"
    ]
    assert _violations(decay_factor=0.2) == ["decay_factor rule: opt_learning_rate_decay_factor must be 0.1, got 0.2"]
    assert _violations(min_size=640) == [
        "image_size rule: min_image_size/max_image_size must be 800/1333, got 640/1333"
    ]
    assert _violations(num_image_candidates=1500) == [
        "candidates rule: num_image_candidates must be 1000 or 1000 x images per chip ([1000, 6000]), got 1500"
    ]
    assert _violations(num_image_candidates=1000) == []
    small = recipes.ModelSize(anchor_sizes=(16, 32, 64, 128, 256))
    assert _violations(model=small) == [
        "model rule: anchor sizes, sampling and detection counts must be the reference's, got "
        f"{dataclasses.asdict(small)}"
    ]
    assert _violations(target_segm=0.3) == ["quality rule: targets must be BBOX 0.377 and SEGM 0.339, got 0.377/0.3"]
    assert _violations(grad_clip_norm=5.0) == ["solver rule: the reference does not clip gradients (grad_clip_norm)"]
    with pytest.raises(RecipeError) as err:
        recipes.validate(dataclasses.replace(recipes.load("nvidia_dgx1"), decay_factor=0.2, grad_clip_norm=1.0))
    assert str(err.value) == (
        DGX1_RULES + "decay_factor rule: opt_learning_rate_decay_factor must be 0.1, got 0.2\n  "
        "solver rule: the reference does not clip gradients (grad_clip_norm)"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"division": "closedd"}, "recipe nvidia_dgx1: division must be 'closed' or 'open'"),
        ({"nodes": 0}, "recipe nvidia_dgx1: nodes, gpus_per_node, images_per_gpu must be >= 1"),
        ({"gpus_per_node": 0}, "recipe nvidia_dgx1: nodes, gpus_per_node, images_per_gpu must be >= 1"),
        ({"images_per_gpu": 0}, "recipe nvidia_dgx1: nodes, gpus_per_node, images_per_gpu must be >= 1"),
        ({"test_batch": 0}, "recipe nvidia_dgx1: test_batch and max_iter must be >= 1"),
        ({"max_iter": 0}, "recipe nvidia_dgx1: test_batch and max_iter must be >= 1"),
        ({"decay_steps": (32000, 24000)}, "recipe nvidia_dgx1: decay_steps must be increasing"),
        ({"division": "open"}, "recipe nvidia_dgx1: an open-division recipe must say why (open_division_reason)"),
    ],
)
def test_a_recipe_out_of_shape_is_refused_in_one_sentence(change, message):
    with pytest.raises(RecipeError) as err:
        recipes.validate(dataclasses.replace(recipes.load("nvidia_dgx1"), **change))
    assert str(err.value) == message


def test_the_smallest_recipe_in_shape_passes():
    tiny = dataclasses.replace(
        recipes.load("smoke"), nodes=1, gpus_per_node=1, images_per_gpu=1, test_batch=1, max_iter=1
    )
    recipes.validate(tiny)
    recipes.validate(dataclasses.replace(recipes.load("nvidia_dgx1"), division="open", open_division_reason="tests"))


def test_a_recipe_survives_its_dict_and_yaml_round_trip(tmp_path):
    for name in ("nvidia_dgx1", "smoke"):
        recipe = recipes.load(name)
        data = recipe.to_dict()
        assert data["global_batch"] == recipe.global_batch and data["decay_steps"] == list(recipe.decay_steps)
        assert data["model"]["anchor_sizes"] == list(recipe.model.anchor_sizes)
        assert recipes.from_dict(data) == recipe  # global_batch is derived, lists become tuples again
        path = tmp_path / f"{name}_copy.yaml"
        path.write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "name"}))
        assert recipes.load(path) == dataclasses.replace(recipe, name=f"{name}_copy")


def test_a_recipe_files_lists_and_model_section_are_read_as_written():
    smoke = recipes.load("smoke")  # resources/recipes/smoke.yaml
    assert smoke.decay_steps == (300, 350)
    assert smoke.model == recipes.ModelSize((16, 32, 64, 128, 256), 128, 300, 300, 100, 64, 20)
    assert recipes.from_dict({**smoke.to_dict(), "decay_steps": [200, 250]}).decay_steps == (200, 250)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_lrr": 0.1}, "<dict>: unknown recipe field(s) ['base_lrr']"),
        ({"model": {"anchors": [1]}}, "<dict>: unknown model field(s) ['anchors']"),
        ({"base_lr": "0.06"}, "<dict>: field 'base_lr' must be float, got '0.06'"),
        ({"nodes": True}, "<dict>: field 'nodes' must be int, got True"),
        ({"nodes": 1.0}, "<dict>: field 'nodes' must be int, got 1.0"),
        ({"max_iter": None}, "<dict>: field 'max_iter' must be int, got None"),
    ],
)
def test_a_mistyped_recipe_names_origin_and_field(change, message):
    data = {**recipes.load("nvidia_dgx1").to_dict(), **change}
    with pytest.raises(RecipeError) as err:
        recipes.from_dict(data)
    assert str(err.value) == message
    assert recipes.from_dict({**recipes.load("nvidia_dgx1").to_dict(), "base_lr": 1}).base_lr == 1  # an int is a float


def test_a_missing_field_is_named_with_the_file(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("division: closed\nnodes: 1\n")
    with pytest.raises(RecipeError) as err:
        recipes.load(path)
    assert str(err.value).startswith(f"{path}: Recipe.__init__() missing ") and "'description'" in str(err.value)


def test_recipe_files_that_are_no_recipe(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(RecipeError) as err:
        recipes.load(listed)
    assert str(err.value) == f"{listed}: a recipe must be a mapping of fields"
    broken = tmp_path / "broken.yaml"
    broken.write_text("nodes: [1\n")
    with pytest.raises(RecipeError) as err:
        recipes.load(broken)
    assert str(err.value).startswith(f"{broken}: not valid YAML: while parsing a flow sequence")
    with pytest.raises(RecipeError) as err:
        recipes.load("no_such_recipe")
    missing = recipes.recipes_dir() / "no_such_recipe.yaml"
    assert str(err.value) == f"recipe file {missing} not found (available: {', '.join(recipes.available_recipes())})"


def test_load_checks_the_rules_unless_told_not_to(tmp_path):
    data = recipes.load("nvidia_dgx1").to_dict()
    data.pop("name")
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump({**data, "base_lr": 0.05}))
    with pytest.raises(RecipeError, match="recipe fast breaks the closed-division rules"):
        recipes.load(path)
    assert recipes.load(path, check=False).base_lr == 0.05


def test_the_bias_groups_lr_and_the_end_of_warmup():
    r = recipes.load("nvidia_dgx1")  # base 0.06, 625 warmup iterations of 9.6e-5
    assert r.lr_at(0) == pytest.approx(0.06 - 625 * 9.6e-5)
    assert r.lr_at(0, base_lr=0.12) == pytest.approx(0.12 - 625 * 9.6e-5)
    assert r.lr_at(624) == pytest.approx(0.06 - 9.6e-5)
    assert r.lr_at(625) == pytest.approx(0.06)
    assert r.lr_at(24000, base_lr=0.12) == pytest.approx(0.012)
    assert r.lr_at(32000) == pytest.approx(0.0006)


def test_an_epoch_is_the_references_iterations():
    assert recipes.iterations_per_epoch(117266, 48) == 2444
    assert recipes.iterations_per_epoch(96, 48) == 3  # a whole number of batches still adds one
