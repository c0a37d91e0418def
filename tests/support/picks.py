# Comparing engines' generated samples by what the sampling contract promises (issue 21): each pick is the
# contract's pick from WaveNet.forward's float64 logits over the engine's own history, except where the
# uniform lies within BOUNDARY of a CDF boundary (float32 sums may then fall either side: counted, and rare);
# two engines agree exactly until one of them takes such a boundary pick. With the config's DC blocker the
# class played is the pick through wavenet_rt/feedback.py. Used by test_cuda.py, test_engine.py.
import math

import numpy as np
import torch

from wavenet_rt.feedback import DcBlocker
from wavenet_rt.mulaw import silence_code
from wavenet_rt.sampling import MIN_TEMPERATURE, sample_categorical, sampling_uniforms

BOUNDARY = 1e-4  # |uniform - CDF| below which float32 and float64 may pick differently (CDF in [0, 1])
RARE = 1e-3  # at most this fraction of picks (and at least 3 in all) may be boundary picks


def reference_logits(model, codes, cond, glob):
    """WaveNet.forward in float64."""
    m = model.double()
    out = m(torch.from_numpy(codes), None if cond is None else torch.from_numpy(cond),
            None if glob is None else torch.from_numpy(glob)).detach().numpy()
    model.float()
    return out


def boundary_distance(logits, temperature, uniforms):
    """(T,) distance of each uniform from the nearest CDF boundary of logits (classes, T) at `temperature`
    (at temperature 0: the gap between the two largest logits, the argmax's own boundary)."""
    if temperature < MIN_TEMPERATURE:
        top = np.sort(logits, axis=0)
        return top[-1] - top[-2]
    w = np.exp((logits - logits.max(axis=0)) / temperature)  # (C, T)
    cdf = np.cumsum(w, axis=0) / w.sum(axis=0)
    return np.abs(cdf[:-1] - uniforms).min(axis=0)


def departures(model, codes, seed, cond=None, glob=None, temperature=1.0, lead=None, asleep=None):
    """Per stream, the sample indices where `codes` (streams, n), generated after reset(seed), is not the
    contract's pick from forward's logits over silence (`lead` samples, default the receptive field rounded
    up to frames) plus the codes before it. Asleep samples (mask) are skipped. Raises AssertionError if a
    departure is not a boundary case."""
    config = model.config
    streams, n = codes.shape
    hop = config.cond_hop
    lead = math.ceil((config.receptive_field if lead is None else lead) / hop) * hop
    history = np.concatenate([np.full((streams, lead + 1), silence_code(config.classes)), codes], axis=1)
    full_cond = None
    if cond is not None:
        cond = np.asarray(cond, np.float64)
        full_cond = np.concatenate([np.zeros((streams, cond.shape[1], lead // hop)), cond], axis=2)
    logits = reference_logits(model, history[:, :-1], full_cond, glob)[:, :, lead:]  # (S, C, n)
    found = []
    for s in range(streams):
        u = sampling_uniforms(seed, s, 0, n)
        expect = sample_categorical(logits[s].T.astype(np.float32), temperature, u)
        if config.dc_blocker:
            expect = played(config, expect, codes[s], None if asleep is None else asleep[s])
        differ = expect != codes[s]
        if asleep is not None:
            differ &= ~asleep[s]
        at = np.flatnonzero(differ)
        far = at[boundary_distance(logits[s][:, at], temperature, u[at]) >= BOUNDARY]
        assert len(far) == 0, f"stream {s}: samples {far[:10]} are not the contract's picks (nor boundary cases)"
        found.append(at)
    return found


def played(config, drawn, codes, asleep=None):
    """The classes the contract plays for picks `drawn` (n,), the DC blocker stepped with what the engine
    drew: where its class `codes` departs, with a neighbour of the pick (a boundary case) if one plays it.
    Asleep samples play silence and leave the blocker at rest."""
    blocker = DcBlocker(config.dc_blocker, config.classes, 1)
    out = np.empty_like(codes)
    for t, pick in enumerate(drawn):
        if asleep is not None and asleep[t]:
            blocker.reset()
            out[t] = silence_code(config.classes)
            continue
        state = blocker.x_prev, blocker.y_prev
        out[t] = blocker(np.array([pick]))[0]
        for other in (pick - 1, pick + 1):
            if out[t] == codes[t] or not 0 <= other < config.classes:
                continue
            trial = DcBlocker(config.dc_blocker, config.classes, 1)
            trial.x_prev, trial.y_prev = state
            if trial(np.array([other]))[0] == codes[t]:
                blocker.x_prev, blocker.y_prev = trial.x_prev, trial.y_prev
                break
    return out


def assert_same_picks(model, a, b, seed, cond=None, glob=None, temperature=1.0, lead=None, asleep=None,
                      exact=100):
    """Two engines' codes (streams, n) from the same seed both follow the contract (see departures), with
    boundary picks rare, and are equal for each stream's first `exact` samples, or up to the first boundary
    pick of either. Returns the number of boundary picks, for the test to report."""
    count = 0
    for s, (da, db) in enumerate(zip(*(departures(model, c, seed, cond, glob, temperature, lead, asleep)
                                       for c in (a, b)))):
        count += len(da) + len(db)
        run = min([exact, a.shape[1], *da[:1], *db[:1]])
        assert np.array_equal(a[s, :run], b[s, :run]), f"stream {s} parted within its first {run} samples"
    assert count <= max(3, RARE * a.size), f"{count} boundary picks in {a.size}: not rare"
    return count
