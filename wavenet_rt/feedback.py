# What a drawn class becomes before it is played and heard again, in NumPy: twin of csrc/core/feedback.h,
# bit for bit. With the config's dc_blocker pole r > 0, each drawn centre x goes through
# y = (x - x_prev) + r * y_prev (one fused multiply-add; below the smallest normal float, +0) and y is
# coded again by the class edges.
from __future__ import annotations

import numpy as np

from .mulaw import mulaw_decode, mulaw_edges, silence_code
from .sampling import fma32


class DcBlocker:
    """The DC blockers of `streams` streams, at rest after an endless silence (reset())."""

    def __init__(self, pole: float, classes: int, streams: int) -> None:
        self.pole = np.float32(pole)
        self.classes = classes
        self.centres = mulaw_decode(np.arange(classes), classes)
        self.edges = mulaw_edges(classes)
        self.x_prev = np.zeros(streams, np.float32)
        self.y_prev = np.zeros(streams, np.float32)
        self.reset()

    def reset(self) -> None:
        self.x_prev[:] = self.centres[silence_code(self.classes)]
        self.y_prev[:] = 0.0

    def __call__(self, drawn: np.ndarray) -> np.ndarray:
        """The classes (streams,) played and fed back after drawing `drawn` (streams,)."""
        if not self.pole > 0:
            return np.asarray(drawn)
        x = self.centres[drawn]
        y = fma32(np.full_like(x, self.pole), self.y_prev, x - self.x_prev)
        y[np.abs(y) < np.finfo(np.float32).tiny] = 0.0  # no denormals: feedback.h says why
        self.x_prev, self.y_prev = x, y
        return np.searchsorted(self.edges, y, side="right")  # how many edges y reaches: feedback.h's rule
