"""Names shared by config/, checks/ and the library tests (features, extras keys, tags)."""

# Partition features (valid_systems = ['+feature'])
FEATURE_GPU = "gpu"  # has GPUs the workload can use
FEATURE_COCO = "coco"  # a real COCO 2017 tree is configured (extras 'coco_dir')
FEATURE_SYNTHETIC = "synthetic-data"  # no COCO: smoke runs on a synthetic set made per session
FEATURE_CONTAINERS = "containers"  # the workload runs inside a Singularity/Apptainer image

# Environment feature of the programming environments the Mask R-CNN checks may use
ENV_FEATURE_MASKRCNN = "maskrcnn"

# Partition extras keys
EXTRA_NODES = "nodes"  # nodes in the partition
EXTRA_CPU_RANKS = "cpu_ranks_per_node"  # ranks per node where there is no GPU
EXTRA_THREADS = "threads_per_rank"  # torch threads per CPU rank, where cores are shared oddly
EXTRA_RECIPES = "recipes"  # {"1": recipe, "2": recipe, "4": recipe}
EXTRA_COCO = "coco_dir"  # COCO 2017 tree (annotations/, train2017/, val2017/, models/R-50.pkl)
EXTRA_IMAGE_BUNDLED = "image_bundled"  # container image with this project's workload
EXTRA_IMAGE_NVIDIA = "image_nvidia"  # NGC 20.06 image in which NVIDIA's checkout was built
EXTRA_NVIDIA_CHECKOUT = "nvidia_checkout"  # NVIDIA v0.7 maskrcnn implementation folder
EXTRA_ACCOUNT_ENV = "account_env"  # environment variable holding the Slurm account, if required
EXTRA_CACHE_CLEAR = "cache_clear_command"  # command that drops the page cache, if allowed
EXTRA_SRUN_OPTIONS = "srun_options"  # extra launcher options (e.g. LANTA's --network)

# Tags: suites
TAG_ACCEPTANCE = "acceptance"
TAG_SMOKE = "smoke"
TAG_BENCHMARK = "benchmark"
TAG_SYSTEM = "system"

IMPLEMENTATIONS = ("bundled", "nvidia-v0.7")
MODES = ("time-to-train", "throughput")
NODE_COUNTS = (1, 2, 4)
