"""What every system file shares: site facts from the environment, the one partition builder, and
the check every system passes through (``normalise``), whether it was written with the builder or
as a plain ReFrame systems entry.
"""

from __future__ import annotations

import os

from acceptance.suite.constants import (
    CONTAINER_RUNTIMES,
    ENVIRONMENT,
    EXTRA_CONTAINER_RUNTIME,
    EXTRAS,
    FEATURE_COCO,
    FEATURE_GPU,
    FEATURES,
)


class ConfigError(ValueError):
    """A system description the suite cannot use; the message names the file, partition and key."""


def site(name: str, default: str = "") -> str:
    """A site path or name: ``ACCEPTANCE_<NAME>`` from the environment, else the config's default."""
    return os.environ.get(f"ACCEPTANCE_{name.upper()}", default)


def account_access(env_var: str) -> list[str]:
    """``-A ACCOUNT`` when the account variable is set. When it is not, the Mask R-CNN check
    stops before submitting with a message naming the variable (extras ``account_env``)."""
    account = os.environ.get(env_var, "")
    return [f"-A {account}"] if account else []


def modules_system(default: str = "lmod") -> str:
    """The site's module system; ``ACCEPTANCE_MODULES_SYSTEM=nomod`` lets this config be listed or
    dry-run on a machine without Lmod (a laptop preparing or reviewing TARA's job scripts)."""
    return os.environ.get("ACCEPTANCE_MODULES_SYSTEM", default)


def partition(name: str, descr: str, features: list[str], extras: dict, **settings) -> dict:
    """One ReFrame partition entry in the suite's environment. ``settings`` are any other keys of
    ReFrame's partition schema (scheduler, launcher, access, devices, container_platforms, ...)."""
    entry = {
        "name": name,
        "descr": descr,
        "scheduler": "slurm",
        "launcher": "srun",
        "environs": [ENVIRONMENT],
        "max_jobs": 4,
        "features": list(features),
        "extras": dict(extras),
    }
    entry.update(settings)
    return entry


def normalise(system: dict, origin: str) -> dict:
    """The system, checked: every partition's features and extras keys are ones the suite knows
    (a typo would silently drop a check or a bound), and every partition runs in the suite's
    environment (added where a plain ReFrame entry does not list it)."""
    for key in ("name", "hostnames", "partitions"):
        if key not in system:
            raise ConfigError(f"{origin}: the system lacks '{key}' (ReFrame's systems schema)")
    for part in system["partitions"]:
        where = f"{origin}: partition '{part.get('name', '?')}' of system '{system['name']}'"
        unknown = sorted(set(part.get("features", [])) - set(FEATURES))
        if unknown:
            raise ConfigError(f"{where}: unknown feature(s) {unknown}; the suite knows {list(FEATURES)}")
        unknown = sorted(set(part.get("extras", {})) - set(EXTRAS))
        if unknown:
            known = ", ".join(sorted(EXTRAS))
            raise ConfigError(f"{where}: unknown extras key(s) {unknown}; the suite knows: {known}")
        features = set(part.get("features", []))
        if FEATURE_GPU in features and not any(d.get("type") == "gpu" for d in part.get("devices", [])):
            raise ConfigError(f"{where}: feature 'gpu' but no GPU in 'devices' (type gpu, model, num_devices)")
        if FEATURE_COCO in features and "coco_dir" not in part.get("extras", {}):
            raise ConfigError(f"{where}: feature 'coco' but no extras 'coco_dir' (the COCO 2017 tree)")
        _check_runtime(part, where)
        environs = part.setdefault("environs", [])
        if ENVIRONMENT not in environs:
            environs.append(ENVIRONMENT)
    return system


def _check_runtime(part: dict, where: str) -> None:
    """A runtime in extras (pyxis) is one the suite knows, the partition's only one, and run by srun."""
    runtime = part.get("extras", {}).get(EXTRA_CONTAINER_RUNTIME)
    if runtime is None:
        return
    if runtime not in CONTAINER_RUNTIMES:
        raise ConfigError(
            f"{where}: extras '{EXTRA_CONTAINER_RUNTIME}' {runtime!r} is not one the suite runs: "
            f"{list(CONTAINER_RUNTIMES)} (Singularity and Apptainer go in 'container_platforms')"
        )
    if part.get("container_platforms"):
        raise ConfigError(f"{where}: both 'container_platforms' and extras '{EXTRA_CONTAINER_RUNTIME}': keep one")
    if part.get("launcher") != "srun":
        raise ConfigError(
            f"{where}: extras '{EXTRA_CONTAINER_RUNTIME}' {runtime!r} is a plugin of srun, "
            f"but the launcher is {part.get('launcher')!r}: use 'srun'"
        )
