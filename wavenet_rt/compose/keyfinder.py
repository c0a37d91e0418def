# Key finding by the Krumhansl-Schmuckler method: correlate a duration-weighted pitch-class histogram with
# the Krumhansl-Kessler major and minor profiles rotated to each tonic. Labels the chorales' keys for
# training and judges the key stability of composed pieces, so both use one definition of "key".
from __future__ import annotations

import numpy as np

MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEYS = 24  # key id = tonic + 12 * minor


def key_name(key: int) -> str:
    return NAMES[key % 12] + (" minor" if key >= 12 else " major")


def parse_key(text: str) -> int:
    """'C', 'F#m', 'Bb minor', 'a' (lower case = minor) -> key id."""
    t = text.strip()
    minor = t.endswith("minor") or t.endswith("m") or (t[:1].islower() and not t.endswith("major"))
    tonic = t.replace("minor", "").replace("major", "").strip().rstrip("m").strip()
    tonic = tonic[:1].upper() + tonic[1:]
    aliases = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb", "Cb": "B", "Fb": "E", "E#": "F",
               "B#": "C"}
    tonic = aliases.get(tonic, tonic)
    if tonic not in NAMES:
        raise ValueError(f"unknown key {text!r}: use a tonic like C, F#, Bb, with 'm' or 'minor' for minor")
    return NAMES.index(tonic) + 12 * minor


def _profiles() -> np.ndarray:
    rows = [np.roll(MAJOR, k) for k in range(12)] + [np.roll(MINOR, k) for k in range(12)]
    p = np.array(rows)
    return (p - p.mean(1, keepdims=True)) / p.std(1, keepdims=True)


PROFILES = _profiles()  # (24, 12), z-scored


def pitch_class_histogram(pitches: np.ndarray) -> np.ndarray:
    """pitches: sounding MIDI pitches (any shape), 0 = rest; each step counts once per sounding voice."""
    p = pitches[pitches > 0]
    return np.bincount(p % 12, minlength=12).astype(np.float64)


def find_key(histogram: np.ndarray) -> int:
    h = np.asarray(histogram, dtype=np.float64)
    if h.std() == 0:
        return 0
    z = (h - h.mean()) / h.std()
    return int(np.argmax(PROFILES @ z))
