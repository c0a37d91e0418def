# How well audio follows a MIDI score, for wavenet_rt/eval/evaluate.py: pitch accuracy of a monophonic line
# (librosa's pyin against the sounding note), note-onset F1 (mir_eval), chroma correlation against a
# reference render, the share of time derailed (stuck at a DC offset, or a loud noise burst), and the
# MIDI facts they need (notes, onsets, the melody of a multi-part file).
# Frame sizes are set in seconds, so every metric means the same at any sample rate.
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from ..dataset.midi_prep import part_tracks, write_part

CENTS_TOLERANCE = 50.0
ONSET_WINDOW_S = 0.05  # mir_eval's default tolerance
FMIN_HZ, FMAX_HZ = 65.4, 2093.0  # C2 .. C7: the chorale voices' range with room to spare (octave errors show)


@dataclass
class Note:
    start: float  # seconds
    end: float
    pitch: int  # MIDI note number


def midi_notes(path: Path, delay: float = 0.0) -> list[Note]:
    """Every note of the file (all tracks), times in seconds plus `delay`; note-on velocity 0 ends a note."""
    notes, open_notes, now = [], {}, 0.0
    for msg in mido.MidiFile(str(path)):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault((msg.channel, msg.note), now)
        elif msg.type in ("note_on", "note_off"):
            start = open_notes.pop((msg.channel, msg.note), None)
            if start is not None and now > start:
                notes.append(Note(start + delay, now + delay, msg.note))
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def onset_times(notes: list[Note], merge_s: float = 0.03) -> np.ndarray:
    """Distinct onset times: notes starting within merge_s of each other (a chord) count once."""
    onsets: list[float] = []
    for start in sorted(n.start for n in notes):
        if not onsets or start - onsets[-1] > merge_s:
            onsets.append(start)
    return np.array(onsets)


def write_melody(source: Path, out: Path) -> int:
    """Writes the melody of a multi-part MIDI file as its own file: the part named Soprano, else the
    highest part. Returns its note count, 0 when the file has no separate parts (nothing written then)."""
    midi = mido.MidiFile(str(source))

    def mean_pitch(track) -> float:
        pitches = [m.note for m in track if m.type == "note_on" and m.velocity > 0]
        return float(np.mean(pitches)) if pitches else -1.0

    parts = part_tracks(midi)
    if not parts:
        return 0
    named = [i for i in parts if "soprano" in midi.tracks[i].name.lower()]
    return write_part(midi, out, named[0] if named else max(parts, key=lambda i: mean_pitch(midi.tracks[i])))


def pitch_accuracy(audio: np.ndarray, rate: int, notes: list[Note]) -> dict:
    """accuracy: of the frames pyin calls voiced while a note sounds, the share within 50 cents of it.
    recall: the same correct frames over every frame a note sounds (unvoiced counts as wrong), so a
    model cannot score by being voiced rarely. Frames with no sounding note are left out."""
    import librosa

    frame = 2 ** round(math.log2(0.064 * rate))  # 64 ms: four periods of the lowest pitch
    hop = frame // 4
    f0, voiced, _ = librosa.pyin(audio, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=rate, frame_length=frame, hop_length=hop)
    times = librosa.times_like(f0, sr=rate, hop_length=hop)
    sounding = np.full(len(times), -1)
    for n in notes:
        sounding[(times >= n.start) & (times < n.end)] = n.pitch
    scored = voiced & (sounding >= 0) & np.isfinite(f0)
    sounding_frames = int((sounding >= 0).sum())
    if not scored.any():
        return {"accuracy": 0.0, "recall": 0.0, "voiced_share": 0.0, "frames": sounding_frames}
    cents = 1200 * np.log2(f0[scored] / librosa.midi_to_hz(sounding[scored]))
    correct = int((np.abs(cents) <= CENTS_TOLERANCE).sum())
    return {"accuracy": correct / int(scored.sum()), "recall": correct / sounding_frames,
            "voiced_share": int(scored.sum()) / sounding_frames, "frames": sounding_frames}


def detect_onsets(audio: np.ndarray, rate: int) -> np.ndarray:
    """Onset times (s) from librosa's spectral flux at 8 ms frames (the default 32 ms blurs close onsets)."""
    import librosa

    hop = max(1, round(0.008 * rate))
    return librosa.onset.onset_detect(y=audio, sr=rate, hop_length=hop, units="time", backtrack=False)


def detector_lag(reference: np.ndarray, rate: int, onsets: np.ndarray) -> float:
    """How late the detector reports onsets on the reference render itself (median, s): the flux peaks a
    little after a note starts. Subtracted from every detection so the 50 ms window is not half spent."""
    detected = detect_onsets(reference, rate)
    if len(detected) == 0 or len(onsets) == 0:
        return 0.0
    nearest = detected[np.clip(np.searchsorted(detected, onsets), 0, len(detected) - 1)]
    lags = nearest - onsets
    lags = lags[np.abs(lags) < 0.1]
    return float(np.median(lags)) if len(lags) else 0.0


def onset_f1(audio: np.ndarray, rate: int, reference_onsets: np.ndarray, lag: float = 0.0) -> dict:
    """Onsets detected in the audio (minus the detector's lag) against the score's, matched within 50 ms."""
    import mir_eval

    detected = detect_onsets(audio, rate) - lag
    if len(reference_onsets) == 0 or len(detected) == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0, "detected": int(len(detected))}
    f1, precision, recall = mir_eval.onset.f_measure(reference_onsets, np.asarray(detected), window=ONSET_WINDOW_S)
    return {"f1": float(f1), "precision": float(precision), "recall": float(recall), "detected": int(len(detected))}


def dc_stuck_share(audio: np.ndarray, rate: int, block_s: float = 0.05, level: float = 0.3) -> float:
    """Share of 50 ms blocks whose mean is beyond +-0.3: a free-running WaveNet stuck at a loud DC offset
    (music averages near 0 over 50 ms; not one block of the chorale training audio comes near 0.3)."""
    size = max(1, round(block_s * rate))
    blocks = len(audio) // size
    if blocks == 0:
        return 0.0
    means = np.asarray(audio[: blocks * size], np.float64).reshape(blocks, size).mean(axis=1)
    return float((np.abs(means) > level).mean())


def noise_burst_share(audio: np.ndarray, rate: int, flatness: float = 0.025, level: float = 0.2) -> float:
    """Share of 64 ms frames (hop 50 ms) that are loud (RMS > 0.2) and noise-like (spectral flatness >
    0.025): a free-running WaveNet derailed into a roar. Piano notes sit far below that flatness, and not
    one frame of the chorale training audio is both."""
    import librosa

    frame, hop = 2 ** round(math.log2(0.064 * rate)), max(1, round(0.05 * rate))
    if len(audio) < frame:
        return 0.0
    flat = librosa.feature.spectral_flatness(y=audio, n_fft=frame, hop_length=hop, center=False)[0]
    rms = librosa.feature.rms(y=audio, frame_length=frame, hop_length=hop, center=False)[0]
    return float(((flat > flatness) & (rms > level)).mean())


def chroma_similarity(audio: np.ndarray, reference: np.ndarray, rate: int) -> float:
    """Mean per-frame Pearson correlation of the two chromagrams (CQT), over the frames where the
    reference sounds; a frame where the audio is 40 dB below the reference counts 0. Centring each frame
    matters: raw cosine of non-negative chroma gives white noise ~0.7 against music."""
    import librosa

    n = min(len(audio), len(reference))
    hop = 2 ** round(math.log2(0.032 * rate))
    octaves = min(7, int(math.log2(0.45 * rate / librosa.note_to_hz("C1"))))  # below Nyquist at any rate
    a = librosa.feature.chroma_cqt(y=audio[:n], sr=rate, hop_length=hop, n_octaves=octaves)  # (12, frames)
    b = librosa.feature.chroma_cqt(y=reference[:n], sr=rate, hop_length=hop, n_octaves=octaves)
    frames = min(a.shape[1], b.shape[1])
    level_a = librosa.feature.rms(y=audio[:n], hop_length=hop)[0][:frames]
    level_b = librosa.feature.rms(y=reference[:n], hop_length=hop)[0][:frames]
    sounding = level_b > 0.05 * level_b.max() if level_b.max() > 0 else np.zeros(frames, bool)
    if not sounding.any():
        return 0.0
    a, b = a[:, :frames] - a[:, :frames].mean(axis=0), b[:, :frames] - b[:, :frames].mean(axis=0)
    correlation = (a * b).sum(axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-9)
    correlation[level_a < 0.01 * level_b] = 0.0  # (40 dB)
    return float(correlation[sounding].mean())
