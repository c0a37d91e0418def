# Conditioning frames stored as changes give back exactly the frames they were made from, for any window,
# inside, across or outside the piece (the reference is slicing the dense array, float16 as shards hold it).
import numpy as np

from wavenet_rt.conditioning import frames_from_midi_file
from wavenet_rt.dataset.frames import KEYFRAME, SparseFrames
from wavenet_rt.dataset.voice_lines import voice_line, write_notes_midi


def reference_window(dense, first, count):
    out = np.zeros((dense.shape[0], count), np.float32)
    for i in range(count):
        if 0 <= first + i < dense.shape[1]:
            out[:, i] = dense[:, first + i]
    return out


def check_windows(dense, rng, tries=300):
    dense = dense.astype(np.float16).astype(np.float32)
    frames = SparseFrames.from_dense(dense)
    np.testing.assert_array_equal(frames.dense(), dense)
    for _ in range(tries):
        count = int(rng.integers(1, 3 * KEYFRAME))
        first = int(rng.integers(-count - 5, dense.shape[1] + 5))
        reference = reference_window(dense, first, count)
        np.testing.assert_array_equal(frames.window(first, count), reference)
        rows = np.flatnonzero(rng.random(dense.shape[0]) < 0.5)  # some rows alone, from their changes alone
        np.testing.assert_array_equal(frames.window(first, count, rows), reference[rows])
    return frames


def test_frames_of_a_played_line_rebuild_exactly(tmp_path):
    write_notes_midi(voice_line(4), tmp_path / "line.mid")
    dense = frames_from_midi_file(tmp_path / "line.mid", 45 * 1000, "roll88_onset88", 16000, 16)  # hop 16
    frames = check_windows(dense, np.random.default_rng(0))
    assert len(frames.change_frame) < dense.size / 500  # the point of it: a fine hop stores little


def test_arbitrary_values_and_edges_rebuild_exactly():
    rng = np.random.default_rng(1)
    dense = rng.uniform(-1, 1, (5, 3 * KEYFRAME + 17)) * (rng.random((5, 3 * KEYFRAME + 17)) < 0.3)
    dense[:, KEYFRAME] = 0.7  # a change right on a keyframe
    check_windows(dense, rng)
    check_windows(np.zeros((3, 10)), rng, tries=20)  # nothing ever changes
    restored = SparseFrames.from_arrays(check_windows(dense[:, :1], rng, tries=5).arrays())
    np.testing.assert_array_equal(restored.dense(), dense[:, :1].astype(np.float16).astype(np.float32))
