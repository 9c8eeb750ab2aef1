"""Reference bounds as data: ``resources/references/*.yaml``, read against a schema, and the one
entry that fits a test variant.

An entry looks like::

    - check: maskrcnn
      system: tara:dgx
      nodes: 1
      implementation: any        # or bundled / nvidia-v0.7
      mode: time-to-train
      source: NVIDIA v0.7 DGX-1 ...
      perf:
        time_to_train: {value: 153.78, lower: null, upper: 0.10, unit: min}

The schema (``validate_all`` applies it to every file; a reader that finds a break refuses the
file, naming file, line, entry and key):

- keys: ``check``, ``system``, ``source`` and ``perf`` are required; ``nodes`` (an integer of
  ``NODE_COUNTS`` or ``any``), ``implementation`` (``IMPLEMENTATIONS`` or ``any``) and ``mode``
  (``MODES`` or ``any``) only for the checks whose variants differ by them (``CHECKS``);
  no other key (``uper:``, ``mdoe:`` or ``node:`` would otherwise loosen the test unseen);
- ``perf`` bounds only the variables its check reports (``CHECKS``), each with all four
  of ``value`` (a number), ``lower`` and ``upper`` (fractions of the value, as ReFrame reads
  them, or ``null`` to leave that side open: lower in [-1, 0], upper >= 0) and ``unit`` (the
  unit the check reports the variable in). A lower bound below -1 would put the threshold below
  zero, which no measurement crosses: write ``null`` for that.

Lookup: among the entries for a check on ``system:partition`` that fit the variant, the most
specific wins: an entry whose fixed keys (nodes, implementation, mode not ``any``) include every
fixed key of each other fitting entry. Two fitting entries that are equally specific, or of which
neither is more specific, are ambiguous: refused, both named. No fitting entry: ``None`` (the
check then fails: ``require_reference``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlperf_maskrcnn.resources import resource

from ..mlperf.parse import is_number
from .constants import IMPLEMENTATIONS, MODES, NODE_COUNTS

ANY = "any"


@dataclass(frozen=True)
class CheckSpec:
    """What a reference may say about one check."""

    variables: dict[str, str]  # the performance variables the check reports -> their units
    variants: tuple[str, ...] = ()  # what its variants differ by: the keys its lookup passes


# Every check a reference may bound, declared once; the checks' performance functions keep to
# these names and units, and their lookups pass these variant keys.
CHECKS: dict[str, CheckSpec] = {
    "maskrcnn": CheckSpec(
        {
            "time_to_train": "min",
            "throughput": "img/s",
            "epochs": "epochs",
            "eval_time": "s",
            "projected_time_to_train": "min",
            "score": "min",  # the olympic mean of 5 runs
        },
        ("nodes", "implementation", "mode"),
    ),
    "allreduce": CheckSpec({"busbw": "GB/s"}, ("nodes",)),
    "gpus": CheckSpec({"gpu_count": "GPUs"}),
    "container": CheckSpec({"gpus": "GPUs"}),
    "coco": CheckSpec({"problems": "files"}),
    "loader": CheckSpec({"images_per_s": "img/s"}),
}
REQUIRED_KEYS = ("check", "system", "source", "perf")
SELECTORS = ("nodes", "implementation", "mode")
BOUND_KEYS = ("value", "lower", "upper", "unit")
_SYSTEM = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+$")

Bound = tuple[float, float | None, float | None, str]


class ReferenceError_(ValueError):
    """A reference file that cannot be used; the message names the file, entry and key."""


@dataclass(frozen=True)
class Reference:
    system: str
    source: str
    perf: dict[str, Bound]
    origin: str = ""  # FILE:LINE (entry N) it was read from

    def for_reframe(self) -> dict:
        return {self.system: dict(self.perf)}


@dataclass(frozen=True)
class Entry:
    """One validated entry; a selector left ``any`` (or not given) is ``None``."""

    origin: str
    check: str
    system: str
    source: str
    perf: dict[str, Bound]
    nodes: int | None = None
    implementation: str | None = None
    mode: str | None = None

    @property
    def fixed(self) -> frozenset[str]:
        return frozenset(key for key in SELECTORS if getattr(self, key) is not None)

    def fits(self, nodes: int | None, implementation: str | None, mode: str | None) -> bool:
        """Whether this entry applies to the variant; a variant key given as None is not filtered."""
        wanted = {"nodes": nodes, "implementation": implementation, "mode": mode}
        return all(getattr(self, k) is None or v is None or getattr(self, k) == v for k, v in wanted.items())

    def reference(self) -> Reference:
        return Reference(self.system, self.source, dict(self.perf), self.origin)


def references_dir() -> Path:
    """``resources/references`` (a site's own bounds: ACCEPTANCE_RESOURCES, see mlperf_maskrcnn.resources)."""
    return resource("references")


def load_entries(folder: Path | None = None) -> list[Entry]:
    """Every entry of every ``*.yaml`` in ``folder``, checked against the schema; any break raises
    ``ReferenceError_`` listing them all."""
    folder = folder or references_dir()
    entries: list[Entry] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        for origin, raw in _raw_entries(path):
            entry, found = _entry(origin, raw)
            problems += found
            if entry is not None:
                entries.append(entry)
    if problems:
        raise ReferenceError_("; ".join(problems))
    return entries


def _raw_entries(path: Path) -> list[tuple[str, object]]:
    """(origin, data) of each entry of one file; the origin names file, line and index."""
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
        nodes = yaml.compose(text)
    except (OSError, yaml.YAMLError) as err:
        raise ReferenceError_(f"{path}: not valid YAML: {' '.join(str(err).split())}") from err
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(nodes, yaml.SequenceNode):
        raise ReferenceError_(f"{path}: must be a list of entries")
    repeated = list(_repeated_keys(path, nodes))
    if repeated:
        raise ReferenceError_("; ".join(repeated))
    return [
        (f"{path}:{node.start_mark.line + 1} (entry {n})", item)
        for n, (node, item) in enumerate(zip(nodes.value, data))
    ]


def _repeated_keys(path: Path, node: yaml.Node):
    """``FILE:LINE: key 'k' given twice`` for each repeated mapping key (YAML keeps the last one
    silently, so a second ``upper:`` would replace the first unseen)."""
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value in seen:
                yield f"{path}:{key.start_mark.line + 1}: key '{key.value}' given twice in one mapping"
            seen.add(getattr(key, "value", None))
            yield from _repeated_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _repeated_keys(path, item)


def _entry(origin: str, raw: object) -> tuple[Entry | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"{origin}: an entry must be a mapping of keys, not a {type(raw).__name__}"]
    check = raw.get("check")
    if check not in CHECKS:
        known = ", ".join(CHECKS)
        return None, [f"{origin}: check {check!r} is not a known check ({known})"]
    allowed = {*REQUIRED_KEYS, *CHECKS[check].variants}
    problems = [f"{origin}: lacks '{key}'" for key in REQUIRED_KEYS if key not in raw]
    problems += [
        f"{origin}: unknown key {str(key)!r} for check {check} (allowed: {', '.join(sorted(allowed))})"
        for key in raw
        if key not in allowed
    ]
    system, source = raw.get("system"), raw.get("source")
    if "system" in raw and not (isinstance(system, str) and _SYSTEM.match(system)):
        problems.append(f"{origin}: system {system!r} is not 'system:partition'")
    if "source" in raw and not (isinstance(source, str) and source.strip()):
        problems.append(f"{origin}: source must say where the numbers come from")
    selectors = {key: _selector(origin, key, raw.get(key, ANY), problems) for key in SELECTORS}
    perf = _perf(origin, check, raw.get("perf"), problems) if "perf" in raw else {}
    if problems:
        return None, problems
    return Entry(origin, check, system, source, perf, **selectors), []


def _selector(origin: str, key: str, value: object, problems: list[str]):
    if value == ANY:
        return None
    if key == "nodes":
        if isinstance(value, int) and not isinstance(value, bool) and value in NODE_COUNTS:
            return value
        known = ", ".join(map(str, NODE_COUNTS))
        problems.append(f"{origin}: nodes {value!r} is not a node count the checks run ({known}) or '{ANY}'")
        return None
    known = IMPLEMENTATIONS if key == "implementation" else MODES
    if value in known:
        return value
    problems.append(f"{origin}: {key} {value!r} is not one of {', '.join(known)} or '{ANY}'")
    return None


def _perf(origin: str, check: str, perf: object, problems: list[str]) -> dict[str, Bound]:
    variables = CHECKS[check].variables
    if not isinstance(perf, dict) or not perf:
        problems.append(f"{origin}: perf must map at least one variable to its bounds")
        return {}
    bounds: dict[str, Bound] = {}
    for var, spec in perf.items():
        where = f"{origin}: perf.{var}"
        if var not in variables:
            problems.append(f"{where}: check {check} reports no such variable (it reports {', '.join(variables)})")
            continue
        if not isinstance(spec, dict):
            problems.append(f"{where}: must be {{value, lower, upper, unit}}")
            continue
        found = len(problems)
        problems += [
            f"{where}: lacks '{key}' (write null to leave a side open)" for key in BOUND_KEYS if key not in spec
        ]
        problems += [
            f"{where}: unknown key {str(key)!r} (allowed: {', '.join(BOUND_KEYS)})"
            for key in spec
            if key not in BOUND_KEYS
        ]
        value, lower, upper, unit = (spec.get(key) for key in BOUND_KEYS)
        if "value" in spec and not is_number(value):
            problems.append(f"{where}: value {value!r} is not a number")
        if "lower" in spec and lower is not None and not (is_number(lower) and -1.0 <= lower <= 0.0):
            problems.append(f"{where}: lower {lower!r} must be null or a fraction in [-1, 0]")
        if "upper" in spec and upper is not None and not (is_number(upper) and upper >= 0.0):
            problems.append(f"{where}: upper {upper!r} must be null or a fraction >= 0")
        if "unit" in spec and unit != variables[var]:
            problems.append(f"{where}: unit {unit!r} is not {variables[var]!r}, the unit {check} reports {var} in")
        if len(problems) == found:
            bounds[var] = (float(value), _fraction(lower), _fraction(upper), unit)
    return bounds


def _fraction(value: object) -> float | None:
    return None if value is None else float(value)


def select(
    entries: list[Entry],
    check: str,
    system: str,
    nodes: int | None = None,
    implementation: str | None = None,
    mode: str | None = None,
) -> Entry | None:
    """The most specific entry for this check on ``system`` that fits the variant (see the module
    docstring); ``None`` when none fits; ``ReferenceError_`` naming both entries when two tie."""
    fitting = [e for e in entries if e.check == check and e.system == system and e.fits(nodes, implementation, mode)]
    best = [e for e in fitting if all(e.fixed >= other.fixed for other in fitting)]
    if len(best) == 1:
        return best[0]
    if not fitting:
        return None
    variant = f"nodes {nodes}, implementation {implementation}, mode {mode}"
    first, second = _tied(fitting)
    raise ReferenceError_(
        f"{first.origin} and {second.origin} both fit {check} on {system} ({variant}) and neither is more "
        "specific: make one of them more specific, or remove one"
    )


def _tied(fitting: list[Entry]) -> tuple[Entry, Entry]:
    """Two fitting entries neither of which is more specific than the other. One pair exists when
    no entry is the most specific: were every pair strictly ordered, the largest would be."""
    return next((a, b) for a, b in itertools.combinations(fitting, 2) if not (a.fixed > b.fixed or b.fixed > a.fixed))


def find(
    check: str,
    system: str,
    nodes: int | None = None,
    implementation: str | None = None,
    mode: str | None = None,
    folder: Path | None = None,
) -> Reference | None:
    """The reference for this check on ``system`` (``sys:part``) and variant, or ``None``."""
    entry = select(load_entries(folder), check, system, nodes, implementation, mode)
    return entry.reference() if entry else None


def validate_all(folder: Path | None = None) -> list[Entry]:
    """Every entry checked against the schema, and every variant the checks run looked up once, so
    that a broken or ambiguous file stops the session before any job is submitted. Returns the
    entries; raises ``ReferenceError_`` naming every problem found."""
    entries = load_entries(folder)
    problems = []
    for check, system in sorted({(e.check, e.system) for e in entries}):
        varies = CHECKS[check].variants
        variants = itertools.product(
            NODE_COUNTS if "nodes" in varies else [None],
            IMPLEMENTATIONS if "implementation" in varies else [None],
            MODES if "mode" in varies else [None],
        )
        for nodes, implementation, mode in variants:
            try:
                select(entries, check, system, nodes, implementation, mode)
            except ReferenceError_ as err:  # each variant once: its message names it
                problems.append(str(err))
    if problems:
        raise ReferenceError_("; ".join(problems))
    return entries
