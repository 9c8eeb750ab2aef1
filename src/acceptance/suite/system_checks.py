"""Small system checks that an MLPerf run depends on, each with sanity and a reference.

- ``GpusVisible``: every node of an allocation sees the partition's GPUs, of the expected model and count.
- ``AllreduceBandwidth``: all-reduce bus bandwidth across the nodes (NCCL on GPU, gloo on CPU), and
  on several GPU nodes that NCCL did not fall back to TCP sockets.
- ``ContainerStarts``: the workload image starts and sees its GPUs.
- ``CocoManifest``: the COCO 2017 tree matches ``resources/datasets/coco2017.yaml``.
- ``LoaderRate``: training images per second per node from the data pipeline.

The workload's probes run where the workload runs: in the bundled image on container partitions,
else with the suite's own interpreter (``hooks.workload_python``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import reframe as rfm
import reframe.utility.sanity as sn
from reframe.core.builtins import parameter, performance_function, run_after, run_before, sanity_function, variable

from mlperf_maskrcnn import contract

from .. import containers
from . import hooks, launch, sanity
from .base import SuiteTest
from .constants import (
    ENV_FEATURE_MASKRCNN,
    EXTRA_COCO,
    EXTRA_IMAGE_BUNDLED,
    NODE_COUNTS,
    TAG_ACCEPTANCE,
    TAG_SYSTEM,
)


class _SystemCheck(rfm.RunOnlyRegressionTest, SuiteTest):
    valid_prog_environs = [f"+{ENV_FEATURE_MASKRCNN}"]
    check_name = ""
    tags = {TAG_SYSTEM, TAG_ACCEPTANCE}
    time_limit = "20m"
    #: the bundled image the probes run in on container partitions (default: extras image_bundled)
    image = variable(str, value="")

    @run_after("setup")
    def set_references(self):
        variant = {"nodes": self.num_nodes} if hasattr(self, "num_nodes") else {}
        hooks.set_references(self, self.check_name, **variant)

    def output(self) -> str:
        path = Path(self.stagedir) / str(self.stdout.evaluate())
        return path.read_text(errors="replace") if path.is_file() else ""

    def probe(self) -> dict[str, str]:
        return contract.read_probe(self.output())

    def probe_command(self, probe: str, options: list[str], gpus: bool, binds=()) -> str:
        """The probe's command line with the workload's interpreter, in the bundled image where the
        partition runs containers (``hooks.container_command``; a skip when that image is missing)."""
        part = self.current_partition
        if not hooks.container_runtime(part):
            return shlex.join(launch.probe_argv(hooks.workload_python(part, "bundled", False), probe, *options))
        self.image = hooks.site_value(part, self.current_environ, EXTRA_IMAGE_BUNDLED, self.image)
        if not self.image:
            self.skip_because(f"no container image for {part.fullname}: extras '{EXTRA_IMAGE_BUNDLED}', -S image=PATH")
        if why := hooks.image_problem(part, self.image):
            self.skip_because(why)
        prefix = hooks.container_command(self, self.image, list(binds), gpus)
        return shlex.join(prefix + launch.probe_argv(hooks.workload_python(part, "bundled", True), probe, *options))


class GpusVisible(_SystemCheck):
    """Every node of an allocation (as many nodes as the MLPerf run uses) sees the configured GPU
    model and count, with the GPUs requested as a job would request them."""

    check_name = "gpus"

    @run_after("setup")
    def one_task_per_node(self):
        part = self.current_partition
        devices = part.select_devices("gpu")
        if not devices:
            self.skip_because(f"{part.fullname} describes no GPUs")
        self.expected_model = devices[0].model or ""
        self.expected_count = hooks.gpus_per_node(part)
        self.expected_nodes = min(hooks.partition_nodes(part), max(NODE_COUNTS))
        self.num_tasks = self.expected_nodes
        self.num_tasks_per_node = 1
        self.num_gpus_per_node = self.expected_count
        listing = 'nvidia-smi --query-gpu=name --format=csv,noheader | sed "s/^/$(hostname): /"'
        self.executable = shlex.join(["bash", "-c", listing])

    @sanity_function
    def model_and_count(self):
        found = sanity.gpus_by_host(self.output())
        problems = sanity.gpu_problems(found, self.expected_nodes, self.expected_model, self.expected_count)
        return sn.assert_true(not problems, msg="; ".join(problems))

    @performance_function("GPUs")
    def gpu_count(self):
        return sanity.fewest_gpus(sanity.gpus_by_host(self.output()))


class AllreduceBandwidth(_SystemCheck):
    """All-reduce bus bandwidth at the training's node count (NCCL on GPU, gloo on CPU)."""

    check_name = "allreduce"
    num_nodes = parameter(list(NODE_COUNTS))
    size_mb = variable(float, value=64.0)
    iters = variable(int, value=10)

    @run_after("setup")
    def layout(self):
        self.layout = hooks.set_layout(self, self.num_nodes)

    @run_before("run")
    def command(self):
        options = ["--size-mb", str(self.size_mb), "--iters", str(self.iters)]
        self.executable = self.probe_command("allreduce", options, gpus=self.layout.gpus_per_node > 0)

    @sanity_function
    def reported(self):
        network = sanity.nccl_network(self.output())
        problems = sanity.allreduce_problems(
            self.probe(), self.num_tasks, network, self.layout.gpus_per_node, self.num_nodes
        )
        return sn.assert_true(not problems, msg="; ".join(problems))

    @performance_function("GB/s")
    def busbw(self):
        return sanity.probe_number(self.probe(), "busbw_GBps")


class ContainerStarts(_SystemCheck):
    """The workload image starts on a node and sees the node's GPUs, with kernels for them."""

    check_name = "container"

    @run_after("setup")
    def one_task(self):
        part = self.current_partition
        if not hooks.container_runtime(part):
            self.skip_because(f"{part.fullname} has no container platform")
        self.expected_gpus = hooks.gpus_per_node(part)
        self.num_tasks = 1
        if self.expected_gpus:
            self.num_gpus_per_node = self.expected_gpus

    @run_before("run")
    def command(self):
        self.executable = self.probe_command("devices", [], gpus=self.expected_gpus > 0)

    @sanity_function
    def sees_gpus(self):
        problems = sanity.container_problems(self.probe(), self.expected_gpus)
        return sn.assert_true(not problems, msg="; ".join(problems))

    @performance_function("GPUs")
    def gpus(self):
        return int(sanity.probe_number(self.probe(), "gpu_count"))


class CocoManifest(_SystemCheck):
    """The COCO 2017 tree matches the manifest: file counts, annotation and weight checksums."""

    check_name = "coco"
    data_dir = variable(str, value="")
    local = True

    @run_after("setup")
    def locate(self):
        part = self.current_partition
        self.data_dir = self.data_folder(
            hooks.site_value(part, self.current_environ, EXTRA_COCO, self.data_dir), f"COCO 2017 tree ('{EXTRA_COCO}')"
        )
        # The harness's own command, run where ReFrame runs, with ReFrame's interpreter.
        self.executable = shlex.join([sys.executable, "-m", "acceptance.cli", "data", "verify", self.data_dir])
        self.env_vars = {"PYTHONPATH": shlex.quote(str(Path(__file__).resolve().parents[2])) + ":${PYTHONPATH:-}"}

    @sanity_function
    def verified(self):
        problems = sanity.coco_problems(self.output())
        return sn.assert_true(not problems, msg="; ".join(problems))

    @performance_function("files")
    def problems(self):
        return sn.extractsingle(r"^problems: (\d+)", self.stdout, 1, int)


class LoaderRate(_SystemCheck):
    """Training images per second from the data pipeline of one node (decode, resize, flip, batch)."""

    check_name = "loader"
    data_dir = variable(str, value="")
    images = variable(int, value=64)
    workers = variable(int, value=0)  # 0: one per CPU core of the node

    def default_data_dir(self) -> str:
        return ""

    @run_after("setup")
    def locate(self):
        part = self.current_partition
        default = self.data_dir or self.default_data_dir()
        self.data_dir = self.data_folder(hooks.site_value(part, self.current_environ, EXTRA_COCO, default), "data set")
        self.num_tasks = 1

    @run_before("run")
    def command(self):
        cpus = self.current_partition.processor.num_cpus or 1
        in_container = bool(hooks.container_runtime(self.current_partition))
        data = launch.CONTAINER_DATA if in_container else self.data_dir
        binds = containers.data_mounts(self.data_dir, (launch.CONTAINER_DATA,)) if in_container else ()
        options = ["--data", data, "--images", str(self.images), "--workers", str(self.workers or cpus)]
        self.executable = self.probe_command("loader", options, gpus=False, binds=binds)

    @sanity_function
    def reported(self):
        problems = sanity.loader_problems(self.probe(), self.images)
        return sn.assert_true(not problems, msg="; ".join(problems))

    @performance_function("img/s")
    def images_per_s(self):
        return sanity.probe_number(self.probe(), "images_per_s")
