# `python -m wavenet_rt.compose OUT.mid|OUT.wav`: a new four-part piece from the shipped composer, written
# as MIDI, or as audio played by the WaveNet through render's own path (its main, so options and
# behaviour stay the same as `python -m wavenet_rt.render`).
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .keyfinder import key_name, parse_key
from .midi_out import write_midi
from .sampler import Composer, load_net, steps_for
from .tokens import STEPS_PER_BAR
from .weights import ComposerFileError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m wavenet_rt.compose",
        description="Compose a new four-part chorale-style piece and write it as MIDI, or render it to WAV "
                    "with the WaveNet.",
        epilog="Examples: compose piece.mid --seconds 120 --key Dm;  compose piece.wav --bars 8 --seed 3")
    p.add_argument("out", type=Path, help="output file: .mid (the notes) or .wav (the notes played by the WaveNet)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, help="length in seconds, rounded to whole bars (default 30)")
    length.add_argument("--bars", type=float, help="length in bars of 4/4")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--key", default="C", help="key: C, F#, Bb, Dm, 'A minor'... (default C)")
    p.add_argument("--tempo", type=float, default=80.0, help="quarter notes per minute (default 80)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0; 0 = argmax)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (default 0.95; 1 = off)")
    p.add_argument("--no-rules", action="store_true",
                   help="let the model break the voice-leading rules (parallel fifths/octaves, ranges, crossings)")
    p.add_argument("--composer", type=Path, help="composer model file (default: the shipped one)")
    p.add_argument("--model", type=Path, help="WaveNet model for .wav (default: the shipped model)")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "cuda"], help="engine for .wav")
    args = p.parse_args(argv)
    if args.out.suffix.lower() not in (".mid", ".midi", ".wav"):
        p.error("the output must end in .mid, .midi or .wav")
    if args.seconds is None and args.bars is None:
        args.seconds = 30.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        key = parse_key(args.key)
        steps = steps_for(args.bars, args.seconds, args.tempo)
        composer = Composer(load_net(args.composer), key, args.seed, args.temperature, args.top_p,
                            rules=not args.no_rules)
        grid = composer.compose(steps, progress=True)
    except (ValueError, ComposerFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    bars = steps // STEPS_PER_BAR
    print(f"composed {bars} bars in {key_name(key)} at {args.tempo:g} bpm (seed {args.seed})", file=sys.stderr)
    if args.out.suffix.lower() != ".wav":
        write_midi(grid, args.out, args.tempo)
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    from .. import render

    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / "composed.mid"
        write_midi(grid, midi, args.tempo)
        extra = (["--model", str(args.model)] if args.model else []) + ["--backend", args.backend]
        return render.main([str(midi), str(args.out), "--seed", str(args.seed), *extra])


if __name__ == "__main__":
    sys.exit(main())
