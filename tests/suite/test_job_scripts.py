"""Generated container job scripts, run: every path and value reaches the programs as one literal
argument, whatever shell syntax it holds.

There is no Slurm controller, Singularity or GPU on this path: the job script that a real
ReFrame dry run writes for TARA's dgx partition is run by bash with STUB ``srun``,
``singularity`` and ``scontrol`` programs first on PATH, which record the arguments they get.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import run_reframe

STUB = """#!/usr/bin/env python3
# STUB {name}: records its arguments (one JSON list per call) and does nothing else.
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(["{name}"] + sys.argv[1:]) + "\\n")
"""


def _stubs(folder: Path) -> Path:
    folder.mkdir()
    for name in ("srun", "singularity", "apptainer", "scontrol"):
        path = folder / name
        path.write_text(STUB.replace("{name}", name))
        path.chmod(0o755)
    return folder


def test_shell_syntax_in_data_dir_and_image_stays_literal(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    coco = tmp_path / "coco$(touch pwned-x)"
    (coco / "models").mkdir(parents=True)
    image = tmp_path / "bundled.sif; touch pwned-y"
    image.write_text("STUB image\n")
    nvidia = tmp_path / "nvidia $(touch pwned-z).sif"
    nvidia.write_text("STUB image\n")
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    (checkout / "tools" / "train_mlperf.py").write_text("# STUB\n")
    (checkout / "maskrcnn_benchmark").mkdir()
    (checkout / "maskrcnn_benchmark" / "_C.so").write_text("STUB\n")
    env = {
        "ACCEPTANCE_MODULES_SYSTEM": "nomod",
        "ACCEPTANCE_ACCOUNT": "proj0001",
        "ACCEPTANCE_COCO_DIR": str(coco),
        "ACCEPTANCE_IMAGE_BUNDLED": str(image),
        "ACCEPTANCE_IMAGE_NVIDIA": str(nvidia),
        "ACCEPTANCE_NVIDIA_CHECKOUT": str(checkout),
    }
    prefix = tmp_path / "rfm"
    variant = "num_nodes==1 and mode=='time-to-train'"
    done, _ = run_reframe(["--system", "tara:dgx", "--dry-run", "-n", "MaskRCNNBenchmark", "-E", variant], prefix, env)
    assert done.returncode == 0, done.stdout[-3000:]
    scripts = sorted(prefix.glob("stage/tara/dgx/maskrcnn/MaskRCNNBenchmark_*/rfm_job.sh"))
    assert len(scripts) == 2  # bundled and NVIDIA's implementation
    stubs = _stubs(tmp_path / "stubs")
    calls = tmp_path / "calls.jsonl"
    for script in scripts:
        run = subprocess.run(
            ["bash", str(script)],
            cwd=work,
            env=dict(os.environ, PATH=f"{stubs}:{os.environ['PATH']}", STUB_LOG=str(calls)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
    assert not list(work.glob("pwned-*")) and not list(tmp_path.rglob("pwned-*")), "shell syntax was run"
    launched = [json.loads(line) for line in calls.read_text().splitlines() if json.loads(line)[0] == "srun"]
    assert len(launched) == 2
    for argv in launched:
        # srun's own options, then the container runtime with one literal argument per value.
        runtime = argv.index("singularity")
        inner = argv[runtime:]
        assert inner[1] == "exec" and "--nv" in inner
        assert f"{coco}:/coco:ro" in inner
        assert str(image) in inner or str(nvidia) in inner
    bundled = next(a for a in launched if str(image) in a)
    assert bundled[bundled.index("--data") + 1] == "/coco"
    nvidia_run = next(a for a in launched if str(nvidia) in a)
    assert f"{coco}:/data:ro" in nvidia_run and f"{checkout}:/workspace/object_detection:ro" in nvidia_run
