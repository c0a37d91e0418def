# The CUDA engine's benchmark on the GPU machine: samples/s for the standard sizes, one stream and many,
# beside PyTorch on the same GPU (one sample per CUDA-graph replay, the fairest PyTorch baseline) timed
# in the same run, so every figure is also a ratio; and the kernel's two skip paths side by side. Writes
# gpu-<time>.json (device name in it) to --out.
from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from wavenet_rt import WaveNet, WaveNetConfig
from wavenet_rt.engine import Engine
from wavenet_rt.weights import default_model_path, load_model

COND_CHANNELS = 176  # roll88_onset88, as in latency.py
CALL_SECONDS = 0.4  # each timed call; the median of three is quoted
TARGETS = {"medium_1": 96000, "medium_many_per_stream": 48000, "large_1": 48000}
SKIP_ENV = "WAVENET_RT_CUDA_SKIP"  # forces the kernel's skip path (csrc/cuda/cuda_engine.cu), read by Engine()


def make_model(size: str) -> WaveNet:
    torch.manual_seed(0)
    return WaveNet(WaveNetConfig.preset(size, cond_channels=COND_CHANNELS, cond_hop=64)).eval()


def calibrated(rate_guess: float, quick: bool) -> int:
    """Samples per timed call so that each takes about CALL_SECONDS (the engines' rates span 100x)."""
    seconds = CALL_SECONDS / 4 if quick else CALL_SECONDS
    return int(min(32768, max(64, rate_guess * seconds)) // 64 * 64)


def engine_rate(model: WaveNet, streams: int, precision: str, quick: bool, repeats: int = 3) -> dict:
    """Median samples/s per stream of generate() calls sized to take ~CALL_SECONDS each, copies to the
    host included."""
    engine = Engine(model, backend="cuda", streams=streams, precision=precision)
    engine.reset(0)

    def timed(samples: int) -> float:
        cond = np.zeros((streams, COND_CHANNELS, engine.frames_for(samples)), np.float32)
        cond[:, 40] = 0.8  # a key held
        t0 = time.perf_counter()
        engine.generate(samples, cond)
        return time.perf_counter() - t0

    timed(64)  # first launch: primes from silence, loads the module
    samples = calibrated(128 / timed(128), quick)
    times = [timed(samples) for _ in range(repeats)]
    per_stream = samples / float(np.median(times))
    return {"backend": "cuda", "precision": precision, "streams": streams, "samples_per_call": samples,
            "details": engine.details, "samples_per_s_per_stream": per_stream, "samples_per_s": per_stream * streams,
            "seconds_per_call": times}


class GraphedTorchStep:
    """Fast-WaveNet in PyTorch on the GPU: per-layer rings indexed by a device-side step counter, Gumbel-max
    sampling, the whole sample captured once as a CUDA graph and replayed per sample."""

    def __init__(self, model: WaveNet, streams: int) -> None:
        dev = torch.device("cuda")
        self.m = model.to(dev)
        c = model.config
        self.t = torch.zeros((), dtype=torch.long, device=dev)
        self.code = torch.full((streams,), c.classes // 2, dtype=torch.long, device=dev)
        self.rings = [torch.zeros(streams, c.residual_channels, max(1, (c.kernel_size - 1) * d), device=dev)
                      for d in c.dilations]
        self.frame_bias = [layer.conv.bias.detach().clone() for layer in self.m.layers]  # cond held at zero
        self.graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.no_grad():
            for _ in range(3):  # warm-up before capture, as CUDA graphs require
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        with torch.cuda.graph(self.graph), torch.no_grad():
            self._step()

    def _step(self) -> None:
        c = self.m.config
        x = self.m.embed.weight.index_select(0, self.code)  # (B, R)
        skips = 0
        for layer, ring, bias in zip(self.m.layers, self.rings, self.frame_bias):
            d, k, length = layer.dilation, c.kernel_size, ring.shape[2]
            w = layer.conv.weight  # (G, R, k)
            a = x @ w[:, :, k - 1].t() + bias  # (B, G)
            for m in range(1, k):
                past = ring.index_select(2, torch.remainder(self.t - m * d, length)).squeeze(2)  # (B, R)
                a = a + past @ w[:, :, k - 1 - m].t()
            ring.index_copy_(2, torch.remainder(self.t, length).view(1), x.unsqueeze(2))
            filt, gate = a.chunk(2, dim=1)
            z = torch.tanh(filt) * torch.sigmoid(gate)  # (B, G/2)
            skips = skips + z @ layer.skip.weight[:, :, 0].t() + layer.skip.bias
            if layer.res is not None:
                x = x + z @ layer.res.weight[:, :, 0].t() + layer.res.bias
        h = torch.relu(torch.relu(skips) @ self.m.head1.weight[:, :, 0].t() + self.m.head1.bias)
        logits = h @ self.m.head2.weight[:, :, 0].t() + self.m.head2.bias  # (B, classes)
        gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp_(1e-9, 1.0)))
        self.code.copy_(torch.argmax(logits + gumbel, dim=1))
        self.t.add_(1)

    def seconds(self, samples: int) -> float:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(samples):
            self.graph.replay()
        torch.cuda.synchronize()
        return time.perf_counter() - t0


def torch_rate(model: WaveNet, streams: int, quick: bool, repeats: int = 3) -> dict:
    step = GraphedTorchStep(model, streams)
    samples = calibrated(64 / step.seconds(64), quick)
    per_stream = samples / float(np.median([step.seconds(samples) for _ in range(repeats)]))
    return {"backend": "pytorch-cuda-graph", "precision": "fp32", "streams": streams, "samples_per_call": samples,
            "details": "one CUDA-graph replay per sample", "samples_per_s_per_stream": per_stream,
            "samples_per_s": per_stream * streams}


def run(quick: bool, save) -> dict:
    """Every section; `save(results)` after each, so a run cut short by its timeout keeps what it measured."""
    plan = {  # size: (stream counts, precisions)
        "medium": ([1, 16, 128, 512], ["fp32", "fp16", "bf16"]),
        "large": ([1, 64], ["fp32", "fp16"]),
    }
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results = {"device": torch.cuda.get_device_name(0), "time": now, "targets": TARGETS, "sizes": {}}
    for size, (stream_counts, precisions) in plan.items():
        model = make_model(size)
        rows = []
        baselines = {s: torch_rate(model, s, quick) for s in stream_counts}
        model.cpu()
        for streams in stream_counts:
            rows.append(baselines[streams])
            for precision in precisions:
                row = engine_rate(model, streams, precision, quick)
                row["vs_pytorch"] = row["samples_per_s_per_stream"] / baselines[streams]["samples_per_s_per_stream"]
                rows.append(row)
                print_row(size, rows[-1])
        results["sizes"][size] = rows
        save(results)
    results["skip_paths"] = skip_path_rates(quick)
    save(results)
    results["shipped"] = realtime_streams(quick)
    save(results)
    return results


def skip_path_rates(quick: bool) -> dict:
    """The kernel's per-layer and deferred skip paths (issue 21) timed side by side: medium at one stream
    (the latency case the deferred path is for) and at 128 (throughput), each pair on the same warm GPU.
    Only the forced path when gpu_suite.sh forces one (after the planner's choice failed its smoke run)."""
    forced = os.environ.get(SKIP_ENV)
    paths = [forced] if forced else ["per_layer", "deferred"]
    model = make_model("medium")
    rows, ratios = [], {}
    try:
        for streams, precision in ((1, "fp16"), (1, "fp32"), (128, "fp32")):
            rates = {}
            for path in paths:
                os.environ[SKIP_ENV] = path  # read when the engine is made
                rows.append({**engine_rate(model, streams, precision, quick), "skip_path": path})
                rates[path] = rows[-1]["samples_per_s_per_stream"]
                print_row("medium", rows[-1], ratio=("skip path", path))
            if len(rates) == 2:
                key = f"medium_{streams}_{precision}"
                ratios[key] = rates["deferred"] / rates["per_layer"]
                print(f"{key}: deferred / per-layer skip path {ratios[key]:.3f}", flush=True)
    finally:
        if forced is None:  # the planner's choice again for what follows
            os.environ.pop(SKIP_ENV, None)
    return {"forced": forced, "deferred_vs_per_layer": ratios, "rows": rows}


def realtime_streams(quick: bool) -> dict:
    """How many streams of the shipped model one GPU keeps real time at 16 kHz and at 48 kHz: per-stream
    rates over a ladder of stream counts, each beside PyTorch at the same count (whose graph leaves out the
    model's period taps: a few multiply-adds per sample, so the ratio errs in PyTorch's favour)."""
    model = load_model(default_model_path())
    rows, best = [], {}
    for streams in (128, 256, 512, 1024, 2048):
        baseline = torch_rate(model, streams, quick)
        model.cpu()
        rows.append(baseline)
        for precision in ("fp32", "fp16"):
            row = engine_rate(model, streams, precision, quick)
            row["vs_pytorch"] = row["samples_per_s_per_stream"] / baseline["samples_per_s_per_stream"]
            rows.append(row)
            print_row("shipped", row)
            for rate in (16000, 48000):
                if row["samples_per_s_per_stream"] >= rate:
                    key = f"{precision}_{rate // 1000}k"
                    best[key] = max(best.get(key, 0), streams)
    return {"model": str(default_model_path().name), "sample_rate": model.config.sample_rate,
            "realtime_streams": best, "rows": rows}


def print_row(size: str, r: dict, ratio: tuple[str, str] | None = None) -> None:
    """One result line; `ratio` replaces the PyTorch ratio with a label and value of the caller's."""
    label, value = ratio or ("vs PyTorch+graphs", f"x{r['vs_pytorch']:.1f}")
    print(f"{size:7} {r['streams']:4d} streams {r['precision']:5} {r['samples_per_s_per_stream']:12,.0f} samples/s "
          f"per stream ({r['samples_per_s']:14,.0f} total)  {value} {label}  [{r['details']}]", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="CUDA engine throughput vs PyTorch on the same GPU.")
    p.add_argument("--quick", action="store_true", help="short calls: a smoke run")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("gpu_bench.py needs a CUDA device")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"gpu-{datetime.now():%Y%m%d-%H%M%S}.json"
    run(args.quick, lambda results: path.write_text(json.dumps(results, indent=1)))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
