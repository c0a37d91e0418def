# The composer's hyperparameters, stored as JSON in the model file's metadata so a file alone says how to
# rebuild its network (the PyTorch model for training, the NumPy one for composing).
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .tokens import VOCAB


@dataclass(frozen=True)
class ComposerConfig:
    vocab: int = VOCAB  # token classes; the input side has one more, BOS
    d_model: int = 128
    layers: int = 4
    heads: int = 4
    d_ff: int = 512
    context: int = 512  # tokens attended (the query's own included): 128 steps, 8 bars, of four voices
    phases: int = 16  # sixteenths in a bar
    keys: int = 24
    voices: int = 4

    @property
    def bos(self) -> int:
        return self.vocab

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ComposerConfig:
        return cls(**json.loads(text))
