"""Says why a partition runs no Mask R-CNN check, where ReFrame alone would print "Ran 0/0"."""

from __future__ import annotations

import reframe as rfm
import reframe.utility.sanity as sn
from reframe.core.builtins import run_after, sanity_function

from .base import SuiteTest
from .constants import DATA_FEATURES, ENV_FEATURE_MASKRCNN, TAG_ACCEPTANCE, TAG_BENCHMARK, TAG_SMOKE, TAG_SYSTEM


def coverage_problems(features: set[str], environ_features: set[str], partition: str, environ: str) -> list[str]:
    """Why the suite's Mask R-CNN check would not run on ``partition`` in ``environ`` (empty
    when it would)."""
    problems = []
    if ENV_FEATURE_MASKRCNN not in environ_features:
        problems.append(
            f"environment '{environ}' lacks the feature '{ENV_FEATURE_MASKRCNN}': no check of the suite runs in it"
        )
    if not features & set(DATA_FEATURES):
        problems.append(
            f"{partition} has neither of the features {list(DATA_FEATURES)}: the Mask R-CNN check does not run "
            "there (add 'coco' with extras 'coco_dir', or 'synthetic-data'; README 'Adding a system')"
        )
    return problems


class SuiteCoverage(rfm.RunOnlyRegressionTest, SuiteTest):
    """Fails, naming the missing feature or environment, on a partition where the suite's Mask
    R-CNN check cannot run; passes where it can. Runs in every suite, in seconds, on the host."""

    valid_systems = ["*"]
    valid_prog_environs = ["*"]
    local = True
    executable = "true"
    tags = {TAG_ACCEPTANCE, TAG_BENCHMARK, TAG_SMOKE, TAG_SYSTEM}

    @run_after("setup")
    def find_problems(self):
        part, env = self.current_partition, self.current_environ
        self.problems = coverage_problems(set(part.features), set(env.features), part.fullname, env.name)

    @sanity_function
    def covered(self):
        return sn.assert_true(not self.problems, msg="; ".join(self.problems))
