# Command line of the dataset builder: `python -m wavenet_rt.dataset build OUT [source] [options]`,
# `python -m wavenet_rt.dataset info DIR` and `relight DIR`. The work itself is in builder.py and relight.py.
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from ..conditioning import FEATURE_SETS
from .audio import DEFAULT_GAIN, DEFAULT_SOUNDFONT
from .builder import BuildOptions, build
from .relight import relight, stored_onset_frames
from .shards import load_manifest
from .sources import DatasetError


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from err


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wavenet_rt.dataset",
                                     description="Build and inspect wavenet_rt training datasets.")
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser(
        "build", help="render scores or MIDI (or read audio) into a training dataset",
        description="Scores or MIDI files are rendered with fluidsynth and a General MIDI soundfont, "
        "mu-law encoded and stored beside conditioning frames computed from the same MIDI; pieces are split "
        "into train/valid/test. Running the same command again resumes an interrupted build.")
    b.add_argument("out", type=Path, help="output folder (created; a second run resumes it)")
    src = b.add_mutually_exclusive_group()
    src.add_argument("--corpus", default="bach-chorales",
                     help="music21 corpus to render (default: bach-chorales; none: only --generated lines)")
    src.add_argument("--midi", type=Path, metavar="DIR", help="render every MIDI file under DIR instead")
    src.add_argument("--wav", type=Path, metavar="DIR", help="audio files under DIR, unconditional")
    src.add_argument("--pairs", type=Path, metavar="DIR", help="audio files with a same-named .mid beside each")
    b.add_argument("--limit", type=int, default=0, help="use only the first N pieces (by name)")
    b.add_argument("--sample-rate", type=int, default=16000, help="audio sample rate in Hz (default 16000)")
    b.add_argument("--hop", type=int, default=16, help=(
        "samples per conditioning frame (default 16: 1 ms at 16 kHz, the shipped piano's grid; a coarser one "
        "adds up to a frame of latency to every key)"))
    b.add_argument("--classes", type=int, default=256, help="mu-law classes (default 256)")
    b.add_argument("--features", default="roll88_onset88", choices=sorted(FEATURE_SETS),
                   help="conditioning feature set (default roll88_onset88)")
    b.add_argument("--program", type=_ints, default=[0], metavar="P[,P...]",
                   help="GM program(s) to render with, 0-based (default 0, piano); several become global classes")
    b.add_argument("--transpose", type=_ints, default=[0], metavar="K[,K...]",
                   help="transpositions in semitones, one copy of each piece per value (e.g. --transpose=-2,0,2)")
    b.add_argument("--transpose-range", type=_ints, default=[], metavar="LO,HI",
                   help="instead of --transpose: each piece once, shifted by a seeded draw from LO..HI semitones "
                        "(e.g. --transpose-range=-12,12 spreads the pieces over the keyboard without copies)")
    b.add_argument("--generated", type=int, default=0, metavar="N",
                   help="add N generated single lines (~40 s each: scales, arpeggios, repeated, isolated and "
                        "pedalled notes over all 88 keys at velocities 1-127), split like pieces (default 0)")
    b.add_argument("--dynamics", action="store_true",
                   help="redraw the velocities of rendered pieces (the chorales play at one velocity) so the "
                        "model hears every dynamic; seeded per piece")
    b.add_argument("--gain", type=float, default=DEFAULT_GAIN,
                   help=f"fluidsynth gain for every render (default {DEFAULT_GAIN:g}: a key struck at velocity 127 "
                        "peaks near -10 dBFS); one gain for the whole dataset keeps loudness, no per-piece "
                        "normalisation")
    b.add_argument("--soundfont", type=Path, default=DEFAULT_SOUNDFONT,
                   help=f"General MIDI soundfont (default {DEFAULT_SOUNDFONT})")
    b.add_argument("--reverb", action="store_true", help="render with fluidsynth's reverb and chorus (off by default)")
    b.add_argument("--solo-parts", action="store_true",
                   help="also render each part of a multi-part piece (one voice per MIDI track) alone, as its own "
                        "item in the piece's split: lone lines teach the model single notes")
    b.add_argument("--valid", type=float, default=0.1, help="fraction of pieces for validation (default 0.1)")
    b.add_argument("--test", type=float, default=0.1, help="fraction of pieces for testing (default 0.1)")
    b.add_argument("--seed", type=int, default=0, help="seed of the piece split (default 0)")
    b.add_argument("--only", choices=["train", "valid", "test"], action="append", metavar="SPLIT",
                   help="build only this split's items (repeatable; e.g. --only test for an evaluation on a "
                        "new machine); pieces are split as in a full build, which later completes the dataset")
    b.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    i = commands.add_parser("info", help="summarise a built dataset")
    i.add_argument("dir", type=Path)
    r = commands.add_parser(
        "relight", help="recompute a dataset's conditioning frames from its MIDI (after the onset rule changed)",
        description="Rewrites every item's conditioning frames from the item's MIDI with today's conditioner, "
        "the audio untouched: what a dataset built before 2026-12-06 needs where 8 frames are not 32 ms (a hop "
        "of 16 at 16 kHz, say: its onsets were lit 8 frames, now 32 ms). An interrupted run is simply run again.")
    r.add_argument("dir", type=Path)
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    return parser.parse_args(argv)


def options_from_args(args: argparse.Namespace) -> BuildOptions:
    source, location = ("none", "") if args.corpus == "none" else ("corpus", args.corpus)
    for name in ("midi", "wav", "pairs"):
        if getattr(args, name) is not None:
            source, location = name, str(getattr(args, name).resolve())
    return BuildOptions(source=source, location=location, limit=args.limit, sample_rate=args.sample_rate,
                        classes=args.classes, cond_hop=args.hop, features=args.features, programs=args.program,
                        transpose=args.transpose, transpose_range=args.transpose_range, gain=args.gain,
                        dynamics=args.dynamics, generated=args.generated, soundfont=str(args.soundfont),
                        reverb=args.reverb, solo_parts=args.solo_parts, valid=args.valid, test=args.test,
                        seed=args.seed)


def summary(manifest: dict) -> str:
    hours, pieces = Counter(), {}
    for record in manifest["items"].values():
        hours[record["split"]] += record["seconds"] / 3600
        pieces.setdefault(record["split"], set()).add(record["piece"])
    splits = ", ".join(f"{s}: {len(pieces.get(s, ()))} pieces {hours[s]:.2f} h" for s in ("train", "valid", "test"))
    cond = f"{manifest['cond_features']} ({manifest['cond_channels']} ch)" if manifest["cond_channels"] else "none"
    onsets = f", onsets lit {stored_onset_frames(manifest)} frames" if manifest["cond_channels"] else ""
    return (f"{len(manifest['items'])} items at {manifest['sample_rate']} Hz, conditioning {cond}, "
            f"hop {manifest['cond_hop']}{onsets}; {splits}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "info":
            print(summary(load_manifest(args.dir)))
            return 0
        if args.command == "relight":
            print(summary(relight(args.dir, jobs=args.jobs)))
            return 0
        splits = tuple(args.only) if args.only else ("train", "valid", "test")
        manifest = build(args.out, options_from_args(args), jobs=args.jobs, splits=splits)
    except (DatasetError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished items are saved in {args.out}. Run the same command to resume.",
              file=sys.stderr)
        return 130
    print(summary(manifest))
    for item, reason in sorted(manifest["failed"].items()):
        print(f"failed: {item}: {reason}", file=sys.stderr)
    return 1 if manifest["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
