"""Session fixture: a SYNTHETIC COCO-2017-shaped tree and R-50.pkl for smoke runs (no COCO here)."""

from __future__ import annotations

import os

import reframe as rfm
import reframe.utility.sanity as sn
from reframe.core.builtins import sanity_function, variable


class SyntheticCoco(rfm.RunOnlyRegressionTest):
    """Writes ``coco/`` in its stage folder with ``python -m mlperf_maskrcnn synth``."""

    train_images = variable(int, value=32)
    val_images = variable(int, value=8)
    valid_systems = ["*"]
    valid_prog_environs = ["*"]
    local = True
    executable = "python"

    @property
    def root(self) -> str:
        return os.path.join(self.stagedir, "coco")

    def __init__(self):
        self.executable_opts = [
            "-m",
            "mlperf_maskrcnn",
            "synth",
            "--out",
            "coco",
            "--train-images",
            str(self.train_images),
            "--val-images",
            str(self.val_images),
        ]

    @sanity_function
    def tree_written(self):
        return sn.all(
            [
                sn.assert_found(r"synthetic COCO tree written", self.stdout),
                sn.assert_true(
                    os.path.isfile(os.path.join(self.root, "models", "R-50.pkl")),
                    msg="synthetic R-50.pkl was not written",
                ),
            ]
        )
