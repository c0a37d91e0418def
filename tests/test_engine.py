# The CPU engine against independent references: its teacher-forced logits equal WaveNet.forward (float64)
# on many random shapes, both kernel sets; generation follows the sampling contract; no allocation while
# generating; every bad input is a ValueError.
import functools
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from support.chi2 import chisquare_pvalue
from support.int8 import int8_rounded
from support.picks import assert_same_picks, departures, reference_logits

from wavenet_rt import WaveNet, WaveNetConfig, save_model
from wavenet_rt.engine import Engine as AnyEngine
from wavenet_rt.engine import cuda_available
from wavenet_rt.mulaw import mulaw_encode, silence_code
from wavenet_rt.sampling import sample_categorical, sampling_uniforms

SIMD = ["portable", "avx2", "avx512"]
Engine = functools.partial(AnyEngine, backend="cpu")  # this file tests the CPU engine, GPU or not


def random_config(rng):
    kernel = int(rng.choice([2, 3]))
    return WaveNetConfig(
        dilations=[int(d) for d in rng.choice([1, 2, 3, 4, 8, 16], size=int(rng.integers(1, 7)))],
        kernel_size=kernel, residual_channels=int(rng.integers(3, 20)), gate_channels=2 * int(rng.integers(2, 14)),
        skip_channels=int(rng.integers(3, 30)), classes=int(rng.integers(5, 70)),
        cond_channels=int(rng.choice([0, 1, 7])), cond_hop=int(rng.integers(1, 9)),
        global_classes=int(rng.choice([0, 3])))


def model_for(config, seed=0):
    torch.manual_seed(seed)
    model = WaveNet(config).eval()
    with torch.no_grad():  # larger weights than the default init, so errors cannot hide in small values
        for p in model.parameters():
            p.mul_(2.0)
    return model


def inputs(config, streams, steps, rng):
    codes = rng.integers(0, config.classes, (streams, steps))
    frames = math.ceil(steps / config.cond_hop)
    cond = rng.random((streams, config.cond_channels, frames)) if config.cond_channels else None
    glob = rng.integers(0, config.global_classes, streams) if config.global_classes else None
    return codes, cond, glob


def simd_available(simd):
    try:
        Engine(model_for(WaveNetConfig(dilations=[1], residual_channels=2, gate_channels=2, skip_channels=2,
                                       classes=4)), simd=simd)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("seed", range(12))
def test_logits_equal_forward(simd, seed):
    if not simd_available(simd):
        pytest.skip(f"this CPU or build has no {simd} kernels")
    rng = np.random.default_rng(seed)
    config = random_config(rng)
    model = model_for(config, seed)
    streams = int(rng.integers(1, 5))
    for steps in (max(1, config.receptive_field // 2), 2 * config.receptive_field + 5):
        codes, cond, glob = inputs(config, streams, steps, rng)
        engine = Engine(model, streams=streams, simd=simd)
        got = engine.logits(codes, cond, glob)
        want = reference_logits(model, codes, cond, glob)
        assert got.shape == want.shape == (streams, config.classes, steps)
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), config


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("seed", range(4))
def test_fp16_weights_stay_close_to_forward(simd, seed):
    if not simd_available(simd):
        pytest.skip(f"this CPU or build has no {simd} kernels")
    rng = np.random.default_rng(100 + seed)
    config = random_config(rng)
    model = model_for(config, seed)
    codes, cond, glob = inputs(config, 2, 2 * config.receptive_field + 5, rng)
    got = Engine(model, streams=2, simd=simd, precision="fp16").logits(codes, cond, glob)
    want = reference_logits(model, codes, cond, glob)
    error = np.abs(got - want).max() / np.abs(want).max()
    assert 0 < error <= 1e-2, error  # not exact (the weights are rounded), but close


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("seed", range(6))
def test_int8_weights_compute_the_rounded_model(simd, seed):
    """int8 mode is the model with its matrices rounded per output row (support/int8.py), computed in exact
    integer sums of 16-bit-quantized inputs: within 2e-4 of that model's float64 forward (measured ~5e-5),
    and its distance from the unrounded model is the rounding's (measured 5e-3 to 1.1e-2, fp16 ~6e-4)."""
    if not simd_available(simd):
        pytest.skip(f"this CPU or build has no {simd} kernels")
    rng = np.random.default_rng(200 + seed)
    config = random_config(rng)
    model = model_for(config, seed)
    streams = int(rng.integers(1, 6))
    codes, cond, glob = inputs(config, streams, 2 * config.receptive_field + 5, rng)
    got = Engine(model, streams=streams, simd=simd, precision="int8").logits(codes, cond, glob)
    scale = np.abs(reference_logits(model, codes, cond, glob)).max()
    rounded = reference_logits(int8_rounded(model), codes, cond, glob)
    assert np.abs(got - rounded).max() <= 2e-4 * scale, config
    unrounded = np.abs(got - reference_logits(model, codes, cond, glob)).max() / scale
    assert 1e-3 < unrounded <= 3e-2, unrounded


def test_int8_generation_follows_the_rounded_model():
    """int8 samples are the sampling contract's picks from the rounded model's logits, boundary cases apart,
    on every kernel set; a changed pick is caught. The 16-bit inputs put int8's logits ~40x further from
    float64 than fp32's, so boundary picks are more frequent than support/picks.py's RARE (measured 15 in
    9,000, all within its BOUNDARY): at most 0.5 % here."""
    config = WaveNetConfig.preset("small", cond_channels=7, cond_hop=64, global_classes=3)
    model = model_for(config)
    rounded = int8_rounded(model)
    rng = np.random.default_rng(3)
    n = 3000
    cond = rng.random((3, 7, n // 64 + 1)).astype(np.float32)
    glob = np.array([0, 1, 2])
    for simd in filter(simd_available, SIMD):
        engine = Engine(model, streams=3, simd=simd, precision="int8")
        engine.reset(11)
        codes = generated_codes(engine, n, cond, glob, block=997)
        boundary = sum(len(d) for d in departures(rounded, codes, 11, cond, glob))
        print(f"int8 {simd}: {boundary} boundary picks in {codes.size}")
        assert boundary <= 5e-3 * codes.size
    codes[0, 1500] = (codes[0, 1500] + config.classes // 2) % config.classes
    with pytest.raises(AssertionError, match="not the contract's picks"):
        departures(rounded, codes, 11, cond, glob)


def test_int8_refuses_matrices_too_wide_for_its_integer_sums():
    config = WaveNetConfig(dilations=[1], residual_channels=4, gate_channels=4, skip_channels=600, classes=8)
    with pytest.raises(ValueError, match="at most 512 inputs"):
        Engine(model_for(config), precision="int8")


def test_standard_sizes_equal_forward():
    rng = np.random.default_rng(0)
    for name in ("small", "medium"):
        config = WaveNetConfig.preset(name, cond_channels=176, cond_hop=64)
        model = model_for(config)
        codes, cond, _ = inputs(config, 2, config.receptive_field + 200, rng)
        got = Engine(model, streams=2).logits(codes, cond)
        want = reference_logits(model, codes, cond, None)
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), name


def generated_codes(engine, n, cond=None, glob=None, temperature=1.0, block=37, audio_out=None):
    """Generates in uneven blocks, handing each block the frames it touches (the audio itself into
    audio_out, a list, if given)."""
    audio = []
    done = 0
    while done < n:
        k = min(block, n - done)
        frames = None
        if cond is not None:
            hop = engine.config.cond_hop
            frames = cond[:, :, done // hop:(done + k - 1) // hop + 1]
        audio.append(engine.generate(k, frames, glob, temperature))
        done += k
    if audio_out is not None:
        audio_out.append(np.concatenate(audio, axis=1))
    return mulaw_encode(np.concatenate(audio, axis=1), engine.config.classes)


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_generation_follows_forward_and_the_sampling_contract(temperature):
    """Each generated code is the contract's pick from forward()'s float64 logits after a long silence plus
    the codes so far; float32 vs float64 may only disagree where the uniform sits on a CDF boundary."""
    config = WaveNetConfig(dilations=[1, 2, 4, 8, 16, 1, 2, 4], kernel_size=3, residual_channels=9,
                           gate_channels=14, skip_channels=11, classes=48, cond_channels=4, cond_hop=6,
                           global_classes=2)
    model = model_for(config)
    rng = np.random.default_rng(5)
    streams, n = 3, 300
    _, cond, glob = inputs(config, streams, n, rng)
    engine = Engine(model, streams=streams)
    engine.reset(seed=11)
    codes = generated_codes(engine, n, cond, glob, temperature)
    hop = config.cond_hop
    lead = math.ceil(config.receptive_field / hop) * hop
    history = np.concatenate([np.full((streams, lead + 1), silence_code(config.classes)), codes], axis=1)
    full_cond = np.concatenate([np.zeros((streams, config.cond_channels, lead // hop)), cond], axis=2)
    logits = reference_logits(model, history[:, :-1], full_cond, glob)[:, :, lead:]
    for s in range(streams):
        u = sampling_uniforms(11, s, 0, n)
        expect = sample_categorical(logits[s].T.astype(np.float32), temperature, u)
        differ = np.flatnonzero(expect != codes[s])
        if len(differ):  # histories part here; the first difference must be a boundary case
            t = differ[0]
            w = np.exp((logits[s, :, t] - logits[s, :, t].max()) / max(temperature, 1e-9))
            cdf = np.cumsum(w) / w.sum()
            assert temperature > 0 and np.min(np.abs(cdf - u[t])) < 1e-4
            assert t > n // 2, "engine and forward parted early"


def test_kernel_sets_pick_alike():
    """The kernel sets sum in different orders (logits ~1e-6 apart), so one pick whose uniform sits on a CDF
    boundary may part their streams: each must follow the contract on its own history (support/picks.py),
    with boundary picks rare. A changed pick is caught."""
    config = WaveNetConfig.preset("small", cond_channels=7, cond_hop=64, global_classes=3)
    model = model_for(config)
    rng = np.random.default_rng(2)
    n = 4000
    cond = rng.random((3, 7, n // 64 + 1)).astype(np.float32)
    glob = np.array([0, 1, 2])
    codes = {}
    for simd in filter(simd_available, SIMD):
        engine = Engine(model, streams=3, simd=simd)
        engine.reset(11)
        codes[simd] = generated_codes(engine, n, cond, glob, block=997)
    assert len(codes) >= 2, "this CPU has only the portable kernels"
    for simd in list(codes)[1:]:
        boundary = assert_same_picks(model, codes["portable"], codes[simd], 11, cond, glob)
        print(f"portable vs {simd}: {boundary} boundary picks in {codes[simd].size}")
    wrong = codes[list(codes)[-1]].copy()
    wrong[1, 2000] = (wrong[1, 2000] + config.classes // 2) % config.classes  # far from any boundary
    with pytest.raises(AssertionError, match="not the contract's picks"):
        assert_same_picks(model, codes["portable"], wrong, 11, cond, glob)


def batching_config():
    """Channel counts whose padded widths leave every column-block tail in the kernels' matrix products."""
    return WaveNetConfig(dilations=[1, 2, 4, 8, 1, 16], kernel_size=2, residual_channels=11, gate_channels=40,
                         skip_channels=70, classes=100, cond_channels=3, cond_hop=5, global_classes=2)


@pytest.mark.parametrize("simd", SIMD)
def test_every_batch_size_equals_forward(simd):
    """A thread's awake streams go through each layer as one batch (matrix-matrix products): teacher-forced
    logits equal forward() for 1..17 streams, on one thread and on two (which deal the streams out), and a
    stream's logits are the bits it gets alone."""
    if not simd_available(simd):
        pytest.skip(f"this CPU or build has no {simd} kernels")
    config = batching_config()
    model = model_for(config)
    rng = np.random.default_rng(17)
    for streams in range(1, 18):
        codes, cond, glob = inputs(config, streams, 60, rng)
        got = Engine(model, streams=streams, threads=1 + streams % 2, simd=simd).logits(codes, cond, glob)
        want = reference_logits(model, codes, cond, glob)
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max(), streams
        # and bit for bit what the stream computes alone: no batch size changes a stream's arithmetic
        last = streams - 1
        alone = Engine(model, streams=1, simd=simd).logits(codes[last:], cond[last:], glob[last:])
        assert np.array_equal(got[last:], alone), streams


def thread_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) of each of this process's threads, from /proc."""
    ticks = {}
    for task in Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        ticks[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return ticks


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads threads' CPU time from Linux's /proc")
def test_few_awake_streams_stay_on_the_calling_thread():
    """Up to four computing streams run on the calling thread: the worker thread, which the live generator
    would otherwise wait for, does not run; eight awake streams spread over both threads."""
    config = batching_config()
    before = set(thread_cpu_seconds())
    engine = Engine(model_for(config), streams=8, threads=2, sleep_after=0.001)
    workers = set(thread_cpu_seconds()) - before
    assert len(workers) == 1
    worker = workers.pop()
    engine.reset(seed=1)
    for awake, worker_share in ((4, (0.0, 0.05)), (8, (0.25, np.inf))):
        cond = np.zeros((8, config.cond_channels, engine.frames_for(1000)), np.float32)
        cond[:awake, 0] = 1.0
        start, caller_start = thread_cpu_seconds()[worker], time.thread_time()
        while time.thread_time() - caller_start < 0.5:
            engine.generate(1000, cond, global_id=0)
        share = (thread_cpu_seconds()[worker] - start) / (time.thread_time() - caller_start)
        assert worker_share[0] <= share <= worker_share[1], (awake, share)
        engine.reset(seed=1)


def spans_of_keys(streams, frames, span, rng):
    """(streams, frames) key roll in spans of `span` frames, each held or silent at random."""
    return np.repeat(rng.random((streams, frames // span)) < 0.5, span, axis=1)


@pytest.mark.parametrize("threads", [1, 2])
def test_awake_and_sleeping_streams_mix_in_any_batch(threads):
    """17 streams that sleep and wake at random: every awake sample is the contract's pick from forward()
    over the stream's own history (support/picks.py), asleep ones are silence; a stream's samples are the
    same bits whichever others share its batch (the odd streams play alike when the even ones play and when
    they sleep throughout); the kernel sets pick alike."""
    config = WaveNetConfig(dilations=[1, 2, 4, 8, 1, 2], kernel_size=3, residual_channels=9, gate_channels=14,
                           skip_channels=11, classes=48, cond_channels=4, cond_hop=6)
    model = model_for(config)
    rng = np.random.default_rng(23)
    streams, hop, after, frames = 17, config.cond_hop, 8, 240
    keys = spans_of_keys(streams, frames, 40, rng)
    keys[1, :] = True  # one stream that never sleeps, one that sleeps throughout
    keys[3, :] = False
    alone = keys.copy()
    alone[::2] = False
    level = rng.random((streams, config.cond_channels, frames))
    sleep_after = (after - 0.5) * hop / config.sample_rate
    silence = silence_code(config.classes)
    codes = {}
    for simd in filter(simd_available, SIMD):
        for name, roll in (("all", keys), ("odd", alone)):
            engine = Engine(model, streams=streams, threads=threads, simd=simd, sleep_after=sleep_after)
            engine.reset(seed=9)
            cond = level * roll[:, None, :]
            codes[simd, name] = generated_codes(engine, frames * hop, cond, None, 1.0, block=53)
            asleep = np.repeat(asleep_frames(roll, after), hop, axis=1)
            assert (codes[simd, name][asleep] == silence).all()
            departures(model, codes[simd, name], 9, cond, asleep=asleep)
        assert np.array_equal(codes[simd, "all"][1::2], codes[simd, "odd"][1::2]), simd
    asleep = np.repeat(asleep_frames(keys, after), hop, axis=1)
    assert 0.2 < asleep.mean() < 0.8
    sets = sorted({simd for simd, _ in codes})
    for simd in sets[1:]:
        boundary = assert_same_picks(model, codes[sets[0], "all"], codes[simd, "all"], 9, level * keys[:, None, :],
                                     asleep=asleep)
        print(f"{sets[0]} vs {simd}: {boundary} boundary picks in {keys.size * hop}")


def sleep_pattern(streams, frames, rng):
    """Conditioning whose streams fall silent for spans of every length: stream 0 never, stream 1 for
    frames [12, 90), stream 2 from the start to frame 100, the rest at random."""
    keys = np.ones((streams, frames), bool)
    keys[1, 12:90] = False
    keys[2, :100] = False
    keys[3:] = rng.random((streams - 3, frames)) < 0.2
    return keys


def asleep_frames(keys, after):
    """Frame f sleeps when it and the after - 1 frames before it hold no key, or no key came since reset
    (EngineOptions)."""
    quiet = np.zeros(keys.shape, int)
    for f in range(keys.shape[1]):
        quiet[:, f] = np.where(keys[:, f], 0, (quiet[:, f - 1] if f else after) + 1)
    return quiet >= after


def test_sleeping_streams_play_silence_and_wake_where_forward_says():
    """A stream without keys for sleep_after is fed the silence code and plays 0; everywhere else each code is
    the contract's pick from forward()'s logits over the whole history, silences included, so a stream
    that slept (and skipped its computation once settled) wakes in the state forward() computes."""
    config = WaveNetConfig(dilations=[1, 2, 4, 8, 1, 2], kernel_size=3, residual_channels=9, gate_channels=14,
                           skip_channels=11, classes=48, cond_channels=4, cond_hop=6)
    model = model_for(config)
    rng = np.random.default_rng(2)
    streams, hop, after = 5, config.cond_hop, 8
    frames = 130
    n = frames * hop
    keys = sleep_pattern(streams, frames, rng)
    cond = rng.random((streams, config.cond_channels, frames)) * keys[:, None, :]
    sleep_after = (after - 0.5) * hop / config.sample_rate  # rounds up to `after` frames
    codes, audio = {}, []
    for seconds in (0.0, sleep_after):
        engine = Engine(model, streams=streams, sleep_after=seconds)
        engine.reset(seed=4)
        codes[seconds] = generated_codes(engine, n, cond, None, 1.0, block=97, audio_out=audio)
    asleep = np.repeat(asleep_frames(keys, after), hop, axis=1)
    silence = silence_code(config.classes)
    assert (codes[sleep_after][asleep] == silence).all()
    assert (audio[1][asleep] == 0).all() and (audio[1][~asleep] != 0).all()  # asleep: 0, not the code's centre
    assert (codes[0.0][asleep] != silence).mean() > 0.5, "this model's idle draws are not silence anyway"
    assert asleep[2, :100 * hop].sum() > 4 * config.receptive_field  # long enough to settle and be skipped
    lead = math.ceil(config.receptive_field / hop) * hop
    history = np.concatenate([np.full((streams, lead + 1), silence), codes[sleep_after]], axis=1)
    full_cond = np.concatenate([np.zeros((streams, config.cond_channels, lead // hop)), cond], axis=2)
    logits = reference_logits(model, history[:, :-1], full_cond, None)[:, :, lead:]
    for s in range(streams):
        u = sampling_uniforms(4, s, 0, n)
        expect = sample_categorical(logits[s].T.astype(np.float32), 1.0, u)
        for t in np.flatnonzero((expect != codes[sleep_after][s]) & ~asleep[s]):  # float32 vs float64 only
            cdf = np.cumsum(np.exp(logits[s, :, t] - logits[s, :, t].max()))
            assert np.min(np.abs(cdf / cdf[-1] - u[t])) < 1e-4, f"stream {s} parted from forward at {t}"
    assert not asleep[0].any() and np.array_equal(codes[0.0][0], codes[sleep_after][0])


def test_the_dc_blocker_plays_what_the_contract_says():
    """With the config's DC blocker every awake class is the contract's pick from forward()'s logits over
    the classes played before, through the blocker stepped with what was drawn (wavenet_rt/feedback.py);
    asleep samples are silence and leave the blocker at rest; the kernel sets play alike. The same engine
    without the blocker plays something else, and those classes are shown not to pass."""
    config = WaveNetConfig(dilations=[1, 2, 4, 8, 1, 2], kernel_size=3, residual_channels=9, gate_channels=14,
                           skip_channels=11, classes=256, cond_channels=4, cond_hop=6, dc_blocker=0.99)
    model = model_for(config)
    rng = np.random.default_rng(8)
    streams, hop, after, frames = 5, config.cond_hop, 8, 200
    keys = sleep_pattern(streams, frames, rng)
    cond = rng.random((streams, config.cond_channels, frames)) * keys[:, None, :]
    sleep_after = (after - 0.5) * hop / config.sample_rate
    asleep = np.repeat(asleep_frames(keys, after), hop, axis=1)
    codes = {}
    for simd in filter(simd_available, SIMD):
        engine = Engine(model, streams=streams, threads=2, simd=simd, sleep_after=sleep_after)
        engine.reset(seed=6)
        codes[simd] = generated_codes(engine, frames * hop, cond, None, 1.0, block=71)
        assert (codes[simd][asleep] == silence_code(config.classes)).all()
    sets = sorted(codes)
    for simd in sets[1:]:
        boundary = assert_same_picks(model, codes[sets[0]], codes[simd], 6, cond, asleep=asleep)
        print(f"{sets[0]} vs {simd}: {boundary} boundary picks in {codes[simd].size}")
    if len(sets) == 1:
        departures(model, codes[sets[0]], 6, cond, asleep=asleep)
    unblocked = model_for(WaveNetConfig(**{**config.__dict__, "dc_blocker": 0.0}))
    engine = Engine(unblocked, streams=streams, sleep_after=sleep_after)
    engine.reset(seed=6)
    plain = generated_codes(engine, frames * hop, cond, None, 1.0, block=71)
    assert (plain != codes[sets[0]]).mean() > 0.3
    with pytest.raises(AssertionError, match="not the contract's picks"):
        departures(model, plain, 6, cond, asleep=asleep)


def test_a_sleeper_wakes_in_the_global_class_it_slept_into():
    """The class changes while the streams sleep (settled and skipped on the CPU): woken, they follow
    forward() under the new class over the silence before them."""
    config = WaveNetConfig(dilations=[1, 2, 4, 8, 1, 2], kernel_size=3, residual_channels=9, gate_channels=14,
                           skip_channels=11, classes=48, cond_channels=4, cond_hop=6, global_classes=2)
    model = model_for(config)
    rng = np.random.default_rng(3)
    streams, hop, frames, wake = 2, config.cond_hop, 150, 120
    keys = np.ones((streams, frames), bool)
    keys[:, 10:wake] = False
    cond = rng.random((streams, config.cond_channels, frames)) * keys[:, None, :]
    engine = Engine(model, streams=streams, sleep_after=(8 - 0.5) * hop / config.sample_rate)
    engine.reset(seed=6)
    switch = 70 * hop + 5  # mid-frame, long after the streams settled, long before they wake
    blocks = []
    for start, end, glob in ((0, switch, [0, 0]), (switch, frames * hop, [1, 1])):
        audio = engine.generate(end - start, cond[:, :, start // hop:(end - 1) // hop + 1], np.array(glob))
        blocks.append(mulaw_encode(audio, config.classes))
    codes = np.concatenate(blocks, axis=1)
    silence = silence_code(config.classes)
    assert (codes[:, 20 * hop:wake * hop] == silence).all()
    codes = codes[:, wake * hop:]
    lead = math.ceil(config.receptive_field / hop) * hop
    history = np.concatenate([np.full((streams, lead + 1), silence), codes[:, :-1]], axis=1)
    tail_cond = np.concatenate([np.zeros((streams, config.cond_channels, lead // hop)), cond[:, :, wake:]], axis=2)
    logits = reference_logits(model, history, tail_cond, np.array([1, 1]))[:, :, lead:]
    for s in range(streams):
        u = sampling_uniforms(6, s, wake * hop, codes.shape[1])
        expect = sample_categorical(logits[s].T.astype(np.float32), 1.0, u)
        for t in np.flatnonzero(expect != codes[s]):  # float32 vs float64 only
            cdf = np.cumsum(np.exp(logits[s, :, t] - logits[s, :, t].max()))
            assert np.min(np.abs(cdf / cdf[-1] - u[t])) < 1e-4, f"stream {s} parted from forward at {t}"


def test_a_frame_read_again_mid_frame_is_heard_when_it_changed():
    """Blocks that start inside a frame get that frame again; new values there, or a new global class,
    must reach the samples that follow (the engine reuses the projection only when nothing changed)."""
    config = WaveNetConfig(dilations=[1, 2, 4], residual_channels=8, gate_channels=10, skip_channels=8,
                           classes=32, cond_channels=3, cond_hop=16, global_classes=2)
    model = model_for(config)
    cond = np.random.default_rng(1).random((1, 3, 4))

    def tail(second_frame, second_class):
        engine = Engine(model)
        engine.reset(seed=2)
        engine.generate(40, cond[:, :, :3], np.array([0]))  # ends inside frame 2
        return engine.generate(8, second_frame, np.array([second_class]))  # the rest of frame 2

    same = tail(cond[:, :, 2:3], 0)
    assert np.array_equal(same, tail(cond[:, :, 2:3].copy(), 0))
    assert not np.array_equal(same, tail(cond[:, :, 2:3] * 0.5, 0))
    assert not np.array_equal(same, tail(cond[:, :, 2:3], 1))


def test_a_model_without_keys_never_sleeps():
    model = model_for(WaveNetConfig(dilations=[1, 2, 4], residual_channels=6, gate_channels=8, skip_channels=6,
                                    classes=32))
    audio = {}
    for seconds in (0.0, 0.001):
        engine = Engine(model, streams=2, sleep_after=seconds)
        engine.reset(seed=1)
        audio[seconds] = engine.generate(3000)
    assert np.array_equal(audio[0.0], audio[0.001])


def test_generate_is_seeded_per_stream():
    model = model_for(WaveNetConfig(dilations=[1, 2, 4, 8], residual_channels=8, gate_channels=8,
                                    skip_channels=8, classes=32))
    engine = Engine(model, streams=3)
    runs = []
    for seed in (1, 1, 2):
        engine.reset(seed)
        runs.append(engine.generate(500))
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    assert not np.array_equal(runs[0][0], runs[0][1])
    engine.reset(1)  # blocks of any size give the same samples
    assert np.array_equal(np.concatenate([engine.generate(7), engine.generate(493)], axis=1), runs[0])


def test_sampled_classes_follow_the_softmax():
    """A model whose logits ignore the input (head2 weights zero, its bias fixed) must draw its classes
    with softmax(bias / T) frequencies."""
    config = WaveNetConfig(dilations=[1, 2], residual_channels=4, gate_channels=4, skip_channels=4, classes=16)
    model = model_for(config)
    bias = torch.linspace(-2, 1.5, 16)
    with torch.no_grad():
        model.head2.weight.zero_()
        model.head2.bias.copy_(bias)
    engine = Engine(model, streams=4)
    for temperature in (1.0, 0.6):
        engine.reset(3)
        codes = mulaw_encode(engine.generate(25000, temperature=temperature), 16).ravel()
        p = torch.softmax(bias.double() / temperature, 0).numpy()
        observed = np.bincount(codes, minlength=16)
        assert chisquare_pvalue(observed, p * len(codes)) > 1e-4
    engine.reset(3)
    assert (mulaw_encode(engine.generate(100, temperature=0.0), 16) == 15).all()  # argmax: the largest bias


def test_engine_from_file_equals_engine_from_model(tmp_path):
    config = WaveNetConfig(dilations=[1, 2, 4, 8], residual_channels=8, gate_channels=10, skip_channels=8,
                           classes=32, cond_channels=3, cond_hop=4)
    model = model_for(config)
    save_model(model, tmp_path / "m.safetensors")
    cond = np.random.default_rng(0).random((2, 3, 50))
    a, b = Engine(model, streams=2), Engine(tmp_path / "m.safetensors", streams=2)
    for e in (a, b):
        e.reset(4)
    assert np.array_equal(a.generate(200, cond), b.generate(200, cond))


@pytest.mark.parametrize("check", ["engine_alloc_check", "kernel_check", "fast_divide_check", "ring_buffer_check"])
def test_cpp_checks(check):
    """C++ executables that the build writes to build/cpp_checks/: no allocation while generating after
    reset() (every malloc counted, worker threads included), every kernel set against float64 and the
    contract, the CUDA kernel's division by launch-fixed divisors against `/` and `%`, and the live ring (two
    threads) and resampler (a float64 sine)."""
    checker = Path(__file__).resolve().parents[1] / "build" / "cpp_checks" / check
    if not checker.is_file() and not sys.platform.startswith("linux"):
        pytest.skip(f"{check} is only built on Linux")
    assert checker.is_file(), f"{checker} is missing: build with `pip install -e .`"
    result = subprocess.run([str(checker)], capture_output=True, text=True, timeout=120)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gil_is_released_while_generating():
    model = model_for(WaveNetConfig.preset("small"))
    engine = Engine(model, threads=1)
    engine.reset(0)
    ticks = 0
    worker = threading.Thread(target=engine.generate, args=(30000,))
    started = time.perf_counter()
    worker.start()
    while worker.is_alive():
        ticks += 1
        time.sleep(0)
    elapsed = time.perf_counter() - started
    assert elapsed > 0.05 and ticks > 100  # the main thread ran while C++ generated


def test_one_engine_used_from_two_threads_is_an_error_not_a_crash():
    engine = Engine(model_for(WaveNetConfig.preset("small")), threads=1)
    engine.reset(0)
    for n in (40000 * 4**k for k in range(5)):  # longer calls until one is still running when we call
        worker = threading.Thread(target=engine.generate, args=(n,))
        worker.start()
        time.sleep(0.05)
        try:
            overlapped = worker.is_alive()
            if overlapped:
                with pytest.raises(RuntimeError, match="another thread"):
                    engine.generate(10)
        finally:
            worker.join()
        if overlapped:
            break
    else:
        pytest.fail("no generate() call lasted 50 ms: the two calls never overlapped")
    assert engine.generate(10).shape == (1, 10)


def test_bad_input_raises_value_errors(tmp_path):
    config = WaveNetConfig(dilations=[1, 2], residual_channels=4, gate_channels=4, skip_channels=4, classes=16,
                           cond_channels=3, cond_hop=4, global_classes=2)
    model = model_for(config)
    engine = Engine(model, streams=2)
    engine.reset(0)
    cond = np.zeros((2, 3, 3))
    cases = [
        (lambda: engine.generate(9, cond[:, :, :2], 0), "cond must have shape"),
        (lambda: engine.generate(9, cond[:1], 0), "cond must have shape"),
        (lambda: engine.generate(9, None, 0), "needs cond"),
        (lambda: engine.generate(9, np.full((2, 3, 3), np.nan), 0), "NaN"),
        (lambda: engine.generate(9, cond.astype(int), 0), "float"),
        (lambda: engine.generate(9, cond, 2), "global_id must be in"),
        (lambda: engine.generate(9, cond, [0, 1, 0]), "global_id must be an int or have shape"),
        (lambda: engine.generate(9, cond), "needs global_id"),
        (lambda: engine.generate(-1, cond, 0), "n must be"),
        (lambda: engine.generate(9, cond, 0, temperature=-1), "temperature"),
        (lambda: engine.logits(np.zeros((3, 8), int), np.zeros((3, 3, 2)), 0), "one row per stream"),
        (lambda: engine.logits(np.full((2, 8), 16), np.zeros((2, 3, 2)), 0), "codes must be in"),
        (lambda: engine.logits(np.zeros((2, 8)), np.zeros((2, 3, 2)), 0), "integers"),
        (lambda: Engine(model, streams=0), "streams"),
        (lambda: Engine(model, backend="tpu"), "backend must be"),
        (lambda: Engine(model, simd="sse9"), "simd must be"),
        (lambda: Engine(model, precision="fp8"), "precision must be"),
        (lambda: Engine(42), "WaveNet or a model file"),
        (lambda: engine.reset(-1), "seed"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with torch.no_grad():
        model.head1.bias[0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        Engine(model)
    if not cuda_available():
        with pytest.raises(ValueError, match="CUDA"):
            Engine(WaveNet(WaveNetConfig(dilations=[1], residual_channels=2, gate_channels=2, skip_channels=2,
                                         classes=4)), backend="cuda")
    assert engine.generate(5, cond[:, :, :2], 0).shape == (2, 5)  # still usable after all that
