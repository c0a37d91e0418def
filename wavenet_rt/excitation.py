# The sine excitation: a sample-rate signal built from the key roll, fed into the WaveNet's residual
# stream beside the embedded samples, so the network is told each held note's pitch at sample level
# instead of having to build every period out of its dilated taps (the source-filter idea of neural
# vocoders). This is the float64 reference; csrc/excitation.h computes the same numbers in the engines.
from __future__ import annotations

import torch

from .conditioning import KEYS, LOWEST_KEY

EXCITATIONS = {"": 0, "sines": 2}  # name -> channels; "" = none
# "sines": channel 0 is sum_k roll_k(frame of t) * sin(2 pi f_k t / rate), channel 1 the same with cos,
# f_k the equal-tempered pitch of key k (A4 = 440 Hz) and t the sample's position since the stream began.


def excitation_channels(name: str) -> int:
    if name not in EXCITATIONS:
        raise ValueError(f"unknown excitation {name!r}; known: {sorted(EXCITATIONS)}")
    return EXCITATIONS[name]


def key_frequencies() -> torch.Tensor:
    """(KEYS,) float64 Hz of the piano keys A0 .. C8."""
    notes = torch.arange(LOWEST_KEY, LOWEST_KEY + KEYS, dtype=torch.float64)
    return 440.0 * torch.pow(2.0, (notes - 69.0) / 12.0)


def sine_excitation(cond: torch.Tensor, hop: int, sample_rate: int, steps: int,
                    first_sample: torch.Tensor) -> torch.Tensor:
    """cond (B, C, frames) whose first KEYS channels are the key roll, first_sample (B,) int64 the stream
    position of step 0 -> (B, 2, steps) float64. Phases are taken modulo one cycle in float64 before the
    sine, so they stay exact hours into a stream."""
    held = (cond[:, :KEYS] != 0).any(dim=2).any(dim=0).nonzero()[:, 0]  # only keys that sound somewhere
    roll = cond[:, held].to(torch.float64).repeat_interleave(hop, dim=2)[..., :steps]  # (B, K', T)
    t = first_sample.to(torch.float64)[:, None] + torch.arange(steps, dtype=torch.float64)  # (B, T)
    cycles = key_frequencies()[held][None, :, None] * t[:, None, :] / sample_rate  # (B, K', T)
    angle = 2 * torch.pi * (cycles - torch.floor(cycles))
    sines = (roll * torch.sin(angle)).sum(dim=1)  # (B, T)
    cosines = (roll * torch.cos(angle)).sum(dim=1)
    return torch.stack([sines, cosines], dim=1)  # (B, 2, T)
