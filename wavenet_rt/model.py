# The PyTorch WaveNet: dilated causal convolutions, gated tanh*sigmoid units, residual and skip 1x1 paths,
# a ReLU->1x1->ReLU->1x1 head over mu-law classes, global (per-class embedding) and local (frame-rate,
# causal) conditioning. forward() is the parallel teacher-forced reference every engine is checked against;
# incremental.py holds the sample-by-sample generator. Parameter names are the model-file contract.
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import WaveNetConfig


class ResidualLayer(nn.Module):
    """One gated layer. `res` is absent in the last layer: its residual output would feed nothing."""

    def __init__(self, config: WaveNetConfig, dilation: int, last: bool) -> None:
        super().__init__()
        half = config.gate_channels // 2
        self.dilation = dilation
        self.causal_pad = (config.kernel_size - 1) * dilation
        self.conv = nn.Conv1d(config.residual_channels, config.gate_channels, config.kernel_size,
                              dilation=dilation)
        self.cond = (nn.Conv1d(config.cond_channels, config.gate_channels, 1, bias=False)
                     if config.cond_channels else None)
        self.glob = nn.Embedding(config.global_classes, config.gate_channels) if config.global_classes else None
        self.skip = nn.Conv1d(half, config.skip_channels, 1)
        self.res = None if last else nn.Conv1d(half, config.residual_channels, 1)

    def forward(self, x: torch.Tensor, cond_frames: torch.Tensor | None, hop: int, global_id: torch.Tensor | None,
                steps: int, outputs: int, skip_outputs: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        """x holds the last x.shape[-1] of `steps` positions; returns the residual output at the last `outputs`
        positions and the skip output at the last `skip_outputs` of those."""
        start = max(0, x.shape[-1] - outputs - self.causal_pad)  # the inputs those outputs read
        missing = self.causal_pad - (x.shape[-1] - outputs - start)  # before the sequence: zeros (causal)
        a = self.conv(F.pad(x[..., start:], (missing, 0)))  # (B, G, outputs)
        if self.cond is not None:
            # Project at frame rate, then hold each frame for `hop` samples: sample t sees frame t // hop.
            first = steps - outputs
            frames = cond_frames[..., first // hop:]
            a = a + self.cond(frames).repeat_interleave(hop, dim=2)[..., first % hop:first % hop + outputs]
        if self.glob is not None:
            a = a + self.glob(global_id).unsqueeze(-1)  # (B, G, 1)
        filt, gate = a.chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)  # (B, G/2, outputs)
        skip = self.skip(z[..., outputs - skip_outputs:])  # (B, S, skip_outputs)
        return (x[..., -outputs:] + self.res(z) if self.res is not None else None), skip


class WaveNet(nn.Module):
    def __init__(self, config: WaveNetConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.embed = nn.Embedding(config.classes, config.residual_channels)
        # The period taps' projection into the residual stream starts at zero: a model fine-tuned from one
        # without it starts out computing exactly what that model did.
        self.excite = nn.Conv1d(1, config.residual_channels, 1, bias=False) if config.excitation else None
        if self.excite is not None:
            nn.init.zeros_(self.excite.weight)
        last = len(config.dilations) - 1
        self.layers = nn.ModuleList(ResidualLayer(config, d, i == last) for i, d in enumerate(config.dilations))
        self.head1 = nn.Conv1d(config.skip_channels, config.skip_channels, 1)
        self.head2 = nn.Conv1d(config.skip_channels, config.classes, 1)
        self._init_embedding()

    @torch.no_grad()
    def _init_embedding(self) -> None:
        """Starts each code's vector on a line ordered by the code's companded amplitude, plus noise: the
        network sees from step one that neighbouring codes are neighbouring amplitudes, and codes that
        training rarely visits (which free-running generation will) still sit where they belong."""
        amplitude = torch.linspace(-1.0, 1.0, self.config.classes).unsqueeze(1)  # (classes, 1)
        direction = torch.randn(1, self.config.residual_channels)
        self.embed.weight.copy_(amplitude * direction + 0.1 * torch.randn_like(self.embed.weight))

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def forward(self, codes: torch.Tensor, cond: torch.Tensor | None = None,
                global_id: torch.Tensor | None = None, outputs: int | None = None) -> torch.Tensor:
        """codes (B, T) mu-law classes -> logits (B, classes, T); logits[:, :, t] predicts codes[:, t + 1]
        from codes[:, :t + 1] and conditioning frames up to t // cond_hop (causal). With `outputs`, only the
        last `outputs` positions' logits (B, classes, outputs), as training needs: each layer then computes
        only the positions that later layers and those logits read (a quarter fewer multiply-adds for 4000
        targets after a receptive field of 2047)."""
        self.check_inputs(codes, cond, global_id)
        steps = codes.shape[1]
        outputs = steps if outputs is None else min(outputs, steps)
        x = self.embed(codes).transpose(1, 2)  # (B, R, T)
        if self.excite is not None:
            from .excitation import period_taps

            cfg = self.config
            e = period_taps(codes, cond, cfg.cond_hop, cfg.sample_rate, cfg.classes)  # (B, 1, T) float64
            x = x + self.excite(e.to(x.device, x.dtype))  # (B, R, T)
        skips = None
        for layer, reach in zip(self.layers, self._reach_after()):
            needed = min(steps, outputs + reach)
            x_next, skip = layer(x, cond, self.config.cond_hop, global_id, steps, needed, outputs)
            # summed in the residual stream's precision: under bf16 autocast each skip is bf16, and 20 of
            # them summed in bf16 would lose the small ones
            skips = skip.to(x.dtype) if skips is None else skips + skip  # (B, S, outputs)
            x = x_next
        return self.head2(F.relu(self.head1(F.relu(skips))))  # (B, classes, outputs)

    def _reach_after(self) -> list[int]:
        """How far back the layers after each layer reach: the positions of its output they read before
        the first one wanted."""
        pads = [layer.causal_pad for layer in self.layers]
        return [sum(pads[i + 1:]) for i in range(len(pads))]

    def check_inputs(self, codes: torch.Tensor, cond: torch.Tensor | None,
                     global_id: torch.Tensor | None) -> None:
        """Raises ValueError naming what is wrong with a forward() call's inputs."""
        cfg = self.config
        if codes.dim() != 2 or codes.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"codes must be an integer tensor (B, T), got {codes.dtype} {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= cfg.classes):
            raise ValueError(f"codes must be in [0, {cfg.classes - 1}]")
        batch, steps = codes.shape
        if cfg.cond_channels:
            frames = math.ceil(steps / cfg.cond_hop)
            want = (batch, cfg.cond_channels, frames)
            if cond is None or tuple(cond.shape) != want:
                got = None if cond is None else tuple(cond.shape)
                raise ValueError(f"cond must have shape {want} (B, cond_channels, ceil(T / cond_hop)), got {got}")
            if not cond.is_floating_point():
                raise ValueError(f"cond must be a float tensor, got {cond.dtype}")
        elif cond is not None:
            raise ValueError("this model has no local conditioning (cond_channels = 0) but cond was given")
        if cfg.global_classes:
            if global_id is None or tuple(global_id.shape) != (batch,):
                raise ValueError(f"global_id must have shape ({batch},)")
            if int(global_id.min()) < 0 or int(global_id.max()) >= cfg.global_classes:
                raise ValueError(f"global_id must be in [0, {cfg.global_classes - 1}]")
        elif global_id is not None:
            raise ValueError("this model has no global conditioning (global_classes = 0) but global_id was given")
