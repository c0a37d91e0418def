# `python -m wavenet_rt.evaluate MODEL --data DATASET`: how much a model listens to its MIDI. Test-split
# NLL beside an unconditional baseline and the same model with its conditioning shuffled across time;
# free-running renders of held-out chorales and of their soprano lines, scored against the score and the
# fluidsynth reference (wavenet_rt/quality_metrics.py); the warm-up peak; WAVs, spectrogram PNGs and a
# results JSON in --out.
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from . import quality_metrics as qm
from .dataset.audio import DEFAULT_SOUNDFONT, check_renderer, render_midi
from .dataset.shards import load_manifest
from .engine import Engine
from .render import conditioning_frames, render
from .weights import default_model_path

TARGETS = {"melody_pitch_accuracy": 0.9, "onset_f1": 0.8, "shuffle_cost_bits": 0.5, "chorale_chroma": 0.8}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m wavenet_rt.evaluate", description=(
        "Scores a model against held-out music: test-split bits/sample (beside an unconditional baseline and "
        "with its conditioning shuffled across time), and free-running renders of held-out chorales and "
        "their melodies: pitch accuracy, note-onset F1 and chroma similarity to the fluidsynth reference. "
        "Writes WAVs, spectrogram PNGs and results.json to --out."))
    p.add_argument("model", nargs="?", type=Path, help="model file (default: the shipped model)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder the model was trained on (its test split)")
    p.add_argument("--baseline", type=Path, help="an unconditional model of the same size, for comparison")
    p.add_argument("--out", type=Path, default=Path("evaluation"), help="output folder (default ./evaluation)")
    p.add_argument("--pieces", type=int, default=4, help="held-out chorales to render (each also as a melody)")
    p.add_argument("--seconds", type=float, default=12.0, help="seconds rendered per piece (default 12)")
    p.add_argument("--windows", type=int, default=64, help="test windows for the NLL figures (default 64)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the renders")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="one piece, 3 s, 8 windows: a smoke run")
    args = p.parse_args(argv)
    if args.quick:
        args.pieces, args.seconds, args.windows = 1, 3.0, 8
    return args


# ---- likelihood --------------------------------------------------------------------------------------

def window_bits(model, data: Path, windows: int, targets: int, shuffle_seed: int | None = None,
                use_cond: bool = True) -> float:
    """Mean bits per target sample over fixed test windows; with shuffle_seed each window's conditioning
    frames are permuted in time (same permutation for every channel)."""
    import torch
    import torch.nn.functional as F

    from .data import WindowSampler

    sampler = WindowSampler(data, "test", model.receptive_field, targets, use_cond=use_cond)
    spec = sampler.fixed_windows(windows)
    rng = np.random.default_rng(shuffle_seed)
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(spec), 8):
            batch = sampler.windows(spec[i:i + 8])
            cond = batch.cond
            if cond is not None and shuffle_seed is not None:
                cond = np.stack([c[:, rng.permutation(c.shape[1])] for c in cond])  # (B, C, frames)
            glob = None if batch.global_id is None else torch.from_numpy(batch.global_id)
            logits = model(torch.from_numpy(batch.inputs), None if cond is None else torch.from_numpy(cond), glob)
            total += F.cross_entropy(logits[:, :, -targets:], torch.from_numpy(batch.targets), reduction="sum").item()
            count += batch.targets.size
    return total / count / math.log(2)


def likelihood(args: argparse.Namespace, model_path: Path) -> dict:
    from .weights import load_model

    model = load_model(model_path).eval()
    targets = 2000 if args.quick else 4000
    result = {"model": window_bits(model, args.data, args.windows, targets),
              "shuffled_conditioning": window_bits(model, args.data, args.windows, targets, shuffle_seed=args.seed)}
    result["shuffle_cost"] = result["shuffled_conditioning"] - result["model"]
    if args.baseline:
        baseline = load_model(args.baseline).eval()
        result["unconditional_baseline"] = window_bits(baseline, args.data, args.windows, targets, use_cond=False)
        result["gain_over_baseline"] = result["unconditional_baseline"] - result["model"]
    return result


# ---- renders -----------------------------------------------------------------------------------------

def held_out_pieces(data: Path, count: int) -> list[tuple[str, Path]]:
    """The first `count` test-split pieces (by name) that have a MIDI file."""
    manifest = load_manifest(data)
    items = [(name, data / r["midi"]) for name, r in sorted(manifest["items"].items())
             if r["split"] == "test" and r.get("midi")]
    if not items:
        raise SystemExit(f"{data} has no test pieces with MIDI: evaluate needs a MIDI-conditioned dataset")
    return items[:count]


def render_piece(engine: Engine, midi: Path, samples: int, args: argparse.Namespace) -> np.ndarray:
    cond = conditioning_frames(engine.config, midi, samples)
    return render(engine, cond, samples, SimpleNamespace(seed=args.seed, temperature=args.temperature, global_id=0))


def reference_audio(midi: Path, rate: int, samples: int, work: Path) -> np.ndarray:
    audio = render_midi(midi, work / (midi.stem + ".ref.wav"), DEFAULT_SOUNDFONT, rate, reverb=False)
    audio = audio / max(1e-6, float(np.abs(audio).max())) * 0.9
    return np.pad(audio, (0, max(0, samples - len(audio))))[:samples]


def score_piece(kind: str, audio: np.ndarray, reference: np.ndarray, rate: int, midi: Path) -> dict:
    notes = [n for n in qm.midi_notes(midi) if n.start < len(audio) / rate]
    onsets = qm.onset_times(notes)
    scores = {"onset_f1": qm.onset_f1(audio, rate, onsets), "reference_onset_f1": qm.onset_f1(reference, rate, onsets),
              "chroma_similarity": qm.chroma_similarity(audio, reference, rate),
              "first_second_peak": float(np.abs(audio[:rate]).max()), "peak": float(np.abs(audio).max())}
    if kind == "melody":
        scores["pitch"] = qm.pitch_accuracy(audio, rate, notes)
        scores["reference_pitch"] = qm.pitch_accuracy(reference, rate, notes)
    return scores


def plot_spectrograms(audio: np.ndarray, reference: np.ndarray, rate: int, title: str, path: Path) -> None:
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spectra = [np.abs(librosa.stft(y, n_fft=1024, hop_length=256)) for y in (audio, reference)]
    loudest = max(1e-9, float(spectra[1].max()))  # both on the reference's scale: 0 dB = its loudest bin
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for ax, label, spectrum in zip(axes, ("model", "fluidsynth reference"), spectra):
        db = librosa.amplitude_to_db(spectrum, ref=loudest)
        librosa.display.specshow(db, sr=rate, hop_length=256, x_axis="time", y_axis="log", ax=ax, vmin=-80, vmax=0)
        ax.set_title(f"{title}: {label}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def renders(args: argparse.Namespace, model_path: Path) -> list[dict]:
    import soundfile

    check_renderer(DEFAULT_SOUNDFONT)
    engine = Engine(model_path, backend="cpu")
    rate = engine.config.sample_rate
    samples = int(args.seconds * rate)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, chorale in held_out_pieces(args.data, args.pieces):
            melody = work / f"{name}.melody.mid"
            qm.write_melody(chorale, melody)
            pieces = [("melody", melody), ("chorale", chorale)]
            if not any(n.start < args.seconds for n in qm.midi_notes(melody)):
                pieces = pieces[1:]  # the melody enters after the rendered stretch
            for kind, midi in pieces:
                audio = render_piece(engine, midi, samples, args)
                reference = reference_audio(midi, rate, samples, work)
                stem = f"{name}.{kind}"
                soundfile.write(args.out / f"{stem}.wav", audio, rate)
                plot_spectrograms(audio, reference, rate, stem, args.out / f"{stem}.png")
                rows.append({"piece": name, "kind": kind, "seconds": args.seconds,
                             **score_piece(kind, audio, reference, rate, midi)})
                print(summary_line(rows[-1]), flush=True)
    return rows


def warm_up(model_path: Path, args: argparse.Namespace) -> dict:
    """The first second from reset with no key down: a WaveNet 'crash' shows as a loud burst here."""
    engine = Engine(model_path, backend="cpu")
    audio = render_piece(engine, None, engine.config.sample_rate, args)
    return {"first_second_peak_no_keys": float(np.abs(audio).max()),
            "first_second_rms_no_keys": float(np.sqrt(np.mean(audio ** 2)))}


def summary_line(row: dict) -> str:
    pitch = ""
    if "pitch" in row:
        pitch = f" pitch {row['pitch']['accuracy']:.2f} (ref {row['reference_pitch']['accuracy']:.2f})"
    return (f"{row['piece']:>16} {row['kind']:7}{pitch} onset F1 {row['onset_f1']['f1']:.2f} "
            f"(ref {row['reference_onset_f1']['f1']:.2f}) chroma {row['chroma_similarity']:.2f} "
            f"first-second peak {row['first_second_peak']:.2f}")


def summarise(rows: list[dict], nll: dict) -> dict:
    def mean(values):
        return float(np.mean(values)) if values else None

    melodies = [r for r in rows if r["kind"] == "melody"]
    chorales = [r for r in rows if r["kind"] == "chorale"]
    summary = {"melody_pitch_accuracy": mean([r["pitch"]["accuracy"] for r in melodies]),
               "melody_reference_pitch_accuracy": mean([r["reference_pitch"]["accuracy"] for r in melodies]),
               "onset_f1": mean([r["onset_f1"]["f1"] for r in rows]),
               "reference_onset_f1": mean([r["reference_onset_f1"]["f1"] for r in rows]),
               "chorale_chroma": mean([r["chroma_similarity"] for r in chorales]),
               "shuffle_cost_bits": nll["shuffle_cost"]}
    summary["targets_met"] = {k: summary[k] is not None and summary[k] >= v for k, v in TARGETS.items()}
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model_path = args.model or default_model_path()
    manifest = load_manifest(args.data)
    engine_config = Engine(model_path, backend="cpu").config
    if manifest["sample_rate"] != engine_config.sample_rate:
        print(f"error: the model runs at {engine_config.sample_rate} Hz, the dataset at {manifest['sample_rate']} Hz",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    nll = likelihood(args, model_path)
    print(f"test bits/sample: model {nll['model']:.3f}, conditioning shuffled {nll['shuffled_conditioning']:.3f} "
          f"(cost {nll['shuffle_cost']:.3f})" + (f", unconditional baseline {nll['unconditional_baseline']:.3f}"
                                                 if "unconditional_baseline" in nll else ""), flush=True)
    rows = renders(args, model_path)
    results = {"model": str(model_path), "data": str(args.data), "config": dataclasses.asdict(engine_config),
               "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "options": {
                   "pieces": args.pieces, "seconds": args.seconds, "windows": args.windows,
                   "temperature": args.temperature, "seed": args.seed, "quick": args.quick},
               "nll_bits": nll, "warm_up": warm_up(model_path, args), "pieces": rows,
               "summary": summarise(rows, nll), "targets": TARGETS, "elapsed_s": time.time() - started}
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(json.dumps(results["summary"], indent=1))
    print(f"wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
