# On-disk format of a built dataset: manifest.json (options, audio format, one record per item) and one
# shard per item (shards/<item>.npz: mu-law codes, and conditioning frames stored as changes (frames.py)
# when the dataset has them; version 1 stored them whole, (C, F) float16, and still reads). Every write
# is atomic (temporary file + rename), so an interrupted build never leaves a half-written file behind.
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .frames import SparseFrames

MANIFEST = "manifest.json"
FORMAT = "wavenet_rt-dataset"
VERSION = 2


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_shard(path: Path, codes: np.ndarray, cond: np.ndarray | None) -> None:
    """Codes and conditioning frames (C, F) (values are velocities/127, 0/1 flags, bends: float16 keeps them)."""
    arrays = {"codes": codes.astype(np.uint8 if codes.max(initial=0) < 256 else np.uint16)}
    if cond is not None:
        arrays.update(SparseFrames.from_dense(cond).arrays())
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_shard(path: Path) -> tuple[np.ndarray, SparseFrames | None]:
    """(codes (T,), conditioning frames or None)."""
    with np.load(path) as shard:
        if "cond_frames" in shard:
            return shard["codes"], SparseFrames.from_arrays(shard)
        return shard["codes"], (SparseFrames.from_dense(shard["cond"]) if "cond" in shard else None)


def manifest_path(root: Path) -> Path:
    return Path(root) / MANIFEST


def load_manifest(root: str | Path) -> dict[str, Any]:
    path = manifest_path(Path(root))
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {root} a dataset built by `python -m wavenet_rt.dataset build`?")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("version", 0) > VERSION:
        raise ValueError(f"{path} is not a wavenet_rt dataset manifest this version reads")
    return manifest


def save_manifest(root: Path, manifest: dict[str, Any]) -> None:
    atomic_write_bytes(manifest_path(root), json.dumps(manifest, indent=1, sort_keys=True).encode())


def model_mismatch(config, manifest: dict[str, Any]) -> str | None:
    """Why a model (its WaveNetConfig) cannot read this dataset's audio and frames, or None: its rate, classes,
    and (if it is conditioned) frame grid and features must be the dataset's (or add clocks to them)."""
    from ..conditioning import readable_from

    pairs = [("sample rate", config.sample_rate, manifest["sample_rate"]), ("classes", config.classes,
             manifest["classes"]), ("global classes", config.global_classes, manifest["global_classes"])]
    if config.cond_channels:
        pairs += [("cond_hop", config.cond_hop, manifest["cond_hop"])]
        if not readable_from(config.cond_features, manifest["cond_features"]):
            pairs += [("features", config.cond_features, manifest["cond_features"])]
    for what, model_value, data_value in pairs:
        if model_value != data_value:
            return f"the model's {what} is {model_value}, the dataset's {data_value}"
    return None
