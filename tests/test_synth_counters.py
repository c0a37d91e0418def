# The live synth's counters, driven through its C audio callback exactly as PortAudio calls it: an
# underrun near a device xrun (after the callback that reports it, or just before: the flag comes late) is
# counted apart from the generator's own; the ring depth it keeps for the period it sees.
import ctypes
import time

import numpy as np

from wavenet_rt import Engine, _engine
from wavenet_rt.live.stream import LiveSynth

OUTPUT_UNDERFLOW = 0x4  # PortAudio's paOutputUnderflow status flag
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p,
                            ctypes.c_ulong, ctypes.c_void_p)


def test_underruns_near_a_device_xrun_are_counted_apart(impulse_model_file):
    live = LiveSynth(Engine(impulse_model_file), device=None, samplerate=48000, blocksize=256, latency_ms=5)
    live.synth.start()  # the generator only: this test is the device
    try:
        callback = CALLBACK(_engine.synth_callback_address())
        huge = 1 << 16  # more frames than the ring holds: always short
        out = np.zeros(huge * live.channels, np.float32)  # interleaved, as the device takes it

        def call(frames, flags=0):
            callback(None, out.ctypes.data, frames, None, flags, live.synth.address)

        time.sleep(0.2)  # the generator fills the ring
        call(huge)  # the generator's own
        time.sleep(0.2)
        call(256, OUTPUT_UNDERFLOW)  # served from the ring
        call(huge)  # just after the server missed a cycle
        c = live.counters()
        assert (c["underruns"], c["device_xruns"], c["underruns_near_device_xrun"]) == (2, 1, 1), c
        time.sleep(0.2)  # past the shadow of the xrun
        call(huge)
        c = live.counters()
        assert (c["underruns"], c["underruns_near_device_xrun"]) == (3, 1), c
        time.sleep(0.2)
        call(256, OUTPUT_UNDERFLOW)  # a flag long after an underrun leaves it the generator's
        c = live.counters()
        assert (c["underruns"], c["device_xruns"], c["underruns_near_device_xrun"]) == (3, 2, 1), c
        time.sleep(0.2)
        call(huge)  # the generator's own, until a flag comes a callback later: then the server's
        c = live.counters()
        assert (c["underruns"], c["underruns_near_device_xrun"]) == (4, 1), c
        time.sleep(0.005)
        call(16, OUTPUT_UNDERFLOW)
        c = live.counters()
        assert (c["underruns"], c["device_xruns"], c["underruns_near_device_xrun"]) == (4, 3, 2), c
    finally:
        live.synth.stop()


def test_the_default_depth_keeps_a_stall_allowance_beyond_long_periods(impulse_model_file):
    """By default the ring keeps 10 ms, or a period and up to two more where that is more, at most 10 ms
    beyond the period (a late server runs two cycles back to back; the generator stalled for up to ~10 ms);
    a depth asked for is kept as asked, but never below a period and a half."""
    engine = Engine(impulse_model_file)
    for latency_ms, period, expected in ((None, 64, 480), (None, 128, 480), (None, 160, 480), (None, 192, 192 + 384),
                                         (None, 256, 256 + 480), (None, 512, 512 + 480),
                                         (10.0, 256, 480), (2.0, 256, 384), (2.0, 64, 96)):
        live = LiveSynth(engine, device=None, samplerate=48000, latency_ms=latency_ms)
        live.synth.start()
        try:
            out = np.zeros(period * live.channels, np.float32)
            CALLBACK(_engine.synth_callback_address())(None, out.ctypes.data, period, None, 0, live.synth.address)
            assert live.counters()["target_frames"] == expected, (latency_ms, period)
        finally:
            live.synth.stop()
