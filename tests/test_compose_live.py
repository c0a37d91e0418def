# The composer's live parts with a recording sink in place of the synth: the player's messages are due on
# the sixteenth grid at its tempo, composed ahead and handed over in time order; the harmonising sink answers
# a melody key with the Harmonizer's own voices, all stamped with the key's time, and releases them with it.
import time

import mido
import numpy as np
import pytest
from test_compose import TINY, random_net, tensors

from wavenet_rt.compose import Composer, Harmonizer
from wavenet_rt.compose.live import ComposerPlayer, HarmonizingSink
from wavenet_rt.compose.numpy_model import NumpyComposerNet


@pytest.fixture(scope="module")
def net():
    return NumpyComposerNet(TINY, tensors(random_net(0.3)))


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, message: bytes, time_ns: int):
        self.events.append((mido.Message.from_bytes(message), time_ns, time.monotonic_ns()))


def test_composer_player_streams_on_the_grid(net):
    sink = Recorder()
    player = ComposerPlayer(Composer(net, "C", seed=0), tempo=600, sink=sink, ahead=0.5)  # 25 ms sixteenths
    player.start()
    time.sleep(1.5)
    player.stop()
    notes = [(m, due, handed) for m, due, handed in sink.events if m.type in ("note_on", "note_off")]
    assert len(notes) > 20 and player.steps_written > 40
    dues = np.array([due for _, due, _ in notes])
    assert (np.diff(dues) >= 0).all()
    steps = (dues - player.start_ns) / player.step_ns
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-6)
    late = np.array([handed - due for _, due, handed in notes])
    assert np.percentile(late, 90) < 20e6  # handed over about LEAD_NS before due, not after
    assert {m.channel for m, _, _ in notes} <= {0, 1, 2, 3}
    assert [m.control for m, _, _ in sink.events[-4:]] == [123] * 4  # all notes off on stop


def test_harmonizing_sink_adds_the_harmonizers_voices_at_the_keys_time(net):
    sink = Recorder()
    live = HarmonizingSink(Harmonizer(net, "C", seed=4), sink, tempo=1)  # no clock step during the test
    reference = Harmonizer(net, "C", seed=4)
    live(bytes(mido.Message("note_on", note=72, velocity=90).bytes()), 123)
    expect = reference.note(72)
    ons = [(m, t) for m, t, _ in sink.events if m.type == "note_on"]
    assert (ons[0][0].note, ons[0][0].channel) == (72, 0)  # the melody goes out first, before the model runs
    assert sorted(m.note for m, _ in ons) == sorted(int(p) for p in expect if p)
    assert all(t == 123 for _, t in ons) and all(m.velocity == 90 for m, _ in ons)
    live(bytes(mido.Message("note_on", note=74, velocity=90).bytes()), 456)
    expect2 = reference.note(74)
    later = [(m, t) for m, t, _ in sink.events[len(ons):]]
    assert all(t == 456 for _, t in later)
    assert sorted(m.note for m, _ in later if m.type == "note_on") == sorted(int(p) for p in expect2 if p)
    live(bytes(mido.Message("note_off", note=72).bytes()), 500)  # a replaced key: nothing
    assert len(sink.events) == len(ons) + len(later)
    live(bytes(mido.Message("note_off", note=74).bytes()), 789)
    offs = [m for m, t, _ in sink.events if t == 789]
    assert sorted(m.note for m in offs) == sorted(int(p) for p in expect2 if p)
    live(bytes(mido.Message("control_change", control=64, value=127).bytes()), 800)
    assert sink.events[-1][0].type == "control_change"
    assert len(live.latencies_ns) == 2
    live.close()


def test_harmonizing_sink_answers_nearby_keys_from_what_it_wrote_ahead(net):
    """Between keys the clock thread writes the harmony ahead for keys near the last one: such a key is
    answered with no model call, with the harmony a plain Harmonizer computes; a far key is computed."""
    sink = Recorder()
    harmonizer = Harmonizer(net, "C", seed=6)
    live = HarmonizingSink(harmonizer, sink, tempo=1)  # no clock step during the test
    reference = Harmonizer(net, "C", seed=6)
    for i, pitch in enumerate([72, 74, 71, 76, 48, 50]):
        deadline = time.monotonic() + 10
        while i and not (harmonizer.speculation and harmonizer.speculation.done) and time.monotonic() < deadline:
            time.sleep(0.005)
        before = len(sink.events)
        live(bytes(mido.Message("note_on", note=pitch, velocity=90).bytes()), i)
        ons = sorted(m.note for m, _, _ in sink.events[before:] if m.type == "note_on")
        assert ons == sorted(int(p) for p in reference.note(pitch) if p), pitch
    live.close()
    assert live.figures(10.0)["harmonies_written_ahead"] == 4  # all but the first key and the leap to 48


def test_harmonizing_sink_clock_advances_the_grid(net):
    harmonizer = Harmonizer(net, "C", seed=1)
    live = HarmonizingSink(harmonizer, Recorder(), tempo=1500)  # 10 ms sixteenths
    live(bytes(mido.Message("note_on", note=72, velocity=90).bytes()), time.monotonic_ns())
    time.sleep(0.5)
    live.close()
    assert harmonizer.step_index > 5


@pytest.mark.slow
def test_play_compose_records_the_composed_piece(tmp_path, impulse_model_file):
    import json
    import os
    import subprocess
    import sys

    import soundfile

    from wavenet_rt.compose.weights import save_composer

    composer = tmp_path / "tiny.safetensors"
    save_composer(tensors(random_net(0.3)), TINY, composer)
    out, stats = tmp_path / "take.wav", tmp_path / "stats.json"
    done = subprocess.run([sys.executable, "-m", "wavenet_rt.play", "--model", str(impulse_model_file), "--compose",
                           "--composer", str(composer), "--tempo", "240", "--seconds", "3", "--out", str(out),
                           "--stats", str(stats), "--latency", "40"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JACK_DEFAULT_SERVER": "no_server_here", "JACK_NO_START_SERVER": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    counters = json.loads(stats.read_text())
    assert counters["midi_events"] > 20  # notes arrived through the synth's MIDI queue
    audio, rate = soundfile.read(str(out))
    assert np.abs(audio[int(0.5 * rate):]).max() > 0.1  # the impulse model sounds while the composer's keys are down


@pytest.mark.slow
def test_play_harmonize_over_jack(jack_server, impulse_model_file, tmp_path):
    import json

    from support.play_process import assert_generator_kept_up, start_play, stop_play

    from wavenet_rt.compose.weights import save_composer
    from wavenet_rt.live.probe import JackProbe, note_latencies

    composer = tmp_path / "tiny.safetensors"
    save_composer(tensors(random_net(0.3)), TINY, composer)
    play = start_play(jack_server, impulse_model_file, tmp_path / "stats.json", "--latency", "10", "--harmonize",
                      "--composer", composer, "--tempo", "120")
    try:
        probe = JackProbe(jack_server, 8, name="wavenet_rt_probe_harmonize")
        probe.connect("wavenet_rt:", "PortAudio:out_0")
        melody = [72, 74, 76, 77, 79, 77, 76, 74, 72, 71]
        messages = []
        for k, note in enumerate(melody):
            messages += [(0.4 * k, bytes([0x90, note, 100])), (0.4 * k + 0.25, bytes([0x80, note, 0]))]
        probe.play(messages)
        probe.wait_until_sent(15)
        time.sleep(0.5)
        on, _ = note_latencies(probe)
        probe.close()
    finally:
        err = stop_play(play)
    stats = json.loads((tmp_path / "stats.json").read_text())
    period_ms = 1000 * probe.period / probe.rate
    on_ms = np.array(on) / probe.rate * 1000
    assert len(on) == len(melody), err[-1000:]
    assert (on_ms >= 0).all() and on_ms.max() < 10 + 3 * period_ms  # harmonising adds no block of delay
    # every melody key and its release came through, with the harmony's own notes on top
    assert stats["midi_events"] > 2 * len(melody) + 10 and stats["midi_ignored"] == 0, stats
    assert_generator_kept_up(stats)
    # the harmoniser's own account: one harmony per key, with its time from key to hand-over
    assert stats["harmonies"] == len(melody) and 0 < stats["harmony_ms_p50"] <= stats["harmony_ms_max"], stats
