# `python -m wavenet_rt.eval.velocity_fit MODEL --data DATASET --out MODEL_OUT`: measures how loud the model
# plays each velocity against the soundfont it learned from, on keys and seeds that `evaluate`'s velocity
# probe never uses, and writes a copy of the model whose velocity curve (csrc/midi/velocity_curve.h) trims
# each voice to the soundfont's steps. The weights are untouched.
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..conditioning import MAX_VELOCITY_TRIM_DB, VELOCITY_CURVE_POINTS
from ..dataset.audio import manifest_delay
from ..dataset.shards import load_manifest, model_mismatch
from ..dataset.voice_lines import write_notes_midi
from ..voice_options import PLAYER_SLEEP_AFTER_S, add_precision_option, add_temperature_option
from ..weights import load_model, save_model
from . import listening
from .evaluate import reference_audio, render_engine, render_piece

FIT_KEYS = (43, 55, 67, 79)  # G2-G5: the probe's range (48, 60, 72) and a little beyond, none of its keys
FIT_SEEDS = tuple(range(100, 108))  # draws no evaluation seed (0, 1, 2 ...) repeats


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m wavenet_rt.eval.velocity_fit", description=(
        "Fits a model's velocity curve: each key of --keys struck at the velocities "
        f"{', '.join(map(str, VELOCITY_CURVE_POINTS))}, rendered by the model once per seed (its curve "
        "left out) and by the soundfont its dataset was rendered with; the trim at each velocity is the "
        "model's mean level there below or above the soundfont's, after one overall gain (the model's level "
        "stays its own). Writes the model with that curve to --out."))
    p.add_argument("model", type=Path, help="model file that plays voices (config voices > 0)")
    p.add_argument("--data", type=Path, required=True, help="the dataset it was trained on (its soundfont, gain)")
    p.add_argument("--out", type=Path, required=True, help="where to write the model with its curve")
    p.add_argument("--keys", type=int, nargs="+", default=list(FIT_KEYS),
                   help=f"MIDI keys struck (default {' '.join(map(str, FIT_KEYS))}; keep them off evaluate's "
                        f"{' '.join(map(str, listening.VELOCITY_KEYS))})")
    p.add_argument("--seeds", type=int, nargs="+", default=list(FIT_SEEDS),
                   help="sampling seeds, one render each (default 100-107)")
    add_temperature_option(p, "sampling temperature of the renders")
    add_precision_option(p)
    args = p.parse_args(argv)
    if any(not 21 <= k <= 108 for k in args.keys):
        p.error("--keys must be piano keys, 21-108")
    return args


def fitted_curve(model_db: list[dict[int, float]], reference_db: dict[int, float]) -> list[float]:
    """The trim per VELOCITY_CURVE_POINTS that brings the model's mean level over its renders to the
    reference's, less the mean difference from velocity 20 up (listening.velocity_deviation_db's one gain),
    within the largest trim a curve may name."""
    mean = {v: float(np.mean([render[v] for render in model_db])) for v in VELOCITY_CURVE_POINTS}
    difference = {v: mean[v] - reference_db[v] for v in VELOCITY_CURVE_POINTS}
    offset = float(np.mean([d for v, d in difference.items() if v >= 20]))
    return [float(np.clip(offset - difference[v], -MAX_VELOCITY_TRIM_DB, MAX_VELOCITY_TRIM_DB))
            for v in VELOCITY_CURVE_POINTS]


def measure(args: argparse.Namespace, flat_model: Path, voices: int) -> tuple[list[dict[int, float]], dict[int, float]]:
    """The untrimmed model's level per velocity (one dict per seed) and the reference's."""
    from tqdm import tqdm

    manifest = load_manifest(args.data)
    notes = listening.velocity_probe(tuple(args.keys))
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / "velocities.mid"
        write_notes_midi(notes, midi, program=manifest["programs"][0])
        render_args = argparse.Namespace(**vars(args), voices=voices, sleep_after=PLAYER_SLEEP_AFTER_S, seed=0)
        engine = render_engine(flat_model, render_args)
        rate = engine.config.sample_rate
        delay = manifest_delay(manifest) / rate
        samples = int(listening.probe_seconds(notes) * rate)
        soundfont = reference_audio(midi, rate, samples, Path(tmp), manifest)
        reference = listening.velocity_curve(soundfont, rate, notes, delay)
        model = []
        for seed in tqdm(args.seeds, desc="renders", unit="seed", disable=None):
            render_args.seed = seed
            model.append(listening.velocity_curve(render_piece(engine, midi, samples, render_args), rate, notes, delay))
    return model, reference


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model = load_model(args.model)
    if not model.config.voices:
        print("error: the model plays no voices (config voices 0): a velocity curve trims voices", file=sys.stderr)
        return 2
    problem = model_mismatch(model.config, load_manifest(args.data))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    model.config.velocity_curve_db = []
    with tempfile.TemporaryDirectory() as tmp:
        flat = Path(tmp) / "flat.safetensors"
        save_model(model, flat)
        levels, reference = measure(args, flat, model.config.voices)
    curve = fitted_curve(levels, reference)
    print("velocity  model dBFS (mean, sd over seeds)  soundfont dBFS  trim dB")
    for v, trim in zip(VELOCITY_CURVE_POINTS, curve):
        db = [render[v] for render in levels]
        print(f"{v:8d}  {np.mean(db):9.1f} {np.std(db):5.1f}{'':21}{reference[v]:9.1f}  {trim:+7.2f}")
    model.config.velocity_curve_db = [round(trim, 2) for trim in curve]
    save_model(model, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
