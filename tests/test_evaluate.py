# The evaluation's metrics against independent references (fluidsynth renders of the score, transposed and
# delayed copies that must score badly), and the evaluate command end to end on a small dataset.
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from wavenet_rt import WaveNet, WaveNetConfig, save_model
from wavenet_rt.eval import metrics as qm
from wavenet_rt.eval.evaluate import reference_audio

pytestmark = pytest.mark.slow
RATE = 16000


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "chorales"
    subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "build", str(out), "--limit", "5", "--valid", "0.2",
                    "--test", "0.2", "--jobs", "2", "--hop", "64"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def melody(dataset, tmp_path_factory):
    manifest = json.loads((dataset / "manifest.json").read_text())
    chorale = dataset / next(r["midi"] for r in manifest["items"].values())
    path = tmp_path_factory.mktemp("melody") / "melody.mid"
    assert qm.write_melody(chorale, path) > 5
    return path


def transposed(path: Path, semitones: int, out: Path) -> Path:
    midi = mido.MidiFile(str(path))
    for track in midi.tracks:
        for i, msg in enumerate(track):
            if msg.type in ("note_on", "note_off"):
                track[i] = msg.copy(note=msg.note + semitones)
    midi.save(str(out))
    return out


def test_metrics_score_the_reference_high_and_wrong_audio_low(melody, tmp_path):
    samples = 10 * RATE
    reference = reference_audio(melody, RATE, samples, tmp_path)
    wrong_key = reference_audio(transposed(melody, 2, tmp_path / "up2.mid"), RATE, samples, tmp_path)
    notes = [n for n in qm.midi_notes(melody) if n.start < 10]
    onsets = qm.onset_times(notes)
    reference_pitch = qm.pitch_accuracy(reference, RATE, notes)
    assert reference_pitch["accuracy"] >= 0.9 and reference_pitch["recall"] >= 0.8
    assert qm.pitch_accuracy(wrong_key, RATE, notes)["accuracy"] <= 0.1  # 200 cents off everywhere
    assert qm.onset_f1(reference, RATE, onsets)["f1"] >= 0.85
    late = np.concatenate([np.zeros(int(0.12 * RATE), np.float32), reference])[:samples]  # beyond the 50 ms window
    assert qm.onset_f1(late, RATE, onsets)["f1"] <= 0.2
    lag = qm.detector_lag(reference, RATE, onsets)
    assert 0 <= lag < 0.04
    assert qm.onset_f1(reference, RATE, onsets, lag)["f1"] >= 0.9
    slightly_late = np.concatenate([np.zeros(int(0.015 * RATE), np.float32), reference])[:samples]
    assert qm.onset_f1(slightly_late, RATE, onsets, lag)["f1"] >= 0.85  # within the 50 ms window
    assert qm.chroma_similarity(reference, reference, RATE) > 0.99
    assert qm.chroma_similarity(wrong_key, reference, RATE) < 0.5
    noise = np.random.default_rng(0).normal(0, 0.1, samples).astype(np.float32)
    assert qm.chroma_similarity(noise, reference, RATE) < 0.3
    silence = np.zeros(samples, np.float32)
    assert qm.pitch_accuracy(silence, RATE, notes)["recall"] == 0.0
    assert qm.chroma_similarity(silence, reference, RATE) == 0.0
    assert qm.dc_stuck_share(reference, RATE) == 0.0
    stuck = reference.copy()
    stuck[RATE : 3 * RATE] = 0.8 + 0.1 * reference[RATE : 3 * RATE]  # 2 s of 10 at a loud offset
    assert qm.dc_stuck_share(stuck, RATE) == pytest.approx(0.2, abs=0.011)
    assert qm.noise_burst_share(reference, RATE) == 0.0
    roar = reference.copy()
    roar[5 * RATE : 8 * RATE] = np.random.default_rng(1).normal(0, 0.3, 3 * RATE)  # 3 s of 10 a loud noise
    assert qm.noise_burst_share(roar, RATE) == pytest.approx(0.3, abs=0.03)
    assert qm.noise_burst_share(0.05 * roar, RATE) == 0.0  # a quiet noise floor is not a burst
    sparse = reference.copy()
    sparse[: samples * 3 // 4] = 0  # heard a quarter of the time: accurate where voiced, poor recall
    sparse_pitch = qm.pitch_accuracy(sparse, RATE, notes)
    assert sparse_pitch["accuracy"] >= 0.8 and sparse_pitch["recall"] <= 0.4


def test_evaluate_command_quick(dataset, tmp_path):
    torch.manual_seed(0)
    config = WaveNetConfig(dilations=[1, 2, 4, 8, 16], residual_channels=8, gate_channels=16, skip_channels=16,
                           cond_channels=176, cond_hop=64, cond_features="roll88_onset88", sample_rate=RATE)
    save_model(WaveNet(config), tmp_path / "m.safetensors")
    save_model(WaveNet(dataclasses.replace(config, cond_channels=0, cond_features="")), tmp_path / "u.safetensors")
    out = tmp_path / "eval"
    result = subprocess.run([sys.executable, "-m", "wavenet_rt.evaluate", str(tmp_path / "m.safetensors"),
                             "--data", str(dataset), "--baseline", str(tmp_path / "u.safetensors"), "--quick",
                             "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    nll = results["nll_bits"]
    assert 0 < nll["model"] < 9 and 0 < nll["unconditional_baseline"] < 9 and "shuffle_cost" in nll
    kinds = {r["kind"] for r in results["pieces"]}
    assert "chorale" in kinds and all((out / f"{r['piece']}.{r['kind']}.png").is_file() for r in results["pieces"])
    assert set(results["summary"]["targets_met"]) == {"melody_pitch_accuracy", "onset_f1", "shuffle_cost_bits",
                                                      "chorale_chroma"}
    assert "first_second_peak_no_keys" in results["warm_up"]
    chorale = next(r for r in results["pieces"] if r["kind"] == "chorale")
    assert chorale["other_timbre_chroma"] > 0.6  # the right notes on an organ: close to the piano reference
    assert 0 <= chorale["dc_stuck_share"] <= 1 and 0 <= chorale["noise_burst_share"] <= 1
    # What a transcriber hears: the reference's notes, not an untrained model's; the probes' figures likewise.
    heard = results["listening"]["summary"]
    assert chorale["reference_notes"]["all"]["f1"] > 0.5 and heard["note_f1"] < 0.3 < heard["reference_note_f1"]
    assert not heard["targets_met"]["note_f1_ratio"]
    assert heard["reference_hnr_mean_db"] > 10 and heard["hnr_shortfall_db"] > 3
    # the reference in the model's mu-law classes: quantisation noise lowers its HNR, by less than 10 dB
    assert heard["reference_hnr_mean_db"] - 10 < heard["reference_coded_hnr_mean_db"] < heard["reference_hnr_mean_db"]
    keyboard = results["listening"]["probes"]["keyboard"]  # --quick strikes C2, C4 and C6 once each
    assert keyboard["reference_notes"]["all"]["played"] == 3 and keyboard["reference_notes"]["all"]["f1"] > 0.6
    assert set(heard["keyboard_octaves"]) == {"2", "4", "6"} <= set(heard["octaves"])
    assert keyboard["notes"]["all"]["f1"] < keyboard["reference_notes"]["all"]["f1"]
    spectrum = heard["spectrum_vs_reference"]  # the soundfont falls away above the piano's partials ...
    assert spectrum[0]["from_hz"] == 0 and spectrum[-1]["to_hz"] == RATE / 2
    assert spectrum[-1]["reference_db"] < max(b["reference_db"] for b in spectrum) - 30
    assert spectrum[-1]["difference_db"] > 10  # ... where an untrained model's noise does not
    probe = results["listening"]["probes"]["velocity"]
    assert probe["reference_span_db"] > 15  # velocity 20 -> 127 on the soundfont at the dataset's gain
    attack = results["listening"]["probes"]["attack"]  # the soundfont's piano reaches -40 dBFS in 2-10 ms
    assert 1 < attack["reference_onset_ms"]["p50"] < 15 and heard["attack_lag_ms"] == attack["lag_ms"]


def test_shipped_default_model_quick(tmp_path):
    """The evaluation's --quick mode on the model that ships (no MODEL argument: the default), on a dataset
    with its 1 ms frames. These few chorales may include its training pieces, so this checks that it follows
    MIDI at all, not its quality."""
    dataset = tmp_path / "chorales16"
    subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "build", str(dataset), "--limit", "5", "--valid", "0.2",
                    "--test", "0.2", "--jobs", "2", "--hop", "16"], check=True, capture_output=True)
    out = tmp_path / "eval"
    result = subprocess.run([sys.executable, "-m", "wavenet_rt.evaluate", "--data", str(dataset), "--quick",
                             "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["nll_bits"]["shuffle_cost"] > 0.1  # conditioning from elsewhere costs it: it uses the MIDI
    chorale = next(r for r in results["pieces"] if r["kind"] == "chorale")
    assert chorale["onset_f1"]["f1"] > 0.5 and chorale["peak"] > 0.1
    assert results["warm_up"]["first_second_peak_no_keys"] < 0.05  # no start-up burst
