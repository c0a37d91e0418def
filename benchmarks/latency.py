# The headline benchmark: how fast each engine generates, for each standard model size, beside the PyTorch
# incremental generator measured in the same run (so every figure is also a ratio). Prints a table, writes
# JSON and a PNG plot of real-time factor to benchmarks/results/. `--quick` is the CI-sized run.
# The live (MIDI-to-sound) part comes with the synth.
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from wavenet_rt import WaveNetConfig
from wavenet_rt.engine import Engine, cuda_available

RATES = (16000, 24000, 48000)
BLOCK = 64  # samples per block in the per-block timings (a live synth's typical block)
COND_CHANNELS = 176  # roll88_onset88: the conditioning cost is part of the figure


def parse_args(argv):
    p = argparse.ArgumentParser(description="Engine throughput and per-block latency against the PyTorch generator.")
    p.add_argument("--quick", action="store_true", help="small and short: a smoke run for CI")
    p.add_argument("--all", action="store_true", help="include the large model")
    p.add_argument("--seconds", type=float, default=3.0, help="measuring time per engine figure (default 3)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder for JSON and PNG")
    return p.parse_args(argv)


def machine() -> dict:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def make_model(size: str):
    import torch

    from wavenet_rt import WaveNet

    torch.manual_seed(0)
    config = WaveNetConfig.preset(size, cond_channels=COND_CHANNELS, cond_hop=64)
    return WaveNet(config).eval()


def time_blocks(generate, seconds: float, min_blocks: int = 20) -> np.ndarray:
    """Seconds per call of generate() (one block each), for at least `seconds` in total."""
    times = []
    started = time.perf_counter()
    while len(times) < min_blocks or time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        generate()
        times.append(time.perf_counter() - t0)
    return np.array(times)


def engine_figures(model, backend: str, streams: int, threads: int, seconds: float, precision: str = "fp32") -> dict:
    engine = Engine(model, backend=backend, streams=streams, threads=threads, precision=precision)
    engine.reset(0)
    cond = np.zeros((streams, COND_CHANNELS, 2), np.float32)
    cond[:, 40, :] = 0.8  # a key held

    def block():
        frames = engine.frames_for(BLOCK)
        engine.generate(BLOCK, cond[:, :, :frames])

    for _ in range(20):  # warm up caches and threads
        block()
    times = time_blocks(block, seconds)
    per_stream = BLOCK / times.sum() * len(times)
    return {"backend": engine.backend, "precision": precision, "details": engine.details, "streams": streams,
            "threads": threads,
            "samples_per_s_per_stream": per_stream, "samples_per_s": per_stream * streams,
            "block_ms": {"p50": 1e3 * float(np.median(times)), "p99": 1e3 * float(np.percentile(times, 99)),
                         "max": 1e3 * float(times.max())}, "blocks": len(times)}


def pytorch_figures(model, seconds: float) -> dict:
    """The PyTorch incremental generator, one stream on one thread: what a user would run instead."""
    import torch

    from wavenet_rt.incremental import IncrementalGenerator

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = IncrementalGenerator(model, batch=1)
        generator.reset(0)
        cond = torch.zeros(1, COND_CHANNELS, 2)

        def block():
            frames = (generator.t + BLOCK - 1) // 64 - generator.t // 64 + 1
            generator.generate(BLOCK, cond[:, :, :frames])

        block()
        times = time_blocks(block, seconds, min_blocks=3)
    finally:
        torch.set_num_threads(threads)
    rate = BLOCK / times.mean()
    return {"backend": "pytorch", "precision": "fp32", "details": "IncrementalGenerator, 1 thread", "streams": 1,
            "threads": 1,
            "samples_per_s_per_stream": rate, "samples_per_s": rate,
            "block_ms": {"p50": 1e3 * float(np.median(times)), "p99": 1e3 * float(np.percentile(times, 99)),
                         "max": 1e3 * float(times.max())}, "blocks": len(times)}


def run(args) -> dict:
    sizes = ["small"] if args.quick else ["small", "medium"] + (["large"] if args.all else [])
    seconds = 0.3 if args.quick else args.seconds
    backends = ["cpu"] + (["cuda"] if cuda_available() else [])
    cores = os.cpu_count() or 1
    stream_counts = [1, 2] if args.quick else sorted({1, 2, cores, 2 * cores, 4 * cores})
    results = {"machine": machine(), "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "block": BLOCK, "cond_channels": COND_CHANNELS, "sizes": {}}
    for size in sizes:
        model = make_model(size)
        rows = [pytorch_figures(model, seconds)]
        baseline = rows[0]["samples_per_s_per_stream"]
        for backend in backends:
            for streams in stream_counts:
                for threads in sorted({1, min(streams, cores)}):
                    if backend == "cuda" and threads != 1:
                        continue
                    rows.append(engine_figures(model, backend, streams, threads, seconds))
            rows.append(engine_figures(model, backend, 1, 1, seconds, precision="fp16"))
        for row in rows:
            row["vs_pytorch"] = row["samples_per_s_per_stream"] / baseline
            row["vs_pytorch_aggregate"] = row["samples_per_s"] / baseline
            row["real_time_factor"] = {str(r): row["samples_per_s_per_stream"] / r for r in RATES}
        results["sizes"][size] = rows
        print_table(size, rows)
    return results


def print_table(size: str, rows: list[dict]) -> None:
    print(f"\n{size}: samples/s per stream (aggregate), real-time factor per stream at 16/24/48 kHz, "
          f"{BLOCK}-sample block p50/p99/max ms")
    for r in rows:
        rtf = " ".join(f"{r['real_time_factor'][str(rate)]:6.2f}" for rate in RATES)
        b = r["block_ms"]
        print(f"  {r['backend']:8} {r['precision']} {r['streams']:3d} streams {r['threads']:2d} threads  "
              f"{r['samples_per_s_per_stream']:10,.0f} ({r['samples_per_s']:11,.0f})  RTF {rtf}  "
              f"{b['p50']:7.3f} {b['p99']:7.3f} {b['max']:7.3f}  x{r['vs_pytorch']:,.0f} vs pytorch  [{r['details']}]")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(results["sizes"])
    fig, ax = plt.subplots(figsize=(7, 4))
    labels, width = [], 0.8
    series: dict[str, list[float]] = {}
    for size in sizes:
        for r in results["sizes"][size]:
            if r["streams"] == 1 and r["threads"] == 1:
                series.setdefault(f"{r['backend']} {r['precision']}", []).append(r["real_time_factor"]["48000"])
    for i, (backend, values) in enumerate(series.items()):
        x = np.arange(len(sizes)) + (i - (len(series) - 1) / 2) * width / len(series)
        ax.bar(x, values, width / len(series), label=backend)
        labels.append(backend)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set_ylabel("real-time factor at 48 kHz (one stream, one thread)")
    ax.set_title(f"wavenet_rt engines on {results['machine']['cpu']}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    name = f"latency-{'quick-' if args.quick else ''}{stamp}"
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=1))
    plot(results, args.out / f"{name}.png")
    print(f"\nwrote {args.out / name}.json and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
