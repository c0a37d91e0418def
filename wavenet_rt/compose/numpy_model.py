# The composer network in NumPy, for composing without torch: a whole-window forward (NLL, tests) and an
# incremental one token at a time with a ring key/value cache of `context` tokens per layer, so a stream
# runs without end in constant memory and time per token; and branches: several continuations of a stream
# computed together, one of which may be adopted. Same function as model.py (tests compare).
from __future__ import annotations

import math

import numpy as np

from .config import ComposerConfig


def rotary_angles(positions: np.ndarray, head_dim: int) -> np.ndarray:
    inv = 10000.0 ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    return positions.astype(np.float64)[:, None] * inv[None, :]  # (T, hd/2)


def rotate(x: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """x (..., T, hd): pairs (x[i], x[i + hd/2]) rotated by angles (T, hd/2)."""
    cos, sin = np.cos(angles).astype(x.dtype), np.sin(angles).astype(x.dtype)
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


# Constants are Python floats: NumPy 2 keeps a float32 array float32 with them, where a NumPy float64
# scalar (np.sqrt(...)) turns the product, and every layer after it, into float64.
GELU_SCALE = math.sqrt(2 / math.pi)


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(GELU_SCALE * (x + 0.044715 * x * x * x)))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


class NumpyComposerNet:
    """Weights as NumPy arrays in `dtype` (float32 to compose, float64 as a test reference)."""

    def __init__(self, config: ComposerConfig, tensors: dict[str, np.ndarray], dtype=np.float32):
        self.config = config
        self.dtype = dtype
        self.w = {k: v.astype(dtype) for k, v in tensors.items()}
        for name in ("qkv", "proj", "ff1", "ff2"):  # transposed once: x @ W.T as x @ Wt
            for i in range(config.layers):
                key = f"blocks.{i}.{name}.weight"
                self.w[key] = np.ascontiguousarray(self.w[key].T)
        self.w["head.weight"] = np.ascontiguousarray(self.w["head.weight"].T)

    def embed(self, prev, voice, phase, key: int) -> np.ndarray:
        w, c = self.w, self.config
        return (w["tok.weight"][prev] + w["voice.weight"][voice] + w["phase.weight"][np.asarray(phase) % c.phases]
                + w["key.weight"][key])

    def _block_tail(self, i: int, x: np.ndarray, att: np.ndarray) -> np.ndarray:
        w, p = self.w, f"blocks.{i}."
        x = x + att @ w[p + "proj.weight"] + w[p + "proj.bias"]
        h = layer_norm(x, w[p + "norm2.weight"], w[p + "norm2.bias"])
        return x + gelu(h @ w[p + "ff1.weight"] + w[p + "ff1.bias"]) @ w[p + "ff2.weight"] + w[p + "ff2.bias"]

    def _qkv(self, i: int, x: np.ndarray, angles: np.ndarray):
        w, p, c = self.w, f"blocks.{i}.", self.config
        h = layer_norm(x, w[p + "norm1.weight"], w[p + "norm1.bias"]) @ w[p + "qkv.weight"] + w[p + "qkv.bias"]
        d = c.d_model
        q, k, v = (h[:, j:j + d].reshape(len(x), c.heads, c.head_dim).transpose(1, 0, 2) for j in (0, d, 2 * d))
        return rotate(q, angles), rotate(k, angles), v  # (H, T, hd)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        w = self.w
        return layer_norm(x, w["norm.weight"], w["norm.bias"]) @ w["head.weight"] + w["head.bias"]

    def forward(self, prev, voice, phase, key: int, start: int = 0) -> np.ndarray:
        """(T,) inputs -> (T, vocab) logits, each position attending to the last `context` positions (itself
        included): ComposerNet.forward for T <= context, what Stream computes token by token for any T."""
        c = self.config
        x = self.embed(prev, voice, phase, key)  # (T, D)
        t = len(x)
        angles = rotary_angles(np.arange(start, start + t), c.head_dim)
        for i in range(c.layers):
            q, k, v = self._qkv(i, x, angles)  # (H, T, hd)
            att = np.empty_like(q)
            for a in range(0, t, c.context):  # queries in chunks: memory stays O(context^2)
                b = min(t, a + c.context)
                lo = max(0, a - c.context + 1)
                offset = np.arange(a, b)[:, None] - np.arange(lo, b)[None, :]  # query minus key position
                mask = np.where((offset >= 0) & (offset < c.context), 0, -np.inf).astype(self.dtype)
                scores = q[:, a:b] @ k[:, lo:b].transpose(0, 2, 1) * c.head_dim ** -0.5 + mask
                att[:, a:b] = softmax(scores) @ v[:, lo:b]
            x = self._block_tail(i, x, att.transpose(1, 0, 2).reshape(t, c.d_model))
        return self._logits(x)

    def stream(self) -> Stream:
        return Stream(self)


class Stream:
    """Incremental state: the last `context` tokens' keys and values per layer, in a ring."""

    def __init__(self, net: NumpyComposerNet):
        c = net.config
        self.net = net
        self.kt = np.zeros((c.layers, c.heads, c.head_dim, c.context), dtype=net.dtype)  # keys, transposed for q @ k
        self.v = np.zeros((c.layers, c.heads, c.context, c.head_dim), dtype=net.dtype)
        self.position = 0

    def step(self, prev: int, voice: int, phase: int, key: int) -> np.ndarray:
        """Logits (vocab,) of the token at the next position, given the token before it (or BOS)."""
        net, c = self.net, self.net.config
        x = net.embed(np.array([prev]), np.array([voice]), np.array([phase]), key)  # (1, D)
        angles = rotary_angles(np.array([self.position]), c.head_dim)
        slot = self.position % c.context
        n = min(self.position + 1, c.context)  # filled slots; their order does not matter to attention
        for i in range(c.layers):
            q, k, v = net._qkv(i, x, angles)
            self.kt[i, :, :, slot], self.v[i, :, slot] = k[:, 0], v[:, 0]
            scores = q @ self.kt[i, :, :, :n] * c.head_dim ** -0.5  # (H, 1, n)
            att = softmax(scores) @ self.v[i, :, :n]  # (H, 1, hd)
            x = net._block_tail(i, x, att.reshape(1, c.d_model))
        self.position += 1
        return net._logits(x)[0]

    def branch(self, count: int) -> Branches:
        """`count` continuations of this stream from where it stands, computed together (Branches.step); the
        stream itself is left as it is until one is adopted."""
        return Branches(self, count)

    def adopt(self, branches: Branches, b: int) -> None:
        """Continues this stream as branch `b` went on: its keys and values join the ring."""
        if branches.stream is not self or branches.start != self.position:
            raise ValueError("these branches grew from another stream, or from an earlier point of this one")
        c = self.net.config
        for j in range(branches.steps):
            slot = (self.position + j) % c.context
            self.kt[:, :, :, slot] = branches.k[j][:, :, b]
            self.v[:, :, slot] = branches.v[j][:, :, b]
        self.position += branches.steps


class Branches:
    """Continuations of a stream that share its cache: each step attends to the stream's last positions (as
    many as the context still reaches) and to the branch's own keys and values."""

    def __init__(self, stream: Stream, count: int):
        self.stream, self.count = stream, count
        self.start = stream.position
        self.k: list[np.ndarray] = []  # per step: (layers, H, B, hd)
        self.v: list[np.ndarray] = []

    @property
    def steps(self) -> int:
        return len(self.k)

    def step(self, prevs: np.ndarray, voice: int, phase: int, key: int) -> np.ndarray:
        """Logits (B, vocab) of each branch's next token, given each branch's token before it: what
        Stream.step would give on a copy of the stream that had taken that branch."""
        stream, net, c = self.stream, self.stream.net, self.stream.net.config
        if stream.position != self.start or self.steps + 1 >= c.context:  # own positions are never masked
            raise ValueError("the stream moved on since branching, or the branches outgrew the context")
        b = self.count
        position = stream.position + self.steps
        x = net.embed(np.asarray(prevs), np.full(b, voice), np.full(b, phase), key)  # (B, D)
        angles = rotary_angles(np.full(b, position), c.head_dim)
        n = min(stream.position, c.context)
        hidden = self._hidden_slots(position, n)  # (n,): 0 where the query still sees the slot, else -inf
        k_new = np.empty((c.layers, c.heads, b, c.head_dim), dtype=net.dtype)
        v_new = np.empty_like(k_new)
        for i in range(c.layers):
            q, k_new[i], v_new[i] = net._qkv(i, x, angles)  # (H, B, hd)
            own_k = np.stack([kk[i] for kk in self.k] + [k_new[i]], axis=2)  # (H, B, j, hd)
            own_v = np.stack([vv[i] for vv in self.v] + [v_new[i]], axis=2)
            scores = np.concatenate([q @ stream.kt[i, :, :, :n] + hidden,  # (H, B, n): one product per head
                                     np.einsum("hbd,hbjd->hbj", q, own_k)], axis=-1) * c.head_dim ** -0.5
            weights = softmax(scores)
            att = weights[..., :n] @ stream.v[i, :, :n] + np.einsum("hbj,hbjd->hbd", weights[..., n:], own_v)
            x = net._block_tail(i, x, att.transpose(1, 0, 2).reshape(b, c.d_model))
        self.k.append(k_new)
        self.v.append(v_new)
        return net._logits(x)

    def _hidden_slots(self, position: int, n: int) -> np.ndarray:
        """Over the stream's n filled ring slots: 0 where a query at `position` still sees the position the
        slot holds (within the context), -inf where the branch's own positions have pushed it out."""
        c, last = self.stream.net.config, self.stream.position - 1
        held = last - (last - np.arange(n)) % c.context  # the position each slot holds
        return np.where(held > position - c.context, 0.0, -np.inf).astype(self.stream.net.dtype)
