"""MLPerf Training v0.7 Mask R-CNN: the site checks (the library test is acceptance.suite.maskrcnn).

Which partitions run what is decided by their features in config/:
- ``+coco``: a real COCO 2017 tree: the full benchmark (time-to-train and throughput).
- ``+synthetic-data``: no COCO (a laptop, CI): the same check at smoke scale on a synthetic set
  made once per session.
"""

import reframe as rfm
from reframe.core.builtins import parameter

from acceptance.suite.constants import FEATURE_COCO, FEATURE_SYNTHETIC, TAG_SMOKE
from acceptance.suite.maskrcnn import MaskRCNNTraining
from acceptance.suite.synthetic import SyntheticData


@rfm.simple_test
class MaskRCNNBenchmark(MaskRCNNTraining):
    """The MLPerf run on the site's COCO 2017 (``extras.coco_dir``), bundled or NVIDIA's code."""

    descr = "MLPerf v0.7 Mask R-CNN to BBOX 0.377 / SEGM 0.339 on COCO 2017, judged by its MLPerf log"
    valid_systems = [f"+{FEATURE_COCO}"]


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
    tags = {TAG_SMOKE}
