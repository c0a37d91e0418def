# How fast `train` steps on this machine: one step (forward, backward, clipped Adam) of a model on real windows
# of a dataset, three ways alternated in one process: the whole window in fp32 (the reference), only the
# positions the targets need (what `train` runs) and that under bfloat16 (`train --bf16`). Medians and ratios
# to the reference into benchmarks/results/train-speed-*.json. Time it alone: a training run beside it skews both.
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from machine_info import machine

from wavenet_rt.data import WindowSampler
from wavenet_rt.dataset.shards import load_manifest, model_mismatch
from wavenet_rt.train import window_loss
from wavenet_rt.weights import load_model

ROOT = Path(__file__).resolve().parents[1]
MODES = {"fp32_whole_window": (False, False), "fp32": (True, False), "bf16": (True, True)}  # (trim, bf16)
WARM_UP = 2  # rounds timed but not counted: allocator and oneDNN caches settle in them


def parse_args(argv):
    p = argparse.ArgumentParser(description="Time training steps of a model on a dataset's windows: fp32 over the "
                                "whole window, fp32 over only what the targets need (train's default), bf16 (--bf16).")
    p.add_argument("--data", type=Path, required=True, help="a dataset built by `python -m wavenet_rt.dataset build`")
    p.add_argument("--model", type=Path, required=True,
                   help="the model whose steps are timed (e.g. wavenet_rt/models/default.safetensors, the piano "
                        "runs' start); its sample rate and frames must be the dataset's")
    p.add_argument("--batch", type=int, default=4, help="windows per step (train's default 4)")
    p.add_argument("--window", type=int, default=4000, help="target samples per window (train's default 4000)")
    p.add_argument("--rounds", type=int, default=10,
                   help=f"rounds of one step per way, alternated; the first {WARM_UP} are not counted (default 10)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for the JSON")
    args = p.parse_args(argv)
    if args.rounds <= WARM_UP:
        p.error(f"--rounds must be more than the {WARM_UP} warm-up rounds")
    return args


def step(model, optimizer, tensors, trim: bool, bf16: bool) -> tuple[float, float]:
    """One training step; its wall time and its loss in bits."""
    inputs, targets, cond, glob = tensors
    start = time.perf_counter()
    if trim:
        loss = window_loss(model, inputs, targets, cond, glob, bf16=bf16)
    else:  # what train computed before forward(outputs=N): every position, then the targets' tail
        loss = F.cross_entropy(model(inputs, cond, glob)[..., -targets.shape[1]:], targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return time.perf_counter() - start, loss.item() / math.log(2)


def batches(args, model, manifest: dict) -> list[tuple]:
    """Fixed windows of the validation split (the train split where there is none), one batch per round."""
    split = "valid" if any(r["split"] == "valid" for r in manifest["items"].values()) else "train"
    sampler = WindowSampler(args.data, split, model.config.receptive_field, args.window,
                            use_cond=bool(model.config.cond_channels))
    spec = sampler.fixed_windows(args.batch * args.rounds)
    out = []
    for i in range(args.rounds):
        b = sampler.windows(spec[i * args.batch:(i + 1) * args.batch])
        arrays = (b.inputs, b.targets, b.cond, b.global_id)
        out.append(tuple(None if a is None else torch.from_numpy(a) for a in arrays))
    return out


def run(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    manifest = load_manifest(args.data)
    model = load_model(args.model)
    if problem := model_mismatch(model.config, manifest):
        raise SystemExit(f"error: the model does not fit the dataset: {problem}")
    rounds = batches(args, model, manifest)
    # lr 0: Adam does all its work but the weights stay put, so every way steps the same model
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0)
    times = {mode: [] for mode in MODES}
    bits = {mode: [] for mode in MODES}
    for i, tensors in enumerate(rounds):
        for mode, (trim, bf16) in MODES.items():
            seconds, loss = step(model, optimizer, tensors, trim, bf16)
            times[mode].append(seconds)
            bits[mode].append(loss)
        print(f"round {i + 1}/{args.rounds}: " + ", ".join(f"{m} {times[m][-1]:.3f} s" for m in MODES), file=sys.stderr)
    reference = float(np.median(times["fp32_whole_window"][WARM_UP:]))
    rows = []
    for mode in MODES:
        counted = times[mode][WARM_UP:]
        p50 = float(np.median(counted))
        rows.append({"mode": mode, "step_s": {"p50": p50, "min": min(counted), "max": max(counted)},
                     "target_samples_per_s": args.batch * args.window / p50, "vs_fp32_whole_window": reference / p50,
                     "bits_per_step": bits[mode]})
    return {"machine": machine(), "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": str(args.model),
            "data": str(args.data), "batch": args.batch, "window": args.window, "threads": torch.get_num_threads(),
            "native_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()), "warm_up_rounds": WARM_UP,
            "modes": rows}


def main(argv=None) -> int:
    args = parse_args(argv)
    results = {"command": " ".join(["benchmarks/train_speed.py", *(sys.argv[1:] if argv is None else argv)]),
               **run(args)}
    print(f"{'mode':<18} {'step p50 s':>10} {'min':>7} {'max':>7} {'samples/s':>10} {'speed-up':>8}")
    for r in results["modes"]:
        s = r["step_s"]
        print(f"{r['mode']:<18} {s['p50']:>10.3f} {s['min']:>7.3f} {s['max']:>7.3f} "
              f"{r['target_samples_per_s']:>10,.0f} {r['vs_fp32_whole_window']:>7.2f}x")
    if not results["native_bf16"]:
        print("note: this CPU has no native bfloat16 (AVX512-BF16 or AMX): bf16 is emulated", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"train-speed-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
