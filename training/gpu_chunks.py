# Moves a built dataset to a lent GPU machine, whose calls carry at most 64 MiB each: `split` packs the
# lone lines (chorale parts alone and generated lines, what a voice plays) into xz-compressed chunks here;
# `merge` unpacks one there and adds its items to the dataset the training run reads (a resumed run sees
# the new items). Chunk 1 also holds lone lines of the valid split, for validation.
from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np

from wavenet_rt.dataset.shards import load_manifest, save_manifest  # installed: gpu_train.sh installs it first

VALID_SECONDS = 600  # of lone lines, for 32 validation windows


def is_lone_line(record: dict) -> bool:
    return bool(record.get("part_of") or record.get("line"))


def chunk_plan(manifest: dict, chunks: int, seconds_each: float, seed: int) -> list[list[str]]:
    """Item names per chunk: generated lines and chorale parts alternating, so every chunk (and every
    prefix of the chunks) holds both kinds in equal time."""
    rng = np.random.default_rng(seed)
    items = manifest["items"]
    train = [k for k, r in sorted(items.items()) if r["split"] == "train" and is_lone_line(r)]
    kinds = [[k for k in train if items[k].get("line")], [k for k in train if not items[k].get("line")]]
    for names in kinds:
        rng.shuffle(names)
    plan, valid = [[] for _ in range(chunks)], []
    for k, r in sorted(items.items()):
        if r["split"] == "valid" and is_lone_line(r) and sum(items[v]["seconds"] for v in valid) < VALID_SECONDS:
            valid.append(k)
    plan[0].extend(valid)
    for chunk in plan:
        seconds = [0.0, 0.0]
        while any(kinds) and sum(seconds) < seconds_each:
            kind = 0 if (seconds[0] <= seconds[1] and kinds[0]) or not kinds[1] else 1
            name = kinds[kind].pop()
            chunk.append(name)
            seconds[kind] += items[name]["seconds"]
    return plan


def split(data: Path, out: Path, chunks: int, hours_each: float, seed: int) -> None:
    from wavenet_rt.dataset.relight import stale_onsets  # here, not on the GPU machine: it carries no MIDI

    manifest = load_manifest(data)
    if stale := stale_onsets(manifest, data):
        raise SystemExit(f"error: {stale}")
    out.mkdir(parents=True, exist_ok=True)
    plan = chunk_plan(manifest, chunks, hours_each * 3600, seed)
    jobs = [(data, out / f"chunk{number}.tar.xz", names) for number, names in enumerate(plan, start=1)]
    with multiprocessing.Pool(min(len(jobs), os.cpu_count() or 1)) as pool:  # xz is the slow part
        for path, count, hours in pool.starmap(write_chunk, jobs):
            print(f"{path}: {count} items, {hours:.2f} h, {path.stat().st_size / 2**20:.1f} MiB")


def write_chunk(data: Path, path: Path, names: list[str]) -> tuple[Path, int, float]:
    manifest = load_manifest(data)
    part = dict(manifest, items={k: manifest["items"][k] for k in names})
    with tarfile.open(path, "w:xz", preset=6) as tar:
        add_bytes(tar, "manifest.json", json.dumps(part).encode())
        for name in names:
            shard = manifest["items"][name]["shard"]
            with np.load(data / shard) as arrays:  # stored again uncompressed: xz packs it tighter
                buffer = io.BytesIO()
                np.savez(buffer, **{key: arrays[key] for key in arrays.files})
            add_bytes(tar, shard, buffer.getvalue())
    return path, len(names), sum(part["items"][k]["seconds"] for k in names) / 3600


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def merge(chunk: Path, data: Path) -> None:
    staging = data.with_name(data.name + ".incoming")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(chunk, "r:xz") as tar:
        tar.extractall(staging, filter="data")
    incoming = json.loads((staging / "manifest.json").read_text())
    (data / "shards").mkdir(parents=True, exist_ok=True)
    for shard in (staging / "shards").iterdir():
        shard.replace(data / "shards" / shard.name)
    try:
        manifest = load_manifest(data)
        if manifest.get("onset_frames") != incoming.get("onset_frames"):  # chunks of two datasets lit otherwise
            raise SystemExit(f"error: {chunk} lights onsets {incoming.get('onset_frames')} frames, {data} "
                             f"{manifest.get('onset_frames')}")
        manifest["items"].update(incoming["items"])
    except FileNotFoundError:
        manifest = incoming
    save_manifest(data, manifest)
    shutil.rmtree(staging)
    hours = sum(r["seconds"] for r in manifest["items"].values() if r["split"] == "train") / 3600
    print(f"{data}: {len(manifest['items'])} items, {hours:.2f} h to train on")


def main() -> None:
    p = argparse.ArgumentParser(description="Carry a built dataset to a GPU machine in chunks of at most 64 MiB.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("split", help="pack a dataset's lone lines into chunks")
    s.add_argument("data", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--chunks", type=int, default=3)
    s.add_argument("--hours", type=float, default=1.5, help="hours of training audio per chunk")
    s.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("merge", help="add a chunk's items to a dataset (created if missing)")
    m.add_argument("chunk", type=Path)
    m.add_argument("data", type=Path)
    args = p.parse_args()
    if args.command == "split":
        split(args.data, args.out, args.chunks, args.hours, args.seed)
    else:
        merge(args.chunk, args.data)


if __name__ == "__main__":
    main()
