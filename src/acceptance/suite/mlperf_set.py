"""The MLPerf v0.7 score of a set of Mask R-CNN runs: a ReFrame test that depends on the runs.

What it measures: the figure MLPerf v0.7 publishes, the olympic mean of 5 runs' times to train
(the fastest and the slowest dropped; ``score.olympic``, the rules ``acceptance score`` applies),
for one system:partition, node count, implementation and recipe. The score is what is judged
against the reference; each run is judged on its own sanity (converged, compliant, log intact).

The design, as ReFrame offers it:

- The runs are the library run test's variants (``maskrcnn.MaskRCNNTraining``): a parameter
  ``run_index`` (0..4) and a variable ``runs`` (default 1). A variant whose ``run_index`` is not
  below ``runs`` skips itself in a post-init hook, which ReFrame answers by not loading it, so a
  session holds each variant ``runs`` times as distinct test cases: ``%run_index=2`` in the names
  the perflog, the performance report and the JSON run report show, a stage folder each.
  ``-S MaskRCNNBenchmark.runs=5`` asks for a score's five runs; ``--mode acceptance`` passes it.
  Not ``--repeat``: its index is not loggable, so perflog records of the runs look alike, and it
  regenerates the tests under names a dependency cannot know in advance. Not ``-P run_index=...``:
  it regenerates every selected test too (the same problem for the dependencies), and on a test
  without ``run_index`` (a system check) it warns, which ``--warn-as-error`` turns into an error.
- The set test (``MaskRCNNScore``, one per node count and implementation, time-to-train) names
  its runs' test class in ``run_test``, finds their variants with ``get_variant_nums`` and
  ``variant_name`` and ``depends_on`` each (``udeps.by_case``: same partition and environment);
  ``getdep`` hands it their finished test objects, whose MLPerf log summaries, recipe and global
  batch it reads. Its own job is a local ``true``. Sanity: the set can be scored (same recipe and
  global batch, no refused log, no log twice). Performance: ``score`` against the reference;
  ``epochs``, the set's mean epochs to target against the RCP band at its global batch
  (``rcp.judge_set``: below it converges faster than the reference can, far above it points at
  the system's numerics); ``dropped_fastest`` and ``dropped_slowest``, the dropped runs' minutes.
  ``score_note`` and ``rcp_note`` (logged, in the JSON report) name the runs used and dropped and
  the RCP numbers.
- ReFrame starts a test only after all its dependencies passed: a set with a run that failed its
  sanity (one not converged, say) is skipped with "dependencies failed", and that run has failed
  the acceptance already. MLPerf would still score it (one non-converged run counts as the
  slowest): ``sets.report_rows`` computes that score from the runs' logs for the acceptance
  report, with the same ``score.olympic``.

A site subclasses it in ``checks/`` naming ``run_test``; systems, environments and tags follow the
run test's.
"""

from __future__ import annotations

import reframe as rfm
import reframe.utility.sanity as sn
import reframe.utility.typecheck as typ
import reframe.utility.udeps as udeps
from reframe.core.builtins import parameter, performance_function, run_after, run_before, sanity_function, variable

from mlperf_maskrcnn import recipe as recipes

from ..mlperf import rcp
from ..mlperf import score as scoring
from ..mlperf.analysis import RunSummary
from ..mlperf.sets import TIME_TO_TRAIN, describe
from . import hooks, sanity
from .base import SuiteTest
from .constants import ENV_FEATURE_MASKRCNN, IMPLEMENTATIONS, NODE_COUNTS, TAG_ACCEPTANCE


def set_reference(test, var: str, value: float, lower: float | None, upper: float | None, unit: str) -> None:
    """Bound (or only report) one performance variable on the test's partition, replacing what
    ``resources/references`` gave it: for figures whose reference is known only after the run."""
    test.reference[f"{test.current_partition.fullname}:{var}"] = (value, lower, upper, unit)


def rcp_band(test, var: str, found: rcp.Rcp, bounded: bool) -> None:
    """``var`` (epochs) against the RCP mean: bounded by the band a set may average, or reported."""
    if bounded:
        set_reference(test, var, found.mean, found.min_epochs / found.mean - 1.0, rcp.SLOW_FACTOR - 1.0, "epochs")
    else:
        set_reference(test, var, found.mean, None, None, "epochs")


def recipe_rcp(name: str) -> rcp.Rcp | None:
    """The RCP a run of this recipe is compared with, known before it runs (dry runs show it):
    closed recipes only; ``None`` for an open recipe, or a name that is no recipe (the run says so)."""
    try:
        spec = recipes.load(name)
    except (recipes.RecipeError, OSError):
        return None
    return rcp.at(spec.global_batch) if spec.division == "closed" else None


class MaskRCNNScore(rfm.RunOnlyRegressionTest, SuiteTest):
    """The olympic mean of a set of Mask R-CNN runs, judged against the reference (module docs)."""

    num_nodes = parameter(list(NODE_COUNTS))
    implementation = parameter(list(IMPLEMENTATIONS))

    #: the recipe the set's runs used (set in sanity; logged)
    recipe = variable(str, value="")
    #: the runs of the set, by their ReFrame names (set in init; logged)
    run_names = variable(typ.List[str], value=[])
    #: the score in words: runs averaged, runs dropped and why (set in performance; logged)
    score_note = variable(str, value="")
    #: the set's mean epochs against MLPerf's RCP (set in performance; logged)
    rcp_note = variable(str, value="")

    #: whether a mean of fewer than five runs (provisional, not a v0.7 score) may pass
    provisional_ok = variable(bool, value=False)
    #: the mode of the runs it scores (logged, as the runs log theirs)
    mode = variable(str, value=TIME_TO_TRAIN)

    #: the runs' test class (a site check, e.g. MaskRCNNBenchmark); set by the subclass
    run_test = None
    valid_prog_environs = [f"+{ENV_FEATURE_MASKRCNN}"]
    local = True
    executable = "true"

    @run_after("init")
    def depend_on_runs(self):
        runs_cls = self.run_test
        asked = runs_cls.runs
        if asked < 2:
            self.skip(f"{runs_cls.__name__}.runs is {asked}: no set to score")
        variants = runs_cls.get_variant_nums(
            num_nodes=lambda n: n == self.num_nodes,
            implementation=lambda i: i == self.implementation,
            mode=lambda m: m == TIME_TO_TRAIN,
            run_index=lambda i: i < asked,
        )
        if not variants:
            self.skip(f"{runs_cls.__name__} has no {self.num_nodes}-node {self.implementation} runs")
        self.run_names = [runs_cls.variant_name(v) for v in variants]
        for name in self.run_names:
            self.depends_on(name, udeps.by_case)
        self.valid_systems = list(runs_cls.valid_systems)
        self.tags |= set(runs_cls.tags)
        if self.num_nodes == 4:
            self.tags |= {TAG_ACCEPTANCE}

    @run_after("setup")
    def set_references(self):
        hooks.set_references(
            self, "maskrcnn", nodes=self.num_nodes, implementation=self.implementation, mode=TIME_TO_TRAIN
        )
        # The RCP band of the runs' recipe; after the runs, the batch their logs give replaces it.
        found = recipe_rcp(self.runs()[0].recipe)
        if found is not None:
            rcp_band(self, "epochs", found, bounded=True)

    def runs(self) -> list:
        """The set's finished run tests, in run_index order."""
        return sorted((self.getdep(name) for name in self.run_names), key=lambda t: t.run_index)

    def summaries(self) -> list[RunSummary]:
        return [run.summary() for run in self.runs()]

    def result(self) -> scoring.Score:
        if getattr(self, "_result", None) is None:
            self._result = scoring.olympic(self.summaries())
        return self._result

    @sanity_function
    def assert_scorable(self):
        recipes = [run.recipe for run in self.runs()]
        self.recipe = min(recipes, default="")
        batches = [str(s.hyperparameters.get("global_batch_size")) for s in self.summaries()]
        problems = sanity.set_problems(recipes, batches, self.result(), self.provisional_ok)
        return sn.assert_true(not problems, msg="; ".join(problems) or "ok")

    @performance_function("min")
    def score(self):
        return self.result().value

    @performance_function("epochs")
    def epochs(self):
        return rcp.set_mean([s.epochs_to_target for s in self.summaries()])

    def dropped(self, why: str) -> float | None:
        minutes = {s.path: s.time_to_train_min for s in self.summaries()}
        return sanity.dropped_minutes(self.result(), minutes, why)

    @performance_function("min")
    def dropped_fastest(self):
        return self.dropped("fastest")

    @performance_function("min")
    def dropped_slowest(self):
        return self.dropped("slowest")

    @run_before("performance")
    def select_perf_variables(self):
        where = self.current_partition.fullname
        self.perf_variables = {"score": self.score()}
        if self.is_dry_run():  # nothing ran: the score and the RCP band, as the reference gives them
            if f"{where}:epochs" in self.reference:
                self.perf_variables["epochs"] = self.epochs()
            return
        runs, summaries, result = self.runs(), self.summaries(), self.result()
        names = {s.path: f"run {run.run_index}" for run, s in zip(runs, summaries)}
        self.score_note = describe(result, names, {s.path: s.time_to_train_min for s in summaries})
        found = rcp.for_summary(summaries[0])
        if found is not None:
            verdict = rcp.judge_set([s.epochs_to_target for s in summaries], found.batch)
            self.rcp_note = verdict.message
            rcp_band(self, "epochs", found, bounded=True)
        else:
            self.rcp_note = "no MLPerf RCP applies (not a closed COCO run, or a batch above the RCP table)"
        if f"{where}:epochs" in self.reference:
            self.perf_variables["epochs"] = self.epochs()
        if result.valid:
            # The dropped runs' minutes are reported next to the score's reference, never bounded.
            score_ref = self.reference[f"{where}:score"][0] if f"{where}:score" in self.reference else 0.0
            for var in ("dropped_fastest", "dropped_slowest"):
                set_reference(self, var, score_ref, None, None, "min")
                self.perf_variables[var] = getattr(self, var)()
