# A composed grid as a standard MIDI file: one track per voice (soprano, alto, tenor, bass), each on its
# own channel, at a chosen tempo; what render and the live synth read.
from __future__ import annotations

from pathlib import Path

import mido
import numpy as np

from .tokens import HOLD, REST, SATB, STEPS_PER_QUARTER, VOICES, token_pitch

TICKS_PER_QUARTER = 480
TICKS_PER_STEP = TICKS_PER_QUARTER // STEPS_PER_QUARTER
NAMES = {"S": "Soprano", "A": "Alto", "T": "Tenor", "B": "Bass"}
CHANNEL = {voice: SATB.index(voice) for voice in range(4)}  # voice index (S B A T order) -> MIDI channel


def notes(grid: np.ndarray, voice: int) -> list[tuple[int, int, int]]:
    """(start step, length in steps, MIDI pitch) of each note of one voice."""
    out: list[list[int]] = []
    for t, token in enumerate(grid[:, voice]):
        if token == HOLD and out and out[-1][0] + out[-1][1] == t:
            out[-1][1] += 1
        elif token not in (REST, HOLD):
            out.append([t, 1, int(token_pitch(token))])
    return [tuple(n) for n in out]


def grid_to_midi(grid: np.ndarray, tempo: float, velocity: int = 80) -> mido.MidiFile:
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_QUARTER)
    for voice in SATB:
        channel = CHANNEL[voice]
        track = mido.MidiTrack()
        if voice == SATB[0]:
            track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0))
            track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
        track.append(mido.MetaMessage("track_name", name=NAMES[VOICES[voice]], time=0))
        events = []
        for start, length, pitch in notes(grid, voice):
            events.append((start * TICKS_PER_STEP, 1, pitch))  # offs sort before ons at the same tick
            events.append(((start + length) * TICKS_PER_STEP, 0, pitch))
        now = 0
        for tick, on, pitch in sorted(events):
            kind = "note_on" if on else "note_off"
            track.append(mido.Message(kind, note=pitch, velocity=velocity if on else 0, channel=channel,
                                      time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    return midi


def write_midi(grid: np.ndarray, path: Path, tempo: float) -> None:
    grid_to_midi(grid, tempo).save(str(path))
