"""TARA (ThaiSC, 2019): Slurm + Singularity; GPU partitions gpu (2x V100-PCIe), dgx, dgx-preempt.

Facts marked [S] are stated in ThaiSC's public material (shared/docs/systems.md); [A] are
assumptions no public source confirms: check them on site and correct this file.
"""

from .common import account_access, modules_system, partition, site

ACCOUNT_ENV = "ACCEPTANCE_ACCOUNT"  # -A projNNNN is mandatory on TARA [S]

# [A] paths: where a site would keep COCO, the images and NVIDIA's checkout; override with
# ACCEPTANCE_COCO_DIR, ACCEPTANCE_IMAGE_BUNDLED, ACCEPTANCE_IMAGE_NVIDIA, ACCEPTANCE_NVIDIA_CHECKOUT.
_PROJECT = site("project_dir", "/tarafs/data/project/proj0000-mlperf")  # [A] project folder layout [S]
_SITE = {
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
_SKYLAKE = {  # 2x Xeon Gold 6148 [S]
    "arch": "skylake_avx512", "num_cpus": 40, "num_cpus_per_core": 1, "num_sockets": 2, "num_cpus_per_socket": 20
}
# 2x E5-2698 v4 [S], HT on [A]
_DGX1_CPU = {"arch": "broadwell", "num_cpus": 80, "num_cpus_per_core": 2, "num_sockets": 2, "num_cpus_per_socket": 40}
_SINGULARITY = [{"type": "Singularity", "modules": ["Singularity/3.3.0"]}]  # module name [S]
_V100_SXM2 = [{"type": "gpu", "arch": "sm_70", "model": "Tesla V100-SXM2-16GB", "num_devices": 8}]  # 16 GB [A]
_V100_PCIE = [{"type": "gpu", "arch": "sm_70", "model": "Tesla V100-PCIE-16GB", "num_devices": 2}]
# A DGX-1 at 9-13 img/s per V100 (the bundled code's likely rate, NVIDIA's is 25.6) needs 6-9 h
# for 14 epochs; 2 nodes about half. [A] until a measured run replaces it.
_DGX_LIMITS = {"1": "10h", "2": "6h"}


def _tara(name: str, descr: str, nodes: int, time_limit: str, features: list[str], extras: dict, **settings) -> dict:
    return partition(
        name,
        descr,
        features,
        {"nodes": nodes, **_SITE, **extras},
        access=[f"-p {name}", *account_access(ACCOUNT_ENV)],
        # The partition's maximum job time [S]: a longer run is skipped, never left pending.
        time_limit=time_limit,
        sched_options={"use_nodes_option": True},
        # [A] --gres=gpu:N is planned on TARA but unconfirmed; GPU jobs get whole nodes (--exclusive).
        resources=[{"name": "_rfm_gpu", "options": ["--gres=gpu:{num_gpus_per_node}"]}],
        **settings,
    )


system = {
    "name": "tara",
    "descr": "ThaiSC TARA (CentOS 7.6, Slurm, Singularity 3.3.0, InfiniBand EDR 100 Gb/s)",
    # Frontend tara-frontend-1(.tara.nstda.or.th) [S]; compute node names [S].
    "hostnames": [r"^tara-frontend-\d+", r"^tara-(c|g|m|dgx1)-\d+"],
    "modules_system": modules_system("lmod"),
    "partitions": [
        _tara("devel", "2 CPU nodes, 2x Xeon Gold 6148, 192 GB [S]", 2, "2h", ["cpu"], {"cpu_ranks_per_node": 2},
              processor=_SKYLAKE),  # fmt: skip
        _tara("compute", "58 CPU nodes, 2x Xeon Gold 6148, 192 GB [S]", 58, "5d", ["cpu"], {"cpu_ranks_per_node": 2},
              processor=_SKYLAKE),  # fmt: skip
        # [A] no NVIDIA recipe exists for 2x V100-PCIe nodes: none named, so those variants skip.
        _tara("gpu", "2 nodes, 2x V100-PCIe-16GB each [S]", 2, "5d", ["gpu", "coco", "containers"], {"recipes": {}},
              processor=_SKYLAKE, devices=_V100_PCIE, container_platforms=_SINGULARITY),  # fmt: skip
        _tara("dgx", "1 DGX-1 node (tara-dgx1-003), 8x V100-SXM2 [S] (16 GB [A])", 1, "5d",
              ["gpu", "coco", "containers"], {"recipes": {"1": "nvidia_dgx1"}, "time_limits": _DGX_LIMITS},
              processor=_DGX1_CPU, devices=_V100_SXM2, container_platforms=_SINGULARITY),  # fmt: skip
        # 2 nodes x 8 V100 at 6 images per GPU: the DGX-2 1x16 numbers (batch 96) apply [A].
        _tara("dgx-preempt", "2 DGX-1 nodes (tara-dgx1-[001-002]), preemptible [S]", 2, "5d",
              ["gpu", "coco", "containers"],
              {"recipes": {"1": "nvidia_dgx1", "2": "nvidia_dgx2"}, "time_limits": _DGX_LIMITS},
              processor=_DGX1_CPU, devices=_V100_SXM2, container_platforms=_SINGULARITY),  # fmt: skip
    ],
}
