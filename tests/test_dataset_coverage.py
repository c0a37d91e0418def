# What the dataset offers beyond the chorales, checked from the outside: generated single lines cover every
# key, velocity and note length and play as one voice; a transposition range spreads pieces over the
# keyboard; redrawn dynamics change velocities only; one gain keeps loudness and refuses clipping.
import mido
import numpy as np
import pytest
from test_dataset import assert_is_render_of, build

from wavenet_rt.conditioning import KEYS, LOWEST_KEY, frames_from_midi_file
from wavenet_rt.dataset.shards import load_manifest, read_shard
from wavenet_rt.dataset.voice_lines import voice_line, write_notes_midi


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
    build(out, "--corpus", "none", "--generated", 3, "--sample-rate", 8000)
    return out


def test_generated_lines_are_pieces_rendered_at_the_one_gain(lines, tmp_path):
    manifest = load_manifest(lines)
    assert sorted(manifest["items"]) == ["line00000", "line00001", "line00002"]
    assert sorted(r["split"] for r in manifest["items"].values()) == ["test", "train", "valid"]
    record = manifest["items"]["line00001"]
    codes, _ = read_shard(lines / record["shard"])
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
