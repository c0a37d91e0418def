# The period taps: at each step, the mean over the held keys of the model's own input one key period
# before the sample it predicts, as a companded amplitude in [-1, 1] (the scale the input embedding starts
# from). A held note repeats with its period, so this one value predicts the next sample almost exactly and
# tells the network each note's pitch at sample level. Float64 reference; csrc/core/excitation.h is the engines'.
from __future__ import annotations

import torch

from .conditioning import KEYS, LOWEST_KEY

MIN_TAP_BACK = 2  # keys whose tap would read nearer than this are at or above Nyquist (csrc: kMinTapBack)


def key_taps(sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(back, frac), each (KEYS,): key k's tap at step t is (1 - frac) * input[t - back] + frac *
    input[t - back + 1], the input at position t + 1 - period (equal temperament, A4 = 440 Hz). Keys at
    or above the Nyquist frequency (period <= 2 samples, back < 2) cannot sound and have no tap."""
    notes = torch.arange(LOWEST_KEY, LOWEST_KEY + KEYS, dtype=torch.float64)
    period = sample_rate / (440.0 * torch.pow(2.0, (notes - 69.0) / 12.0))
    up = torch.ceil(period)
    return up.long() - 1, up - period


def companded(codes: torch.Tensor, classes: int) -> torch.Tensor:
    """Mu-law classes -> float64 companded amplitudes in [-1, 1]: 2 * code / (classes - 1) - 1."""
    return 2.0 * codes.to(torch.float64) / (classes - 1) - 1.0


def period_taps(codes: torch.Tensor, cond: torch.Tensor, hop: int, sample_rate: int, classes: int) -> torch.Tensor:
    """codes (B, T), cond (B, C, frames) whose first KEYS channels are the key roll -> (B, 1, T) float64:
    at step t the mean over the keys held in frame t // hop of their taps (0 with no key held; keys above
    the Nyquist frequency count as not held); inputs before the first read 0."""
    batch, steps = codes.shape
    audio = torch.cat([torch.zeros(batch, 1, dtype=torch.float64), companded(codes.cpu(), classes)], dim=1)  # [0 | x]
    back, frac = key_taps(sample_rate)
    sounding = (cond[:, :KEYS] != 0).any(dim=2).any(dim=0).cpu() & (back >= MIN_TAP_BACK)
    held = sounding.nonzero()[:, 0]  # only keys held somewhere
    on = (cond[:, held] != 0).cpu().to(torch.float64).repeat_interleave(hop, dim=2)[..., :steps]  # (B, K', T)
    back, frac = back[held][:, None], frac[held][:, None]  # (K', 1)
    base = torch.arange(steps)[None, :] - back  # (K', T); < 0 reads the zero in front
    older = audio[:, (base.clamp(min=-1) + 1).reshape(-1)].reshape(batch, *base.shape)  # (B, K', T)
    newer = audio[:, (base.clamp(min=-2) + 2).reshape(-1)].reshape(batch, *base.shape)
    taps = (1 - frac) * older + frac * newer  # (B, K', T)
    return ((on * taps).sum(dim=1) / on.sum(dim=1).clamp(min=1))[:, None, :]  # (B, 1, T)
