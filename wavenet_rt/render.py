# `python -m wavenet_rt.render [in.mid] out.wav`: offline rendering of a MIDI file (or free-running, with no
# MIDI) through the same conditioning code the live synth uses and the compiled engine, as fast as it goes,
# with a progress bar. Ctrl-C keeps what was rendered so far.
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .conditioning import MidiConditioner, midi_duration, mix_voices, read_midi_events
from .engine import Engine, block_frames
from .voice_options import add_voice_options, model_voices
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
    add_voice_options(p)
    args = p.parse_args(argv)
    if len(args.paths) > 2:
        p.error("give at most two paths: [MIDI] OUT")
    return args


def conditioning_frames(config, midi: Path | None, samples: int, voices: int = 0) -> np.ndarray | None:
    """(streams, cond_channels, frames) for the whole render: one stream, or one per voice; None for an
    unconditional model."""
    if not config.cond_channels:
        if midi is not None:
            raise ValueError("this model has no MIDI conditioning: it cannot follow a MIDI file (omit it to free-run)")
        if voices:
            raise ValueError("an unconditional model has no keys to share out to voices: use voices 0")
        return None
    conditioner = MidiConditioner(config.cond_features, config.sample_rate, config.cond_hop, voices)
    for seconds, msg in read_midi_events(midi) if midi is not None else []:
        conditioner.push(msg, round(seconds * config.sample_rate))
    frames = conditioner.frames(block_frames(0, samples, config.cond_hop)[1])
    return frames if voices else frames[None]


def render(engine: Engine, cond: np.ndarray | None, samples: int, args: argparse.Namespace) -> np.ndarray:
    """Generates `samples` samples block by block, the engine's streams (voices) mixed as the live synth
    mixes them; on Ctrl-C returns what exists so far."""
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
                first, count = block_frames(start, n, hop)
                frames = None if cond is None else cond[:, :, first:first + count]
                audio = engine.generate(n, frames, glob, args.temperature)  # (streams, n)
                blocks.append(mix_voices(audio) if engine.streams > 1 else audio[0])
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

        model = args.model or default_model_path()
        voices = model_voices(model, args.voices)
        # free-running with no MIDI is the model's own idle sound: nothing to sleep through
        sleep_after = args.sleep_after if midi is not None else 0.0
        engine = Engine(model, backend=args.backend, streams=max(1, voices), sleep_after=sleep_after)
        config = engine.config
        if config.global_classes and not 0 <= args.global_id < config.global_classes:
            raise ValueError(f"--global-id must be in [0, {config.global_classes - 1}] for this model")
        seconds = args.seconds
        if seconds is None:
            seconds = midi_duration(read_midi_events(midi)) + 1.0 if midi is not None else 5.0
        samples = max(1, round(seconds * config.sample_rate))
        cond = conditioning_frames(config, midi, samples, voices)
        audio = render(engine, cond, samples, args)
        soundfile.write(str(out), audio, config.sample_rate, subtype="PCM_16")
    except (ValueError, FileNotFoundError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({len(audio) / config.sample_rate:.2f} s at {config.sample_rate} Hz)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
