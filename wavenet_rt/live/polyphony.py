# How many voices `play` can afford on this CPU: the model's own polyphony, halved until all of them
# sounding at once (chords under the sustain pedal) run LIVE_MARGIN times faster than real time, measured
# at start on the engine that will play. CPUs differ by 3x here (16 voices of the shipped model: 0.97x real
# time on an AVX2-only EPYC VM, 2.3x on an AVX-512 one); offline rendering needs no cap.
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..engine import Engine

LIVE_MARGIN = 1.5  # the ring's refills need room beyond the mean rate: the server, MIDI and the OS share the cores
FEWEST_VOICES = 4  # a four-part chord
MEASURE_S = 0.3
CALL_SAMPLES = 32  # the live generator's larger refills
HELD_KEY = 40  # a key in the middle of the roll (MIDI note 61), held by every voice


def sounding_speed(engine: Engine, seconds: float = MEASURE_S) -> float:
    """Real-time factor of `engine` with every stream holding a key (none asleep), in live-sized calls; the
    engine is reset afterwards."""
    channels = engine.config.cond_channels
    cond = np.zeros((engine.streams, channels, engine.frames_for(CALL_SAMPLES) + 1), np.float32)
    if channels > HELD_KEY:
        cond[:, HELD_KEY] = 0.8
    generated, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        engine.generate(CALL_SAMPLES, cond[:, :, :engine.frames_for(CALL_SAMPLES)] if channels else None)
        generated += CALL_SAMPLES
    speed = generated / engine.config.sample_rate / (time.perf_counter() - started)
    engine.reset(0)
    return speed


def affordable_voices(make_engine: Callable[[int], Engine], voices: int,
                      margin: float = LIVE_MARGIN) -> tuple[Engine, int, float]:
    """(engine, voices, their real-time factor all sounding): `voices` halved while the CPU plays them all at
    under `margin` x real time, down to FEWEST_VOICES."""
    while True:
        engine = make_engine(voices)
        speed = sounding_speed(engine)
        if speed >= margin or voices <= FEWEST_VOICES:
            return engine, voices, speed
        voices = max(FEWEST_VOICES, voices // 2)
