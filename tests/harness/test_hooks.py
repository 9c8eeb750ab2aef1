"""The pure functions that read a partition's description, as tables, on the real partitions of
config/ (loaded through ReFrame's own configuration API, not imitated)."""

from __future__ import annotations

import os
import sys

import pytest
import reframe.core.config as rfm_config
from reframe.core.systems import System

from acceptance.suite import hooks
from conftest import ROOT


@pytest.fixture(scope="module")
def parts():
    """sys:part -> ReFrame's SystemPartition, as a run on that system sees it."""
    os.environ.setdefault("ACCEPTANCE_MODULES_SYSTEM", "nomod")
    found = {}
    for system in ("tara", "lanta", "local", "ci-cluster"):
        site = rfm_config.load_config(str(ROOT / "config" / "tara.py"))
        site.select_subconfig(system)
        for part in System.create(site).partitions:
            found[part.fullname] = part
    return found


def _cores(mask: str) -> list[int]:
    bits = int(mask, 16)
    return [b for b in range(bits.bit_length()) if bits >> b & 1]


@pytest.mark.parametrize(
    ("where", "nodes", "expected"),
    [
        ("tara:dgx", 1, (1, 8, 8)),
        ("tara:dgx", 2, None),
        ("tara:dgx-preempt", 2, (2, 8, 8)),
        ("lanta:gpu", 4, (4, 4, 4)),
        ("tara:devel", 2, (2, 2, 0)),
        ("local:default", 1, (1, 2, 0)),
        ("ci-cluster:debug", 4, (4, 1, 0)),
    ],
)
def test_layout_is_one_task_per_gpu_or_the_cpu_ranks(parts, where, nodes, expected):
    layout, why = hooks.layout_for(parts[where], nodes)
    if expected is None:
        assert layout is None and why == f"{where} has 1 node(s); a {nodes}-node run cannot be scheduled there"
    else:
        assert (layout.nodes, layout.tasks_per_node, layout.gpus_per_node) == expected


@pytest.mark.parametrize(
    ("where", "rank", "cores"),
    [
        # DGX-1: 2 sockets x 20 cores, hyperthreads numbered after all 40 physical cores.
        ("tara:dgx", 0, [0, 1, 2, 3, 4, 40, 41, 42, 43, 44]),
        ("tara:dgx", 3, [15, 16, 17, 18, 19, 55, 56, 57, 58, 59]),
        ("tara:dgx", 4, [20, 21, 22, 23, 24, 60, 61, 62, 63, 64]),
        # LANTA: one EPYC 7713 socket, no SMT, 16 cores per A100.
        ("lanta:gpu", 2, list(range(32, 48))),
        # TARA gpu: 2 sockets x 20 cores, 2 GPUs: one socket each.
        ("tara:gpu", 1, list(range(20, 40))),
    ],
)
def test_gpu_core_masks(parts, where, rank, cores):
    part = parts[where]
    layout, _ = hooks.layout_for(part, 1)
    masks, why = hooks.gpu_core_masks(part, layout)
    assert not why and _cores(masks[rank]) == cores
    assert len(masks) == layout.gpus_per_node
    assert len(set().union(*map(_cores, masks))) == sum(len(_cores(m)) for m in masks), "no core shared"


def test_gpu_core_masks_say_why_not(parts):
    masks, why = hooks.gpu_core_masks(parts["local:default"], hooks.Layout(1, 2, 0))
    assert masks == [] and why.startswith("no GPUs")
    masks, why = hooks.gpu_core_masks(parts["tara:dgx"], hooks.Layout(1, 3, 3))
    assert masks == [] and why == "3 GPUs do not split evenly over 2 sockets"
    masks, why = hooks.gpu_core_masks(parts["ci-cluster:debug"], hooks.Layout(1, 2, 2))
    assert masks == [] and "does not describe its processor" in why


@pytest.mark.parametrize(
    ("where", "nodes", "recipe"),
    [("tara:dgx", 1, "nvidia_dgx1"), ("tara:dgx-preempt", 2, "nvidia_dgx2"), ("lanta:gpu", 4, "lanta_4x4"),
     ("ci-cluster:debug", 4, "smoke_4ranks"), ("tara:gpu", 1, None), ("lanta:gpu", 1, None)],
)  # fmt: skip
def test_recipe_per_node_count(parts, where, nodes, recipe):
    name, why = hooks.recipe_for(parts[where], nodes)
    assert name == recipe
    assert (why == "") == (recipe is not None) and (recipe is not None or "extras 'recipes'" in why)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10h", 36000), ("5d", 432000), ("1d2h30m", 95400), ("90s", 90), ("8:0:0", 28800), ("2-00:00:00", 172800),
     ("30", 1800), ("1:30", 90)],
)  # fmt: skip
def test_time_limits_in_reframe_and_slurm_forms(text, seconds):
    assert hooks.seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "ten hours", "1x", "::"])
def test_unreadable_time_limit_is_named(text):
    with pytest.raises(ValueError, match="neither 1d2h30m nor D-HH:MM:SS"):
        hooks.seconds(text)


def test_a_run_longer_than_the_partition_allows_is_refused_with_both_limits(parts):
    assert hooks.run_time_limit(parts["tara:dgx"], 1, "1h") == "10h"
    assert hooks.run_time_limit(parts["tara:devel"], 1, "1h") == "1h"  # no time_limits entry: the default
    assert hooks.fits_partition(parts["tara:dgx"], "10h") == ""
    why = hooks.fits_partition(parts["lanta:gpu-devel"], "3h")
    assert why.startswith("lanta:gpu-devel allows jobs of 2h; this run needs 3h")
    assert hooks.fits_partition(parts["local:default"], "100h") == ""  # no limit configured


def test_the_interpreter_is_named_explicitly(parts):
    assert hooks.workload_python(parts["local:default"], "bundled", False) == sys.executable
    assert hooks.workload_python(parts["tara:dgx"], "bundled", True) == "/usr/bin/python3"
    assert hooks.workload_python(parts["tara:dgx"], "nvidia-v0.7", True) == "/opt/conda/bin/python"


def test_nccl_setup_from_config(parts):
    env, binds = hooks.nccl_setup(parts["lanta:gpu"])
    assert env["NCCL_NET"] == "AWS Libfabric" and env["FI_PROVIDER"] == "cxi"
    assert binds and all(b.startswith("/") for b in binds)
    assert hooks.nccl_setup(parts["tara:dgx"]) == ({}, [])
