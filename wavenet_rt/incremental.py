# Reference sample-by-sample generator in PyTorch (the Fast WaveNet algorithm): each layer keeps a ring of
# the past inputs its dilated taps read, so one sample costs one step through the layers, not a whole
# receptive field. It is the baseline the C++ engines are timed against, and proven equal to
# WaveNet.forward by tests. Sampling follows wavenet_rt/sampling.py, and what is played and heard again
# wavenet_rt/feedback.py, as in every engine.
from __future__ import annotations

import numpy as np
import torch

from .block import block_frames
from .conditioning import KEYS
from .excitation import MIN_TAP_BACK, companded, key_taps
from .feedback import DcBlocker
from .model import WaveNet
from .mulaw import mulaw_decode, silence_code
from .sampling import sample_categorical, sampling_uniforms


class _LayerState:
    """Weights of one layer in matrix form, plus its ring of past inputs (B, R, (k - 1) * dilation)."""

    def __init__(self, layer, batch: int, kernel_size: int) -> None:
        g = layer.conv.weight.shape[0]
        self.dilation = layer.dilation
        self.kernel_size = kernel_size
        self.conv_weight = layer.conv.weight.detach()  # (G, R, k); tap j reads x[t - (k - 1 - j) * d]
        self.conv_weight_flat = self.conv_weight.reshape(g, -1).t().contiguous()  # (R * k, G)
        self.conv_bias = layer.conv.bias.detach()
        self.cond_weight = None if layer.cond is None else layer.cond.weight.detach()[:, :, 0].t()  # (C, G)
        self.glob_table = None if layer.glob is None else layer.glob.weight.detach()  # (classes, G)
        out = [layer.skip] if layer.res is None else [layer.res, layer.skip]
        # res and skip read the same gated vector: one (G/2, R + S) product does both.
        self.out_weight = torch.cat([m.weight.detach()[:, :, 0] for m in out]).t().contiguous()
        self.out_bias = torch.cat([m.bias.detach() for m in out])
        self.residual_channels = 0 if layer.res is None else layer.res.weight.shape[0]
        length = (kernel_size - 1) * self.dilation
        self.ring = torch.zeros(batch, layer.conv.weight.shape[1], length, dtype=self.conv_bias.dtype)
        self.bias = self.conv_bias.expand(batch, -1).clone()  # conv bias + global + current cond frame

    def taps(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """(B, R * k) inputs of the dilated conv at time t, ordered like conv_weight_flat."""
        length = self.ring.shape[2]
        if length == 0:
            return x
        past = [self.ring[:, :, (t - m * self.dilation) % length] for m in range(self.kernel_size - 1, 0, -1)]
        taps = torch.stack([*past, x], dim=2).reshape(x.shape[0], -1)
        self.ring[:, :, t % length] = x  # after the stack: the oldest tap's slot is the one reused
        return taps


class IncrementalGenerator:
    """Generates `batch` streams sample by sample from a WaveNet, with cached dilated-conv state."""

    def __init__(self, model: WaveNet, batch: int = 1) -> None:
        self.config = model.config
        self.batch = batch
        self.layers = [_LayerState(layer, batch, self.config.kernel_size) for layer in model.layers]
        self.embed = model.embed.weight.detach()
        self.excite = None if model.excite is None else model.excite.weight.detach()[:, 0, 0]  # (R,)
        self.tap_back, self.tap_frac = key_taps(self.config.sample_rate)
        self.head1_weight = model.head1.weight.detach()[:, :, 0].t().contiguous()
        self.head1_bias = model.head1.bias.detach()
        self.head2_weight = model.head2.weight.detach()[:, :, 0].t().contiguous()
        self.head2_bias = model.head2.bias.detach()
        self.dc_blocker = DcBlocker(self.config.dc_blocker, self.config.classes, batch)
        self.reset()

    def reset(self, seed: int = 0) -> None:
        """Back to sample 0. generate() then starts from the state after an endless silence (see
        prime_with_silence); logits() from an all-zero history, as WaveNet.forward's causal padding."""
        for layer in self.layers:
            layer.ring.zero_()
        self.seed = seed
        self.t = 0
        # The period taps' ring of companded inputs, slot = position % length; before sample 0 it reads 0.
        self.history = torch.zeros(self.batch, int(self.tap_back.max()) + 2, dtype=torch.float64)
        self.last_code = torch.full((self.batch,), silence_code(self.config.classes), dtype=torch.long)
        self.dc_blocker.reset()

    @torch.no_grad()
    def prime_with_silence(self, global_id: torch.Tensor | None) -> None:
        """Fills every ring with what that layer would hold after hearing the silence code forever, with
        no keys down: a constant input makes each layer's input constant, so one pass per layer with all
        taps equal finds it. Training windows begin in such silence, so generation starts in familiar
        territory instead of the zero history no training window shows the model."""
        self._set_layer_biases(None, global_id, with_cond=False)
        self.history[:] = companded(self.last_code, self.config.classes)[:, None]  # the taps hear the silence too
        x = self.embed[self.last_code]  # (B, R)
        for layer in self.layers:
            layer.ring.copy_(x.unsqueeze(-1).expand_as(layer.ring))
            a = layer.bias + x @ layer.conv_weight.sum(dim=2).t()  # (B, G): every tap reads x
            filt, gate = a.chunk(2, dim=1)
            out = torch.addmm(layer.out_bias, torch.tanh(filt) * torch.sigmoid(gate), layer.out_weight)
            if layer.residual_channels:
                x = x + out[:, :layer.residual_channels]

    @torch.no_grad()
    def step(self, codes: torch.Tensor, cond_frame: torch.Tensor | None,
             global_id: torch.Tensor | None) -> torch.Tensor:
        """Consumes codes (B,) at time t and returns logits (B, classes) for sample t + 1. cond_frame (B, C)
        is the conditioning frame t // cond_hop; pass it (or None) every step, it is projected on change."""
        if self.t % self.config.cond_hop == 0 or self.t == 0:
            self._set_layer_biases(cond_frame, global_id)
        x = self.embed[codes]  # (B, R)
        if self.excite is not None:
            x = x + self._period_taps(codes, cond_frame)[:, None].to(x.dtype) * self.excite
        skips = None
        for layer in self.layers:
            a = torch.addmm(layer.bias, layer.taps(x, self.t), layer.conv_weight_flat)  # (B, G)
            filt, gate = a.chunk(2, dim=1)
            z = torch.tanh(filt) * torch.sigmoid(gate)  # (B, G/2)
            out = torch.addmm(layer.out_bias, z, layer.out_weight)  # (B, R + S) or (B, S)
            r = layer.residual_channels
            skips = out[:, r:] if skips is None else skips + out[:, r:]
            if r:
                x = x + out[:, :r]
        self.t += 1
        hidden = torch.relu(torch.addmm(self.head1_bias, torch.relu(skips), self.head1_weight))
        return torch.addmm(self.head2_bias, hidden, self.head2_weight)  # (B, classes)

    def _period_taps(self, codes: torch.Tensor, cond_frame: torch.Tensor) -> torch.Tensor:
        """(B,) float64: excitation.period_taps at this step, one stream at a time."""
        length = self.history.shape[1]
        self.history[:, self.t % length] = companded(codes, self.config.classes)
        out = torch.zeros(self.batch, dtype=torch.float64)
        for b in range(self.batch):
            keys = ((cond_frame[b, :KEYS] != 0) & (self.tap_back >= MIN_TAP_BACK)).nonzero()[:, 0].tolist()
            for k in keys:
                base = self.t - int(self.tap_back[k])
                frac = float(self.tap_frac[k])
                out[b] += (1 - frac) * self.history[b, base % length] + frac * self.history[b, (base + 1) % length]
            out[b] /= max(1, len(keys))
        return out

    def _set_layer_biases(self, cond_frame: torch.Tensor | None, global_id: torch.Tensor | None,
                          with_cond: bool = True) -> None:
        for layer in self.layers:
            bias = layer.conv_bias.expand(self.batch, -1)
            if layer.cond_weight is not None and with_cond:
                bias = bias + cond_frame.to(layer.cond_weight.dtype) @ layer.cond_weight
            if layer.glob_table is not None:
                bias = bias + layer.glob_table[global_id]
            layer.bias = bias.contiguous()

    @torch.no_grad()
    def logits(self, codes: torch.Tensor, cond: torch.Tensor | None = None,
               global_id: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, classes, T) through the incremental path, from a fresh state; equal to
        WaveNet.forward on the same inputs."""
        self.reset(self.seed)
        hop = self.config.cond_hop
        out = [self.step(codes[:, t], None if cond is None else cond[:, :, t // hop], global_id)
               for t in range(codes.shape[1])]
        return torch.stack(out, dim=2)

    @torch.no_grad()
    def generate(self, n: int, cond: torch.Tensor | None = None, global_id: torch.Tensor | None = None,
                 temperature: float = 1.0) -> np.ndarray:
        """Generates the next n samples of every stream -> float32 audio (B, n). cond (B, C, F) holds the
        frames this block touches, from frame t0 // cond_hop on (t0 = samples generated before). Sample k
        after reset() follows an endless silence and the silence code at step 0, and draws its uniform
        from sampling_uniforms(seed, stream, k)."""
        hop = self.config.cond_hop
        first_frame, frames = block_frames(self.t, n, hop)
        if self.config.cond_channels:
            want = (self.batch, self.config.cond_channels, frames)
            if cond is None or tuple(cond.shape) != want:
                raise ValueError(f"cond must have shape {want} for this block, got "
                                 f"{None if cond is None else tuple(cond.shape)}")
        if self.config.global_classes and (global_id is None or tuple(global_id.shape) != (self.batch,)):
            raise ValueError(f"global_id must have shape ({self.batch},)")
        if self.t == 0:
            self.prime_with_silence(global_id)
        codes = np.empty((self.batch, n), dtype=np.int64)
        uniforms = np.stack([sampling_uniforms(self.seed, s, self.t, n) for s in range(self.batch)])  # (B, n)
        for i in range(n):
            frame = None if cond is None else cond[:, :, self.t // hop - first_frame]
            logits = self.step(self.last_code, frame, global_id).float().numpy()
            played = self.dc_blocker(sample_categorical(logits, temperature, uniforms[:, i]))
            codes[:, i] = played
            self.last_code = torch.from_numpy(played)
        return mulaw_decode(codes, self.config.classes)
