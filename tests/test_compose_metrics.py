# The composer's metrics against cases built by hand or known: parallel fifths and octaves written on
# purpose, random notes (must fail every musical check), a chorale copied from the index (must count as
# quoted), a cadence in C (must keep its key); the n-gram baseline normalises and learns a pattern.
import numpy as np
import pytest

from wavenet_rt.compose.baselines import UNIGRAM, NGram
from wavenet_rt.compose.keyfinder import find_key, parse_key, pitch_class_histogram
from wavenet_rt.compose.metrics import (
    copied_share,
    crossings,
    in_scale,
    key_stability,
    ngram_index,
    parallels,
    piece_stats,
    range_violations,
)
from wavenet_rt.compose.tokens import HOLD, VOCAB, pitch_token, sounding


def chords(rows, length: int = 4) -> np.ndarray:
    """(S, B, A, T) MIDI pitches per chord, each `length` steps long (a repeated pitch is struck again)."""
    out = []
    for row in rows:
        out.append([pitch_token(p) for p in row])
        out += [[HOLD] * 4] * (length - 1)
    return np.array(out)


CADENCE = [(72, 48, 67, 64), (72, 53, 69, 65), (71, 55, 67, 62), (72, 48, 67, 64)]  # I IV V I in C


def test_parallels_written_on_purpose_are_counted():
    assert parallels(chords(CADENCE)) == 0
    fifths = chords([(72, 53, 64, 57), (74, 55, 65, 59)])  # S/B: C5-F3 a twelfth, then D5-G3 a twelfth
    assert parallels(fifths) == 1
    octaves = chords([(72, 48, 64, 55), (71, 59, 62, 55)])  # S/B: C5-C3 then B4-B3, contrary octaves
    assert parallels(octaves) == 1
    oblique = chords([(72, 53, 65, 60), (72, 55, 64, 60)])  # soprano stays: no parallel
    assert parallels(oblique) == 0


def test_ranges_and_crossings():
    assert range_violations(chords(CADENCE)) == 0 and crossings(chords(CADENCE)) == 0
    assert range_violations(chords([(90, 30, 67, 64)])) == 2
    assert crossings(chords([(72, 48, 60, 64)])) == 1  # tenor above alto


def test_random_notes_fail_the_musical_checks():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, VOCAB, size=(640, 4))
    stats = piece_stats(noise, parse_key("C"), ngram_index([chords(CADENCE * 4)]))
    bach_like = piece_stats(chords(CADENCE * 10), parse_key("C"))
    assert stats["parallels_per_100_beats"] > 10 and stats["range_violations_per_100_beats"] > 100
    assert stats["crossings_per_100_beats"] > 50 and stats["in_scale"] < 0.75
    assert stats["windows_in_key"] < 0.5 and stats["copied_8_note_share"] == 0.0
    assert bach_like["in_scale"] == 1.0 and bach_like["windows_in_key"] == 1.0


def test_key_finder_and_stability():
    cadence = chords(CADENCE * 8)
    assert find_key(pitch_class_histogram(sounding(cadence))) == parse_key("C")
    assert key_stability(cadence, parse_key("C"))["windows_in_key"] == 1.0
    assert key_stability(cadence, parse_key("F#"))["windows_in_key"] == 0.0
    a_minor = chords([(69, 45, 64, 60), (71, 52, 68, 62), (69, 45, 64, 60), (72, 53, 65, 57)] * 8)
    assert find_key(pitch_class_histogram(sounding(a_minor))) == parse_key("Am")
    assert in_scale(a_minor, parse_key("Am")) == 1.0 and in_scale(a_minor, parse_key("F#")) < 0.5
    assert parse_key("Bb minor") == parse_key("bb") == 10 + 12 and parse_key("F#") == 6
    with pytest.raises(ValueError):
        parse_key("H")


@pytest.fixture(scope="module")
def two_chorales():
    from music21 import corpus

    from wavenet_rt.compose.corpus import encode_score

    return [encode_score(corpus.parse(f"bach/{name}"))[0] for name in ("bwv1.6", "bwv10.7")]


def test_a_copied_chorale_counts_as_quoted(two_chorales):
    first, second = two_chorales
    assert first.shape[1] == 4 and (sounding(first)[:, 0] >= sounding(first)[:, 1]).all()  # S above B
    assert find_key(pitch_class_histogram(sounding(first))) == parse_key("F")  # BWV 1.6 is in F major
    index = ngram_index([first])
    assert copied_share(first, index) == 1.0
    transposed = first.copy()
    transposed[first >= 2] += 3
    assert copied_share(transposed, index) == 1.0  # a quote in another key is still a quote
    assert copied_share(second, index) < 0.05


def test_ngram_baseline_normalises_and_learns_a_pattern():
    pattern = chords(CADENCE * 20, length=2)
    model = NGram([pattern])
    rng = np.random.default_rng(1)
    for a, b in [pattern[:2, 0], *rng.integers(0, VOCAB, (2, 2))]:  # any history: next tokens' probabilities sum to 1
        grids = [np.array([[a] * 4, [b] * 4, [x] * 4]) for x in range(VOCAB)]
        total = sum(model.token_probs(g, (0.5, 0.3, 0.2))[2, 0] for g in grids)
        assert total == pytest.approx(1.0, abs=1e-9)
    assert model.nll([pattern], (0.8, 0.15, 0.05)) < 0.5 * model.nll([pattern], UNIGRAM)
