# A voice's level by its note's velocity (the model config's velocity_curve_db), sample by sample as the
# performer scales each voice (csrc/live/performer.cpp, trim_voices), in float64; and training windows with
# their audio divided by it (`train --velocity-level`), so a model learns every note at the loudest's level
# and its hiss floor, which does not follow the velocity, sinks with the note when the performer scales it.
from __future__ import annotations

import numpy as np

from .conditioning import VELOCITY_CURVE_POINTS, VELOCITY_TRIM_RAMP
from .mulaw import mulaw_decode, mulaw_encode

KEYS = 88  # the roll's channels come first in every feature set that has velocities


def soundfont_curve_db() -> list[float]:
    """The level a General MIDI soundfont gives each curve point, relative to velocity 127: the SF2 default
    velocity-to-attenuation, 40 log10(v / 127) dB, which the dataset's fluidsynth renders follow within
    1 dB (evaluate's velocity probe: -57, -53, -45, -38, -33, -29, -26, -24, -21 dBFS at 16 ... 127)."""
    return [round(40 * float(np.log10(v / 127)), 2) for v in VELOCITY_CURVE_POINTS]


def velocity_gains(curve_db: list[float]) -> np.ndarray:
    """The linear gain of each velocity 0 ... 127: the curve's dB interpolated (its ends held beyond it)."""
    return 10 ** (np.interp(np.arange(128), VELOCITY_CURVE_POINTS, curve_db) / 20)


def voice_trims(levels: np.ndarray, curve_db: list[float], hop: int) -> np.ndarray:
    """One voice's trim per sample (frames * hop) from its frames' levels (velocity / 127 of its loudest held
    key, 0 with none): a frame with a key held sets the target, its velocity's gain; the trim moves to a new
    target along a straight line over VELOCITY_TRIM_RAMP samples from that frame's first sample, starting
    from wherever it is (a ramp cut short by the next note included), the voice's first target at once; with
    no key held it stays. 1 before any note."""
    velocity = np.clip(np.rint(np.asarray(levels) * 127), 0, 127).astype(np.int64)
    held = np.flatnonzero(velocity)
    out = np.ones(len(velocity) * hop)
    if not len(held):
        return out
    gains = velocity_gains(curve_db)[velocity]
    latest = np.maximum.accumulate(np.where(velocity > 0, np.arange(len(velocity)), -1))  # last held frame
    target = np.where(latest >= 0, gains[np.maximum(latest, 0)], 1.0)
    out[:] = np.repeat(target, hop)
    moves = held[1:][~np.isclose(gains[held[1:]], target[held[1:] - 1], rtol=1e-6, atol=0)]
    steps = np.arange(1, VELOCITY_TRIM_RAMP + 1) / VELOCITY_TRIM_RAMP
    for frame in moves:  # in order: each ramp starts where the one before it has got to, and may cut it short
        start = frame * hop
        ramp = steps[:len(out) - start]
        out[start:start + len(ramp)] = out[start - 1] + (target[frame] - out[start - 1]) * ramp
    return out


def frame_levels(cond: np.ndarray) -> np.ndarray:
    """Each frame's level, velocity / 127 of its loudest held key, from conditioning (channels, frames)."""
    return cond[:KEYS].max(axis=0)


def divided_codes(codes: np.ndarray, trims: np.ndarray, classes: int) -> np.ndarray:
    """mu-law codes of the audio divided by its trims (clipped at full scale)."""
    audio = mulaw_decode(codes, classes) / trims
    return mulaw_encode(np.clip(audio, -1.0, 1.0), classes)
