# Engine: the Python face of the compiled engines (csrc/core/engine.h). Picks the backend, checks every input
# with a clear ValueError before it reaches C++, and keeps the per-block frame arithmetic in one place.
# Needs no torch unless it is handed a torch model.
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from . import _engine
from .block import block_frames
from .config import WaveNetConfig
from .weights import check_tensors, read_model_file


class EngineError(ValueError):
    """An engine that cannot be built or a call it cannot take."""


def _weights_of(model) -> tuple[WaveNetConfig, dict[str, np.ndarray]]:
    if isinstance(model, (str, Path)):
        return read_model_file(model)
    if hasattr(model, "state_dict") and hasattr(model, "config"):  # a wavenet_rt.WaveNet
        tensors = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
        check_tensors(model.config, tensors, "the model")
        return model.config, tensors
    raise EngineError(f"Engine needs a WaveNet or a model file path, got {type(model).__name__}")


def cuda_available() -> bool:
    return bool(_engine.built_with_cuda) and _engine.cuda_device_count() > 0


class Engine:
    """Generates `streams` independent streams sample by sample from one model.

    Engine(model_or_path, backend="auto"|"cpu"|"cuda", streams=1). "auto" takes the CUDA engine when this
    build has one and a GPU is present, else the CPU engine; `.backend` says which runs and `.details`
    why. precision="fp16" stores the weights in half precision (float32 arithmetic): faster where weights
    outgrow the cache, logits within about 1e-3 of the model's; "bf16" likewise, CUDA engine only; "int8"
    (CPU engine only) stores each matrix as int8 with one scale per output and sums exactly in integers
    over 16-bit-quantized inputs: a quarter of fp32's bytes, logits within about 1e-2 of the model's.
    threads: CPU worker threads (0: one per stream, up to the cores); simd: "auto", "avx512", "avx2" or
    "portable". sleep_after: seconds without a key (or none since reset) after which a stream sleeps
    until its next key: it plays the silence code instead of drawing (no idle hiss) and, on the CPU, costs
    nothing once its state has settled; 0 (the default) never sleeps: every sample is drawn."""

    def __init__(self, model, backend: str = "auto", streams: int = 1, threads: int = 0, simd: str = "auto",
                 precision: str = "fp32", sleep_after: float = 0.0) -> None:
        if backend not in ("auto", "cpu", "cuda"):
            raise EngineError(f"backend must be 'auto', 'cpu' or 'cuda', got {backend!r}")
        if not isinstance(streams, int) or streams < 1:
            raise EngineError(f"streams must be a positive int, got {streams!r}")
        if not (isinstance(sleep_after, (int, float)) and 0 <= sleep_after < 1e6):
            raise EngineError(f"sleep_after must be a number of seconds in [0, 1e6), got {sleep_after!r}")
        self.config, tensors = _weights_of(model)
        sleep_after_frames = math.ceil(sleep_after * self.config.sample_rate / self.config.cond_hop)
        self.auto_note = ""  # why "auto" chose the CPU, when it did
        if backend == "cuda":
            if not _engine.built_with_cuda:
                raise EngineError("backend='cuda': this build has no CUDA code (nvcc was not found when it was built)")
            if not cuda_available():
                raise EngineError("backend='cuda': no CUDA device was found")
        elif backend == "auto":
            if cuda_available() and precision != "int8":
                backend = "cuda"
            else:
                backend = "cpu"
                why = ("int8 weights are the CPU engine's" if precision == "int8" and cuda_available() else
                       "no CUDA device was found" if _engine.built_with_cuda else "this build has no CUDA code")
                self.auto_note = f"auto chose the CPU engine: {why}"
        if precision == "bf16" and backend != "cuda":
            raise EngineError("precision='bf16' is for the CUDA engine; the CPU engine takes 'fp32', 'fp16' or 'int8'")
        if precision == "int8" and backend == "cuda":
            raise EngineError("precision='int8' is for the CPU engine; the CUDA engine takes 'fp32', 'fp16' or 'bf16'")
        self._engine = _engine.make_engine(backend, dataclasses.asdict(self.config), tensors, streams, threads, simd,
                                           precision, sleep_after_frames)
        self.streams = streams
        self._t = 0
        self._last_temperature: tuple[float | None, np.ndarray | None] = (None, None)

    @property
    def backend(self) -> str:
        return self._engine.backend

    @property
    def details(self) -> str:
        """What runs, e.g. "avx512 kernels, fp32 weights, 2 thread(s), one per 4 computing streams", and why
        "auto" chose it (after a "; ": players print this inside parentheses)."""
        return self._engine.details + (f"; {self.auto_note}" if self.auto_note else "")

    def reset(self, seed: int = 0) -> None:
        """Back to sample 0 of every stream, starting from silence; `seed` keys the sampling."""
        if not 0 <= int(seed) < 2**64:
            raise EngineError("seed must be in [0, 2**64)")
        self._engine.reset(int(seed))
        self._t = 0

    def frames_for(self, n: int) -> int:
        """How many conditioning frames the next block of n samples touches."""
        return block_frames(self._t, n, self.config.cond_hop)[1]

    def generate(self, n: int, cond: np.ndarray | None = None, global_id=None, temperature=1.0) -> np.ndarray:
        """The next n samples of every stream -> float32 (streams, n) in [-1, 1]. cond (streams,
        cond_channels, frames_for(n)): the frames this block touches, from frame t0 // cond_hop on."""
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise EngineError(f"n must be a non-negative int, got {n!r}")
        if n == 0:
            return np.zeros((self.streams, 0), np.float32)
        frames = self.frames_for(int(n))
        cond = self._check_cond(cond, frames)
        audio = self._engine.generate(int(n), cond, frames, self._check_global(global_id),
                                      self._temperatures(temperature))
        self._t += int(n)
        return audio

    def _temperatures(self, temperature) -> np.ndarray:
        """(streams,) float32; the array of the last scalar is kept, as a live player calls this per block."""
        if isinstance(temperature, (int, float)) and temperature == self._last_temperature[0]:
            return self._last_temperature[1]
        temperatures = np.ascontiguousarray(np.broadcast_to(np.asarray(temperature, dtype=np.float32),
                                                            (self.streams,)))
        if not np.isfinite(temperatures).all() or (temperatures < 0).any():
            raise EngineError("temperature must be finite and >= 0")
        if isinstance(temperature, (int, float)):
            self._last_temperature = (temperature, temperatures)
        return temperatures

    def logits(self, codes, cond: np.ndarray | None = None, global_id=None) -> np.ndarray:
        """Teacher-forced logits (streams, classes, T) through the engine's per-sample path, equal to
        WaveNet.forward's for the same inputs. Afterwards call reset() before generating."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[0] != self.streams:
            raise EngineError(f"codes must have shape ({self.streams}, T): one row per stream, got {codes.shape}")
        if not np.issubdtype(codes.dtype, np.integer):
            raise EngineError(f"codes must be integers, got {codes.dtype}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.config.classes):
            raise EngineError(f"codes must be in [0, {self.config.classes - 1}]")
        cond = self._check_cond(cond, block_frames(0, codes.shape[1], self.config.cond_hop)[1])
        out = self._engine.logits(codes.astype(np.int32), cond, self._check_global(global_id))
        self._t = codes.shape[1]
        return out

    def _check_cond(self, cond, frames: int) -> np.ndarray | None:
        c = self.config
        if not c.cond_channels:
            if cond is not None:
                raise EngineError("this model has no local conditioning (cond_channels = 0) but cond was given")
            return None
        want = (self.streams, c.cond_channels, frames)
        if cond is None:
            raise EngineError(f"this model needs cond of shape {want} (streams, cond_channels, frames)")
        cond = np.asarray(cond)
        if cond.shape != want:
            raise EngineError(f"cond must have shape {want} (streams, cond_channels, frames), got {cond.shape}")
        if cond.dtype.kind != "f":
            raise EngineError(f"cond must be a float array, got {cond.dtype}")
        return np.ascontiguousarray(cond, dtype=np.float32)  # the engine rejects NaN and infinities itself

    def _check_global(self, global_id) -> np.ndarray | None:
        c = self.config
        if not c.global_classes:
            if global_id is not None:
                raise EngineError("this model has no global conditioning (global_classes = 0) but global_id was given")
            return None
        if global_id is None:
            raise EngineError(f"this model needs global_id in [0, {c.global_classes - 1}] (an int or one per stream)")
        ids = np.asarray(global_id)
        if not np.issubdtype(ids.dtype, np.integer):
            raise EngineError(f"global_id must be integers, got {ids.dtype}")
        if ids.ndim > 1 or (ids.ndim == 1 and ids.shape[0] != self.streams):
            raise EngineError(f"global_id must be an int or have shape ({self.streams},), got {ids.shape}")
        if ids.min() < 0 or ids.max() >= c.global_classes:
            raise EngineError(f"global_id must be in [0, {c.global_classes - 1}]")
        return np.ascontiguousarray(np.broadcast_to(ids, (self.streams,)), dtype=np.int32)
