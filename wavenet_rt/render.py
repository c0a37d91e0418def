# `python -m wavenet_rt.render [in.mid] out.wav`: offline rendering of a MIDI file (or free-running, with no
# MIDI) through the same conditioning code the live synth uses and the compiled engine, as fast as it goes,
# with a progress bar. Ctrl-C keeps what was rendered so far.
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from .conditioning import MAX_VOICES, MidiConditioner, midi_duration, mix_voices, read_midi_events
from .engine import PLAYER_SLEEP_AFTER_S, Engine
from .weights import ModelFileError, default_model_path, read_model_config

BLOCK = 4096  # samples generated per progress update


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m wavenet_rt.render",
        description="Render a MIDI file to a WAV file with a WaveNet model, or let the model free-run.",
        epilog="Examples: render song.mid song.wav --model runs/small/model.safetensors;  "
               "render noise.wav --seconds 5 (free-running)")
    p.add_argument("midi", nargs="?", type=Path, metavar="MIDI", help="input MIDI file (none: free-running)")
    p.add_argument("out", type=Path, metavar="OUT", help="output audio file (.wav, .flac, ...)")
    p.add_argument("--model", type=Path, help="model file (default: the shipped model)")
    p.add_argument("--seconds", type=float, help="length to render (default: the MIDI's length + 1 s, or 5 s)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0; 0 = argmax)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--global-id", type=int, default=0, help="global class (timbre) for models that have them")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "cuda"], help="engine (default auto)")
    p.add_argument("--samplerate", type=int, metavar="HZ",
                   help="sample rate to write, resampled from the model's (default: the model's own, e.g. 16000; "
                        "play --out writes the device's, e.g. 48000)")
    add_voice_options(p)
    return p.parse_args(argv)


def add_voice_options(p: argparse.ArgumentParser) -> None:
    """--voices and --sleep-after: how the keys are shared out to engine streams, and when a stream rests."""
    p.add_argument("--voices", type=int, metavar="N", help=(
        "polyphony: share the keys out to N voices, one engine stream each, mixed (N times the compute; the "
        "oldest note gives way when all play); 0: one stream hears every key. Default: the model's own "
        "(4 for the shipped model, which learned single lines)"))
    p.add_argument("--sleep-after", type=float, default=PLAYER_SLEEP_AFTER_S, metavar="SECONDS", help=(
        "a voice with no key down this long sleeps until its next key: silence instead of the model's idle "
        f"hiss, and no compute on the CPU (default {PLAYER_SLEEP_AFTER_S:g}; 0: never, every sample drawn)"))


def model_voices(model: Path, voices: int | None) -> int:
    """The voices to play `model` with: `voices` when given, else the model file's own default."""
    if voices is None:
        return read_model_config(model).voices
    if not 0 <= voices <= MAX_VOICES:
        raise ValueError(f"--voices must be in [0, {MAX_VOICES}], got {voices}")
    return voices


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
    frames = conditioner.frames(math.ceil(samples / config.cond_hop))
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
                frames = None if cond is None else cond[:, :, start // hop:(start + n - 1) // hop + 1]
                audio = engine.generate(n, frames, glob, args.temperature)  # (streams, n)
                blocks.append(mix_voices(audio) if engine.streams > 1 else audio[0])
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
    print(f"wrote {out} ({len(audio) / rate:.2f} s at {rate} Hz, {how})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
