"""The benchmark scripts run (tiny sizes, on CPU: the GPU check's dry run), and the COCO
evaluation engines the trainer can use agree with pycocotools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "gpu"))

import eval_coco  # noqa: E402
import results  # noqa: E402
import shapes  # noqa: E402

from mlperf_maskrcnn import cocoeval  # noqa: E402


@pytest.fixture(scope="module")
def coco_set(tmp_path_factory):
    cache = tmp_path_factory.mktemp("eval-set")
    return eval_coco.load_or_make(cache, images=30, per_image=6.0, detections=40, seed=5)


def test_engines_and_the_parallel_path_agree_with_pycocotools(coco_set):
    gt_file, dets = coco_set
    ids = list(range(1, 31))
    reference = cocoeval.evaluate_all(gt_file, dets, ids, "pycocotools", parallel=False)
    assert 0.05 < reference["segm"][0] < 0.95  # a set whose AP can differ between engines
    for engine in cocoeval.ENGINES:
        for parallel in (False, True):
            found = cocoeval.evaluate_all(gt_file, dets, ids, engine, parallel=parallel)
            for kind in ("bbox", "segm"):
                assert found[kind] == pytest.approx(reference[kind], abs=1e-4), (engine, parallel, kind)
    scores = cocoeval.evaluate(gt_file, dets, ids)
    assert scores == {"BBOX": pytest.approx(reference["bbox"][0]), "SEGM": pytest.approx(reference["segm"][0])}


def test_a_failing_mask_evaluation_is_reported_not_hung(coco_set):
    gt_file, dets = coco_set
    broken = [dict(d, segmentation={"size": [1, 1], "counts": 12345}) for d in dets]
    with pytest.raises(RuntimeError, match="segm evaluation failed"):
        cocoeval.evaluate_all(gt_file, broken, list(range(1, 31)), parallel=True)
    with pytest.raises(ValueError, match="unknown COCO evaluation engine 'cocoapi'"):
        cocoeval.evaluate_all(gt_file, dets, [1], "cocoapi")


GPU_PARTS = ("prepare", "env", "nccl", "train", "matrix", "cap15", "cap38", "speed", "eval")


def test_gpu_check_dry_run_writes_every_part(tmp_path):
    """benchmarks/gpu/check.sh --dry-run: every part of the GPU check on the CPU at tiny sizes."""
    out, bundle = tmp_path / "out", tmp_path / "returned" / "gpucheck.tar.gz"
    bundle.parent.mkdir()
    env = dict(os.environ, PYTHON=sys.executable, CHECK_DEADLINE_S="900", CHECK_BUNDLE=str(bundle))
    done = subprocess.run([str(ROOT / "benchmarks" / "gpu" / "check.sh"), "--dry-run", str(out)],
                          capture_output=True, text=True, env=env, timeout=960)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    part = {name: json.loads((out / f"{name}.json").read_text()) for name in GPU_PARTS}
    assert {name: p["status"] for name, p in part.items()} == dict.fromkeys(GPU_PARTS, "ok")
    assert part["env"]["torch"] and part["env"]["packages"]["pycocotools"] != "missing"
    assert part["nccl"]["backend"] == "cpu:gloo" and part["nccl"]["backends"]["cpu"] == "ProcessGroupGloo"
    assert set(part["nccl"]["checks"]) == {"all_reduce_cpu", "broadcast_cpu", "gather_object",
                                            "broadcast_object_list", "barrier"}  # fmt: skip
    train = part["train"]
    assert train["run_stop"] and train["stop_kind"] == "iteration_cap" and train["run_status"] == "aborted"
    assert train["evaluations"] and train["inference"] and train["windows"][-1]["iteration"] == 2 * train[
        "iterations_per_epoch"]  # fmt: skip
    assert (out / "logs" / "train_mlperf.log").is_file() and (out / "logs" / "train_output.log").is_file()
    rows = part["matrix"]["rows"]
    assert {(r["objects"], r["layout"]) for r in rows} == {(7, "nchw"), (60, "nchw"), (7, "channels_last"),
                                                          (60, "channels_last")}  # fmt: skip
    assert all(r["fits"] and r["img_s"] > 0 and r["loss_finite"] for r in rows)
    assert part["cap15"]["cap"]["cap_gib"] == 15.5 and part["cap38"]["cap"]["cap_gib"] == 38.5
    assert {r["padded"] for r in part["cap38"]["rows"]} == {"96x96"}  # mixed aspects: square padding
    speed = part["speed"]
    assert speed["flops"]["ours"]["per_image"] > 1e9 and speed["flops"]["stock"]["per_image"] > 1e9
    assert any("convolution" in op for op in speed["flops"]["ours"]["by_op"])
    assert set(speed["ours_vs_stock"]) == {"ours", "stock"} and set(speed["hot_loop"]) == {"base", "uint8", "six-reads"}
    assert speed["mfu"]["achieved_tflops"] > 0 and speed["mfu"]["peak_tflops"] is None  # no GPU: no peak
    assert part["eval"]["second_pass"]["images"] == 2 and part["eval"]["postprocess"]["identical_rle_share"] > 0.9
    summary = (out / "summary.md").read_text()
    for heading in ("## One-rank process group", "## Trainer, end to end", "## Memory and speed (uncapped)",
                    "## Under a V100-16GB's memory (cap)", "## Speed at", "## Evaluation (per image)"):  # fmt: skip
        assert heading in summary, heading
    with tarfile.open(bundle) as tar:
        assert "./summary.md" in tar.getnames() and "./speed.json" in tar.getnames()


def test_a_gpu_check_part_cut_short_keeps_what_it_wrote(tmp_path):
    results.write(tmp_path, "matrix", {"rows": [{"shape": "800x1216", "fits": True}]}, "partial")
    log = tmp_path / "matrix.log"
    log.write_text("step 3 ...")
    assert results.mark(tmp_path, "matrix", 124, log, 110.0) == "timeout"
    kept = results.read(tmp_path, "matrix")
    assert kept["rows"] == [{"shape": "800x1216", "fits": True}] and kept["log_tail"] == "step 3 ..."
    assert results.mark(tmp_path, "never", 1, tmp_path / "missing.log") == "failed"
    results.write(tmp_path, "done", {"x": 1}, "partial")
    assert results.mark(tmp_path, "done", 0, log) == "partial"  # exited 0 before finishing its file


def test_fixed_shape_batches_pad_to_the_shapes_they_are_named_after(tmp_path):
    tree, index = shapes.make_tree(tmp_path, 2, objects=(7,))
    for shape in shapes.SHAPES:
        images, targets = shapes.load_batch(tree, index[(shape, 7)])
        assert shapes.padded(images) == shape
        assert [len(t["boxes"]) for t in targets] == [7, 7]  # every object usable


def test_the_gpu_check_recipe_is_open_but_keeps_the_closed_rules():
    from mlperf_maskrcnn import recipe as recipes

    recipe = recipes.load("gpu_check")
    assert recipe.division == "open" and "synthetic" in recipe.open_division_reason.lower()
    assert recipes.closed_division_violations(recipe) == []
    assert (recipe.ranks, recipe.images_per_gpu, recipe.dtype, recipe.max_iter) == (1, 8, "float16", 60)


def test_data_pipeline_benchmark_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "data_pipeline.py"), "--images", "6", "--runs", "1",
         "--cache", str(tmp_path)], capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "per core: median" in done.stdout and "V100 (DGX-1): 25 img/s needs" in done.stdout
