# Where a dataset's pieces come from: music21's bundled corpus (Bach chorales), a folder of MIDI files,
# a folder of audio files (unconditional), or a folder of audio + MIDI pairs. Each piece gets a stable,
# file-name-safe id: splits and resumed builds key on it.
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MIDI_SUFFIXES = (".mid", ".midi")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
CORPORA = ("bach-chorales",)


class DatasetError(RuntimeError):
    """A problem the user can fix: a missing tool or package, an empty folder, conflicting options."""


@dataclass(frozen=True)
class Piece:
    id: str
    score: Path | None = None  # a score music21 reads; converted to MIDI, then rendered
    midi: Path | None = None  # a MIDI file: rendered, or paired with `audio`
    audio: Path | None = None  # recorded audio (wav and pairs sources)
    generated: int | None = None  # the seed of a generated voice line (dataset/voice_lines.py)


def _piece_id(root: Path, path: Path) -> str:
    relative = path.relative_to(root).with_suffix("")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(relative.parts))


def _files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not root.is_dir():
        raise DatasetError(f"not a folder: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())


def corpus_pieces(name: str) -> list[Piece]:
    if name not in CORPORA:
        raise DatasetError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    try:
        from music21 import corpus
    except ImportError as err:
        raise DatasetError("music21 is not installed: pip install music21") from err
    # The four-part chorales are the Bach MusicXML files up to BWV 438 (cantata movements bwvNNN.N, their
    # variants, and the chorale collection BWV 250-438); above that the folder holds keyboard works.
    numbered = [(Path(p), re.match(r"bwv(\d+)", Path(p).stem)) for p in corpus.getComposer("bach")]
    paths = [p for p, m in numbered if p.suffix == ".mxl" and m and int(m.group(1)) <= 438]
    return [Piece(id=p.stem, score=p) for p in sorted(paths, key=lambda p: p.stem)]


def midi_pieces(root: Path) -> list[Piece]:
    pieces = [Piece(id=_piece_id(root, p), midi=p) for p in _files(root, MIDI_SUFFIXES)]
    if not pieces:
        raise DatasetError(f"no MIDI files ({', '.join(MIDI_SUFFIXES)}) found under {root}")
    return pieces


def audio_pieces(root: Path) -> list[Piece]:
    pieces = [Piece(id=_piece_id(root, p), audio=p) for p in _files(root, AUDIO_SUFFIXES)]
    if not pieces:
        raise DatasetError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found under {root}")
    return pieces


def pair_pieces(root: Path) -> list[Piece]:
    """Audio files that have a MIDI file of the same name beside them (take.wav + take.mid)."""
    pieces = []
    for audio in _files(root, AUDIO_SUFFIXES):
        midi = next((audio.with_suffix(s) for s in MIDI_SUFFIXES if audio.with_suffix(s).is_file()), None)
        if midi is not None:
            pieces.append(Piece(id=_piece_id(root, audio), midi=midi, audio=audio))
    if not pieces:
        raise DatasetError(f"no audio + MIDI pairs (take.wav beside take.mid) found under {root}")
    return pieces
