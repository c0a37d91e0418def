# Generated training material for what one voice of the synth plays and the chorales never do: single
# lines over all 88 keys at velocities 1-127, from staccato to long sustains, repeated and isolated notes,
# leaps, and notes held by the sustain pedal after the key lifts. One line per seed, the same on every run.
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from ..conditioning import KEYS, LOWEST_KEY

HIGHEST_KEY = LOWEST_KEY + KEYS - 1
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10], "chromatic": list(range(12))}
CHORDS = ([0, 4, 7], [0, 3, 7], [0, 4, 7, 10], [0, 3, 6, 9])


@dataclass(frozen=True)
class Note:
    start: float  # seconds
    length: float  # seconds the key is held
    key: int  # MIDI note number
    velocity: int  # 1..127
    pedal: float = 0.0  # seconds the sustain pedal holds the note after the key lifts (0: no pedal)

    @property
    def end(self) -> float:
        """When the note stops sounding by the keys and the pedal."""
        return self.start + self.length + self.pedal


def voice_line(seed: int, seconds: float = 40.0) -> list[Note]:
    """A monophonic line of about `seconds` of segments drawn by `seed`: each note ends before the next
    starts, as within one voice's stream."""
    rng = np.random.default_rng(seed)
    notes: list[Note] = []
    now = 0.25
    while now < seconds:
        segment = SEGMENTS[rng.integers(len(SEGMENTS))]
        keys = [k for k in segment(rng) if LOWEST_KEY <= k <= HIGHEST_KEY]
        velocities = _dynamics(rng, len(keys))
        step = float(np.exp(rng.uniform(np.log(0.07), np.log(0.8))))  # seconds per note
        held = rng.uniform(0.25, 1.0)  # share of the step the key is down: staccato to legato
        pedal = rng.random() < 0.2
        for key, velocity in zip(keys, velocities):
            if now >= seconds:
                break
            length = max(0.03, step * held)
            after = float(rng.uniform(0.3, 2.5)) if pedal else 0.0
            notes.append(Note(now, length, key, velocity, after))
            now += max(step, length + after + 0.01)
        now += float(rng.choice([0.0, rng.uniform(0.2, 2.0)]))  # sometimes silence, to start from nothing
    return notes


def _tonic(rng: np.random.Generator, span: int) -> int:
    return int(rng.integers(LOWEST_KEY, HIGHEST_KEY - span + 1))


def _scale(rng: np.random.Generator) -> list[int]:
    steps = SCALES[list(SCALES)[rng.integers(len(SCALES))]]
    octaves = int(rng.integers(1, 3))
    tonic = _tonic(rng, 12 * octaves)
    keys = [tonic + 12 * o + s for o in range(octaves) for s in steps] + [tonic + 12 * octaves]
    return keys if rng.random() < 0.5 else keys[::-1]


def _arpeggio(rng: np.random.Generator) -> list[int]:
    chord = CHORDS[rng.integers(len(CHORDS))]
    octaves = int(rng.integers(1, 4))
    tonic = _tonic(rng, 12 * octaves)
    keys = [tonic + 12 * o + c for o in range(octaves) for c in chord]
    return keys + keys[-2::-1] if rng.random() < 0.5 else keys


def _repeated(rng: np.random.Generator) -> list[int]:
    return [_tonic(rng, 0)] * int(rng.integers(3, 9))


def _isolated(rng: np.random.Generator) -> list[int]:
    return [_tonic(rng, 0) for _ in range(int(rng.integers(1, 4)))]


def _leaps(rng: np.random.Generator) -> list[int]:
    return [_tonic(rng, 0) for _ in range(int(rng.integers(4, 10)))]


def _melody(rng: np.random.Generator) -> list[int]:
    key = _tonic(rng, 0)
    keys = []
    for _ in range(int(rng.integers(6, 16))):
        keys.append(key)
        key = int(np.clip(key + rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 7, -7, 12, -12]),
                          LOWEST_KEY, HIGHEST_KEY))
    return keys


SEGMENTS = (_scale, _arpeggio, _repeated, _isolated, _leaps, _melody)


def _dynamics(rng: np.random.Generator, count: int) -> list[int]:
    """Velocities for `count` notes: a level anywhere in 1..127, a crescendo or diminuendo, some jitter."""
    start, end = rng.uniform(1, 127, size=2) if rng.random() < 0.5 else [rng.uniform(1, 127)] * 2
    ramp = np.linspace(start, end, max(count, 1))[:count]
    return [int(v) for v in np.clip(np.round(ramp + rng.normal(0, 6, count)), 1, 127)]


def write_notes_midi(notes: list[Note], path: Path, program: int = 0, ticks_per_beat: int = 480) -> None:
    """One-track MIDI of the notes at 120 bpm (a beat = 0.5 s), pedal as CC64 down at the key's release
    and up when the note should stop."""
    events = []  # (seconds, order, message): at equal times, note-offs and pedal-ups before note-ons
    for n in notes:
        events.append((n.start, 2, mido.Message("note_on", note=n.key, velocity=n.velocity)))
        events.append((n.start + n.length, 0, mido.Message("note_off", note=n.key)))
        if n.pedal:
            events.append((n.start + n.length * 0.5, 1, mido.Message("control_change", control=64, value=127)))
            events.append((n.end, 0, mido.Message("control_change", control=64, value=0)))
    track = mido.MidiTrack([mido.Message("program_change", program=program, time=0)])
    last = 0
    for seconds, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        tick = round(seconds * 2 * ticks_per_beat)
        track.append(msg.copy(time=tick - last))
        last = tick
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    midi.tracks.append(track)
    midi.save(str(path))
