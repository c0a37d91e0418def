# The compiled module's shared pieces (csrc/core/sampling.h) against their NumPy twins and float64 references:
# mu-law coding, the Philox counter-based RNG (with the published known-answer vectors) and sampling.
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from wavenet_rt import _engine
from wavenet_rt.feedback import DcBlocker
from wavenet_rt.mulaw import mulaw_decode, mulaw_edges, mulaw_encode, silence_code
from wavenet_rt.sampling import (
    MAX_STRIKE_SCALE,
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    philox4x32_10,
    sample_categorical,
    sampling_exp,
    sampling_uniforms,
)


def test_import_needs_no_torch():
    code = "import sys, wavenet_rt, wavenet_rt._engine, wavenet_rt.conditioning; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("counter,key,expected", [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_philox_known_answers(counter, key, expected):
    """Random123's published Philox4x32-10 test vectors."""
    out = philox4x32_10(tuple(np.array([c], np.uint64) for c in counter), key)
    assert tuple(int(w[0]) for w in out) == expected


@pytest.mark.parametrize("seed,stream,start", [(0, 0, 0), (12345678901234567, 7, 2**32 - 3), (2**64 - 1, 2**31, 99)])
def test_uniforms_match_numpy_bit_for_bit(seed, stream, start):
    native = _engine.sampling_uniforms(seed, stream, start, 50000)
    assert native.dtype == np.float32
    np.testing.assert_array_equal(native, sampling_uniforms(seed, stream, start, 50000))
    assert native.min() >= 0 and native.max() < 1


def test_uniforms_are_uniform_and_independent_across_streams():
    a = _engine.sampling_uniforms(1, 0, 0, 200000)
    b = _engine.sampling_uniforms(1, 1, 0, 200000)
    c = _engine.sampling_uniforms(2, 0, 0, 200000)
    for u in (a, b, c):
        assert stats.kstest(u, "uniform").pvalue > 1e-4
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01 and abs(np.corrcoef(a, c)[0, 1]) < 0.01


def float64_mulaw(x, classes):
    mu = classes - 1
    y = np.sign(x) * np.log(1 + mu * np.abs(x)) / np.log(1 + mu)
    return (y + 1) / 2 * mu  # continuous class position before rounding


@pytest.mark.parametrize("classes", [256, 65536, 17])
def test_mulaw_encode_matches_reference(classes):
    x = np.concatenate([np.linspace(-1, 1, 20001), np.random.default_rng(0).uniform(-1, 1, 20000),
                        [-2.0, 2.0, 0.0, 1e-9]]).astype(np.float32)
    native, numpy_codes = _engine.mulaw_encode(x, classes), mulaw_encode(x, classes)
    position = float64_mulaw(np.clip(x.astype(np.float64), -1, 1), classes)
    # Rounding may differ between float32 (C++) and float64 only right at a class boundary.
    near_boundary = np.abs(position - np.floor(position) - 0.5) < 1e-6 * classes + 1e-5
    assert np.all((native == numpy_codes) | near_boundary)
    assert np.mean(native != numpy_codes) < 0.01
    np.testing.assert_array_equal(numpy_codes, np.floor(position + 0.5).astype(np.int64))
    assert native.min() >= 0 and native.max() <= classes - 1


@pytest.mark.parametrize("classes", [2, 3, 48, 255, 256, 1024, 4096, 65536])
def test_mulaw_decode_and_edges_match_numpy_bit_for_bit(classes):
    """Centres and edges are float64 rounded once in both, so the DC blocker's tables agree exactly; each
    edge lies between its classes' centres, where mulaw_encode turns from one to the other."""
    codes = np.arange(classes)
    native = _engine.mulaw_decode(codes, classes)
    np.testing.assert_array_equal(native, mulaw_decode(codes, classes))
    np.testing.assert_array_equal(_engine.mulaw_encode(native, classes), codes)
    assert abs(mulaw_decode(silence_code(classes), classes)) < 2e-4 or classes < 256
    edges = _engine.mulaw_edges(classes)
    np.testing.assert_array_equal(edges, mulaw_edges(classes))
    assert (native[:-1] < edges).all() and (edges < native[1:]).all()
    below, above = np.nextafter(edges, np.float32(-2)), np.nextafter(edges, np.float32(2))
    normal = np.abs(edges) > 1e-30  # an edge at 0 (odd mu): a denormal step is lost in float64's 1 + y
    np.testing.assert_array_equal(mulaw_encode(below, classes)[normal], codes[:-1][normal])
    np.testing.assert_array_equal(mulaw_encode(above, classes)[normal], codes[1:][normal])


def float64_dc_blocked(drawn, pole, classes):
    """An independent reference: the blocker in float64 with a plain loop, coded by the edges (checked
    against mulaw_encode above); also returns each output's distance from the nearest edge."""
    centres = mulaw_decode(np.arange(classes), classes).astype(np.float64)
    x_prev, y_prev = centres[silence_code(classes)], 0.0
    y = np.empty(len(drawn))
    for t, c in enumerate(drawn):
        y[t] = centres[c] - x_prev + pole * y_prev
        y[t] = 0.0 if abs(y[t]) < np.finfo(np.float32).tiny else y[t]  # the rule's end of a fading offset
        x_prev, y_prev = centres[c], y[t]
    edges = mulaw_edges(classes).astype(np.float64)
    gap = np.abs(y[:, None] - edges[None, :]).min(axis=1)
    return (y[:, None] >= edges[None, :]).sum(axis=1), gap, y


@pytest.mark.parametrize("pole", [0.0, 0.9, 0.999, 0.9995])
def test_the_dc_blocker_twins_agree_and_follow_float64(pole):
    """feedback.h (through the binding) and wavenet_rt/feedback.py play the same classes bit for bit, on
    a random walk with offsets and jumps; both equal the float64 blocker except within float32 rounding
    of an edge; a held offset is removed (below -60 dBFS after eight time constants) and a 440 Hz tone passes."""
    classes = 256
    rng = np.random.default_rng(3)
    walk = np.clip(128 + np.cumsum(rng.integers(-6, 7, 30000)) // 4, 0, classes - 1)
    walk[10000:] = 230  # a held offset, as a derailed model's
    for drawn in (walk, rng.integers(0, classes, 5000)):
        native = _engine.played_classes(drawn, pole, classes)
        blocker = DcBlocker(pole, classes, 2)
        twin = np.stack([blocker(np.stack([d, d])) for d in drawn], axis=1)
        np.testing.assert_array_equal(native, twin[0])
        np.testing.assert_array_equal(twin[1], twin[0])
        if pole == 0.0:
            np.testing.assert_array_equal(native, drawn)
            continue
        reference, gap, y = float64_dc_blocked(drawn, pole, classes)
        differ = native != reference
        assert (gap[differ] < 1e-5).all() and differ.mean() < 0.01, (differ.mean(), gap[differ].max())
    if pole == 0.9:  # a fading offset ends in the silence class itself, not in denormals either side of it
        assert (_engine.played_classes(walk, pole, classes)[-1000:] == silence_code(classes)).all()
    if pole >= 0.999:
        settled = 10000 + int(8 / (1 - pole))
        assert np.abs(mulaw_decode(_engine.played_classes(walk, pole, classes)[settled:], classes)).max() < 1e-3
        tone = mulaw_encode(0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 16000), classes)
        passed = _engine.played_classes(tone, pole, classes)
        error = mulaw_decode(passed[4000:], classes) - mulaw_decode(tone[4000:], classes)
        assert np.abs(error).max() < 0.01  # the corner's phase lead at 440 Hz: 0.006 rad at most


def test_mulaw_rejects_bad_input():
    with pytest.raises(ValueError, match="outside"):
        _engine.mulaw_decode(np.array([0, 256]), 256)
    with pytest.raises(ValueError, match="classes"):
        _engine.mulaw_encode(np.zeros(3, np.float32), 1)


def test_categorical_sampling_matches_numpy():
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((20000, 256)) * rng.uniform(0.1, 8, (20000, 1))).astype(np.float32)
    u = _engine.sampling_uniforms(5, 0, 0, 20000)
    for temperature in (1.0, 0.7, 1.5):
        np.testing.assert_array_equal(_engine.sample_categorical(logits, temperature, u),
                                      sample_categorical(logits, temperature, u))


def test_sampling_exp_twin_is_bit_identical_and_accurate():
    """The NumPy sampling_exp equals the C++ one bit for bit, and both are within 1e-6 of float64 exp."""
    rng = np.random.default_rng(3)
    x = np.concatenate([-np.geomspace(1e-8, 100, 200000), np.zeros(1), np.linspace(-90, 0, 100001),
                        -rng.uniform(0, 90, 200000)]).astype(np.float32)
    got = sampling_exp(x)
    np.testing.assert_array_equal(got.view(np.uint32), _engine.sampling_exp(x).view(np.uint32))
    np.testing.assert_allclose(got, np.exp(np.maximum(x.astype(np.float64), -87)), rtol=1e-6)


def test_temperature_bounds_twins_agree():
    assert (MIN_TEMPERATURE, MAX_TEMPERATURE, MAX_STRIKE_SCALE) == pytest.approx(
        (_engine.min_temperature, _engine.max_temperature, _engine.max_strike_scale), rel=1e-7)


def test_zero_temperature_is_argmax():
    logits = np.random.default_rng(2).standard_normal((1000, 256)).astype(np.float32)
    u = _engine.sampling_uniforms(0, 0, 0, 1000)
    np.testing.assert_array_equal(_engine.sample_categorical(logits, 0.0, u), logits.argmax(axis=1))
    np.testing.assert_array_equal(_engine.sample_categorical(logits, 1e-4, u), logits.argmax(axis=1))


def test_sampled_classes_follow_softmax():
    """Chi-square of 200k draws from one fixed distribution against its float64 softmax."""
    classes, draws = 64, 200000
    row = np.random.default_rng(3).standard_normal(classes).astype(np.float32) * 2
    u = _engine.sampling_uniforms(9, 3, 0, draws)
    picks = _engine.sample_categorical(np.tile(row, (draws, 1)), 1.0, u)
    p = np.exp(row.astype(np.float64) - row.max())
    p /= p.sum()
    observed = np.bincount(picks, minlength=classes)
    assert stats.chisquare(observed, p * draws).pvalue > 1e-4
    hot = _engine.sample_categorical(np.tile(row, (draws, 1)), 2.0, u)
    q = np.exp((row.astype(np.float64) - row.max()) / 2.0)
    assert stats.chisquare(np.bincount(hot, minlength=classes), q / q.sum() * draws).pvalue > 1e-4


@pytest.mark.gpu
def test_device_uniforms_equal_host_uniforms():
    np.testing.assert_array_equal(_engine.cuda_sampling_uniforms(77, 5, 2**33, 100000),
                                  _engine.sampling_uniforms(77, 5, 2**33, 100000))
