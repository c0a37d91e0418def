# The composer network in PyTorch (training only): a small pre-norm transformer with rotary positions over
# the flattened S,B,A,T token stream. Each input is the previous token plus embeddings of the position to
# predict (its voice, its phase in the bar) and the piece's key. numpy_model.py computes the same function
# without torch; tests hold the two equal.
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import ComposerConfig


def rotary_angles(positions: torch.Tensor, head_dim: int) -> torch.Tensor:
    """(T,) positions -> (T, head_dim / 2) angles; computed in float64 so long streams keep precision."""
    inv = 10000.0 ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    return positions.to(torch.float64)[:, None] * inv[None, :]


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """x (..., T, D): rotates the pairs (x[i], x[i + D/2]) by the angles (T, D/2)."""
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    a, b = x.chunk(2, dim=-1)
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class Block(nn.Module):
    def __init__(self, c: ComposerConfig, dropout: float):
        super().__init__()
        self.heads = c.heads
        self.norm1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.ff1 = nn.Linear(c.d_model, c.d_ff)
        self.ff2 = nn.Linear(c.d_ff, c.d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(D, dim=-1)
        q, k, v = (t.view(B, T, self.heads, D // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        q, k = rotate(q, angles), rotate(k, angles)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hd)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(B, T, D)))
        return x + self.drop(self.ff2(F.gelu(self.ff1(self.norm2(x)), approximate="tanh")))


class ComposerNet(nn.Module):
    def __init__(self, config: ComposerConfig, dropout: float = 0.0):
        super().__init__()
        self.config = c = config
        self.tok = nn.Embedding(c.vocab + 1, c.d_model)  # + BOS
        self.voice = nn.Embedding(c.voices, c.d_model)
        self.phase = nn.Embedding(c.phases, c.d_model)
        self.key = nn.Embedding(c.keys, c.d_model)
        self.blocks = nn.ModuleList(Block(c, dropout) for _ in range(c.layers))
        self.norm = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab)
        for name, p in self.named_parameters():
            if ".norm" in name or name.startswith("norm"):
                continue  # LayerNorm keeps its ones and zeros
            if p.dim() == 1:
                nn.init.zeros_(p)
            else:  # GPT-2's scheme: residual projections scaled down by depth
                scale = 1 / math.sqrt(2 * c.layers) if name.endswith(("proj.weight", "ff2.weight")) else 1
                nn.init.normal_(p, std=0.02 * scale)

    def forward(self, prev: torch.Tensor, voice: torch.Tensor, phase: torch.Tensor, key: torch.Tensor,
                start: int = 0) -> torch.Tensor:
        """prev, voice, phase: (B, T) previous token (or BOS), voice and bar phase of each position to
        predict; key: (B,). Returns logits (B, T, vocab) for the token at each position. `start` is the
        absolute position of the first token (only differences matter to rotary attention)."""
        c = self.config
        x = self.tok(prev) + self.voice(voice) + self.phase(phase % c.phases) + self.key(key)[:, None]  # (B, T, D)
        angles = rotary_angles(torch.arange(start, start + prev.shape[1]), c.head_dim)
        for block in self.blocks:
            x = block(x, angles)
        return self.head(self.norm(x))
