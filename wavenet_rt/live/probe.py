# Measuring the live synth from outside, over JACK: a JACK client sends MIDI notes into the synth's input
# port at known frame times and records the synth's audio output, counting the server's xruns. With the
# impulse model (silence, or full scale while any key is down) key-to-sound latency is exact in frames.
# jackd's log says whose each xrun was. Used by benchmarks/live_runs.py and lv2_runs.py, tests/test_live.py
# and tests/test_lv2.py.
from __future__ import annotations

import contextlib
import re
import subprocess
import time
from pathlib import Path

import numpy as np


def impulse_model(cond_hop: int = 8, sample_rate: int = 16000, layers: int = 1, channels: int = 1):
    """A WaveNet, built through the public API, whose output is the silence class with no key down and the
    loudest class while any key is down: a key-to-sound latency probe independent of any trained model.
    More `layers` and `channels` (all weights 0 but the first layer's first unit) cost what a real model
    costs and sound the same."""
    import torch

    from wavenet_rt import WaveNet, WaveNetConfig

    config = WaveNetConfig(dilations=[1] * layers, kernel_size=2, residual_channels=channels,
                           gate_channels=2 * channels, skip_channels=channels, classes=256, cond_channels=176,
                           cond_hop=cond_hop, sample_rate=sample_rate, cond_features="roll88_onset88")
    model = WaveNet(config)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.layers[0].cond.weight[0, :88, 0] = 20.0  # tanh half: ~1 once any key's roll value is > 0
        model.layers[0].conv.bias[channels] = 20.0  # sigmoid half: open
        model.layers[0].skip.weight[0, 0, 0] = 1.0
        model.head1.weight[0, 0, 0] = 1.0
        model.head2.bias.fill_(-30.0)
        model.head2.bias[128] = 0.0  # silence wins when nothing is held
        model.head2.weight[255, 0, 0] = 60.0  # full scale wins by 30 nats while a key is held
    return model


class JackServer:
    """jackd with the dummy driver, started and stopped by us (named, so it never meets another). With `log`,
    its messages go to that file, where it names the cause of every xrun (see xrun_causes)."""

    def __init__(self, name: str, rate: int = 48000, period: int = 512, log: Path | None = None) -> None:
        self.name, self.rate, self.period, self.log = name, rate, period, log
        with open(log, "wb") if log else contextlib.nullcontext(subprocess.DEVNULL) as out:  # jackd keeps its copy
            self.process = subprocess.Popen(["jackd", "-n", name, "-R", "-d", "dummy", "-r", str(rate), "-p",
                                             str(period)], stdout=out, stderr=out)
        result = subprocess.run(["jack_wait", "-s", name, "-w", "-t", "10"], capture_output=True, text=True)
        if result.returncode != 0 or "available" not in result.stdout:
            self.stop()
            raise RuntimeError(f"jackd -n {name} did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def log_mark(self) -> int:
        """Where the log ends now: pass it to xrun_causes to count only what comes after."""
        return self.log.stat().st_size if self.log else 0

    def xrun_causes(self, since: int = 0) -> dict[str, dict[str, int]]:
        """The xruns jackd logged after byte `since`, by cause and how: for each client it found unfinished at
        a cycle's deadline, in which state (XRUN_LINE), or "driver": "late" when its own timer woke late."""
        with open(self.log, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        causes: dict[str, dict[str, int]] = {}
        for unfinished, state, finished_late, _driver_late in XRUN_LINE.findall(text):
            if unfinished:
                cause, how = unfinished, state
            elif finished_late:
                cause, how = finished_late, "finished late"
            else:
                cause, how = "driver", "late"
            causes.setdefault(cause, {})
            causes[cause][how] = causes[cause].get(how, 0) + 1
        return causes


# jackd's (JACK2) messages for an xrun. JackEngine::CheckXRun names each client unfinished at the deadline
# with its state: "Triggered" (signalled, its thread not yet woken: the scheduler's delay, none of its own
# work begun) or "Running" (inside its cycle); or one that finished after the deadline. The timed (dummy)
# driver says when its own cycle began late.
XRUN_LINE = re.compile(r"JackEngine::XRun: client = (\S+) was not finished, state = (\w+)|"
                       r"JackEngine::XRun: client (\S+) finished after current callback|"
                       r"(JackTimedDriver::Process XRun)")


class JackProbe:
    """Plays scheduled MIDI into `midi_target` and records the audio of ports matching `audio_source`."""

    def __init__(self, server: str, seconds: float, name: str = "wavenet_rt_probe") -> None:
        import jack

        self.client = jack.Client(name, servername=server, no_start_server=True)
        self.rate, self.period = self.client.samplerate, self.client.blocksize
        self.midi_out = self.client.midi_outports.register("notes")
        self.audio_in = self.client.inports.register("listen")
        self.recording = np.zeros(int(seconds * self.rate), np.float32)
        self.record_from: int | None = None
        self.schedule: list[tuple[int, bytes]] = []
        self.sent: list[tuple[int, bytes]] = []
        self._next = 0
        self.xruns = 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def _xrun(self, _delay_usecs) -> None:
        self.xruns += 1

    def _process(self, frames: int) -> None:
        start = self.client.last_frame_time
        self.midi_out.clear_buffer()
        while self._next < len(self.schedule) and self.schedule[self._next][0] < start + frames:
            frame, message = self.schedule[self._next]
            offset = min(frames - 1, max(0, frame - start))
            self.midi_out.write_midi_event(offset, message)
            self.sent.append((start + offset, message))
            self._next += 1
        if self.record_from is None:
            self.record_from = start
        at = start - self.record_from
        if at + frames <= len(self.recording):
            self.recording[at:at + frames] = self.audio_in.get_array()

    def connect(self, midi_target: str, audio_source: str, wait: float = 5.0) -> None:
        """Connects to the synth's ports once they exist (names matched by substring)."""
        self.send_to(midi_target, wait)
        self._connect(self.port(audio_source, wait, is_audio=True, is_output=True), self.audio_in, wait)
        time.sleep(1.0)  # a fresh MIDI connection can drop the first message

    def send_to(self, midi_target: str, wait: float = 5.0) -> None:
        """Sends the notes also to a MIDI input port matching `midi_target` (a second listener)."""
        self._connect(self.midi_out, self.port(midi_target, wait, is_midi=True, is_input=True), wait)

    def _connect(self, source, destination, wait: float) -> None:
        """Connects two ports, retrying for up to `wait` seconds: a client's ports exist before it is active,
        and the server refuses to connect an inactive client's ports (jalv, loading a plugin, on a slow VM)."""
        import jack

        deadline = time.monotonic() + wait
        while True:
            try:
                self.client.connect(source, destination)
                return
            except jack.JackError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def port(self, name: str, wait: float = 5.0, **kind) -> str:
        """The first port whose name contains `name` (of `kind`, as jack.Client.get_ports takes it), waiting
        up to `wait` seconds for it to appear."""
        deadline = time.monotonic() + wait
        while not (ports := self.client.get_ports(name, **kind)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no JACK port {name!r} ({kind}) after {wait} s")
            time.sleep(0.1)
        return ports[0].name

    def play(self, messages: list[tuple[float, bytes]], lead: float = 0.5) -> int:
        """Schedules (seconds from now + lead, bytes); returns the frame time of second 0."""
        origin = self.client.frame_time + int(lead * self.rate)
        self.schedule = sorted((origin + int(t * self.rate), m) for t, m in messages)
        self._next = 0
        return origin

    def wait_until_sent(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._next < len(self.schedule) and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()

    def recorded(self, frame: int) -> int:
        """Index into self.recording of an absolute JACK frame time."""
        return frame - (self.record_from or 0)


def note_latencies(probe: JackProbe, threshold: float = 0.5, within: int | None = None) -> tuple[list[int], list[int]]:
    """For every note-on sent: frames until the recorded audio first exceeds `threshold` (-1 if it does not
    within `within` frames, or at all); and for every note-off (or note-on with velocity 0, or CC120):
    frames until it falls below 0.05 and stays for 5 ms."""
    on, off = [], []
    audio = np.abs(probe.recording)
    hold = int(0.005 * probe.rate)
    for frame, message in probe.sent:
        i = probe.recorded(frame)
        if i < 0 or i >= len(audio):
            continue
        status = message[0] & 0xF0
        if status == 0x90 and message[2] > 0:
            loud = np.flatnonzero(audio[i:None if within is None else i + within] > threshold)
            on.append(int(loud[0]) if len(loud) else -1)
        elif status == 0x80 or status == 0x90 or (status == 0xB0 and message[1] == 120):  # 0x90 here: velocity 0
            quiet = audio[i:] < 0.05
            run = np.convolve(quiet, np.ones(hold), "valid") >= hold
            starts = np.flatnonzero(run)
            off.append(int(starts[0]) if len(starts) else -1)
    return on, off


def play_and_measure(probe: JackProbe, messages: list[tuple[float, bytes]],
                     timeout: float = 15.0) -> tuple[list[int], list[int]]:
    """Plays `messages` (as JackProbe.play), lets the last one sound half a second, closes the probe and
    returns note_latencies."""
    probe.play(messages)
    probe.wait_until_sent(timeout)
    time.sleep(0.5)
    on_off = note_latencies(probe)
    probe.close()
    return on_off
