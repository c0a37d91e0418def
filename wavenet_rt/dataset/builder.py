# The dataset build: plans one item per (piece, GM program, transposition), with optionally one more per
# part of it, plus generated voice lines; splits train/valid/test by piece (generated lines apart, so adding
# them never moves a score to another split), processes items in worker processes and records each
# finished item in the manifest at once, so an interrupted build resumes where it stopped (finished items
# are skipped, failed ones retried).
from __future__ import annotations

import math
import tempfile
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mido
import numpy as np
from tqdm import tqdm

from ..conditioning import feature_channels, frames_from_midi_file, onset_frames
from ..mulaw import mulaw_encode
from . import audio as audio_io
from .midi_prep import part_tracks, prepare_midi, redraw_velocities, score_to_midi, write_part
from .relight import stale_onsets
from .shards import FORMAT, VERSION, load_manifest, manifest_path, save_manifest, write_shard
from .sources import DatasetError, Piece, audio_pieces, corpus_pieces, midi_pieces, pair_pieces
from .voice_lines import voice_line, write_notes_midi

# Bumped whenever the same options would give different shards (rendering, alignment, features), so a
# resumed build never mixes items made two ways. The onsets' length is checked on its own (relight.py): a
# dataset can be brought up to date without rendering again.
PIPELINE_VERSION = 4


@dataclass
class BuildOptions:
    """Everything that decides a dataset's content (the output folder and job count aside)."""

    source: str = "corpus"  # corpus | midi | wav | pairs | none (generated lines only)
    location: str = "bach-chorales"  # corpus name or folder
    limit: int = 0  # first N pieces by id; 0 = all
    sample_rate: int = 16000
    classes: int = 256
    cond_hop: int = 64
    features: str = "roll88_onset88"
    programs: list[int] = field(default_factory=lambda: [0])  # GM programs, one global class each if > 1
    transpose: list[int] = field(default_factory=lambda: [0])  # semitones, one copy of each piece per value
    transpose_range: list[int] = field(default_factory=list)  # [lo, hi]: one seeded shift per piece instead
    gain: float = audio_io.DEFAULT_GAIN  # fluidsynth master gain, the same for every render
    dynamics: bool = False  # redraw the velocities of rendered pieces (seeded per piece)
    generated: int = 0  # generated voice lines (dataset/voice_lines.py), each its own piece
    soundfont: str = str(audio_io.DEFAULT_SOUNDFONT)
    reverb: bool = False
    solo_parts: bool = False  # also each part of a multi-part piece alone, as its own item in the piece's split
    valid: float = 0.1
    test: float = 0.1
    seed: int = 0

    @property
    def renders(self) -> bool:
        return self.source in ("corpus", "midi", "none")

    @property
    def conditioned(self) -> bool:
        return self.source != "wav"

    def check(self) -> None:
        if not self.renders and (self.programs != [0] or self.transpose != [0] or self.solo_parts):
            raise DatasetError("--program, --transpose and --solo-parts apply to rendered sources (corpus, --midi) "
                               "only")
        if self.generated and not self.renders:
            raise DatasetError("--generated lines are rendered: use them with the corpus, --midi or --corpus none")
        if self.generated < 0 or not 0 < self.gain <= 10:
            raise DatasetError(f"--generated must be >= 0 and --gain in (0, 10], got {self.generated}, {self.gain}")
        if self.transpose_range and (len(self.transpose_range) != 2 or self.transpose != [0]
                                     or not -48 <= self.transpose_range[0] <= self.transpose_range[1] <= 48):
            raise DatasetError("--transpose-range takes LO,HI semitones (LO <= HI, within 48) and replaces --transpose")
        if self.source == "none" and not self.generated:
            raise DatasetError("--corpus none builds generated lines only: give --generated N")
        if not all(0 <= p <= 127 for p in self.programs) or len(set(self.programs)) != len(self.programs):
            raise DatasetError(f"programs must be distinct GM program numbers 0..127, got {self.programs}")
        if not 0 <= self.valid < 1 or not 0 <= self.test < 1 or self.valid + self.test >= 1:
            raise DatasetError("--valid and --test are fractions of the pieces and must leave some for training")
        feature_channels(self.features)


@dataclass(frozen=True)
class Item:
    id: str
    piece: Piece
    split: str
    program: int
    global_id: int
    transpose: int


def find_pieces(options: BuildOptions) -> list[Piece]:
    finders = {"corpus": corpus_pieces, "midi": lambda p: midi_pieces(Path(p)),
               "wav": lambda p: audio_pieces(Path(p)), "pairs": lambda p: pair_pieces(Path(p)), "none": lambda p: []}
    pieces = finders[options.source](options.location)
    return pieces[: options.limit] if options.limit else pieces


def generated_pieces(count: int) -> list[Piece]:
    return [Piece(id=f"line{seed:05d}", generated=seed) for seed in range(count)]


def piece_seed(piece: Piece, seed: int) -> int:
    """A seed of its own for each piece, stable across runs and independent of the other pieces."""
    return zlib.crc32(f"{seed}:{piece.id}".encode())


def assign_splits(piece_ids: list[str], valid: float, test: float, seed: int) -> dict[str, str]:
    """A seeded shuffle of the pieces; at least one valid piece from 2 pieces on, one test from 3 on."""
    n = len(piece_ids)
    n_valid = max(1, round(n * valid)) if valid > 0 and n >= 2 else 0
    n_test = max(1, round(n * test)) if test > 0 and n >= 3 else 0
    order = np.random.default_rng(seed).permutation(sorted(piece_ids))
    return {str(pid): "valid" if i < n_valid else "test" if i < n_valid + n_test else "train"
            for i, pid in enumerate(order)}


def plan_items(pieces: list[Piece], options: BuildOptions) -> list[Item]:
    lines = generated_pieces(options.generated)
    splits = {**assign_splits([p.id for p in pieces], options.valid, options.test, options.seed),
              **assign_splits([p.id for p in lines], options.valid, options.test, options.seed)}
    items = []
    for piece in pieces + lines:
        for global_id, program in enumerate(options.programs):
            for shift in transpositions(piece, options):
                suffix = (f".p{program}" if len(options.programs) > 1 else "") + (f".t{shift:+d}" if shift else "")
                items.append(Item(piece.id + suffix, piece, splits[piece.id], program, global_id, shift))
    return items


def transpositions(piece: Piece, options: BuildOptions) -> list[int]:
    if piece.generated is not None:
        return [0]  # generated lines already span the keyboard
    if options.transpose_range:
        lo, hi = options.transpose_range
        return [lo + piece_seed(piece, options.seed) % (hi - lo + 1)]
    return options.transpose


def new_manifest(options: BuildOptions) -> dict[str, Any]:
    return {
        "format": FORMAT, "version": VERSION, "pipeline_version": PIPELINE_VERSION, "options": asdict(options),
        "sample_rate": options.sample_rate, "classes": options.classes, "cond_hop": options.cond_hop,
        "cond_features": options.features if options.conditioned else "",
        "cond_channels": feature_channels(options.features) if options.conditioned else 0,
        "global_classes": len(options.programs) if len(options.programs) > 1 else 0,
        "programs": options.programs, "items": {}, "failed": {},
        "delay": audio_io.conditioning_delay(options.cond_hop, options.sample_rate) if options.renders else 0,
        "onset_frames": onset_frames(options.cond_hop, options.sample_rate) if options.conditioned else 0,
    }


def open_manifest(out: Path, options: BuildOptions) -> dict[str, Any]:
    """The manifest to continue from; refuses a folder built with other options."""
    if not manifest_path(out).is_file():
        return new_manifest(options)
    manifest = load_manifest(out)
    if manifest.get("pipeline_version") != PIPELINE_VERSION:
        raise DatasetError(f"{out} was built by another version of the builder "
                           f"({manifest.get('pipeline_version')}, this is {PIPELINE_VERSION}); use a new folder")
    # Options added since a folder was built are taken at their defaults, which is how it was built.
    old, new = {**asdict(BuildOptions()), **manifest["options"]}, asdict(options)
    if old != new:
        diffs = [f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in new if old.get(k) != new[k]]
        raise DatasetError(f"{out} was built with other options ({'; '.join(diffs)}); "
                           "use a new folder or the same options")
    if stale := stale_onsets(manifest, out):  # its new items would light them otherwise than its old ones
        raise DatasetError(stale)
    return manifest


def process_item(item: Item, options: BuildOptions, out: Path) -> dict[str, dict[str, Any]]:
    """Renders or reads one item and writes its shard, and with --solo-parts one more shard per part.
    Returns the manifest records by id. Runs in a worker process."""
    with tempfile.TemporaryDirectory(dir=out / "tmp") as tmp:
        tmp = Path(tmp)
        midi_path, dropped = None, {}
        source_midi = source_midi_file(item.piece, tmp)
        if source_midi is not None:
            midi_path = out / "midi" / f"{item.id}.mid"
            program = item.program if options.renders else None
            dropped = prepare_midi(source_midi, tmp / "prepared.mid", program, item.transpose)
            if options.dynamics and item.piece.generated is None and options.renders:
                redraw_velocities(tmp / "prepared.mid", piece_seed(item.piece, options.seed))
            (tmp / "prepared.mid").replace(midi_path)
        records = {}
        if options.solo_parts and midi_path is not None:
            for track in part_tracks(mido.MidiFile(str(midi_path))):
                part_id = f"{item.id}.part{track}"
                part_midi = out / "midi" / f"{part_id}.mid"
                write_part(midi_path, part_midi, track)
                records[part_id] = {**write_item_shard(part_id, part_midi, item, options, out, tmp),
                                    "part_of": item.id, "dropped": {}}
        records[item.id] = {**write_item_shard(item.id, midi_path, item, options, out, tmp), "dropped": dropped}
        if item.piece.generated is not None:
            records[item.id]["line"] = True  # a single line, like a part alone (for --solo-share)
    return records


def source_midi_file(piece: Piece, tmp: Path) -> Path | None:
    """The piece's MIDI (a score exported, a generated line written), or None for audio-only pieces."""
    if piece.score is not None:
        score_to_midi(piece.score, tmp / "score.mid")
        return tmp / "score.mid"
    if piece.generated is not None:
        write_notes_midi(voice_line(piece.generated), tmp / "score.mid")
        return tmp / "score.mid"
    return piece.midi


def write_item_shard(shard_id: str, midi_path: Path | None, item: Item, options: BuildOptions, out: Path,
                     tmp: Path) -> dict[str, Any]:
    """Renders `midi_path` (or reads the item's audio), encodes it beside its conditioning frames, writes
    the shard; returns its manifest record."""
    if options.renders:
        audio = audio_io.render_midi(midi_path, tmp / "render.wav", Path(options.soundfont),
                                     options.sample_rate, options.reverb, options.gain)
        delay = audio_io.conditioning_delay(options.cond_hop, options.sample_rate)
        audio = audio_io.delay_behind_conditioning(audio, delay)
    else:
        audio = audio_io.load_audio(item.piece.audio, options.sample_rate)
    audio = audio_io.check_level(audio, options.gain if options.renders else None)
    codes = mulaw_encode(audio, options.classes)
    frames = math.ceil(len(codes) / options.cond_hop)
    cond = (frames_from_midi_file(midi_path, frames, options.features, options.sample_rate, options.cond_hop)
            if options.conditioned else None)
    write_shard(out / "shards" / f"{shard_id}.npz", codes, cond)
    return {"piece": item.piece.id, "split": item.split, "shard": f"shards/{shard_id}.npz",
            "midi": None if midi_path is None else str(midi_path.relative_to(out)), "program": item.program,
            "global_id": item.global_id, "transpose": item.transpose, "samples": len(codes),
            "frames": frames, "seconds": len(codes) / options.sample_rate}


def finished_items(done: dict[str, Any], out: Path) -> set[str]:
    """Ids of the items whose record and shards (their own and their parts') are all there."""
    missing = {r.get("part_of", rid) for rid, r in done.items() if not (out / r["shard"]).is_file()}
    return {rid for rid, r in done.items() if "part_of" not in r and rid not in missing}


def build(out: Path, options: BuildOptions, jobs: int = 1, progress: bool = True,
          splits: tuple[str, ...] = ("train", "valid", "test")) -> dict[str, Any]:
    """Builds (or resumes building) the dataset in `out`, only the items of `splits` (the pieces are split
    the same either way, so a later build of the rest completes the same dataset); returns the manifest."""
    options.check()
    if options.renders:
        audio_io.check_renderer(Path(options.soundfont))
    for sub in ("shards", "midi", "tmp"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    manifest = open_manifest(out, options)
    items = plan_items(find_pieces(options), options)
    done = manifest["items"]
    complete = finished_items(done, out)
    todo = [it for it in items if it.id not in complete and it.split in splits]
    # The source folder may have changed since the last run: keep only planned items (and their parts),
    # with today's split.
    kept = {it.id: it.split for it in items if it.id in complete}
    manifest["items"] = {rid: {**r, "split": kept[r.get("part_of", rid)]} for rid, r in done.items()
                         if r.get("part_of", rid) in kept}
    manifest["failed"] = {}
    save_manifest(out, manifest)
    pool = ProcessPoolExecutor(max_workers=max(1, jobs))
    # disable=None: the bar on a terminal only; a log would collect every redraw
    wanted = sum(it.split in splits for it in items)
    bar = tqdm(total=wanted, initial=wanted - len(todo), unit="item", desc="building",
               disable=None if progress else True)
    try:
        running = {pool.submit(process_item, it, options, out): it for it in todo}
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                item = running.pop(future)
                try:
                    manifest["items"].update(future.result())
                except BrokenProcessPool:
                    raise
                except Exception as err:  # one bad piece (unreadable score, odd MIDI) must not stop the rest
                    manifest["failed"][item.id] = f"{type(err).__name__}: {err}"
                save_manifest(out, manifest)
                bar.update(1)
                bar.set_postfix(failed=len(manifest["failed"]),
                                hours=f"{sum(r['seconds'] for r in manifest['items'].values()) / 3600:.2f}")
    finally:  # on Ctrl-C too: drop queued items; finished ones are already in the manifest
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return manifest
