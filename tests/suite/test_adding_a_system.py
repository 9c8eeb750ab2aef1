"""Adding a system is one file: a vendor's description written only from ReFrame's documented
systems schema, dropped into a copy of config/systems/, runs the suite's checks (dry run), and a
partition that can run no Mask R-CNN check says why instead of ReFrame's silent "Ran 0/0"."""

from __future__ import annotations

import shutil

from conftest import ROOT, cases_of, resources_with, run_reframe

VENDOR = """
# A vendor's system, in ReFrame's systems schema only (no helper of this project).
system = {
    "name": "vendor",
    "descr": "4 nodes, 8x A100 each",
    "hostnames": ["^vendor-login"],
    "partitions": [
        {
            "name": "gpu",
            "scheduler": "slurm",
            "launcher": "srun",
            "access": ["-p gpu"],
            "environs": ["maskrcnn"],
            "time_limit": "12h",
            "sched_options": {"use_nodes_option": True},
            "resources": [{"name": "_rfm_gpu", "options": ["--gpus-per-node={num_gpus_per_node}"]}],
            "processor": {"num_cpus": 128, "num_cpus_per_core": 1, "num_sockets": 2, "num_cpus_per_socket": 64},
            "devices": [{"type": "gpu", "model": "NVIDIA A100-SXM4-80GB", "num_devices": 8}],
            "features": FEATURES,
            "extras": {"nodes": 4, "coco_dir": COCO, "recipes": {"4": "nvidia_dgxa100_4x8x4"}},
        }
    ],
}
"""


REFERENCES = """
- check: maskrcnn
  system: vendor:gpu
  nodes: 4
  implementation: any
  mode: any
  source: the vendor's offer (test)
  perf:
    time_to_train: {value: 28.46, lower: null, upper: 0.15, unit: min}
    throughput: {value: 1189.0, lower: -0.15, upper: null, unit: img/s}
    epochs: {value: 14, lower: null, upper: 0.25, unit: epochs}
    eval_time: {value: 551.0, lower: null, upper: 0.5, unit: s}
    projected_time_to_train: {value: 28.46, lower: null, upper: null, unit: min}
"""


def _config_with(tmp_path, features: list[str]):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("__pycache__"))
    coco = tmp_path / "coco"
    (coco / "models").mkdir(parents=True)
    text = VENDOR.replace("FEATURES", repr(features)).replace("COCO", repr(str(coco)))
    (config / "systems" / "vendor.py").write_text(text)
    return config / "tara.py"


def test_a_vendor_file_runs_the_mlperf_check(tmp_path):
    config = _config_with(tmp_path, ["gpu", "coco"])
    # One file in config/systems/ plus its reference entries: nothing else changes.
    env = {"ACCEPTANCE_MODULES_SYSTEM": "nomod", **resources_with(tmp_path / "resources", REFERENCES)}
    args = ["--system", "vendor:gpu", "--dry-run", "-n", "MaskRCNNBenchmark|SuiteCoverage", "-x", "nvidia"]
    done, report = run_reframe(args, tmp_path / "run", env, config=config)
    assert done.returncode == 0, done.stdout[-3000:]
    ran = {(c["name"].split()[0], c.get("num_nodes"), c.get("mode")): c for c in cases_of(report)}
    assert ran[("MaskRCNNBenchmark", 1, "time-to-train")]["skip_reason"].startswith("no recipe for 1 node(s)")
    four = ran[("MaskRCNNBenchmark", 4, "time-to-train")]
    assert four["result"] == "pass" and four["recipe"] == "nvidia_dgxa100_4x8x4"
    script = next((tmp_path / "run").glob("stage/vendor/gpu/maskrcnn/MaskRCNNBenchmark_*/rfm_job.sh")).read_text()
    assert "#SBATCH --gpus-per-node=8" in script and "#SBATCH --ntasks=32" in script
    assert ran[("SuiteCoverageCheck", None, None)]["result"] == "pass"


def test_a_partition_without_a_data_feature_says_why(tmp_path):
    config = _config_with(tmp_path, ["gpu"])
    env = {"ACCEPTANCE_MODULES_SYSTEM": "nomod"}
    args = ["--system", "vendor:gpu", "-r", "-n", "SuiteCoverage"]
    done, report = run_reframe(args, tmp_path / "run", env, config=config)
    assert done.returncode != 0
    (case,) = cases_of(report)
    assert case["result"] == "fail"
    assert "vendor:gpu has neither of the features ['coco', 'synthetic-data']" in case["fail_reason"]
