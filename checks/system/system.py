"""System checks an MLPerf run depends on (library tests: acceptance.suite.system_checks).

Which partitions run which check follows from their features in config/; the references are in
resources/references/system.yaml.
"""

import reframe as rfm
from reframe.core.builtins import fixture

from acceptance.suite.constants import (
    FEATURE_COCO,
    FEATURE_CONTAINERS,
    FEATURE_GPU,
    FEATURE_SYNTHETIC,
    TAG_ACCEPTANCE,
    TAG_SMOKE,
    TAG_SYSTEM,
)
from acceptance.suite.synthetic import SyntheticCoco
from acceptance.suite.system_checks import AllreduceBandwidth, CocoManifest, ContainerStarts, GpusVisible, LoaderRate


@rfm.simple_test
class GpusVisibleCheck(GpusVisible):
    valid_systems = [f"+{FEATURE_GPU}"]


@rfm.simple_test
class AllreduceCheck(AllreduceBandwidth):
    valid_systems = ["*"]
    tags = {TAG_SYSTEM, TAG_ACCEPTANCE, TAG_SMOKE}


@rfm.simple_test
class ContainerCheck(ContainerStarts):
    valid_systems = [f"+{FEATURE_CONTAINERS}"]


@rfm.simple_test
class CocoManifestCheck(CocoManifest):
    valid_systems = [f"+{FEATURE_COCO}"]


@rfm.simple_test
class LoaderRateCheck(LoaderRate):
    valid_systems = [f"+{FEATURE_COCO}"]


@rfm.simple_test
class LoaderRateSmoke(LoaderRate):
    """The same measurement on the synthetic set where there is no COCO."""

    valid_systems = [f"+{FEATURE_SYNTHETIC}"]
    synthetic = fixture(SyntheticCoco, scope="session")
    images = 32
    tags = {TAG_SYSTEM, TAG_SMOKE}

    def default_data_dir(self) -> str:
        return self.synthetic.root
