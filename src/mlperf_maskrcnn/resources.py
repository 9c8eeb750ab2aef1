"""Locates the project's ``resources/`` folder (recipes, references, datasets, containers, modes).

Torch-free: the workload and the harness both read it. One override, ``ACCEPTANCE_RESOURCES``,
serves every reader: a container image that copies ``resources/`` beside a normal (not editable)
install sets it, and tests point it at a folder of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ACCEPTANCE_RESOURCES"


class ResourcesNotFound(FileNotFoundError):
    """No resources/ folder: the message says where it looked and how to set one."""


def resources_dir() -> Path:
    """``$ACCEPTANCE_RESOURCES``, else the ``resources/`` of the source tree this file is in."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override)
        if not path.is_dir():
            raise ResourcesNotFound(f"{ENV_VAR}={override}: no such folder")
        return path
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "resources"
        if (candidate / "recipes").is_dir():
            return candidate
    raise ResourcesNotFound(
        f"no resources/ folder above {here.parent}: set {ENV_VAR} to the project's resources/ folder"
    )


def resource(*parts: str) -> Path:
    """A path inside resources/, e.g. ``resource("recipes", "smoke.yaml")``."""
    return resources_dir().joinpath(*parts)
