# Bach's four-part chorales from music21's corpus on the composer's grid: each piece becomes (T, 4) tokens
# in S, B, A, T order, a bar phase per step and its key (by the key finder). Pieces are split train/valid/
# test by the dataset builder's own split, so the composer never trains on the WaveNet's test pieces.
# Parsing takes minutes: the result is cached as one .npz.
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..dataset.builder import BuildOptions, assign_splits
from ..dataset.sources import corpus_pieces
from .keyfinder import find_key, pitch_class_histogram
from .tokens import HIGH, HOLD, LOW, REST, STEPS_PER_QUARTER, VOICES, pitch_token, sounding

PART_NAMES = {"S": ("soprano",), "A": ("alto",), "T": ("tenor",), "B": ("bass",)}


@dataclass
class Chorale:
    id: str
    grid: np.ndarray  # (T, 4) tokens, S B A T
    phase: np.ndarray  # (T,) sixteenths since the bar started
    key: int  # key id, see keyfinder
    split: str


def _voice_parts(score) -> dict[str, object] | None:
    parts = list(score.parts)
    found = {}
    for voice, names in PART_NAMES.items():
        match = [p for p in parts if (p.partName or p.id or "").strip().lower() in names]
        if len(match) != 1:
            return None
        found[voice] = match[0]
    return found


def _encode_part(part, steps: int) -> np.ndarray:
    tokens = np.full(steps, REST, dtype=np.int64)
    for n in part.stripTies().flatten().notes:
        start = n.offset * STEPS_PER_QUARTER
        length = n.quarterLength * STEPS_PER_QUARTER
        if length <= 0:
            continue  # grace notes
        if start != int(start) or length != int(length):
            raise ValueError("a note off the sixteenth grid")
        pitch = max(p.midi for p in n.pitches) if n.isChord else n.pitch.midi
        if not LOW <= pitch <= HIGH:
            raise ValueError(f"pitch {pitch} outside the vocabulary")
        a, b = int(start), int(start + length)
        tokens[a] = pitch_token(pitch)
        tokens[a + 1:b] = HOLD
    return tokens


def _phase(part, steps: int) -> np.ndarray:
    phase = np.zeros(steps, dtype=np.int64)
    for m in part.getElementsByClass("Measure"):
        a = round(m.offset * STEPS_PER_QUARTER)
        b = min(steps, a + round(m.duration.quarterLength * STEPS_PER_QUARTER))
        pad = round(m.paddingLeft * STEPS_PER_QUARTER)
        phase[a:b] = np.arange(b - a) + pad
    return phase


def encode_score(score) -> tuple[np.ndarray, np.ndarray] | None:
    """(grid, phase) of a four-voice score, or None when it is not one (extra parts, off-grid notes)."""
    parts = _voice_parts(score)
    if parts is None:
        return None
    steps = math.ceil(score.highestTime * STEPS_PER_QUARTER)
    try:
        grid = np.stack([_encode_part(parts[v], steps) for v in VOICES], axis=1)
    except ValueError:
        return None
    return grid, _phase(parts["S"], steps)


def load_chorales(cache: Path, options: BuildOptions | None = None, progress: bool = True) -> list[Chorale]:
    """All four-voice chorales with their splits (the dataset builder's, default seed and fractions)."""
    options = options or BuildOptions()
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        ids = [str(i) for i in data["ids"]]
        cuts = np.concatenate([[0], np.cumsum(data["lengths"])])
        return [Chorale(pid, data["grid"][a:b], data["phase"][a:b], int(k), str(s))
                for pid, a, b, k, s in zip(ids, cuts[:-1], cuts[1:], data["keys"], data["splits"])]
    from music21 import corpus
    from tqdm import tqdm

    pieces = corpus_pieces(options.location)
    splits = assign_splits([p.id for p in pieces], options.valid, options.test, options.seed)
    out = []
    for piece in tqdm(pieces, desc="chorales", disable=not progress):
        encoded = encode_score(corpus.parse(str(piece.score)))
        if encoded is None:
            continue
        grid, phase = encoded
        key = find_key(pitch_class_histogram(sounding(grid)))
        out.append(Chorale(piece.id, grid, phase, key, splits[piece.id]))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, ids=np.array([c.id for c in out]), lengths=np.array([len(c.grid) for c in out]),
             grid=np.concatenate([c.grid for c in out]), phase=np.concatenate([c.phase for c in out]),
             keys=np.array([c.key for c in out]), splits=np.array([c.split for c in out]))
    return out
