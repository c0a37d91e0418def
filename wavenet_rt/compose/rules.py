# Voice-leading rules of four-part writing, one definition for the sampler (which forbids breaking them)
# and the metrics (which count how often a piece breaks them): parallel (consecutive) fifths and octaves
# between two moving voices, notes outside a voice's range, and voices crossing (S >= A >= T >= B).
from __future__ import annotations

import numpy as np

from .tokens import HOLD, RANGES, REST, SATB, VOCAB, VOICES, token_pitch

PERFECT = (0, 7)  # interval classes of unisons/octaves and fifths
NOTES = np.arange(2, VOCAB)
NOTE_PITCHES = token_pitch(NOTES)


def parallel(prev_a: int, new_a: int, prev_b: int, new_b: int) -> bool:
    """Two voices both move (from sounding notes to other notes) and keep the same perfect interval class."""
    if min(prev_a, new_a, prev_b, new_b) <= 0 or prev_a == new_a or prev_b == new_b:
        return False
    ic = abs(prev_a - prev_b) % 12
    return ic in PERFECT and abs(new_a - new_b) % 12 == ic


def in_range(voice: int, pitch: int) -> bool:
    lo, hi = RANGES[VOICES[voice]]
    return lo <= pitch <= hi


def crossed(upper: int, lower: int) -> bool:
    """Sounding pitches of a higher and a lower voice (0 = rest): the lower one sounds above."""
    return upper > 0 and lower > 0 and lower > upper


def allowed(voice: int, prev: np.ndarray, now: np.ndarray, decided: list[int], crossing: bool = True) -> np.ndarray:
    """Mask (VOCAB,) of the tokens voice `voice` may take at this step without breaking a rule, given the
    pitches sounding at the previous step (`prev`, (4,), 0 = rest) and those chosen at this step for the
    voices in `decided` (`now`). REST is always allowed, HOLD unless it crosses; note tokens must be in
    range, make no parallels with a decided voice and (when `crossing`) not cross one."""
    mask = np.zeros(VOCAB, dtype=bool)
    mask[REST] = True
    lo, hi = RANGES[VOICES[voice]]
    notes = (NOTE_PITCHES >= lo) & (NOTE_PITCHES <= hi)
    for u in decided:
        if prev[voice] > 0 and prev[u] > 0 and now[u] > 0 and now[u] != prev[u]:
            ic = abs(prev[voice] - prev[u]) % 12
            if ic in PERFECT:
                moves = NOTE_PITCHES != prev[voice]
                notes &= ~(moves & (np.abs(NOTE_PITCHES - now[u]) % 12 == ic))
    hold_ok = True
    if crossing:
        upper, lower = _neighbours(voice, decided, now)
        if upper:
            notes &= NOTE_PITCHES <= upper
            hold_ok &= not crossed(upper, prev[voice])
        if lower:
            notes &= NOTE_PITCHES >= lower
            hold_ok &= not crossed(prev[voice], lower)
    mask[NOTES] = notes
    mask[HOLD] = hold_ok
    return mask


def _neighbours(voice: int, decided: list[int], now: np.ndarray) -> tuple[int, int]:
    """Sounding pitches at this step of the nearest decided voices above and below `voice` (0: none)."""
    order = list(SATB)
    pos = order.index(voice)
    above = [now[u] for u in order[:pos] if u in decided and now[u] > 0]
    below = [now[u] for u in order[pos + 1:] if u in decided and now[u] > 0]
    return (min(above) if above else 0), (max(below) if below else 0)
