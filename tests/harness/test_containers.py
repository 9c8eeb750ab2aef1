"""The Singularity/Apptainer definitions (no Singularity here to build them: these tests hold the
definitions to the project's pins and to what the check and the docs expect of the images), and
the device probe the image verification runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from conftest import ROOT

CONTAINERS = ROOT / "resources" / "containers"


def _definition(name: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Header keys and the lines of each %section of a definition file, comments dropped."""
    header: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current = None
    for raw in (CONTAINERS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("%"):
            current = line[1:].split()[0]
            assert current not in sections, f"{name}: %{current} twice"
            sections[current] = []
        elif current is None:
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
        else:
            sections[current].append(line)
    return header, sections


def _pins() -> dict[str, str]:
    # pyproject's '"name==version",' lines (tomllib is not in Python 3.10, which the project supports)
    text = (ROOT / "pyproject.toml").read_text()
    return dict(re.findall(r'^\s*"([A-Za-z0-9_.-]+)==([^"]+)",', text, re.MULTILINE))


def test_bundled_definition_installs_this_workload_with_its_pins():
    header, sections = _definition("mlperf-maskrcnn-bundled.def")
    assert header["Bootstrap"] == "docker" and header["From"].startswith("nvcr.io/nvidia/pytorch:")
    assert {"files", "post", "environment", "runscript", "test", "labels"} <= set(sections)
    # Everything %files copies exists in the repository (the build runs from its root).
    assert any(line.startswith("src ") for line in sections["files"])
    for line in sections["files"]:
        source = line.split()[0]
        assert (ROOT / source).exists(), f"%files source {source} missing"
    post = "\n".join(sections["post"])
    pins = _pins()
    assert f"torch=={pins['torch']}" in post and f"torchvision=={pins['torchvision']}" in post
    # A normal install (no editable tree in the image): resources/ is copied and named by the one
    # variable every reader of it honours.
    assert re.search(r'pip install --no-cache-dir "/opt/thaisc-mlperf-acceptance\[workload\]"', post)
    assert "resources /opt/thaisc-mlperf-acceptance/resources" in sections["files"]
    assert "export ACCEPTANCE_RESOURCES=/opt/thaisc-mlperf-acceptance/resources" in sections["environment"]
    assert 'export PIP_CONSTRAINT=""' in post  # NGC's constraints file would pin its own torch
    index = re.search(r"TORCH_INDEX=(\S+)", post).group(1)
    assert index.rstrip("/").endswith("cu126")  # keeps sm_70 (TARA's V100), see the README
    assert "export PYTHONNOUSERSITE=1" in sections["environment"]
    assert "python -m mlperf_maskrcnn.probes devices" in sections["test"]
    labels = dict(line.split(maxsplit=1) for line in sections["labels"])
    assert labels["torch"] == pins["torch"] and labels["torchvision"] == pins["torchvision"]
    assert labels["org.opencontainers.image.base.name"] == header["From"]


def test_nvidia_definition_is_ngc_20_06_with_the_checkouts_requirements():
    header, sections = _definition("nvidia-v0.7-maskrcnn.def")
    assert header["From"] == "nvcr.io/nvidia/pytorch:20.06-py3"  # NVIDIA's v0.7 submission image
    source, target = sections["files"][0].split()
    assert source == "training_results_v0.7/NVIDIA/benchmarks/maskrcnn/implementations/pytorch/requirements.txt"
    assert any(target in line and "pip install" in line for line in sections["post"])


def test_readme_documents_build_digest_and_verify_for_both_images():
    text = (CONTAINERS / "README.md").read_text()
    for command in (
        "singularity build --fakeroot mlperf-maskrcnn-bundled.sif resources/containers/mlperf-maskrcnn-bundled.def",
        "sha256sum mlperf-maskrcnn-bundled.sif > mlperf-maskrcnn-bundled.sif.sha256",
        "singularity exec --nv mlperf-maskrcnn-bundled.sif python -m mlperf_maskrcnn.probes devices",
        "python setup.py build_ext --inplace",
    ):
        assert command in text, command


def test_device_probe_prints_what_the_container_check_reads():
    done = subprocess.run(
        [sys.executable, "-m", "mlperf_maskrcnn.probes", "devices"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    values = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    import torch

    assert values["torch"] == torch.__version__
    assert int(values["gpu_count"]) == torch.cuda.device_count()
    assert values["unsupported_gpus"] == "0" or torch.cuda.device_count() > 0
    assert "built_for" in values and "cuda" in values


def test_the_device_probe_counts_the_gpus_its_torch_build_has_no_kernels_for():
    from mlperf_maskrcnn import probes  # torch-free at import: the probes import torch when they run

    built = ["sm_80", "sm_86", "sm_90"]  # a CUDA 12.8+ build without Volta
    assert probes.unsupported_gpus([(8, 0)] * 8, built) == 0
    assert probes.unsupported_gpus([(7, 0), (8, 0), (7, 0), (9, 0)], built) == 2  # two V100s
    assert probes.unsupported_gpus([(8, 0), (8, 0)], []) == 2  # a CPU-only build
    assert probes.unsupported_gpus([], built) == 0
    assert probes.has_kernels((8, 6), built) and not probes.has_kernels((8, 9), built)
    assert not probes.has_kernels((7, 0), ["sm_70x", "compute_70"])  # an exact architecture only


def test_an_installed_workload_finds_resources_through_the_one_variable(tmp_path):
    """As in the image: the package without its source tree around it."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "src" / "mlperf_maskrcnn", site / "mlperf_maskrcnn")
    env = {k: v for k, v in os.environ.items() if k != "ACCEPTANCE_RESOURCES"}
    # -I ignores the editable install's path entry; the copy is the only mlperf_maskrcnn.
    command = [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); "
               "from mlperf_maskrcnn.__main__ import main; sys.exit(main(['recipes']))"]  # fmt: skip
    lost = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert lost.returncode == 2 and "Traceback" not in lost.stderr
    assert "error: no resources/ folder above" in lost.stderr and "set ACCEPTANCE_RESOURCES" in lost.stderr
    env["ACCEPTANCE_RESOURCES"] = str(ROOT / "resources")
    found = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "nvidia_dgx1" in found.stdout.split() and "smoke" in found.stdout.split()
