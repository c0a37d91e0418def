# The headline benchmark: how fast each engine generates, for each standard model size, beside the PyTorch
# incremental generator measured in the same run (so every figure is also a ratio); and, where jackd is
# installed, the live synth measured from outside over JACK: key-to-sound latency, jitter, underruns; the voice
# cost curve (N awake voices beside one stream at a time and the machine's own fp32 matmul rate); with --lv2,
# the LV2 plugin in jalv beside play (live_runs.py and lv2_runs.py beside this file). Prints tables, writes JSON
# (and a PNG plot) to benchmarks/results/. `--quick` is the CI-sized run.
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from live_runs import chorale_runs, harmonize_run, key_to_sound_runs, polyphony_run, run_live
from lv2_runs import run_lv2, run_lv2_model_soak
from machine_info import machine

from wavenet_rt import WaveNetConfig
from wavenet_rt.engine import Engine, cuda_available
from wavenet_rt.voice_options import PLAYER_PRECISION

RATES = (16000, 24000, 48000)
BLOCK = 64  # samples per block in the per-block timings (a live synth's typical block)
COND_CHANNELS = 176  # roll88_onset88: the conditioning cost is part of the figure
VOICES = (1, 2, 4, 8, 16, 32)  # awake voices in the voice cost curve
PRECISIONS = ("fp32", "fp16", "int8")  # the CPU engine's weight storages
MATMUL = 1024  # the reference product: (MATMUL x MATMUL) @ (MATMUL x MATMUL) in fp32 on one thread

def parse_args(argv):
    p = argparse.ArgumentParser(description="Engine throughput and per-block latency against the PyTorch generator.")
    p.add_argument("--quick", action="store_true", help="small and short: a smoke run for CI")
    p.add_argument("--all", action="store_true", help="include the large model")
    p.add_argument("--seconds", type=float, default=3.0, help="measuring time per engine figure (default 3)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder for JSON and PNG")
    p.add_argument("--live", action=argparse.BooleanOptionalAction, default=None,
                   help="measure the live synth over JACK (default: when jackd is installed, not with --quick)")
    p.add_argument("--notes", type=int, help="notes per live latency run (default 120; 40 with --key-to-sound)")
    p.add_argument("--soak", type=float, default=600, help="seconds of each underrun soak run (default 600)")
    p.add_argument("--no-engines", dest="engines", action="store_false", help="only the live part")
    p.add_argument("--harmonize", action="store_true",
                   help="only `play --midi-in --harmonize` (shipped model and composer) under a melody for --soak "
                        "seconds at 128-frame periods: underruns and the harmoniser's key-to-harmony times")
    p.add_argument("--polyphony", action="store_true",
                   help="only `play --midi-in` (shipped model) under chords with the sustain pedal down for --soak "
                        "seconds at 128-frame periods: the synth's underruns; writes polyphony-*.json")
    p.add_argument("--chorale", action="store_true",
                   help="only `play --midi-file` of a four-part Bach chorale (bwv10.7, 45 s; shipped model, default "
                        "options) at 256- and 512-frame periods, --runs times each: underruns; writes chorale-*.json")
    p.add_argument("--key-to-sound", action="store_true",
                   help="only `play --midi-in` with a trained model (--model, default the shipped one) beside the "
                        "impulse model at 64- and 128-frame periods: key-to-sound to each model's own sound at -40 "
                        "dBFS, --notes spaced notes (default here 40); writes key-to-sound-*.json")
    p.add_argument("--model", type=Path, help="with --key-to-sound: the trained model (default the shipped one)")
    p.add_argument("--runs", type=int, default=5, help="with --chorale: runs per period (default 5)")
    p.add_argument("--voices", type=int, default=16, help="with --polyphony: play's --voices (default 16)")
    p.add_argument("--precision", choices=PRECISIONS, default=PLAYER_PRECISION,
                   help=f"with --polyphony: play's --precision (default {PLAYER_PRECISION}, play's own)")
    p.add_argument("--only-voices", action="store_true",
                   help="only the voice cost curve (no engine table, no live); writes voice-curve-*.json")
    p.add_argument("--lv2", action="store_true",
                   help="only the LV2 plugin in jalv beside play (key-to-sound at 64 and 128 frames, the soak at 128); "
                        "writes lv2-latency-*.json")
    p.add_argument("--lv2-soak-model", type=Path, metavar="MODEL",
                   help="with --lv2: also soak jalv playing MODEL (e.g. the shipped one) with its own voices")
    p.add_argument("--lv2-ahead", type=float, metavar="MS",
                   help="with --lv2-soak-model: the plugin's Compute ahead in that soak (default: the plugin's own, "
                        "10 ms)")
    args = p.parse_args(argv)
    if args.notes is None:
        args.notes = 40 if args.key_to_sound else 120
    return args


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
    cond = np.zeros((streams, engine.config.cond_channels, 2), np.float32)
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


def matmul_rates(seconds: float) -> dict[str, float]:
    """Multiply-adds per second of an fp32 MATMUL^3 matrix product on one thread, by torch (MKL) and by NumPy
    (OpenBLAS), measured in the same run as the engines: what this machine's core does at its best with a
    library. On AMD CPUs the two differ by 20 % and more, so the faster one is the ceiling."""
    import torch
    from threadpoolctl import threadpool_limits

    a, b = np.random.default_rng(0).standard_normal((2, MATMUL, MATMUL), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            products = {"torch": lambda: ta @ tb, "numpy": lambda: a @ b}
            rates = {}
            for name, product in products.items():
                for _ in range(3):
                    product()
                rates[name] = MATMUL**3 / float(np.median(time_blocks(product, seconds, min_blocks=5)))
    finally:
        torch.set_num_threads(threads)
    return rates


def multiply_adds_per_sample(config: WaveNetConfig) -> float:
    """The network's multiply-adds per generated sample: every layer's dilated taps and 1x1 residual / skip
    products, the two heads, and the conditioning projection once per frame."""
    r, g, s, h = config.residual_channels, config.gate_channels, config.skip_channels, config.gate_channels // 2
    layers = len(config.dilations)
    per_layer = config.kernel_size * r * g + h * (r + s)
    last = h * r  # the last layer has no residual output
    heads = s * s + s * config.classes
    cond = config.cond_channels * g * layers / config.cond_hop
    return layers * per_layer - last + heads + cond


def voice_curve(model, counts, thread_counts, seconds: float, matmul: float, precision: str) -> list[dict]:
    """Aggregate samples/s of N awake voices (each holds a key; no sleeping) per thread count, in one weight
    precision, beside one fp32 stream at a time on each thread (the unbatched cost: N voices take N times
    one) and beside the single-thread fp32 matrix-product rate (the share of the machine's multiply-add
    rate the engine reaches; for fp16 and int8 the same count of the model's multiply-adds)."""
    macs = multiply_adds_per_sample(model.config)
    rate = model.config.sample_rate
    one = engine_figures(model, "cpu", 1, 1, seconds)["samples_per_s"]
    rows = []
    for threads in thread_counts:
        for voices in counts:
            if threads > voices:
                continue
            figures = engine_figures(model, "cpu", voices, threads, seconds, precision)
            aggregate = figures["samples_per_s"]
            rows.append({"voices": voices, "threads": threads, "precision": precision, "samples_per_s": aggregate,
                         "real_time_factor": aggregate / (voices * rate),  # >= 1: every voice keeps up
                         "real_time_voices": aggregate / rate,
                         "one_stream_at_a_time_samples_per_s": one * threads,
                         "vs_one_stream_at_a_time": aggregate / (one * threads),
                         "multiply_adds_per_s": aggregate * macs,
                         "share_of_matmul_rate": aggregate * macs / (matmul * threads),
                         "block_ms": figures["block_ms"], "details": figures["details"]})
    return rows


def run_voices(args) -> dict:
    sizes = ["small"] if args.quick else ["small", "medium"]
    seconds = 0.3 if args.quick else args.seconds
    counts = (1, 2, 4) if args.quick else VOICES
    threads = (1,) if args.quick else (1, 2)
    precisions = ("fp32", "int8") if args.quick else PRECISIONS
    rates = matmul_rates(seconds)
    matmul = max(rates.values())
    out = {"matmul_multiply_adds_per_s": matmul, "matmul_by_library": rates,
           "matmul": f"the faster of torch and NumPy, fp32 {MATMUL}x{MATMUL} @ {MATMUL}x{MATMUL}, 1 thread",
           "sizes": {}}
    print(f"\nvoice cost curve (all voices awake, {BLOCK}-sample blocks); fp32 matmul on one thread: "
          f"{matmul / 1e9:.2f} G multiply-adds/s (torch {rates['torch'] / 1e9:.2f}, NumPy {rates['numpy'] / 1e9:.2f})")
    models = {size: make_model(size) for size in sizes}
    if not args.quick:  # the model players play by default: the one the polyphony targets name
        from wavenet_rt.weights import default_model_path, load_model

        models["shipped"] = load_model(default_model_path())
    for size, model in models.items():
        rows = [row for precision in precisions
                for row in voice_curve(model, counts, threads, seconds, matmul, precision)]
        out["sizes"][size] = {"multiply_adds_per_sample": multiply_adds_per_sample(model.config),
                              "sample_rate": model.config.sample_rate, "rows": rows}
        for r in rows:
            print(f"  {size:7} {r['precision']} {r['voices']:3d} voices {r['threads']} thread(s)  "
                  f"{r['samples_per_s']:10,.0f} samples/s  "
                  f"RTF {r['real_time_factor']:6.2f} ({r['real_time_voices']:5.1f} voices real time)  "
                  f"x{r['vs_one_stream_at_a_time']:.2f} vs one fp32 stream at a time  "
                  f"{100 * r['share_of_matmul_rate']:5.1f}% of matmul")
    return out


def run(args) -> dict:
    sizes = ["small"] if args.quick else ["small", "medium"] + (["large"] if args.all else [])
    seconds = 0.3 if args.quick else args.seconds
    backends = ["cpu"] + (["cuda"] if cuda_available() else [])
    cores = os.cpu_count() or 1
    stream_counts = [1, 2] if args.quick else sorted({1, 2, cores, 2 * cores, 4 * cores})
    results = {"machine": machine(), "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "block": BLOCK, "cond_channels": COND_CHANNELS, "sizes": {}}
    if not args.engines:
        sizes = []
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
    if not sizes:  # --only-voices
        fig, curve = plt.subplots(figsize=(8, 5))
        plot_voices(results["voices"], curve)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return
    fig, (ax, curve) = plt.subplots(1, 2, figsize=(12, 4))
    plot_voices(results["voices"], curve)
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


def plot_voices(voices: dict, ax) -> None:
    """The voice cost curve: share of the single-thread matmul rate against awake voices; one colour per
    size and thread count, one line style per precision."""
    styles = {"fp32": "-", "fp16": ":", "int8": "--"}
    colour = 0
    for size, data in voices["sizes"].items():
        for threads in sorted({r["threads"] for r in data["rows"]}):
            for precision in dict.fromkeys(r.get("precision", "fp32") for r in data["rows"]):
                rows = [r for r in data["rows"] if r["threads"] == threads and r.get("precision", "fp32") == precision]
                ax.plot([r["voices"] for r in rows], [100 * r["share_of_matmul_rate"] for r in rows], marker="o",
                        color=f"C{colour}", linestyle=styles.get(precision, "-."),
                        label=f"{size} {precision}, {threads} thread(s)")
            colour += 1
    ax.set_xscale("log", base=2)
    ax.set_xlabel("awake voices")
    ax.set_ylabel("% of the 1-thread fp32 matmul multiply-add rate")
    ax.set_ylim(bottom=0)
    ax.set_title("voice cost curve (per thread)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)


def main(argv=None) -> int:
    args = parse_args(argv)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.lv2:
        results = {"machine": machine(), "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "command": " ".join(["benchmarks/latency.py", *(sys.argv[1:] if argv is None else argv)]),
                   "model": "impulse (wavenet_rt.live.probe.impulse_model): no attack of its own", "notes": args.notes,
                   "lv2": run_lv2(args)}
        if args.lv2_soak_model and args.soak:
            results["lv2_model_soak"] = run_lv2_model_soak(args.lv2_soak_model, args.soak, args.lv2_ahead)
        (args.out / f"lv2-latency-{stamp}.json").write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.out / f'lv2-latency-{stamp}.json'}", file=sys.stderr)
        return 0
    if args.harmonize or args.polyphony or args.chorale or args.key_to_sound:
        import tempfile

        kind = ("harmonize" if args.harmonize else "polyphony" if args.polyphony else "chorale" if args.chorale
                else "key-to-sound")
        with tempfile.TemporaryDirectory() as work:
            row = (harmonize_run(128, args.soak, Path(work)) if args.harmonize else
                   polyphony_run(128, args.soak, args.voices, args.precision, Path(work)) if args.polyphony else
                   chorale_runs((256, 512), args.runs, Path(work)) if args.chorale else
                   key_to_sound_runs((64, 128), args.notes, Path(work), args.model))
        results = {"machine": machine(), "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "command": " ".join(["benchmarks/latency.py", *(sys.argv[1:] if argv is None else argv)]),
                   "model": (str(args.model) if args.key_to_sound and args.model else "shipped (default.safetensors)")
                   + (", shipped composer" if args.harmonize else ""),
                   kind: row}
        print(json.dumps(row, indent=1))
        (args.out / f"{kind}-{stamp}.json").write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out / f'{kind}-{stamp}.json'}", file=sys.stderr)
        return 0
    if args.only_voices:
        args.engines, args.live = False, False
    results = run(args)
    results["voices"] = run_voices(args)
    live = args.live if args.live is not None else (not args.quick and shutil.which("jackd") is not None)
    if live:
        results["live"] = run_live(args)
    kind = "voice-curve" if args.only_voices else "latency"
    name = f"{kind}-{'quick-' if args.quick else ''}{stamp}"
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=1))
    plot(results, args.out / f"{name}.png")
    print(f"\nwrote {args.out / name}.json and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
