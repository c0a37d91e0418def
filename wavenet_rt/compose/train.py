# `python -m wavenet_rt.compose.train OUT`: trains the composer on the chorales' training split, each
# window transposed by a random shift that keeps it in the vocabulary. Runs to a wall-clock budget (the
# learning rate follows it down), keeps the best model by validation NLL, and resumes from OUT/checkpoint.pt.
from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from .config import ComposerConfig
from .corpus import Chorale, load_chorales
from .tokens import VOCAB, transpose
from .weights import save_composer

SHIFTS = range(-6, 6)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m wavenet_rt.compose.train",
                                description="Train the chorale composer (CPU, minutes to an hour).")
    p.add_argument("out", type=Path, help="run folder: checkpoint, log, composer.safetensors")
    p.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget, resumes included (default 60)")
    p.add_argument("--batch", type=int, default=16, help="windows per step (default 16)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--context", type=int, default=512, help="tokens per window, a multiple of 4 (default 512)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--eval-every", type=int, default=200, help="steps between validations (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, help="encoded chorales (default OUT/chorales.npz)")
    return p.parse_args(argv)


def flatten(c: Chorale, shift: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A piece as the token stream: (targets, voice, phase) of length 4T and its key, transposed."""
    grid = transpose(c.grid, shift) if shift else c.grid
    key = (c.key + shift) % 12 + 12 * (c.key >= 12)
    t = grid.shape[0]
    return grid.reshape(-1), np.tile(np.arange(4), t), np.repeat(c.phase, 4), key


def allowed_shifts(c: Chorale) -> list[int]:
    notes = c.grid[c.grid >= 2]
    return [s for s in SHIFTS if notes.min() + s >= 2 and notes.max() + s < VOCAB]


def windows(targets, voice, phase, context: int, bos: int, start: int):
    """Inputs for tokens [start, start + context): previous token (BOS before the first), voice, phase;
    padded to `context` with target -100 (ignored)."""
    prev = np.concatenate([[bos], targets[:-1]])
    sl = slice(start, start + context)
    out = [prev[sl], voice[sl], phase[sl], targets[sl]]
    pad = context - len(out[0])
    return [np.pad(a, (0, pad), constant_values=-100 if i == 3 else 0) for i, a in enumerate(out)]


def batch(pieces, weights, shifts, rng, n: int, context: int, bos: int):
    rows, keys = [], []
    for i in rng.choice(len(pieces), size=n, p=weights):
        targets, voice, phase, key = flatten(pieces[i], int(rng.choice(shifts[i])))
        steps = len(targets) // 4
        start = 4 * int(rng.integers(0, max(1, steps - context // 4 + 1)))
        rows.append(windows(targets, voice, phase, context, bos, start))
        keys.append(key)
    return [np.stack([r[j] for r in rows]) for j in range(4)], np.array(keys)


def validation_nll(model, pieces, context: int) -> float:
    import torch
    import torch.nn.functional as F

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for c in pieces:
            targets, voice, phase, key = flatten(c)
            for start in range(0, len(targets), context):
                prev, v, ph, tg = (torch.from_numpy(a)[None] for a in
                                   windows(targets, voice, phase, context, model.config.bos, start))
                logits = model(prev, v, ph, torch.tensor([key]))
                total += F.cross_entropy(logits.view(-1, logits.shape[-1]), tg.view(-1), ignore_index=-100,
                                         reduction="sum").item()
                count += int((tg >= 0).sum())
    model.train()
    return total / count


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    import torch.nn.functional as F

    from .model import ComposerNet

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "train.log", "a")

    def say(text: str) -> None:
        print(text, flush=True)
        log.write(text + "\n")
        log.flush()

    chorales = load_chorales(args.cache or args.out / "chorales.npz")
    train = [c for c in chorales if c.split == "train"]
    valid = [c for c in chorales if c.split == "valid"]
    weights = np.array([len(c.grid) for c in train], dtype=np.float64)
    weights /= weights.sum()
    shifts = [allowed_shifts(c) for c in train]
    config = ComposerConfig(d_model=args.d_model, layers=args.layers, heads=args.d_model // 32,
                            d_ff=4 * args.d_model, context=args.context)
    torch.manual_seed(args.seed)
    model = ComposerNet(config, args.dropout)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    state = {"step": 0, "elapsed": 0.0, "best": math.inf}
    ckpt = args.out / "checkpoint.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        state = saved["state"]
        say(f"resumed at step {state['step']}, {state['elapsed'] / 60:.1f} min")
    rng = np.random.default_rng(args.seed + state["step"])
    say(f"{len(train)} train / {len(valid)} valid pieces; {sum(p.numel() for p in model.parameters())} parameters; "
        f"command: python -m wavenet_rt.compose.train {shlex.join(argv if argv is not None else sys.argv[1:])}")
    budget = args.minutes * 60
    began, last_save = time.monotonic() - state["elapsed"], time.monotonic()

    def save_checkpoint() -> None:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, ckpt)

    running = None
    while True:
        state["elapsed"] = time.monotonic() - began
        done = state["elapsed"] >= budget
        if state["step"] % args.eval_every == 0 or done:
            nll = validation_nll(model, valid, args.context)
            improved = nll < state["best"]
            if improved:
                state["best"] = nll
                tensors = {k: v.detach().numpy() for k, v in model.state_dict().items()}
                save_composer(tensors, config, args.out / "composer.safetensors",
                              {"valid_nll": f"{nll:.4f}", "steps": str(state["step"]),
                               "minutes": f"{state['elapsed'] / 60:.1f}"})
            say(f"step {state['step']} {state['elapsed'] / 60:.1f} min train {running or float('nan'):.4f} "
                f"valid {nll:.4f}{' *' if improved else ''}")
        if done:
            save_checkpoint()
            return 0
        frac = state["elapsed"] / budget
        lr = args.lr * min(1.0, (state["step"] + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        (prev, voice, phase, targets), keys = batch(train, weights, shifts, rng, args.batch, args.context,
                                                    config.bos)
        logits = model(*(torch.from_numpy(a) for a in (prev, voice, phase, keys)))
        loss = F.cross_entropy(logits.reshape(-1, config.vocab), torch.from_numpy(targets).reshape(-1),
                               ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        state["step"] += 1
        if time.monotonic() - last_save > 300:
            save_checkpoint()
            last_save = time.monotonic()


if __name__ == "__main__":
    sys.exit(main())
