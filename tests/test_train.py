# The training command: interrupted + resumed runs follow the uninterrupted run's trajectory exactly,
# a kill never leaves a torn checkpoint, and a 2-process torchrun run keeps its replicas identical.
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from wavenet_rt import WaveNet, load_model, read_model_file, save_model
from wavenet_rt.checkpoint import load_checkpoint
from wavenet_rt.conditioning import KEYS, note_ages
from wavenet_rt.data import (
    Batch,
    WindowSampler,
    with_attack_gain,
    with_input_level_drift,
    with_input_noise,
    with_input_offset,
)
from wavenet_rt.mulaw import mulaw_decode, mulaw_encode
from wavenet_rt.train import Distributed, Trainer, parse_args
from wavenet_rt.velocity_level import frame_levels, soundfont_curve_db, voice_trims
from wavenet_rt.weights import read_model_config

TINY = {"dilations": [1, 2, 4, 8, 16, 32], "residual_channels": 8, "gate_channels": 16, "skip_channels": 16}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    out = root / "data"
    subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "build", str(out), "--limit", "3",
                    "--sample-rate", "8000", "--hop", "32", "--test", "0"], check=True, capture_output=True)
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY))
    return out, config


def train_cmd(dataset, out, *extra):
    data, config = dataset
    return [sys.executable, "-m", "wavenet_rt.train", "--data", str(data), "--config", str(config), "--out", str(out),
            "--batch", "2", "--window", "1500", "--warmup", "10", "--valid-every", "25", "--valid-windows", "4",
            "--checkpoint-every", "10", "--threads", "1", "--no-progress", *map(str, extra)]


def read_log(run):
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def wait_for_step(run, step, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "log.csv").is_file() and len(read_log(run)) >= step:
            return
        time.sleep(0.005)
    raise AssertionError(f"training did not reach step {step}")


@pytest.mark.parametrize("extra", [[], ["--own-samples", "0.5"]], ids=["plain", "own-samples"])
def test_interrupted_and_resumed_run_follows_the_same_trajectory(dataset, tmp_path, extra):
    steps = 120
    straight = tmp_path / "straight"
    subprocess.run(train_cmd(dataset, straight, "--steps", steps, *extra), check=True, capture_output=True)
    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen(train_cmd(dataset, interrupted, "--steps", steps, *extra), stderr=subprocess.PIPE,
                            text=True)
    wait_for_step(interrupted, 15, proc)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "checkpoint saved" in err, err[-2000:]
    stopped_at = load_checkpoint(interrupted)["step"]
    assert 15 <= stopped_at < steps
    resumed = subprocess.run([sys.executable, "-m", "wavenet_rt.train", "--out", str(interrupted), "--resume",
                              "--no-progress", "--threads", "1"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = read_log(straight), read_log(interrupted)
    assert [r["step"] for r in b] == [str(s) for s in range(1, steps + 1)]
    assert [(r["train_bits"], r["valid_bits"], r["lr"]) for r in a] == [(r["train_bits"], r["valid_bits"], r["lr"])
                                                                        for r in b]
    assert float(a[-1]["train_bits"]) < float(a[0]["train_bits"]) - 0.1  # it did learn something
    for name, tensor in read_model_file(straight / "model.safetensors")[1].items():
        np.testing.assert_array_equal(tensor, read_model_file(interrupted / "model.safetensors")[1][name])


def test_a_bf16_run_follows_the_fp32_runs_trajectory_closely(dataset, tmp_path):
    """--bf16 computes the steps in bfloat16 and keeps weights, optimizer and validation in fp32: the same
    batches give nearly the same losses step by step and nearly the same weights, and it learns."""
    steps = 60
    runs = {}
    for name, extra in (("fp32", []), ("bf16", ["--bf16"])):
        runs[name] = tmp_path / name
        done = subprocess.run(train_cmd(dataset, runs[name], "--steps", steps, *extra), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    fp32, bf16 = read_log(runs["fp32"]), read_log(runs["bf16"])
    bits = np.array([[float(r["train_bits"]) for r in log] for log in (fp32, bf16)])
    assert 0 < np.abs(bits[1] - bits[0]).max() < 0.02, np.abs(bits[1] - bits[0]).max()  # 0: not bf16 at all
    valid = [[float(r["valid_bits"]) for r in log if r["valid_bits"]] for log in (fp32, bf16)]
    assert len(valid[0]) == len(valid[1]) > 1 and np.allclose(valid[0], valid[1], atol=0.01), valid
    assert valid[1][-1] < valid[1][0] - 0.02  # it learned (8.007 -> 7.961 bits here)
    a, b = (read_model_file(runs[n] / "model.safetensors")[1] for n in ("fp32", "bf16"))
    for name in a:  # Adam's steps in bf16 arithmetic drift a little from fp32's, no more
        assert np.linalg.norm(b[name] - a[name]) <= 0.05 * np.linalg.norm(a[name]) + 1e-3, name


def test_a_kill_at_any_moment_leaves_a_loadable_checkpoint(dataset, tmp_path):
    run = tmp_path / "killed"
    rng = np.random.default_rng(0)
    for attempt in range(4):
        extra = ["--resume"] if attempt else []
        cmd = train_cmd(dataset, run, "--steps", 400, "--checkpoint-every", 1, *extra)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_step(run, 3 + 3 * attempt, proc)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(run)  # never torn: either the previous checkpoint or the new one
        assert state["step"] >= 1 and set(state) >= {"model", "ema", "optimizer", "data_rng"}


def test_two_process_torchrun_keeps_replicas_identical(dataset, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           *train_cmd(dataset, run, "--steps", 30, "--save-replicas")[1:]]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    replicas = [read_model_file(run / f"replica-{r}.safetensors")[1] for r in (0, 1)]
    torch.manual_seed(0)  # the run's --seed: its initial weights
    initial = WaveNet(read_model_file(run / "model.safetensors")[0]).state_dict()
    for name, tensor in replicas[0].items():
        np.testing.assert_array_equal(tensor, replicas[1][name])
    assert any(not np.array_equal(replicas[0][n], initial[n].numpy()) for n in replicas[0])
    log = read_log(run)
    assert len(log) == 30 and float(log[0]["samples_per_s"]) > 0
    assert load_checkpoint(run)["step"] == 30 and len(load_checkpoint(run)["data_rng"]) == 2


def test_unconditional_baseline_and_clear_errors(dataset, tmp_path):
    run = tmp_path / "uncond"
    subprocess.run(train_cmd(dataset, run, "--steps", 3, "--unconditional"), check=True, capture_output=True)
    config, _ = read_model_file(run / "model.safetensors")
    assert config.cond_channels == 0 and config.cond_features == ""
    again = subprocess.run(train_cmd(dataset, run, "--steps", 3), capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr
    bad = subprocess.run(train_cmd(dataset, tmp_path / "bad", "--config", "enormous"), capture_output=True, text=True)
    assert bad.returncode == 2 and "neither a preset" in bad.stderr


def test_init_starts_from_a_model_and_refuses_another_shape(dataset, tmp_path):
    first = tmp_path / "first"
    subprocess.run(train_cmd(dataset, first, "--steps", 3), check=True, capture_output=True)
    _, trained = read_model_file(first / "model.safetensors")
    # Another seed and a learning rate too small to move anything: the weights can only be the first run's.
    # How the model is played (--voices) may change on the way and is recorded in the model file.
    tuned = tmp_path / "tuned"
    subprocess.run(train_cmd(dataset, tuned, "--steps", 1, "--seed", 7, "--lr", 1e-12, "--voices", 3,
                             "--dc-blocker", 0.999, "--init", first / "model.safetensors"), check=True,
                   capture_output=True)
    tuned_config, started = read_model_file(tuned / "model.safetensors")
    assert tuned_config.voices == 3 and read_model_file(first / "model.safetensors")[0].voices == 0
    assert tuned_config.dc_blocker == 0.999 and read_model_file(first / "model.safetensors")[0].dc_blocker == 0
    # the DC blocker stays with the model it started from unless asked otherwise
    for name, pole in (("kept", None), ("unblocked", 0.0)):
        extra = () if pole is None else ("--dc-blocker", pole)
        subprocess.run(train_cmd(dataset, tmp_path / name, "--steps", 1, "--lr", 1e-12, *extra,
                                 "--init", tuned / "model.safetensors"), check=True, capture_output=True)
        assert read_model_config(tmp_path / name / "model.safetensors").dc_blocker == (0.999 if pole is None else 0)
    for name, tensor in trained.items():
        np.testing.assert_allclose(started[name], tensor, atol=1e-7, err_msg=name)
    # a model as it ships (its sampling and level set for the players) starts the next stage
    shipped = load_model(first / "model.safetensors")
    shipped.config.voices, shipped.config.temperature, shipped.config.gain = 16, 0.8, 0.5
    shipped.config.strike_scale, shipped.config.sustain_scale = 1.3, 0.5
    save_model(shipped, tmp_path / "shipped.safetensors")
    subprocess.run(train_cmd(dataset, tmp_path / "next_stage", "--steps", 1, "--lr", 1e-12,
                             "--init", tmp_path / "shipped.safetensors"), check=True, capture_output=True)
    # a run that learns every note at the loudest's level names the level it divided by, for the players;
    # the next stage keeps it unless asked otherwise
    subprocess.run(train_cmd(dataset, tmp_path / "levelled", "--steps", 1, "--lr", 1e-12, "--voices", 2,
                             "--velocity-level", "--init", tmp_path / "shipped.safetensors"), check=True,
                   capture_output=True)
    assert read_model_config(tmp_path / "levelled" / "model.safetensors").velocity_curve_db == soundfont_curve_db()
    for name, flag, kept in (("kept_level", (), True), ("dropped_level", ("--no-velocity-level",), False)):
        subprocess.run(train_cmd(dataset, tmp_path / name, "--steps", 1, "--lr", 1e-12, "--voices", 2, *flag,
                                 "--init", tmp_path / "levelled" / "model.safetensors"),
                       check=True, capture_output=True)
        assert bool(read_model_config(tmp_path / name / "model.safetensors").velocity_curve_db) == kept
    alone = subprocess.run(train_cmd(dataset, tmp_path / "alone", "--steps", 1, "--velocity-level"),
                           capture_output=True, text=True)
    assert alone.returncode == 2 and "needs voices > 0" in alone.stderr
    wrong = subprocess.run(train_cmd(dataset, tmp_path / "wrong", "--config", "small",
                                     "--init", first / "model.safetensors"), capture_output=True, text=True)
    assert wrong.returncode == 2 and "does not fit this run" in wrong.stderr and "residual_channels" in wrong.stderr
    # a model without period taps starts one with them: the same weights plus a projection that moved
    # from zero only as far as one tiny step goes
    excited = tmp_path / "excited"
    subprocess.run(train_cmd(dataset, excited, "--steps", 1, "--lr", 1e-12, "--excitation", "periods",
                             "--init", first / "model.safetensors"), check=True, capture_output=True)
    config, grown = read_model_file(excited / "model.safetensors")
    assert config.excitation == "periods" and grown["excite.weight"].shape == (8, 1, 1)
    assert np.abs(grown["excite.weight"]).max() < 1e-9
    for name, tensor in trained.items():
        np.testing.assert_allclose(grown[name], tensor, atol=1e-7, err_msg=name)
    # but taps are never dropped silently: the run has to ask for them again
    dropped = subprocess.run(train_cmd(dataset, tmp_path / "dropped", "--init", excited / "model.safetensors"),
                             capture_output=True, text=True)
    assert dropped.returncode == 2 and "--excitation periods" in dropped.stderr
    # a finer frame hop is a data option the weights do not depend on: a hop-32 model starts a hop-16 run
    fine = tmp_path / "fine_data"
    subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "build", str(fine), "--limit", "2",
                    "--sample-rate", "8000", "--hop", "16", "--test", "0"], check=True, capture_output=True)
    refined = tmp_path / "refined"
    subprocess.run(train_cmd((fine, dataset[1]), refined, "--steps", 1, "--lr", 1e-12,
                             "--init", first / "model.safetensors"), check=True, capture_output=True)
    config, kept = read_model_file(refined / "model.safetensors")
    assert config.cond_hop == 16 and read_model_file(first / "model.safetensors")[0].cond_hop == 32
    for name, tensor in trained.items():
        np.testing.assert_allclose(kept[name], tensor, atol=1e-7, err_msg=name)


def test_input_noise_reaches_the_inputs_at_its_level_and_never_the_targets():
    rng = np.random.default_rng(3)
    clean = np.sin(np.linspace(0, 200, 2 * 3000)).reshape(2, 3000) * 0.5
    codes = mulaw_encode(clean)
    batch = Batch(codes[:, :-1], codes[:, -500:], np.ones((2, 3, 10), np.float32), np.array([0, 1]))
    noisy = with_input_noise(batch, 2.0, rng, 256)
    assert noisy.targets is batch.targets and noisy.cond is batch.cond and noisy.global_id is batch.global_id
    # against a float64 reference: Gaussian noise of std 2 rounded to integers has std sqrt(4 + 1/12)
    added = noisy.inputs.astype(np.float64) - batch.inputs
    assert abs(added.std() - np.sqrt(4 + 1 / 12)) < 0.05 and abs(added.mean()) < 0.05
    assert noisy.inputs.dtype == np.int64 and noisy.inputs.min() >= 0 and noisy.inputs.max() <= 255
    edge = Batch(np.array([[0, 255] * 500]), batch.targets, None, None)  # clipped into range, never wrapped
    pinned = with_input_noise(edge, 2.0, rng, 256).inputs
    assert pinned.min() == 0 and pinned.max() == 255 and (pinned[0, ::2] < 10).all() and (pinned[0, 1::2] > 245).all()


def test_input_offset_shifts_a_prefix_of_the_inputs_by_one_constant_and_never_the_targets():
    rng = np.random.default_rng(5)
    clean = np.sin(np.linspace(0, 900, 64 * 2000)).reshape(64, 2000) * 0.2
    codes = mulaw_encode(clean)
    batch = Batch(codes[:, :-1], codes[:, -300:], np.ones((64, 3, 10), np.float32), None)
    shifted = with_input_offset(batch, 0.5, rng, 256)
    assert shifted.targets is batch.targets and shifted.cond is batch.cond and shifted.inputs.dtype == np.int64
    step = np.diff(mulaw_decode(np.arange(256))).max()  # the widest mu-law class
    offsets = []
    for before, after in zip(batch.inputs, shifted.inputs):
        moved = np.flatnonzero(before != after)
        if len(moved) == 0:
            continue
        end = moved[-1] + 1
        assert (after[end:] == before[end:]).all()
        # against float64: the decoded prefix is the clean signal plus one constant, up to mu-law rounding
        added = mulaw_decode(after[:end]).astype(np.float64) - mulaw_decode(before[:end])
        assert np.ptp(added) <= step and abs(added.mean()) <= 0.5 + step
        offsets.append(added.mean())
    assert 16 <= len(offsets) <= 48  # about half the windows
    assert min(offsets) < -0.2 and max(offsets) > 0.2


def test_input_level_drift_scales_half_the_windows_inputs_by_one_gain_and_never_the_targets():
    rng = np.random.default_rng(9)
    clean = np.sin(np.linspace(0, 900, 64 * 2000)).reshape(64, 2000) * 0.3
    codes = mulaw_encode(clean)
    batch = Batch(codes[:, :-1], codes[:, -300:], None, None)
    drifted = with_input_level_drift(batch, 4.0, rng, 256)
    assert drifted.targets is batch.targets and drifted.inputs.dtype == np.int64
    gains = []
    for before, after in zip(batch.inputs, drifted.inputs):
        if (after == before).all():
            continue
        # against float64: the whole window decoded is the clean signal times one gain, up to mu-law rounding
        x, y = mulaw_decode(before).astype(np.float64), mulaw_decode(after).astype(np.float64)
        loud = np.abs(x) > 0.1
        gain = np.median(y[loud] / x[loud])
        assert np.abs(y - gain * x).max() < 0.03 * gain + 2e-3
        gains.append(gain)
    assert 16 <= len(gains) <= 48  # about half the windows
    db = 20 * np.log10(gains)
    assert db.min() >= -4.1 and db.max() <= 4.1 and db.min() < -2 and db.max() > 2


def test_note_ages_grow_a_model_clocks_computed_from_the_stored_frames(dataset, tmp_path):
    first = tmp_path / "first"
    subprocess.run(train_cmd(dataset, first, "--steps", 1), check=True, capture_output=True)
    aged = tmp_path / "aged"
    subprocess.run(train_cmd(dataset, aged, "--steps", 1, "--lr", 1e-12, "--note-ages",
                             "--init", first / "model.safetensors"), check=True, capture_output=True)
    config, grown = read_model_file(aged / "model.safetensors")
    _, started = read_model_file(first / "model.safetensors")
    assert config.cond_features == "roll88_onset88_age88" and config.cond_channels == 3 * KEYS
    for name, tensor in started.items():  # the clocks' columns start at zero, the rest as they were
        if name.endswith(".cond.weight"):
            np.testing.assert_allclose(grown[name][:, :2 * KEYS], tensor, atol=1e-7, err_msg=name)
            assert np.abs(grown[name][:, 2 * KEYS:]).max() < 1e-9
    # the next stage keeps them unless asked otherwise
    subprocess.run(train_cmd(dataset, tmp_path / "kept", "--steps", 1, "--lr", 1e-12,
                             "--init", aged / "model.safetensors"), check=True, capture_output=True)
    assert read_model_config(tmp_path / "kept" / "model.safetensors").cond_features.endswith("_age88")
    # a window's clocks are the piece's own, computed over the whole piece, up to the 4 s the window looks back
    data, _ = dataset
    sampler = WindowSampler(data, "train", 2047, 1500, with_ages=True)
    hop, rate = sampler.hop, sampler.manifest["sample_rate"]
    spec = sampler.fixed_windows(16, seed=3)
    batch = sampler.windows(spec)
    assert batch.cond.shape[1] == 3 * KEYS and batch.cond[:, 2 * KEYS:].any()
    for row, (index, start) in enumerate(spec):
        whole = sampler.pieces[index][2].dense()
        ages = np.pad(note_ages(whole, hop, rate), ((0, 0), (1000, 1000)))
        first_frame = start // hop + 1000
        np.testing.assert_array_equal(batch.cond[row, :2 * KEYS], np.pad(whole, ((0, 0), (1000, 1000)))[
            :, first_frame:first_frame + batch.cond.shape[2]])
        np.testing.assert_allclose(batch.cond[row, 2 * KEYS:], ages[:, first_frame:first_frame + batch.cond.shape[2]],
                                   atol=math.exp(-4) + 1e-5)


def onset_batch(amplitude: float, windows: int = 64, frames: int = 125, hop: int = 16) -> Batch:
    """Windows of a sine at `amplitude`, one key's onset channel lit for 32 frames (frames 40-71: samples
    640-1151), a held key in the roll and the bend channel set past the onsets (neither is an onset)."""
    clean = np.sin(np.linspace(0, 900, windows * hop * frames)).reshape(windows, -1) * amplitude
    codes = mulaw_encode(clean)
    cond = np.zeros((windows, 177, frames), np.float32)
    cond[:, 60, :] = 0.6
    cond[:, 88 + 39, 40:72] = 1.0
    cond[:, 176, :] = 0.5
    return Batch(codes[:, :-1], codes[:, -300:], cond, None)


def test_attack_gain_turns_down_the_lit_onsets_inputs_of_half_the_windows_and_never_the_targets():
    batch = onset_batch(0.5)
    quieter = with_attack_gain(batch, 12.0, 0.0, np.random.default_rng(7), 256, 16)
    assert quieter.targets is batch.targets and quieter.cond is batch.cond and quieter.inputs.dtype == np.int64
    lit = np.zeros(batch.inputs.shape[1], bool)
    lit[640:1152] = True
    gains = []
    for before, after in zip(batch.inputs, quieter.inputs):
        assert (after[~lit] == before[~lit]).all()
        if (after == before).all():
            continue
        # against float64: the lit span decoded is the clean signal times one gain, up to mu-law rounding
        x, y = mulaw_decode(before[lit]).astype(np.float64), mulaw_decode(after[lit]).astype(np.float64)
        loud = np.abs(x) > 0.3  # the ratio is read where the signal is loud
        gain = np.median(y[loud] / x[loud])
        assert np.abs(y - gain * x).max() < 0.03 * max(gain, 0.1) + 2e-3
        gains.append(gain)
    assert 16 <= len(gains) <= 48  # about half the windows
    assert min(gains) >= 10 ** (-12 / 20) - 0.02 and max(gains) <= 1.0 and min(gains) < 0.4 and max(gains) > 0.8


def test_attack_boost_also_turns_the_lit_onsets_up_within_its_range():
    batch = onset_batch(0.2)
    scaled = with_attack_gain(batch, 6.0, 9.0, np.random.default_rng(8), 256, 16)
    gains = []
    for before, after in zip(batch.inputs, scaled.inputs):
        if (after != before).any():
            x, y = mulaw_decode(before[640:1152]).astype(np.float64), mulaw_decode(after[640:1152]).astype(np.float64)
            loud = np.abs(x) > 0.1
            gains.append(np.median(y[loud] / x[loud]))
    assert 16 <= len(gains) <= 48
    assert min(gains) >= 10 ** (-6 / 20) - 0.02 and max(gains) <= 10 ** (9 / 20) + 0.05
    assert min(gains) < 0.9 and max(gains) > 2.0  # both cuts and boosts drawn


def test_a_run_saved_before_an_option_existed_resumes_with_its_default(dataset, tmp_path):
    run = tmp_path / "old"
    subprocess.run(train_cmd(dataset, run, "--steps", 10), check=True, capture_output=True)
    state = load_checkpoint(run)
    del state["args"]["input_noise"]  # as a checkpoint written before --input-noise
    state["args"]["steps"] = 14
    torch.save(state, run / "checkpoint.pt")
    resumed = subprocess.run([sys.executable, "-m", "wavenet_rt.train", "--out", str(run), "--resume", "--no-progress",
                              "--threads", "1"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert load_checkpoint(run)["step"] == 14 and load_checkpoint(run)["args"]["input_noise"] == 0.0


def build_solo_dataset(out, valid: str) -> dict:
    """Two chorales, each also as its voices alone, and one generated line, at 8 kHz; returns the manifest's
    items."""
    subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "build", str(out), "--limit", "2", "--solo-parts",
                    "--generated", "1",
                    "--sample-rate", "8000", "--hop", "32", "--valid", valid, "--test", "0"],
                   check=True, capture_output=True)
    return json.loads((out / "manifest.json").read_text())["items"]


def test_velocity_level_divides_each_window_by_its_voices_level(tmp_path):
    """With a velocity curve every window's audio is its plain audio divided by the trims the performer
    plays its voice with, computed over the whole piece from its start (the sampler looks back a second):
    within a mu-law step wherever it is heard, windows that start in a note, in a release tail or before the
    piece alike."""
    out = tmp_path / "levels"
    build_solo_dataset(out, "0")
    curve = soundfont_curve_db()
    plain = WindowSampler(out, "train", 500, 1000, solo_share=1.0)
    levelled = WindowSampler(out, "train", 500, 1000, solo_share=1.0, velocity_curve_db=curve)
    line = next(i for i, p in enumerate(plain.pieces) if p[0] == "line00000")
    velocities = {round(float(v) * 127) for v in np.unique(plain.pieces[line][2].dense()[:88]) if v > 0}
    assert len(velocities) > 3  # the generated line strikes its keys at several velocities
    checked, wholes = 0, {}
    line_starts = range(-512, len(plain.pieces[line][1]) - 1500, 32 * 23)
    for index, start in [(line, s) for s in line_starts] + levelled.fixed_windows(8, seed=5):
        if index not in wholes:
            wholes[index] = voice_trims(frame_levels(plain.pieces[index][2].dense()), curve, 32)
        whole = wholes[index]
        want = np.ones(1500)
        lo, hi = max(start, 0), min(start + 1500, len(whole))
        want[lo - start:hi - start] = whole[lo:hi]
        batch, divided = plain.windows([(index, start)]), levelled.windows([(index, start)])
        audio = mulaw_decode(batch.inputs[0], 256)
        got = mulaw_decode(divided.inputs[0], 256) * want[:-1]
        # within half an 8-bit mu-law step at the divided level, scaled back (the plain codes decode exactly);
        # where a note lifted over a second ago (its tail under -70 dBFS) the level may be taken as unknown
        heard = np.abs(audio) > 3e-4
        assert np.all((np.abs(got - audio) <= 0.03 * np.abs(audio) + 2e-4 * want[:-1])[heard])
        np.testing.assert_array_equal(divided.targets[0], divided.inputs[0][-999:].tolist() + [divided.targets[0][-1]])
        checked += np.ptp(want) > 0.1
    assert checked >= 3  # windows where the level changes, or ramps
    with pytest.raises(ValueError, match="MIDI conditioning"):
        WindowSampler(out, "train", 500, 1000, use_cond=False, velocity_curve_db=curve)


def test_solo_share_splits_the_windows_between_whole_pieces_and_lone_voices(tmp_path):
    out = tmp_path / "solo"
    items = build_solo_dataset(out, "0")
    length = 500 + 1000
    for share in (0.5, 0.9):
        sampler = WindowSampler(out, "train", 500, 1000, solo_share=share)
        probability = dict(zip([p[0] for p in sampler.pieces], sampler.weights))
        # reference from the manifest: each group gets its share, split by the items' window start counts
        starts = {i: (r["samples"] - length + 512) // 32 + 1 for i, r in items.items()}
        solo = [i for i in items if items[i].get("part_of") or items[i].get("line")]
        whole = [i for i in items if i not in solo]
        assert "line00000" in solo and whole
        for group, total in ((solo, share), (whole, 1 - share)):
            for i in group:
                assert probability[i] == pytest.approx(total * starts[i] / sum(starts[j] for j in group))
    plain = WindowSampler(out, "train", 500, 1000)
    assert sum(w for p, w in zip(plain.pieces, plain.weights) if p[0] in solo) > 0.7  # four voices, one mix
    with pytest.raises(ValueError, match="between 0 and 1"):
        WindowSampler(out, "train", 500, 1000, solo_share=1.5)



def test_line_share_puts_its_share_on_the_generated_lines_and_the_rest_as_before(tmp_path):
    out = tmp_path / "solo"
    items = build_solo_dataset(out, "0")
    length = 500 + 1000
    starts = {i: (r["samples"] - length + 512) // 32 + 1 for i, r in items.items()}
    lines = [i for i in items if items[i].get("line")]
    parts = [i for i in items if items[i].get("part_of")]
    whole = [i for i in items if i not in lines and i not in parts]
    assert lines and parts and whole
    sampler = WindowSampler(out, "train", 500, 1000, solo_share=0.9, line_share=0.3)
    probability = dict(zip([p[0] for p in sampler.pieces], sampler.weights))
    # reference from the manifest: 0.3 on the lines; of the other 0.7, 0.9 on the parts and 0.1 on the whole
    for group, total in ((lines, 0.3), (parts, 0.7 * 0.9), (whole, 0.7 * 0.1)):
        for i in group:
            assert probability[i] == pytest.approx(total * starts[i] / sum(starts[j] for j in group))
    by_length = WindowSampler(out, "train", 500, 1000, line_share=0.5)
    others = sum(starts[j] for j in items if j not in lines)
    assert dict(zip([p[0] for p in by_length.pieces], by_length.weights))[whole[0]] == pytest.approx(
        0.5 * starts[whole[0]] / others)
    with pytest.raises(ValueError, match="between 0 and 1"):
        WindowSampler(out, "train", 500, 1000, line_share=-0.1)


def _target_holds_an_end(batch: Batch, hop: int, targets: int) -> np.ndarray:
    """Per window: whether a key below C2 or from C7 up is held in a frame its targets fall in."""
    roll = batch.cond[:, :88, -(targets // hop):] != 0
    return roll[:, :36 - 21].any(axis=(1, 2)) | roll[:, 96 - 21:].any(axis=(1, 2))


def test_ends_share_draws_its_share_of_windows_on_the_keyboards_ends_and_leaves_the_rest_as_before(tmp_path):
    out = tmp_path / "solo"
    build_solo_dataset(out, "0")
    plain = WindowSampler(out, "train", 500, 1000, solo_share=0.9)
    none = WindowSampler(out, "train", 500, 1000, solo_share=0.9, ends_share=0.0)
    a, b = plain.sample(np.random.default_rng(3), 16), none.sample(np.random.default_rng(3), 16)
    assert (a.inputs == b.inputs).all() and (a.cond == b.cond).all()  # no share: the same windows as before
    natural = _target_holds_an_end(plain.sample(np.random.default_rng(4), 400), 32, 1000).mean()
    every = WindowSampler(out, "train", 500, 1000, solo_share=0.9, ends_share=1.0)
    assert _target_holds_an_end(every.sample(np.random.default_rng(5), 200), 32, 1000).all()
    half = WindowSampler(out, "train", 500, 1000, solo_share=0.9, ends_share=0.5)
    share = _target_holds_an_end(half.sample(np.random.default_rng(6), 400), 32, 1000).mean()
    # half the windows on an end, the other half as often as without the share (binomial sd about 0.025)
    assert share == pytest.approx(0.5 + 0.5 * natural, abs=0.1) and natural < 0.4
    with pytest.raises(ValueError, match="between 0 and 1"):
        WindowSampler(out, "train", 500, 1000, ends_share=1.5)
    with pytest.raises(ValueError, match="MIDI conditioning"):
        WindowSampler(out, "train", 500, 1000, use_cond=False, ends_share=0.5)


def test_line_share_without_generated_lines_is_a_clear_error(dataset):
    data, _ = dataset
    with pytest.raises(ValueError, match="--generated"):
        WindowSampler(data, "train", 500, 1000, line_share=0.5)

def test_solo_share_without_solo_parts_is_a_clear_error(dataset, tmp_path):
    result = subprocess.run(train_cmd(dataset, tmp_path / "run", "--steps", "2", "--solo-share", "0.5"),
                            capture_output=True, text=True)
    assert result.returncode != 0 and "--solo-parts" in result.stderr and "Traceback" not in result.stderr


def test_a_solo_share_run_validates_on_windows_of_the_same_share(tmp_path):
    out = tmp_path / "solo"
    items = build_solo_dataset(out, "0.5")
    lone = {i for i, r in items.items() if r["split"] == "valid" and r.get("part_of")}
    assert lone and any(r["split"] == "valid" and not r.get("part_of") for r in items.values())
    for share, expect_lone in ((1.0, True), (0.0, False)):
        args = parse_args(["--data", str(out), "--out", str(tmp_path / f"run{share}"), "--solo-share", str(share),
                           "--window", "500", "--valid-windows", "16", "--threads", "1"])
        trainer = Trainer(args, Distributed())
        names = [trainer.valid_data.pieces[i][0] for i, _ in trainer.valid_spec]
        assert len(names) == 16 and all((name in lone) == expect_lone for name in names)


def test_own_samples_replace_a_share_of_the_inputs_with_draws_from_the_models_predictions():
    """with_own_samples against the model's float64 softmax: over 4000 copies of one window, a replaced
    position's mean class is the prediction's mean, the share changed is share * P(draw != original), and
    the first position (nothing predicts it) never changes."""
    from wavenet_rt.config import WaveNetConfig
    from wavenet_rt.train import with_own_samples

    torch.manual_seed(1)
    config = WaveNetConfig(**TINY)
    net = WaveNet(config).eval()
    window = torch.randint(0, 256, (1, 40))
    inputs = window.expand(4000, -1).contiguous()
    with torch.no_grad():
        net.head2.weight.mul_(40)  # peaked predictions whose means differ from position to position by 40-80
        probs = torch.softmax(net(window, None, None)[0].double(), 0)  # (classes, T); t predicts input t + 1
    classes = torch.arange(256, dtype=torch.float64)
    assert torch.equal(with_own_samples(net, inputs, None, None, 0.0), inputs)
    drawn = with_own_samples(net, inputs, None, None, 1.0)
    assert torch.equal(drawn[:, 0], inputs[:, 0])
    for t in (1, 17, 39):
        p = probs[:, t - 1]
        mean = (p * classes).sum()
        std = ((p * classes**2).sum() - mean**2).sqrt()
        assert abs(drawn[:, t].double().mean() - mean) < 4 * std / 4000**0.5
    mixed = with_own_samples(net, inputs, None, None, 0.3)
    changed = (mixed[:, 1:] != inputs[:, 1:]).double().mean()
    expected = 0.3 * (1 - probs[window[0, 1:], torch.arange(39)]).mean()
    assert abs(changed - expected) < 4 * (expected * (1 - expected) / (4000 * 39)) ** 0.5


def test_each_rank_draws_its_own_samples(dataset, tmp_path):
    """Under torchrun every process seeds torch alike (identical initial weights), so own samples drawn from
    torch's generator would replace the same positions in every rank's batch; each rank has its own."""
    data, config = dataset
    args = parse_args(["--data", str(data), "--config", str(config), "--out", str(tmp_path / "run"),
                       "--window", "500", "--threads", "1", "--own-samples", "0.5"])
    draws = []
    for rank in (0, 1, 0):
        ddp = Distributed()
        ddp.rank = rank  # as torchrun's RANK would set it, without a process group
        trainer = Trainer(args, ddp)
        inputs, _, cond, glob = trainer._tensors(trainer.train_data.sample(np.random.default_rng(0), 2))
        torch.manual_seed(0)  # torch's own generator alike, as in every process
        with torch.no_grad():
            draws.append(trainer.own_samples(inputs, cond, glob) != inputs)  # what train_step feeds the model
    assert torch.equal(draws[0], draws[2]) and not torch.equal(draws[0], draws[1])


@pytest.mark.parametrize("own_samples", [0.0, 0.5])
def test_with_own_samples_the_latest_validation_exports_the_model_not_the_best(dataset, tmp_path, own_samples):
    data, config = dataset
    run = tmp_path / f"run{own_samples}"
    args = parse_args(["--data", str(data), "--config", str(config), "--out", str(run), "--window", "500",
                       "--valid-windows", "2", "--threads", "1", "--own-samples", str(own_samples)])
    trainer = Trainer(args, Distributed())
    run.mkdir()
    exported = []
    for bits in (2.0, 3.0):  # the second validation is worse
        trainer.validate = lambda bits=bits: bits
        with torch.no_grad():
            next(trainer.ema.module.parameters()).add_(1.0)  # the EMA weights move between validations
        trainer.validate_and_export()
        exported.append(read_model_file(run / "model.safetensors")[1])
    first = next(iter(exported[0]))
    assert trainer.best == 2.0
    assert np.array_equal(exported[0][first], exported[1][first]) == (own_samples == 0.0)
