# MIDI sources for the live synth: input ports (python-rtmidi, JACK or ALSA), any mido port, and MIDI files
# played in real time. Every source hands raw bytes with the CLOCK_MONOTONIC time they happened to a
# sink (the synth's push_midi), which parses, counts and ignores whatever it cannot use.
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import mido

Sink = Callable[[bytes, int], object]  # (raw message, time in monotonic ns)
VIRTUAL_PORT = "wavenet_rt"
BACKENDS = ("auto", "jack", "alsa")  # auto: JACK when a server runs, else ALSA
NO_SYSTEM = {
    "jack": "no JACK server is running (start one, e.g. `jackd -d alsa &` or qjackctl, or use --midi-backend alsa)",
    "alsa": "no ALSA sequencer (/dev/snd/seq: `modprobe snd-seq`, or start a JACK server and use --midi-backend "
            "jack)",
}


class MidiError(RuntimeError):
    """No such MIDI port or backend."""


def _rtmidi_api(backend: str):
    import rtmidi

    apis = {"jack": rtmidi.API_UNIX_JACK, "alsa": rtmidi.API_LINUX_ALSA}
    if backend not in apis:
        raise MidiError(f"MIDI backend must be one of {BACKENDS}, got {backend!r}")
    if apis[backend] not in rtmidi.get_compiled_api():
        raise MidiError(f"this python-rtmidi was built without {backend} MIDI")
    return apis[backend]


def choose_backend(backend: str) -> tuple[str, str]:
    """(backend, why it was chosen): "auto" takes JACK when a JACK server answers, else ALSA."""
    if backend != "auto":
        return backend, "--midi-backend"
    try:
        _open_client("jack", "wavenet_rt-probe", "probe").delete()
    except MidiError:
        return "alsa", "no JACK server is running"
    return "jack", "a JACK server is running"


def _open_client(backend: str, client_name: str, why: str):
    """An rtmidi input client; the libraries' own complaints stay off the terminal, a MidiError says why
    (`why`: why this backend was chosen)."""
    import rtmidi

    from .quiet import quiet_stderr

    api = _rtmidi_api(backend)
    with quiet_stderr():
        try:
            return rtmidi.MidiIn(api, client_name)
        except rtmidi.SystemError as err:
            raise MidiError(f"cannot open {backend} MIDI ({why}): {NO_SYSTEM[backend]}") from err


def list_inputs(backend: str = "auto") -> tuple[str, list[str]]:
    """("jack MIDI (why)": the backend used, names of the MIDI input sources (other programs' outputs) it sees)."""
    backend, why = choose_backend(backend)
    probe = _open_client(backend, "wavenet_rt-list", why)
    try:
        return f"{backend} MIDI ({why})", probe.get_ports()
    finally:
        probe.delete()


class MidiInput:
    """A MIDI input port: virtual (others connect to it) when `name` is None, else connected to the first
    source whose name contains `name`. A thread of ours polls the port every POLL_S and hands each message
    to `sink`; sysex, clock and active sensing are let through so they are counted, not silently dropped.

    Not python-rtmidi's callback: with JACK, RtMidi calls it inside JACK's real-time process thread, where
    Python must take the GIL (waiting on any other Python thread) and the sink may work for milliseconds
    (`--harmonize` runs the composer there): 255 xruns a minute at 128-frame periods on the 2-core VM."""

    POLL_S = 0.0005  # stamps lag the key by at most this (plus a wake-up): 2,000 polls a second

    def __init__(self, sink: Sink, name: str | None = None, backend: str = "auto") -> None:
        self.sink = sink
        backend, why = choose_backend(backend)
        self._port = _open_client(backend, "wavenet_rt", why)
        self._port.ignore_types(sysex=False, timing=False, active_sense=False)
        if name is None:
            self._port.open_virtual_port(VIRTUAL_PORT)
            self.description = f"virtual {backend} MIDI input '{VIRTUAL_PORT}' ({backend}: {why})"
        else:
            ports = self._port.get_ports()
            matches = [i for i, p in enumerate(ports) if name.lower() in p.lower()]
            if not matches:
                self._port.delete()
                raise MidiError(f"no MIDI input contains {name!r}; available: {ports or 'none'}")
            self._port.open_port(matches[0])
            self.description = f"{backend} MIDI input '{ports[matches[0]]}' ({backend}: {why})"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="midi-in", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.POLL_S):
            while (event := self._port.get_message()) is not None:
                self.sink(bytes(event[0]), time.monotonic_ns())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._port.close_port()
        self._port.delete()


def attach_mido_port(port, sink: Sink) -> None:
    """Routes any mido input port (or an object that behaves like one) to the sink."""
    port.callback = lambda message: sink(bytes(message.bytes()), time.monotonic_ns())


class FilePlayer:
    """Plays a MIDI file through the sink in real time. Each message is stamped with the time it is due
    (not the moment the thread woke), so conditioning changes land on the right sample."""

    LEAD_NS = 5_000_000  # hand messages over this early; their timestamps carry the exact time

    def __init__(self, events: list[tuple[float, mido.Message]], sink: Sink) -> None:
        self.events = events  # read_midi_events' (seconds, message) pairs
        self.duration = self.events[-1][0] if self.events else 0.0
        self.sink = sink
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="midi-file", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic_ns() + 50_000_000  # a moment for the synth to settle
        for seconds, message in self.events:
            due = start + round(seconds * 1e9)
            wait = (due - self.LEAD_NS - time.monotonic_ns()) / 1e9
            if wait > 0 and self._stop.wait(wait):
                return
            self.sink(bytes(message.bytes()), due)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        all_off = [mido.Message("control_change", channel=c, control=123) for c in range(16)]
        for message in all_off:
            self.sink(bytes(message.bytes()), time.monotonic_ns())
