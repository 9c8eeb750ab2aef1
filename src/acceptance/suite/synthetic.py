"""A SYNTHETIC COCO-2017-shaped tree and R-50.pkl for smoke runs (there is no COCO here), made once
per session by a fixture, and the one mixin through which smoke checks use it."""

from __future__ import annotations

import os
import shlex
import sys

import reframe as rfm
import reframe.utility.sanity as sn
from reframe.core.builtins import fixture, sanity_function, variable
from reframe.core.pipeline import RegressionTestPlugin


class SyntheticCoco(rfm.RunOnlyRegressionTest):
    """Writes ``coco/`` in its stage folder with ``python -m mlperf_maskrcnn synth``."""

    train_images = variable(int, value=32)
    val_images = variable(int, value=8)
    valid_systems = ["*"]
    valid_prog_environs = ["*"]
    local = True

    @property
    def root(self) -> str:
        return os.path.join(self.stagedir, "coco")

    def __init__(self):
        # Runs where ReFrame runs (local = True): the suite's own interpreter, named explicitly.
        self.executable = shlex.join(
            [sys.executable, "-m", "mlperf_maskrcnn", "synth", "--out", "coco"]
            + ["--train-images", str(self.train_images), "--val-images", str(self.val_images)]
        )

    @sanity_function
    def tree_written(self):
        return sn.assert_true(
            os.path.isfile(os.path.join(self.root, "models", "R-50.pkl"))
            and os.path.isfile(os.path.join(self.root, "annotations", "instances_val2017.json")),
            msg=f"synthetic COCO tree was not written in {self.root} (see the job's output)",
        )


class SyntheticData(RegressionTestPlugin):
    """For checks on partitions without COCO: their data folder is the session's synthetic tree.
    List it before the library test among the bases, so that its ``default_data_dir`` wins."""

    synthetic = fixture(SyntheticCoco, scope="session")

    def default_data_dir(self) -> str:
        return self.synthetic.root

