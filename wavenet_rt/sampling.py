# The sampling contract in NumPy, twin of csrc/core/sampling.h: the counter-based RNG (Philox4x32-10 keyed by
# seed, counter = (sample index, stream)), the exp of the sampling weights and inverse-CDF categorical
# sampling, each equal to the C++ bit for bit. After reset(seed), the
# k-th generated sample of stream s (k from 0) uses sampling_uniforms(seed, s, k, 1), in every engine.
from __future__ import annotations

import numpy as np

MIN_TEMPERATURE = 1e-6  # below it: argmax (kMinTemperature in csrc/core/sampling.h)
MAX_TEMPERATURE = 10.0  # the most a model file or a player may name (kMaxTemperature there)
MAX_STRIKE_SCALE = 2.0  # the most a note's strike may scale the temperature by (kMaxStrikeScale there)
_MASK = np.uint64(0xFFFFFFFF)
_MUL = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_WEYL = (np.uint64(0x9E3779B9), np.uint64(0xBB67AE85))


def philox4x32_10(counter: tuple[np.ndarray, ...], key: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Philox4x32-10 on arrays of 32-bit words held in uint64 (so products cannot overflow)."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & _MASK for c in counter)
    k0, k1 = np.uint64(key[0]) & _MASK, np.uint64(key[1]) & _MASK
    for _ in range(10):
        p0, p1 = _MUL[0] * c0, _MUL[1] * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK)
        k0, k1 = (k0 + _WEYL[0]) & _MASK, (k1 + _WEYL[1]) & _MASK
    return c0, c1, c2, c3


def sampling_uniforms(seed: int, stream: int, start: int, n: int) -> np.ndarray:
    """float32 uniforms in [0, 1 - 2^-24] for sample indices start .. start + n - 1 of `stream`."""
    index = np.arange(start, start + n, dtype=np.uint64)
    counter = (index & _MASK, index >> np.uint64(32), np.full(n, stream, dtype=np.uint64), np.zeros(n, np.uint64))
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    bits = philox4x32_10(counter, (seed & 0xFFFFFFFF, seed >> 32))[0]
    return ((bits >> np.uint64(8)).astype(np.float64) * 2.0**-24).astype(np.float32)


def fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """fmaf on float32 arrays: a * b + c rounded once. The product is exact in float64; the float64 sum's
    rounding error (TwoSum) decides a round-to-odd float64, which then rounds to float32 correctly."""
    p, c = a.astype(np.float64) * b.astype(np.float64), np.asarray(c, np.float64)
    s = p + c
    virtual = s - c
    error = (p - virtual) + (c - (s - virtual))
    even = (s.view(np.uint64) & np.uint64(1)) == 0
    s = np.where((error != 0) & even, np.nextafter(s, np.where(error > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


def sampling_exp(x: np.ndarray) -> np.ndarray:
    """sampling_exp of csrc/core/sampling.h, bit for bit: float32 range reduction and polynomial with fmaf."""
    f = np.float32
    x = np.maximum(np.asarray(x, np.float32), f(-87.0))  # keeps 2^k a normal float
    k = np.rint(x * f(1.44269504088896341))
    r = fma32(k, np.full_like(k, -0.693145751953125), x)
    r = fma32(k, np.full_like(k, -1.428606765330187e-6), r)
    p = np.full_like(r, 1.9875691500e-4)
    for coefficient in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1):
        p = fma32(p, r, np.full_like(r, coefficient))
    y = fma32(p, r * r, r) + f(1.0)
    scale = ((k.astype(np.int32) + 127) << 23).view(np.float32)
    return y * scale


def sample_categorical(logits: np.ndarray, temperature: float, uniforms: np.ndarray) -> np.ndarray:
    """One class per row of logits (rows, classes), following sample_categorical in csrc/core/sampling.h."""
    logits = np.asarray(logits, dtype=np.float32)
    best = np.argmax(logits, axis=1)
    if not temperature >= MIN_TEMPERATURE:
        return best
    inv_temperature = np.float32(1.0) / np.float32(temperature)
    rows = np.arange(logits.shape[0])
    weights = sampling_exp((logits - logits[rows, best][:, None]) * inv_temperature)  # (rows, classes)
    running = np.cumsum(weights, axis=1, dtype=np.float32)  # left-to-right float32 sums, as in C++
    target = np.asarray(uniforms, dtype=np.float32) * running[:, -1]
    above = running > target[:, None]
    last_nonzero = weights.shape[1] - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
    return np.where(above.any(axis=1), np.argmax(above, axis=1), last_nonzero)
