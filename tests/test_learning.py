# Learning checks: small models must learn what their conditioning asks for, in minutes on a CPU.
# Global conditioning: three sine pitches (ibab's classic check). Local (MIDI) conditioning: rendered
# single notes of two pitches, through the real dataset builder and training command.
import json
import math
import subprocess
import sys
import time

import mido
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from support.midi_files import TICKS_PER_SECOND, write_notes

from wavenet_rt import WaveNet, WaveNetConfig, load_model
from wavenet_rt.conditioning import MidiConditioner
from wavenet_rt.incremental import IncrementalGenerator
from wavenet_rt.mulaw import mulaw_encode, silence_code

pytestmark = pytest.mark.slow


def peak_ratio(audio, rate, wanted, others):
    """Spectral energy near `wanted` over the largest energy near any of `others` (±3% bands)."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    band = lambda f: spectrum[(freqs > f * 0.97) & (freqs < f * 1.03)].sum()  # noqa: E731
    return band(wanted) / max(band(f) for f in others)


def test_global_conditioning_selects_the_sine_pitch():
    torch.manual_seed(0)
    rate, pitches = 4000, (220.0, 330.0, 440.0)
    config = WaveNetConfig(dilations=[1, 2, 4, 8, 16, 32, 1, 2, 4, 8, 16, 32], residual_channels=16,
                           gate_channels=32, skip_channels=32, classes=256, global_classes=3, sample_rate=rate)
    model = WaveNet(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    rf, length, batch = config.receptive_field, 600, 16
    silence = silence_code()
    started, started_cpu = time.monotonic(), time.process_time()
    for _ in range(700):
        # Each window: some silence (what generation starts from), then a sine of its class at a random phase.
        ids = rng.integers(0, 3, batch)
        lead = rng.integers(0, rf + length // 2, batch)
        t = np.arange(length + rf)[None, :] - lead[:, None]
        phase = rng.uniform(0, 2 * np.pi, (batch, 1))
        wave = np.where(t >= 0, 0.6 * np.sin(2 * np.pi * np.array(pitches)[ids][:, None] * t / rate + phase), 0.0)
        codes = torch.from_numpy(np.where(t >= 0, mulaw_encode(wave), silence))
        logits = model(codes[:, :-1], global_id=torch.from_numpy(ids))[:, :, rf - 1:]
        loss = F.cross_entropy(logits, codes[:, rf:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # Reported, not asserted: on a loaded 2-core VM neither wall time nor CPU time bounds training (torch's
    # threads spin while they wait for a core: 620 CPU seconds were seen for what takes under 120 s idle).
    print(f"trained in {time.monotonic() - started:.0f} s ({time.process_time() - started_cpu:.0f} s of CPU)")
    generator = IncrementalGenerator(model.eval(), batch=3)
    generator.reset(seed=0)
    audio = generator.generate(rate // 2, global_id=torch.arange(3))
    for k, pitch in enumerate(pitches):
        tail = audio[k, rate // 10:]  # after the first 0.1 s
        assert np.abs(tail).max() > 0.2, f"class {k} stayed silent"
        ratio = peak_ratio(tail, rate, pitch, [p for p in pitches if p != pitch])
        print(f"class {k}: {pitch} Hz at {ratio:.0f}x the other pitches")
        assert ratio >= 10, f"class {k}: energy at {pitch} Hz only {ratio:.1f}x the other pitches'"


def note_frequency(note):
    return 440.0 * 2 ** ((note - 69) / 12)


def single_note_files(folder, count, notes, seed=0):
    """MIDI files of one note each (the pitches alternate), after a short silence."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        velocity = int(rng.integers(70, 111))
        on = int(rng.uniform(200, 600)) / TICKS_PER_SECOND
        off = on + int(rng.uniform(800, 1800)) / TICKS_PER_SECOND
        write_notes(folder / f"note{i:02d}.mid", [(notes[i % len(notes)], on, off, velocity)])


def test_midi_conditioning_selects_the_pitch_free_running(tmp_path):
    """Two pitches (A3, D#4: a tritone, no shared low harmonics) rendered as single notes with GM's square
    lead; a tiny model trained on them must play, free-running, the key that is held, and be silent
    when none is. A model that ignores its conditioning fails (it cannot know which pitch to start)."""
    low, high = 57, 63
    single_note_files(tmp_path / "midi", 40, (low, high))
    data, run = tmp_path / "data", tmp_path / "run"
    subprocess.run([sys.executable, "-m", "wavenet_rt.dataset", "build", str(data), "--midi", str(tmp_path / "midi"),
                    "--program", "80", "--sample-rate", "8000", "--hop", "32"], check=True, capture_output=True)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"dilations": [1, 2, 4, 8, 16, 32, 64] * 2, "residual_channels": 16,
                                  "gate_channels": 32, "skip_channels": 32}))
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "wavenet_rt.train", "--data", str(data), "--config", str(config),
                    "--out", str(run), "--steps", "2000", "--batch", "8", "--window", "400", "--lr", "3e-3",
                    "--warmup", "50", "--valid-every", "500", "--no-progress"], check=True, capture_output=True)
    print(f"trained in {time.monotonic() - started:.0f} s")
    model = load_model(run / "model.safetensors")
    rate, hop, streams = 8000, 32, 8
    conditioner = MidiConditioner("roll88_onset88", rate, hop)
    for note, on, off in ((low, 0.2, 1.0), (high, 1.2, 2.2)):
        conditioner.push(mido.Message("note_on", note=note, velocity=100), round(on * rate))
        conditioner.push(mido.Message("note_off", note=note), round(off * rate))
    samples = round(2.8 * rate)
    cond = torch.from_numpy(conditioner.frames(math.ceil(samples / hop)))[None].expand(streams, -1, -1)
    generator = IncrementalGenerator(model, batch=streams)
    generator.reset(seed=0)
    audio = generator.generate(samples, cond)
    segment = lambda a, b: audio[:, round(a * rate):round(b * rate)]  # noqa: E731
    right = {}
    for name, (a, b), want, other in (("A3", (0.4, 1.0), low, high), ("D#4", (1.4, 2.2), high, low)):
        ratios = [peak_ratio(x, rate, note_frequency(want), [note_frequency(other)]) for x in segment(a, b)]
        right[name] = sum(r >= 10 for r in ratios)
        print(name, "pitch ratios per stream:", [f"{r:.3g}" for r in ratios])
    quiet = np.sqrt((segment(2.5, 2.8) ** 2).mean(axis=1))
    print("rms after the last note:", np.round(quiet, 4))
    assert right["A3"] >= 6 and right["D#4"] >= 6, f"streams playing the held key (of {streams}): {right}"
    assert (quiet < 0.02).sum() >= 6, "the model keeps sounding with no key held"
