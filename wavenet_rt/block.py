# The conditioning frames a block of samples touches, for every Python caller that slices conditioning per
# block (the engine facade, the PyTorch generator): twin of csrc/core/block.h. WaveNet.forward states its
# own ceil(T / cond_hop) as the reference the engines are tested against.
from __future__ import annotations


def block_frames(t0: int, n: int, hop: int) -> tuple[int, int]:
    """(first frame, frame count) that samples t0 .. t0 + n - 1 read: frames t0 // hop .. (t0 + n - 1) // hop."""
    return t0 // hop, ((t0 + n - 1) // hop - t0 // hop + 1 if n > 0 else 0)
