"""Small system checks that an MLPerf run depends on, each with sanity and a reference.

- ``GpusVisible``: every node sees the partition's GPUs, of the expected model and count.
- ``AllreduceBandwidth``: all-reduce bus bandwidth across the nodes (NCCL on GPU, gloo on CPU).
- ``ContainerStarts``: the workload image starts and sees its GPUs.
- ``CocoManifest``: the COCO 2017 tree matches ``resources/datasets/coco2017.yaml``.
- ``LoaderRate``: training images per second per node from the data pipeline.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

import reframe as rfm
import reframe.utility.sanity as sn
from reframe.core.builtins import parameter, performance_function, run_after, run_before, sanity_function, variable

from . import hooks, references
from .base import ExplainedSkip
from .constants import ENV_FEATURE_MASKRCNN, EXTRA_COCO, EXTRA_IMAGE_BUNDLED, NODE_COUNTS, TAG_ACCEPTANCE, TAG_SYSTEM


class _SystemCheck(rfm.RunOnlyRegressionTest, ExplainedSkip):
    valid_prog_environs = [f"+{ENV_FEATURE_MASKRCNN}"]
    check_name = ""
    reference_source = variable(str, value="")
    tags = {TAG_SYSTEM, TAG_ACCEPTANCE}
    time_limit = "20m"

    @run_after("setup")
    def set_references(self):
        nodes = getattr(self, "num_nodes", None)
        found = references.find(self.check_name, self.current_partition.fullname, nodes=nodes)
        self.require_reference = True
        self.reference = found.for_reframe() if found else {}
        self.reference_source = found.source if found else "none"

    def value(self, key: str, conv=float):
        return sn.extractsingle(rf"^{key}: (\S+)", self.stdout, 1, conv)


class GpusVisible(_SystemCheck):
    """Each node of the partition sees the configured GPU model and count (one task per node)."""

    check_name = "gpus"
    executable = "nvidia-smi"
    executable_opts = ["--query-gpu=name", "--format=csv,noheader"]

    @run_after("setup")
    def one_task_per_node(self):
        self.num_tasks = 1
        devices = self.current_partition.select_devices("gpu")
        if not devices:
            self.skip_because(f"{self.current_partition.fullname} describes no GPUs")
        self.expected_model = devices[0].model or ""
        self.expected_count = int(devices[0].num_devices)

    @sanity_function
    def model_and_count(self):
        names = sn.extractall(r"^(.+)$", self.stdout, 1)
        matching = sn.extractall(re.escape(self.expected_model), self.stdout)
        return sn.all(
            [
                sn.assert_eq(sn.count(names), self.expected_count, msg="nvidia-smi lists {0} GPUs, expected {1}"),
                sn.assert_eq(
                    sn.count(matching), self.expected_count, msg=f"{{0}} GPUs are {self.expected_model}, expected {{1}}"
                ),
            ]
        )

    @performance_function("GPUs")
    def gpu_count(self):
        return sn.count(sn.extractall(r"^(.+)$", self.stdout, 1))


class AllreduceBandwidth(_SystemCheck):
    """All-reduce bus bandwidth at the training's node count (NCCL on GPU, gloo on CPU)."""

    check_name = "allreduce"
    num_nodes = parameter(list(NODE_COUNTS))
    size_mb = variable(float, value=64.0)
    iters = variable(int, value=10)
    executable = "python"

    @run_after("setup")
    def layout(self):
        layout, why = hooks.layout_for(self.current_partition, self.num_nodes)
        if layout is None:
            self.skip_because(why)
        self.num_tasks = layout.tasks
        self.num_tasks_per_node = layout.tasks_per_node
        if layout.gpus_per_node:
            self.num_gpus_per_node = layout.gpus_per_node
        self.executable_opts = [
            "-m",
            "mlperf_maskrcnn.probes",
            "allreduce",
            "--size-mb",
            str(self.size_mb),
            "--iters",
            str(self.iters),
        ]

    @sanity_function
    def reported(self):
        return sn.all(
            [
                sn.assert_eq(self.value("ranks", int), self.num_tasks, msg="all-reduce ran on {0} ranks, expected {1}"),
                sn.assert_gt(self.value("busbw_GBps"), 0.0, msg="no bus bandwidth measured"),
            ]
        )

    @performance_function("GB/s")
    def busbw(self):
        return self.value("busbw_GBps")


class ContainerStarts(_SystemCheck):
    """The workload image starts on a node and sees the node's GPUs."""

    check_name = "container"
    image = variable(str, value="")

    @run_after("setup")
    def use_image(self):
        part = self.current_partition
        self.image = hooks.site_value(part, self.current_environ, EXTRA_IMAGE_BUNDLED, self.image)
        if not part.container_environs:
            self.skip_because(f"{part.fullname} has no container platform")
        if not self.image or not Path(self.image).exists():
            self.skip_because(f"container image '{self.image}' not found (see README, 'Running on TARA')")
        self.num_tasks = 1
        self.expected_gpus = hooks.gpus_per_node(part)

    @run_before("run")
    def command(self):
        self.container_platform.image = self.image
        self.container_platform.with_cuda = self.expected_gpus > 0
        self.container_platform.command = "python -m mlperf_maskrcnn.probes devices"

    @sanity_function
    def sees_gpus(self):
        return sn.all(
            [
                sn.assert_eq(
                    self.value("gpu_count", int), self.expected_gpus, msg="the image sees {0} GPUs, the node has {1}"
                ),
                sn.assert_eq(
                    self.value("unsupported_gpus", int),
                    0,
                    msg="{0} GPU(s) have no kernels in the image's torch build (see 'built_for' in the output; "
                    "resources/containers/README.md, 'CUDA and the GPU generation')",
                ),
            ]
        )

    @performance_function("GPUs")
    def gpus(self):
        return self.value("gpu_count", int)


class CocoManifest(_SystemCheck):
    """The COCO 2017 tree matches the manifest: file counts, annotation and weight checksums."""

    check_name = "coco"
    data_dir = variable(str, value="")
    local = True
    executable = sys.executable

    @run_after("setup")
    def locate(self):
        part = self.current_partition
        self.data_dir = hooks.site_value(part, self.current_environ, EXTRA_COCO, self.data_dir)
        if not self.data_dir or not Path(self.data_dir).is_dir():
            self.skip_because(f"no COCO 2017 tree at '{self.data_dir}' (set extras '{EXTRA_COCO}' or -S data_dir=PATH)")
        self.executable_opts = ["-m", "acceptance.cli", "data", "verify", shlex.quote(self.data_dir)]
        self.env_vars = {"PYTHONPATH": str(Path(__file__).resolve().parents[2]) + os.pathsep + "$PYTHONPATH"}

    @sanity_function
    def verified(self):
        return sn.assert_found(r"^verdict: OK", self.stdout, msg="COCO tree does not match the manifest (see output)")

    @performance_function("files")
    def problems(self):
        return sn.extractsingle(r"^problems: (\d+)", self.stdout, 1, int)


class LoaderRate(_SystemCheck):
    """Training images per second from the data pipeline of one node (decode, resize, flip, batch)."""

    check_name = "loader"
    data_dir = variable(str, value="")
    images = variable(int, value=64)
    workers = variable(int, value=0)  # 0: one per CPU core of the node
    executable = "python"

    def default_data_dir(self) -> str:
        return ""

    @run_after("setup")
    def locate(self):
        part = self.current_partition
        self.data_dir = hooks.site_value(
            part, self.current_environ, EXTRA_COCO, self.data_dir or self.default_data_dir()
        )
        if not self.data_dir or not Path(self.data_dir).is_dir():
            self.skip_because(f"no data set at '{self.data_dir}'")
        cpus = part.processor.num_cpus or os.cpu_count() or 1
        workers = self.workers or cpus
        self.num_tasks = 1
        self.executable_opts = [
            "-m",
            "mlperf_maskrcnn.probes",
            "loader",
            "--data",
            shlex.quote(self.data_dir),
            "--images",
            str(self.images),
            "--workers",
            str(workers),
        ]

    @sanity_function
    def reported(self):
        return sn.assert_ge(self.value("images", int), self.images, msg="loaded {0} images, expected {1}")

    @performance_function("img/s")
    def images_per_s(self):
        return self.value("images_per_s")
