# Model files: safetensors holding the WaveNet's tensors in PyTorch layout (float32), with the config JSON
# and a format version in the metadata. Reading needs only NumPy (the engines and the live synth load
# models without torch) and never unpickles; every way a file can be wrong raises ModelFileError.
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from .config import WaveNetConfig

FORMAT_NAME = "wavenet_rt"
FORMAT_VERSION = 1
DEFAULT_MODEL = Path(__file__).parent / "models" / "default.safetensors"
# `render --demo`, `play --demo`: a 24 s four-part piece the shipped composer wrote (models/COMPOSER.md)
DEMO_PIECE = Path(__file__).parent / "models" / "demo.mid"


class ModelFileError(ValueError):
    """A model file that cannot be used: truncated, foreign, inconsistent or newer than this version."""


def default_model_path() -> Path:
    """The shipped model that players use when no --model is given."""
    if not DEFAULT_MODEL.is_file():
        raise FileNotFoundError(f"no default model is installed ({DEFAULT_MODEL} is missing); pass --model FILE, "
                                "e.g. RUN/model.safetensors from `python -m wavenet_rt.train`")
    return DEFAULT_MODEL


def expected_shapes(config: WaveNetConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a model file of this config holds, with its shape (PyTorch layout). The list is the
    engines' own (csrc/core/tensor_list.h), so files are checked against exactly what the engines read."""
    from . import _engine

    return {name: tuple(shape) for name, shape in _engine.tensor_shapes(dataclasses.asdict(config)).items()}


def read_model_file(path: str | Path) -> tuple[WaveNetConfig, dict[str, np.ndarray]]:
    """Config and float32 tensors of a model file, fully checked. Needs no torch."""
    config, tensors = _read(path, with_tensors=True)
    check_tensors(config, tensors, str(path))
    return config, tensors


def read_model_config(path: str | Path) -> WaveNetConfig:
    """The config of a model file from its metadata alone, no tensor read: for choices made before an
    engine loads it (its voices, whether it fits a dataset)."""
    return _read(path, with_tensors=False)[0]


def _read(path: str | Path, with_tensors: bool) -> tuple[WaveNetConfig, dict[str, np.ndarray]]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            _check_metadata(path, metadata)
            config = _parse_config(path, metadata["config"])
            tensors = {name: f.get_tensor(name) for name in f.keys()} if with_tensors else {}
    except ModelFileError:
        raise
    except Exception as err:  # safetensors raises its own error type for a damaged file
        raise ModelFileError(f"{path} is truncated or not a safetensors file ({err})") from err
    return config, tensors


def _check_metadata(path: Path, metadata: dict[str, str]) -> None:
    if metadata.get("format") != FORMAT_NAME or "config" not in metadata:
        raise ModelFileError(f"{path} is a safetensors file but not a wavenet_rt model (no wavenet_rt metadata)")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError as err:
        raise ModelFileError(f"{path} has an unreadable format version") from err
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} has format version {version}, newer than this wavenet_rt reads "
                             f"({FORMAT_VERSION}); upgrade wavenet_rt")


def _parse_config(path: Path, text: str) -> WaveNetConfig:
    try:
        return WaveNetConfig.from_json(text)
    except (ValueError, TypeError) as err:
        raise ModelFileError(f"{path} holds an invalid config: {err}") from err


def check_tensors(config: WaveNetConfig, tensors: dict[str, np.ndarray], source: str) -> None:
    """Raises ModelFileError unless `tensors` are exactly the float32, finite tensors `config` needs."""
    want = expected_shapes(config)
    missing, unexpected = sorted(set(want) - set(tensors)), sorted(set(tensors) - set(want))
    if missing or unexpected:
        raise ModelFileError(f"{source} does not match its config: missing tensors {missing[:5]}, "
                             f"unexpected tensors {unexpected[:5]}")
    for name, shape in want.items():
        tensor = tensors[name]
        if tensor.shape != shape:
            raise ModelFileError(f"{source}: tensor {name} has shape {tensor.shape}, its config needs {shape}")
        if tensor.dtype != np.float32:
            raise ModelFileError(f"{source}: tensor {name} is {tensor.dtype}, model files hold float32")
        if not np.isfinite(tensor).all():
            raise ModelFileError(f"{source}: tensor {name} holds NaN or infinite weights")


def save_model(model, path: str | Path) -> None:
    """Writes a WaveNet as a model file, atomically (a temporary file renamed into place)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().float().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "config": model.config.to_json()}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # safetensors writes 0600; a model file is shared like the rest of its run
    os.replace(tmp, path)


def load_model(path: str | Path):
    """Reads a model file into a WaveNet (float32, eval mode). Never unpickles."""
    import torch

    from .model import WaveNet

    config, tensors = read_model_file(path)
    model = WaveNet(config)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    return model.eval()
