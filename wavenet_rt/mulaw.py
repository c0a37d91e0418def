# Mu-law companding between audio in [-1, 1] and classes 0..classes-1 (mu = classes - 1), in NumPy.
# Twin of csrc/core/sampling.h's mulaw_encode/mulaw_decode (which compute in float32; this in float64).
from __future__ import annotations

import numpy as np


def mulaw_encode(audio: np.ndarray, classes: int = 256) -> np.ndarray:
    """Float audio (clamped to [-1, 1]) -> int64 classes of the same shape."""
    mu = classes - 1
    x = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.clip(np.floor((y + 1.0) * 0.5 * mu + 0.5), 0, mu).astype(np.int64)


def mulaw_decode(codes: np.ndarray, classes: int = 256) -> np.ndarray:
    """Classes -> float32 audio at the class centres."""
    mu = classes - 1
    y = 2.0 * np.asarray(codes, dtype=np.float64) / mu - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def silence_code(classes: int = 256) -> int:
    """The class that encodes 0.0: the input a generator starts from."""
    return int(mulaw_encode(np.zeros(1), classes)[0])
