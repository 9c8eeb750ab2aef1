"""The MLPerf Training v0.7 Mask R-CNN check, as a site-agnostic ReFrame library test.

What it measures: one MLPerf run of Mask R-CNN (ResNet-50-FPN, COCO 2017) to the quality target
(BBOX 0.377 and SEGM 0.339 on one evaluation), on ``num_nodes`` nodes with one task per GPU (CPU
ranks where there are none). The figure of merit is time-to-train in minutes, run_start to
run_stop, as MLPerf scores it.

How it judges: only from the MLPerf log, through the harness (``acceptance.mlperf``): run_stop
success, target met, the official compliance checker (ruleset 0.7.0) passes; performance
variables time_to_train, throughput, epochs and eval_time are compared with
``resources/references`` (``require_reference``: a partition without an entry fails).

Variants (parameters): ``num_nodes`` 1/2/4; ``implementation`` ``bundled`` (this project's
workload) or ``nvidia-v0.7`` (a site's build of NVIDIA's v0.7 code); ``mode``
``time-to-train`` (the full run) or ``throughput`` (a fixed number of iterations: img/s and a
projected time-to-train).

How a site uses it: subclass it in ``checks/`` with ``valid_systems``; everything else (nodes,
GPUs, data set, images, recipes, account) is read from the partition's config. Knobs are
variables, overridable with ``-S``.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import reframe as rfm
import reframe.utility.sanity as sn
import reframe.utility.typecheck as typ
from reframe.core.builtins import parameter, performance_function, run_after, run_before, sanity_function, variable
from reframe.core.exceptions import ReframeError

from .. import containers
from ..mlperf import analysis, compliance, records
from . import hooks, references
from .base import ExplainedSkip
from .constants import (
    ENV_FEATURE_MASKRCNN,
    EXTRA_ACCOUNT_ENV,
    EXTRA_CACHE_CLEAR,
    EXTRA_COCO,
    EXTRA_IMAGE_BUNDLED,
    EXTRA_IMAGE_NVIDIA,
    EXTRA_NVIDIA_CHECKOUT,
    EXTRA_SRUN_OPTIONS,
    IMPLEMENTATIONS,
    MODES,
    NODE_COUNTS,
    TAG_ACCEPTANCE,
    TAG_BENCHMARK,
)

CONTAINER_DATA = "/coco"
# NVIDIA's dbcluster paths catalog reads the data set under /data, its weights under /coco: the
# site's own run binds the tree at both (systems.md).
NVIDIA_DATA_ROOTS = ("/coco", "/data")
NVIDIA_WORKSPACE = "/workspace/object_detection"
MASTER_PORT = 29500
LOG_NAME = "mlperf_log.txt"
# Training is 85-89% of time-to-train in NVIDIA's v0.7 runs (benchmark.md); the projection of a
# throughput run uses the middle of that range.
TRAIN_FRACTION = 0.87


_SRUN_TASK = re.compile(r"srun: error: (\S+): task (\d+): (.+)")
_TORCHRUN_RANK = re.compile(r"rank\s*:\s*(\d+) \(local_rank: \d+\)\s*\n\s*exitcode\s*:\s*(-?\d+)")
_TRAINER_ERROR = re.compile(r"^error: (.+)$", re.MULTILINE)
_RANK_SAYS = re.compile(r"rank (\d+): ((?:distributed failure|runtime error|run aborted).*)")


def nvidia_checkout_problem(checkout: str) -> str:
    """Why ``checkout`` cannot run NVIDIA's trainer ('' when it can): missing, or not built."""
    root = Path(checkout)
    if not (root / "tools" / "train_mlperf.py").is_file():
        return (
            f"{checkout} is not NVIDIA's v0.7 maskrcnn checkout (no tools/train_mlperf.py): clone "
            "mlcommons/training_results_v0.7 and point at NVIDIA/benchmarks/maskrcnn/implementations/pytorch"
        )
    if not any((root / "maskrcnn_benchmark").glob("_C*.so")):
        return (
            f"{checkout} is not built (no maskrcnn_benchmark/_C*.so): build it in its image, "
            f"singularity exec --nv IMAGE bash -c 'cd {checkout} && python setup.py build_ext --inplace' "
            "(resources/containers/README.md)"
        )
    return ""


def job_end_reason(text: str) -> str:
    """Name what ended a job early: the time limit, or which rank died and how."""
    reasons = []
    if "DUE TO TIME LIMIT" in text or "time limit" in text.lower() and "CANCELLED" in text:
        reasons.append("the job's time limit ended it (partial log kept)")
    errors = _TRAINER_ERROR.findall(text)
    if errors:
        reasons.append(f"the trainer stopped: {errors[0].strip()}")
    dead = [f"rank {task} on {node}: {what.strip()}" for node, task, what in _SRUN_TASK.findall(text)]
    dead += [f"rank {rank} exited with {code}" for rank, code in _TORCHRUN_RANK.findall(text)]
    if dead:
        reasons.append("rank(s) died: " + "; ".join(dict.fromkeys(dead)))
    elif _RANK_SAYS.search(text):
        rank, what = _RANK_SAYS.search(text).groups()
        reasons.append(f"rank {rank}: {what.strip()}")
    return "; ".join(reasons) or "see the job's output"


class MaskRCNNTraining(rfm.RunOnlyRegressionTest, ExplainedSkip):
    """MLPerf v0.7 Mask R-CNN training to target, judged by its MLPerf log (see module docs)."""

    num_nodes = parameter(list(NODE_COUNTS))
    implementation = parameter(list(IMPLEMENTATIONS))
    mode = parameter(list(MODES))

    #: COCO 2017 tree (annotations/, train2017/, val2017/, models/R-50.pkl); default: partition extras
    data_dir = variable(str, value="")
    #: R-50.pkl; default: DATA/models/R-50.pkl
    weights_file = variable(str, value="")
    #: container image; default: partition extras image_bundled / image_nvidia ('' runs on the host)
    image = variable(str, value="")
    #: NVIDIA v0.7 maskrcnn implementation folder (pytorch/), built in ``image``
    nvidia_checkout = variable(str, value="")
    #: recipe name (resources/recipes); default: the partition's recipe for the node count
    recipe = variable(str, value="")
    #: iterations of a throughput run
    throughput_iters = variable(int, value=200)
    #: epochs a full run takes, for the projection of a throughput run (NVIDIA v0.7: 14-17)
    projected_epochs = variable(int, value=14)
    #: seconds a collective waits for a dead or stuck peer before the run fails
    dist_timeout = variable(int, value=300)
    #: progress line every N iterations
    print_every = variable(int, value=20)
    #: run the official compliance checker in sanity
    check_compliance = variable(typ.Bool, value=True)
    #: seed (-1: the trainer draws one and logs it)
    seed = variable(int, value=-1)
    #: where the reference bounds come from (set from resources/references; logged)
    reference_source = variable(str, value="")
    #: bind each GPU's rank to its share of the cores of the GPU's socket (srun --cpu-bind)
    cpu_bind = variable(typ.Bool, value=True)
    #: the srun binding used, or why there is none (set in setup; logged)
    binding = variable(str, value="")
    #: sha256 of the container image (set in setup; logged, shown in the report)
    image_digest = variable(str, value="")
    #: submission_org in the log
    org = variable(str, value="ThaiSC")

    valid_prog_environs = [f"+{ENV_FEATURE_MASKRCNN}"]
    # The MLPerf log is the run's result: keep it in the output folder with the job's files.
    keep_files = [LOG_NAME]
    exclusive_access = True
    time_limit = "6h"

    @run_after("init")
    def tag_suites(self):
        # The acceptance suite is the 4-node MLPerf run; throughput runs form the benchmark suite.
        if self.num_nodes == 4 and self.mode == "time-to-train":
            self.tags |= {TAG_ACCEPTANCE}
        if self.mode == "throughput":
            self.tags |= {TAG_BENCHMARK}

    # ---- set-up: everything from the partition's description -------------------------------
    @run_after("setup")
    def choose_layout(self):
        part = self.current_partition
        layout, why = hooks.layout_for(part, self.num_nodes)
        if layout is None:
            self.skip_because(why)
        self.layout = layout
        self.num_tasks = layout.tasks
        self.num_tasks_per_node = layout.tasks_per_node
        if layout.gpus_per_node:
            self.num_gpus_per_node = layout.gpus_per_node
        if not self.recipe:
            name, why = hooks.recipe_for(part, self.num_nodes)
            if name is None:
                self.skip_because(why)
            self.recipe = name

    @run_after("setup")
    def locate_inputs(self):
        part, env = self.current_partition, self.current_environ
        self.data_dir = hooks.site_value(part, env, EXTRA_COCO, self.data_dir or self.default_data_dir())
        if not self.data_dir:
            self.skip_because(
                f"no data set for {part.fullname}: set extras '{EXTRA_COCO}' in config/ or -S data_dir=PATH"
            )
        if not Path(self.data_dir).is_dir():
            self.skip_because(f"data set folder {self.data_dir} not found (see README, 'Running on TARA')")
        image_key = EXTRA_IMAGE_BUNDLED if self.implementation == "bundled" else EXTRA_IMAGE_NVIDIA
        self.image = hooks.site_value(part, env, image_key, self.image)
        if self.image and not part.container_environs:
            self.skip_because(f"{part.fullname} has no container platform for image {self.image}")
        if self.image and not Path(self.image).exists():
            self.skip_because(f"container image {self.image} not found (see README, 'Running on TARA')")
        if self.implementation == "nvidia-v0.7":
            self.nvidia_checkout = hooks.site_value(part, env, EXTRA_NVIDIA_CHECKOUT, self.nvidia_checkout)
            if not self.nvidia_checkout:
                self.skip_because(
                    f"no NVIDIA v0.7 checkout for {part.fullname}: set extras '{EXTRA_NVIDIA_CHECKOUT}' or "
                    "-S nvidia_checkout=PATH (NVIDIA/benchmarks/maskrcnn/implementations/pytorch of "
                    "mlcommons/training_results_v0.7, built in the NGC 20.06 image)"
                )
            why = nvidia_checkout_problem(self.nvidia_checkout)
            if why:
                self.skip_because(why)
            if not self.image:
                self.skip_because(
                    f"the NVIDIA path needs its image: set extras '{EXTRA_IMAGE_NVIDIA}' or -S image=PATH"
                )
        if self.image:
            self.image_digest = containers.digest(self.image)

    def default_data_dir(self) -> str:
        """Subclasses with a synthetic fixture return its folder."""
        return ""

    @run_after("setup")
    def set_references(self):
        found = references.find(
            "maskrcnn", self.current_partition.fullname, self.num_nodes, self.implementation, self.mode
        )
        self.require_reference = True
        self.reference = found.for_reframe() if found else {}
        self.reference_source = found.source if found else "none"

    # ---- the job ------------------------------------------------------------------------------
    @run_before("run")
    def build_command(self):
        part = self.current_partition
        data = CONTAINER_DATA if self.image else self.data_dir
        weights = self.weights_file or f"{data}/models/R-50.pkl"
        if self.implementation == "bundled":
            command = self.bundled_command(data, weights)
        else:
            command = self.nvidia_command(weights)
        if self.image:
            roots = NVIDIA_DATA_ROOTS if self.implementation == "nvidia-v0.7" else (CONTAINER_DATA,)
            self.container_platform.image = self.image
            # Data read-only into the container; results only in the stage folder (/rfm_workdir).
            self.container_platform.mount_points = containers.data_mounts(self.data_dir, roots)
            if self.nvidia_checkout:
                self.container_platform.mount_points.append((self.nvidia_checkout, f"{NVIDIA_WORKSPACE}:ro"))
            self.container_platform.with_cuda = self.layout.gpus_per_node > 0
            self.container_platform.command = command
        else:
            self.executable = command
        self.job.launcher.options += list(part.extras.get(EXTRA_SRUN_OPTIONS, []))
        self.job.launcher.options += self.binding_options()
        self.prerun_cmds = self.cache_clear_commands()
        if self.implementation == "nvidia-v0.7":
            self.prerun_cmds += self.nvidia_prologue()
        self.require_account()

    def binding_options(self) -> list[str]:
        """srun's per-rank core masks on GPU nodes (see hooks.gpu_core_masks)."""
        if not self.cpu_bind:
            self.binding = "off (-S cpu_bind=false)"
            return []
        masks, why = hooks.gpu_core_masks(self.current_partition, self.layout)
        if not masks or not self.uses_srun():
            self.binding = why or "none: the launcher is not srun"
            return []
        self.binding = "mask_cpu:" + ",".join(masks)
        return [f"--cpu-bind=verbose,{self.binding}"]

    def uses_srun(self) -> bool:
        return self.current_partition.launcher_type.registered_name == "srun"

    def cache_clear_commands(self) -> list[str]:
        """Drop the page cache on every node before the timed run where the site allows it;
        ``cache_clear`` is logged true only when that succeeded (MLPERF_CACHE_CLEARED)."""
        clear = self.current_partition.extras.get(EXTRA_CACHE_CLEAR)
        if not clear:
            return []
        run = shlex.quote(clear)
        if self.uses_srun():
            run = f"srun --ntasks={self.num_nodes} --ntasks-per-node=1 sh -c {run}"
        else:
            run = f"sh -c {run}"
        return [f"if {run}; then export MLPERF_CACHE_CLEARED=1; else echo 'page cache not cleared' >&2; fi"]

    def nvidia_prologue(self) -> list[str]:
        """What NVIDIA's run.sub does around its trainer: the submission and cache_clear records
        (its trainer logs neither) and the rendezvous on the job's first node."""
        lines = [
            records.shell_event("submission_benchmark", "maskrcnn"),
            records.shell_event("submission_org", self.org),
            records.shell_event("submission_division", self.recipe_spec().division),
            records.shell_event("submission_status", "onprem"),
            records.shell_event("submission_platform", self.platform_name()),
            records.shell_event("cache_clear", records.CACHE_CLEARED),
        ]
        if self.uses_srun():
            lines.append('export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"')
        else:
            lines.append("export MASTER_ADDR=127.0.0.1")
        lines.append(f"export MASTER_PORT={MASTER_PORT}")
        return lines

    def recipe_spec(self):
        """The recipe's hyperparameters and rules (mlperf_maskrcnn.recipe is torch-free)."""
        from mlperf_maskrcnn import recipe as recipes

        return recipes.load(self.recipe)

    def platform_name(self) -> str:
        devices = self.current_partition.select_devices("gpu")
        model = devices[0].model if devices and getattr(devices[0], "model", None) else "CPU"
        return f"{self.num_nodes}x{self.current_partition.fullname} ({self.layout.tasks_per_node}x {model})"

    def require_account(self):
        var = self.current_partition.extras.get(EXTRA_ACCOUNT_ENV)
        if var and not os.environ.get(var):
            raise ReframeError(
                f"{self.current_partition.fullname} needs a Slurm account: export {var}=projNNNN before running"
            )

    def bundled_command(self, data: str, weights: str) -> str:
        args = [
            "python",
            "-u",
            "-m",
            "mlperf_maskrcnn",
            "train",
            "--recipe",
            self.recipe,
            "--data",
            data,
            "--weights",
            weights,
            "--log-file",
            LOG_NAME,
            "--print-every",
            str(self.print_every),
            "--dist-timeout",
            str(self.dist_timeout),
        ]
        if not self.layout.gpus_per_node:
            args += [
                "--device",
                "cpu",
                "--threads",
                str(hooks.cpu_threads_per_rank(self.current_partition, self.layout)),
            ]
        if self.mode == "throughput":
            args += ["--throughput-iters", str(self.throughput_iters)]
        if self.seed >= 0:
            args += ["--seed", str(self.seed)]
        return shlex.join(args)

    def nvidia_command(self, weights: str) -> str:
        """NVIDIA's trainer as its Slurm scripts start it: one task per GPU, rank and world from
        Slurm, its configuration's hyperparameters, fp16, the dbcluster paths catalog."""
        r = self.recipe_spec()
        hyper = [
            "SOLVER.BASE_LR",
            str(r.base_lr),
            "SOLVER.MAX_ITER",
            str(self.throughput_iters if self.mode == "throughput" else r.max_iter),
            "SOLVER.WARMUP_FACTOR",
            str(r.warmup_factor),
            "SOLVER.WARMUP_ITERS",
            str(r.warmup_iters),
            "SOLVER.WARMUP_METHOD",
            "mlperf_linear",
            "SOLVER.STEPS",
            f"({r.decay_steps[0]}, {r.decay_steps[1]})",
            "SOLVER.IMS_PER_BATCH",
            str(r.global_batch),
            "TEST.IMS_PER_BATCH",
            str(r.test_batch),
            "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN",
            str(r.num_image_candidates),
            "NHWC",
            "True",
        ]
        trainer = [
            "python",
            "-u",
            f"{NVIDIA_WORKSPACE}/tools/train_mlperf.py",
            "--local_rank",
            "__LOCAL_RANK__",
            "--config-file",
            f"{NVIDIA_WORKSPACE}/configs/e2e_mask_rcnn_R_50_FPN_1x.yaml",
            "DTYPE",
            "float16",
            "PATHS_CATALOG",
            f"{NVIDIA_WORKSPACE}/maskrcnn_benchmark/config/paths_catalog_dbcluster.py",
            "MODEL.WEIGHT",
            weights,
            "DISABLE_REDUCED_LOGGING",
            "True",
            *hyper,
        ]
        # Each task reads its own rank from Slurm, so the variables expand inside the task.
        inner = (
            'export WORLD_SIZE="${SLURM_NTASKS:-1}" RANK="${SLURM_PROCID:-0}" LOCAL_RANK="${SLURM_LOCALID:-0}"'
            f" PYTHONPATH={NVIDIA_WORKSPACE}; exec " + shlex.join(trainer).replace("__LOCAL_RANK__", '"$LOCAL_RANK"')
        )
        return shlex.join(["bash", "-c", inner])

    # ---- judging: only from the MLPerf log ---------------------------------------------------------
    @property
    def mlperf_log(self) -> Path:
        # The bundled trainer writes its own log; NVIDIA's trainer logs to stdout, as in its results.
        if self.implementation == "bundled":
            return Path(self.stagedir) / LOG_NAME
        return Path(self.stagedir) / str(self.stdout.evaluate())

    def summary(self) -> analysis.RunSummary:
        if getattr(self, "_summary", None) is None:
            self._summary = analysis.summarize(self.mlperf_log)
        return self._summary

    def verdicts(self) -> list[tuple[bool, str]]:
        """(passed, reason) for each criterion, in the order a reader needs them."""
        log = self.mlperf_log
        if not log.is_file():
            return [(False, f"no MLPerf log at {log}: the trainer did not start (see {self.stderr.evaluate()})")]
        s = self.summary()
        # A damaged log (garbled or truncated records) is never a pass, whatever else it says.
        results = [(not s.problems, "MLPerf log problems: " + "; ".join(s.problems[:3]))]
        if s.status == "incomplete":
            # Cut off: what ended it is the news; the quality and compliance verdicts would only
            # repeat that the log is unfinished.
            results.append((False, f"{s.reason}; {self._job_end_hint()}"))
            return results
        if self.mode == "throughput":
            results.append((s.throughput_iteration is not None, "no training throughput in the log"))
            return results
        best = s.best
        best_text = (
            f"best BBOX {best.bbox:.4f} SEGM {best.segm or 0:.4f} at epoch {best.epoch}" if best else "no evaluation"
        )
        stop_reason = f"run_stop status {s.status}: {s.reason}"
        if s.status == "aborted" and ("distributed failure" in s.reason or "runtime error" in s.reason):
            stop_reason += f"; {self._job_end_hint()}"
        results.append((s.status == "success", stop_reason))
        results.append((s.converged, f"quality target BBOX 0.377 / SEGM 0.339 not met ({best_text})"))
        if self.check_compliance:
            verdict = compliance.check(log)
            results.append((verdict.passed, "compliance checker (0.7.0) failed: " + "; ".join(verdict.messages[-3:])))
        return results

    def _job_end_hint(self) -> str:
        """Why the job ended early, from what the launcher and the scheduler printed."""
        texts = []
        for name in (self.stderr.evaluate(), self.stdout.evaluate()):
            path = Path(self.stagedir) / str(name)
            texts.append(path.read_text(errors="replace") if path.is_file() else "")
        return job_end_reason("\n".join(texts))

    @sanity_function
    def assert_run(self):
        failed = [why for ok, why in self.verdicts() if not ok]
        return sn.assert_true(not failed, msg="; ".join(failed) or "ok")

    @performance_function("min")
    def time_to_train(self):
        return self.summary().time_to_train_min

    @performance_function("img/s")
    def throughput(self):
        s = self.summary()
        return s.throughput_iteration if s.throughput_iteration is not None else s.throughput_epoch

    @performance_function("epochs")
    def epochs(self):
        return self.summary().epochs_to_target

    @performance_function("s")
    def eval_time(self):
        return self.summary().eval_time_s or 0.0

    @performance_function("min")
    def projected_time_to_train(self):
        s = self.summary()
        rate = s.throughput_iteration or s.throughput_epoch
        images = s.train_images or 0
        return self.projected_epochs * images / rate / 60.0 / TRAIN_FRACTION if rate else None

    @run_before("performance")
    def select_perf_variables(self):
        if self.mode == "throughput":
            self.perf_variables = {
                "throughput": self.throughput(),
                "projected_time_to_train": self.projected_time_to_train(),
            }
        else:
            self.perf_variables = {
                "time_to_train": self.time_to_train(),
                "throughput": self.throughput(),
                "epochs": self.epochs(),
                "eval_time": self.eval_time(),
            }
