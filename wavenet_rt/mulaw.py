# Mu-law companding between audio in [-1, 1] and classes 0..classes-1 (mu = classes - 1), in NumPy.
# Twin of csrc/core/sampling.h's mulaw_encode (float32 there, float64 here: they may part on a class edge)
# and mulaw_decode/mulaw_edge (float64 rounded to float32 in both: the same bits).
from __future__ import annotations

import numpy as np


def mulaw_encode(audio: np.ndarray, classes: int = 256) -> np.ndarray:
    """Float audio (clamped to [-1, 1]) -> int64 classes of the same shape."""
    mu = classes - 1
    x = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.clip(np.floor((y + 1.0) * 0.5 * mu + 0.5), 0, mu).astype(np.int64)


def _expand(position: np.ndarray, classes: int) -> np.ndarray:
    """float32 audio whose companded value is `position` (in classes), computed in float64."""
    mu = classes - 1
    y = 2.0 * np.asarray(position, dtype=np.float64) / mu - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def mulaw_decode(codes: np.ndarray, classes: int = 256) -> np.ndarray:
    """Classes -> float32 audio at the class centres."""
    return _expand(codes, classes)


def mulaw_edges(classes: int = 256) -> np.ndarray:
    """(classes - 1,) float32: where class c ends and c + 1 begins, halfway between their centres in the
    companded domain (csrc/core/sampling.h's mulaw_edge)."""
    return _expand(np.arange(classes - 1) + 0.5, classes)


def silence_code(classes: int = 256) -> int:
    """The class that encodes 0.0: the input a generator starts from."""
    return int(mulaw_encode(np.zeros(1), classes)[0])
