"""LANTA (ThaiSC, HPE Cray EX, 2022): 176 GPU nodes, 4x A100-SXM4-40GB each; Apptainer.

Shown here to prove that a new system needs only a config file and reference entries.
[S] stated in ThaiSC's public material (shared/docs/systems.md); [A] assumed.
"""

from .common import account_access, modules_system, site

ACCOUNT_ENV = "ACCEPTANCE_ACCOUNT"  # -A ltNNNNNN [S]
_PROJECT = site("project_dir", "/project/lt000000-mlperf")  # [A]
_DATA = {
    "coco_dir": site("coco_dir", f"{_PROJECT}/coco"),
    "image_bundled": site("image_bundled", f"{_PROJECT}/images/mlperf-maskrcnn-bundled.sif"),
    "image_nvidia": site("image_nvidia", f"{_PROJECT}/images/pytorch20.06-ngc.sif"),
    "nvidia_checkout": site(
        "nvidia_checkout", f"{_PROJECT}/training_results_v0.7/NVIDIA/benchmarks/maskrcnn/implementations/pytorch"
    ),
    "account_env": ACCOUNT_ENV,
    "cache_clear_command": site("cache_clear_command", ""),
    "recipes": {"4": "lanta_4x4"},
}
_EPYC = {"arch": "zen3", "num_cpus": 64, "num_cpus_per_core": 1, "num_sockets": 1, "num_cpus_per_socket": 64}  # [S]
_A100 = [{"type": "gpu", "arch": "sm_80", "model": "NVIDIA A100-SXM4-40GB", "num_devices": 4}]  # [S]


def _partition(name, nodes, time_limit, descr):
    return {
        "name": name,
        "descr": descr,
        "scheduler": "slurm",
        "launcher": "srun",
        # Multi-node NCCL over Slingshot needs the job VNI [S].
        "access": [f"-p {name}", "--network=job_vni,single_node_vni", *account_access(ACCOUNT_ENV)],
        "environs": ["maskrcnn"],
        "max_jobs": 4,
        "time_limit": time_limit,
        "sched_options": {"use_nodes_option": True},
        "resources": [{"name": "_rfm_gpu", "options": ["--gpus-per-node={num_gpus_per_node}"]}],  # [S]
        "processor": _EPYC,
        "devices": _A100,
        "features": ["gpu", "coco", "containers"],
        "container_platforms": [{"type": "Apptainer", "modules": ["Apptainer/1.1.6"]}],  # [S]
        "modules": ["cuda/12.6", "aws-ofi-nccl"],  # [S]
        "extras": {"nodes": nodes, **_DATA},
    }


system = {
    "name": "lanta",
    "descr": "ThaiSC LANTA (HPE Cray EX, Slurm 24.05, Apptainer, Slingshot 200 Gb/s)",
    "hostnames": [r"^lanta-"],  # [A] login and node names start with lanta- (nodes lanta-g-NNN [S])
    "modules_system": modules_system("lmod"),
    "partitions": [
        _partition("gpu", 176, "5d", "176 nodes, 1x EPYC 7713, 512 GB, 4x A100-SXM4-40GB [S]"),
        _partition("gpu-devel", 4, "2h", "GPU development partition, 2 h [S]; node count [A]"),
    ],
}
