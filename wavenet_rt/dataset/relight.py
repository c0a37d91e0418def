# How long a dataset's stored onset channels stay lit, and `python -m wavenet_rt.dataset relight DIR`: its
# conditioning frames recomputed from its items' MIDI by today's conditioner, the audio untouched. Onsets last
# 32 ms since 2026-12-06 (8 frames before, whatever the hop): datasets built before at another hop or rate need it.
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from ..conditioning import frames_from_midi_file, onset_frames
from .shards import load_manifest, read_shard, save_manifest, write_shard

ONSET_FRAMES_BEFORE_RECORDED = 8  # what every dataset built before the manifest recorded it lit


def stored_onset_frames(manifest: dict) -> int:
    return manifest.get("onset_frames", ONSET_FRAMES_BEFORE_RECORDED)


def stale_onsets(manifest: dict, root: Path | str) -> str | None:
    """Why the dataset's stored onsets are not what the conditioner lights now (None if they are)."""
    if not manifest["cond_channels"]:
        return None
    stored, now = stored_onset_frames(manifest), onset_frames(manifest["cond_hop"], manifest["sample_rate"])
    if stored == now:
        return None
    return (f"{root}'s conditioning frames light each onset for {stored} frames, the conditioner (and so every "
            f"player) for {now}: run `python -m wavenet_rt.dataset relight {root}` (recomputes them from the "
            "dataset's MIDI, a few minutes, no rendering)")


def _relight_item(shard: Path, midi: Path, frames: int, features: str, sample_rate: int, hop: int) -> None:
    codes, _ = read_shard(shard)
    write_shard(shard, codes, frames_from_midi_file(midi, frames, features, sample_rate, hop))


def relight(root: Path, jobs: int = 1, progress: bool = True) -> dict:
    """Rewrites every item's frames (each shard atomically: an interrupted run is simply run again), then
    records the onset length in the manifest; returns the manifest."""
    manifest = load_manifest(root)
    if not manifest["cond_channels"]:
        raise ValueError(f"{root} has no conditioning frames to relight")
    records = list(manifest["items"].values())
    if missing := [r["shard"] for r in records if not r.get("midi")]:
        raise ValueError(f"{len(missing)} items of {root} have no MIDI to recompute frames from, e.g. {missing[0]}")
    same = (manifest["cond_features"], manifest["sample_rate"], manifest["cond_hop"])
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = [pool.submit(_relight_item, root / r["shard"], root / r["midi"], r["frames"], *same) for r in records]
        for future in tqdm(done, unit="item", desc="relighting", disable=not progress):
            future.result()
    manifest["onset_frames"] = onset_frames(manifest["cond_hop"], manifest["sample_rate"])
    save_manifest(root, manifest)
    return manifest
