# Conditioning frames as stored in a shard: the changes between consecutive frames plus the whole state
# every KEYFRAME frames. MIDI frames change rarely (a key goes down, its onset flag clears, it lifts), so
# a fine hop costs almost nothing on disk or in memory, and any window is rebuilt exactly on demand.
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEYFRAME = 256  # frames between stored whole states: a window rebuilds at most this many frames extra


@dataclass(frozen=True)
class SparseFrames:
    frames: int
    keyframes: np.ndarray  # (channels, ceil(frames / KEYFRAME)) float16: the state at frames 0, K, 2K, ...
    change_frame: np.ndarray  # (changes,) int32, ascending: the frame where a channel takes a new value
    change_channel: np.ndarray  # (changes,) int16
    change_delta: np.ndarray  # (changes,) float32: new value - old value, exact for float16 values

    @property
    def channels(self) -> int:
        return self.keyframes.shape[0]

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> SparseFrames:
        """From frames (channels, frames); values are kept at float16 precision, as shards always did."""
        values = np.asarray(dense, dtype=np.float16)
        before = np.concatenate([np.zeros((values.shape[0], 1), np.float16), values[:, :-1]], axis=1)
        frame, channel = np.nonzero((values != before).T)  # frame-major: ascending frames
        delta = values[channel, frame].astype(np.float32) - before[channel, frame].astype(np.float32)
        return cls(values.shape[1], np.ascontiguousarray(values[:, ::KEYFRAME]), frame.astype(np.int32),
                   channel.astype(np.int16), delta)

    def window(self, first: int, count: int, channels: np.ndarray | None = None) -> np.ndarray:
        """Frames first .. first + count - 1 as float32 (channels, count); zeros outside the piece. `channels`
        (indices, ascending): only those rows, rebuilt from only their changes."""
        rows = np.arange(self.channels) if channels is None else np.asarray(channels)
        out = np.zeros((len(rows), count), np.float32)
        lo, hi = max(first, 0), min(first + count, self.frames)
        if lo >= hi:
            return out
        base = lo // KEYFRAME * KEYFRAME
        begin, end = np.searchsorted(self.change_frame, [base + 1, hi])
        channel, frame = self.change_channel[begin:end], self.change_frame[begin:end]
        delta = self.change_delta[begin:end]
        if channels is not None:
            row_of = np.full(self.channels, -1)
            row_of[rows] = np.arange(len(rows))
            channel = row_of[channel]
            kept = channel >= 0
            channel, frame, delta = channel[kept], frame[kept], delta[kept]
        deltas = np.zeros((len(rows), hi - base), np.float32)
        deltas[channel, frame - base] = delta
        state = self.keyframes[rows, base // KEYFRAME].astype(np.float32)
        out[:, lo - first:hi - first] = (state[:, None] + np.cumsum(deltas, axis=1))[:, lo - base:]
        return out

    def dense(self, channels: np.ndarray | None = None) -> np.ndarray:
        return self.window(0, self.frames, channels)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a shard stores (see shards.py)."""
        return {"cond_frames": np.array(self.frames, np.int64), "cond_keyframes": self.keyframes,
                "cond_change_frame": self.change_frame, "cond_change_channel": self.change_channel,
                "cond_change_delta": self.change_delta}

    @classmethod
    def from_arrays(cls, arrays) -> SparseFrames:
        return cls(int(arrays["cond_frames"]), arrays["cond_keyframes"], arrays["cond_change_frame"],
                   arrays["cond_change_channel"], arrays["cond_change_delta"])
