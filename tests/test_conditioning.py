# MIDI -> conditioning frames: a MIDI file and the same events streamed live give identical frames, and
# random event streams agree with a naive from-scratch replay (an independent statement of the rules).
import math

import mido
import numpy as np
import pytest

from wavenet_rt.conditioning import (
    KEYS,
    LOWEST_KEY,
    MidiConditioner,
    feature_channels,
    frames_from_midi_file,
    note_ages,
    read_midi_events,
)

SR, HOP = 16000, 64
ONSET_FRAMES = 8  # the onset channel stays set 32 ms: 8 frames of 4 ms


def write_midi(path, timed_messages, tempo_changes=((0.0, 500000),)):
    """A type-0 file from (seconds, message) pairs; tempo changes make tick->second conversion non-trivial."""
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    tempos = [(t, mido.MetaMessage("set_tempo", tempo=v)) for t, v in tempo_changes]
    events = list(timed_messages) + tempos
    events.sort(key=lambda e: (e[0], not e[1].is_meta))
    now_ticks, now_s, tempo = 0, 0.0, 500000
    for t, msg in events:
        ticks = now_ticks + round((t - now_s) * 1e6 / tempo * 480)
        track.append(msg.copy(time=ticks - now_ticks))
        now_s += (ticks - now_ticks) * tempo / 480 / 1e6
        now_ticks = ticks
        if msg.type == "set_tempo":
            tempo = msg.tempo
    midi.save(path)


def random_events(seed, seconds=4.0, count=300, controls=(64, 121, 123)):
    rng = np.random.default_rng(seed)
    events = []
    for t in np.sort(rng.uniform(0, seconds, count)):
        kind, channel = rng.integers(6), int(rng.integers(3))
        note = int(rng.integers(LOWEST_KEY - 3, LOWEST_KEY + KEYS + 3))  # a few off the keyboard
        if kind <= 1:
            msg = mido.Message("note_on", channel=channel, note=note, velocity=int(rng.integers(1, 128)))
        elif kind == 2:
            msg = mido.Message("note_off", channel=channel, note=note)
        elif kind == 3:
            msg = mido.Message("note_on", channel=channel, note=note, velocity=0)
        elif kind == 4:
            msg = mido.Message("control_change", channel=channel, control=int(rng.choice(controls)),
                               value=int(rng.integers(128)))
        else:
            msg = mido.Message("pitchwheel", channel=channel, pitch=int(rng.integers(-8192, 8192)))
        events.append((float(t), msg))
    return events


def naive_frames(events, frames, bend_channel):
    """Replays every event up to each frame's start from scratch: the rules written the obvious way."""
    out = np.zeros((2 * KEYS + bend_channel, frames), np.float32)
    samples = [round(t * SR) for t, _ in events]
    for f in range(frames):
        held, sustained, pedal, bend = {}, {}, {}, 0.0
        for s, (_, m) in zip(samples, events):
            if s > f * HOP:
                break
            ch = getattr(m, "channel", 0)
            if m.type == "note_on" and m.velocity > 0 and 0 <= m.note - LOWEST_KEY < KEYS:
                held[ch, m.note] = m.velocity / 127
                sustained.pop((ch, m.note), None)
            elif m.type in ("note_on", "note_off") and (ch, m.note) in held:
                if pedal.get(ch):
                    sustained[ch, m.note] = held[ch, m.note]
                del held[ch, m.note]
            elif m.type == "control_change" and m.control == 64:
                pedal[ch] = m.value >= 64
                if not pedal[ch]:
                    sustained = {k: v for k, v in sustained.items() if k[0] != ch}
            elif m.type == "control_change" and m.control == 121:
                pedal[ch] = False
                sustained = {k: v for k, v in sustained.items() if k[0] != ch}
                bend = 0.0
            elif m.type == "control_change" and m.control == 123:
                for key in [k for k in held if k[0] == ch]:
                    if pedal.get(ch):
                        sustained[key] = max(sustained.get(key, 0), held[key])
                    del held[key]
            elif m.type == "pitchwheel":
                bend = m.pitch / 8192
        for (_, note), v in list(held.items()) + list(sustained.items()):
            out[note - LOWEST_KEY, f] = max(out[note - LOWEST_KEY, f], v)
        if bend_channel:
            out[2 * KEYS, f] = bend
    for s, (_, m) in zip(samples, events):  # onsets: set on the note-on's frame and the next ones
        if m.type == "note_on" and m.velocity > 0 and 0 <= m.note - LOWEST_KEY < KEYS:
            first = math.ceil(s / HOP)
            out[KEYS + m.note - LOWEST_KEY, first:first + ONSET_FRAMES] = 1
    return out


def stream_live(events, frames, features, seed):
    """Events arrive as a live stream: before each block of frames is pulled, the events that have
    happened by the block's last frame are pushed. Block sizes vary like a real audio callback's would."""
    rng = np.random.default_rng(seed)
    conditioner = MidiConditioner(features, SR, HOP)
    out, done, pending = [], 0, list(events)
    while done < frames:
        block = min(frames - done, int(rng.integers(1, 9)))
        while pending and round(pending[0][0] * SR) <= (done + block - 1) * HOP:
            t, msg = pending.pop(0)
            conditioner.push(msg, round(t * SR))
        out.append(conditioner.frames(block))
        done += block
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize("features", ["roll88_onset88", "roll88_onset88_bend", "roll88_onset88_age88"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_file_and_live_stream_give_identical_frames(tmp_path, features, seed):
    events = random_events(seed)
    path = tmp_path / "take.mid"
    write_midi(path, events, tempo_changes=((0.0, 500000), (1.3, 350000), (2.9, 800000)))
    from_file = read_midi_events(path)
    frames = math.ceil(5.0 * SR / HOP)
    file_frames = frames_from_midi_file(path, frames, features, SR, HOP)
    live_frames = stream_live(from_file, frames, features, seed)
    assert file_frames.shape == (feature_channels(features), frames)
    np.testing.assert_array_equal(file_frames, live_frames)
    # The file's event times survived the tick round trip to within a tick (< 1 ms here).
    assert max(abs(a[0] - b[0]) for a, b in zip(events, from_file)) < 1e-3


@pytest.mark.parametrize("seed", [3, 4])
def test_frames_follow_the_rules(seed):
    events = random_events(seed, seconds=2.0, count=200)
    frames = math.ceil(2.2 * SR / HOP)
    conditioner = MidiConditioner("roll88_onset88_bend", SR, HOP)
    for t, msg in events:
        conditioner.push(msg, round(t * SR))
    np.testing.assert_allclose(conditioner.frames(frames), naive_frames(events, frames, 1), atol=0)


def frames_for(events, frames=20, features="roll88_onset88"):
    conditioner = MidiConditioner(features, SR, HOP)
    for sample, msg in events:
        conditioner.push(msg, sample)
    return conditioner, conditioner.frames(frames)


def test_note_lands_on_the_first_frame_at_or_after_it():
    on = mido.Message("note_on", note=60, velocity=127)
    _, f = frames_for([(HOP * 3 + 1, on), (HOP * 8, mido.Message("note_off", note=60))])
    key = 60 - LOWEST_KEY
    assert list(f[key, :10]) == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    assert list(f[KEYS + key, :4 + ONSET_FRAMES + 2]) == [0] * 4 + [1] * ONSET_FRAMES + [0, 0]


@pytest.mark.parametrize("rate, hop, lit", [(16000, 64, 8), (16000, 16, 32), (8000, 32, 8), (16000, 8, 64),
                                            (48000, 16, 96), (16000, 1000, 1)])
def test_the_onset_lasts_32_ms_at_any_hop(rate, hop, lit):
    conditioner = MidiConditioner("roll88_onset88", rate, hop)
    conditioner.push(mido.Message("note_on", note=60, velocity=100), 0)
    conditioner.push(mido.Message("note_off", note=60), hop)  # a short note: its onset still lasts
    onset = conditioner.frames(lit + 5)[KEYS + 60 - LOWEST_KEY]
    assert list(onset) == [1] * lit + [0] * 5


def test_a_late_event_lands_on_the_next_frame_emitted():
    conditioner = MidiConditioner("roll88_onset88", SR, HOP)
    first = conditioner.frames(5)
    conditioner.push(mido.Message("note_on", note=60, velocity=127), HOP * 2)  # its frame is already out
    second = conditioner.frames(2)
    assert not first.any() and list(second[60 - LOWEST_KEY]) == [1, 1]


def test_sustain_all_notes_off_and_all_sound_off():
    key = 64 - LOWEST_KEY
    cc = lambda c, v: mido.Message("control_change", control=c, value=v)  # noqa: E731
    events = [(0, mido.Message("note_on", note=64, velocity=64)), (0, cc(64, 127)),
              (HOP * 2, mido.Message("note_off", note=64)),  # pedal holds it
              (HOP * 4, cc(123, 0)),  # all notes off: still held by the pedal
              (HOP * 6, cc(64, 0)),  # pedal up: released
              (HOP * 8, mido.Message("note_on", note=64, velocity=127)), (HOP * 8, cc(64, 127)),
              (HOP * 10, cc(120, 0))]  # all sound off: silent at once despite the pedal
    conditioner, f = frames_for(events, 14)
    v = 64 / 127
    assert np.allclose(f[key], [v] * 6 + [0, 0] + [1, 1] + [0] * 4)
    assert conditioner.ignored == 0


def naive_ages(frames):
    """Each key's clock written the obvious way, in float64: exp(-(f - start) * hop / rate / 1 s) while the key
    sounds, start being the frame where it began to sound or its onset last lit; 0 while silent."""
    roll, onset = frames[:KEYS] > 0, frames[KEYS:2 * KEYS] > 0
    out = np.zeros((KEYS, frames.shape[1]))
    for key in range(KEYS):
        start = None
        for f in range(frames.shape[1]):
            began = roll[key, f] and (f == 0 or not roll[key, f - 1])
            struck = onset[key, f] and (f == 0 or not onset[key, f - 1])
            start = None if not roll[key, f] else f if began or struck else start
            out[key, f] = 0.0 if start is None else math.exp(-(f - start) * HOP / SR)
    return out


@pytest.mark.parametrize("seed", [5, 6])
def test_age_clocks_follow_the_rules(seed):
    # keys held for seconds under the pedal, struck again
    events = [(round(t * SR), m) for t, m in random_events(seed, seconds=6.0, count=200)]
    frames = math.ceil(6.5 * SR / HOP)
    conditioner, f = frames_for(events, features="roll88_onset88_age88", frames=frames)
    _, plain = frames_for(events, frames=frames)
    assert f.shape == (3 * KEYS, frames)
    np.testing.assert_array_equal(f[:2 * KEYS], plain)
    reference = naive_ages(plain)
    assert (reference[:, 100:] > 0).sum() > 2000 and reference[reference > 0].min() < 0.2  # clocks run for seconds
    np.testing.assert_allclose(f[2 * KEYS:], reference, atol=2e-5)
    # computed from the frames alone (how a dataset's stored frames train it), the clocks are the live ones
    np.testing.assert_array_equal(note_ages(plain, HOP, SR), f[2 * KEYS:])
    # with voices, each stream's clocks follow its own key and onsets
    voiced = MidiConditioner("roll88_onset88_age88", SR, HOP, voices=4)
    for sample, msg in events:
        voiced.push(msg, sample)
    streams = voiced.frames(frames)
    for stream in streams:
        np.testing.assert_allclose(stream[2 * KEYS:], naive_ages(stream), atol=2e-5)
    assert streams[:, 2 * KEYS:].any()


def test_unused_and_out_of_range_messages_are_counted_not_fatal():
    events = [(0, mido.Message("sysex", data=[1, 2, 3])), (0, mido.Message("clock")),
              (0, mido.Message("note_on", note=10, velocity=100)), (0, mido.Message("aftertouch", value=3)),
              (0, mido.Message("control_change", control=7, value=100))]
    conditioner, f = frames_for(events)
    assert conditioner.ignored == 5 and not f.any()  # CC7 (volume) is a controller it does not use


def test_bend_channel_and_unknown_features():
    _, f = frames_for([(0, mido.Message("pitchwheel", pitch=4096))], features="roll88_onset88_bend")
    assert np.allclose(f[2 * KEYS], 0.5)
    with pytest.raises(ValueError, match="unknown conditioning feature set"):
        MidiConditioner("roll128")


def test_unreadable_midi_file_is_a_value_error(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage")
    with pytest.raises(ValueError, match="cannot read MIDI file"):
        read_midi_events(bad)
