# MIDI events -> conditioning frames for Python callers (the dataset builder, evaluation, tests),
# over csrc/midi/conditioner.cpp: the one implementation the live synth runs too, so features never drift.
# Frame f describes the MIDI state after every event at sample <= f * hop: an event lands on the first
# frame that starts at or after it, never earlier (no look-ahead, so a live player can compute each frame
# before it is needed).
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import _engine

if TYPE_CHECKING:  # mido only where a file is read: the GPU machine's image has no mido
    import mido

LOWEST_KEY = _engine.LOWEST_KEY  # A0, the lowest piano key
KEYS = _engine.KEYS
ONSET_SECONDS = _engine.ONSET_SECONDS  # how long the onset channel stays set after a note-on (32 ms)
# onset_frames(hop, sample_rate): that time in frames (at least one), as the conditioner lights them
onset_frames = _engine.onset_frames
MAX_VOICES = _engine.MAX_VOICES
MAX_GAIN = _engine.MAX_GAIN  # the most a model's config may trim its level up by (its gain)
# The velocities a model's velocity curve names a trim (dB) at, and the largest trim (csrc/midi/velocity_curve.h)
VELOCITY_CURVE_POINTS = tuple(_engine.velocity_curve_points)
MAX_VELOCITY_TRIM_DB = _engine.max_velocity_trim_db
VELOCITY_TRIM_RAMP = _engine.velocity_trim_ramp  # samples over which a voice moves to its new note's level
# mix_voices(audio, gain=1): voices' streams (streams, n) -> their mix (n,), summed, times gain, clamped: the
# function the live synth mixes with (csrc/midi/voices.h)
mix_voices = _engine.mix_voices

# name -> (channels, description); the name and channel count are recorded in each model's config.
FEATURE_SETS: dict[str, tuple[int, str]] = {
    "roll88_onset88": (
        _engine.feature_channels("roll88_onset88"),
        "88-key roll holding velocity/127 while the key or the sustain pedal holds the note, then 88 onset "
        f"channels set to 1 for the first {ONSET_SECONDS * 1e3:g} ms of each note (in whole frames)",
    ),
    "roll88_onset88_bend": (
        _engine.feature_channels("roll88_onset88_bend"),
        "roll88_onset88 plus one channel: the pitch bend in units of the bend range (-1 .. 1)",
    ),
    "roll88_onset88_age88": (
        _engine.feature_channels("roll88_onset88_age88"),
        "roll88_onset88 plus 88 clocks: exp(-seconds since the key's onset / 1 s) while it sounds, else 0 "
        "(computed from the roll and onsets alone, so a dataset of roll88_onset88 trains it)",
    ),
}
DEFAULT_FEATURES = "roll88_onset88"
AGE_SUFFIX = "_age88"  # a feature set whose last 88 channels are clocks computed from its roll and onsets
ONSET_CHANNELS = slice(KEYS, 2 * KEYS)  # where every feature set holds its onset channels


def feature_channels(features: str) -> int:
    if features not in FEATURE_SETS:
        raise ValueError(f"unknown conditioning feature set {features!r}; known: {sorted(FEATURE_SETS)}")
    return FEATURE_SETS[features][0]


def readable_from(model_features: str, data_features: str) -> bool:
    """Whether a model conditioned on `model_features` trains on frames stored as `data_features`: the same
    set, or that set plus the age clocks, which are computed from the stored roll and onsets (note_ages)."""
    return model_features in (data_features, data_features + AGE_SUFFIX)


def note_ages(frames: np.ndarray, hop: int, sample_rate: int) -> np.ndarray:
    """The age clocks (88, frames) of frames (channels, frames) whose roll and onsets come first, as the
    conditioner computes them live (csrc/midi/note_age.h), from a clock at rest at the first frame."""
    return _engine.note_ages(np.ascontiguousarray(frames, dtype=np.float32), hop, sample_rate)


class MidiConditioner:
    """Turns MIDI messages placed at sample positions into frames (channels, frames), incrementally.

    The state machine is csrc/midi/conditioner.cpp, shared with the live synth's generator thread: all 16 MIDI
    channels play one 88-key instrument, each with its own keys, sustain pedal and controllers (CC64,
    CC120 all sound off, CC121 reset, CC123 all notes off), pitch bend; the mod wheel (CC1) is read for the
    performer's temperature and makes no frames. Messages it does not use or cannot
    parse are counted in `ignored`, never an error. voices=N shares the keys out to N streams that each
    show the one key their voice plays (csrc/midi/voices.h): the live synth's polyphony by voice allocation."""

    def __init__(self, features: str = DEFAULT_FEATURES, sample_rate: int = 16000, hop: int = 64,
                 voices: int = 0) -> None:
        self.features = features
        self.channels = feature_channels(features)
        self.sample_rate = sample_rate
        self.hop = hop
        self.voices = voices
        self._core = _engine.Conditioner(features, hop, voices=voices, sample_rate=sample_rate)

    @property
    def ignored(self) -> int:
        return self._core.ignored

    @property
    def next_frame(self) -> int:
        return self._core.next_frame

    def push(self, message: mido.Message, sample: int) -> None:
        """Queues a message that happened at `sample` (samples since the stream began). Late messages
        (at or before a frame already emitted) land on the next frame emitted."""
        self._core.push(int(sample), bytes(message.bytes()))

    def frames(self, count: int) -> np.ndarray:
        """Emits the next `count` frames -> float32 (channels, count), or (voices, channels, count)."""
        return self._core.frames(count)


def read_midi_events(path: str | Path) -> list[tuple[float, mido.Message]]:
    """The channel messages of a MIDI file with their times in seconds (tempo changes applied)."""
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        # mido's EOFError has no text: an empty or truncated file ends before its headers or tracks do
        why = str(err) or ("it ends early (empty or truncated)" if isinstance(err, EOFError) else type(err).__name__)
        raise ValueError(f"cannot read MIDI file {path}: {why}") from err
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
