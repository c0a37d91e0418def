# The CUDA engine against the references the CPU engine answers to (tests/test_engine.py): WaveNet.forward
# in float64 for the logits, and the CPU engine's samples through the shared RNG. The GPU tests skip where
# there is no CUDA device (benchmarks/gpu_suite.sh runs them on the GPU machine); what "auto" and "cuda" do
# without one is tested everywhere. The kernel's two skip paths are compared with each other bit for bit.
import numpy as np
import pytest
from support.chi2 import contingency_pvalue
from support.picks import assert_same_picks, reference_logits
from test_engine import asleep_frames, generated_codes, inputs, model_for, random_config, sleep_pattern

from wavenet_rt import WaveNetConfig
from wavenet_rt.engine import Engine, cuda_available
from wavenet_rt.mulaw import silence_code

gpu = pytest.mark.gpu  # conftest.py skips these without a CUDA device
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 1e-2}
SKIP_ENV = "WAVENET_RT_CUDA_SKIP"  # forces the kernel's skip path (csrc/cuda/cuda_engine.cu), read by Engine()
SKIP_PATHS = {"per_layer": "skip path per layer", "deferred": "skip path deferred"}  # value: what details say


def engine_on(path, monkeypatch, model, **options):
    """A CUDA engine forced onto one skip path, checked by what it says it runs."""
    monkeypatch.setenv(SKIP_ENV, path)
    engine = Engine(model, backend="cuda", **options)
    assert SKIP_PATHS[path] in engine.details, engine.details
    return engine


def bits(array):
    return np.ascontiguousarray(array, np.float32).view(np.uint32)


def tiny_model():
    return model_for(WaveNetConfig(dilations=[1, 2], residual_channels=3, gate_channels=4, skip_channels=5,
                                   classes=8))


def test_without_a_gpu_cuda_is_a_clear_error_and_auto_says_it_chose_the_cpu():
    if cuda_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ValueError, match="CUDA"):
        Engine(tiny_model(), backend="cuda")
    engine = Engine(tiny_model())
    assert engine.backend == "cpu" and "auto chose the CPU engine" in engine.details
    with pytest.raises(ValueError, match="bf16"):
        Engine(tiny_model(), precision="bf16")


@gpu
def test_auto_picks_the_gpu():
    engine = Engine(tiny_model())
    assert engine.backend == "cuda" and engine.auto_note == ""


@gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("seed", range(8))
def test_logits_equal_forward(precision, seed):
    rng = np.random.default_rng(seed)
    config = random_config(rng)  # channel counts off every tile size, kernel 2-3, with/without conditioning
    model = model_for(config, seed)
    streams = int(rng.choice([1, 2, 3, 17, 40]))
    for steps in (max(1, config.receptive_field // 2), 2 * config.receptive_field + 5):
        codes, cond, glob = inputs(config, streams, steps, rng)
        got = Engine(model, backend="cuda", streams=streams, precision=precision).logits(codes, cond, glob)
        want = reference_logits(model, codes, cond, glob)
        assert got.shape == want.shape
        error = np.abs(got - want).max() / np.abs(want).max()
        assert error <= TOLERANCE[precision], (precision, error, config)


@gpu
@pytest.mark.parametrize("name,streams,precision", [("small", 256, "fp32"), ("medium", 1, "fp32"),
                                                    ("medium", 1, "fp16"), ("medium", 130, "fp32"),
                                                    ("large", 2, "fp32")])
def test_standard_sizes_equal_forward_on_both_skip_paths(name, streams, precision, monkeypatch):
    """Each skip path against forward in float64, and the deferred path (the same skip products summed in
    the same order after the last layer) against the per-layer one bit for bit."""
    rng = np.random.default_rng(1)
    config = WaveNetConfig.preset(name, cond_channels=176, cond_hop=64)
    model = model_for(config)
    steps = config.receptive_field + 100 if streams <= 2 else 300
    codes, cond, _ = inputs(config, streams, steps, rng)
    want = reference_logits(model, codes, cond, None)
    got = {path: engine_on(path, monkeypatch, model, streams=streams, precision=precision).logits(codes, cond)
           for path in SKIP_PATHS}
    for path, logits in got.items():
        assert np.abs(logits - want).max() <= TOLERANCE[precision] * np.abs(want).max(), path
    assert np.array_equal(bits(got["per_layer"]), bits(got["deferred"]))


@gpu
@pytest.mark.parametrize("seed", range(4))
def test_skip_paths_give_the_same_logits_for_any_shape(seed, monkeypatch):
    """Bit for bit on random shapes as test_logits_equal_forward's (1 to 6 layers: fewer than, and not a
    multiple of, the deferred path's chains; channel counts off every unrolled step; 1 to 40 streams)."""
    rng = np.random.default_rng(100 + seed)
    config = random_config(rng)
    model = model_for(config, seed)
    streams = int(rng.choice([1, 3, 17, 40]))
    codes, cond, glob = inputs(config, streams, 2 * config.receptive_field + 5, rng)
    precision = ["fp32", "fp16"][seed % 2]
    got = [engine_on(path, monkeypatch, model, streams=streams, precision=precision).logits(codes, cond, glob)
           for path in SKIP_PATHS]
    assert np.array_equal(bits(got[0]), bits(got[1])), config


@gpu
@pytest.mark.parametrize("name,streams,precision", [("medium", 1, "fp16"), ("small", 40, "fp32")])
def test_skip_paths_pick_the_same_samples(name, streams, precision, monkeypatch):
    """Equal logits and the shared RNG: the same picks, sample for sample, through conditioning, global
    classes and uneven blocks."""
    config = WaveNetConfig.preset(name, cond_channels=7, cond_hop=64, global_classes=3)
    model = model_for(config)
    rng = np.random.default_rng(3)
    cond = rng.random((streams, 7, 3000 // 64 + 1)).astype(np.float32)
    glob = rng.integers(0, 3, streams)
    samples = []
    for path in SKIP_PATHS:
        engine = engine_on(path, monkeypatch, model, streams=streams, precision=precision)
        engine.reset(12)
        samples.append(generated_codes(engine, 3000, cond, glob, block=1009))
    assert np.array_equal(samples[0], samples[1])


@gpu
def test_one_medium_stream_takes_the_deferred_skip_path_and_a_bad_choice_is_refused(monkeypatch):
    """The planner's choice for the latency case (issue 21), and the variable's values checked."""
    model = model_for(WaveNetConfig.preset("medium"))
    monkeypatch.delenv(SKIP_ENV, raising=False)
    for precision in ("fp32", "fp16"):
        assert SKIP_PATHS["deferred"] in Engine(model, backend="cuda", precision=precision).details
    monkeypatch.setenv(SKIP_ENV, "sideways")
    with pytest.raises(ValueError, match=SKIP_ENV):
        Engine(model, backend="cuda")


@gpu
@pytest.mark.parametrize("dc_blocker", [0.0, 0.999])
def test_fp32_generates_the_cpu_engines_samples(dc_blocker):
    """Same seed, same RNG, logits equal to ~1e-6: the same picks (support/picks.py: the contract's from
    forward's logits but for rare CDF-boundary cases), in uneven blocks, through the same DC blocker."""
    config = WaveNetConfig.preset("small", cond_channels=7, cond_hop=64, global_classes=3, dc_blocker=dc_blocker)
    model = model_for(config)
    rng = np.random.default_rng(2)
    cond = rng.random((3, 7, 10000 // 64 + 1)).astype(np.float32)
    glob = np.array([0, 1, 2])
    samples = []
    for backend in ("cpu", "cuda"):
        engine = Engine(model, backend=backend, streams=3)
        engine.reset(11)
        samples.append(generated_codes(engine, 10000, cond, glob, block=997))
    boundary = assert_same_picks(model, samples[0], samples[1], 11, cond, glob)
    print(f"{boundary} boundary picks in {samples[0].size}")


@gpu
@pytest.mark.parametrize("dc_blocker", [0.0, 0.99])
def test_sleeping_streams_play_the_cpu_engines_samples(dc_blocker):
    """Streams that fall silent sleep on the frame the CPU engine's do (the count kept in each CTA and
    carried between launches) and wake to the same samples: the CPU skips a settled sleeper, the GPU
    computes it, and the two must agree (silence while asleep, the contract's picks elsewhere)."""
    config = WaveNetConfig(dilations=[1, 2, 4, 8, 16, 32] * 2, residual_channels=16, gate_channels=32,
                           skip_channels=32, classes=256, cond_channels=7, cond_hop=16,
                           dc_blocker=dc_blocker)  # settles in 270 samples
    model = model_for(config)
    rng = np.random.default_rng(6)
    streams, frames, hop, after = 6, 400, 16, 10
    keys = sleep_pattern(streams, frames, rng)
    cond = (rng.random((streams, 7, frames)) * keys[:, None, :]).astype(np.float32)
    samples = []
    for backend in ("cpu", "cuda"):
        sleep_after = (after - 0.5) * hop / config.sample_rate  # rounds up to `after` frames
        engine = Engine(model, backend=backend, streams=streams, sleep_after=sleep_after)
        engine.reset(2)
        samples.append(generated_codes(engine, frames * hop, cond, block=613))
    asleep = np.repeat(asleep_frames(keys, after), hop, axis=1)
    assert all((codes[asleep] == silence_code(config.classes)).all() for codes in samples)
    assert_same_picks(model, samples[0], samples[1], 2, cond, asleep=asleep)


@gpu
def test_half_precision_generation_matches_the_cpu_statistically():
    config = WaveNetConfig(dilations=[1, 2, 4, 8], residual_channels=16, gate_channels=32, skip_channels=32,
                           classes=32)
    model = model_for(config)
    histograms = []
    for backend, precision in (("cpu", "fp32"), ("cuda", "fp16")):
        engine = Engine(model, backend=backend, streams=64, precision=precision)
        engine.reset(5)
        codes = generated_codes(engine, 2000, block=500)
        histograms.append(np.bincount(codes.ravel(), minlength=config.classes))
    table = np.array(histograms)
    table = table[:, table.sum(axis=0) >= 20]  # chi-square needs populated cells
    assert contingency_pvalue(table) > 1e-4


@gpu
def test_repeated_runs_are_identical_and_blocks_do_not_matter():
    config = WaveNetConfig.preset("small", cond_channels=5, cond_hop=32)
    model = model_for(config)
    cond = np.random.default_rng(3).random((4, 5, 3000 // 32 + 1)).astype(np.float32)
    engine = Engine(model, backend="cuda", streams=4, precision="fp16")
    runs = []
    for block in (3000, 3000, 61):
        engine.reset(9)
        runs.append(generated_codes(engine, 3000, cond, block=block))
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])


@gpu
def test_period_taps_equal_forward_and_the_cpu_engine():
    """The period taps on the GPU (a warp per stream, rank 0's history in device memory read by every CTA)
    against forward in float64, then pick for pick against the CPU engine (support/picks.py)."""
    from test_excitation import excited_config, key_roll, with_live_excitation

    config = excited_config(dilations=[1, 2, 4, 8, 16, 32, 64], cond_hop=64)
    model = with_live_excitation(model_for(config))
    rng = np.random.default_rng(8)
    streams, steps = 5, 700
    codes = rng.integers(0, config.classes, (streams, steps))
    cond = key_roll(streams, -(-steps // 64), rng)
    got = Engine(model, backend="cuda", streams=streams).logits(codes, cond)
    want = reference_logits(model, codes, cond.astype(np.float64), None)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    keys = key_roll(streams, 3000 // 64 + 1, np.random.default_rng(9))
    samples = []
    for backend in ("cpu", "cuda"):
        engine = Engine(model, backend=backend, streams=streams)
        engine.reset(4)
        samples.append(generated_codes(engine, 3000, keys, block=251))
    assert_same_picks(model, samples[0], samples[1], 4, keys, lead=600)  # silence as far back as A0's taps
