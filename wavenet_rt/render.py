# `python -m wavenet_rt.render [in.mid] out.wav`: offline rendering of a MIDI file (or free-running, with no
# MIDI) through the live synth's own path (the performer: conditioner, voices, engine, mix), as fast as it
# goes, with a progress bar. Ctrl-C keeps what was rendered so far.
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import _engine
from .conditioning import midi_duration, read_midi_events
from .engine import Engine
from .voice_options import (
    add_precision_option,
    add_temperature_option,
    add_voice_options,
    model_mix,
    model_voices,
    player_scales,
    player_temperature,
)
from .weights import DEMO_PIECE, ModelFileError, default_model_path

BLOCK = 4096  # samples generated per progress update


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m wavenet_rt.render",
        description="Render a MIDI file to a WAV file with a WaveNet model, or let the model free-run.",
        epilog="Examples: render song.mid song.wav --model runs/small/model.safetensors;  "
               "render noise.wav --seconds 5 (free-running); render --demo take.wav")
    p.add_argument("midi", nargs="?", type=Path, metavar="MIDI", help="input MIDI file (none: free-running)")
    p.add_argument("out", type=Path, metavar="OUT", help="output audio file (.wav, .flac, ...)")
    p.add_argument("--model", type=Path, help="model file (default: the shipped model)")
    p.add_argument("--seconds", type=float, help="length to render (default: the MIDI's length + 1 s, or 5 s)")
    add_temperature_option(p, "sampling temperature")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--global-id", type=int, default=0, help="global class (timbre) for models that have them")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "cuda"], help="engine (default auto)")
    p.add_argument("--samplerate", type=int, metavar="HZ",
                   help="sample rate to write, resampled from the model's (default: the model's own, e.g. 16000; "
                        "play --out writes the device's, e.g. 48000)")
    p.add_argument("--demo", action="store_true",
                   help="render the demo piece that ships with the package (24 s, four parts, written by the "
                        "shipped composer) instead of a MIDI file")
    add_voice_options(p)
    add_precision_option(p)
    args = p.parse_args(argv)
    if args.demo:
        if args.midi is not None:
            p.error("--demo is the MIDI input: give only OUT")
        args.midi = DEMO_PIECE
    return args


def render(engine: Engine, midi: Path | None, samples: int, voices: int, args: argparse.Namespace) -> np.ndarray:
    """Plays a MIDI file (or nothing: free-running) for `samples` samples through the live synth's own
    path (csrc/live/performer.h: conditioner, voices, engine streams, mix; mod wheel and program change
    included), block by block; on Ctrl-C returns what exists so far. Resets the engine with args.seed."""
    from tqdm import tqdm

    config = engine.config
    if not config.cond_channels:
        if midi is not None:
            raise ValueError("this model has no MIDI conditioning: it cannot follow a MIDI file (omit it to free-run)")
        if voices:
            raise ValueError("an unconditional model has no keys to share out to voices: use voices 0")
    glob = args.global_id if config.global_classes else 0
    temperature = player_temperature(config, args.temperature)
    performer = _engine.Performer(engine._engine, config.cond_features, voices, BLOCK, temperature, glob,
                                  **model_mix(config), **player_scales(config, args))
    performer.reset(args.seed)
    for seconds, msg in read_midi_events(midi) if midi is not None else []:
        performer.push(round(seconds * config.sample_rate), bytes(msg.bytes()))
    blocks: list[np.ndarray] = []
    # disable=None: a bar on a terminal only, so captured logs (evaluate, CI) hold results, not redraws
    with tqdm(total=samples, unit="sample", unit_scale=True, desc="rendering", disable=None) as bar:
        try:
            for start in range(0, samples, BLOCK):
                n = min(BLOCK, samples - start)
                blocks.append(performer.generate(n))
                bar.update(n)
        except KeyboardInterrupt:
            print("\ninterrupted: writing what was rendered so far", file=sys.stderr)
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    midi, out = args.midi, args.out
    try:
        import soundfile

        from .audio_file import SUBTYPE, check_output_path

        check_output_path(out)
        if args.samplerate is not None and args.samplerate <= 0:
            raise ValueError(f"--samplerate must be a positive number of Hz, got {args.samplerate}")
        model = args.model or default_model_path()
        voices = model_voices(model, args.voices)
        # free-running with no MIDI is the model's own idle sound: nothing to sleep through
        sleep_after = args.sleep_after if midi is not None else 0.0
        engine = Engine(model, backend=args.backend, streams=max(1, voices), sleep_after=sleep_after,
                        precision=args.precision)
        config = engine.config
        if config.global_classes and not 0 <= args.global_id < config.global_classes:
            raise ValueError(f"--global-id must be in [0, {config.global_classes - 1}] for this model")
        seconds = args.seconds
        if seconds is None:
            seconds = midi_duration(read_midi_events(midi)) + 1.0 if midi is not None else 5.0
        samples = max(1, round(seconds * config.sample_rate))
        audio = render(engine, midi, samples, voices, args)
        rate = args.samplerate or config.sample_rate
        if rate != config.sample_rate:
            import soxr

            audio = soxr.resample(audio, config.sample_rate, rate)
        soundfile.write(str(out), audio, rate, subtype=SUBTYPE)
    except (ValueError, FileNotFoundError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    how = (f"resampled from the model's {config.sample_rate} Hz" if rate != config.sample_rate
           else "the model's rate; --samplerate HZ resamples")
    print(f"wrote {out} ({len(audio) / rate:.2f} s at {rate} Hz, {how}; played by {engine.details})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
