# The dataset builder end to end: music21 chorales rendered by fluidsynth (checked against an independent
# render of the same MIDI), interrupted and resumed builds, audio and audio+MIDI folders, clear errors, and a
# dataset from before the onsets' length in time brought up to date (relight).
import json
import math
import os
import signal
import subprocess
import sys
import time

import mido
import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from wavenet_rt.conditioning import KEYS, LOWEST_KEY, frames_from_midi_file
from wavenet_rt.dataset import audio as audio_io
from wavenet_rt.dataset.shards import load_manifest, read_shard, write_shard
from wavenet_rt.mulaw import mulaw_decode

SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"


def build(out, *args, env=None, check=True):
    cmd = [sys.executable, "-m", "wavenet_rt.dataset", "build", str(out), "--jobs", "2", *map(str, args)]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"build failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def shard(path):
    """A shard's codes and its conditioning frames as one dense (C, F) array (None without)."""
    codes, frames = read_shard(path)
    return codes, None if frames is None else frames.dense()


def assert_is_render_of(codes, midi, wav, gain, rate=8000, delay=58):
    """The shard's audio is fluidsynth's render of `midi` at `gain`, resampled here by SciPy (the builder
    uses soxr), `delay` samples late (by default that of a build at --hop 64: 64 - 1.3 ms + 0.5 ms at 8 kHz),
    at the same level."""
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(gain), "-O", "float", "-T", "wav",
                    "-r", "48000", "-F", str(wav), SOUNDFONT, str(midi)], check=True)
    render, _ = soundfile.read(wav, dtype="float64", always_2d=True)
    reference = resample_poly(render.mean(axis=1), rate, 48000)
    audio = mulaw_decode(codes).astype(np.float64)
    n = min(len(reference), len(audio) - delay)
    lags = np.arange(-20, 21)
    xcorr = [np.dot(audio[delay + lag:delay + lag + n - 40], reference[:n - 40]) for lag in lags]
    assert lags[int(np.argmax(xcorr))] == 0
    assert np.corrcoef(audio[delay:delay + n], reference[:n])[0, 1] > 0.999
    level = np.sqrt(np.mean(audio[delay:delay + n] ** 2) / np.mean(reference[:n] ** 2))
    assert abs(20 * np.log10(level)) < 0.2  # dB: the level is the render's, not normalised
    assert np.abs(audio[:delay - 8]).max() < 1e-3  # the delay is silence


@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    out = tmp_path_factory.mktemp("chorales")
    build(out, "--limit", 2, "--sample-rate", 8000, "--hop", 64, "--transpose", "0,3")
    return out


def test_two_chorales_end_to_end(chorales, tmp_path):
    manifest = load_manifest(chorales)
    assert sorted(manifest["items"]) == ["bwv1.6", "bwv1.6.t+3", "bwv10.7", "bwv10.7.t+3"]
    assert {r["split"] for r in manifest["items"].values()} == {"train", "valid"}  # split by piece:
    assert manifest["items"]["bwv1.6"]["split"] == manifest["items"]["bwv1.6.t+3"]["split"]
    assert manifest["cond_channels"] == 176 and manifest["cond_features"] == "roll88_onset88"
    assert manifest["delay"] == 58
    for item, record in manifest["items"].items():
        codes, cond = shard(chorales / record["shard"])
        assert len(codes) == record["samples"] and cond.shape == (176, math.ceil(len(codes) / 64))
        midi = chorales / record["midi"]
        # The audio is an independent fluidsynth render of the stored MIDI (resampled here by SciPy, not
        # soxr), delayed by a frame less fluidsynth's own lag, at the dataset's one gain (no normalisation).
        assert_is_render_of(codes, midi, tmp_path / f"{item}.wav", gain=1.4)
        # The conditioning is the MIDI's: same frames as computing them from the stored file.
        np.testing.assert_array_equal(cond, frames_from_midi_file(midi, cond.shape[1], "roll88_onset88", 8000, 64)
                                      .astype(np.float16))


def test_transposition_moves_the_notes_and_the_pitch(chorales):
    manifest = load_manifest(chorales)
    _, plain = shard(chorales / manifest["items"]["bwv1.6"]["shard"])
    _, up = shard(chorales / manifest["items"]["bwv1.6.t+3"]["shard"])
    roll, roll_up = plain[:KEYS].astype(np.float32), up[:KEYS].astype(np.float32)
    frames = min(roll.shape[1], roll_up.shape[1])
    np.testing.assert_array_equal(roll_up[3:, :frames], roll[:-3, :frames])
    # The audio moved too: the chroma of the rendered audio peaks 3 semitones higher on average.
    codes, _ = shard(chorales / manifest["items"]["bwv1.6"]["shard"])
    codes_up, _ = shard(chorales / manifest["items"]["bwv1.6.t+3"]["shard"])
    assert dominant_shift(mulaw_decode(codes), mulaw_decode(codes_up), 8000) == 3


def dominant_shift(a, b, rate):
    """The circular shift (semitones) that best maps the pitch-class energy profile of a onto b's."""
    def chroma(x):
        spectrum = np.abs(np.fft.rfft(x[: rate * 20])) ** 2
        freqs = np.fft.rfftfreq(min(len(x), rate * 20), 1 / rate)
        keep = (freqs > 60) & (freqs < 2000)
        classes = np.round(12 * np.log2(freqs[keep] / 440)).astype(int) % 12
        return np.bincount(classes, spectrum[keep], 12)
    ca, cb = chroma(a), chroma(b)
    return int(np.argmax([np.dot(np.roll(ca, k), cb) for k in range(12)]))


def test_resume_after_interrupt_gives_the_same_dataset(tmp_path):
    args = ("--limit", 5, "--sample-rate", 8000, "--transpose=-1,0,1", "--jobs", 1)
    reference = tmp_path / "reference"
    build(reference, *args)
    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "wavenet_rt.dataset", "build", str(out), *map(str, args)]
    # SIGINT back to its default in the child: a shell's background job (e.g. `bash .ci/run &`) starts with
    # it ignored, and Python then installs no KeyboardInterrupt handler.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        manifest_file = out / "manifest.json"
        if manifest_file.is_file() and len(json.loads(manifest_file.read_text())["items"]) >= 2:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-1000:]
    assert "resume" in err
    done_before = load_manifest(out)["items"]
    assert 2 <= len(done_before) < 15
    mtimes = {k: os.stat(out / r["shard"]).st_mtime_ns for k, r in done_before.items()}
    build(out, *args)
    after = load_manifest(out)["items"]
    assert len(after) == 15
    assert all(os.stat(out / after[k]["shard"]).st_mtime_ns == t for k, t in mtimes.items())  # skipped
    ref = load_manifest(reference)["items"]
    for item, record in ref.items():
        assert after[item]["split"] == record["split"]
        for a, b in zip(shard(out / after[item]["shard"]), shard(reference / record["shard"])):
            np.testing.assert_array_equal(a, b)
    assert not list((out / "tmp").iterdir())


def test_other_options_on_an_existing_folder_are_refused(chorales):
    result = build(chorales, "--limit", 2, "--sample-rate", 16000, "--hop", 64, "--transpose", "0,3", check=False)
    assert result.returncode == 2 and "sample_rate: 8000 -> 16000" in result.stderr


def test_solo_parts_are_items_of_their_piece_and_resume(tmp_path):
    out = tmp_path / "solo"
    build(out, "--limit", 1, "--sample-rate", 8000, "--solo-parts")
    items = load_manifest(out)["items"]
    full = items.pop("bwv1.6")
    prepared = mido.MidiFile(out / full["midi"])
    tracks = [i for i, t in enumerate(prepared.tracks) if any(m.type == "note_on" and m.velocity for m in t)]
    assert len(tracks) >= 4 and sorted(items) == [f"bwv1.6.part{t}" for t in tracks]
    assert all(r["split"] == full["split"] and r["part_of"] == "bwv1.6" for r in items.values())
    _, full_cond = shard(out / full["shard"])
    rolls = []
    for track, record in zip(tracks, items.values()):
        notes = [m.note for m in mido.MidiFile(out / record["midi"]) if m.type == "note_on" and m.velocity]
        assert notes == [m.note for m in prepared.tracks[track] if m.type == "note_on" and m.velocity]
        codes, cond = shard(out / record["shard"])
        assert abs(len(codes) - full["samples"]) < 8000 and cond.shape[0] == 176
        rolls.append(cond[:KEYS, : full_cond.shape[1]])
    # Together the parts hold the full piece's keys (computed independently from the full MIDI). Only where
    # two voices share a key does the full file (one channel) release it when the first voice lets go.
    stacked = np.zeros((len(rolls), *full_cond[:KEYS].shape), np.float32)
    for stack, roll in zip(stacked, rolls):
        stack[:, : roll.shape[1]] = roll
    union, shared_keys = stacked.max(axis=0), np.flatnonzero(((stacked > 0).sum(axis=0) >= 2).any(axis=1))
    assert np.all(full_cond[:KEYS] <= union)
    assert set(np.flatnonzero((union != full_cond[:KEYS]).any(axis=1))) <= set(shared_keys)
    # A missing part shard makes its whole item be built again; the rest of the manifest is kept.
    before = load_manifest(out)["items"]
    lost = out / before[f"bwv1.6.part{tracks[1]}"]["shard"]
    lost.unlink()
    build(out, "--limit", 1, "--sample-rate", 8000, "--solo-parts")
    assert lost.is_file() and load_manifest(out)["items"] == before


def test_a_folder_from_before_an_option_existed_still_resumes(chorales):
    manifest_file = chorales / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    del manifest["options"]["solo_parts"]  # built by a builder without --solo-parts: the same as off
    manifest_file.write_text(json.dumps(manifest))
    build(chorales, "--limit", 2, "--sample-rate", 8000, "--hop", 64, "--transpose", "0,3")


def test_missing_fluidsynth_names_the_package(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # a PATH where no fluidsynth lives
    result = build(tmp_path / "out", "--limit", 1, env=env, check=False)
    assert result.returncode == 2 and "apt-get install fluidsynth" in result.stderr


def test_missing_soundfont_names_the_package(tmp_path, monkeypatch):
    result = build(tmp_path / "out", "--limit", 1, "--soundfont", tmp_path / "none.sf2", check=False)
    assert result.returncode == 2 and "soundfont not found" in result.stderr
    monkeypatch.setattr(audio_io, "DEFAULT_SOUNDFONT", tmp_path / "TimGM6mb.sf2")
    with pytest.raises(audio_io.DatasetError, match="apt-get install timgm6mb-soundfont"):
        audio_io.check_renderer(tmp_path / "TimGM6mb.sf2")


def test_audio_folder_is_unconditional_and_resampled(tmp_path):
    src = tmp_path / "wavs"
    (src / "sub").mkdir(parents=True)
    t = np.arange(22050 * 2) / 22050
    soundfile.write(src / "a.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 22050)
    soundfile.write(src / "sub" / "b.flac", np.stack([0.2 * np.sin(2 * np.pi * 660 * t)] * 2, 1), 22050)
    soundfile.write(src / "c.wav", np.sin(2 * np.pi * 550 * t), 22050)
    out = tmp_path / "out"
    build(out, "--wav", src, "--sample-rate", 16000)
    manifest = load_manifest(out)
    assert manifest["cond_channels"] == 0 and sorted(manifest["items"]) == ["a", "c", "sub__b"]
    codes, cond = shard(out / manifest["items"]["a"]["shard"])
    assert cond is None and abs(len(codes) - 32000) <= 1
    audio = mulaw_decode(codes)
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 16000 / len(audio) - 440) < 2
    assert abs(np.abs(audio).max() - 0.3) < 0.01  # recordings keep their own level


def test_audio_midi_pairs_take_conditioning_from_the_midi(tmp_path):
    src = tmp_path / "pairs"
    src.mkdir()
    for name, note in (("low", 48), ("high", 72), ("alone", 60)):
        midi = mido.MidiFile()
        track = mido.MidiTrack()
        midi.tracks.append(track)
        track += [mido.Message("note_on", note=note, velocity=100), mido.Message("note_off", note=note, time=960)]
        midi.save(src / f"{name}.mid")
        subprocess.run(["fluidsynth", "-ni", "-q", "-r", "44100", "-F", str(src / f"{name}.wav"), SOUNDFONT,
                        str(src / f"{name}.mid")], check=True)
    (src / "alone.mid").unlink()  # audio without MIDI is not a pair
    out = tmp_path / "out"
    build(out, "--pairs", src, "--sample-rate", 16000)
    manifest = load_manifest(out)
    assert sorted(manifest["items"]) == ["high", "low"]
    _, cond = shard(out / manifest["items"]["high"]["shard"])
    assert cond[72 - LOWEST_KEY, :100].all() and cond[:KEYS].sum(axis=0).max() == pytest.approx(100 / 127, abs=1e-3)


def test_a_dataset_lit_by_the_old_onset_rule_is_refused_until_relit(tmp_path):
    """At a hop of 16, onsets last 32 frames (32 ms). A dataset as builders before 2026-12-06 left it (no
    onset length in its manifest, each onset cut to 8 frames) is refused by a resumed build and by train;
    `relight` brings back exactly the frames a fresh build writes, the audio untouched."""
    out = tmp_path / "data"
    build(out, "--limit", 1, "--hop", 16, "--test", 0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["onset_frames"] == 32
    fresh = {r["shard"]: shard(out / r["shard"]) for r in manifest["items"].values()}
    for name, (codes, cond) in fresh.items():  # the old rule: each onset lit 8 frames
        lit = cond[KEYS:2 * KEYS] > 0
        run = np.zeros_like(cond[KEYS:2 * KEYS])
        for f in range(cond.shape[1]):
            run[:, f] = np.where(lit[:, f], (run[:, f - 1] if f else 0) + 1, 0)
        old = cond.copy()
        old[KEYS:2 * KEYS] = (lit & (run <= 8)).astype(cond.dtype)
        assert (old != cond).any()
        write_shard(out / name, codes, old)
    del manifest["onset_frames"]
    (out / "manifest.json").write_text(json.dumps(manifest))

    info = subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "info", str(out)], capture_output=True,
                          text=True)
    assert "onsets lit 8 frames" in info.stdout
    resumed = build(out, "--limit", 1, "--hop", 16, "--test", 0, check=False)
    trained = subprocess.run([sys.executable, "-m", "wavenet_rt.train", "--data", str(out), "--out",
                              str(tmp_path / "run"), "--steps", "1"], capture_output=True, text=True)
    for refused in (resumed, trained):
        assert refused.returncode != 0 and f"wavenet_rt.dataset relight {out}" in refused.stderr
    relit = subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "relight", str(out), "--jobs", "2"],
                           capture_output=True, text=True)
    assert relit.returncode == 0, relit.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text())["onset_frames"] == 32
    for name, (codes, cond) in fresh.items():
        now_codes, now_cond = shard(out / name)
        assert np.array_equal(now_codes, codes) and np.array_equal(now_cond, cond)
    build(out, "--limit", 1, "--hop", 16, "--test", 0)  # and the build resumes again
