"""The pyxis/enroot way to run an image: srun's options from the pure builder, what a partition
declares (through ReFrame's own configuration API and the suite's normaliser), and what a run
records of an image given as a squashfs file or as a registry reference."""

from __future__ import annotations

import hashlib
import re
import shlex
import sys
from pathlib import Path

import pytest
import reframe.core.config as rfm_config
from reframe.core.systems import System

from acceptance import containers
from acceptance.suite import hooks, launch
from conftest import ROOT

sys.path.append(str(ROOT / "config"))
from systems.common import ConfigError, normalise  # noqa: E402

STAGE = "/scratch/rfm/stage/vendor/pyxis/maskrcnn/MaskRCNNBenchmark_1"
CHECKOUT = "/lustre/training_results_v0.7/NVIDIA/benchmarks/maskrcnn/implementations/pytorch"


def _pyxis(image: str = "/lustre/images/nvidia.sqsh", binds=(), env=None) -> launch.Container:
    return launch.Container("pyxis", image, STAGE, tuple(binds), True, env or {})


def test_the_options_bind_data_read_only_and_work_in_the_stage_folder():
    binds = [("/lustre/coco", "/coco"), ("/lustre/coco", "/data"), (CHECKOUT, "/workspace/object_detection")]
    options, before = launch.container_launch(_pyxis(binds=binds))
    assert before == []  # the command after srun is the workload's own argv
    assert options == [
        "--container-image=/lustre/images/nvidia.sqsh",
        f"--container-mounts=/lustre/coco:/coco:ro,/lustre/coco:/data:ro,{CHECKOUT}:/workspace/object_detection:ro,"
        f"{STAGE}:/rfm_workdir",
        "--container-workdir=/rfm_workdir",
        "--no-container-mount-home",
    ]
    assert not any(o.startswith("--nv") for o in options)  # enroot's NVIDIA hook exposes the step's GPUs


def test_the_sites_nccl_variables_are_named_so_they_win_over_the_images():
    options = launch.pyxis_options(_pyxis(env={"NCCL_SOCKET_IFNAME": "ib0", "LD_LIBRARY_PATH": "/opt/nccl/lib"}))
    assert options[-1] == "--container-env=LD_LIBRARY_PATH,NCCL_SOCKET_IFNAME"
    # No variables: no --container-env (pyxis before 0.15 does not know the option).
    assert not any(o.startswith("--container-env") for o in launch.pyxis_options(_pyxis()))


def test_a_registry_reference_goes_to_pyxis_as_given():
    options = launch.pyxis_options(_pyxis(image="nvcr.io#nvidia/pytorch:20.06-py3"))
    assert options[0] == "--container-image=nvcr.io#nvidia/pytorch:20.06-py3"


def test_shell_syntax_stays_one_literal_option():
    image = "/lustre/bundled.sqsh; touch pwned"
    data = "/lustre/coco$(touch${IFS}pwned)"
    options = launch.pyxis_options(_pyxis(image=image, binds=[(data, "/coco")]))
    # What ReFrame writes (options joined by spaces, each quoted by hooks.container_command) is
    # read back by the shell as exactly these words.
    assert shlex.split(" ".join(shlex.quote(o) for o in options)) == options
    assert options[0] == f"--container-image={image}"
    assert options[1].startswith(f"--container-mounts={data}:/coco:ro,")


@pytest.mark.parametrize(
    ("binds", "image", "env", "message"),
    [
        ([("/lustre/co,co", "/coco")], None, None, "mount path '/lustre/co,co' contains ':' or ','"),
        ([("/lustre/coco", "/co:co")], None, None, "container path '/co:co' contains ':' or ','"),
        ([("/lustre/my coco", "/coco")], None, None, "mount path '/lustre/my coco' contains whitespace"),
        ([("coco", "/coco")], None, None, "mount path 'coco' is not absolute"),
        ([], "./bundled.sqsh", None, "image './bundled.sqsh' is relative"),
        ([], None, {"NCCL,NET": "x"}, "environment variable name 'NCCL,NET' cannot be passed"),
    ],
)
def test_what_pyxis_cannot_express_is_refused_naming_it(binds, image, env, message):
    with pytest.raises(launch.LaunchError) as err:
        launch.pyxis_options(_pyxis(image=image or "/lustre/images/nvidia.sqsh", binds=binds, env=env))
    assert message in str(err.value)


def test_singularity_keeps_its_command_before_the_workload():
    container = launch.Container("singularity", "/img.sif", STAGE, (("/lustre/coco", "/coco"),), True)
    options, before = launch.container_launch(container)
    assert options == []
    assert before == [
        "singularity", "exec", "--nv", "-B", "/lustre/coco:/coco:ro",
        "-B", f"{STAGE}:/rfm_workdir", "--pwd", "/rfm_workdir", "/img.sif",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("nvcr.io#nvidia/pytorch:20.06-py3", True),
        ("$oauthtoken@nvcr.io#nvidia/pytorch:20.06-py3", True),
        ("ubuntu:22.04", True),
        ("/lustre/images/bundled.sqsh", False),
        ("./bundled.sqsh", False),
        ("", False),
    ],
)
def test_pyxis_reads_a_path_only_where_it_starts_with_a_slash_or_dot(image, registry):
    assert containers.is_registry_reference(image) is registry


# ---- a partition that declares pyxis, read through ReFrame's configuration API --------------------
SITE = """
site_configuration = {
    "systems": [{
        "name": "vendor", "hostnames": ["^vendor-login"],
        "partitions": [
            {"name": "pyxis", "scheduler": "slurm", "launcher": "srun", "environs": ["maskrcnn"],
             "extras": {"container_runtime": "pyxis"}},
            {"name": "apptainer", "scheduler": "slurm", "launcher": "srun", "environs": ["maskrcnn"],
             "container_platforms": [{"type": "Apptainer"}]},
            {"name": "bare", "scheduler": "slurm", "launcher": "srun", "environs": ["maskrcnn"]},
        ],
    }],
    "environments": [{"name": "maskrcnn"}],
}
"""


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    path = tmp_path_factory.mktemp("site") / "site.py"
    path.write_text(SITE)
    site = rfm_config.load_config(str(path))
    site.select_subconfig("vendor")
    return {part.name: part for part in System.create(site).partitions}


@pytest.fixture
def images(tmp_path):
    sqsh = tmp_path / "bundled.sqsh"
    sqsh.write_bytes(containers.SQUASHFS_MAGIC + b" STUB: stands in for an enroot squashfs image\n")
    sif = tmp_path / "bundled.sif"
    sif.write_bytes(b"#!/usr/bin/env run-singularity\nSTUB: stands in for a Singularity image\n")
    return {"sqsh": str(sqsh), "sif": str(sif), "missing": str(tmp_path / "missing.sqsh")}


def test_the_runtime_comes_from_extras_or_reframes_platform(parts):
    assert hooks.container_runtime(parts["pyxis"]) == "pyxis"
    assert hooks.container_runtime(parts["apptainer"]) == "apptainer"
    assert hooks.container_runtime(parts["bare"]) == ""


def test_an_image_pyxis_cannot_run_is_named(parts, images):
    pyxis = parts["pyxis"]
    assert hooks.image_problem(pyxis, images["sqsh"]) == ""
    assert hooks.image_problem(pyxis, "nvcr.io#nvidia/pytorch:20.06-py3") == ""  # pulled on the node
    assert hooks.image_problem(pyxis, images["missing"]).startswith(f"container image {images['missing']} not found")
    assert hooks.image_problem(pyxis, images["sif"]).startswith(
        f"container image {images['sif']} is not an enroot squashfs file"
    )
    # Apptainer runs the .sif; a partition without a runtime runs no image.
    assert hooks.image_problem(parts["apptainer"], images["sif"]) == ""
    bare = hooks.image_problem(parts["bare"], images["sif"])
    assert bare == f"vendor:bare has no container platform for image {images['sif']}"


def test_the_run_records_a_files_sha256_or_that_a_reference_is_not_pinned(parts, images):
    want = hashlib.sha256(Path(images["sqsh"]).read_bytes()).hexdigest()
    assert hooks.image_digest(parts["pyxis"], images["sqsh"]) == f"sha256:{want}"
    recorded = hooks.image_digest(parts["pyxis"], "nvcr.io#nvidia/pytorch:20.06-py3")
    assert recorded.startswith("not pinned: registry reference nvcr.io#nvidia/pytorch:20.06-py3,")
    assert "enroot reports no digest" in recorded


# ---- config/systems/common.normalise ---------------------------------------------------------------
def _system(**part) -> dict:
    entry = {"name": "gpu", "scheduler": "slurm", "launcher": "srun", "environs": ["maskrcnn"], **part}
    return {"name": "vendor", "hostnames": ["^login"], "partitions": [entry]}


def test_a_pyxis_partition_passes_the_normaliser():
    normalise(_system(features=["gpu", "containers"], devices=[{"type": "gpu", "num_devices": 8}],
                      extras={"container_runtime": "pyxis"}), "vendor.py")  # fmt: skip


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"extras": {"container_runtime": "docker"}}, "extras 'container_runtime' 'docker' is not one the suite runs"),
        (
            {"extras": {"container_runtime": "pyxis"}, "container_platforms": [{"type": "Apptainer"}]},
            "both 'container_platforms' and extras 'container_runtime'",
        ),
        (
            {"extras": {"container_runtime": "pyxis"}, "launcher": "mpirun"},
            "extras 'container_runtime' 'pyxis' is a plugin of srun, but the launcher is 'mpirun'",
        ),
    ],
)
def test_a_runtime_the_suite_cannot_run_is_refused(part, message):
    with pytest.raises(ConfigError) as err:
        normalise(_system(**part), "vendor.py")
    assert "vendor.py: partition 'gpu' of system 'vendor': " + message in str(err.value)


# ---- resources/containers/README.md: the enroot recipe of the bundled image ---------------------
def test_the_enroot_recipe_builds_what_the_definition_builds():
    """The bundled image made with enroot's commands has the definition file's base, torch index,
    pins, copied folders and environment (enroot reads an image's environment from /etc/environment)."""
    containers_dir = ROOT / "resources" / "containers"
    readme = (containers_dir / "README.md").read_text()
    recipe = readme[readme.index("### The bundled workload") : readme.index("### NVIDIA's v0.7 implementation")]
    definition = (containers_dir / "mlperf-maskrcnn-bundled.def").read_text()
    base = re.search(r"^From: (\S+)", definition, re.MULTILINE).group(1)
    assert f"'docker://{base.replace('/', '#', 1)}'" in recipe  # nvcr.io/nvidia/... in enroot's form
    index = re.search(r"TORCH_INDEX=(\S+)", definition).group(1)
    torch_line = re.search(r"--index-url \"\$TORCH_INDEX\" (.+)$", definition, re.MULTILINE).group(1)
    assert f"--index-url {index} {torch_line}" in recipe
    copied = re.findall(r"^\s+(\S+) /opt/thaisc-mlperf-acceptance/\S+$", definition, re.MULTILINE)
    assert len(copied) == 4 and all(f"/mnt/{source}" in recipe for source in copied), copied
    assert '"/opt/thaisc-mlperf-acceptance[workload]"' in recipe and 'PIP_CONSTRAINT=""' in recipe
    environment = definition.split("\n%environment\n", 1)[1].split("\n%", 1)[0]
    variables = re.findall(r"^\s+export (\w+)=(\S+)$", environment, re.MULTILINE)
    assert len(variables) == 3
    for name, value in variables:
        assert f"echo {name}={value} >> /etc/environment" in recipe, name
