# The sampling contract in NumPy, twin of csrc/core/sampling.h: the counter-based RNG (Philox4x32-10 keyed by
# seed, counter = (sample index, stream)) and inverse-CDF categorical sampling. After reset(seed), the
# k-th generated sample of stream s (k from 0) uses sampling_uniforms(seed, s, k, 1), in every engine.
from __future__ import annotations

import numpy as np

MIN_TEMPERATURE = 1e-6  # below it: argmax (kMinTemperature in csrc/core/sampling.h)
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


def sample_categorical(logits: np.ndarray, temperature: float, uniforms: np.ndarray) -> np.ndarray:
    """One class per row of logits (rows, classes), following sample_categorical in csrc/core/sampling.h."""
    logits = np.asarray(logits, dtype=np.float32)
    best = np.argmax(logits, axis=1)
    if not temperature >= MIN_TEMPERATURE:
        return best
    inv_temperature = np.float32(1.0) / np.float32(temperature)
    rows = np.arange(logits.shape[0])
    weights = np.exp((logits - logits[rows, best][:, None]) * inv_temperature)  # (rows, classes)
    running = np.cumsum(weights, axis=1, dtype=np.float32)  # left-to-right float32 sums, as in C++
    target = np.asarray(uniforms, dtype=np.float32) * running[:, -1]
    above = running > target[:, None]
    last_nonzero = weights.shape[1] - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
    return np.where(above.any(axis=1), np.argmax(above, axis=1), last_nonzero)
