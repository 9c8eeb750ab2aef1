"""MLPerf's Reference Convergence Points for Mask R-CNN: epochs-to-target expected at a global batch.

The data is mlperf-logging's own (``mlperf_logging/rcp_checker/training_<ruleset>/rcps_maskrcnn.json``,
read where the package is installed, never copied). RCPs start with MLPerf Training 1.0.0, whose
Mask R-CNN rules kept v0.7's quality targets; applied to a v0.7 run they are a plausibility check,
not a rule of v0.7. The numbers follow ``mlperf_logging.rcp_checker`` as the package checker runs it
(``pruned_rcps``):

- per batch: the mean of the reference runs' epochs without the fastest and the slowest (olympic),
  their standard deviation (population), and the smallest mean a 5-run submission may have: where
  a one-sided t-test (alpha 0.05, equal variances; the reference's runs less 2 against the 3
  runs a score keeps) stops telling it apart from the reference mean;
- pruning: batches below the fastest-converging one are dropped, and so is any batch converging
  slower than the straight line between its neighbours (at 1.0.0: 96 and 256);
- between two kept batches, mean and deviation are interpolated linearly (the t-test then counts
  10 reference runs); below the smallest batch its RCP applies (a smaller batch may not converge
  faster); above the largest there is none.

The suite adds an upper flag: a set converging more than ``SLOW_FACTOR`` times the RCP mean is far
slower than the reference (numerics on the system); every published v0.7 set lies within 5% of it.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from .analysis import COCO_TRAIN_FILTERED, RunSummary
from .parse import is_number
from .score import RUNS_FOR_SCORE as SCORE_RUNS

RULESET = "1.0.0"
# The one-sided t-test rcp_checker applies, and the runs of a v0.7 score it compares.
ALPHA = 0.05
# A set whose mean epochs exceed the RCP mean by this factor is flagged as converging far too
# slowly. NVIDIA's v0.7 sets (4x DGX A100 included: 14.67 epochs at RCP 14) stay within 1.05.
SLOW_FACTOR = 1.2


@dataclass(frozen=True)
class Record:
    """One batch size of the reference: its runs' epochs and the statistics rcp_checker derives."""

    batch: int
    epochs: tuple[int, ...]
    mean: float
    stdev: float
    min_epochs: float


@dataclass(frozen=True)
class Rcp:
    """The reference convergence at one global batch, and how it was found."""

    batch: int
    mean: float
    stdev: float
    min_epochs: float  # the smallest mean epochs of a 5-run set that passes rcp_checker
    how: str  # "RCP at batch 128", "interpolated between batch 64 and 128", ...
    source: str  # the data file

    @property
    def max_epochs(self) -> float:
        """The mean epochs above which a set is flagged as far too slow (``SLOW_FACTOR``)."""
        return self.mean * SLOW_FACTOR

    def describe(self) -> str:
        return (
            f"MLPerf training {RULESET} RCP for Mask R-CNN at global batch {self.batch} ({self.how}): "
            f"{self.mean:.2f} epochs, a 5-run set may average {self.min_epochs:.2f} to {self.max_epochs:.2f}"
        )


@dataclass(frozen=True)
class SetVerdict:
    """A set's mean epochs against the RCP: within, below (too fast) or above (too slow)."""

    epochs: float | None  # the set's mean epochs (None: too few runs converged)
    rcp: Rcp | None
    verdict: str  # "within", "below", "above", "no RCP", "no mean"
    message: str

    @property
    def flagged(self) -> bool:
        return self.verdict in ("below", "above")


def data_file(ruleset: str = RULESET) -> Path:
    """mlperf-logging's RCP file for Mask R-CNN (the installed package's data)."""
    import mlperf_logging.rcp_checker as checker

    path = Path(checker.__file__).parent / f"training_{ruleset}" / "rcps_maskrcnn.json"
    if not path.is_file():
        raise ValueError(f"{path}: mlperf-logging has no Mask R-CNN RCPs for training {ruleset}")
    return path


def _t_quantile(df: int) -> float:
    from scipy.stats import t  # scipy comes with mlperf-logging; imported only when needed

    return float(t.ppf(1.0 - ALPHA, df))


def min_acceptable_mean(mean: float, stdev: float, reference_runs: int) -> float:
    """The smallest mean epochs of a set that the one-sided t-test still accepts: the reference's
    ``reference_runs`` against the ``SCORE_RUNS - 2`` runs a score keeps, the same deviation for
    both (rcp_checker finds the same point by bisection)."""
    if stdev == 0:
        return mean
    kept = SCORE_RUNS - 2
    return mean - _t_quantile(reference_runs + kept - 2) * stdev * math.sqrt(1 / reference_runs + 1 / kept)


def records(ruleset: str = RULESET) -> list[Record]:
    """The reference's batches with their statistics, before pruning, by batch size."""
    path = data_file(ruleset)
    try:
        raw = json.loads(path.read_text())
        found = []
        for entry in raw.values():
            epochs = tuple(sorted(int(e) for e in entry["Epochs to converge"]))
            mean = statistics.fmean(epochs[1:-1])
            stdev = statistics.pstdev(epochs)
            minimum = min_acceptable_mean(mean, stdev, len(epochs) - 2)
            found.append(Record(int(entry["BS"]), epochs, mean, stdev, minimum))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: not an RCP file mlperf-logging would read ({err!r})") from err
    return sorted(found, key=lambda r: r.batch)


def _line(batch: float, low: Record, high: Record, low_value: float, high_value: float) -> float:
    return low_value + (high_value - low_value) * (batch - low.batch) / (high.batch - low.batch)


def pruned(all_records: list[Record]) -> list[Record]:
    """The batches rcp_checker's ``pruned_rcps`` pass keeps (see the module docstring)."""
    fastest = min(all_records, key=lambda r: r.mean)  # the smallest batch among equally fast ones
    kept = [r for r in all_records if r.batch >= fastest.batch]
    i = 1
    while i < len(kept) - 1:
        low, high = kept[i - 1], kept[i + 1]
        if kept[i].mean > _line(kept[i].batch, low, high, low.mean, high.mean):
            del kept[i]  # its right neighbour moves to i: judged next
            continue
        i += 1
    return kept


def at(batch: int, ruleset: str = RULESET) -> Rcp | None:
    """The RCP for ``batch``: a kept batch's own, interpolated between two, the smallest batch's
    below the table; ``None`` above it."""
    kept = pruned(records(ruleset))
    source = str(data_file(ruleset))
    exact = next((r for r in kept if r.batch == batch), None)
    if exact is not None:
        return Rcp(batch, exact.mean, exact.stdev, exact.min_epochs, f"RCP at batch {batch}", source)
    below = [r for r in kept if r.batch < batch]
    above = [r for r in kept if r.batch > batch]
    if below and above:
        low, high = below[-1], above[0]
        mean = _line(batch, low, high, low.mean, high.mean)
        stdev = _line(batch, low, high, low.stdev, high.stdev)
        # rcp_checker counts an interpolated point as 2 x 5 reference runs
        minimum = min_acceptable_mean(mean, stdev, 2 * SCORE_RUNS)
        return Rcp(batch, mean, stdev, minimum, f"interpolated between batch {low.batch} and {high.batch}", source)
    if above:
        low = above[0]
        how = f"the batch-{low.batch} RCP: no smaller batch may converge faster"
        return Rcp(batch, low.mean, low.stdev, low.min_epochs, how, source)
    return None


def for_summary(run: RunSummary, ruleset: str = RULESET) -> Rcp | None:
    """The RCP at a run's global batch; ``None`` unless it is a closed COCO run (an open recipe or a
    synthetic set converges on its own terms) or when the batch lies above the table."""
    batch = run.hyperparameters.get("global_batch_size")
    if run.train_images != COCO_TRAIN_FILTERED or not (is_number(batch) and batch > 0):
        return None
    return at(int(batch), ruleset)


def set_mean(epochs: list[int | None]) -> float | None:
    """A set's mean epochs as rcp_checker takes it: a run that did not converge counts as infinitely
    slow; of 5 runs the fastest and the slowest are dropped; two or more failures give none. A set
    of fewer runs (provisional) averages its converged runs."""
    failed = sum(1 for e in epochs if e is None)
    done = sorted(float(e) for e in epochs if e is not None)
    if len(epochs) >= SCORE_RUNS:
        if failed > 1:
            return None
        ordered = done + [math.inf] * failed
        return statistics.fmean(ordered[1:-1])
    return statistics.fmean(done) if done else None


def judge_set(epochs: list[int | None], batch: int, ruleset: str = RULESET) -> SetVerdict:
    """The set's mean epochs against the RCP at its global batch, with the numbers."""
    mean = set_mean(epochs)
    rcp = at(batch, ruleset)
    listed = ", ".join("-" if e is None else str(e) for e in epochs)
    if rcp is None:
        return SetVerdict(mean, None, "no RCP", f"no MLPerf RCP above global batch {batch} (training {ruleset})")
    if mean is None:
        return SetVerdict(None, rcp, "no mean", f"epochs {listed}: too few runs converged for a mean")
    numbers = f"mean epochs {mean:.2f} (runs: {listed}); {rcp.describe()}"
    if mean < rcp.min_epochs - 1e-9:
        why = "faster than the reference converges: look for a hyperparameter or evaluation error"
        return SetVerdict(mean, rcp, "below", f"below the RCP range: {numbers}; {why}")
    if mean > rcp.max_epochs + 1e-9:
        why = "far slower than the reference converges: look at the system's numerics"
        return SetVerdict(mean, rcp, "above", f"far above the RCP: {numbers}; {why}")
    return SetVerdict(mean, rcp, "within", f"within the RCP range: {numbers}")
