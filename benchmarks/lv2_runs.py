# The LV2 plugin in jalv on JACK's dummy driver, for benchmarks/latency.py --lv2: key-to-sound beside `play`
# (computed in run() and ahead), and dense-chord soaks in which jackd's own log says whose each xrun was and
# the plugin's load and underruns ports are read through jalv's console.
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np
from live_runs import chord_messages, live_run, measure_notes, note_figures, note_messages

JALV = "wavenet_rt_jalv"  # jalv's JACK client name: jackd names it when it is late
CONTROL = "midisine"  # jack_midisine's


def jalv_run(period: int, notes: int, soak_seconds: float, model_file: Path, work: Path,
             ahead_ms: float | None = None) -> dict:
    """The LV2 plugin (this checkout's bundle) in jalv on a JACK server at `period` frames, its saved state
    choosing `model_file`, its `ahead` port at `ahead_ms` (None: the plugin's default): `notes` notes for
    latency as live_run plays them (none: no latency figures), then (if asked) a soak of dense chords
    (jalv_soak). The latency and underruns ports as jalv showed them at the end."""
    from wavenet_rt.live.probe import JackProbe, JackServer
    from wavenet_rt.lv2 import BUNDLE, ask_monitors, monitored, start_jalv, write_state

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
            on, off, xruns_notes = measure_notes(probe, note_messages(notes, period))
            figures = {**note_figures(on, off), "jack_xruns_during_notes": xruns_notes}
        soak = jalv_soak(server, probe, soak_seconds, jalv, jalv_log) if soak_seconds else None
        probe.close()
        ask_monitors(jalv)
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

    from wavenet_rt.lv2 import ask_monitors

    done = threading.Event()

    def ask():
        while not done.wait(every):
            ask_monitors(jalv)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    try:
        yield
    finally:
        done.set()
        asker.join()


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
