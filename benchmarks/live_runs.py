# The live synth measured from outside over JACK's dummy driver, for benchmarks/latency.py: `play` on a JACK
# server, notes from a JACK client, key-to-sound from the recording (wavenet_rt.live.probe); underrun soaks;
# the harmoniser's soak; a chorale played from its file. The MIDI material (single notes, dense chords, a
# melody) is shared with lv2_runs.py.
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def note_messages(notes: int, seed: int) -> list[tuple[float, bytes]]:
    """`notes` 50 ms notes, 90-110 ms apart at random, so they fall anywhere within a period."""
    rng = np.random.default_rng(seed)
    messages, t = [], 0.0
    for _ in range(notes):
        messages += [(t, bytes([0x90, 60, 100])), (t + 0.05, bytes([0x80, 60, 0]))]
        t += rng.uniform(0.09, 0.11)
    return messages


def spaced_note_messages(notes: int, seed: int) -> list[tuple[float, bytes]]:
    """`notes` notes of 0.2 s at velocity 100 on keys from C3 to C6, 1.6-1.8 s apart at random: each starts
    from silence (play's voices sleep half a second after their key lifts, so the one before is asleep) and
    anywhere within a period."""
    rng = np.random.default_rng(seed)
    messages, t = [], 0.0
    for _ in range(notes):
        key = int(rng.integers(48, 85))
        messages += [(t, bytes([0x90, key, 100])), (t + 0.2, bytes([0x80, key, 0]))]
        t += rng.uniform(1.6, 1.8)
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


def pedal_chord_messages(seconds: float, seed: int) -> list[tuple[float, bytes]]:
    """Chords under the sustain pedal for `seconds`: the pedal goes down for 2-4 s at a time, lifted for
    0.1 s between; under it a chord of 3-6 keys every 150-400 ms across C2-C7, each key struck at velocity
    40-127 and released after 0.1-0.5 s, the pedal holding it: far more notes ring than a player has voices."""
    rng = np.random.default_rng(seed)
    messages, t = [], 0.0
    while t < seconds:
        lift = min(t + rng.uniform(2.0, 4.0), seconds)
        messages.append((t, bytes([0xB0, 64, 127])))
        chord_time = t + 0.02
        while chord_time < lift - 0.05:
            for note in rng.choice(np.arange(36, 97), int(rng.integers(3, 7)), replace=False):
                end = min(chord_time + rng.uniform(0.1, 0.5), lift)
                messages += [(chord_time, bytes([0x90, int(note), int(rng.integers(40, 128))])),
                             (end, bytes([0x80, int(note), 0]))]
            chord_time += rng.uniform(0.15, 0.4)
        messages.append((lift, bytes([0xB0, 64, 0])))
        t = lift + 0.1
    return sorted(messages, key=lambda m: m[0])


def measure_notes(probe, messages: list[tuple[float, bytes]], threshold: float = 0.5,
                  within: int | None = None) -> tuple[list, list, int]:
    """Plays `messages` into the synth and returns the frames from each note-on until the recording passes
    `threshold` (within `within` frames) and from each note-off to silence (note_latencies), and the JACK
    xruns the probe saw meanwhile."""
    from wavenet_rt.live.probe import note_latencies

    xruns_before = probe.xruns
    probe.play(messages)
    probe.wait_until_sent(messages[-1][0] + 5)
    time.sleep(0.3)
    on, off = note_latencies(probe, threshold, within)
    return on, off, probe.xruns - xruns_before


def note_figures(on: list[int], off: list[int], rate: int = 48000) -> dict:
    """measure_notes' frames as milliseconds: key-to-sound percentiles over the notes heard (None if none
    was) and each note's (None: unheard), note-off to silence."""
    on_ms = np.array([f for f in on if f >= 0], dtype=float) * 1e3 / rate
    key_to_sound = None
    if len(on_ms):
        p95 = float(np.percentile(on_ms, 95))
        key_to_sound = {"p5": float(np.percentile(on_ms, 5)), "p50": float(np.median(on_ms)), "p95": p95,
                        "max": float(on_ms.max()), "min": float(on_ms.min()),
                        "jitter_p95_minus_min": p95 - float(on_ms.min())}
    return {"notes": len(on), "notes_heard": len(on_ms), "key_to_sound_ms": key_to_sound,
            "key_to_sound_ms_each": [round(f * 1e3 / rate, 3) if f >= 0 else None for f in on],
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


@contextlib.contextmanager
def probed_play(name: str, period: int, model_file: Path, stats_file: Path, seconds: float):
    """`play --midi-in` with MODEL_FILE and the least ring it allows on a JACK server of its own (play_on_jack),
    and a JackProbe for `seconds` whose MIDI goes into play and which records play's output; yields the probe."""
    from wavenet_rt.live.probe import JackProbe

    options = ["--model", str(model_file), "--midi-in", "--latency", "0.1"]
    with play_on_jack(name, period, options, stats_file) as server:
        probe = JackProbe(server.name, seconds)
        probe.connect("wavenet_rt:", "PortAudio:out_0")
        try:
            yield probe
        finally:
            probe.close()


@contextlib.contextmanager
def probed_soundfont(name: str, period: int, seconds: float):
    """fluidsynth playing the soundfont the models learn from, as datasets render it (TimGM6mb, their gain,
    reverb and chorus off), live on a JACK dummy server of its own at 48 kHz / `period` frames, and a JackProbe
    for `seconds` whose MIDI goes into it and which records its left channel; yields the probe."""
    import subprocess

    from wavenet_rt.dataset.audio import DEFAULT_GAIN, DEFAULT_SOUNDFONT, check_renderer
    from wavenet_rt.live.probe import JackProbe, JackServer

    check_renderer(DEFAULT_SOUNDFONT)  # fluidsynth and the soundfont, or an error naming the package
    client = "wavenet_rt_soundfont"
    command = ["fluidsynth", "-a", "jack", "-m", "jack", "-R", "0", "-C", "0", "-g", f"{DEFAULT_GAIN:g}", "-r", "48000",
               "-o", f"audio.jack.id={client}", "-o", f"midi.jack.id={client}", "-o", "audio.jack.autoconnect=0",
               str(DEFAULT_SOUNDFONT)]
    server = JackServer(name, 48000, period)
    synth = None
    try:
        # its shell reads stdin: a pipe never written keeps it running until terminated
        synth = subprocess.Popen(command, env={**os.environ, "JACK_DEFAULT_SERVER": server.name},
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = JackProbe(server.name, seconds)
        try:
            probe.connect(f"{client}:midi", f"{client}:left")
            yield probe
        finally:
            probe.close()
    finally:
        if synth is not None:
            synth.terminate()
            synth.wait(timeout=10)
        server.stop()


def live_run(period: int, notes: int, soak_seconds: float, model_file: Path, work: Path) -> dict:
    """One JACK server at `period` frames: `notes` notes at random offsets for latency, then (if asked) a
    soak run counting the synth's underruns beside the server's xruns seen by the probe (the control)."""
    stats_file = work / f"stats_{period}.json"
    with probed_play(f"wavenet_rt_bench_{period}", period, model_file, stats_file, notes * 0.1 + 5) as probe:
        on, off, xruns_notes = measure_notes(probe, note_messages(notes, period))
        soak_xruns = None
        if soak_seconds:
            xruns_before = probe.xruns
            time.sleep(soak_seconds)
            soak_xruns = probe.xruns - xruns_before
    stats = json.loads(stats_file.read_text())
    seconds = (stats["last_callback_ns"] - stats["first_callback_ns"]) / 1e9
    return {"period": period, **note_figures(on, off), "jack_xruns_during_notes": xruns_notes,
            "soak_seconds": soak_seconds,
            "synth_underruns": stats["underruns"],
            "synth_underruns_near_device_xrun": stats["underruns_near_device_xrun"],
            "synth_device_xruns": stats["device_xruns"],
            "synth_callback_max_ms": 1e3 * stats["callback_seconds_max"],
            "synth_callback_cpu_max_ms": 1e3 * stats["callback_cpu_seconds_max"],
            "control_jack_xruns_during_soak": soak_xruns, "synth_target_frames": stats["target_frames"],
            "played_seconds": seconds, "frames_delivered": stats["frames_delivered"],
            "frames_expected": seconds * 48000, "synth_latency_ms": 1e3 * stats["latency_s"]}


# A trained model's note has an attack of its own: its sound starts where the recording first passes
# -40 dBFS (an awake voice's idle hiss stays about 8 dB below; a sleeping one is silent). A note not heard
# within half a second counts as not heard. The soundfont it learned from, played live by fluidsynth, is
# measured the same way: its own attacks take time to reach -40 dBFS too (2-10 ms from C3 to C6 offline),
# which a faithful model inherits; fluidsynth takes each JACK MIDI event at the start of its period, so
# its row also holds up to a period of timing of its own.
ONSET_THRESHOLD = 0.01
ONSET_WITHIN_S = 0.5


def key_to_sound_runs(periods: tuple[int, ...], notes: int, work: Path, model: Path | None = None) -> list[dict]:
    """Key-to-sound of a trained model (default the shipped one; its own sound at -40 dBFS) beside the impulse
    model's, through `play --midi-in` with the least ring it allows (probed_play, as live_run), and beside the
    soundfont it learned from played live by fluidsynth (probed_soundfont), the same spaced notes for all three,
    at each period: what the model adds to the synth path (its frame, learned delay, attack), and what the
    instrument it imitates takes itself."""
    from wavenet_rt import save_model
    from wavenet_rt.live.probe import impulse_model
    from wavenet_rt.weights import default_model_path

    impulse_file = work / "impulse.safetensors"
    save_model(impulse_model(), impulse_file)
    rows = []
    for period in periods:
        messages = spaced_note_messages(notes, period)
        for name, model_file in (("impulse", impulse_file), ("trained", model or default_model_path())):
            stats_file = work / f"k2s_{name}_{period}.json"
            with probed_play(f"wavenet_rt_k2s_{period}", period, model_file, stats_file, messages[-1][0] + 10) as probe:
                on, off, xruns = measure_notes(probe, messages, ONSET_THRESHOLD, round(ONSET_WITHIN_S * probe.rate))
            stats = json.loads(stats_file.read_text())
            rows.append({"period": period, "model": name, **note_figures(on, off), "jack_xruns_during_notes": xruns,
                         "synth_underruns": stats["underruns"], "synth_latency_ms": 1e3 * stats["latency_s"]})
            print_key_to_sound(rows[-1], f"{stats['underruns']} underruns")
        with probed_soundfont(f"wavenet_rt_k2s_sf_{period}", period, messages[-1][0] + 10) as probe:
            on, off, xruns = measure_notes(probe, messages, ONSET_THRESHOLD, round(ONSET_WITHIN_S * probe.rate))
        rows.append({"period": period, "model": "soundfont", **note_figures(on, off),
                     "jack_xruns_during_notes": xruns})
        print_key_to_sound(rows[-1], f"{xruns} JACK xruns")
    return rows


def print_key_to_sound(row: dict, counters: str) -> None:
    k = row["key_to_sound_ms"]
    figures = f"p5 {k['p5']:.2f} p50 {k['p50']:.2f} p95 {k['p95']:.2f} max {k['max']:.2f} ms" if k else "no note heard"
    print(f"key-to-sound, {row['model']}, {row['period']}-frame periods: {figures} ({row['notes_heard']} of "
          f"{row['notes']} notes heard, {counters})", file=sys.stderr)


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


def soak_on_jack(kind: str, period: int, options: list[str], messages: list[tuple[float, bytes]], seconds: float,
                 work: Path) -> tuple[dict, int, dict]:
    """`play OPTIONS` on a JACK server at `period` frames while a JACK client plays `messages` (`seconds`
    long): play's --stats (the host's steal meanwhile among them), the xruns the client saw and their causes by
    jackd's log."""
    from wavenet_rt.live.probe import JackProbe

    stats_file, log = work / f"{kind}_{period}.json", work / f"jackd_{kind}_{period}.log"
    with play_on_jack(f"wavenet_rt_{kind}_{period}", period, options, stats_file, log) as server:
        probe = JackProbe(server.name, 5, name=f"wavenet_rt_probe_{kind}")
        probe.connect("wavenet_rt:", "PortAudio:out_0")
        probe.play(messages)
        probe.wait_until_sent(seconds + 10)
        time.sleep(0.5)
        xruns, causes = probe.xruns, server.xrun_causes()
        probe.close()
    return json.loads(stats_file.read_text()), xruns, causes


def harmonize_run(period: int, seconds: float, work: Path) -> dict:
    """`play --midi-in --harmonize` with the shipped model and composer on a JACK server at `period` frames,
    a melody from a JACK client for `seconds`: the synth's underruns beside the xruns the probe saw, and the
    harmoniser's time from each key to its harmony (play's --stats)."""
    queue_ms = 10.0  # play's --latency: a harmony later than this misses its melody's block
    messages = melody_messages(seconds, period)
    stats, xruns, causes = soak_on_jack("harmonize", period, ["--midi-in", "--harmonize", "--latency", str(queue_ms)],
                                        messages, seconds, work)
    keys = sum(1 for _, m in messages if m[0] == 0x90)
    return {"period": period, "seconds": seconds, "melody_keys": keys, "synth_underruns": stats["underruns"],
            "synth_underruns_near_device_xrun": stats["underruns_near_device_xrun"],
            "synth_device_xruns": stats["device_xruns"], "probe_jack_xruns": xruns, "xruns_by_cause": causes,
            "host_steal_s": stats["host_steal_s"], "queue_depth_ms": queue_ms,
            **{k: v for k, v in stats.items() if k.startswith("harmon")}}


def polyphony_run(period: int, seconds: float, voices: int, precision: str, work: Path) -> dict:
    """`play --midi-in` with the shipped model, `voices` voices and `precision` weights on a JACK server at
    `period` frames, chords under the sustain pedal from a JACK client for `seconds`: the synth's underruns
    beside the xruns the probe saw and their causes by jackd's log."""
    messages = pedal_chord_messages(seconds, period)
    stats, xruns, causes = soak_on_jack("polyphony", period, ["--midi-in", "--voices", str(voices), "--precision",
                                                              precision], messages, seconds, work)
    return {"period": period, "seconds": seconds, "voices": voices, "precision": precision,
            "keys_struck": sum(1 for _, m in messages if m[0] == 0x90), "synth_underruns": stats["underruns"],
            "synth_underruns_near_device_xrun": stats["underruns_near_device_xrun"],
            "synth_device_xruns": stats["device_xruns"], "probe_jack_xruns": xruns, "xruns_by_cause": causes,
            "host_steal_s": stats["host_steal_s"], "synth_latency_ms": 1e3 * stats["latency_s"]}


def chorale_runs(periods: tuple[int, ...], runs: int, work: Path) -> list[dict]:
    """`play --midi-file` of a four-part Bach chorale (music21's bwv10.7, 45 s; a voice per part) with the
    shipped model and default options on a JACK server at each period, `runs` times: each run's underruns
    and device xruns (play's --stats, written as it exits at the file's end)."""
    from music21 import corpus

    midi = work / "bwv10_7.mid"
    corpus.parse("bach/bwv10.7").write("midi", fp=str(midi))
    rows = []
    for period in periods:
        for run in range(runs):
            stats_file = work / f"chorale_{period}_{run}.json"
            with play_on_jack(f"wavenet_rt_chorale_{period}", period, ["--midi-file", str(midi)], stats_file):
                deadline = time.monotonic() + 120
                while not stats_file.exists() and time.monotonic() < deadline:
                    time.sleep(0.5)
            stats = json.loads(stats_file.read_text())
            rows.append({"period": period, "run": run, "underruns": stats["underruns"],
                         "underruns_near_device_xrun": stats["underruns_near_device_xrun"],
                         "device_xruns": stats["device_xruns"],
                         "played_s": stats["frames_delivered"] / stats["samplerate"],
                         "engine_busy_s": stats["block_seconds_total"], "host_steal_s": stats["host_steal_s"]})
            print(f"chorale at {period} frames, run {run + 1}: {stats['underruns']} underruns "
                  f"({stats['underruns_near_device_xrun']} near a device xrun), "
                  f"{stats['device_xruns']} device xruns, {rows[-1]['host_steal_s']:.2f} s stolen by the host",
                  file=sys.stderr)
    return rows


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


def print_live(r: dict) -> None:
    k = r["key_to_sound_ms"]
    soak = (f"; soak {r['soak_seconds']:.0f} s: synth underruns {r['synth_underruns']}, control JACK xruns "
            f"{r['control_jack_xruns_during_soak']}, longest callback {r['synth_callback_max_ms']:.3f} ms "
            f"({r['synth_callback_cpu_max_ms']:.3f} ms of CPU)"
            if r["soak_seconds"] else "")
    print(f"live, {r['period']:3d}-frame periods: key-to-sound p50 {k['p50']:.2f} p95 {k['p95']:.2f} "
          f"max {k['max']:.2f} ms, jitter {k['jitter_p95_minus_min']:.2f} ms over {r['notes']} notes; frames delivered "
          f"{r['frames_delivered']} vs {r['frames_expected']:.0f} expected{soak}")
