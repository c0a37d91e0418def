# The composer's vocabulary: four voices on a sixteenth-note grid, each step written as S, B, A, T tokens
# (soprano first, so the harmoniser gets the melody and adds the rest; bass next, the harmony's root).
# A token is a rest, a hold (the voice's note goes on), or a new note; pitches are MIDI numbers.
from __future__ import annotations

import numpy as np

VOICES = ("S", "B", "A", "T")  # token order within a step
SATB = (0, 2, 3, 1)  # indices into VOICES from top to bottom: S, A, T, B
STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16  # the composer writes 4/4
REST, HOLD = 0, 1
LOW, HIGH = 28, 96  # MIDI pitches the vocabulary holds (Bach's range with room for transposition)
VOCAB = 2 + HIGH - LOW + 1

# Voice ranges (MIDI, inclusive) a note must keep to: the usual SATB ranges widened to what Bach's chorales
# themselves use (soprano to A5, bass to C2); the sampling rules and the range metric share them.
RANGES = {"S": (60, 81), "B": (36, 64), "A": (53, 74), "T": (45, 69)}


def pitch_token(pitch: int) -> int:
    if not LOW <= pitch <= HIGH:
        raise ValueError(f"pitch {pitch} outside the composer's vocabulary {LOW}..{HIGH}")
    return 2 + pitch - LOW


def token_pitch(token: np.ndarray | int) -> np.ndarray | int:
    """MIDI pitch of note tokens (meaningless for REST and HOLD)."""
    return token - 2 + LOW


def sounding(grid: np.ndarray) -> np.ndarray:
    """(T, 4) tokens -> (T, 4) MIDI pitch sounding at each step, 0 where the voice rests."""
    out = np.zeros(grid.shape, dtype=np.int64)
    current = np.zeros(grid.shape[1], dtype=np.int64)
    for t, row in enumerate(grid):
        current = np.where(row == REST, 0, np.where(row == HOLD, current, token_pitch(row)))
        out[t] = current
    return out


def onsets(grid: np.ndarray) -> np.ndarray:
    """(T, 4) bool: a new note starts here."""
    return grid >= 2


def transpose(grid: np.ndarray, shift: int) -> np.ndarray:
    out = grid.copy()
    notes = grid >= 2
    out[notes] += shift
    if notes.any() and (out[notes].min() < 2 or out[notes].max() >= VOCAB):
        raise ValueError(f"transposing by {shift} leaves the vocabulary")
    return out
