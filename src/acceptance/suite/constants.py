"""Names shared by config/, checks/ and the library tests: features, extras keys, tags, variants."""

# Partition features (valid_systems = ['+feature'])
FEATURE_CPU = "cpu"  # CPU-only nodes
FEATURE_GPU = "gpu"  # has GPUs the workload can use (describe them in 'devices')
FEATURE_COCO = "coco"  # a real COCO 2017 tree is configured (extras 'coco_dir')
FEATURE_SYNTHETIC = "synthetic-data"  # no COCO: smoke runs on a synthetic set made per session
FEATURE_CONTAINERS = "containers"  # the workload runs in an image: Singularity/Apptainer, or pyxis/enroot
FEATURES = (FEATURE_CPU, FEATURE_GPU, FEATURE_COCO, FEATURE_SYNTHETIC, FEATURE_CONTAINERS)
# A partition runs the Mask R-CNN check only with one of these (real COCO or the synthetic set).
DATA_FEATURES = (FEATURE_COCO, FEATURE_SYNTHETIC)

# The programming environment the suite's checks run in, and its feature
ENVIRONMENT = "maskrcnn"
ENV_FEATURE_MASKRCNN = "maskrcnn"

# Partition extras keys, each with what it holds (config/systems/common.py refuses any other key)
EXTRA_NODES = "nodes"
EXTRA_CPU_RANKS = "cpu_ranks_per_node"
EXTRA_THREADS = "threads_per_rank"
EXTRA_RECIPES = "recipes"
EXTRA_COCO = "coco_dir"
EXTRA_IMAGE_BUNDLED = "image_bundled"
EXTRA_IMAGE_NVIDIA = "image_nvidia"
EXTRA_NVIDIA_CHECKOUT = "nvidia_checkout"
EXTRA_ACCOUNT_ENV = "account_env"
EXTRA_CACHE_CLEAR = "cache_clear_command"
EXTRA_SRUN_OPTIONS = "srun_options"
EXTRA_PYTHON = "python"
EXTRA_IMAGE_PYTHON = "image_python"
EXTRA_NVIDIA_PYTHON = "nvidia_python"
EXTRA_TIME_LIMITS = "time_limits"
EXTRA_NCCL = "nccl"
EXTRA_CONTAINER_RUNTIME = "container_runtime"
EXTRAS = {
    EXTRA_NODES: "nodes in the partition",
    EXTRA_CPU_RANKS: "ranks per node where there is no GPU",
    EXTRA_THREADS: "torch threads per CPU rank, where simulated nodes share cores",
    EXTRA_RECIPES: 'recipe per node count, {"1": "nvidia_dgx1", "4": ...}',
    EXTRA_COCO: "COCO 2017 tree (annotations/, train2017/, val2017/, models/R-50.pkl)",
    EXTRA_IMAGE_BUNDLED: "container image with this project's workload",
    EXTRA_IMAGE_NVIDIA: "NGC 20.06 image in which NVIDIA's checkout was built",
    EXTRA_NVIDIA_CHECKOUT: "NVIDIA v0.7 maskrcnn implementation folder",
    EXTRA_ACCOUNT_ENV: "environment variable holding the Slurm account, where one is required",
    EXTRA_CACHE_CLEAR: "command that drops the page cache, where the site allows it",
    EXTRA_SRUN_OPTIONS: "extra srun options for every job step (e.g. LANTA's --network)",
    EXTRA_PYTHON: "the workload's interpreter on the host (default: the suite's own venv)",
    EXTRA_IMAGE_PYTHON: "the interpreter inside the bundled image",
    EXTRA_NVIDIA_PYTHON: "the interpreter inside NVIDIA's NGC 20.06 image",
    EXTRA_TIME_LIMITS: 'time limit of a time-to-train run per node count, {"1": "10h", ...}',
    EXTRA_NCCL: "NCCL network set-up for container jobs: {env: {...}, binds: [...], library_path: [...]}",
    EXTRA_CONTAINER_RUNTIME: "a runtime ReFrame has no platform for: 'pyxis' (srun --container-image, enroot)",
}
# Values of extras 'container_runtime' (Singularity and Apptainer are ReFrame's container_platforms)
RUNTIME_PYXIS = "pyxis"
CONTAINER_RUNTIMES = (RUNTIME_PYXIS,)
# Interpreters inside the images [A]: NGC PyTorch images after 22.xx use the system Python, the
# NGC 20.06 image a conda one (resources/containers/README.md says how to check).
DEFAULT_IMAGE_PYTHON = "/usr/bin/python3"
DEFAULT_NVIDIA_PYTHON = "/opt/conda/bin/python"

# Tags: suites
TAG_ACCEPTANCE = "acceptance"
TAG_SMOKE = "smoke"
TAG_BENCHMARK = "benchmark"
TAG_SYSTEM = "system"

# Variants of the Mask R-CNN check
IMPLEMENTATIONS = ("bundled", "nvidia-v0.7")
MODES = ("time-to-train", "throughput")
NODE_COUNTS = (1, 2, 4)
