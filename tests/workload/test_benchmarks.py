"""The benchmark scripts run (tiny sizes, on CPU: the GPU script's syntax run), and the COCO
evaluation engines the trainer can use agree with pycocotools."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import eval_coco  # noqa: E402

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


def test_gpu_script_runs_at_a_tiny_size_on_cpu(tmp_path):
    env = dict(os.environ, GPU_BENCH_TINY="1", OUT=str(tmp_path), PYTHON=sys.executable)
    done = subprocess.run([str(ROOT / "benchmarks" / "gpu" / "run.sh")], capture_output=True, text=True,
                          env=env, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = (tmp_path / "results.md").read_text()
    assert "| ours |" in text and "| stock |" in text and "ours / stock:" in text
    assert "identical AP to 1e-4: yes" in text
    assert (tmp_path / "train_step.json").is_file() and (tmp_path / "eval_coco.json").is_file()


def test_data_pipeline_benchmark_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "data_pipeline.py"), "--images", "6", "--runs", "1",
         "--cache", str(tmp_path)], capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "per core: median" in done.stdout and "V100 (DGX-1): 25 img/s needs" in done.stdout
