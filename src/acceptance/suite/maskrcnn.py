"""The MLPerf Training v0.7 Mask R-CNN check, as a site-agnostic ReFrame library test.

What it measures: one MLPerf run of Mask R-CNN (ResNet-50-FPN, COCO 2017) to the quality target
(BBOX 0.377 and SEGM 0.339 on one evaluation), on ``num_nodes`` nodes with one task per GPU (CPU
ranks where there are none): its time-to-train in minutes, run_start to run_stop, as MLPerf times
it. MLPerf v0.7 scores five such runs (their olympic mean): ``runs`` asks for up to five, each a
test case of its own (``run_index``), and ``mlperf_set.MaskRCNNScore`` scores them.

How it judges: only from the MLPerf log, through the harness (``acceptance.mlperf``). Sanity: the
log intact, run_stop success, target met, the official compliance checker (ruleset 0.7.0) passes.
Performance (``resources/references``, ``require_reference``: a partition without an entry
fails): time_to_train (reported: one run's time varies with its convergence, the set's score is
what is bounded), throughput, epochs (against MLPerf's RCP at the run's global batch, reported) and
eval_time; a throughput run reports img/s and the score projected from its log (``projection``).

Variants (parameters): ``num_nodes`` 1/2/4; ``implementation`` ``bundled`` (this project's
workload) or ``nvidia-v0.7`` (a site's build of NVIDIA's v0.7 code); ``mode``
``time-to-train`` (the full run) or ``throughput`` (a fixed number of iterations: img/s and a
projected score); ``run_index`` 0..4, of which the first ``runs`` are loaded.

How a site uses it: subclass it in ``checks/`` with ``valid_systems``; everything else (nodes,
GPUs, data set, images, recipes, account, time limits) is read from the partition's config.
Knobs are variables, overridable with ``-S``. Command lines come from ``launch``, the reading
of a failed job's output from ``job_end``, the set-up functions from ``hooks``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import reframe as rfm
import reframe.utility.sanity as sn
import reframe.utility.typecheck as typ
from reframe.core.builtins import parameter, performance_function, run_after, run_before, sanity_function, variable

from mlperf_maskrcnn import recipe as recipes

from .. import containers
from ..mlperf import analysis, parse, projection, rcp
from ..mlperf.score import RUNS_FOR_SCORE
from . import hooks, launch, mlperf_set, sanity
from .base import SuiteTest
from .constants import (
    ENV_FEATURE_MASKRCNN,
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

# A time-to-train run's limit where config/ names none (the DGX-1 at 9-13 img/s per V100 needs
# 10 h; a throughput run takes minutes).
DEFAULT_RUN_LIMIT = "10h"
THROUGHPUT_LIMIT = "1h"


class MaskRCNNTraining(rfm.RunOnlyRegressionTest, SuiteTest):
    """MLPerf v0.7 Mask R-CNN training to target, judged by its MLPerf log (see module docs)."""

    num_nodes = parameter(list(NODE_COUNTS))
    implementation = parameter(list(IMPLEMENTATIONS))
    mode = parameter(list(MODES))
    #: which run of a set this is (0..4: a v0.7 score takes 5); only the first ``runs`` are loaded
    run_index = parameter(list(range(RUNS_FOR_SCORE)))

    #: runs of each variant in the session: 1, or up to 5 for a v0.7 score (``-S MaskRCNNBenchmark.runs=5``)
    runs = variable(int, value=1)

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
    #: epochs to target for the projection of a throughput run (0: MLPerf's RCP at the run's global batch)
    projected_epochs = variable(int, float, value=0)
    #: seconds a rank may make no progress (a collective waiting for a dead peer) before the run fails
    dist_timeout = variable(int, value=300)
    #: progress line every N iterations
    print_every = variable(int, value=20)
    #: run the official compliance checker in sanity
    check_compliance = variable(typ.Bool, value=True)
    #: seed (-1: the trainer draws one and logs it)
    seed = variable(int, value=-1)
    #: the job's time limit ('': the partition's extras time_limits for this node count)
    run_time_limit = variable(str, value="")
    #: bind each GPU's rank to its share of the cores of the GPU's socket (srun --cpu-bind)
    cpu_bind = variable(typ.Bool, value=True)
    #: the srun binding used, or why there is none (set in setup; logged)
    binding = variable(str, value="")
    #: sha256 of the container image (set in setup; logged, shown in the report)
    image_digest = variable(str, value="")
    #: the MLPerf log's file name in the test's stage and output folders (set in setup; the report reads it)
    mlperf_log = variable(str, value="")
    #: submission_org in the log
    org = variable(str, value="ThaiSC")

    valid_prog_environs = [f"+{ENV_FEATURE_MASKRCNN}"]
    exclusive_access = True

    @run_after("init")
    def keep_asked_runs(self):
        # ReFrame does not load a test that skips itself here: the session holds `runs` runs.
        if not 1 <= self.runs <= RUNS_FOR_SCORE:
            raise ValueError(f"runs={self.runs}: ask for 1 to {RUNS_FOR_SCORE} runs (a v0.7 score takes 5)")
        if self.run_index >= self.runs:
            self.skip(f"run_index {self.run_index}: {self.runs} run(s) asked for")

    @run_after("init")
    def tag_suites(self):
        # The acceptance suite is the 4-node MLPerf run; throughput runs form the benchmark suite.
        if self.num_nodes == 4 and self.mode == "time-to-train":
            self.tags |= {TAG_ACCEPTANCE}
        if self.mode == "throughput":
            self.tags |= {TAG_BENCHMARK}

    # ---- set-up: everything from the partition's description ----------------------------------
    @run_after("setup")
    def choose_layout(self):
        self.layout = hooks.set_layout(self, self.num_nodes)
        if not self.recipe:
            name, why = hooks.recipe_for(self.current_partition, self.num_nodes)
            if name is None:
                self.skip_because(why)
            self.recipe = name

    @run_after("setup")
    def locate_inputs(self):
        part, env = self.current_partition, self.current_environ
        default = self.data_dir or self.default_data_dir()
        self.data_dir = self.data_folder(hooks.site_value(part, env, EXTRA_COCO, default), f"'{EXTRA_COCO}' data set")
        image_key = EXTRA_IMAGE_BUNDLED if self.implementation == "bundled" else EXTRA_IMAGE_NVIDIA
        self.image = hooks.site_value(part, env, image_key, self.image)
        if self.image and (why := hooks.image_problem(part, self.image)):
            self.skip_because(why)
        if self.implementation == "nvidia-v0.7":
            self.nvidia_checkout = hooks.site_value(part, env, EXTRA_NVIDIA_CHECKOUT, self.nvidia_checkout)
            if not self.nvidia_checkout:
                self.skip_because(
                    f"no NVIDIA v0.7 checkout for {part.fullname}: set extras '{EXTRA_NVIDIA_CHECKOUT}' or "
                    "-S nvidia_checkout=PATH (NVIDIA/benchmarks/maskrcnn/implementations/pytorch of "
                    "mlcommons/training_results_v0.7, built in the NGC 20.06 image)"
                )
            why = hooks.nvidia_checkout_problem(self.nvidia_checkout)
            if why:
                self.skip_because(why)
            if not self.image:
                self.skip_because(
                    f"the NVIDIA path needs its image: set extras '{EXTRA_IMAGE_NVIDIA}' or -S image=PATH"
                )
        if self.image:
            self.image_digest = hooks.image_digest(part, self.image)
        kinds = ["SYNTHETIC data"] * (self.data_dir == self.default_data_dir())
        kinds += [f"open-division recipe {self.recipe}"] * (self.recipe_spec().division != "closed")
        self.banner = f"not an MLPerf result: {', '.join(kinds)}" if kinds else ""

    @run_after("setup")
    def name_log(self):
        # The bundled trainer writes its own log; NVIDIA's logs to stdout, as in its results.
        self.mlperf_log = launch.LOG_NAME if self.implementation == "bundled" else str(self.stdout.evaluate())
        self.keep_files = [self.mlperf_log]

    def default_data_dir(self) -> str:
        """Subclasses with a synthetic fixture return its folder (``synthetic.SyntheticData``)."""
        return ""

    @run_after("setup")
    def set_limits(self):
        if self.mode == "throughput":
            limit = self.run_time_limit or THROUGHPUT_LIMIT
        else:
            limit = self.run_time_limit or hooks.run_time_limit(
                self.current_partition, self.num_nodes, DEFAULT_RUN_LIMIT
            )
        hooks.set_time_limit(self, limit)
        hooks.set_references(
            self, "maskrcnn", nodes=self.num_nodes, implementation=self.implementation, mode=self.mode
        )

    @run_after("setup")
    def compare_epochs_with_rcp(self):
        # A closed recipe's RCP is known before the run (a dry run shows it); after the run, the
        # global batch its log gives replaces it (select_perf_variables).
        found = mlperf_set.recipe_rcp(self.recipe) if self.mode == "time-to-train" else None
        if found is not None:
            mlperf_set.rcp_band(self, "epochs", found, bounded=False)

    # ---- the job ------------------------------------------------------------------------------
    @run_before("run")
    def build_command(self):
        part = self.current_partition
        in_container = bool(self.image)
        python = hooks.workload_python(part, self.implementation, in_container)
        data = launch.CONTAINER_DATA if in_container else self.data_dir
        weights = self.weights_file or f"{data}/models/R-50.pkl"
        if self.implementation == "bundled":
            argv = launch.bundled_train_argv(
                python,
                self.recipe,
                data,
                weights,
                self.print_every,
                self.dist_timeout,
                cpu_threads=None if self.layout.gpus_per_node else hooks.cpu_threads_per_rank(part, self.layout),
                throughput_iters=self.throughput_iters if self.mode == "throughput" else None,
                seed=self.seed if self.seed >= 0 else None,
            )
        else:
            max_iter = self.throughput_iters if self.mode == "throughput" else self.recipe_spec().max_iter
            argv = launch.nvidia_train_argv(python, self.recipe_spec(), weights, max_iter)
        if in_container:
            argv = self.container_argv() + argv
        self.executable = shlex.join(argv)
        self.executable_opts = []
        self.job.launcher.options += list(part.extras.get(EXTRA_SRUN_OPTIONS, []))
        self.job.launcher.options += self.binding_options()
        self.prerun_cmds = launch.cache_clear_lines(
            part.extras.get(EXTRA_CACHE_CLEAR, ""), self.num_nodes, hooks.uses_srun(self)
        )
        if self.implementation == "nvidia-v0.7":
            self.prerun_cmds += launch.nvidia_prologue(
                self.org, self.recipe_spec().division, self.platform_name(), hooks.uses_srun(self)
            )
        hooks.require_account(self)

    def container_argv(self) -> list[str]:
        """The image around the command (``hooks.container_command``: Singularity/Apptainer words before
        it, or pyxis's srun options): data and checkout read-only, the site's NCCL network."""
        roots = launch.NVIDIA_DATA_ROOTS if self.implementation == "nvidia-v0.7" else (launch.CONTAINER_DATA,)
        binds = containers.data_mounts(self.data_dir, roots)
        if self.nvidia_checkout:
            binds.append((self.nvidia_checkout, launch.NVIDIA_WORKSPACE))
        return hooks.container_command(self, self.image, binds, self.layout.gpus_per_node > 0)

    def binding_options(self) -> list[str]:
        """srun's per-rank core masks on GPU nodes (see hooks.gpu_core_masks, sanity.binding)."""
        masks, why = hooks.gpu_core_masks(self.current_partition, self.layout)
        self.binding, options = sanity.binding(self.cpu_bind, masks, why, hooks.uses_srun(self))
        return options

    def recipe_spec(self) -> recipes.Recipe:
        """The recipe's hyperparameters and rules (mlperf_maskrcnn.recipe is torch-free)."""
        return recipes.load(self.recipe)

    def platform_name(self) -> str:
        devices = self.current_partition.select_devices("gpu")
        model = devices[0].model if devices and getattr(devices[0], "model", None) else "CPU"
        return f"{self.num_nodes}x{self.current_partition.fullname} ({self.layout.tasks_per_node}x {model})"

    # ---- judging: only from the MLPerf log ---------------------------------------------------------
    @property
    def mlperf_log_path(self) -> Path:
        return Path(self.stagedir) / self.mlperf_log

    def parsed_log(self) -> parse.ParsedLog:
        """The MLPerf log, read once for every judge of it (summary, projection)."""
        if getattr(self, "_parsed", None) is None:
            self._parsed = parse.parse(self.mlperf_log_path)
        return self._parsed

    def summary(self) -> analysis.RunSummary:
        if getattr(self, "_summary", None) is None:
            self._summary = analysis.summarize(self.parsed_log())
        return self._summary

    def verdicts(self) -> list[tuple[bool, str]]:
        """(passed, reason) for each criterion, in the order a reader needs them (sanity.run_verdicts)."""
        log = self.mlperf_log_path
        summary = self.summary() if log.is_file() else None
        return sanity.run_verdicts(log, summary, self.mode, self.check_compliance, self.job_end_hint)

    def job_end_hint(self) -> str:
        """Why the job ended early, from what the launcher, the scheduler and the ranks printed."""
        from .job_end import job_end_reason

        texts = []
        for name in (self.stderr.evaluate(), self.stdout.evaluate()):
            path = Path(self.stagedir) / str(name)
            texts.append(path.read_text(errors="replace") if path.is_file() else "")
        return job_end_reason("\n".join(texts))

    @sanity_function
    def assert_run(self):
        failed = sanity.failures(self.verdicts())
        return sn.assert_true(not failed, msg="; ".join(failed) or "ok")

    @performance_function("min")
    def time_to_train(self):
        return self.summary().time_to_train_min

    @performance_function("img/s")
    def throughput(self):
        return sanity.run_throughput(self.summary())

    @performance_function("epochs")
    def epochs(self):
        return self.summary().epochs_to_target

    @performance_function("s")
    def eval_time(self):
        return self.summary().eval_time_s or 0.0

    @performance_function("min")
    def projected_time_to_train(self):
        """The v0.7 score projected from the whole (short) log of a throughput run."""
        epochs = self.projected_epochs or None
        return projection.project(self.parsed_log(), minutes=None, epochs=epochs).projected_min

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
            # A run's epochs against MLPerf's RCP at its global batch, reported: one run may need
            # more (NVIDIA's 4x DGX A100 needed 17 once); the set's mean is judged (MaskRCNNScore).
            found = None if self.is_dry_run() else rcp.for_summary(self.summary())
            if found is not None:
                mlperf_set.rcp_band(self, "epochs", found, bounded=False)
