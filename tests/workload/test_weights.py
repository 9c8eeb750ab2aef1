import os
import pickle

import numpy as np
import pytest
import torch

from mlperf_maskrcnn import weights
from mlperf_maskrcnn.model import build_backbone
from mlperf_maskrcnn.weights import WeightFileError


def backbone_shapes() -> dict[str, tuple[int, ...]]:
    body = build_backbone().body
    params = {**dict(body.named_parameters()), **dict(body.named_buffers())}
    return {name: tuple(t.shape) for name, t in params.items()}


def synthetic_blobs(seed: int = 0) -> dict[str, np.ndarray]:
    shapes = backbone_shapes()
    rng = np.random.default_rng(seed)
    blobs = {c2: rng.normal(size=shapes[tv]).astype(np.float32) for c2, tv in weights.caffe2_to_torchvision()}
    blobs["fc1000_w"] = np.zeros((1000, 2048), np.float32)
    blobs["conv1_w_momentum"] = np.zeros_like(blobs["conv1_w"])
    return blobs


def test_mapping_names_159_backbone_tensors():
    pairs = list(weights.caffe2_to_torchvision())
    assert len(pairs) == 159
    assert len({c2 for c2, _ in pairs}) == 159
    shapes = backbone_shapes()
    assert all(tv in shapes for _, tv in pairs)


def test_loader_maps_every_tensor_of_a_synthetic_pkl(tmp_path):
    path = tmp_path / "R-50.pkl"
    blobs = synthetic_blobs()
    weights.write_blobs(path, blobs)
    body = build_backbone().body
    assert weights.load_backbone_weights(body, path) == 159
    state = {**dict(body.named_parameters()), **dict(body.named_buffers())}
    np.testing.assert_array_equal(state["layer3.5.conv2.weight"].detach().numpy(), blobs["res4_5_branch2b_w"])
    np.testing.assert_array_equal(state["layer1.0.downsample.1.weight"].numpy(), blobs["res2_0_branch1_bn_s"])
    np.testing.assert_array_equal(state["bn1.bias"].numpy(), blobs["res_conv1_bn_b"])
    # Frozen BN is the affine map of the pickle: mean 0, variance 1, eps 0.
    assert torch.all(state["layer2.1.bn2.running_mean"] == 0) and torch.all(state["layer2.1.bn2.running_var"] == 1)


def test_every_frozen_bn_gets_its_own_scale_and_bias(tmp_path):
    """Detectron's names written out here (not taken from the loader's table): ResNet-50's stages
    res2..res5 have 3, 4, 6, 3 blocks; branch2a/b/c are conv1/2/3 with bn1/2/3, branch1 the
    downsample of block 0; _bn_s is the frozen BN's scale (weight), _bn_b its bias."""
    path = tmp_path / "R-50.pkl"
    blobs = synthetic_blobs(seed=1)
    weights.write_blobs(path, blobs)
    body = build_backbone().body
    weights.load_backbone_weights(body, path)
    tensors = {**dict(body.named_parameters()), **dict(body.named_buffers())}
    state = {name: t.detach().numpy() for name, t in tensors.items()}
    expected = {"bn1.weight": "res_conv1_bn_s", "bn1.bias": "res_conv1_bn_b", "conv1.weight": "conv1_w"}
    for stage, blocks in {2: 3, 3: 4, 4: 6, 5: 3}.items():
        for block in range(blocks):
            for letter, index in (("a", 1), ("b", 2), ("c", 3)):
                torch_name = f"layer{stage - 1}.{block}"
                expected[f"{torch_name}.conv{index}.weight"] = f"res{stage}_{block}_branch2{letter}_w"
                expected[f"{torch_name}.bn{index}.weight"] = f"res{stage}_{block}_branch2{letter}_bn_s"
                expected[f"{torch_name}.bn{index}.bias"] = f"res{stage}_{block}_branch2{letter}_bn_b"
        expected[f"layer{stage - 1}.0.downsample.0.weight"] = f"res{stage}_0_branch1_w"
        expected[f"layer{stage - 1}.0.downsample.1.weight"] = f"res{stage}_0_branch1_bn_s"
        expected[f"layer{stage - 1}.0.downsample.1.bias"] = f"res{stage}_0_branch1_bn_b"
    assert len(expected) == 159
    wrong = [name for name, blob in expected.items() if not np.array_equal(state[name], blobs[blob])]
    assert wrong == []


def test_caffe2_latin1_pickle_without_blobs_wrapper(tmp_path):
    path = tmp_path / "plain.pkl"
    with path.open("wb") as handle:
        pickle.dump(synthetic_blobs(1), handle, protocol=2)
    assert weights.load_backbone_weights(build_backbone().body, path) == 159


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = marker
    path = tmp_path / "evil.pkl"
    blobs = synthetic_blobs()
    blobs["conv1_w"] = exploit
    with path.open("wb") as handle:
        pickle.dump({"blobs": blobs}, handle, protocol=2)
    with pytest.raises(WeightFileError, match="refused global"):
        weights.read_blobs(path)
    assert not marker.exists()


def test_non_array_values_and_wrong_shapes_are_refused(tmp_path):
    path = tmp_path / "strings.pkl"
    with path.open("wb") as handle:
        pickle.dump({"blobs": {"conv1_w": [1, 2, 3]}}, handle, protocol=2)
    with pytest.raises(WeightFileError, match="conv1_w is list"):
        weights.read_blobs(path)
    blobs = synthetic_blobs()
    blobs["res3_0_branch2a_w"] = np.zeros((1, 2, 3, 4), np.float32)
    del blobs["res5_2_branch2c_bn_b"]
    path = tmp_path / "shapes.pkl"
    weights.write_blobs(path, blobs)
    with pytest.raises(WeightFileError) as err:
        weights.load_backbone_weights(build_backbone().body, path)
    assert "res5_2_branch2c_bn_b" in str(err.value) and "res3_0_branch2a_w" in str(err.value)


def test_missing_and_garbage_files_are_named(tmp_path):
    with pytest.raises(WeightFileError, match="not found"):
        weights.read_blobs(tmp_path / "R-50.pkl")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(WeightFileError, match="junk.pkl"):
        weights.read_blobs(junk)
