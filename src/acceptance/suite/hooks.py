"""Plain functions that read a partition's description (config/) and set a test's layout.

They take the test (or the partition) and either return a value or say, in one sentence, what
the partition lacks; the library tests turn that sentence into a skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .constants import EXTRA_CPU_RANKS, EXTRA_NODES, EXTRA_RECIPES, EXTRA_THREADS


@dataclass(frozen=True)
class Layout:
    nodes: int
    tasks_per_node: int
    gpus_per_node: int  # 0 on CPU partitions

    @property
    def tasks(self) -> int:
        return self.nodes * self.tasks_per_node


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
        return None, (f"{partition.fullname} has {available} node(s); a {nodes}-node run cannot be scheduled there")
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
