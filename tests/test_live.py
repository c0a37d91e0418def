# The live path end to end on a real JACK server (dummy driver) with real JACK MIDI ports, nothing mocked:
# `python -m wavenet_rt.play --midi-in` runs as a performer would start it; a separate JACK client plays
# notes into its MIDI port and records its audio. Also: jackd's log names the client that made an xrun.
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from support.play_process import assert_generator_kept_up, start_play, stop_play

from wavenet_rt.live.probe import JackProbe, note_latencies

pytestmark = pytest.mark.slow


def test_keys_turn_the_impulse_model_loud_and_off_turns_it_silent(jack_server, impulse_model_file, tmp_path):
    play = start_play(jack_server, impulse_model_file, tmp_path / "stats.json", "--latency", "5")
    try:
        probe = JackProbe(jack_server, 12, name="wavenet_rt_probe_e2e")
        probe.connect("wavenet_rt:", "PortAudio:out_0")
        rng = np.random.default_rng(1)
        messages, t = [], 0.0
        for k in range(40):
            note = int(rng.integers(21, 109))
            messages.append((t, bytes([0x90, note, 100])))
            # alternate the ways a note can end: note-off, note-on velocity 0, all sound off
            end = [bytes([0x80, note, 0]), bytes([0x90, note, 0]), bytes([0xB0, 120, 0])][k % 3]
            messages.append((t + 0.08, end))
            t += 0.2
        probe.play(messages)
        probe.wait_until_sent(15)
        time.sleep(0.5)
        on, off = note_latencies(probe)
        probe.close()
    finally:
        err = stop_play(play)
    stats = json.loads((tmp_path / "stats.json").read_text())
    period_ms = 1000 * probe.period / probe.rate
    assert len(on) == 40 and len(off) == 40, err[-1000:]
    on_ms, off_ms = np.array(on) / probe.rate * 1000, np.array(off) / probe.rate * 1000
    print(f"note-on -> loud: {np.median(on_ms):.2f} ms median, {on_ms.max():.2f} max; "
          f"off -> silent {np.median(off_ms):.2f} ms median ({probe.period}-frame periods)")
    # the target depth plus a few periods, but for a note per underrun (at least one): each underrun that
    # support/play_process.py allows a loaded machine delays the note it meets
    bound, late_allowed = 5 + 3 * period_ms, max(1, stats["underruns"])
    assert (on_ms >= 0).all() and (on_ms >= bound).sum() <= late_allowed, (on_ms, stats["underruns"])
    assert (off_ms >= 0).all() and (off_ms >= bound).sum() <= late_allowed, (off_ms, stats["underruns"])
    # a stalled server (a device xrun) may cost the stream a period; the generator itself must keep up
    assert_generator_kept_up(stats)
    assert stats["midi_events"] == 80 and stats["midi_ignored"] == 0


def test_a_minute_at_512_frames_without_an_underrun(jack_server, impulse_model_file, tmp_path):
    play = start_play(jack_server, impulse_model_file, tmp_path / "stats.json", "--latency", "20")
    try:
        probe = JackProbe(jack_server, 1, name="wavenet_rt_probe_soak")
        probe.connect("wavenet_rt:", "PortAudio:out_0")
        xruns_before = probe.xruns
        notes = [(0.5 * k, bytes([0x90 if k % 2 == 0 else 0x80, 60, 100])) for k in range(120)]
        probe.play(notes, lead=0.2)
        time.sleep(60)
        xruns = probe.xruns - xruns_before
        probe.close()
    finally:
        stop_play(play)
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["period_frames"] == 512
    seconds = (stats["last_callback_ns"] - stats["first_callback_ns"]) / 1e9
    played = stats["frames_delivered"] + stats["underrun_frames"]
    print(f"{seconds:.1f} s: {stats['frames_delivered']} frames delivered, {stats['underruns']} underruns, "
          f"longest callback {1e3 * stats['callback_seconds_max']:.3f} ms "
          f"({1e3 * stats['callback_cpu_seconds_max']:.3f} ms of CPU; {stats['slow_callbacks']} of "
          f"{stats['callbacks']} over 1 ms of CPU), {stats['device_xruns']} device xruns, "
          f"{xruns} JACK xruns")
    assert seconds > 60
    # The generator keeps the ring ahead of the device, but for what the server's own stalls cost (after a
    # stall JACK runs its missed cycles back to back, faster than real time) and a margin (support/).
    assert_generator_kept_up(stats)
    # The synth's share of each cycle, in its thread's CPU time: far inside the period (1 ms of 10.7), so it
    # cannot be what made the server miss one. Asserted on the count of callbacks over 1 ms, with margin
    # (at most 1 in 1,000): the single worst one is reported only, since a process on the other core can
    # stretch one callback's CPU time (cache, frequency, a page fault) although a callback costs microseconds.
    # Wall time is reported only: a shared VM's host steals the CPU for milliseconds (seen: 3.6 ms wall in
    # one callback), which also makes the dummy driver's timer wake late, so server xruns are reported, not
    # failed on; each may cost the synth's stream one period.
    assert stats["slow_callbacks"] <= stats["callbacks"] // 1000, stats
    # every callback but the first is inside the timed span: frames = elapsed x rate within a period
    assert abs(played - 512 - seconds * 48000) <= 512 * (1 + xruns)



def test_the_four_part_demo_plays_live_with_the_shipped_model_and_keeps_up(jack_server, tmp_path):
    """`play --demo` as the README's first command runs it: the shipped model, default options (its 16
    voices, as many as this CPU affords, each asleep half a second after its key lifts; the default ring),
    the four-part demo piece from its file, to its end. The benchmark's --chorale plays a 45 s chorale
    five times at 256 and 512 frames; this is its short twin, at the test server's 512."""
    env = {**os.environ, "JACK_DEFAULT_SERVER": jack_server}
    play = subprocess.run([sys.executable, "-m", "wavenet_rt.play", "--demo", "--stats", str(tmp_path / "stats.json")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert play.returncode == 0, play.stderr[-2000:]
    stats = json.loads((tmp_path / "stats.json").read_text())
    played = stats["frames_delivered"] / stats["samplerate"]
    print(f"{played:.1f} s of the demo: {stats['underruns']} underruns ({stats['underruns_near_device_xrun']} "
          f"near a device xrun), {stats['device_xruns']} device xruns; "
          f"{play.stderr.strip().splitlines()[0] if play.stderr.strip() else ''}")
    assert stats["period_frames"] == 512 and played >= 24  # the whole piece, 24 s, and its last notes' tails
    assert_generator_kept_up(stats)


@pytest.mark.skipif(not shutil.which("jack_midisine"), reason="jack_midisine (JACK's example clients) is not installed")
def test_the_server_log_names_the_client_that_made_an_xrun(tmp_path):
    """What benchmarks/latency.py --lv2 counts as the plugin's xruns: a client stopped for 0.3 s is named
    by jackd for the cycles it missed; before that, a quiet half second names it for hardly any (a rough
    hour of this VM made the server late twice in one: 'Triggered': 2 of 187 cycles)."""
    from wavenet_rt.live.probe import JackServer

    server = JackServer("wavenet_rt_test_blame", 48000, 128, log=tmp_path / "jackd.log")
    env = {**os.environ, "JACK_DEFAULT_SERVER": server.name, "JACK_NO_START_SERVER": "1"}
    client = subprocess.Popen(["jack_midisine"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["jack_wait", "-s", server.name, "-w", "-t", "5"], capture_output=True, timeout=10)
        time.sleep(0.5)
        mark = server.log_mark()
        time.sleep(0.5)
        before = server.xrun_causes(mark)
        mark = server.log_mark()
        client.send_signal(signal.SIGSTOP)
        time.sleep(0.3)
        client.send_signal(signal.SIGCONT)
        time.sleep(0.3)
        stopped = server.xrun_causes(mark)
    finally:
        client.terminate()
        client.wait(timeout=10)
        server.stop()
    print(f"running: {before}; stopped 0.3 s: {stopped}")
    assert sum(before.get("midisine", {}).values()) <= 3  # a tenth of the least the stopped 0.3 s must show
    # 0.3 s is 112 cycles of 128 frames; jackd names it on each it checks, signalled but never woken
    assert stopped["midisine"].get("Triggered", 0) >= 10 and "Running" not in stopped["midisine"]
