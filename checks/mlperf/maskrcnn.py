"""MLPerf Training v0.7 Mask R-CNN: the site checks (the library tests are acceptance.suite.maskrcnn
and acceptance.suite.mlperf_set).

Which partitions run what is decided by their features in config/:
- ``+coco``: a real COCO 2017 tree: the full benchmark (time-to-train and throughput).
- ``+synthetic-data``: no COCO (a laptop, CI): the same check at smoke scale on a synthetic set
  made once per session.

Each check runs once per variant; ``-S MaskRCNNBenchmark.runs=5`` (``--mode acceptance`` passes
it) runs every variant five times and adds the set tests that score them as MLPerf v0.7 does.
"""

import reframe as rfm
from reframe.core.builtins import parameter

from acceptance.suite.constants import FEATURE_COCO, FEATURE_SYNTHETIC, TAG_SMOKE
from acceptance.suite.maskrcnn import MaskRCNNTraining
from acceptance.suite.mlperf_set import MaskRCNNScore
from acceptance.suite.synthetic import SyntheticData


@rfm.simple_test
class MaskRCNNBenchmark(MaskRCNNTraining):
    """The MLPerf run on the site's COCO 2017 (``extras.coco_dir``), bundled or NVIDIA's code."""

    descr = "MLPerf v0.7 Mask R-CNN to BBOX 0.377 / SEGM 0.339 on COCO 2017, judged by its MLPerf log"
    valid_systems = [f"+{FEATURE_COCO}"]


@rfm.simple_test
class MaskRCNNBenchmarkScore(MaskRCNNScore):
    """The v0.7 score (olympic mean of 5) of MaskRCNNBenchmark's runs of one variant."""

    descr = "MLPerf v0.7 Mask R-CNN score: olympic mean of the runs' times to train, judged against the reference"
    run_test = MaskRCNNBenchmark


@rfm.simple_test
class MaskRCNNSmoke(SyntheticData, MaskRCNNTraining):
    """The same check at smoke scale: synthetic data, the smoke recipe, CPU ranks."""

    descr = "Mask R-CNN smoke run (SYNTHETIC data, open-division smoke recipe): the MLPerf check's whole path"
    valid_systems = [f"+{FEATURE_SYNTHETIC}"]
    implementation = parameter(["bundled"])
    throughput_iters = 10
    print_every = 5
    # A fixed seed keeps CI's smoke run reproducible; -S seed=-1 draws one as an MLPerf run does.
    seed = 1
    run_time_limit = "30m"
    # No RCP applies to the open smoke recipe on synthetic data: it reaches its target in about 5
    # epochs (resources/references, local:default).
    projected_epochs = 5
    tags = {TAG_SMOKE}


@rfm.simple_test
class MaskRCNNSmokeScore(MaskRCNNScore):
    """The smoke runs' set score (``-S MaskRCNNSmoke.runs=N``): the scoring path at smoke scale."""

    descr = "Mask R-CNN smoke set score (SYNTHETIC data): olympic mean of the smoke runs"
    run_test = MaskRCNNSmoke
    provisional_ok = True  # the scoring path at smoke scale, with as few runs as CI can afford
