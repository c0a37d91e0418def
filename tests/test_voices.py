# Polyphony by voice allocation (csrc/midi/voices.h through MidiConditioner, the renderer and the live synth):
# frames against a reference allocator written here from the rules, and the mixed audio of a model whose
# output is full scale while its stream hears a key, against the count of keys the MIDI holds.
import os
import subprocess
import sys

import mido
import numpy as np
import pytest
import soundfile

from wavenet_rt import save_model
from wavenet_rt.conditioning import ONSET_FRAMES, MidiConditioner, mix_voices
from wavenet_rt.mulaw import mulaw_decode, silence_code

HOP = 8


def note_events(notes):
    """(sample, is_on, note, velocity) in time order, releases before strikes at the same sample."""
    return sorted([(on, 1, n, v) for on, off, n, v in notes] + [(off, 0, n, 0) for on, off, n, v in notes])


def reference_frames(notes, voices, frames):
    """Expected (voices, 176, frames) from [(on_sample, off_sample, note, velocity)], by the allocation
    rules: re-strike keeps the voice; else the free voice whose last key is nearest, ties to the one free
    longest, voices never used last; else the voice whose note began first is taken."""
    events = note_events(notes)
    out = np.zeros((voices, 176, frames), np.float32)
    key = [None] * voices  # (note, velocity) a voice plays
    last, free_since, struck, onset_left = [None] * voices, [-1] * voices, [-1] * voices, [0] * voices
    held = {}
    e = 0
    for f in range(frames):
        while e < len(events) and events[e][0] <= f * HOP:
            t, is_on, n, vel = events[e]
            e += 1
            if not is_on:
                held.pop(n, None)
                for v in range(voices):
                    if key[v] and key[v][0] == n:
                        key[v], free_since[v] = None, t
                continue
            held[n] = vel
            playing = [v for v in range(voices) if key[v] and key[v][0] == n]
            free = [v for v in range(voices) if key[v] is None]
            if playing:
                v = playing[0]
            elif free:
                v = min(free, key=lambda v: (abs(last[v] - n) if last[v] is not None else 1 << 20, free_since[v], v))
            else:
                v = min(range(voices), key=lambda v: (struck[v], v))
            key[v], last[v], struck[v], onset_left[v] = (n, vel), n, t, ONSET_FRAMES
        for v in range(voices):
            if key[v]:
                out[v, key[v][0] - 21, f] = key[v][1] / 127
            if onset_left[v]:
                out[v, 88 + last[v] - 21, f] = 1.0
                onset_left[v] -= 1
    return out


def conditioner_frames(notes, voices, frames):
    conditioner = MidiConditioner("roll88_onset88", 16000, HOP, voices)
    for sample, is_on, n, vel in note_events(notes):
        conditioner.push(mido.Message("note_on", note=n, velocity=vel) if is_on else mido.Message("note_off", note=n),
                         sample)
    return conditioner.frames(frames)


@pytest.mark.parametrize("voices", [1, 3, 4])
def test_allocation_matches_the_reference_on_random_playing(voices):
    rng = np.random.default_rng(voices)
    notes, held_until = [], {}
    for _ in range(300):
        on = int(rng.integers(0, 6000))
        n = int(rng.integers(40, 80))
        if held_until.get(n, -1) >= on:  # one key cannot be down twice
            continue
        off = on + int(rng.integers(1, 400))
        held_until[n] = off
        notes.append((on, off, n, int(rng.integers(1, 128))))
    frames = 6500 // HOP
    np.testing.assert_array_equal(conditioner_frames(notes, voices, frames), reference_frames(notes, voices, frames))


def test_chord_lines_stay_in_their_voices_and_a_full_house_takes_the_oldest():
    chord1 = [(0, 800, n, 100) for n in (48, 55, 64, 72)]
    chord2 = [(800, 1600, n, 100) for n in (50, 53, 65, 71)]  # each line moves by a step or two
    frames = conditioner_frames(chord1 + chord2, 4, 1600 // HOP)
    heard = lambda f: [int(np.flatnonzero(frames[v, :88, f])[0]) + 21 for v in range(4)]  # noqa: E731
    assert heard(10) == [48, 55, 64, 72] and heard(110) == [50, 53, 65, 71]
    late = [(0, 1600, 60, 100), (400, 1600, 64, 100), (800, 1600, 67, 100)]
    two = conditioner_frames(late, 2, 1600 // HOP)
    assert sorted(int(np.flatnonzero(two[v, :88, 150])[0]) + 21 for v in range(2)) == [64, 67]


def test_a_key_released_under_the_pedal_keeps_its_voice_until_the_pedal_lifts():
    conditioner = MidiConditioner("roll88_onset88", 16000, HOP, 2)
    for sample, msg in [(0, mido.Message("control_change", control=64, value=127)),
                        (0, mido.Message("note_on", note=60, velocity=64)), (80, mido.Message("note_off", note=60)),
                        (160, mido.Message("note_on", note=62, velocity=64)),
                        (320, mido.Message("control_change", control=64, value=0)),
                        (400, mido.Message("note_on", note=64, velocity=64))]:
        conditioner.push(msg, sample)
    frames = conditioner.frames(60)
    assert frames[0, 60 - 21, 30] > 0 and frames[1, 62 - 21, 30] > 0  # the pedal holds 60 in voice 0
    assert frames[0, 60 - 21, 45] == 0  # pedal up: voice 0 is free ...
    assert frames[0, 64 - 21, 55] > 0  # ... and takes the next key (62 still sounds in voice 1)


def test_mix_scales_by_the_root_of_the_streams_and_clamps():
    audio = np.array([[0.2, 0.9, -0.9], [0.4, 0.9, -0.9], [0.0, 0.9, -0.9], [0.2, 0.9, -0.9]], np.float32)
    np.testing.assert_allclose(mix_voices(audio), [0.4, 1.0, -1.0], rtol=1e-6)


@pytest.fixture(scope="module")
def impulse_model_file_hop64(tmp_path_factory):
    from wavenet_rt.live.probe import impulse_model

    path = tmp_path_factory.mktemp("models") / "impulse64.safetensors"
    save_model(impulse_model(cond_hop=64), path)
    return path


def chord_file(path):
    """C4 alone 0-0.5 s, E4 joins 0.25-0.75 s, G4 0.5-1 s: one, two, two, one key at a time."""
    midi = mido.MidiFile(ticks_per_beat=1000)  # 120 bpm: 2000 ticks per second
    track = mido.MidiTrack()
    midi.tracks.append(track)
    events = sorted([(0, "note_on", 60), (1000, "note_off", 60), (500, "note_on", 64), (1500, "note_off", 64),
                     (1000, "note_on", 67), (2000, "note_off", 67)], key=lambda e: (e[0], e[1] == "note_on"))
    now = 0
    for tick, kind, note in events:
        track.append(mido.Message(kind, note=note, velocity=90, time=tick - now))
        now = tick
    midi.save(path)
    return path


def expected_levels(times, voices):
    """Each voice plays the loudest class while it holds a key, else the silence class (not quite 0)."""
    held = ((times < 0.5).astype(int) + ((times >= 0.25) & (times < 0.75)) + ((times >= 0.5) & (times < 1.0)))
    loud, quiet = mulaw_decode(np.array([255, silence_code()]), 256).astype(np.float64)
    return np.minimum((held * loud + (voices - held) * quiet) / np.sqrt(voices), 1.0)


def test_offline_render_mixes_one_stream_per_voice(impulse_model_file_hop64, tmp_path):
    from wavenet_rt.render import main

    out = tmp_path / "chords.wav"
    assert main([str(chord_file(tmp_path / "chords.mid")), str(out), "--model", str(impulse_model_file_hop64),
                 "--voices", "9", "--seconds", "1.2"]) == 0
    audio, rate = soundfile.read(out)
    times = np.arange(len(audio)) / rate
    settled = np.ones(len(audio), bool)  # away from the edges: the frame (4 ms) and the attack of the onset
    for edge in (0.0, 0.25, 0.5, 0.75, 1.0):
        settled &= np.abs(times - edge) > 0.01
    np.testing.assert_allclose(audio[settled], expected_levels(times[settled], 9), atol=4e-5)  # 16-bit WAV steps


def test_live_synth_plays_the_same_voices(impulse_model_file_hop64, tmp_path):
    out = tmp_path / "take.wav"
    result = subprocess.run([sys.executable, "-m", "wavenet_rt.play", "--model", str(impulse_model_file_hop64),
                             "--midi-file", str(chord_file(tmp_path / "chords.mid")), "--voices", "9",
                             "--seconds", "1.5", "--out", str(out), "--latency", "40"],
                            capture_output=True, text=True, env={**os.environ, "JACK_NO_START_SERVER": "1",
                                                                  "JACK_DEFAULT_SERVER": "no_server_here"},
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    audio, rate = soundfile.read(out)
    audio = audio.mean(axis=1) if audio.ndim == 2 else audio
    start = np.flatnonzero(np.abs(audio) > 0.05)[0] / rate  # the live path's latency, not asserted here
    for t, want in [(0.1, 1 / 3), (0.4, 2 / 3), (0.6, 2 / 3), (0.9, 1 / 3)]:
        i = round((start + t) * rate)
        assert np.median(audio[i - 200:i + 200]) == pytest.approx(want, abs=0.01), t


def test_engine_streams_must_match_the_voices(impulse_model_file_hop64):
    from wavenet_rt import Engine
    from wavenet_rt.live.stream import LiveSynth

    with pytest.raises(ValueError, match="streams=4"):
        LiveSynth(Engine(impulse_model_file_hop64), device=None, voices=4)
