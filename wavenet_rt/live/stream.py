# The live synth from Python: builds the C++ Synth over a one-stream engine, opens the output device with
# sounddevice but hands PortAudio the synth's C callback (no audio block ever waits for the GIL), or runs
# a timed stand-in when there is no device. Also writes what is played to a WAV file and reports status.
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _engine
from ..engine import Engine
from ..voice_options import model_mix, model_scales

DEFAULT_LATENCY_MS = 10.0  # audio queued ahead of the device unless the player asks for another depth
# ...and, by default, up to two periods beyond the one a callback takes, at most this much: what a callback
# leaves for the next is what a stall may take. On a 2-core VM the server ran two cycles back to back after
# a late one, and the generator stalled for 6-13 ms a few times a minute in its rough hours
# (docs/experiments/2026-12-06-a-stall-allowance-of-two-periods.md). At periods up to 3.3 ms (160 frames
# at 48 kHz) the 10 ms already hold three periods, so only longer periods queue deeper.
STALL_ALLOWANCE_MS = 10.0


class AudioDeviceError(RuntimeError):
    """No such output device, or no output device at all."""


def output_devices() -> list[tuple[int, str, str, int]]:
    """(index, name, host API, default sample rate) of every device with outputs."""
    from .quiet import quiet_stderr

    with quiet_stderr():  # PortAudio probes JACK and ALSA when first imported; their complaints are not news
        import sounddevice as sd

    apis = sd.query_hostapis()
    return [(i, d["name"], apis[d["hostapi"]]["name"], int(d["default_samplerate"]))
            for i, d in enumerate(sd.query_devices()) if d["max_output_channels"] > 0]


def resolve_device(spec: str | int | None) -> int | None:
    """A device index from an index or a name substring; None = the default output (None if none exists)."""
    devices = output_devices()
    listing = "; ".join(f"{i}: {name} ({api})" for i, name, api, _ in devices) or "none"
    if spec is None or spec == "":
        import sounddevice as sd

        default = sd.default.device[1]
        if default is not None and default >= 0:
            return int(default)
        return devices[0][0] if devices else None
    if isinstance(spec, int) or str(spec).isdigit():
        index = int(spec)
        if index not in [d[0] for d in devices]:
            raise AudioDeviceError(f"no output device {index}; available: {listing}")
        return index
    matches = [i for i, name, api, _ in devices if str(spec).lower() in f"{name} {api}".lower()]
    if not matches:
        raise AudioDeviceError(f"no output device matches {spec!r}; available: {listing}")
    return matches[0]


@dataclass
class Status:
    active_keys: int
    ring_ms: float
    underruns: int
    realtime_factor: float  # audio generated per second of engine time
    temperature: float
    error: str

    def line(self) -> str:
        rtf = f"{self.realtime_factor:5.1f}x" if self.realtime_factor else "  -  "
        return (f"keys {self.active_keys:2d} | ring {self.ring_ms:5.1f} ms | underruns {self.underruns:4d} | "
                f"engine {rtf} real time | temperature {self.temperature:.2f}")


class LiveSynth:
    """Engine + Synth + output. Use as a context manager; push MIDI with `push(bytes, time_ns)`. `scales`: how
    a voice's temperature is scaled over its strike and after its attack (voice_options.player_scales; None:
    the model's own)."""

    def __init__(self, engine: Engine, device: int | None, samplerate: int | None = None, blocksize: int = 0,
                 latency_ms: float | None = None, temperature: float = 1.0, global_id: int = 0, seed: int = 0,
                 record: bool = False, channels: int = 2, block: int = 4, voices: int = 0,
                 scales: dict[str, float] | None = None) -> None:
        if engine.streams != max(1, voices):
            raise ValueError(f"the live synth plays one engine stream per voice (one without voices): build its "
                             f"Engine with streams={max(1, voices)}")
        self.engine = engine
        self.device = device
        self.blocksize = blocksize
        if samplerate is None:
            samplerate = self._device_rate(device) if device is not None else 48000
        self.samplerate = int(samplerate)
        self.channels = channels
        config = engine.config
        # latency_ms None: the default depth with the stall allowance; a depth asked for is kept as asked
        # (never below 1.5 periods)
        slack_ms = STALL_ALLOWANCE_MS if latency_ms is None else 0.0
        frames = round((DEFAULT_LATENCY_MS if latency_ms is None else latency_ms) * self.samplerate / 1000)
        self.synth = _engine.Synth(engine._engine, config.cond_features, self.samplerate, channels, max(1, frames),
                                   block, float(temperature), int(global_id), int(seed), bool(record),
                                   voices=int(voices), slack_frames=round(slack_ms * self.samplerate / 1000),
                                   **model_mix(config), **(scales or model_scales(config)))
        self._stream = None
        self._recorder: Recorder | None = None
        self._started = False

    @staticmethod
    def _device_rate(device: int) -> int:
        import sounddevice as sd

        return int(sd.query_devices(device)["default_samplerate"])

    def push(self, message: bytes, time_ns: int) -> None:
        self.synth.push_midi(message, time_ns)

    def start(self, recorder: Recorder | None = None) -> None:
        if self._started:
            raise RuntimeError("this LiveSynth is already playing")
        self._started = True
        self.synth.start()
        if self.device is None:
            self.synth.start_null_output(self.blocksize or 256)
        else:
            self._stream = self._open_stream()
            self._stream.start()
        if recorder is not None:  # only once the output plays: a device that refuses leaves no file behind
            recorder.start(self.synth)
            self._recorder = recorder

    def _open_stream(self):
        import sounddevice as sd

        ffi = sd._ffi
        callback = ffi.cast("PaStreamCallback *", _engine.synth_callback_address())
        userdata = ffi.cast("void *", self.synth.address)
        try:
            return sd._StreamBase(kind="output", samplerate=self.samplerate, blocksize=self.blocksize,
                                  device=self.device, channels=self.channels, dtype="float32", latency="low",
                                  callback=callback, userdata=userdata, wrap_callback=None)
        except sd.PortAudioError as err:
            raise AudioDeviceError(f"cannot open output device {self.device}: {err}") from err

    def stop(self) -> None:
        """Device first, then the synth: the callback must never outlive what it reads."""
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        self.synth.stop()
        if self._recorder is not None:
            self._recorder.stop()
            self._recorder = None
        self._started = False

    def __del__(self) -> None:
        if getattr(self, "_stream", None) is not None:
            self.stop()

    def __enter__(self) -> LiveSynth:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def counters(self) -> dict:
        return self.synth.counters()

    def status(self) -> Status:
        c = self.synth.counters()
        rtf = c["block_audio_seconds"] / c["block_seconds_total"] if c["block_seconds_total"] else 0.0
        return Status(c["active_keys"], 1000 * c["ring_frames"] / self.samplerate, c["underruns"], rtf,
                      c["temperature"], c["error"])


class Recorder:
    """Writes what the synth plays to a WAV file from a background thread (nothing lost on stop). The file
    is created by start(), so an output that never starts leaves none."""

    def __init__(self, path: str | Path, samplerate: int) -> None:
        self.path = Path(path)
        self.samplerate = samplerate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames = 0

    def start(self, synth) -> None:
        import soundfile

        from wavenet_rt.audio_file import SUBTYPE

        self._file = soundfile.SoundFile(str(self.path), "w", samplerate=self.samplerate, channels=1, subtype=SUBTYPE)
        self._synth = synth
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def _drain(self) -> int:
        chunk = self._synth.read_recording(1 << 16)
        if len(chunk):
            self._file.write(np.asarray(chunk, dtype=np.float32))
            self.frames += len(chunk)
        return len(chunk)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._drain():
                time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        while self._drain():
            pass
        self._file.close()
