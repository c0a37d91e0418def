# The engine benchmark's quick mode runs end to end and writes a complete results file and plot; its LV2 part
# measures the plugin in jalv beside play; the training-speed benchmark times equal steps three ways.
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wavenet_rt import WaveNet
from wavenet_rt.dataset.shards import load_manifest
from wavenet_rt.train import build_config
from wavenet_rt.weights import save_model

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "latency.py"


def test_quick_benchmark_writes_results(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARK), "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=BENCHMARK.parents[1],
                            env={**os.environ, "PYTHONPATH": str(BENCHMARK.parents[1])})  # this checkout's engine
    assert result.returncode == 0, result.stderr[-2000:]
    [json_file] = tmp_path.glob("latency-quick-*.json")
    assert json_file.with_suffix(".png").is_file()
    results = json.loads(json_file.read_text())
    rows = results["sizes"]["small"]
    assert results["machine"]["cpu"] and {r["backend"] for r in rows} >= {"pytorch", "cpu"}
    for row in rows:
        assert row["samples_per_s"] > 0 and row["block_ms"]["p50"] <= row["block_ms"]["max"]
        assert set(row["real_time_factor"]) == {"16000", "24000", "48000"}
    engine = next(r for r in rows if r["backend"] == "cpu" and r["streams"] == 1)
    assert engine["vs_pytorch"] > 1  # a compiled engine slower than the Python loop would be a bug
    assert "small" in result.stdout
    voices = results["voices"]
    assert voices["matmul_multiply_adds_per_s"] == max(voices["matmul_by_library"].values()) > 1e8
    small = voices["sizes"]["small"]
    expected = [(precision, v) for precision in ("fp32", "int8") for v in (1, 2, 4)]
    assert [(r["precision"], r["voices"]) for r in small["rows"]] == expected
    for r in small["rows"]:  # the figures are ratios of one another, as documented
        assert r["real_time_factor"] == pytest.approx(r["samples_per_s"] / (r["voices"] * 16000))
        assert r["share_of_matmul_rate"] == pytest.approx(
            r["samples_per_s"] * small["multiply_adds_per_sample"] / voices["matmul_multiply_adds_per_s"])
        # Batched voices may pass a library's large product on one core (their weights stay in cache: fp32
        # 1.48x torch's on a Zen 5 EPYC, int8 more), never by the factor a miscount of layers would give.
        assert 0 < r["share_of_matmul_rate"] < (3 if r["precision"] == "fp32" else 6)


def notes_later_than(row: dict, ms: float) -> int:
    """A live run's notes heard later than `ms` after their key, or not at all."""
    return sum(k is None or k > ms for k in row["key_to_sound_ms_each"])


@pytest.mark.slow
@pytest.mark.skipif(not all(map(shutil.which, ("jalv", "jackd", "jack_midisine"))),
                    reason="jalv, jackd or jack_midisine is not installed")
@pytest.mark.skipif(not (BENCHMARK.parents[1] / "wavenet_rt" / "wavenet_rt.lv2" / "manifest.ttl").is_file(),
                    reason="the LV2 bundle was not built (needs lv2-dev)")
def test_lv2_part_measures_jalv_beside_play(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARK), "--lv2", "--notes", "10", "--soak", "2", "--out",
                             str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=BENCHMARK.parents[1],
                            env={**os.environ, "PYTHONPATH": str(BENCHMARK.parents[1])})
    assert result.returncode == 0, result.stderr[-2000:]
    [json_file] = tmp_path.glob("lv2-latency-*.json")
    rows = json.loads(json_file.read_text())["lv2"]
    assert [r["period"] for r in rows] == [64, 128]
    for r in rows:
        for host in ("play", "jalv", "jalv_ahead"):
            k = r[host]["key_to_sound_ms"]
            assert r[host]["notes"] == 10 and 0 <= k["min"] <= k["p5"] <= k["p50"] <= k["p95"] <= k["max"]
        # jalv: the period the graph's cycle adds, a conditioning frame and the resampler (24 + 24 frames);
        # computing ahead, also the ring: its latency port's figure past the resampler's delay
        assert r["jalv"]["computed"] == "in run()" and r["jalv_ahead"]["computed"] == "ahead"
        assert r["jalv"]["latency_port_frames"] == 24
        ring = r["jalv_ahead"]["latency_port_frames"] - 24
        # The median note within that bound; all notes but one within one cycle more: on a loaded 2-core VM
        # one note of ten can land a cycle late (CI, 2026-12-06: 3.71 ms at 64 frames, bound 2.50 ms) or two
        # (CI, 2026-12-07: 4.79 ms)
        bound, late_cycle = (r["period"] + 48 + 8) / 48, r["period"] / 48
        assert r["jalv"]["key_to_sound_ms"]["p50"] <= bound
        assert notes_later_than(r["jalv"], bound + late_cycle) <= 1, r["jalv"]["key_to_sound_ms_each"]
        # computing ahead, notes sound once the ring has carried them out: the median note and all but one (a
        # loaded VM's xrun can shift the probe's timeline against the plugin's: CI, 2026-12-08, read 0.0 ms)
        ahead = r["jalv_ahead"]
        assert ring / 48 <= ahead["key_to_sound_ms"]["p50"]
        assert sum(k is not None and k < ring / 48 for k in ahead["key_to_sound_ms_each"]) <= 1, ahead
        if r["jalv_ahead"]["underruns"] == 0:  # a ring run short (a loaded machine) delays what follows
            assert notes_later_than(r["jalv_ahead"], ring / 48 + bound + late_cycle) <= 1, r["jalv_ahead"]
        for host in ("jalv", "jalv_ahead"):
            assert r[f"{host}_minus_play_ms"]["p50"] == pytest.approx(
                r[host]["key_to_sound_ms"]["p50"] - r["play"]["key_to_sound_ms"]["p50"])
    assert rows[0]["jalv"]["soak"] is None and rows[1]["jalv_ahead"]["soak"] is None
    soak = rows[1]["jalv"]["soak"]
    assert soak["seconds"] == 2 and soak["midi_events_sent"] == soak["midi_events_scheduled"] > 50
    jalv = soak["xruns_by_cause"].get("wavenet_rt_jalv", {})
    assert soak["plugin_xruns"] == jalv.get("Running", 0) + jalv.get("finished late", 0)
    # the plugin's load port, read through jalv's console about every quarter second: the impulse model's
    # run() needs a sliver of each block
    assert soak["plugin_load_readings"] >= 4 and 0 < soak["plugin_load_max_pct"] < 100
    assert soak["plugin_underruns"] == 0  # computed in run(): there is no ring to run short


# Server xruns while a run's notes play beyond which its timings are not read (calm CI runs see 0-8)
MANY_XRUNS = 20


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jackd") is None, reason="jackd is not installed")
def test_key_to_sound_part_measures_a_trained_model_beside_the_impulse_model_and_the_soundfont(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARK), "--key-to-sound", "--notes", "4", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, cwd=BENCHMARK.parents[1],
                            env={**os.environ, "PYTHONPATH": str(BENCHMARK.parents[1])})
    assert result.returncode == 0, result.stderr[-2000:]
    [json_file] = tmp_path.glob("key-to-sound-*.json")
    rows = json.loads(json_file.read_text())["key-to-sound"]
    models = ("impulse", "trained", "soundfont")
    assert [(r["period"], r["model"]) for r in rows] == [(p, m) for p in (64, 128) for m in models]
    for impulse, trained, soundfont in zip(rows[::3], rows[1::3], rows[2::3]):  # the shipped model by default
        # fluidsynth live on the same server hears every key, its attack at -40 dBFS within a piano's (the
        # TimGM6mb piano's slowest key from C3 to C6 takes 10 ms offline)
        assert soundfont["notes"] == soundfont["notes_heard"] == 4 and soundfont["key_to_sound_ms"]["max"] < 30
        assert impulse["notes"] == trained["notes"] == 4
        # a struck key at velocity 100 passes -40 dBFS; CI's loaded VM once lost one impulse-model note of four
        # to a live glitch (2026-12-07), so one note in four may go unheard in either
        assert impulse["notes_heard"] >= 3 and trained["notes_heard"] >= 3
        # a sleeping voice is silent until its key: the model's sound cannot start before the synth path
        # delivers the key (within a period: the two runs' notes fall differently on the period grid). All
        # notes heard but one: on CI's loaded VM (2026-12-07) one of four sounded 0.02 ms after its key.
        # Through many server xruns the probe's timeline is not the synth's: in a run with 595 of them the
        # impulse model, silent until a key, read 0 ms for 18 keys of 40, and in CI a trained run with 49
        # read 0, 0 and 1.7 ms (2026-12-07); such a run is no evidence either way
        if trained["jack_xruns_during_notes"] >= MANY_XRUNS:
            continue
        period_ms = impulse["period"] / 48
        early = [k for k in trained["key_to_sound_ms_each"]
                 if k is not None and k < impulse["key_to_sound_ms"]["min"] - period_ms]
        assert len(early) <= 1, (trained["key_to_sound_ms_each"], impulse["key_to_sound_ms_each"])


def test_train_speed_times_three_ways_of_the_same_step(tmp_path):
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "build", str(data), "--limit", "2",
                    "--sample-rate", "8000", "--hop", "32", "--test", "0"], check=True, capture_output=True)
    config = build_config("small", load_manifest(data), unconditional=False)
    config = dataclasses.replace(config, dilations=[1, 2, 4, 8, 16, 1, 2, 4, 8, 16], residual_channels=8,
                                 gate_channels=16, skip_channels=16)
    save_model(WaveNet(config), tmp_path / "tiny.safetensors")
    script = BENCHMARK.parent / "train_speed.py"
    model = tmp_path / "tiny.safetensors"
    result = subprocess.run([sys.executable, str(script), "--data", str(data), "--model", str(model),
                             "--batch", "2", "--window", "600", "--rounds", "4", "--threads", "1",
                             "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, cwd=BENCHMARK.parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    [json_file] = tmp_path.glob("train-speed-*.json")
    results = json.loads(json_file.read_text())
    rows = {r["mode"]: r for r in results["modes"]}
    assert list(rows) == ["fp32_whole_window", "fp32", "bf16"] and results["machine"]["cpu"]
    for r in rows.values():
        s = r["step_s"]
        assert 0 < s["min"] <= s["p50"] <= s["max"]
        assert r["target_samples_per_s"] == pytest.approx(2 * 600 / s["p50"])
        assert r["vs_fp32_whole_window"] == pytest.approx(rows["fp32_whole_window"]["step_s"]["p50"] / s["p50"])
        assert len(r["bits_per_step"]) == 4
    # the ways time the same step: the trimmed forward's loss is the whole window's, bf16's within rounding
    whole, trimmed, bf16 = (np.array(rows[m]["bits_per_step"]) for m in ("fp32_whole_window", "fp32", "bf16"))
    assert np.allclose(trimmed, whole, atol=1e-4) and whole.std() > 0  # different windows each round
    assert np.allclose(bf16, whole, atol=0.05) and not np.array_equal(bf16, whole)
    shipped = BENCHMARK.parents[1] / "wavenet_rt" / "models" / "default.safetensors"  # 16 kHz: not this 8 kHz data
    bad = subprocess.run([sys.executable, str(script), "--data", str(data), "--model", str(shipped)],
                         capture_output=True, text=True, timeout=120, cwd=BENCHMARK.parents[1])
    assert bad.returncode != 0 and "does not fit the dataset" in bad.stderr
