"""TARA (ThaiSC, 2019): Slurm + Singularity; GPU partitions gpu (2x V100-PCIe), dgx, dgx-preempt.

Facts marked [S] are stated in ThaiSC's public material (shared/docs/systems.md); [A] are
assumptions no public source confirms: check them on site and correct this file.
"""

from .common import account_access, modules_system, site

ACCOUNT_ENV = "ACCEPTANCE_ACCOUNT"  # -A projNNNN is mandatory on TARA [S]

# [A] paths: where a site would keep COCO, the images and NVIDIA's checkout; override with
# ACCEPTANCE_COCO_DIR, ACCEPTANCE_IMAGE_BUNDLED, ACCEPTANCE_IMAGE_NVIDIA, ACCEPTANCE_NVIDIA_CHECKOUT.
_PROJECT = site("project_dir", "/tarafs/data/project/proj0000-mlperf")  # [A] project folder layout [S]
_DATA = {
    "coco_dir": site("coco_dir", f"{_PROJECT}/coco"),
    "image_bundled": site("image_bundled", f"{_PROJECT}/images/mlperf-maskrcnn-bundled.sif"),
    "image_nvidia": site("image_nvidia", f"{_PROJECT}/images/pytorch20.06-ngc.sif"),  # name from the site's text [S]
    "nvidia_checkout": site(
        "nvidia_checkout", f"{_PROJECT}/training_results_v0.7/NVIDIA/benchmarks/maskrcnn/implementations/pytorch"
    ),
    "account_env": ACCOUNT_ENV,
    # [A] page-cache clearing needs root; TARA users have none. ACCEPTANCE_CACHE_CLEAR_COMMAND sets one.
    "cache_clear_command": site("cache_clear_command", ""),
}
_SKYLAKE = {
    "arch": "skylake_avx512",
    "num_cpus": 40,
    "num_cpus_per_core": 1,  # 2x Xeon Gold 6148 [S]
    "num_sockets": 2,
    "num_cpus_per_socket": 20,
}
_DGX1_CPU = {
    "arch": "broadwell",
    "num_cpus": 80,
    "num_cpus_per_core": 2,  # 2x E5-2698 v4 [S], HT on [A]
    "num_sockets": 2,
    "num_cpus_per_socket": 40,
}
_SINGULARITY = [{"type": "Singularity", "modules": ["Singularity/3.3.0"]}]  # module name [S]
# [A] --gres=gpu:N is planned on TARA but unconfirmed; GPU jobs get whole nodes (--exclusive).
_GPU_RESOURCES = [{"name": "_rfm_gpu", "options": ["--gres=gpu:{num_gpus_per_node}"]}]


def _partition(name, nodes, time_limit, descr, **extra):
    part = {
        "name": name,
        "descr": descr,
        "scheduler": "slurm",
        "launcher": "srun",
        "access": [f"-p {name}", *account_access(ACCOUNT_ENV)],
        "environs": ["maskrcnn"],
        "max_jobs": 4,
        "time_limit": time_limit,
        "sched_options": {"use_nodes_option": True},
        "resources": _GPU_RESOURCES,
        "extras": {"nodes": nodes, **_DATA},
    }
    part.update(extra)
    return part


system = {
    "name": "tara",
    "descr": "ThaiSC TARA (CentOS 7.6, Slurm, Singularity 3.3.0, InfiniBand EDR 100 Gb/s)",
    # Frontend tara-frontend-1(.tara.nstda.or.th) [S]; compute node names [S].
    "hostnames": [r"^tara-frontend-\d+", r"^tara-(c|g|m|dgx1)-\d+"],
    "modules_system": modules_system("lmod"),
    "partitions": [
        _partition(
            "devel",
            2,
            "2h",
            "2 CPU nodes, 2x Xeon Gold 6148, 192 GB [S]",
            processor=_SKYLAKE,
            features=["cpu"],
            extras={"nodes": 2, "cpu_ranks_per_node": 2, **_DATA},
        ),
        _partition(
            "compute",
            58,
            "5d",
            "58 CPU nodes, 2x Xeon Gold 6148, 192 GB [S]",
            processor=_SKYLAKE,
            features=["cpu"],
            extras={"nodes": 58, "cpu_ranks_per_node": 2, **_DATA},
        ),
        _partition(
            "gpu",
            2,
            "5d",
            "2 nodes, 2x V100-PCIe-16GB each [S]",
            processor=_SKYLAKE,
            features=["gpu", "coco", "containers"],
            devices=[{"type": "gpu", "arch": "sm_70", "model": "Tesla V100-PCIE-16GB", "num_devices": 2}],
            container_platforms=_SINGULARITY,
            # [A] no NVIDIA recipe exists for 2x V100-PCIe nodes: none named, so those variants skip.
            extras={"nodes": 2, "recipes": {}, **_DATA},
        ),
        _partition(
            "dgx",
            1,
            "5d",
            "1 DGX-1 node (tara-dgx1-003), 8x V100-SXM2 [S] (16 GB [A])",
            processor=_DGX1_CPU,
            features=["gpu", "coco", "containers"],
            devices=[{"type": "gpu", "arch": "sm_70", "model": "Tesla V100-SXM2-16GB", "num_devices": 8}],
            container_platforms=_SINGULARITY,
            extras={"nodes": 1, "recipes": {"1": "nvidia_dgx1"}, **_DATA},
        ),
        _partition(
            "dgx-preempt",
            2,
            "5d",
            "2 DGX-1 nodes (tara-dgx1-[001-002]), preemptible [S]",
            processor=_DGX1_CPU,
            features=["gpu", "coco", "containers"],
            devices=[{"type": "gpu", "arch": "sm_70", "model": "Tesla V100-SXM2-16GB", "num_devices": 8}],
            container_platforms=_SINGULARITY,
            # 2 nodes x 8 V100 at 6 images per GPU: the DGX-2 1x16 numbers (batch 96) apply [A].
            extras={"nodes": 2, "recipes": {"1": "nvidia_dgx1", "2": "nvidia_dgx2"}, **_DATA},
        ),
    ],
}
