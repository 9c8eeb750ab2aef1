"""Load Detectron's MSRA ``R-50.pkl`` (Caffe2 key names) into the ResNet-50 backbone, safely.

The file is a Python pickle. Unpickling runs whatever callables the file names, so a plain
``pickle.load`` of a file from the internet is code execution. ``SafeUnpickler`` resolves only
the few numpy globals an array needs; everything else is refused before it can run, and the
result must be a dict of strings to numpy arrays (optionally wrapped in ``{"blobs": ...}``).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# Stage i of the Caffe2 names is torchvision's layer{i-1}; blocks per stage for ResNet-50.
STAGE_BLOCKS = {2: 3, 3: 4, 4: 6, 5: 3}
BRANCH2 = {"a": 1, "b": 2, "c": 3}

# The globals a pickled numpy array (numpy 1.x or 2.x, protocol 2-5) needs, and nothing more.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
# Protocol-2 pickles of bytes from Python 3 rebuild array data with _codecs.encode(text, "latin1");
# it is resolved to a guard that allows that call and nothing else (any codec, any input, would
# otherwise be open to the file).
_CODECS_ENCODE = ("_codecs", "encode")
_BYTES_CODECS = ("latin1", "latin-1")


def _latin1_bytes(text: object, encoding: object = "utf-8") -> bytes:
    if not isinstance(text, str) or encoding not in _BYTES_CODECS:
        raise pickle.UnpicklingError(
            f"refused _codecs.encode of a {type(text).__name__} with encoding {encoding!r}: "
            "only latin1 text (array data) is allowed"
        )
    return text.encode("latin1")


class WeightFileError(ValueError):
    """A weight file that is missing, unsafe or of the wrong shape."""


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == _CODECS_ENCODE:
            return _latin1_bytes
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refused global {module}.{name}: a weight file may hold only dicts, strings and numpy arrays"
        )


def caffe2_to_torchvision() -> Iterator[tuple[str, str]]:
    """(Caffe2 blob name, torchvision ResNet parameter name) for the 159 backbone tensors."""
    yield "conv1_w", "conv1.weight"
    yield "res_conv1_bn_s", "bn1.weight"
    yield "res_conv1_bn_b", "bn1.bias"
    for stage, blocks in STAGE_BLOCKS.items():
        layer = f"layer{stage - 1}"
        for block in range(blocks):
            prefix = f"res{stage}_{block}"
            for letter, index in BRANCH2.items():
                yield f"{prefix}_branch2{letter}_w", f"{layer}.{block}.conv{index}.weight"
                yield f"{prefix}_branch2{letter}_bn_s", f"{layer}.{block}.bn{index}.weight"
                yield f"{prefix}_branch2{letter}_bn_b", f"{layer}.{block}.bn{index}.bias"
            if block == 0:
                yield f"{prefix}_branch1_w", f"{layer}.0.downsample.0.weight"
                yield f"{prefix}_branch1_bn_s", f"{layer}.0.downsample.1.weight"
                yield f"{prefix}_branch1_bn_b", f"{layer}.0.downsample.1.bias"


def read_blobs(path: str | Path) -> dict[str, np.ndarray]:
    """Read a Detectron weight pickle safely; return its blobs (name -> array)."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"weight file {path} not found (MODEL.WEIGHT / --weights)")
    try:
        with path.open("rb") as handle:
            data = SafeUnpickler(handle, encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise WeightFileError(f"{path}: {err}") from err
    except Exception as err:  # noqa: BLE001 - a crafted pickle can raise nearly anything; all mean "unreadable"
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        raise WeightFileError(f"{path}: not a readable weight pickle ({detail})") from err
    if isinstance(data, dict) and "blobs" in data:
        data = data["blobs"]
    if not isinstance(data, dict):
        raise WeightFileError(f"{path}: expected a dict of arrays, found {type(data).__name__}")
    blobs: dict[str, np.ndarray] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise WeightFileError(f"{path}: key {key!r} is not a string")
        if not isinstance(value, np.ndarray):
            raise WeightFileError(f"{path}: {key} is {type(value).__name__}, not a numpy array")
        blobs[key] = value
    return blobs


def backbone_state(blobs: dict[str, np.ndarray], expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Map Caffe2 blobs to torchvision names, checking every name and shape.

    ``expected`` is the torchvision parameter shapes of the target ResNet body. Frozen BN stores
    scale and bias only: running mean 0 and variance 1 make it the affine map the pickle holds.
    """
    state: dict[str, np.ndarray] = {}
    missing, wrong = [], []
    for c2_name, tv_name in caffe2_to_torchvision():
        if c2_name not in blobs:
            missing.append(c2_name)
            continue
        array = blobs[c2_name]
        if tuple(array.shape) != tuple(expected[tv_name]):
            wrong.append(f"{c2_name}: {tuple(array.shape)} != {tuple(expected[tv_name])}")
            continue
        state[tv_name] = array.astype(np.float32)
        if tv_name.endswith(".weight") and ("bn" in tv_name or "downsample.1" in tv_name):
            base = tv_name[: -len(".weight")]
            state[f"{base}.running_mean"] = np.zeros_like(state[tv_name])
            state[f"{base}.running_var"] = np.ones_like(state[tv_name])
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} blob(s): {', '.join(missing[:5])}")
        if wrong:
            parts.append(f"wrong shape: {'; '.join(wrong[:5])}")
        raise WeightFileError("R-50 weights do not fit ResNet-50: " + "; ".join(parts))
    return state


def load_backbone_weights(body, path: str | Path) -> int:
    """Load R-50.pkl into a torchvision ResNet body; return the number of blobs loaded (159)."""
    import torch

    params = {**dict(body.named_parameters()), **dict(body.named_buffers())}
    expected = {name: tuple(t.shape) for name, t in params.items()}
    state = backbone_state(read_blobs(path), expected)
    with torch.no_grad():
        for name, array in state.items():
            params[name].copy_(torch.from_numpy(array))
    return sum(1 for _ in caffe2_to_torchvision())


def write_blobs(path: str | Path, blobs: dict[str, np.ndarray]) -> None:
    """Write blobs as Detectron does: a ``{"blobs": {...}}`` pickle, protocol 2."""
    with Path(path).open("wb") as handle:
        pickle.dump({"blobs": blobs}, handle, protocol=2)
