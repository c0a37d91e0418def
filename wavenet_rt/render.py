# `python -m wavenet_rt.render [in.mid] out.wav`: offline rendering of a MIDI file (or free-running, with no
# MIDI) through the same conditioning code the live synth uses and the compiled engine, as fast as it goes,
# with a progress bar. Ctrl-C keeps what was rendered so far.
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from .conditioning import MidiConditioner, midi_duration, read_midi_events
from .engine import Engine
from .weights import ModelFileError, default_model_path

BLOCK = 4096  # samples generated per progress update


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m wavenet_rt.render",
        description="Render a MIDI file to a WAV file with a WaveNet model, or let the model free-run.",
        epilog="Examples: render song.mid song.wav --model runs/small/model.safetensors;  "
               "render noise.wav --seconds 5 (free-running)")
    p.add_argument("paths", nargs="+", metavar="[MIDI] OUT", help="input MIDI file (optional) and output WAV")
    p.add_argument("--model", type=Path, help="model file (default: the shipped model)")
    p.add_argument("--seconds", type=float, help="length to render (default: the MIDI's length + 1 s, or 5 s)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0; 0 = argmax)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--global-id", type=int, default=0, help="global class (timbre) for models that have them")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "cuda"], help="engine (default auto)")
    args = p.parse_args(argv)
    if len(args.paths) > 2:
        p.error("give at most two paths: [MIDI] OUT")
    return args


def conditioning_frames(config, midi: Path | None, samples: int) -> np.ndarray | None:
    """(cond_channels, frames) for the whole render, or None for an unconditional model."""
    if not config.cond_channels:
        if midi is not None:
            raise ValueError("this model has no MIDI conditioning: it cannot follow a MIDI file (omit it to free-run)")
        return None
    conditioner = MidiConditioner(config.cond_features, config.sample_rate, config.cond_hop)
    for seconds, msg in read_midi_events(midi) if midi is not None else []:
        conditioner.push(msg, round(seconds * config.sample_rate))
    return conditioner.frames(math.ceil(samples / config.cond_hop))


def render(engine: Engine, cond: np.ndarray | None, samples: int, args: argparse.Namespace) -> np.ndarray:
    """Generates `samples` samples block by block; on Ctrl-C returns what exists so far."""
    from tqdm import tqdm

    hop = engine.config.cond_hop
    glob = args.global_id if engine.config.global_classes else None
    engine.reset(seed=args.seed)
    blocks: list[np.ndarray] = []
    # disable=None: a bar on a terminal only, so captured logs (evaluate, CI) hold results, not redraws
    with tqdm(total=samples, unit="sample", unit_scale=True, desc="rendering", disable=None) as bar:
        try:
            for start in range(0, samples, BLOCK):
                n = min(BLOCK, samples - start)
                frames = None if cond is None else cond[None, :, start // hop:(start + n - 1) // hop + 1]
                blocks.append(engine.generate(n, frames, glob, args.temperature)[0])
                bar.update(n)
        except KeyboardInterrupt:
            print("\ninterrupted: writing what was rendered so far", file=sys.stderr)
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    midi = Path(args.paths[0]) if len(args.paths) == 2 else None
    out = Path(args.paths[-1])
    try:
        import soundfile

        engine = Engine(args.model or default_model_path(), backend=args.backend)
        config = engine.config
        if config.global_classes and not 0 <= args.global_id < config.global_classes:
            raise ValueError(f"--global-id must be in [0, {config.global_classes - 1}] for this model")
        seconds = args.seconds
        if seconds is None:
            seconds = midi_duration(read_midi_events(midi)) + 1.0 if midi is not None else 5.0
        samples = max(1, round(seconds * config.sample_rate))
        cond = conditioning_frames(config, midi, samples)
        audio = render(engine, cond, samples, args)
        soundfile.write(str(out), audio, config.sample_rate, subtype="PCM_16")
    except (ValueError, FileNotFoundError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({len(audio) / config.sample_rate:.2f} s at {config.sample_rate} Hz)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
