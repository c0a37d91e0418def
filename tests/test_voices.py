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
from wavenet_rt.conditioning import MidiConditioner, mix_voices
from wavenet_rt.mulaw import mulaw_decode, silence_code
from wavenet_rt.velocity_level import voice_trims

HOP = 8
ONSET_FRAMES = 64  # the onset channel stays set 32 ms: 64 frames of 0.5 ms
TAIL = 8000  # samples a released voice still sounds at 16 kHz (kReleaseTailSeconds = 0.5 in voices.h)


def note_events(notes):
    """(sample, is_on, note, velocity) in time order, releases before strikes at the same sample."""
    return sorted([(on, 1, n, v) for on, off, n, v in notes] + [(off, 0, n, 0) for on, off, n, v in notes])


def reference_frames(notes, voices, frames):
    """Expected (voices, 176, frames) from [(on_sample, off_sample, note, velocity)], by the allocation
    rules: a re-strike keeps the voice that plays the key or still sounds its tail; else an idle voice (free
    for TAIL samples or never used), the one whose last key is nearest, ties to the one free longest, voices
    never used last; else the voice in its tail released longest ago, ties to the nearest last key; else the
    voice whose note began first is taken."""
    events = note_events(notes)
    out = np.zeros((voices, 176, frames), np.float32)
    key = [None] * voices  # (note, velocity) a voice plays
    never = -(10**18)
    last, free_since, struck, onset_left = [None] * voices, [never] * voices, [-1] * voices, [0] * voices
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
            tails = [v for v in range(voices) if key[v] is None and t - free_since[v] < TAIL]
            playing = [v for v in range(voices) if key[v] and key[v][0] == n] + [v for v in tails if last[v] == n]
            idle = [v for v in range(voices) if key[v] is None and v not in tails]
            line = lambda v, n=n: abs(last[v] - n) if last[v] is not None else 1 << 20  # noqa: E731
            if playing:
                v = playing[0]
            elif idle:
                v = min(idle, key=lambda v: (line(v), free_since[v], v))
            elif tails:
                v = min(tails, key=lambda v: (free_since[v], line(v), v))
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


@pytest.mark.parametrize("voices, span", [(1, 6000), (3, 6000), (4, 40000), (16, 6000), (16, 40000)])
def test_allocation_matches_the_reference_on_random_playing(voices, span):
    """Dense playing (every released voice in its tail) and sparse (tails end, voices fall idle)."""
    rng = np.random.default_rng(voices + span)
    notes, held_until = [], {}
    for _ in range(300):
        on = int(rng.integers(0, span))
        n = int(rng.integers(40, 80))
        if held_until.get(n, -1) >= on:  # one key cannot be down twice
            continue
        off = on + int(rng.integers(1, 400))
        held_until[n] = off
        notes.append((on, off, n, int(rng.integers(1, 128))))
    frames = (span + 500) // HOP
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


def voices_heard(frames, f):
    """The key (MIDI note) each voice shows at frame f, None where it shows none."""
    return [int(np.flatnonzero(frames[v, :88, f])[0]) + 21 if frames[v, :88, f].any() else None
            for v in range(frames.shape[0])]


def messages_frames(messages, voices, frames):
    conditioner = MidiConditioner("roll88_onset88", 16000, HOP, voices)
    for sample, msg in messages:
        conditioner.push(msg, sample)
    return conditioner.frames(frames)


def on(note):
    return mido.Message("note_on", note=note, velocity=80)


def off(note):
    return mido.Message("note_off", note=note)


def test_when_every_voice_sounds_the_quietest_gives_way():
    """Three voices: A held throughout, B and C released, so in their tails: D takes B's voice (released
    longer ago, so quieter), E takes C's; with all three held, F takes the oldest held note, A's."""
    a, b, c, d, e, f = 60, 64, 67, 72, 50, 55
    frames = messages_frames([(0, on(a)), (0, on(b)), (400, on(c)), (800, off(b)), (1600, off(c)), (2000, on(d)),
                              (2400, on(e)), (2800, on(f))], 3, 3000 // HOP)
    assert voices_heard(frames, 90) == [a, b, c]
    assert voices_heard(frames, 230) == [a, None, None]  # B and C released: tails, nothing shown
    assert voices_heard(frames, 260) == [a, d, None]
    assert voices_heard(frames, 310) == [a, d, e]
    assert voices_heard(frames, 360) == [f, d, e]


def test_an_idle_voice_is_taken_before_a_tail_and_a_restruck_key_keeps_its_voice():
    """Two voices: a key struck inside another's tail goes to the idle voice, even though the tail's line
    is nearer; a key struck again inside its own tail returns to its voice; after TAIL a voice is idle."""
    frames = messages_frames([(0, on(60)), (400, off(60)), (800, on(62)), (1200, off(62)), (1600, on(60)),
                              (2000, off(60)), (TAIL + 3000, on(59))], 2, (TAIL + 3200) // HOP)
    assert voices_heard(frames, 20) == [60, None]
    assert voices_heard(frames, 120) == [None, 62]  # voice 0 still sounds 60's tail
    assert voices_heard(frames, 220) == [60, None]  # re-struck in its tail: its own voice
    # at TAIL + 3000 voice 0's tail (from 2000) is over, voice 1's (from 1200) too: the nearer line wins
    assert voices_heard(frames, (TAIL + 3100) // HOP) == [59, None]


def test_all_notes_off_releases_every_voice_into_its_tail():
    """CC123 frees the voices (their tails sound on), and later keys are shared out by the same rules."""
    frames = messages_frames([(0, on(60)), (0, on(64)), (400, mido.Message("control_change", control=123, value=0)),
                              (800, on(67)), (1200, on(62))], 3, 1600 // HOP)
    assert voices_heard(frames, 20) == [60, 64, None]
    assert voices_heard(frames, 80) == [None, None, None]
    assert voices_heard(frames, 130) == [None, None, 67]  # an idle voice first: both tails ring on
    assert voices_heard(frames, 180) == [62, None, 67]  # then a tail (both as old, both two keys away: the first)


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


def test_mix_sums_at_unity_times_the_gain_and_clamps():
    """One note sounds as loud through any number of voices: the streams add at unity (as the soundfont's
    notes do), times the model's gain, clamped; against a float64 sum."""
    rng = np.random.default_rng(3)
    audio = rng.uniform(-0.6, 0.6, (4, 1000)).astype(np.float32)
    for gain in (1.0, 0.25, 3.0):
        want = np.clip(audio.astype(np.float64).sum(axis=0) * gain, -1, 1)
        np.testing.assert_allclose(mix_voices(audio, gain), want, atol=1e-6)
    alone = np.zeros_like(audio)
    alone[2] = audio[2]
    np.testing.assert_array_equal(mix_voices(alone), audio[2])  # a note in one voice of four, at its own level
    for gain in (0.0, -1.0, 16.5):
        with pytest.raises(ValueError, match="gain"):
            mix_voices(audio, gain)


CHORD_GAIN = 0.4  # the impulse model's level trim (not 1/sqrt(9)): one held key at 0.4, two at 0.8


@pytest.fixture(scope="module")
def impulse_model_file_hop64(tmp_path_factory):
    from wavenet_rt.live.probe import impulse_model

    path = tmp_path_factory.mktemp("models") / "impulse64.safetensors"
    model = impulse_model(cond_hop=64)
    model.config.gain = CHORD_GAIN  # players read it from the file: render, play and the plugin mix with it
    save_model(model, path)
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
    """Each voice plays the loudest class while it holds a key, else the silence class (not quite 0: they
    never sleep here; a sleeping voice plays 0)."""
    held = ((times < 0.5).astype(int) + ((times >= 0.25) & (times < 0.75)) + ((times >= 0.5) & (times < 1.0)))
    loud, quiet = mulaw_decode(np.array([255, silence_code()]), 256).astype(np.float64)
    return np.minimum((held * loud + (voices - held) * quiet) * CHORD_GAIN, 1.0)


def test_offline_render_mixes_one_stream_per_voice(impulse_model_file_hop64, tmp_path):
    from wavenet_rt.render import main

    out = tmp_path / "chords.wav"
    assert main([str(chord_file(tmp_path / "chords.mid")), str(out), "--model", str(impulse_model_file_hop64),
                 "--voices", "9", "--seconds", "1.2", "--sleep-after", "0"]) == 0
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
    for t, want in [(0.1, CHORD_GAIN), (0.4, 2 * CHORD_GAIN), (0.6, 2 * CHORD_GAIN), (0.9, CHORD_GAIN)]:
        i = round((start + t) * rate)
        assert np.median(audio[i - 200:i + 200]) == pytest.approx(want, abs=0.01), t


def test_a_performer_takes_the_models_gain_scales_and_curve_and_refuses_them_out_of_range(
        impulse_model_file_hop64):
    from wavenet_rt import Engine, _engine

    engine = Engine(impulse_model_file_hop64, streams=2)
    features = engine.config.cond_features
    # no defaults: a player that forgets the model's gain, scales or curve fails, not plays loud or hissing
    model = {"gain": 1.0, "strike_scale": 1.0, "sustain_scale": 1.0, "velocity_curve_db": []}
    for missing in model:
        with pytest.raises(TypeError):
            _engine.Performer(engine._engine, features, 2, 64, **{k: v for k, v in model.items() if k != missing})
    for name, values, says in (("gain", (0.0, -0.5, 16.5), r"gain must be in \(0, 16\]"),
                               ("sustain_scale", (-0.1, 1.5, float("nan")), r"sustain_scale must be in \[0, 1\]"),
                               ("strike_scale", (0.5, 2.5, float("nan")), r"strike_scale must be in \[1, 2\]"),
                               ("velocity_curve_db", ([0.0] * 8, [0.0] * 8 + [-40.5], [float("nan")] * 9),
                                r"velocity_curve_db must be empty or 9 trims within \+-40 dB")):
        for value in values:
            with pytest.raises(ValueError, match=says):
                _engine.Performer(engine._engine, features, 2, 64, **{**model, name: value})
    with pytest.raises(ValueError, match="needs voices > 0"):  # one stream hearing every key: no one velocity
        _engine.Performer(engine._engine, features, 0, 64, **{**model, "velocity_curve_db": [0.0] * 9})


def test_engine_streams_must_match_the_voices(impulse_model_file_hop64):
    from wavenet_rt import Engine
    from wavenet_rt.live.stream import LiveSynth

    with pytest.raises(ValueError, match="streams=4"):
        LiveSynth(Engine(impulse_model_file_hop64), device=None, voices=4)


@pytest.mark.parametrize("hop", [16, 64])
@pytest.mark.parametrize("voices", [0, 4])
def test_render_lights_each_onset_32_ms_at_any_hop(hop, voices, tmp_path):
    """A model that sounds full scale while any key's onset channel is lit and is silent otherwise, rendered
    through the performer (the path play, render and the plugin share): a 0.2 s note sounds 32 ms (512
    samples at 16 kHz, within a frame), as the dataset builder lights it, at a hop of 16 and of 64."""
    from types import SimpleNamespace

    import torch

    from wavenet_rt import Engine
    from wavenet_rt.live.probe import impulse_model
    from wavenet_rt.render import render

    model = impulse_model(cond_hop=hop)
    with torch.no_grad():  # listen to the onset channels instead of the roll
        model.layers[0].cond.weight[0, 88:, 0] = model.layers[0].cond.weight[0, :88, 0]
        model.layers[0].cond.weight[0, :88, 0] = 0.0
    save_model(model, tmp_path / "onsets.safetensors")
    midi = mido.MidiFile(ticks_per_beat=1000)  # 2000 ticks per second
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=90, time=205),
                                       mido.Message("note_off", note=60, velocity=0, time=400)]))
    midi.save(tmp_path / "note.mid")
    engine = Engine(tmp_path / "onsets.safetensors", streams=max(1, voices))
    options = SimpleNamespace(seed=0, temperature=1.0, strike_scale=None, sustain_scale=None, global_id=0)
    audio = render(engine, tmp_path / "note.mid", 8000, voices, options)
    loud = np.flatnonzero(np.abs(audio) > 0.5 * np.abs(audio).max())
    assert len(loud) == loud[-1] - loud[0] + 1  # one run
    assert abs(len(loud) - 512) <= hop, len(loud)


def perform(model_path, voices, block, temperature, seed, events, samples, **mix):
    """`samples` samples of a performer with `voices` voices (gain 1, the scales and curve in `mix`) playing
    (sample, mido message) events, generated `block` samples at a time."""
    from wavenet_rt import Engine, _engine

    engine = Engine(model_path, streams=voices)
    performer = _engine.Performer(engine._engine, engine.config.cond_features, voices, block, temperature, 0,
                                  gain=1.0, **mix)
    performer.reset(seed)
    for sample, msg in events:
        performer.push(sample, bytes(msg.bytes()))
    return np.concatenate([performer.generate(min(block, samples - i)) for i in range(0, samples, block)])


def test_a_voice_samples_its_strike_attack_and_sustain_at_their_temperatures(tmp_path):
    """The performer (play, render and the plugin share it) with strike scale 1.5 and sustain scale 0.4 plays
    what a reference loop plays: frame by frame, each voice at 1 + 0.5 * velocity / 127 times the temperature
    over its note's first 10 frames (10 ms at hop 16), at the temperature while an onset channel of its frame
    is still lit, at 0.4 times it otherwise, through the same engine; the same at any block size; and not
    what scales of 1 play."""
    import torch

    from wavenet_rt import Engine
    from wavenet_rt.config import WaveNetConfig
    from wavenet_rt.model import WaveNet

    torch.manual_seed(5)
    config = WaveNetConfig(dilations=[1, 2, 4, 8], residual_channels=8, gate_channels=8, skip_channels=8,
                           cond_channels=176, cond_features="roll88_onset88", cond_hop=16)
    save_model(WaveNet(config).eval(), tmp_path / "m.safetensors")
    voices, hop, temperature, strike, sustain, samples = 3, 16, 0.9, 1.5, 0.4, 3008
    notes = [(60, 100, 0.01, 0.1), (64, 70, 0.03, 0.12), (67, 40, 0.05, 0.15), (60, 90, 0.16, 0.18)]
    events = sorted([(round(t * 16000), mido.Message("note_on", note=k, velocity=v)) for k, v, t, _ in notes] +
                    [(round(t * 16000), mido.Message("note_off", note=k)) for k, _, _, t in notes],
                    key=lambda e: e[0])

    def performed(block, strike_scale, sustain_scale):
        return perform(tmp_path / "m.safetensors", voices, block, temperature, 7, events, samples,
                       strike_scale=strike_scale, sustain_scale=sustain_scale, velocity_curve_db=[])

    engine = Engine(tmp_path / "m.safetensors", streams=voices)
    engine.reset(7)
    conditioner = MidiConditioner(config.cond_features, 16000, hop, voices=voices)
    for sample, msg in events:
        conditioner.push(msg, sample)
    reference, lit, phases = [], np.zeros(voices, int), set()
    for _ in range(samples // hop):
        frame = conditioner.frames(1)  # (voices, channels, 1)
        attack = frame[:, 88:, 0].max(axis=1) > 0
        lit = np.where(attack, lit + 1, 0)
        level = frame[:, :88, 0].max(axis=1)  # velocity / 127 of the voice's key
        scales = np.where(attack, np.where(lit <= 10, 1 + (strike - 1) * level, 1.0), sustain)
        phases.update(np.where(attack & (lit <= 10), "strike", scales.astype(str)).tolist())
        reference.append(mix_voices(engine.generate(hop, frame, temperature=scales * temperature)))
    reference = np.concatenate(reference)
    assert phases == {"strike", "1.0", str(sustain)}
    for block in (4096, 37, 16):
        np.testing.assert_array_equal(performed(block, strike, sustain), reference)
    plain_strike = performed(4096, 1.0, sustain)
    first_strike = round(0.01 * 16000)
    np.testing.assert_array_equal(plain_strike[:first_strike], reference[:first_strike])  # idle voices: sustain
    assert np.abs(plain_strike - reference).max() > 0.01
    assert np.abs(performed(4096, strike, 1.0) - reference).max() > 0.01


def test_each_voice_is_trimmed_by_its_notes_velocity_curve(tmp_path):
    """The performer with a velocity curve plays what an untrimmed reference loop through the same engine
    plays with each voice's stream scaled by its note's trim as training divides by it
    (wavenet_rt.velocity_level.voice_trims, float64: the curve interpolated at the velocity, a voice's first
    note's at once, kept through the release tail, ramped over 16 samples to a new note's), at any block size;
    a flat curve plays what no curve does. The notes include a re-strike in its own tail at another velocity,
    a velocity below the first point and ones between points."""
    import torch

    from wavenet_rt import Engine
    from wavenet_rt.config import WaveNetConfig
    from wavenet_rt.model import WaveNet

    torch.manual_seed(9)
    config = WaveNetConfig(dilations=[1, 2, 4, 8], residual_channels=8, gate_channels=8, skip_channels=8,
                           cond_channels=176, cond_features="roll88_onset88", cond_hop=16)
    save_model(WaveNet(config).eval(), tmp_path / "m.safetensors")
    voices, hop, samples = 3, 16, 6400
    curve = [-36.0, -6.0, 4.5, 2.0, 0.0, -1.0, 3.0, 6.0, -2.5]
    notes = [(60, 100, 0.01, 0.08), (64, 10, 0.03, 0.12), (67, 70, 0.05, 0.15), (60, 25, 0.1, 0.3),
             (72, 127, 0.2, 0.35)]
    events = sorted([(round(t * 16000), mido.Message("note_on", note=k, velocity=v)) for k, v, t, _ in notes] +
                    [(round(t * 16000), mido.Message("note_off", note=k)) for k, _, _, t in notes],
                    key=lambda e: e[0])

    def performed(block, curve_db):
        return perform(tmp_path / "m.safetensors", voices, block, 1.0, 3, events, samples, strike_scale=1.0,
                       sustain_scale=1.0, velocity_curve_db=curve_db)

    engine = Engine(tmp_path / "m.safetensors", streams=voices)
    engine.reset(3)
    conditioner = MidiConditioner(config.cond_features, 16000, hop, voices=voices)
    for sample, msg in events:
        conditioner.push(msg, sample)
    streams, levels = [], []
    for _ in range(samples // hop):
        frame = conditioner.frames(1)  # (voices, channels, 1)
        levels.append(frame[:, :88, 0].max(axis=1))
        streams.append(engine.generate(hop, frame, temperature=1.0))
    streams, levels = np.concatenate(streams, axis=1).astype(np.float64), np.stack(levels, axis=1)
    trims = np.stack([voice_trims(voice_levels, curve, hop) for voice_levels in levels])
    assert len({round(t, 4) for t in trims.ravel()}) > 6  # the notes reach several trims, and ramps between
    reference = np.clip((streams * trims).sum(axis=0), -1, 1)
    untrimmed = performed(4096, [])
    np.testing.assert_array_equal(untrimmed, mix_voices(streams.astype(np.float32)))
    trimmed = performed(4096, curve)
    np.testing.assert_allclose(trimmed, reference, rtol=0, atol=2e-6)
    assert np.abs(trimmed - untrimmed).max() > 0.01
    for block in (37, 16):
        np.testing.assert_array_equal(performed(block, curve), trimmed)
    np.testing.assert_array_equal(performed(4096, [0.0] * 9), untrimmed)


def test_a_model_that_learned_one_level_refuses_to_play_without_voices(tmp_path):
    """A model trained with --velocity-level plays its notes' velocities only through voices: the players
    refuse --voices 0 (one stream would play every note as loud as the loudest) and take any other count."""
    from wavenet_rt.config import WaveNetConfig
    from wavenet_rt.model import WaveNet
    from wavenet_rt.velocity_level import soundfont_curve_db
    from wavenet_rt.voice_options import model_voices

    config = WaveNetConfig(dilations=[1, 2], residual_channels=4, gate_channels=4, skip_channels=4,
                           cond_channels=176, cond_features="roll88_onset88", cond_hop=16, voices=4,
                           velocity_curve_db=soundfont_curve_db())
    save_model(WaveNet(config).eval(), tmp_path / "levelled.safetensors")
    assert model_voices(tmp_path / "levelled.safetensors", None) == 4
    assert model_voices(tmp_path / "levelled.safetensors", 2) == 2
    with pytest.raises(ValueError, match="--voices must be at least 1"):
        model_voices(tmp_path / "levelled.safetensors", 0)
