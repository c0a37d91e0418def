# Model files: a round trip keeps every weight and the config; each way a file can be wrong raises
# ModelFileError (a ValueError) that says which; reading needs no torch and never unpickles.
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from wavenet_rt import ModelFileError, WaveNet, WaveNetConfig, load_model, read_model_file, save_model
from wavenet_rt.weights import FORMAT_NAME, expected_shapes

CONFIG = WaveNetConfig(dilations=[1, 2, 4, 1, 2, 4], kernel_size=3, residual_channels=6, gate_channels=10,
                       skip_channels=12, classes=32, cond_channels=4, cond_hop=8, global_classes=2,
                       sample_rate=8000, cond_features="roll88_onset88")


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    model = WaveNet(CONFIG)
    path = tmp_path / "model.safetensors"
    save_model(model, path)
    return model, path


def test_round_trip(model_file):
    model, path = model_file
    loaded = load_model(path)
    assert loaded.config == CONFIG
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    codes = torch.randint(0, 32, (2, 50))
    cond, glob = torch.rand(2, 4, 7), torch.tensor([0, 1])
    assert torch.equal(model(codes, cond, glob), loaded(codes, cond, glob))


def test_expected_shapes_are_the_models_state_dict():
    model = WaveNet(CONFIG)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes(CONFIG)


def test_reading_needs_no_torch(model_file):
    _, path = model_file
    code = (f"import sys; from wavenet_rt import read_model_file; c, t = read_model_file({str(path)!r}); "
            "assert 'torch' not in sys.modules and c.layers == 6 and t['embed.weight'].shape == (32, 6)")
    subprocess.run([sys.executable, "-c", code], check=True)


def rewrite(path, tensors=None, metadata=None):
    config, original = read_model_file(path)
    meta = {"format": FORMAT_NAME, "format_version": "1", "config": config.to_json()}
    save_file(original if tensors is None else tensors, str(path), metadata=meta if metadata is None else metadata)
    return original, meta


def test_truncated_file(model_file):
    _, path = model_file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated"):
        read_model_file(path)
    path.write_bytes(b"\x00" * 3)
    with pytest.raises(ModelFileError, match="truncated or not a safetensors"):
        load_model(path)


def test_foreign_safetensors_file(model_file):
    _, path = model_file
    save_file({"weight": np.zeros((3, 3), np.float32)}, str(path))
    with pytest.raises(ModelFileError, match="not a wavenet_rt model"):
        load_model(path)


def test_wrong_shape(model_file):
    _, path = model_file
    tensors, _ = rewrite(path)
    tensors["layers.2.conv.weight"] = np.zeros((10, 6, 2), np.float32)
    rewrite(path, tensors)
    with pytest.raises(ModelFileError, match=r"layers\.2\.conv\.weight has shape"):
        load_model(path)


def test_missing_tensor(model_file):
    _, path = model_file
    tensors, _ = rewrite(path)
    del tensors["head2.bias"]
    rewrite(path, tensors)
    with pytest.raises(ModelFileError, match="missing tensors.*head2.bias"):
        load_model(path)


def test_newer_format_version(model_file):
    _, path = model_file
    tensors, meta = rewrite(path)
    rewrite(path, tensors, {**meta, "format_version": "99"})
    with pytest.raises(ModelFileError, match="format version 99, newer"):
        load_model(path)


def test_nan_weights(model_file):
    _, path = model_file
    tensors, _ = rewrite(path)
    tensors["layers.5.skip.weight"][0, 0, 0] = np.nan
    rewrite(path, tensors)
    with pytest.raises(ModelFileError, match=r"layers\.5\.skip\.weight holds NaN"):
        load_model(path)


def test_invalid_config(model_file):
    _, path = model_file
    tensors, meta = rewrite(path)
    config = json.loads(meta["config"])
    rewrite(path, tensors, {**meta, "config": json.dumps({**config, "gate_channels": 7})})
    with pytest.raises(ModelFileError, match="invalid config.*gate_channels"):
        load_model(path)
    for pole in (1.0, -0.5, "0.9", True, 0.99999998):  # the last is 1 in float32
        save_file(tensors, str(path), metadata={**meta, "config": json.dumps({**config, "dc_blocker": pole})})
        with pytest.raises(ModelFileError, match="dc_blocker must be a number in"):
            load_model(path)
    for temperature in (-0.5, 10.5, "0.6", None):
        save_file(tensors, str(path), metadata={**meta, "config": json.dumps({**config, "temperature": temperature})})
        with pytest.raises(ModelFileError, match="temperature must be a number in"):
            load_model(path)
    for field, scales in (("sustain_scale", (-0.5, 1.5, "0.5", None)), ("strike_scale", (0.5, 2.5, "1.5", None))):
        for scale in scales:
            save_file(tensors, str(path), metadata={**meta, "config": json.dumps({**config, field: scale})})
            with pytest.raises(ModelFileError, match=f"{field} must be a number in"):
                load_model(path)
    for curve in ([0.0] * 8, [-40.5] + [0.0] * 8, ["1"] * 9, [True] * 9, 2.0, None):
        save_file(tensors, str(path), metadata={**meta, "config": json.dumps({**config, "velocity_curve_db": curve})})
        with pytest.raises(ModelFileError, match=r"velocity_curve_db must be empty or 9 numbers within \+-40 dB"):
            load_model(path)
    save_file(tensors, str(path), metadata={**meta, "config": json.dumps(
        {**config, "voices": 0, "velocity_curve_db": [1.0] * 9})})
    with pytest.raises(ModelFileError, match="velocity_curve_db trims voices"):
        load_model(path)
    for gain in (0, -0.25, 16.5, 1e-50, "0.25", None):  # 1e-50 is 0 in float32
        save_file(tensors, str(path), metadata={**meta, "config": json.dumps({**config, "gain": gain})})
        with pytest.raises(ModelFileError, match=r"gain must be a number in \(0, 16\]"):
            load_model(path)
    save_file(tensors, str(path), metadata={**meta, "config": json.dumps({**config, "hyper_drive": 1})})
    with pytest.raises(ModelFileError, match="hyper_drive"):
        load_model(path)


def test_errors_are_value_errors_and_missing_files_say_so(tmp_path):
    assert issubclass(ModelFileError, ValueError)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_model(tmp_path / "nope.safetensors")
