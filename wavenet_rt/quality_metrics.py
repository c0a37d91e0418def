# How well audio follows a MIDI score, for wavenet_rt/evaluate.py: pitch accuracy of a monophonic line
# (librosa's pyin against the sounding note), note-onset F1 (mir_eval), chroma similarity against a
# reference render, and the MIDI facts they need (notes, onsets, the melody of a multi-part file).
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

CENTS_TOLERANCE = 50.0
ONSET_WINDOW_S = 0.05  # mir_eval's default tolerance
FMIN_HZ, FMAX_HZ = 65.4, 2093.0  # C2 .. C7: the chorale voices' range with room to spare


@dataclass
class Note:
    start: float  # seconds
    end: float
    pitch: int  # MIDI note number


def midi_notes(path: Path) -> list[Note]:
    """Every note of the file (all tracks), with times in seconds; a note-on of velocity 0 ends a note."""
    notes, open_notes, now = [], {}, 0.0
    for msg in mido.MidiFile(str(path)):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault((msg.channel, msg.note), now)
        elif msg.type in ("note_on", "note_off"):
            start = open_notes.pop((msg.channel, msg.note), None)
            if start is not None and now > start:
                notes.append(Note(start, now, msg.note))
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def onset_times(notes: list[Note], merge_s: float = 0.03) -> np.ndarray:
    """Distinct onset times: notes starting within merge_s of each other (a chord) count once."""
    onsets: list[float] = []
    for start in sorted(n.start for n in notes):
        if not onsets or start - onsets[-1] > merge_s:
            onsets.append(start)
    return np.array(onsets)


def write_melody(source: Path, out: Path) -> int:
    """Writes the melody of a multi-track MIDI file as its own file: the track named Soprano, else the
    highest part. Returns how many notes it holds."""
    midi = mido.MidiFile(str(source))

    def mean_pitch(track) -> float:
        pitches = [m.note for m in track if m.type == "note_on" and m.velocity > 0]
        return float(np.mean(pitches)) if pitches else -1.0

    named = [t for t in midi.tracks if "soprano" in t.name.lower() and mean_pitch(t) > 0]
    melody = named[0] if named else max(midi.tracks, key=mean_pitch)
    kept = mido.MidiFile(ticks_per_beat=midi.ticks_per_beat, type=1)
    kept.tracks.append(mido.MidiTrack(m for m in midi.tracks[0] if m.is_meta))  # tempo map
    kept.tracks.append(melody)
    kept.save(str(out))
    return sum(1 for m in melody if m.type == "note_on" and m.velocity > 0)


def pitch_accuracy(audio: np.ndarray, rate: int, notes: list[Note], hop: int = 256) -> dict:
    """Of the frames pyin calls voiced while a note sounds, the fraction within 50 cents of that note.
    Frames with no sounding note are left out; the voiced share says how much of the music was heard."""
    import librosa

    f0, voiced, _ = librosa.pyin(audio, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=rate, frame_length=1024, hop_length=hop)
    times = librosa.times_like(f0, sr=rate, hop_length=hop)
    sounding = np.full(len(times), -1)
    for n in notes:
        sounding[(times >= n.start) & (times < n.end)] = n.pitch
    scored = voiced & (sounding >= 0) & np.isfinite(f0)
    if not scored.any():
        return {"accuracy": 0.0, "voiced_share": 0.0, "frames": 0}
    cents = 1200 * np.log2(f0[scored] / librosa.midi_to_hz(sounding[scored]))
    return {"accuracy": float(np.mean(np.abs(cents) <= CENTS_TOLERANCE)),
            "voiced_share": float(scored.sum() / max(1, (sounding >= 0).sum())), "frames": int(scored.sum())}


def onset_f1(audio: np.ndarray, rate: int, reference_onsets: np.ndarray) -> dict:
    """Onsets detected in the audio (librosa) against the score's, matched within 50 ms (mir_eval)."""
    import librosa
    import mir_eval

    # 16 ms frames at 16 kHz: librosa's default 512-sample hop blurs a chorale's close onsets (calibrated
    # on fluidsynth references, which then score F1 0.94-0.97).
    detected = librosa.onset.onset_detect(y=audio, sr=rate, hop_length=256, units="time", backtrack=False)
    if len(reference_onsets) == 0 or len(detected) == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0, "detected": int(len(detected))}
    f1, precision, recall = mir_eval.onset.f_measure(reference_onsets, np.asarray(detected), window=ONSET_WINDOW_S)
    return {"f1": float(f1), "precision": float(precision), "recall": float(recall), "detected": int(len(detected))}


def chroma_similarity(audio: np.ndarray, reference: np.ndarray, rate: int, hop: int = 512) -> float:
    """Mean cosine similarity of the two chromagrams over the frames where the reference sounds."""
    import librosa

    n = min(len(audio), len(reference))
    a = librosa.feature.chroma_cqt(y=audio[:n], sr=rate, hop_length=hop)  # (12, frames)
    b = librosa.feature.chroma_cqt(y=reference[:n], sr=rate, hop_length=hop)
    energy = librosa.feature.rms(y=reference[:n], hop_length=hop)[0][:b.shape[1]]
    sounding = energy > 0.05 * energy.max() if energy.max() > 0 else np.zeros(b.shape[1], bool)
    if not sounding.any():
        return 0.0
    a, b = a[:, sounding], b[:, sounding]
    cosine = (a * b).sum(axis=0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-9)
    return float(cosine.mean())
