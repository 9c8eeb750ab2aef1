"""LANTA (ThaiSC, HPE Cray EX, 2022): 176 GPU nodes, 4x A100-SXM4-40GB each; Apptainer.

Shown here to prove that a new system needs only a config file and reference entries.
[S] stated in ThaiSC's public material (shared/docs/systems.md); [A] assumed.
"""

from .common import account_access, modules_system, partition, site

ACCOUNT_ENV = "ACCEPTANCE_ACCOUNT"  # -A ltNNNNNN [S]
_PROJECT = site("project_dir", "/project/lt000000-mlperf")  # [A]
_SITE = {
    "coco_dir": site("coco_dir", f"{_PROJECT}/coco"),
    "image_bundled": site("image_bundled", f"{_PROJECT}/images/mlperf-maskrcnn-bundled.sif"),
    "image_nvidia": site("image_nvidia", f"{_PROJECT}/images/pytorch20.06-ngc.sif"),
    "nvidia_checkout": site(
        "nvidia_checkout", f"{_PROJECT}/training_results_v0.7/NVIDIA/benchmarks/maskrcnn/implementations/pytorch"
    ),
    "account_env": ACCOUNT_ENV,
    "cache_clear_command": site("cache_clear_command", ""),
    "recipes": {"4": "lanta_4x4"},
    # 16 A100s (2x DGX A100 published 44 min): 4 nodes x 4 GPUs fit in 2 h with margin [A].
    "time_limits": {"4": "2h"},
    # Multi-node NCCL over Slingshot needs the aws-ofi-nccl plugin [S], which the host's module
    # loads but an image does not carry: bind it and the Cray libfabric in, and name the network so
    # that NCCL stops instead of falling back to TCP sockets. Paths [A]: set them from
    # `module show aws-ofi-nccl` and `module show libfabric` on LANTA.
    "nccl": {
        "env": {
            "NCCL_NET": "AWS Libfabric",
            "FI_PROVIDER": "cxi",
            "NCCL_SOCKET_IFNAME": "hsn",
            "APPTAINERENV_LD_LIBRARY_PATH": site("nccl_plugin_dir", "/opt/cray/aws-ofi-nccl/lib")
            + ":"
            + site("libfabric_dir", "/opt/cray/libfabric/1.15.2.0/lib64")
            + ":/.singularity.d/libs",
        },
        "binds": [
            site("nccl_plugin_dir", "/opt/cray/aws-ofi-nccl/lib"),
            site("libfabric_dir", "/opt/cray/libfabric/1.15.2.0/lib64"),
        ],
    },
}
_EPYC = {"arch": "zen3", "num_cpus": 64, "num_cpus_per_core": 1, "num_sockets": 1, "num_cpus_per_socket": 64}  # [S]
_A100 = [{"type": "gpu", "arch": "sm_80", "model": "NVIDIA A100-SXM4-40GB", "num_devices": 4}]  # [S]


def _lanta(name: str, nodes: int, time_limit: str, descr: str) -> dict:
    return partition(
        name,
        descr,
        ["gpu", "coco", "containers"],
        {"nodes": nodes, **_SITE},
        # Multi-node NCCL over Slingshot needs the job VNI [S].
        access=[f"-p {name}", "--network=job_vni,single_node_vni", *account_access(ACCOUNT_ENV)],
        time_limit=time_limit,
        sched_options={"use_nodes_option": True},
        resources=[{"name": "_rfm_gpu", "options": ["--gpus-per-node={num_gpus_per_node}"]}],  # [S]
        processor=_EPYC,
        devices=_A100,
        container_platforms=[{"type": "Apptainer", "modules": ["Apptainer/1.1.6"]}],  # [S]
        modules=["cuda/12.6", "aws-ofi-nccl"],  # [S]
    )


system = {
    "name": "lanta",
    "descr": "ThaiSC LANTA (HPE Cray EX, Slurm 24.05, Apptainer, Slingshot 200 Gb/s)",
    "hostnames": [r"^lanta-"],  # [A] login and node names start with lanta- (nodes lanta-g-NNN [S])
    "modules_system": modules_system("lmod"),
    "partitions": [
        _lanta("gpu", 176, "5d", "176 nodes, 1x EPYC 7713, 512 GB, 4x A100-SXM4-40GB [S]"),
        _lanta("gpu-devel", 4, "2h", "GPU development partition, 2 h [S]; node count [A]"),
    ],
}
