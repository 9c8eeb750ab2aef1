"""Reference bounds as data: ``resources/references/*.yaml``, one entry per system:partition,
check, node count, implementation and mode, each with the source of its numbers.

An entry looks like::

    - check: maskrcnn
      system: tara:dgx
      nodes: 1
      implementation: any        # or bundled / nvidia-v0.7
      mode: time-to-train
      source: NVIDIA v0.7 DGX-1 ...
      perf:
        time_to_train: {value: 153.78, lower: null, upper: 0.10, unit: min}

Bounds are fractions of the value, as ReFrame reads them; ``null`` leaves a side open.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mlperf_maskrcnn.resources import resource


class ReferenceError_(ValueError):
    """A reference file that cannot be read; the message names the file and entry."""


@dataclass(frozen=True)
class Reference:
    system: str
    source: str
    perf: dict[str, tuple[float, float | None, float | None, str]]

    def for_reframe(self) -> dict:
        return {self.system: dict(self.perf)}


def references_dir() -> Path:
    """``resources/references`` (a site's own bounds: ACCEPTANCE_RESOURCES, see mlperf_maskrcnn.resources)."""
    return resource("references")


def load_entries(folder: Path | None = None) -> list[dict]:
    folder = folder or references_dir()
    entries: list[dict] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text()) or []
        except yaml.YAMLError as err:
            raise ReferenceError_(f"{path}: not valid YAML: {err}") from err
        if not isinstance(data, list):
            raise ReferenceError_(f"{path}: must be a list of entries")
        for n, entry in enumerate(data):
            for key in ("check", "system", "source", "perf"):
                if key not in entry:
                    raise ReferenceError_(f"{path}: entry {n} lacks '{key}'")
            entries.append(dict(entry, _origin=f"{path.name}[{n}]"))
    return entries


def _matches(entry: dict, key: str, wanted) -> bool:
    got = entry.get(key, "any")
    return got == "any" or str(got) == str(wanted)


def find(
    check: str,
    system: str,
    nodes: int | None = None,
    implementation: str | None = None,
    mode: str | None = None,
    folder: Path | None = None,
) -> Reference | None:
    """The first entry for this check on ``system`` (``sys:part``) that fits the variant."""
    for entry in load_entries(folder):
        if entry["check"] != check or entry["system"] != system:
            continue
        if not all(
            _matches(entry, k, v)
            for k, v in (("nodes", nodes), ("implementation", implementation), ("mode", mode))
            if v is not None
        ):
            continue
        perf = {}
        for var, spec in entry["perf"].items():
            try:
                perf[var] = (float(spec["value"]), spec.get("lower"), spec.get("upper"), str(spec["unit"]))
            except (KeyError, TypeError, ValueError) as err:
                raise ReferenceError_(f"{entry['_origin']}: perf '{var}' needs value and unit ({err})") from err
        return Reference(system, str(entry["source"]), perf)
    return None


def validate_all(folder: Path | None = None) -> None:
    """Read every reference file now (config load time), so a broken one stops the run."""
    load_entries(folder)
