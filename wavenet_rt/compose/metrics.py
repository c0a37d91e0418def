# Statistics of four-part pieces on the composer's grid, computed the same way for Bach's chorales and for
# composed or harmonised pieces: voice-leading faults per 100 beats (rules.py defines them), pitch classes
# against the key, key stability on sliding windows, and how much of a piece is quoted from the training set.
from __future__ import annotations

import numpy as np

from .keyfinder import find_key, pitch_class_histogram
from .midi_out import notes
from .rules import crossed, in_range, parallel
from .tokens import SATB, STEPS_PER_BAR, STEPS_PER_QUARTER, onsets, sounding

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor with the raised leading tone
QUOTE_NOTES = 8


def beats(grid: np.ndarray) -> float:
    return len(grid) / STEPS_PER_QUARTER


def parallels(grid: np.ndarray) -> int:
    """Consecutive fifths or octaves: pairs of voices that both move from one step to the next."""
    pitch = sounding(grid)
    count = 0
    for t in range(1, len(grid)):
        for a in range(4):
            for b in range(a + 1, 4):
                count += parallel(pitch[t - 1, a], pitch[t, a], pitch[t - 1, b], pitch[t, b])
    return count


def range_violations(grid: np.ndarray) -> int:
    """Notes (onsets) outside their voice's range."""
    pitch, start = sounding(grid), onsets(grid)
    return sum(int(not in_range(v, pitch[t, v])) for t, v in zip(*np.nonzero(start)))


def crossings(grid: np.ndarray) -> int:
    """Steps at which a new note makes a voice sound above the voice written above it."""
    pitch, start = sounding(grid), onsets(grid).any(axis=1)
    return sum(any(crossed(pitch[t, hi], pitch[t, lo]) for hi, lo in zip(SATB[:-1], SATB[1:]))
               for t in np.nonzero(start)[0])


def relative_pitch_classes(grid: np.ndarray, key: int) -> np.ndarray:
    """(12,) share of sounding voice-steps on each pitch class counted from the key's tonic."""
    h = np.roll(pitch_class_histogram(sounding(grid)), -(key % 12))
    return h / max(h.sum(), 1)


def in_scale(grid: np.ndarray, key: int) -> float:
    scale = MINOR_SCALE if key >= 12 else MAJOR_SCALE
    return float(relative_pitch_classes(grid, key)[list(scale)].sum())


def window_keys(grid: np.ndarray, bars: int = 4) -> list[int]:
    """Key of each window of `bars` bars, hop one bar (a single window for shorter pieces)."""
    pitch = sounding(grid)
    size = bars * STEPS_PER_BAR
    starts = range(0, max(1, len(grid) - size + 1), STEPS_PER_BAR)
    return [find_key(pitch_class_histogram(pitch[s:s + size])) for s in starts]


def key_stability(grid: np.ndarray, key: int) -> dict[str, float | bool]:
    """Share of windows in `key`; whether the piece starts and ends in it (modulating and returning)."""
    keys = window_keys(grid)
    return {"windows_in_key": float(np.mean([k == key for k in keys])), "starts_in_key": keys[0] == key,
            "ends_in_key": keys[-1] == key, "key_changes": int(sum(a != b for a, b in zip(keys, keys[1:])))}


def melodic_ngrams(grid: np.ndarray, n: int = QUOTE_NOTES) -> list[tuple]:
    """Every run of n consecutive notes of each voice, as (intervals from its first note, durations): the
    same line in any key is the same sequence, as transposed training data makes it."""
    out = []
    for v in range(4):
        line = notes(grid, v)
        for i in range(len(line) - n + 1):
            run = line[i:i + n]
            out.append(tuple((p - run[0][2], length) for _, length, p in run))
    return out


def ngram_index(grids: list[np.ndarray], n: int = QUOTE_NOTES) -> set[tuple]:
    return {g for grid in grids for g in melodic_ngrams(grid, n)}


def copied_share(grid: np.ndarray, index: set[tuple], n: int = QUOTE_NOTES) -> float:
    grams = melodic_ngrams(grid, n)
    return float(np.mean([g in index for g in grams])) if grams else 0.0


def piece_stats(grid: np.ndarray, key: int, index: set[tuple] | None = None) -> dict[str, float | bool]:
    per100 = 100 / beats(grid)
    out = {"beats": beats(grid), "parallels_per_100_beats": parallels(grid) * per100,
           "range_violations_per_100_beats": range_violations(grid) * per100,
           "crossings_per_100_beats": crossings(grid) * per100, "in_scale": in_scale(grid, key),
           **key_stability(grid, key)}
    if index is not None:
        out["copied_8_note_share"] = copied_share(grid, index)
    return out


def summarise(stats: list[dict]) -> dict[str, float]:
    """Means over pieces, rates weighted by each piece's beats."""
    w = np.array([s["beats"] for s in stats])
    out = {"pieces": len(stats), "beats": float(w.sum())}
    for name in stats[0]:
        if name == "beats":
            continue
        values = np.array([float(s[name]) for s in stats])
        out[name] = float((values * w).sum() / w.sum()) if name.endswith("per_100_beats") else float(values.mean())
    return out
