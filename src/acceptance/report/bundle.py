"""Make the report folder self-contained: copy every file the report cites (run reports, MLPerf
logs, job scripts and outputs, system descriptions) into its ``files/`` folder, so that links stay
relative inside the folder and it can be zipped or tarred and opened anywhere."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..mlperf.parse import write_plain

FOLDER = "files"
COMPRESSED = (".xz", ".gz")


class Bundle:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.root = out / FOLDER
        self._copied: dict[tuple[str, str], str] = {}  # (source, sub-folder) -> path relative to out
        # Only this report's own folder is replaced: a rerun into the same --out leaves nothing stale.
        if self.root.is_dir():
            shutil.rmtree(self.root)

    def add(self, source: str | Path, sub: str) -> str:
        """Copy ``source`` into ``files/SUB/`` (once) and return its path relative to the report
        folder. Compressed MLPerf logs are written as plain text, which a browser shows; data that
        does not decompress is copied as it is (the report says what is wrong with it)."""
        source = Path(source)
        key = (str(source.resolve()), sub)
        if key in self._copied:
            return self._copied[key]
        folder = self.root / sub
        folder.mkdir(parents=True, exist_ok=True)
        plain = source.suffix in COMPRESSED
        dest = _free(folder / (source.stem if plain else source.name))
        try:
            if plain:
                write_plain(source, dest)
        except ValueError:
            dest.unlink(missing_ok=True)
            dest = _free(folder / source.name)
            plain = False
        if not plain:
            shutil.copyfile(source, dest)
        self._copied[key] = dest.relative_to(self.out).as_posix()
        return self._copied[key]


def _free(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext``... where another source already took it."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def slug(text: str) -> str:
    """A file-system-safe name for a sub-folder (a partition, a test case)."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text).strip("_") or "_"
