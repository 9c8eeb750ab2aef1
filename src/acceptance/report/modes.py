"""Load ``resources/modes.yaml``: the criteria each mode of the suite requires for a PASS.

A mode has a ``description`` and ``required`` criteria; a criterion names the checks that can meet
it and, optionally, the parameters their test case must have (``num_nodes``, ``mode``,
``implementation``). Any other key is refused, named with its file, mode and criterion, so that a
misspelt ``num_node:`` cannot loosen what a PASS means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mlperf_maskrcnn.resources import resource

from ..suite.constants import IMPLEMENTATIONS, MODES, NODE_COUNTS

DEFAULT = "default"  # the mode of a run without --mode
MODE_KEYS = ("description", "required")
CRITERION_KEYS = ("criterion", "checks", "num_nodes", "mode", "implementation")
# The parameters a criterion may fix, with the values the checks have.
PARAMETERS = {"num_nodes": NODE_COUNTS, "mode": MODES, "implementation": IMPLEMENTATIONS}


@dataclass(frozen=True)
class Requirement:
    """One criterion a mode requires: met by a passed test case of one of ``checks`` with ``params``."""

    name: str
    checks: tuple[str, ...]
    params: dict = field(default_factory=dict)

    def fits(self, check: str, params: dict) -> bool:
        """Whether a test case of ``check`` with ``params`` (its logged parameters) counts for it."""
        return check in self.checks and all(params.get(k) == v for k, v in self.params.items())

    def describe(self) -> str:
        fixed = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name} ({' or '.join(self.checks)}{'; ' + fixed if fixed else ''})"


@dataclass(frozen=True)
class Mode:
    name: str
    description: str
    required: tuple[Requirement, ...]


def modes_file() -> Path:
    return resource("modes.yaml")


def declared() -> tuple[dict[str, Mode], str]:
    """The modes of resources/modes.yaml and the file's path; none, with the path said missing, where
    the resources folder in use has no modes.yaml (then no mode can PASS)."""
    path = modes_file()
    if not path.is_file():
        return {}, f"{path} (no such file)"
    return load(path), str(path)


def load(path: Path | None = None) -> dict[str, Mode]:
    """Every mode of ``path`` (default: resources/modes.yaml); ``ValueError`` naming file and key."""
    path = path or modes_file()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not readable YAML ({err})") from err
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a mapping of mode names to modes")
    return {str(name): _mode(path, str(name), body) for name, body in data.items()}


def _unknown(where: str, given: dict, known: tuple[str, ...]) -> None:
    extra = [str(k) for k in given if k not in known]
    if extra:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, extra))} (known: {', '.join(known)})")


def _mode(path: Path, name: str, body: object) -> Mode:
    where = f"{path}: mode '{name}'"
    if not isinstance(body, dict):
        raise ValueError(f"{where}: expected a mapping with {' and '.join(MODE_KEYS)}")
    _unknown(where, body, MODE_KEYS)
    required = body.get("required")
    if not isinstance(required, list) or not required:
        raise ValueError(f"{where}: 'required' must be a non-empty list of criteria")
    criteria = tuple(_criterion(where, index, c) for index, c in enumerate(required, 1))
    return Mode(name, str(body.get("description") or ""), criteria)


def _criterion(mode_where: str, index: int, body: object) -> Requirement:
    where = f"{mode_where}, criterion {index}"
    if not isinstance(body, dict):
        raise ValueError(f"{where}: expected a mapping with keys {', '.join(CRITERION_KEYS)}")
    _unknown(where, body, CRITERION_KEYS)
    name, checks = body.get("criterion"), body.get("checks")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: 'criterion' (its name in the report) is missing")
    if not isinstance(checks, list) or not checks or not all(isinstance(c, str) and c for c in checks):
        raise ValueError(f"{where} ({name}): 'checks' must be a non-empty list of check class names")
    params = {}
    for key, allowed in PARAMETERS.items():
        if key in body:
            if body[key] not in allowed:
                raise ValueError(f"{where} ({name}): {key} {body[key]!r} is not one of {list(allowed)}")
            params[key] = body[key]
    return Requirement(name.strip(), tuple(checks), params)
