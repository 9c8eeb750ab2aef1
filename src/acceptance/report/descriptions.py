"""Read an MLPerf system description for the report and check it as ``acceptance package`` does:
MLPerf's system description checker and the harness's own check for fields left to fill in."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..mlperf import package

# What the report shows of a description, in this order (MLPerf's field names).
SHOWN = (
    "submitter",
    "division",
    "status",
    "system_name",
    "number_of_nodes",
    "host_processors_per_node",
    "host_processor_model_name",
    "host_processor_core_count",
    "host_memory_capacity",
    "host_networking",
    "accelerators_per_node",
    "accelerator_model_name",
    "accelerator_memory_capacity",
    "accelerator_interconnect",
    "framework",
    "operating_system",
)


@dataclass
class Description:
    path: str
    fields: dict
    passed: bool  # MLPerf's checker and the harness's both passed
    messages: list[str] = field(default_factory=list)

    @property
    def gpus(self) -> int | None:
        """Accelerators in the whole system (nodes x accelerators per node), when both are numbers."""
        try:
            return int(str(self.fields.get("number_of_nodes"))) * int(str(self.fields.get("accelerators_per_node")))
        except ValueError:
            return None

    def rows(self) -> list[tuple[str, str]]:
        return [(key, str(self.fields[key])) for key in SHOWN if self.fields.get(key) not in (None, "")]


def read(path: Path) -> Description:
    """``path`` checked; ``ValueError`` naming it when it is not a JSON object."""
    try:
        fields = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable system description ({err})") from err
    if not isinstance(fields, dict):
        raise ValueError(f"{path}: not a system description (a JSON {type(fields).__name__})")
    with tempfile.TemporaryDirectory(prefix="system-description-") as tmp:
        # The checkers read a package's systems/ folder: a package of this one description.
        systems = Path(tmp) / "ORG" / "systems"
        systems.mkdir(parents=True)
        shutil.copy(path, systems / Path(path).name)
        verdicts = [package.system_desc_checker(systems.parent), package.acceptance_checks(systems.parent)]
    messages = [f"{v.name}: {m}" for v in verdicts for m in v.messages]
    return Description(str(path), fields, all(v.passed for v in verdicts), messages)


def beside(folder: Path) -> Path | None:
    """The description that belongs to a folder of logs: ``system.json`` in it, or MLPerf's
    package layout (``ORG/results/SYSTEM/maskrcnn/`` -> ``ORG/systems/SYSTEM.json``)."""
    candidates = [folder / "system.json"]
    if len(folder.parents) >= 3:
        candidates.append(folder.parents[2] / "systems" / f"{folder.parent.name}.json")
    return next((c for c in candidates if c.is_file()), None)
