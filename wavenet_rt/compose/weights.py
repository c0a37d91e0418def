# The composer's model file: safetensors holding the PyTorch state dict's tensors (float32), with the
# config and a format tag in the metadata. Read with NumPy only, so composing needs no torch.
from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import ComposerConfig

FORMAT = "wavenet_rt.composer"
VERSION = "1"


class ComposerFileError(ValueError):
    """A missing, corrupt or foreign composer file."""


def default_composer_path() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / "composer.safetensors"


def save_composer(tensors: dict[str, np.ndarray], config: ComposerConfig, path: Path,
                  extra: dict[str, str] | None = None) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "version": VERSION, "config": config.to_json(), **(extra or {})}
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(path), metadata=meta)


def load_composer_file(path: Path | None = None) -> tuple[ComposerConfig, dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open

    path = Path(path) if path is not None else default_composer_path()
    if not path.is_file():
        raise ComposerFileError(f"no composer model at {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises its own types for corrupt headers
        raise ComposerFileError(f"{path} is not a safetensors file: {err}") from err
    if meta.get("format") != FORMAT:
        raise ComposerFileError(f"{path} is not a composer model (format {meta.get('format')!r})")
    if meta.get("version") != VERSION:
        raise ComposerFileError(f"{path} has composer format version {meta.get('version')}, expected {VERSION}")
    for name, t in tensors.items():
        if not np.isfinite(t).all():
            raise ComposerFileError(f"{path}: tensor {name} holds NaN or infinity")
    return ComposerConfig.from_json(meta["config"]), tensors, meta
