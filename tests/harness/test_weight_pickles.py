"""The R-50 weight loader on pickles that use the one non-numpy global it allows, ``_codecs.encode``.

(``mlperf_maskrcnn.weights`` imports numpy only, so this runs with the harness's fast tests.)
"""

import _codecs
import pickle
import struct

import numpy as np
import pytest

from mlperf_maskrcnn import weights
from mlperf_maskrcnn.weights import WeightFileError


class _Encode:
    """Pickles as a call of _codecs.encode(*args), as a crafted file would hold it."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return _codecs.encode, self.args


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (("x", "no-such-codec"), "encoding 'no-such-codec'"),  # used to raise LookupError: a traceback
        (("x", "utf-16"), "encoding 'utf-16'"),
        ((b"x", "latin1"), "_codecs.encode of a bytes"),
    ],
)
def test_codecs_encode_beyond_array_data_is_refused_in_one_line(tmp_path, args, refused):
    path = tmp_path / "R-50.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": _Encode(*args)}}, protocol=2))
    with pytest.raises(WeightFileError) as err:
        weights.read_blobs(path)
    message = str(err.value)
    assert message.startswith(f"{path}: refused ") and refused in message
    assert "\n" not in message


def test_array_data_through_codecs_encode_still_loads(tmp_path):
    path = tmp_path / "R-50.pkl"
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    weights.write_blobs(path, {"conv1_w": array})
    assert b"_codecs\nencode" in path.read_bytes()  # the protocol-2 form the guard must allow
    assert np.array_equal(weights.read_blobs(path)["conv1_w"], array)


def test_any_failure_while_unpickling_is_one_line(tmp_path):
    # A bytes object claiming 2**62 bytes: the unpickler raises MemoryError (once a traceback).
    path = tmp_path / "R-50.pkl"
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 2**62) + b"x.")
    with pytest.raises(WeightFileError) as err:
        weights.read_blobs(path)
    assert str(err.value) == f"{path}: not a readable weight pickle (MemoryError)"
