"""The one check every system description passes through (config/systems/common.normalise)."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT

sys.path.append(str(ROOT / "config"))
from systems.common import ConfigError, normalise, partition  # noqa: E402


def _system(**part) -> dict:
    entry = {"name": "vendor-gpu", "scheduler": "slurm", "launcher": "srun", "environs": ["maskrcnn"], **part}
    return {"name": "vendor", "hostnames": ["^login"], "partitions": [entry]}


def test_a_plain_reframe_entry_gets_the_suites_environment():
    system = normalise(_system(environs=["builtin"], features=["cpu", "synthetic-data"]), "vendor.py")
    assert system["partitions"][0]["environs"] == ["builtin", "maskrcnn"]


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (
            {"features": ["gpu", "cocoo"]},
            "vendor.py: partition 'vendor-gpu' of system 'vendor': unknown feature(s) ['cocoo']",
        ),
        ({"extras": {"coco_dri": "/x"}}, "unknown extras key(s) ['coco_dri']; the suite knows: account_env, "),
        ({"features": ["gpu"]}, "feature 'gpu' but no GPU in 'devices'"),
        ({"features": ["coco"], "extras": {}}, "feature 'coco' but no extras 'coco_dir'"),
    ],
)
def test_a_typo_is_refused_naming_file_partition_and_key(part, message):
    with pytest.raises(ConfigError) as err:
        normalise(_system(**part), "vendor.py")
    assert message in str(err.value)


def test_a_system_without_partitions_is_named():
    with pytest.raises(ConfigError, match="vendor.py: the system lacks 'partitions'"):
        normalise({"name": "vendor", "hostnames": []}, "vendor.py")


def test_the_builder_writes_the_suites_defaults_and_keeps_the_rest():
    part = partition("p", "d", ["cpu"], {"nodes": 2}, scheduler="local", max_jobs=1)
    assert part["environs"] == ["maskrcnn"] and part["scheduler"] == "local" and part["max_jobs"] == 1
    assert part["launcher"] == "srun" and part["extras"] == {"nodes": 2}
