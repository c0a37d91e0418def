# MIDI events -> conditioning frames: the one implementation used for training data (MIDI files) and for
# live play (timestamped events), so features never drift between the two. Frame f describes the MIDI
# state after every event at sample <= f * hop: an event lands on the first frame that starts at or after
# it, never earlier (no look-ahead, so a live player can compute each frame before it is needed).
from __future__ import annotations

import heapq
import itertools
import math
from pathlib import Path

import mido
import numpy as np

LOWEST_KEY = 21  # A0, the lowest piano key
KEYS = 88
# Frames the onset channel stays set after a note-on: 32 ms at the default 250 frames/s, long enough to
# cover the instrument's attack, which begins a few ms after the frame that shows the key.
ONSET_FRAMES = 8
MIDI_CHANNELS = 16

# name -> (channels, description); the name and channel count are recorded in each model's config.
FEATURE_SETS: dict[str, tuple[int, str]] = {
    "roll88_onset88": (
        2 * KEYS,
        "88-key roll holding velocity/127 while the key or the sustain pedal holds the note, then 88 onset "
        f"channels set to 1 for the first {ONSET_FRAMES} frames of each note",
    ),
    "roll88_onset88_bend": (
        2 * KEYS + 1,
        "roll88_onset88 plus one channel: the pitch bend in units of the bend range (-1 .. 1)",
    ),
}
DEFAULT_FEATURES = "roll88_onset88"


def feature_channels(features: str) -> int:
    if features not in FEATURE_SETS:
        raise ValueError(f"unknown conditioning feature set {features!r}; known: {sorted(FEATURE_SETS)}")
    return FEATURE_SETS[features][0]


class MidiConditioner:
    """Turns MIDI messages placed at sample positions into frames (channels, frames), incrementally.

    All 16 MIDI channels play one 88-key instrument; each channel keeps its own keys, sustain pedal and
    controllers, and the roll shows the loudest channel holding each key. Messages it does not use are
    counted in `ignored`, never an error."""

    def __init__(self, features: str = DEFAULT_FEATURES, sample_rate: int = 16000, hop: int = 64,
                 bend_range: float = 2.0) -> None:
        self.features = features
        self.channels = feature_channels(features)
        self.sample_rate = sample_rate
        self.hop = hop
        self.bend_range = bend_range
        self.held = np.zeros((MIDI_CHANNELS, KEYS), np.float32)  # velocity/127 of keys physically down
        self.sustained = np.zeros((MIDI_CHANNELS, KEYS), np.float32)  # released while the pedal was down
        self.pedal = np.zeros(MIDI_CHANNELS, bool)
        self.onset_left = np.zeros(KEYS, np.int64)  # frames the onset channel stays set for each key
        self.bend = 0.0  # the most recent pitch bend, in units of bend_range
        self.next_frame = 0
        self.ignored = 0
        self._pending: list[tuple[int, int, mido.Message]] = []  # heap of (sample, arrival order, message)
        self._arrivals = itertools.count()

    def push(self, message: mido.Message, sample: int) -> None:
        """Queues a message that happened at `sample` (samples since the stream began). Late messages
        (at or before a frame already emitted) land on the next frame emitted."""
        heapq.heappush(self._pending, (int(sample), next(self._arrivals), message))

    def frames(self, count: int) -> np.ndarray:
        """Emits the next `count` frames -> float32 (channels, count)."""
        out = np.zeros((self.channels, count), np.float32)
        frame, end = self.next_frame, self.next_frame + count
        while frame < end:
            while self._pending and self._pending[0][0] <= frame * self.hop:
                self._apply(heapq.heappop(self._pending)[2])
            change = end
            if self._pending:  # the first frame that starts at or after the next queued message
                change = min(end, max(frame + 1, math.ceil(self._pending[0][0] / self.hop)))
            self._fill(out[:, frame - self.next_frame:change - self.next_frame])
            frame = change
        self.next_frame = end
        return out

    def _fill(self, block: np.ndarray) -> None:
        """Writes the current state into block (channels, n) and advances the onset countdowns."""
        n = block.shape[1]
        block[:KEYS] = np.maximum(self.held, self.sustained).max(axis=0)[:, None]
        for key in np.flatnonzero(self.onset_left):
            block[KEYS + key, :min(n, self.onset_left[key])] = 1.0
        self.onset_left = np.maximum(self.onset_left - n, 0)
        if self.channels > 2 * KEYS:
            block[2 * KEYS] = self.bend

    def _apply(self, msg: mido.Message) -> None:
        kind = msg.type
        if kind == "note_on" and msg.velocity > 0:
            self._note_on(msg.channel, msg.note, msg.velocity)
        elif kind in ("note_on", "note_off"):
            self._note_off(msg.channel, msg.note)
        elif kind == "control_change" and msg.control in _CONTROLLERS:
            _CONTROLLERS[msg.control](self, msg.channel, msg.value)
        elif kind == "pitchwheel":
            self.bend = msg.pitch / 8192.0
        else:
            self.ignored += 1

    def _note_on(self, channel: int, note: int, velocity: int) -> None:
        key = note - LOWEST_KEY
        if not 0 <= key < KEYS:
            self.ignored += 1
            return
        self.held[channel, key] = velocity / 127.0
        self.sustained[channel, key] = 0.0
        self.onset_left[key] = ONSET_FRAMES

    def _note_off(self, channel: int, note: int) -> None:
        key = note - LOWEST_KEY
        if not 0 <= key < KEYS:
            self.ignored += 1
            return
        if self.pedal[channel] and self.held[channel, key] > 0:
            self.sustained[channel, key] = self.held[channel, key]
        self.held[channel, key] = 0.0

    def _sustain(self, channel: int, value: int) -> None:
        self.pedal[channel] = value >= 64
        if not self.pedal[channel]:
            self.sustained[channel] = 0.0

    def _all_notes_off(self, channel: int, _value: int) -> None:
        """CC123 releases every key of the channel; the pedal still holds them if it is down."""
        if self.pedal[channel]:
            self.sustained[channel] = np.maximum(self.sustained[channel], self.held[channel])
        self.held[channel] = 0.0

    def _all_sound_off(self, channel: int, _value: int) -> None:
        """CC120: silence now, pedal or not."""
        self.held[channel] = 0.0
        self.sustained[channel] = 0.0
        silent = np.maximum(self.held, self.sustained).max(axis=0) == 0
        self.onset_left[silent] = 0

    def _reset_controllers(self, channel: int, _value: int) -> None:
        """CC121: pedal up and pitch bend centred."""
        self._sustain(channel, 0)
        self.bend = 0.0


_CONTROLLERS = {
    64: MidiConditioner._sustain,
    120: MidiConditioner._all_sound_off,
    121: MidiConditioner._reset_controllers,
    123: MidiConditioner._all_notes_off,
}


def read_midi_events(path: str | Path) -> list[tuple[float, mido.Message]]:
    """The channel messages of a MIDI file with their times in seconds (tempo changes applied)."""
    try:
        midi = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        raise ValueError(f"cannot read MIDI file {path}: {err}") from err
    events, now = [], 0.0
    for msg in midi:  # iterating a MidiFile merges the tracks and turns ticks into seconds
        now += msg.time
        if not msg.is_meta:
            events.append((now, msg))
    return events


def midi_duration(events: list[tuple[float, mido.Message]]) -> float:
    return events[-1][0] if events else 0.0


def frames_from_events(events: list[tuple[float, mido.Message]], frames: int,
                       features: str = DEFAULT_FEATURES, sample_rate: int = 16000, hop: int = 64) -> np.ndarray:
    """Conditioning frames (channels, frames) for timed events, as a live stream of them would give."""
    conditioner = MidiConditioner(features, sample_rate, hop)
    for seconds, msg in events:
        conditioner.push(msg, round(seconds * sample_rate))
    return conditioner.frames(frames)


def frames_from_midi_file(path: str | Path, frames: int, features: str = DEFAULT_FEATURES,
                          sample_rate: int = 16000, hop: int = 64) -> np.ndarray:
    return frames_from_events(read_midi_events(path), frames, features, sample_rate, hop)
