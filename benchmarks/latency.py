# The headline benchmark: how fast each engine generates, for each standard model size, beside the PyTorch
# incremental generator measured in the same run (so every figure is also a ratio); and, where jackd is
# installed, the live synth measured from outside over JACK: key-to-sound latency, jitter, underruns; the voice
# cost curve (N awake voices beside one stream at a time and the machine's own fp32 matmul rate); with --lv2,
# the LV2 plugin in jalv beside play. Prints tables, writes JSON (and a PNG plot) to benchmarks/results/.
# `--quick` is the CI-sized run.
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
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
    p.add_argument("--notes", type=int, default=120, help="notes per live latency run (default 120)")
    p.add_argument("--soak", type=float, default=600, help="seconds of each underrun soak run (default 600)")
    p.add_argument("--no-engines", dest="engines", action="store_false", help="only the live part")
    p.add_argument("--harmonize", action="store_true",
                   help="only `play --midi-in --harmonize` (shipped model and composer) under a melody for --soak "
                        "seconds at 128-frame periods: underruns and the harmoniser's key-to-harmony times")
    p.add_argument("--only-voices", action="store_true", help="only the voice cost curve (no engine table, no live)")
    p.add_argument("--lv2", action="store_true",
                   help="only the LV2 plugin in jalv beside play (key-to-sound at 64 and 128 frames, the soak at 128); "
                        "writes lv2-latency-*.json")
    p.add_argument("--lv2-soak-model", type=Path, metavar="MODEL",
                   help="with --lv2: also soak jalv playing MODEL (e.g. the shipped one) with its own voices")
    p.add_argument("--lv2-ahead", type=float, metavar="MS",
                   help="with --lv2-soak-model: the plugin's Compute ahead in that soak (default: the plugin's own, "
                        "10 ms)")
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


def matmul_rate(seconds: float) -> float:
    """Multiply-adds per second of a torch fp32 MATMUL^3 matrix product on one thread: what this machine's
    core does at its best, measured in the same run as the engines."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(MATMUL, MATMUL), torch.randn(MATMUL, MATMUL)
        for _ in range(3):
            a @ b
        times = time_blocks(lambda: a @ b, seconds, min_blocks=5)
    finally:
        torch.set_num_threads(threads)
    return MATMUL**3 / float(np.median(times))


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
    matmul = matmul_rate(seconds)
    out = {"matmul_multiply_adds_per_s": matmul, "matmul": f"torch fp32 {MATMUL}x{MATMUL} @ {MATMUL}x{MATMUL}, "
           "1 thread", "sizes": {}}
    print(f"\nvoice cost curve (all voices awake, {BLOCK}-sample blocks); fp32 matmul on one thread: "
          f"{matmul / 1e9:.2f} G multiply-adds/s")
    for size in sizes:
        model = make_model(size)
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


def note_messages(notes: int, seed: int) -> list[tuple[float, bytes]]:
    """`notes` 50 ms notes, 90-110 ms apart at random, so they fall anywhere within a period."""
    rng = np.random.default_rng(seed)
    messages, t = [], 0.0
    for _ in range(notes):
        messages += [(t, bytes([0x90, 60, 100])), (t + 0.05, bytes([0x80, 60, 0]))]
        t += rng.uniform(0.09, 0.11)
    return messages


def chord_messages(seconds: float, seed: int) -> list[tuple[float, bytes]]:
    """Dense chords for `seconds`: every 100-300 ms a chord of 4-10 keys across the keyboard, each key held
    0.2-0.8 s, so chords overlap and a dozen or more keys are often down at once."""
    rng = np.random.default_rng(seed)
    messages, t = [], 0.0
    while t < seconds:
        for note in rng.choice(np.arange(24, 108), int(rng.integers(4, 11)), replace=False):
            end = min(t + rng.uniform(0.2, 0.8), seconds)
            messages += [(t, bytes([0x90, int(note), int(rng.integers(40, 128))])), (end, bytes([0x80, int(note), 0]))]
        t += rng.uniform(0.1, 0.3)
    return messages


def measure_notes(probe, notes: int, seed: int) -> tuple[list[int], list[int], int]:
    """Plays note_messages into the synth and returns the frames from each note-on to sound and from each
    note-off to silence (note_latencies), and the JACK xruns the probe saw meanwhile."""
    from wavenet_rt.live.probe import note_latencies

    xruns_before = probe.xruns
    probe.play(note_messages(notes, seed))
    probe.wait_until_sent(notes * 0.11 + 5)
    time.sleep(0.3)
    on, off = note_latencies(probe)
    return on, off, probe.xruns - xruns_before


def note_figures(on: list[int], off: list[int], rate: int = 48000) -> dict:
    """measure_notes' frames as milliseconds: key-to-sound percentiles, note-off to silence."""
    on_ms = np.array(on, dtype=float) * 1e3 / rate
    p95 = float(np.percentile(on_ms, 95))
    return {"notes": len(on), "key_to_sound_ms": {
                "p5": float(np.percentile(on_ms, 5)), "p50": float(np.median(on_ms)), "p95": p95,
                "max": float(on_ms.max()), "min": float(on_ms.min()), "jitter_p95_minus_min": p95 - float(on_ms.min())},
            "note_off_to_silence_ms_p50": float(np.median(np.array(off, dtype=float) * 1e3 / rate))}


@contextlib.contextmanager
def play_on_jack(name: str, period: int, options: list[str], stats_file: Path, log: Path | None = None):
    """A JACK dummy server at 48 kHz / `period` frames (logging to `log`) with `python -m wavenet_rt.play
    OPTIONS --stats STATS_FILE` on it; both stopped on leaving, play first, so that it writes its counters."""
    import subprocess

    from wavenet_rt.live.probe import JackServer

    server = JackServer(name, 48000, period, log=log)
    env = {**os.environ, "JACK_DEFAULT_SERVER": server.name}
    play = subprocess.Popen([sys.executable, "-m", "wavenet_rt.play", *options, "--stats", str(stats_file)],
                            env=env, stderr=subprocess.DEVNULL)
    try:
        yield server
    finally:
        play.terminate()
        play.wait(timeout=30)
        server.stop()


def live_run(period: int, notes: int, soak_seconds: float, model_file: Path, work: Path) -> dict:
    """One JACK server at `period` frames: `notes` notes at random offsets for latency, then (if asked) a
    soak run counting the synth's underruns beside the server's xruns seen by the probe (the control)."""
    from wavenet_rt.live.probe import JackProbe

    stats_file = work / f"stats_{period}.json"
    options = ["--model", str(model_file), "--midi-in", "--latency", "0.1"]
    with play_on_jack(f"wavenet_rt_bench_{period}", period, options, stats_file) as server:
        probe = JackProbe(server.name, notes * 0.1 + 5)
        probe.connect("wavenet_rt:", "PortAudio:out_0")
        on, off, xruns_notes = measure_notes(probe, notes, period)
        soak_xruns = None
        if soak_seconds:
            xruns_before = probe.xruns
            time.sleep(soak_seconds)
            soak_xruns = probe.xruns - xruns_before
        probe.close()
    stats = json.loads(stats_file.read_text())
    seconds = (stats["last_callback_ns"] - stats["first_callback_ns"]) / 1e9
    return {"period": period, **note_figures(on, off), "jack_xruns_during_notes": xruns_notes,
            "soak_seconds": soak_seconds,
            "synth_underruns": stats["underruns"], "synth_device_xruns": stats["device_xruns"],
            "synth_callback_max_ms": 1e3 * stats["callback_seconds_max"],
            "synth_callback_cpu_max_ms": 1e3 * stats["callback_cpu_seconds_max"],
            "control_jack_xruns_during_soak": soak_xruns, "synth_target_frames": stats["target_frames"],
            "played_seconds": seconds, "frames_delivered": stats["frames_delivered"],
            "frames_expected": seconds * 48000, "synth_latency_ms": 1e3 * stats["latency_s"]}


def melody_messages(seconds: float, seed: int) -> list[tuple[float, bytes]]:
    """A melody for the harmoniser for `seconds`: a seeded walk on C major from C4 to G5 in steps of up to a
    third, eighths to dotted quarters at 80 beats per minute, each key released 30 ms before the next."""
    rng = np.random.default_rng(seed)
    scale = [n for n in range(60, 80) if n % 12 in (0, 2, 4, 5, 7, 9, 11)]
    messages, t, degree = [], 0.0, 7
    while t < seconds:
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(scale) - 1))
        length = 0.75 * float(rng.choice([0.5, 1.0, 1.5]))
        messages += [(t, bytes([0x90, scale[degree], int(rng.integers(60, 110))])),
                     (t + length - 0.03, bytes([0x80, scale[degree], 0]))]
        t += length
    return messages


def harmonize_run(period: int, seconds: float, work: Path) -> dict:
    """`play --midi-in --harmonize` with the shipped model and composer on a JACK server at `period` frames,
    a melody from a JACK client for `seconds`: the synth's underruns beside the xruns the probe saw, and the
    harmoniser's time from each key to its harmony (play's --stats)."""
    from wavenet_rt.live.probe import JackProbe

    stats_file = work / f"harmonize_{period}.json"
    log = work / f"jackd_harmonize_{period}.log"
    queue_ms = 10.0  # play's --latency: a harmony later than this misses its melody's block
    options = ["--midi-in", "--harmonize", "--latency", str(queue_ms)]
    with play_on_jack(f"wavenet_rt_harmonize_{period}", period, options, stats_file, log) as server:
        probe = JackProbe(server.name, 5, name="wavenet_rt_probe_harmonize")
        probe.connect("wavenet_rt:", "PortAudio:out_0")
        messages = melody_messages(seconds, period)
        probe.play(messages)
        probe.wait_until_sent(seconds + 10)
        time.sleep(0.5)
        xruns, causes = probe.xruns, server.xrun_causes()
        probe.close()
    stats = json.loads(stats_file.read_text())
    keys = sum(1 for _, m in messages if m[0] == 0x90)
    return {"period": period, "seconds": seconds, "melody_keys": keys, "synth_underruns": stats["underruns"],
            "synth_device_xruns": stats["device_xruns"], "probe_jack_xruns": xruns, "xruns_by_cause": causes,
            "queue_depth_ms": queue_ms, **{k: v for k, v in stats.items() if k.startswith("harmon")}}


JALV = "wavenet_rt_jalv"  # jalv's JACK client name: jackd names it when it is late
CONTROL = "midisine"  # jack_midisine's


def jalv_run(period: int, notes: int, soak_seconds: float, model_file: Path, work: Path,
             ahead_ms: float | None = None) -> dict:
    """The LV2 plugin (this checkout's bundle) in jalv on a JACK server at `period` frames, its saved state
    choosing `model_file`, its `ahead` port at `ahead_ms` (None: the plugin's default): `notes` notes for
    latency as live_run plays them (none: no latency figures), then (if asked) a soak of dense chords
    (jalv_soak). The latency and underruns ports as jalv showed them at the end."""
    from wavenet_rt.live.probe import JackProbe, JackServer
    from wavenet_rt.lv2 import BUNDLE, monitored, start_jalv, write_state

    if not (BUNDLE / "manifest.ttl").is_file():
        raise FileNotFoundError(f"no LV2 bundle at {BUNDLE}: build it (needs lv2-dev; setup.py build_ext --inplace)")
    state = write_state(work / "state", model_file)
    # a name of its own per run: a server started under the name of one just stopped can find its sockets
    # still there and quit
    run = f"{period}_" + ("default" if ahead_ms is None else f"ahead{ahead_ms:g}".replace(".", "_"))
    server = JackServer(f"wavenet_rt_lv2_{run}", 48000, period, log=work / f"jackd_lv2_{run}.log")
    jalv_log = work / f"jalv_{run}.log"
    with open(jalv_log, "w") as log:
        jalv = start_jalv(server.name, state, JALV, log, console=True,
                          controls=None if ahead_ms is None else {"ahead": ahead_ms})
    try:
        probe = JackProbe(server.name, notes * 0.1 + 5, name="wavenet_rt_lv2_probe")
        probe.connect(f"{JALV}:midi_in", f"{JALV}:out")
        figures = {}
        if notes:
            on, off, xruns_notes = measure_notes(probe, notes, period)
            figures = {**note_figures(on, off), "jack_xruns_during_notes": xruns_notes}
        soak = jalv_soak(server, probe, soak_seconds, jalv, jalv_log) if soak_seconds else None
        probe.close()
        jalv.stdin.write("monitors\n")
        jalv.stdin.flush()
        time.sleep(0.5)
    finally:
        jalv.terminate()
        jalv.wait(timeout=30)
        server.stop()
    text = jalv_log.read_text()
    if f"loaded {model_file}" not in text:
        raise RuntimeError(f"jalv did not load {model_file}: {text[-2000:]}")
    return {"period": period, "model": str(model_file), "ahead_ms": ahead_ms,
            "computed": "ahead" if "computed ahead" in text else "in run()",
            "latency_port_frames": monitored(text, "latency")[-1], "underruns": monitored(text, "underruns")[-1],
            **figures, "soak": soak}


def jalv_log_since(jalv_log: Path, since: int) -> str:
    with open(jalv_log, "rb") as f:
        f.seek(since)
        return f.read().decode(errors="replace")


def jalv_soak(server, probe, seconds: float, jalv, jalv_log: Path) -> dict:
    """`seconds` of dense chords into jalv, with a control instrument on the same server hearing the same
    notes: jack_midisine (JACK's example sine synth, next to no work). Every JACK xrun the probe sees is
    counted (as live_run's soak counts them), and jackd's own account of each says whose it was (xrun_causes).
    The plugin's are jalv's cycles still running at the deadline or finishing after it; jalv signalled but
    not yet woken is the scheduler's delay (its cycle, the plugin's run() inside, had not begun), as are all
    the control's; "driver" is the server's timer waking late. The plugin's own load port says whether its
    run() ever needed more than its block: if not, no xrun was its work's doing."""
    import subprocess

    from wavenet_rt.lv2 import monitored

    env = {**os.environ, "JACK_DEFAULT_SERVER": server.name, "JACK_NO_START_SERVER": "1"}
    control = subprocess.Popen(["jack_midisine"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe.send_to(f"{CONTROL}:midi_in")
        messages = chord_messages(seconds, server.period)
        mark, xruns_before, sent_before = server.log_mark(), probe.xruns, len(probe.sent)
        jalv_mark = jalv_log.stat().st_size
        probe.play(messages)
        with asking_for_monitors(jalv, 0.25):  # the load port's window
            probe.wait_until_sent(seconds + 30)
        time.sleep(0.5)
        causes = server.xrun_causes(mark)
        shown = jalv_log_since(jalv_log, jalv_mark)
        # the load port: per quarter second, the larger of run()'s CPU time and the generator's engine time
        # (when computing ahead), in % of the audio they were for; the underruns port: cycles the ring was short
        loads, underruns = monitored(shown, "load"), monitored(shown, "underruns")
    finally:
        control.terminate()
        control.wait(timeout=10)
    jalv, control_causes = causes.get(JALV, {}), causes.get(CONTROL, {})
    return {"seconds": seconds, "midi_events_sent": len(probe.sent) - sent_before,
            "midi_events_scheduled": len(messages), "probe_jack_xruns": probe.xruns - xruns_before,
            "xruns_by_cause": causes, "plugin_xruns": jalv.get("Running", 0) + jalv.get("finished late", 0),
            "jalv_not_woken_xruns": jalv.get("Triggered", 0), "control_xruns": sum(control_causes.values()),
            "control_running_xruns": control_causes.get("Running", 0) + control_causes.get("finished late", 0),
            "server_xruns": sum(causes.get("driver", {}).values()),
            "plugin_load_readings": len(loads), "plugin_load_max_pct": max(loads, default=None),
            "plugin_load_p99_pct": float(np.percentile(loads, 99)) if loads else None,
            "plugin_blocks_over_100pct_readings": sum(v > 100 for v in loads),
            "plugin_underruns": underruns[-1] - underruns[0] if underruns else None}


@contextlib.contextmanager
def asking_for_monitors(jalv, every: float):
    """Types `monitors` into jalv's console every `every` seconds while the block runs (its main thread
    answers; the audio thread is not involved)."""
    import threading

    done = threading.Event()

    def ask():
        while not done.wait(every):
            jalv.stdin.write("monitors\n")
            jalv.stdin.flush()

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    try:
        yield
    finally:
        done.set()
        asker.join()


def run_live(args) -> list[dict]:
    import tempfile

    from wavenet_rt import save_model
    from wavenet_rt.live.probe import impulse_model

    rows = []
    with tempfile.TemporaryDirectory() as work:
        model_file = Path(work) / "impulse.safetensors"
        save_model(impulse_model(), model_file)
        for period in (64, 128, 512):
            soak = args.soak if period in (128, 512) else 0
            rows.append(live_run(period, args.notes, soak, model_file, Path(work)))
            print_live(rows[-1])
    return rows


def run_lv2(args) -> list[dict]:
    """The LV2 plugin in jalv beside `play`, both with the impulse model (so neither's figure holds a model's
    own attack), at 64- and 128-frame periods in the same run; the soak (if asked) at 128."""
    import tempfile

    from wavenet_rt import save_model
    from wavenet_rt.live.probe import impulse_model

    rows = []
    with tempfile.TemporaryDirectory() as work:
        model_file = Path(work) / "impulse.safetensors"
        save_model(impulse_model(), model_file)
        for period in (64, 128):
            row = {"period": period, "play": live_run(period, args.notes, 0, model_file, Path(work))}
            # in run(); and ahead as little as play's --latency 0.1 asks (the ring one period and a block deep)
            for host, ahead in (("jalv", 0.0), ("jalv_ahead", 0.1)):
                row[host] = jalv_run(period, args.notes, args.soak if period == 128 and not ahead else 0,
                                     model_file, Path(work), ahead)
                row[f"{host}_minus_play_ms"] = {q: row[host]["key_to_sound_ms"][q] - row["play"]["key_to_sound_ms"][q]
                                               for q in ("p5", "p50", "p95")}
            rows.append(row)
            print_lv2(rows[-1])
    return rows


def run_lv2_model_soak(model_file: Path, seconds: float, ahead_ms: float | None = None) -> dict:
    """The dense-chord soak at 128 frames with a trained model in jalv (its own voices; computed ahead by
    `ahead_ms`, None: the plugin's default): no latency figures (the impulse detector needs the impulse
    model), the xruns, the plugin's load and its underruns."""
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        run = jalv_run(128, 0, seconds, model_file.resolve(), Path(work), ahead_ms)
    print_soak(run["soak"], model_file.name)
    return {"period": 128, "model": str(model_file), "computed": run["computed"], "ahead_ms": ahead_ms,
            "latency_port_frames": run["latency_port_frames"], "soak": run["soak"]}


def print_lv2(r: dict) -> None:
    for host in ("play", "jalv", "jalv_ahead"):
        k = r[host]["key_to_sound_ms"]
        print(f"{host}, {r['period']:3d}-frame periods: key-to-sound p5 {k['p5']:.2f} p50 {k['p50']:.2f} "
              f"p95 {k['p95']:.2f} max {k['max']:.2f} ms over {r[host]['notes']} notes, "
              f"{r[host]['jack_xruns_during_notes']} JACK xruns")
    if r["jalv"]["soak"]:
        print_soak(r["jalv"]["soak"], "impulse model")


def print_soak(soak: dict, model: str) -> None:
    print(f"jalv soak ({model}), {soak['seconds']:.0f} s of dense chords ({soak['midi_events_sent']} MIDI events): "
          f"{soak['probe_jack_xruns']} JACK xruns seen; jackd found jalv running late {soak['plugin_xruns']} "
          f"times, not yet woken {soak['jalv_not_woken_xruns']}; the control instrument late "
          f"{soak['control_xruns']} ({soak['control_running_xruns']} running); its own timer late "
          f"{soak['server_xruns']}; the plugin's load port: max {soak['plugin_load_max_pct']}% "
          f"(p99 {soak['plugin_load_p99_pct']}%) of a block over {soak['plugin_load_readings']} readings, "
          f"{soak['plugin_blocks_over_100pct_readings']} over 100%; its underruns {soak['plugin_underruns']}; "
          f"{soak['xruns_by_cause']}")


def print_live(r: dict) -> None:
    k = r["key_to_sound_ms"]
    soak = (f"; soak {r['soak_seconds']:.0f} s: synth underruns {r['synth_underruns']}, control JACK xruns "
            f"{r['control_jack_xruns_during_soak']}, longest callback {r['synth_callback_max_ms']:.3f} ms "
            f"({r['synth_callback_cpu_max_ms']:.3f} ms of CPU)"
            if r["soak_seconds"] else "")
    print(f"live, {r['period']:3d}-frame periods: key-to-sound p50 {k['p50']:.2f} p95 {k['p95']:.2f} "
          f"max {k['max']:.2f} ms, jitter {k['jitter_p95_minus_min']:.2f} ms over {r['notes']} notes; frames delivered "
          f"{r['frames_delivered']} vs {r['frames_expected']:.0f} expected{soak}")


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
    if args.harmonize:
        import tempfile

        with tempfile.TemporaryDirectory() as work:
            row = harmonize_run(128, args.soak, Path(work))
        results = {"machine": machine(), "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "command": " ".join(["benchmarks/latency.py", *(sys.argv[1:] if argv is None else argv)]),
                   "model": "shipped (default.safetensors), shipped composer", "harmonize": row}
        print(json.dumps(row, indent=1))
        (args.out / f"harmonize-{stamp}.json").write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out / f'harmonize-{stamp}.json'}", file=sys.stderr)
        return 0
    if args.only_voices:
        args.engines, args.live = False, False
    results = run(args)
    results["voices"] = run_voices(args)
    live = args.live if args.live is not None else (not args.quick and shutil.which("jackd") is not None)
    if live:
        results["live"] = run_live(args)
    name = f"latency-{'quick-' if args.quick else ''}{stamp}"
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=1))
    plot(results, args.out / f"{name}.png")
    print(f"\nwrote {args.out / name}.json and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
