"""Pure builders of the job's command lines: argument lists for the bundled trainer, NVIDIA's
trainer, the probes and the container around them, and the shell lines a job runs before them.

Every value is one argument: the job script gets ``shlex.join`` of these lists (and srun's
options each ``shlex.quote``d), so no path or option from config/ or ``-S`` can be read by the
shell as code. A value that a container runtime cannot take at all (a ``:`` or ``,`` inside a bind
path) is refused with its name.

Two ways to run an image, as the benchmark's instructions name them:

- Singularity/Apptainer (ReFrame's container platforms): a command before the workload,
  ``singularity exec --nv -B HOST:CTR:ro ... -B STAGE:/rfm_workdir --pwd /rfm_workdir IMAGE``.
- pyxis/enroot (NVIDIA's way on DGX clusters; ReFrame has no platform for it): pyxis is a plugin
  of srun, so the container is a property of the srun step, and its options belong to srun
  (ReFrame's launcher options), not to the command: ``--container-image=IMAGE
  --container-mounts=HOST:CTR:ro,...,STAGE:/rfm_workdir --container-workdir=/rfm_workdir
  --no-container-mount-home``; the command after srun is the plain workload argv. The image is a
  path of an enroot squashfs file (pyxis reads a value starting with ``/`` or ``.`` as one) or an
  enroot registry reference (``nvcr.io#nvidia/pytorch:20.06-py3``). No ``--nv``: enroot's NVIDIA
  hook exposes the step's GPUs. The job's environment passes into the container, but where the
  image sets a variable itself (``LD_LIBRARY_PATH``) the image's value wins, so the site's NCCL
  variables are named in ``--container-env`` (pyxis >= 0.15), which makes the host's win. The
  home folder is not mounted: the run sees the image and the named mounts only, and packages in
  a user's ``~/.local`` cannot shadow the image's. ``--container-mounts`` is a comma-separated
  list of ``SRC:DST[:FLAGS]`` and enroot writes each entry as a whitespace-separated fstab line,
  so a ``:``, ``,`` or whitespace in a mounted path cannot be expressed: refused, named.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from mlperf_maskrcnn.recipe import Recipe

from ..mlperf import records
from .constants import RUNTIME_PYXIS

CONTAINER_DATA = "/coco"
# NVIDIA's dbcluster paths catalog reads the data set under /data, its weights under /coco: the
# site's own run binds the tree at both (systems.md).
NVIDIA_DATA_ROOTS = ("/coco", "/data")
NVIDIA_WORKSPACE = "/workspace/object_detection"
CONTAINER_WORKDIR = "/rfm_workdir"
MASTER_PORT = 29500
LOG_NAME = "mlperf_log.txt"
# NCCL says which network it chose (IB, Socket, a plugin's name) at start-up; cheap, and the
# report and the all-reduce check read it.
NCCL_DEBUG = {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,NET"}


class LaunchError(ValueError):
    """A value that cannot be passed safely to the job; the message names it."""


@dataclass(frozen=True)
class Container:
    """How to run a command in an image: runtime, image, stage folder, read-only binds, GPUs, variables."""

    runtime: str  # "singularity", "apptainer" or "pyxis"
    image: str
    workdir: str  # the stage folder, bound read-write at CONTAINER_WORKDIR
    binds: tuple[tuple[str, str], ...] = ()  # (host path, container path), read-only
    gpus: bool = False
    env: dict[str, str] = field(default_factory=dict)  # pyxis: variables whose host values win over the image's


def _bind_part(value: str, what: str) -> str:
    if ":" in value or "," in value:
        raise LaunchError(f"{what} {value!r} contains ':' or ',', which a container bind cannot hold")
    return value


def _mount_part(value: str, what: str) -> str:
    if re.search(r"\s", value):
        raise LaunchError(f"{what} {value!r} contains whitespace, which a pyxis/enroot mount cannot hold")
    return _bind_part(value, what)


def pyxis_options(container: Container) -> list[str]:
    """srun's pyxis options: ``--container-image=IMAGE --container-mounts=HOST:CTR:ro,...,STAGE:/rfm_workdir
    --container-workdir=/rfm_workdir --no-container-mount-home [--container-env=NAME,...]``."""
    if container.image.startswith("."):
        raise LaunchError(f"image {container.image!r} is relative: pyxis would read it from the job's folder")
    mounts = []
    for host, inside in [*container.binds, (container.workdir, CONTAINER_WORKDIR)]:
        if not host.startswith("/"):
            raise LaunchError(f"mount path {host!r} is not absolute: pyxis would read it from the job's folder")
        flags = "" if inside == CONTAINER_WORKDIR else ":ro"
        mounts.append(f"{_mount_part(host, 'mount path')}:{_mount_part(inside, 'container path')}{flags}")
    options = [f"--container-image={container.image}", "--container-mounts=" + ",".join(mounts)]
    options += [f"--container-workdir={CONTAINER_WORKDIR}", "--no-container-mount-home"]
    names = sorted(container.env)
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise LaunchError(f"environment variable name {name!r} cannot be passed to a pyxis container")
    if names:
        options.append("--container-env=" + ",".join(names))
    return options


def container_launch(container: Container) -> tuple[list[str], list[str]]:
    """(srun options, words before the command) that run a command in the image: pyxis's options
    go to srun; Singularity/Apptainer is a command before the workload's."""
    if container.runtime == RUNTIME_PYXIS:
        return pyxis_options(container), []
    return [], container_argv(container)


def container_argv(container: Container) -> list[str]:
    """``singularity exec --nv -B HOST:CTR:ro ... -B STAGE:/rfm_workdir --pwd /rfm_workdir IMAGE``."""
    argv = [container.runtime, "exec"]
    if container.gpus:
        argv.append("--nv")
    for host, inside in container.binds:
        argv += ["-B", f"{_bind_part(host, 'bind path')}:{_bind_part(inside, 'container path')}:ro"]
    argv += ["-B", f"{_bind_part(container.workdir, 'stage folder')}:{CONTAINER_WORKDIR}", "--pwd", CONTAINER_WORKDIR]
    return argv + [container.image]


def bundled_train_argv(
    python: str,
    recipe: str,
    data: str,
    weights: str,
    print_every: int,
    dist_timeout: int,
    cpu_threads: int | None = None,
    throughput_iters: int | None = None,
    seed: int | None = None,
) -> list[str]:
    """The bundled trainer, one process per rank (rank and world from Slurm or torchrun)."""
    argv = [python, "-u", "-m", "mlperf_maskrcnn", "train", "--recipe", recipe, "--data", data]
    argv += ["--weights", weights, "--log-file", LOG_NAME]
    argv += ["--print-every", str(print_every), "--dist-timeout", str(dist_timeout)]
    if cpu_threads is not None:
        argv += ["--device", "cpu", "--threads", str(cpu_threads)]
    if throughput_iters is not None:
        argv += ["--throughput-iters", str(throughput_iters)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return argv


def nvidia_train_argv(python: str, recipe: Recipe, weights: str, max_iter: int) -> list[str]:
    """NVIDIA's trainer as its Slurm scripts start it: one task per GPU, rank and world read from
    Slurm inside each task, its configuration's hyperparameters, fp16, the dbcluster catalog."""
    hyper = {
        "SOLVER.BASE_LR": recipe.base_lr,
        "SOLVER.MAX_ITER": max_iter,
        "SOLVER.WARMUP_FACTOR": recipe.warmup_factor,
        "SOLVER.WARMUP_ITERS": recipe.warmup_iters,
        "SOLVER.WARMUP_METHOD": "mlperf_linear",
        "SOLVER.STEPS": f"({recipe.decay_steps[0]}, {recipe.decay_steps[1]})",
        "SOLVER.IMS_PER_BATCH": recipe.global_batch,
        "TEST.IMS_PER_BATCH": recipe.test_batch,
        "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN": recipe.num_image_candidates,
        "NHWC": True,
    }
    trainer = [python, "-u", f"{NVIDIA_WORKSPACE}/tools/train_mlperf.py", "--local_rank", "__LOCAL_RANK__"]
    trainer += ["--config-file", f"{NVIDIA_WORKSPACE}/configs/e2e_mask_rcnn_R_50_FPN_1x.yaml", "DTYPE", "float16"]
    trainer += ["PATHS_CATALOG", f"{NVIDIA_WORKSPACE}/maskrcnn_benchmark/config/paths_catalog_dbcluster.py"]
    trainer += ["MODEL.WEIGHT", weights, "DISABLE_REDUCED_LOGGING", "True"]
    for key, value in hyper.items():
        trainer += [key, str(value)]
    # Each task reads its own rank from Slurm: the variables expand inside the task's shell.
    inner = (
        'export WORLD_SIZE="${SLURM_NTASKS:-1}" RANK="${SLURM_PROCID:-0}" LOCAL_RANK="${SLURM_LOCALID:-0}"'
        f" PYTHONPATH={NVIDIA_WORKSPACE}; exec " + shlex.join(trainer).replace("__LOCAL_RANK__", '"$LOCAL_RANK"')
    )
    return ["bash", "-c", inner]


def probe_argv(python: str, probe: str, *options: str) -> list[str]:
    """A measurement of ``mlperf_maskrcnn.probes`` (it prints ``key: value`` lines)."""
    return [python, "-m", "mlperf_maskrcnn.probes", probe, *options]


def nvidia_prologue(org: str, division: str, platform: str, uses_srun: bool) -> list[str]:
    """What NVIDIA's run.sub does around its trainer: the submission and cache_clear records (its
    trainer logs neither) and the rendezvous on the job's first node."""
    lines = [
        records.shell_event("submission_benchmark", "maskrcnn"),
        records.shell_event("submission_org", org),
        records.shell_event("submission_division", division),
        records.shell_event("submission_status", "onprem"),
        records.shell_event("submission_platform", platform),
        records.shell_event("cache_clear", records.CACHE_CLEARED),
    ]
    if uses_srun:
        lines.append('export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"')
    else:
        lines.append("export MASTER_ADDR=127.0.0.1")
    lines.append(f"export MASTER_PORT={MASTER_PORT}")
    return lines


def cache_clear_lines(command: str, nodes: int, uses_srun: bool) -> list[str]:
    """Drop the page cache on every node before the timed run where the site allows it;
    ``cache_clear`` is logged true only when that succeeded (MLPERF_CACHE_CLEARED)."""
    if not command:
        return []
    run = shlex.join(["sh", "-c", command])
    if uses_srun:
        run = shlex.join(["srun", f"--ntasks={nodes}", "--ntasks-per-node=1"]) + " " + run
    return [f"if {run}; then export MLPERF_CACHE_CLEARED=1; else echo 'page cache not cleared' >&2; fi"]


def quoted_env(env: dict[str, str]) -> dict[str, str]:
    """Variables for a test's ``env_vars``: ReFrame writes ``export K=V`` as is, so each value is
    quoted here (a value with a space, such as NCCL_NET="AWS Libfabric", stays one word)."""
    return {key: shlex.quote(str(value)) for key, value in env.items()}
