# Turns a piece into the MIDI file that is both rendered and read for conditioning: scores are exported
# by music21; the GM program is forced, notes are transposed, and whatever the 88-key conditioning could
# not describe (drum channel 10, keys pushed off the keyboard) is removed so audio and features agree.
# A multi-part file's parts (one voice per track) can also be written alone, and parts played at one
# velocity can be given dynamics.
from __future__ import annotations

from pathlib import Path

import mido
import numpy as np

from ..conditioning import KEYS, LOWEST_KEY
from .sources import DatasetError

DRUM_CHANNEL = 9  # MIDI channel 10


def score_to_midi(score: Path, out: Path) -> None:
    try:
        from music21 import converter
    except ImportError as err:
        raise DatasetError("music21 is not installed: pip install music21") from err
    converter.parse(str(score)).write("midi", fp=str(out))


def prepare_midi(source: Path, out: Path, program: int | None, transpose: int) -> dict[str, int]:
    """Writes `source` with every channel set to GM `program` (None keeps the file's own) and notes shifted
    by `transpose` semitones. Returns counts of what was dropped."""
    try:
        midi = mido.MidiFile(str(source))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        raise DatasetError(f"cannot read MIDI file {source}: {err}") from err
    dropped = {"drum_events": 0, "off_keyboard_notes": 0, "program_changes": 0}
    channels: set[int] = set()
    for track in midi.tracks:
        kept, pending_delta = [], 0
        for msg in track:
            msg, reason = _rewrite(msg, program, transpose)
            if reason:
                dropped[reason] += 1
                pending_delta += msg.time
                continue
            if msg.type in ("note_on", "note_off"):
                channels.add(msg.channel)
            kept.append(msg.copy(time=msg.time + pending_delta))
            pending_delta = 0
        track[:] = kept
    if program is not None and midi.tracks:
        setup = [mido.Message("program_change", channel=c, program=program, time=0) for c in sorted(channels)]
        midi.tracks[0][:0] = setup
    midi.save(str(out))
    return dropped


def _rewrite(msg: mido.Message, program: int | None, transpose: int) -> tuple[mido.Message, str | None]:
    """The message as it should appear in the prepared file, or the reason to drop it."""
    if msg.is_meta:
        return msg, None
    if getattr(msg, "channel", None) == DRUM_CHANNEL:
        return msg, "drum_events"
    if msg.type == "program_change" and program is not None:
        return msg, "program_changes"  # replaced by one program change per channel at the start
    if msg.type in ("note_on", "note_off", "polytouch"):
        note = msg.note + transpose
        if not LOWEST_KEY <= note < LOWEST_KEY + KEYS:
            return msg, "off_keyboard_notes"
        return msg.copy(note=note), None
    return msg, None


def part_tracks(midi: mido.MidiFile) -> list[int]:
    """Indices of the tracks that hold notes, when there are at least two (a file with separate parts)."""
    with_notes = [i for i, t in enumerate(midi.tracks) if any(m.type == "note_on" and m.velocity > 0 for m in t)]
    return with_notes if len(with_notes) >= 2 else []


def setup_only(track: mido.MidiTrack) -> mido.MidiTrack:
    """The track's meta, program and controller messages at their times, its notes dropped."""
    setup, pending = mido.MidiTrack(), 0
    for msg in track:
        pending += msg.time
        if msg.is_meta or msg.type in ("program_change", "control_change"):
            setup.append(msg.copy(time=pending))
            pending = 0
    return setup


def write_part(source: Path | mido.MidiFile, out: Path, track: int) -> int:
    """Writes one track of a multi-track file alone, with the first track's tempo map and program and
    controller settings (its notes dropped). Returns the part's note count."""
    midi = source if isinstance(source, mido.MidiFile) else mido.MidiFile(str(source))
    part = midi.tracks[track]
    alone = mido.MidiFile(ticks_per_beat=midi.ticks_per_beat, type=1)
    alone.tracks.extend([part] if track == 0 else [setup_only(midi.tracks[0]), part])
    alone.save(str(out))
    return sum(1 for m in part if m.type == "note_on" and m.velocity > 0)


def redraw_velocities(path: Path, seed: int) -> None:
    """Gives each part of a file played at one velocity (the chorales) a performer's dynamics, in place: a
    level that drifts from note to note and sometimes jumps (a new phrase), anywhere in 1..127."""
    rng = np.random.default_rng(seed)
    midi = mido.MidiFile(str(path))
    for track in midi.tracks:
        level = rng.uniform(20, 120)
        for i, msg in enumerate(track):
            if msg.type == "note_on" and msg.velocity > 0:
                level = rng.uniform(1, 127) if rng.random() < 0.08 else float(np.clip(level + rng.normal(0, 6), 1, 127))
                track[i] = msg.copy(velocity=int(np.clip(round(level + rng.normal(0, 3)), 1, 127)))
    midi.save(str(path))
