# What the dataset offers beyond the chorales, checked from the outside: generated single lines cover every
# key, velocity and note length and play as one voice; a transposition range spreads pieces over the
# keyboard; redrawn dynamics change velocities only; one gain keeps loudness and refuses clipping.
import mido
import numpy as np
import pytest
from test_dataset import assert_is_render_of, build, shard

from wavenet_rt.conditioning import KEYS, LOWEST_KEY, frames_from_midi_file
from wavenet_rt.dataset.shards import load_manifest
from wavenet_rt.dataset.voice_lines import Note, voice_line, write_notes_midi
from wavenet_rt.mulaw import mulaw_decode


def notes_of(path):
    """(onset seconds, key, velocity) of every note-on, in order."""
    now, notes = 0.0, []
    for msg in mido.MidiFile(str(path)):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            notes.append((round(now, 4), msg.note, msg.velocity))
    return notes


def test_generated_lines_cover_keys_velocities_and_lengths():
    lines = [voice_line(seed) for seed in range(150)]
    notes = [n for line in lines for n in line]
    assert {n.key for n in notes} == set(range(LOWEST_KEY, LOWEST_KEY + KEYS))  # all 88 keys
    velocities = np.array([n.velocity for n in notes])
    assert velocities.min() <= 3 and velocities.max() >= 125
    assert all(np.histogram(velocities, bins=8, range=(0, 128))[0] > len(notes) / 40)  # every dynamic, often
    lengths = np.array([n.length for n in notes])
    assert lengths.min() < 0.05 and lengths.max() > 0.6
    assert sum(n.pedal > 0 for n in notes) > len(notes) / 20
    for line in lines:  # one voice: each note has stopped, pedal included, before the next starts
        assert all(a.end < b.start for a, b in zip(line, line[1:]))
        assert 35 < line[-1].end < 45
    assert voice_line(7) == voice_line(7) and voice_line(7) != voice_line(8)


def test_a_pedalled_note_holds_its_key_in_the_conditioning_until_the_pedal_lifts(tmp_path):
    line = [n for n in voice_line(3) if n.pedal > 0.5][:3]
    assert line
    write_notes_midi(line, tmp_path / "line.mid")
    hop, rate = 64, 8000
    roll = frames_from_midi_file(tmp_path / "line.mid", int(line[-1].end * rate / hop) + 10, "roll88_onset88",
                                 rate, hop)[:KEYS]
    for note in line:
        row = roll[note.key - LOWEST_KEY]
        frame = lambda seconds: int(np.ceil(seconds * rate / hop))  # noqa: E731 (first frame at or after)
        assert row[frame(note.start) + 1: frame(note.end) - 1].min() == pytest.approx(note.velocity / 127, abs=1e-3)
        assert row[frame(note.end) + 1] == 0  # released by the pedal, not by the key


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    out = tmp_path_factory.mktemp("lines")
    build(out, "--corpus", "none", "--generated", 3, "--sample-rate", 8000, "--hop", 64)
    return out


def test_generated_lines_are_pieces_rendered_at_the_one_gain(lines, tmp_path):
    manifest = load_manifest(lines)
    assert sorted(manifest["items"]) == ["line00000", "line00001", "line00002"]
    assert sorted(r["split"] for r in manifest["items"].values()) == ["test", "train", "valid"]
    record = manifest["items"]["line00001"]
    codes, _ = shard(lines / record["shard"])
    expected = voice_line(1)
    assert [(k, v) for _, k, v in notes_of(lines / record["midi"])] == [(n.key, n.velocity) for n in expected]
    assert_is_render_of(codes, lines / record["midi"], tmp_path / "line.wav", gain=1.4)


def test_transpose_range_shifts_each_piece_once_and_dynamics_change_only_velocities(tmp_path):
    plain, spread = tmp_path / "plain", tmp_path / "spread"
    build(plain, "--limit", 3, "--sample-rate", 8000)
    build(spread, "--limit", 3, "--sample-rate", 8000, "--transpose-range=-12,12", "--dynamics")
    before, after = load_manifest(plain)["items"], load_manifest(spread)["items"]
    assert len(after) == 3 and len({r["transpose"] for r in after.values()}) > 1
    for item, record in after.items():
        piece = record["piece"]
        assert item == piece + (f".t{record['transpose']:+d}" if record["transpose"] else "")
        assert record["split"] == before[piece]["split"]  # the split is the piece's, shift or not
        original, moved = notes_of(plain / before[piece]["midi"]), notes_of(spread / record["midi"])
        kept = [n for n in original if LOWEST_KEY <= n[1] + record["transpose"] < LOWEST_KEY + KEYS]
        assert [(t, k + record["transpose"]) for t, k, _ in kept] == [(t, k) for t, k, _ in moved]
        velocities = {v for _, _, v in moved}
        assert len({v for _, _, v in original}) <= 2 and len(velocities) > 10
        assert max(velocities) - min(velocities) > 40
    again = tmp_path / "again"
    build(again, "--limit", 3, "--sample-rate", 8000, "--transpose-range=-12,12", "--dynamics")
    assert load_manifest(again)["items"].keys() == after.keys()  # seeded: the same shifts every build
    assert notes_of(again / after[sorted(after)[0]]["midi"]) == notes_of(spread / after[sorted(after)[0]]["midi"])


def test_a_gain_that_clips_fails_the_item_and_names_the_option(tmp_path):
    result = build(tmp_path / "loud", "--limit", 1, "--sample-rate", 8000, "--gain", 10, check=False)
    assert result.returncode == 1 and "lower --gain (now 10)" in result.stderr


def test_bad_coverage_options_get_one_clear_line(tmp_path):
    for args, message in ((["--corpus", "none"], "give --generated N"),
                          (["--transpose-range=5,-5"], "--transpose-range takes LO,HI"),
                          (["--transpose-range=-2,2", "--transpose=0,1"], "replaces --transpose"),
                          (["--gain", "0"], "--gain in (0, 10]")):
        result = build(tmp_path / "x", *args, check=False)
        assert result.returncode == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize("hop", [16, 64])
def test_no_note_sounds_before_its_frame_and_each_sounds_soon_after(tmp_path, hop):
    """Isolated notes at times off the frame grid, built at 16 kHz: the stored audio is silent until the
    frame that first shows the note-on, and sounds within the delay and the soundfont's attack after it."""
    rng = np.random.default_rng(hop)
    notes = [Note(0.3 + 1.5 * i + float(rng.uniform(0, 0.01)), 0.3, int(key), 100)
             for i, key in enumerate(rng.integers(36, 97, 12))]
    (tmp_path / "src").mkdir()
    write_notes_midi(notes, tmp_path / "src" / "isolated.mid")
    out = tmp_path / "out"
    build(out, "--midi", tmp_path / "src", "--hop", hop, "--valid", 0, "--test", 0)
    manifest = load_manifest(out)
    record = manifest["items"]["isolated"]
    codes, cond = shard(out / record["shard"])
    audio = np.abs(mulaw_decode(codes).astype(np.float64))
    onsets = cond[KEYS:].any(axis=0)  # onset channels: the frames that show a new note
    starts = np.flatnonzero(onsets & ~np.concatenate([[False], onsets[:-1]]))
    assert len(starts) == len(notes)
    lags = []
    for frame, note in zip(starts, notes):
        shown = frame * hop  # the first sample the model knows of the key
        assert audio[shown - hop:shown].max() < 10 ** (-60 / 20), note  # nothing before its frame
        heard = shown + np.argmax(audio[shown:] > 10 ** (-40 / 20))
        lags.append((heard - shown) / 16000)
    # from frame to -40 dBFS: the delay plus the soundfont's attack (1.5 to 10 ms from the event, by key)
    assert min(lags) < 0.004 and max(lags) < 0.010 + manifest["delay"] / 16000
    assert manifest["delay"] == {16: 8, 64: 51}[hop]


def test_only_a_split_builds_its_items_and_a_full_build_completes_the_same_dataset(tmp_path):
    full, only = tmp_path / "full", tmp_path / "only"
    build(full, "--limit", 5, "--sample-rate", 8000)
    build(only, "--limit", 5, "--sample-rate", 8000, "--only", "test")
    everything, tested = load_manifest(full)["items"], load_manifest(only)["items"]
    assert tested and set(tested) == {i for i, r in everything.items() if r["split"] == "test"}
    build(only, "--limit", 5, "--sample-rate", 8000)
    assert load_manifest(only)["items"].keys() == everything.keys()
