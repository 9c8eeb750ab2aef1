"""System checks an MLPerf run depends on (library tests: acceptance.suite.system_checks).

Which partitions run which check follows from their features in config/; the references are in
resources/references/system.yaml.
"""

import reframe as rfm

from acceptance.suite.constants import (
    FEATURE_COCO,
    FEATURE_CONTAINERS,
    FEATURE_GPU,
    FEATURE_SYNTHETIC,
    TAG_ACCEPTANCE,
    TAG_SMOKE,
    TAG_SYSTEM,
)
from acceptance.suite.coverage import SuiteCoverage
from acceptance.suite.synthetic import SyntheticData
from acceptance.suite.system_checks import AllreduceBandwidth, CocoManifest, ContainerStarts, GpusVisible, LoaderRate


@rfm.simple_test
class GpusVisibleCheck(GpusVisible):
    descr = "Every node of an allocation sees the partition's GPU model and count"
    valid_systems = [f"+{FEATURE_GPU}"]


@rfm.simple_test
class AllreduceCheck(AllreduceBandwidth):
    descr = "All-reduce bus bandwidth across the nodes; no TCP-socket fallback between GPU nodes"
    valid_systems = ["*"]
    tags = {TAG_SYSTEM, TAG_ACCEPTANCE, TAG_SMOKE}


@rfm.simple_test
class ContainerCheck(ContainerStarts):
    descr = "The workload image starts and has kernels for the node's GPUs"
    valid_systems = [f"+{FEATURE_CONTAINERS}"]


@rfm.simple_test
class CocoManifestCheck(CocoManifest):
    descr = "The COCO 2017 tree matches the manifest (counts, checksums, every image whole)"
    valid_systems = [f"+{FEATURE_COCO}"]


@rfm.simple_test
class LoaderRateCheck(LoaderRate):
    descr = "Training images per second from one node's data pipeline"
    valid_systems = [f"+{FEATURE_COCO}"]


@rfm.simple_test
class LoaderRateSmoke(SyntheticData, LoaderRate):
    """The same measurement on the synthetic set where there is no COCO."""

    descr = "Training images per second from one node's data pipeline (SYNTHETIC data)"
    valid_systems = [f"+{FEATURE_SYNTHETIC}"]
    images = 32
    tags = {TAG_SYSTEM, TAG_SMOKE}


@rfm.simple_test
class SuiteCoverageCheck(SuiteCoverage):
    descr = "The partition runs the Mask R-CNN check (it names a data feature and the suite's environment)"
