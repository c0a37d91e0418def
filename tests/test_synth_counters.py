# The live synth's counters, driven through its C audio callback exactly as PortAudio calls it: an
# underrun near a device xrun (after the callback that reports it, or just before: the flag comes late) is
# counted apart from the generator's own; the ring depth it keeps for the period it sees; a key placed by
# output frame (a plugin's) heard at the same latency after an underrun as before it.
import ctypes
import time

import numpy as np

from wavenet_rt import Engine, _engine, save_model
from wavenet_rt.live.probe import impulse_model
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


def test_a_key_placed_by_frame_keeps_its_latency_after_an_underrun(tmp_path):
    """As a plugin's run() drives it: keys placed by output frame (push_midi_at_frame) sound frame_latency()
    frames later, before a burst of callbacks that ran the ring dry and after it (the ring's reader then
    stands behind the host's frame count by the frames played as silence; on the host's count each key
    after them would come that much later)."""
    model_file = tmp_path / "heavy_impulse.safetensors"
    # a real model's cost, so a burst runs it dry; a frame per sample, so a key sounds on its sample
    save_model(impulse_model(cond_hop=1, layers=8, channels=64), model_file)
    live = LiveSynth(Engine(model_file), device=None, samplerate=48000, latency_ms=5)
    synth, period = live.synth, 256
    synth.start()
    try:
        callback = CALLBACK(_engine.synth_callback_address())
        blocks, frame = [], 0

        def cycle(note=None, at=100, pause=0.006):
            """One period as the host plays it; with `note`, struck at frame `at` of it and lifted 40 frames on."""
            nonlocal frame
            if note is not None:
                synth.push_midi_at_frame(bytes([0x90, note, 100]), frame + at)
                synth.push_midi_at_frame(bytes([0x80, note, 0]), frame + at + 40)
            out = np.zeros(period * live.channels, np.float32)
            callback(None, out.ctypes.data, period, None, 0, synth.address)
            blocks.append(out[::live.channels].copy())
            frame += period
            time.sleep(pause)

        def heard_after(struck):
            loud = np.flatnonzero(np.abs(np.concatenate(blocks)[struck:]) > 0.5)
            return int(loud[0]) if len(loud) else None

        def strike(note):
            """A note struck within 17 paced periods; the frame it was struck at."""
            for _ in range(4):
                cycle()
            struck = frame + 100
            cycle(note)
            for _ in range(12):
                cycle()
            return struck

        time.sleep(0.2)  # the generator fills the ring
        before = strike(60)
        assert live.counters()["underruns"] == 0
        # faster than any generator, with a key held so the stream is awake and costs what a model costs (a
        # sleeping one makes silence almost for free and can keep up): the ring runs dry
        synth.push_midi_at_frame(bytes([0x90, 67, 100]), frame)
        for _ in range(40):
            cycle(pause=0)
        synth.push_midi_at_frame(bytes([0x80, 67, 0]), frame)  # lifted where the host stands now
        short = live.counters()["underrun_frames"]
        time.sleep(0.2)
        after = strike(64)
    finally:
        synth.stop()
    assert short >= 3 * 48  # the burst played at least 3 ms of silence
    latency = synth.frame_latency()
    # within a model sample (3 frames at 48 kHz from 16 kHz): where each frame falls between samples
    heard = heard_after(before), heard_after(after)
    assert all(h is not None and abs(h - latency) <= 3 for h in heard), (heard, latency, short)
