# The period taps (wavenet_rt/excitation.py, csrc/core/excitation.h) against independent references: the
# signal against a per-sample loop over the decoded past, the CPU engine's and the PyTorch generator's
# logits against WaveNet.forward in float64, generation against forward through the sampling contract,
# model files, and fine-tuning from a model without them. The CUDA engine's check is in test_cuda.py.
import math

import numpy as np
import pytest
import torch
from test_engine import generated_codes, model_for, reference_logits

from wavenet_rt import WaveNetConfig, load_model, save_model
from wavenet_rt.engine import Engine
from wavenet_rt.excitation import period_taps
from wavenet_rt.incremental import IncrementalGenerator
from wavenet_rt.mulaw import silence_code
from wavenet_rt.sampling import sample_categorical, sampling_uniforms


def excited_config(**overrides):
    base = dict(dilations=[1, 2, 4, 8, 16, 3], residual_channels=11, gate_channels=14, skip_channels=9, classes=40,
                cond_channels=176, cond_hop=5, cond_features="roll88_onset88", excitation="periods", sample_rate=16000)
    return WaveNetConfig(**{**base, **overrides})


def key_roll(streams, frames, rng, keys=(21, 40, 48, 60, 87)):
    """Conditioning with a few keys held at random levels over random stretches (the roll's channels)."""
    cond = np.zeros((streams, 176, frames), np.float32)
    for s in range(streams):
        for key in keys:
            start = int(rng.integers(0, frames))
            cond[s, key, start:start + int(rng.integers(1, frames))] = rng.uniform(0.2, 1.0)
            cond[s, 88 + key, start] = 1.0  # an onset channel, which the taps must ignore
    return cond


def with_live_excitation(model):
    """The zero-initialised projection made large, so errors in the taps cannot hide."""
    with torch.no_grad():
        model.excite.weight.normal_(0.0, 1.0)
    return model


@pytest.mark.parametrize("rate", [16000, 8000])  # at 8 kHz the top key (C8, 4186 Hz) cannot sound
def test_signal_equals_the_companded_past_one_period_back(rate):
    rng = np.random.default_rng(0)
    hop, classes, steps = 4, 256, 700  # A0's period is 582 samples at 16 kHz: reaches before the start
    cond = key_roll(2, steps // hop, rng)
    codes = rng.integers(0, classes, (2, steps))
    got = period_taps(torch.from_numpy(codes), torch.from_numpy(cond), hop, rate, classes).numpy()
    audio = codes / (classes - 1) * 2.0 - 1.0  # each class's place on the companded scale
    for b in range(2):
        for t in range(0, steps, 3):
            values = []
            for key in np.flatnonzero(cond[b, :88, t // hop]):
                period = rate / (440.0 * 2 ** ((key + 21 - 69) / 12))
                if period <= 2:  # at or above Nyquist: not a note this rate can play
                    continue
                position = t + 1 - period  # one period before the sample being predicted
                i = math.floor(position)
                older, newer = (audio[b, j] if j >= 0 else 0.0 for j in (i, i + 1))
                values.append(older + (position - i) * (newer - older))
            assert got[b, 0, t] == pytest.approx(np.mean(values) if values else 0.0, abs=1e-9)


def test_config_needs_the_key_roll():
    with pytest.raises(ValueError, match="88-key roll"):
        WaveNetConfig(cond_channels=7, excitation="periods")
    with pytest.raises(ValueError, match="excitation must be"):
        excited_config(excitation="saw")


@pytest.mark.parametrize("simd", ["portable", "auto"])
@pytest.mark.parametrize("seed", range(3))
def test_engine_logits_equal_forward(simd, seed):
    rng = np.random.default_rng(seed)
    config = excited_config(kernel_size=int(rng.choice([2, 3])), global_classes=int(rng.choice([0, 3])),
                            sample_rate=[16000, 8000, 16000][seed])  # 8 kHz: the top key has no tap
    model = with_live_excitation(model_for(config, seed))
    streams, steps = 3, 2 * config.receptive_field + 7
    codes = rng.integers(0, config.classes, (streams, steps))
    cond = key_roll(streams, math.ceil(steps / config.cond_hop), rng)
    glob = rng.integers(0, 3, streams) if config.global_classes else None
    want = reference_logits(model, codes, cond.astype(np.float64), glob)
    got = Engine(model, backend="cpu", streams=streams, simd=simd).logits(codes, cond, glob)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    with torch.no_grad():  # and the taps matter to these logits: without them they differ
        model.excite.weight.zero_()
    without = reference_logits(model, codes, cond.astype(np.float64), glob)
    assert np.abs(without - want).max() > 0.05 * np.abs(want).max()


@pytest.mark.parametrize("rate", [16000, 8000])
def test_pytorch_generator_equals_forward(rate):
    rng = np.random.default_rng(4)
    config = excited_config(sample_rate=rate)
    model = with_live_excitation(model_for(config)).double()
    codes = rng.integers(0, config.classes, (2, 90))
    cond = torch.from_numpy(key_roll(2, math.ceil(90 / config.cond_hop), rng)).double()
    want = model(torch.from_numpy(codes), cond)
    got = IncrementalGenerator(model, 2).logits(torch.from_numpy(codes), cond)
    assert torch.allclose(got, want, atol=1e-9)


def test_generation_follows_forward_and_the_sampling_contract():
    """The engine's samples are the contract's picks from forward()'s float64 logits over the silence it
    starts from plus the codes so far (the period taps read that silence too)."""
    config = excited_config(dilations=[1, 2, 4, 8, 1, 2], classes=32)
    model = with_live_excitation(model_for(config))
    rng = np.random.default_rng(6)
    streams, n, hop = 2, 250, config.cond_hop
    cond = key_roll(streams, math.ceil(n / hop), rng)
    engine = Engine(model, backend="cpu", streams=streams)
    engine.reset(seed=3)
    codes = generated_codes(engine, n, cond, None, 1.0)
    lead = math.ceil(600 / hop) * hop  # silence as far back as the longest tap reads (A0: 582 samples)
    history = np.concatenate([np.full((streams, lead + 1), silence_code(config.classes)), codes], axis=1)
    full_cond = np.concatenate([np.zeros((streams, 176, lead // hop)), cond], axis=2)
    logits = model.double()(torch.from_numpy(history[:, :-1]), torch.from_numpy(full_cond)).detach().numpy()
    for s in range(streams):
        u = sampling_uniforms(3, s, 0, n)
        expect = sample_categorical(logits[s, :, lead:].T.astype(np.float32), 1.0, u)
        differ = np.flatnonzero(expect != codes[s])
        assert len(differ) == 0 or differ[0] > n // 2, "engine and forward parted early"


def test_model_file_round_trip_and_fine_tuning_start(tmp_path):
    config = excited_config()
    model = with_live_excitation(model_for(config))
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.config.excitation == "periods" and torch.equal(loaded.excite.weight, model.excite.weight)
    # a fresh projection is zero: a model given one computes what the model without it did
    plain = model_for(excited_config(excitation=""))
    excited = model_for(config)
    excited.load_state_dict(plain.state_dict(), strict=False)
    rng = np.random.default_rng(1)
    codes = torch.from_numpy(rng.integers(0, 40, (1, 200)))
    cond = torch.from_numpy(key_roll(1, 40, rng))
    assert torch.equal(plain(codes, cond), excited(codes, cond))
