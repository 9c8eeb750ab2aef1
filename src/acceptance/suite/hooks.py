"""Plain functions that read a partition's description (config/) and set a test's layout, limits and container.

Pure functions take the partition and return a value, or say in one sentence what the partition
lacks; the ``set_*`` functions take the test, set its attributes, and turn that sentence into a
skip (a test mixing in ``base.ExplainedSkip``) or a refusal before anything is submitted.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from reframe.core.exceptions import ReframeError

from .. import containers
from . import launch, references
from .constants import (
    DEFAULT_IMAGE_PYTHON,
    DEFAULT_NVIDIA_PYTHON,
    EXTRA_ACCOUNT_ENV,
    EXTRA_CONTAINER_RUNTIME,
    EXTRA_CPU_RANKS,
    EXTRA_IMAGE_PYTHON,
    EXTRA_NCCL,
    EXTRA_NODES,
    EXTRA_NVIDIA_PYTHON,
    EXTRA_PYTHON,
    EXTRA_RECIPES,
    EXTRA_THREADS,
    EXTRA_TIME_LIMITS,
    RUNTIME_PYXIS,
)


@dataclass(frozen=True)
class Layout:
    nodes: int
    tasks_per_node: int
    gpus_per_node: int  # 0 on CPU partitions

    @property
    def tasks(self) -> int:
        return self.nodes * self.tasks_per_node


# ---- pure: partition -> value ------------------------------------------------------------------------
def partition_nodes(partition) -> int:
    """Nodes the partition offers (``extras.nodes``; 1 when the config does not say)."""
    return int(partition.extras.get(EXTRA_NODES, 1))


def gpus_per_node(partition) -> int:
    devices = partition.select_devices("gpu")
    return sum(int(d.num_devices) for d in devices) if devices else 0


def layout_for(partition, nodes: int) -> tuple[Layout | None, str]:
    """One task per GPU (CPU ranks where there are none) on ``nodes`` nodes, or why not."""
    available = partition_nodes(partition)
    if nodes > available:
        return None, f"{partition.fullname} has {available} node(s); a {nodes}-node run cannot be scheduled there"
    gpus = gpus_per_node(partition)
    per_node = gpus if gpus else int(partition.extras.get(EXTRA_CPU_RANKS, 1))
    return Layout(nodes, per_node, gpus), ""


def cpu_threads_per_rank(partition, layout: Layout) -> int:
    """Torch threads for each CPU rank: the node's cores shared by its ranks, unless the config
    says otherwise (``extras.threads_per_rank``: simulated nodes that share one host's cores)."""
    if EXTRA_THREADS in partition.extras:
        return int(partition.extras[EXTRA_THREADS])
    cpus = partition.processor.num_cpus or os.cpu_count() or 1
    return max(1, cpus // max(1, layout.tasks_per_node))


def recipe_for(partition, nodes: int) -> tuple[str | None, str]:
    """The recipe the partition's config names for this node count, or why there is none."""
    recipes = partition.extras.get(EXTRA_RECIPES, {}) or {}
    name = recipes.get(str(nodes)) or recipes.get(nodes)
    if not name:
        return None, (
            f"no recipe for {nodes} node(s) on {partition.fullname}: name one in the partition's "
            f"extras '{EXTRA_RECIPES}' (config/) or pass -S recipe=NAME"
        )
    return str(name), ""


def site_value(partition, environ, key: str, override: str = "") -> str:
    """A site fact: the -S override, else the partition's extras, else the environment's."""
    if override:
        return override
    value = partition.extras.get(key) or (environ.extras.get(key) if environ is not None else None)
    return str(value) if value else ""


def workload_python(partition, implementation: str, in_container: bool) -> str:
    """The workload's interpreter, named explicitly (never a bare ``python`` from PATH): in a
    container the image's, on the host the suite's own venv unless the config names another."""
    if not in_container:
        return str(partition.extras.get(EXTRA_PYTHON) or sys.executable)
    if implementation == "nvidia-v0.7":
        return str(partition.extras.get(EXTRA_NVIDIA_PYTHON) or DEFAULT_NVIDIA_PYTHON)
    return str(partition.extras.get(EXTRA_IMAGE_PYTHON) or DEFAULT_IMAGE_PYTHON)


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def seconds(limit: str) -> int:
    """A time limit as seconds: ReFrame's ``1d2h30m``/``90s`` form or Slurm's ``D-HH:MM:SS``/``HH:MM:SS``."""
    text = str(limit).strip()
    match = _DURATION.match(text)
    if text and match and any(match.groups()):
        d, h, m, s = (int(g or 0) for g in match.groups())
        return ((d * 24 + h) * 60 + m) * 60 + s
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    if 1 <= len(parts) <= 3 and all(p.isdigit() for p in parts) and (not days or days.isdigit()):
        h, m, s = ([0] * (3 - len(parts)) + [int(p) for p in parts]) if len(parts) > 1 else (0, int(parts[0]), 0)
        return ((int(days or 0) * 24 + h) * 60 + m) * 60 + s
    raise ValueError(f"time limit {limit!r} is neither 1d2h30m nor D-HH:MM:SS")


def run_time_limit(partition, nodes: int, default: str) -> str:
    """The time-to-train run's limit for this node count (``extras.time_limits``), else ``default``."""
    limits = partition.extras.get(EXTRA_TIME_LIMITS, {}) or {}
    return str(limits.get(str(nodes)) or limits.get(nodes) or default)


def fits_partition(partition, limit: str) -> str:
    """Why a job of ``limit`` cannot run on the partition ('' when it can): the partition's own
    ``time_limit`` in config/ is its maximum, and Slurm keeps a longer job pending forever."""
    allowed = partition.time_limit
    if allowed and seconds(limit) > seconds(allowed):
        return (
            f"{partition.fullname} allows jobs of {allowed}; this run needs {limit} "
            f"(extras '{EXTRA_TIME_LIMITS}' in config/, or -S time_limit=...)"
        )
    return ""


def nccl_setup(partition) -> tuple[dict[str, str], list[str]]:
    """(environment, host folders to bind read-only) that the site's NCCL network needs in a
    container (``extras.nccl``: the network plugin and its libraries)."""
    nccl = partition.extras.get(EXTRA_NCCL) or {}
    return {str(k): str(v) for k, v in (nccl.get("env") or {}).items()}, [str(b) for b in nccl.get("binds") or []]


def gpu_core_masks(partition, layout: Layout) -> tuple[list[str], str]:
    """One CPU mask per local rank (srun ``--cpu-bind=mask_cpu:``): each GPU's rank gets an equal
    share of the physical cores of the socket the GPU hangs off, with their hyperthread siblings,
    as NVIDIA's launchers bind (DGX-1: 5 cores per GPU). Returns ([], why) where it cannot.

    Assumed (check with ``lscpu -e`` and ``nvidia-smi topo -m`` on site): GPUs split evenly over
    the sockets in index order, and Linux numbers the physical cores socket by socket with the
    hyperthread siblings after all physical cores.
    """
    proc = partition.processor
    if not layout.gpus_per_node:
        return [], "no GPUs: CPU ranks share the node's cores through their thread count"
    if not (proc.num_cpus and proc.num_sockets and proc.num_cpus_per_core):
        return [], f"{partition.fullname} does not describe its processor (num_cpus, num_sockets, num_cpus_per_core)"
    physical = proc.num_cpus // proc.num_cpus_per_core
    per_socket = physical // proc.num_sockets
    gpus = layout.gpus_per_node
    if gpus % proc.num_sockets:
        return [], f"{gpus} GPUs do not split evenly over {proc.num_sockets} sockets"
    gpus_per_socket = gpus // proc.num_sockets
    share = per_socket // gpus_per_socket
    if share < 1:
        return [], f"fewer cores ({per_socket} per socket) than GPUs ({gpus_per_socket} per socket)"
    masks = []
    for rank in range(gpus):
        socket, slot = divmod(rank, gpus_per_socket)
        first = socket * per_socket + slot * share
        bits = 0
        for core in range(first, first + share):
            for thread in range(proc.num_cpus_per_core):
                bits |= 1 << (core + thread * physical)
        masks.append(hex(bits))
    return masks, ""


def nvidia_checkout_problem(checkout: str) -> str:
    """Why ``checkout`` cannot run NVIDIA's trainer ('' when it can): missing, or not built."""
    root = Path(checkout)
    if not (root / "tools" / "train_mlperf.py").is_file():
        return (
            f"{checkout} is not NVIDIA's v0.7 maskrcnn checkout (no tools/train_mlperf.py): clone "
            "mlcommons/training_results_v0.7 and point at NVIDIA/benchmarks/maskrcnn/implementations/pytorch"
        )
    if not any((root / "maskrcnn_benchmark").glob("_C*.so")):
        return (
            f"{checkout} is not built (no maskrcnn_benchmark/_C*.so): build it in its image, "
            f"singularity exec --nv IMAGE bash -c 'cd {checkout} && python setup.py build_ext --inplace' "
            "(resources/containers/README.md)"
        )
    return ""


# ---- f(test): set attributes, or skip / refuse saying why --------------------------------------------
def set_layout(test, nodes: int) -> Layout:
    """Tasks and GPUs per node for ``nodes`` nodes of the test's partition (skip where impossible)."""
    layout, why = layout_for(test.current_partition, nodes)
    if layout is None:
        test.skip_because(why)
    test.num_tasks = layout.tasks
    test.num_tasks_per_node = layout.tasks_per_node
    if layout.gpus_per_node:
        test.num_gpus_per_node = layout.gpus_per_node
    return layout


def set_references(test, check: str, **variant) -> None:
    """The test's reference bounds from resources/references (a partition without one fails the
    run: ``require_reference``), and where they come from."""
    found = references.find(check, test.current_partition.fullname, **variant)
    test.reference_check = check
    test.require_reference = True
    test.reference = found.for_reframe() if found else {}
    test.reference_source = found.source if found else "none"


def set_time_limit(test, limit: str) -> None:
    """The job's time limit, or a skip when the partition does not allow one that long."""
    why = fits_partition(test.current_partition, limit)
    if why:
        test.skip_because(why)
    test.time_limit = limit


def uses_srun(test) -> bool:
    return test.current_partition.launcher_type.registered_name == "srun"


def require_account(test) -> None:
    """Stop before submission where the partition needs an account that is not set."""
    var = test.current_partition.extras.get(EXTRA_ACCOUNT_ENV)
    if var and not os.environ.get(var):
        raise ReframeError(
            f"{test.current_partition.fullname} needs a Slurm account: export {var}=projNNNN before running"
        )


def container_runtime(partition) -> str:
    """How the partition runs images: ``pyxis`` where its extras say so (ReFrame has no platform for
    it), else its ReFrame container platform (``singularity``, ``apptainer``), else ''."""
    if partition.extras.get(EXTRA_CONTAINER_RUNTIME):
        return str(partition.extras[EXTRA_CONTAINER_RUNTIME])
    return (partition.container_runtime or next(iter(partition.container_environs), "")).lower()


def image_problem(partition, image: str) -> str:
    """Why ``image`` cannot run on the partition ('' when it can, as far as this host can tell): no
    runtime, a missing file, or (pyxis) a file that is not an enroot squashfs image. A registry
    reference is pulled on the compute node and cannot be checked from here."""
    runtime = container_runtime(partition)
    if not runtime:
        return f"{partition.fullname} has no container platform for image {image}"
    if runtime != RUNTIME_PYXIS:
        if not Path(image).exists():
            return f"container image {image} not found (see README, 'Running on TARA')"
        return ""
    if containers.is_registry_reference(image):
        return ""
    where = "see resources/containers/README.md, 'pyxis and enroot'"
    if not Path(image).is_file():
        return f"container image {image} not found (pyxis runs an enroot squashfs file or registry reference; {where})"
    if not containers.is_squashfs(image):
        return f"container image {image} is not an enroot squashfs file (a .sif is Singularity's; {where})"
    return ""


def image_digest(partition, image: str) -> str:
    """What the run records of its image: the sha256 of the file, or for a pyxis registry
    reference the reference and that it is not pinned (``containers.reference_digest``)."""
    if container_runtime(partition) == RUNTIME_PYXIS and containers.is_registry_reference(image):
        return containers.reference_digest(image)
    return containers.digest(image)


def container_platform_setup(test) -> str:
    """Load the partition's container platform (its modules and variables, as config/ gives them)
    and return the runtime: the command that runs images (``singularity``, ``apptainer``), or
    ``pyxis`` (a plugin of srun: nothing to load)."""
    part = test.current_partition
    runtime = container_runtime(part)
    if runtime == RUNTIME_PYXIS:
        return runtime
    environ = part.container_environs.get(part.container_runtime or next(iter(part.container_environs), ""))
    if environ is not None:
        test.modules = list(test.modules) + [m for m in environ.modules if m not in test.modules]
        test.env_vars = {**environ.env_vars, **test.env_vars}
    return runtime


def container_command(test, image: str, binds: list[tuple[str, str]], gpus: bool) -> list[str]:
    """Run the test's command in ``image`` the partition's way; returns the words that go before
    the command (Singularity/Apptainer's ``exec ... IMAGE``; none for pyxis, whose options go to
    srun, each quoted). Both library tests' containers come from here. On GPU jobs the site's
    NCCL network comes along: its variables exported (under pyxis named in ``--container-env``,
    so they win over the image's) and its folders bound read-only."""
    runtime = container_platform_setup(test)
    env: dict[str, str] = {}
    binds = list(binds)
    if gpus:
        env, folders = nccl_setup(test.current_partition)
        test.env_vars.update(launch.quoted_env({**launch.NCCL_DEBUG, **env}))
        binds += [(folder, folder) for folder in folders]
    container = launch.Container(runtime, image, test.stagedir, tuple(binds), gpus, env)
    options, prefix = launch.container_launch(container)
    if options and not uses_srun(test):
        raise ReframeError(f"{test.current_partition.fullname}: pyxis runs through srun; its launcher is not srun")
    test.job.launcher.options += [shlex.quote(option) for option in options]
    return prefix
