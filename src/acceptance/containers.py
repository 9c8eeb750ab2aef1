"""Container facts the harness needs: an image's digest and the read-only data binds."""

from __future__ import annotations

import hashlib
from pathlib import Path

# (path, size, mtime_ns, sidecar mtime_ns) -> digest: a session hashes each image once, however many checks use it.
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def digest(image: str | Path) -> str:
    """``sha256:<hex>`` of an image file. A ``<image>.sha256`` written when the image was built
    (resources/containers/README.md) is used when it is newer than the image: hashing a 10 GB image on a
    parallel file system takes a minute. Folders (sandboxes) and registry names get ''."""
    path = Path(image)
    if not path.is_file():
        return ""
    stat = path.stat()
    sidecar = path.with_name(path.name + ".sha256")
    # A new sidecar (or a rebuilt image) is a new key: the cache never hides either.
    sidecar_mtime = sidecar.stat().st_mtime_ns if sidecar.is_file() else 0
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, sidecar_mtime)
    if key in _DIGESTS:
        return _DIGESTS[key]
    if sidecar.is_file() and sidecar.stat().st_mtime_ns >= stat.st_mtime_ns:
        words = sidecar.read_text().split()
        if words and len(words[0]) == 64:
            _DIGESTS[key] = f"sha256:{words[0]}"
            return _DIGESTS[key]
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 24):
            hasher.update(block)
    _DIGESTS[key] = f"sha256:{hasher.hexdigest()}"
    return _DIGESTS[key]


# The first bytes of a squashfs file (its magic number, little-endian): what enroot images are.
SQUASHFS_MAGIC = b"hsqs"


def is_registry_reference(image: str) -> bool:
    """Whether pyxis reads ``image`` as a registry reference (``[USER@][REGISTRY#]IMAGE[:TAG]``, pulled
    by enroot on the compute node) rather than a path of a squashfs file (a value starting with
    ``/`` or ``.``)."""
    return bool(image) and not image.startswith(("/", "."))


def is_squashfs(path: str | Path) -> bool:
    """Whether ``path`` is a squashfs file, the format enroot runs (a Singularity .sif is not one)."""
    with Path(path).open("rb") as handle:
        return handle.read(len(SQUASHFS_MAGIC)) == SQUASHFS_MAGIC


def reference_digest(reference: str) -> str:
    """What a run can record for an image given as a registry reference instead of its digest.

    enroot has no command that reports a reference's digest (its commands are import, create,
    start, export, list, remove, bundle, batch, exec, version), and pyxis pulls the tag when the
    job starts, so the tag may name other content than it did when this was recorded. The
    record says so; ``enroot import`` to a squashfs file pins the image and gets a sha256.
    """
    return f"not pinned: registry reference {reference}, pulled when the job starts (enroot reports no digest)"


def data_mounts(data_dir: str | Path, roots: tuple[str, ...]) -> list[tuple[str, str]]:
    """(host path, container path) binds of a data tree at each container root, to be bound
    read-only. Entries of the tree that are
    symbolic links to elsewhere (``acceptance data layout`` links the image folders) would
    dangle in the container, so their targets are bound too, at their own paths: a bind onto
    the link itself would follow the link inside the container and find nothing there."""
    data_dir = Path(data_dir)
    mounts = [(str(data_dir), root) for root in roots]
    resolved_root = data_dir.resolve()
    targets = []
    for link in _links(data_dir):
        target = link.resolve()
        if target.exists() and not target.is_relative_to(resolved_root) and target not in targets:
            targets.append(target)
    return mounts + [(str(t), str(t)) for t in targets]


def _links(data_dir: Path) -> list[Path]:
    """Symbolic links at the top of the tree and one level down (annotations/, models/)."""
    found = []
    if not data_dir.is_dir():
        return found
    for entry in sorted(data_dir.iterdir()):
        if entry.is_symlink():
            found.append(entry)
        elif entry.is_dir() and entry.name in ("annotations", "models"):
            found += [e for e in sorted(entry.iterdir()) if e.is_symlink()]
    return found
