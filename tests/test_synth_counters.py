# The live synth's underrun accounting, driven through its C audio callback exactly as PortAudio calls it:
# an underrun right after the device reported an xrun is counted apart from the generator's own.
import ctypes
import time

import numpy as np

from wavenet_rt import Engine, _engine
from wavenet_rt.live.stream import LiveSynth

OUTPUT_UNDERFLOW = 0x4  # PortAudio's paOutputUnderflow status flag
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p,
                            ctypes.c_ulong, ctypes.c_void_p)


def test_underruns_after_a_device_xrun_are_counted_apart(impulse_model_file):
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
        assert (c["underruns"], c["device_xruns"], c["underruns_after_device_xrun"]) == (2, 1, 1), c
        time.sleep(0.2)  # past the shadow of the xrun
        call(huge)
        c = live.counters()
        assert (c["underruns"], c["underruns_after_device_xrun"]) == (3, 1), c
    finally:
        live.synth.stop()
