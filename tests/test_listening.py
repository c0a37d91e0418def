# The listening figures against cases with a known answer: the soundfont's own render of a line must be
# heard (and the same line two semitones off, 120 ms late, or noise must not), and every octave of the
# keyboard probe; a harmonic tone's noise floor measures at the SNR it was made with, and level and attack
# figures read what was put there.
import subprocess

import numpy as np
import pytest

from wavenet_rt.dataset.voice_lines import Note as Key
from wavenet_rt.dataset.voice_lines import voice_line, write_notes_midi
from wavenet_rt.eval import listening
from wavenet_rt.eval.metrics import Note

pytest.importorskip("basic_pitch", reason=listening.INSTALL_HINT)
SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"
RATE = 16000


def render(notes, path):
    import soundfile

    write_notes_midi(notes, path.with_suffix(".mid"))
    subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "1.4", "-T", "wav", "-r", str(RATE),
                    "-F", str(path), SOUNDFONT, str(path.with_suffix(".mid"))], check=True)
    audio, _ = soundfile.read(path, dtype="float32", always_2d=True)
    return audio.mean(axis=1)


def played(notes, shift=0):
    return [Note(n.start, n.start + n.length, n.key + shift) for n in notes]


@pytest.fixture(scope="module")
def transcriber():
    return listening.Transcriber()


def test_transcription_hears_the_soundfont_and_not_its_mistakes(transcriber, tmp_path):
    line = [n for n in voice_line(11, seconds=12) if 40 <= n.key <= 96]  # the transcriber's sure range
    audio = render(line, tmp_path / "line.wav")
    heard = transcriber.notes(audio, RATE)
    right = listening.note_scores(played(line), heard)
    assert right["all"]["f1"] > 0.8 and right["all"]["played"] == len(line)
    assert sum(s["played"] for s in right["octaves"].values()) == len(line)
    off_pitch = transcriber.notes(render([Key(n.start, n.length, n.key + 2, n.velocity, n.pedal) for n in line],
                                         tmp_path / "up.wav"), RATE)
    assert listening.note_scores(played(line), off_pitch)["all"]["f1"] < 0.15
    late = [Note(n.start + 0.12, n.end + 0.12, n.pitch) for n in heard]
    assert listening.note_scores(played(line), late)["all"]["f1"] < 0.15
    noise = np.random.default_rng(0).normal(0, 0.05, len(audio)).astype(np.float32)
    assert listening.note_scores(played(line), transcriber.notes(noise, RATE))["all"]["f1"] < 0.15


def test_the_keyboard_probe_strikes_every_key_and_the_soundfont_is_heard_in_every_octave(transcriber, tmp_path):
    notes = listening.keyboard_probe()
    assert [n.key for n in notes] == list(range(21, 109))
    assert all(b.start - a.end > 0.15 for a, b in zip(notes, notes[1:]))  # each struck after the last lifts
    scores = listening.note_scores(played(notes), transcriber.notes(render(notes, tmp_path / "keys.wav"), RATE))
    octaves = scores["octaves"]
    assert all(octaves[o]["played"] == 12 for o in range(1, 8))
    # the ceiling the model is judged against: the soundfont's every octave heard well enough to count
    # (an octave counts where the reference scores >= 0.5)
    assert all(octaves[o]["f1"] >= 0.5 for o in range(1, 8)), octaves


def test_note_errors_name_each_kind_of_mistake_and_agree_with_mir_eval_on_the_matches():
    import mir_eval

    keys = [(0.0, 1.0, 60), (1.0, 1.5, 64), (2.0, 2.5, 67), (3.0, 3.5, 70), (4.0, 4.5, 72), (5.0, 5.5, 50)]
    played_notes = [Note(*k) for k in keys]
    heard = [Note(s, s + 0.3, k) for s, k in [
        (0.01, 60), (1.02, 64), (5.03, 50),  # the three heard right
        (0.5, 60), (5.04, 50),  # retriggers: a key already sounding, heard again
        (0.3, 72), (0.6, 79), (3.01, 82),  # harmonics: 12, 19 and 12 keys above a sounding key
        (0.7, 48), (1.2, 65), (1.8, 30),  # an octave below; a neighbour; nothing near
        (2.12, 67)]]  # 67 heard 120 ms after its key: late (as a missed note and as an extra)
    errors = listening.note_errors(played_notes, heard)
    assert errors["extra"] == {"late": 1, "retrigger": 2, "harmonic": 3, "octave_below": 1, "neighbour": 1,
                               "other": 1}
    # 67 late, 70 heard only an octave up, 72 never
    assert errors["missed"] == {"late": 1, "octave_off": 1, "unheard": 1}
    matched = errors["played"] - sum(errors["missed"].values())
    assert matched == errors["heard"] - sum(errors["extra"].values()) == 3
    intervals = [np.array([[n.start, n.end] for n in notes]) for notes in (played_notes, heard)]
    pitches = [440.0 * 2 ** ((np.array([n.pitch for n in notes]) - 69) / 12) for notes in (played_notes, heard)]
    pairs = mir_eval.transcription.match_notes(intervals[0], pitches[0], intervals[1], pitches[1],
                                               onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None)
    assert len(pairs) == matched


def tone(key, seconds=0.75, cents=0.0):
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 440 * 2 ** ((key - 69 + cents / 100) / 12)
    return sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8) if k * f0 < RATE / 2)


def test_harmonic_to_noise_reads_the_snr_it_was_made_with():
    clean = tone(60)
    assert listening.harmonic_to_noise_db(clean, RATE, 60) > 40
    rng = np.random.default_rng(1)
    for snr in (10, 20, 30):
        noise = rng.normal(0, 1, len(clean))
        noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** (snr / 10))
        # the noise inside the partials' narrow bands counts as harmonic: a hair above the SNR
        assert snr - 0.5 < listening.harmonic_to_noise_db(clean + noise, RATE, 60) < snr + 1
    assert listening.harmonic_to_noise_db(tone(60, cents=-200), RATE, 60) < 0  # two semitones flat is noise


def test_the_noise_floor_figure_averages_every_held_note_in_db():
    """Two keys, two strikes each, at 10/20 dB (key 60) and 28/30 dB (key 72): per key the mean of its
    strikes (15, 29), overall the mean of all four (22; their median would be 24), each within the
    estimator's own bias (as above)."""
    notes = listening.sustained_probe((60, 72), strikes=2)
    assert [n.key for n in notes] == [60, 72, 60, 72] and notes[1].start - notes[0].end > 1
    audio = np.zeros(int(listening.probe_seconds(notes) * RATE))
    rng = np.random.default_rng(3)
    for note, snr in zip(notes, (10, 28, 20, 30)):
        clean = 0.3 * tone(note.key, note.end - note.start)
        noise = rng.normal(0, 1, len(clean))
        noise *= np.sqrt(np.mean(clean ** 2) / np.mean(noise ** 2) / 10 ** (snr / 10))
        audio[int(note.start * RATE):int(note.start * RATE) + len(clean)] = clean + noise
    figures = listening.sustained_figures(audio, RATE, notes, delay=0.0)
    assert list(figures["hnr_db"]) == [60, 72]
    assert 15 - 0.5 < figures["hnr_db"][60] < 15 + 1 and 29 - 0.5 < figures["hnr_db"][72] < 29 + 1
    assert 22 - 0.5 < figures["hnr_mean_db"] < 22 + 1


def test_level_figures_read_what_was_put_there():
    quiet = np.zeros(RATE * 2)
    quiet[RATE:] = np.random.default_rng(2).normal(0, 10 ** (-50 / 20), RATE)
    assert listening.loudest_window_dbfs(quiet, RATE) == pytest.approx(-50, abs=1.5)
    notes = [Key(0.2, 0.4, 60, 80)]
    audio = np.zeros(int(listening.probe_seconds(notes) * RATE))
    audio[int(0.2 * RATE):int(0.2 * RATE) + len(tone(60, 1.2))] = 0.5 * tone(60, 1.2)
    figures = listening.sustained_figures(audio, RATE, notes, delay=0.0)
    assert figures["idle_dbfs"] < -100 and figures["hnr_db"][60] > 40
    reference = {v: 20 * np.log10(v / 127) for v in listening.VELOCITIES}
    same = listening.velocity_deviation_db({v: d - 7 for v, d in reference.items()}, reference)
    assert same["max_deviation_db"] < 1e-9 and same["offset_db"] == pytest.approx(-7)
    flat = listening.velocity_deviation_db({v: d / 2 for v, d in reference.items()}, reference)
    assert flat["max_deviation_db"] > 3 and flat["model_span_db"] == pytest.approx(flat["reference_span_db"] / 2)


def test_the_spectrum_reads_a_sine_in_its_band_and_white_noise_by_bandwidth():
    t = np.arange(4 * RATE) / RATE
    sine = listening.band_power(0.5 * np.sin(2 * np.pi * 700 * t), RATE)  # a^2 / 2 = 0.125, all in 500-1000 Hz
    band = listening.SPECTRUM_EDGES_HZ.index(500)
    assert sine[band] == pytest.approx(0.125, rel=1e-3) and sum(sine) - sine[band] < 1e-6
    noise = listening.band_power(np.random.default_rng(4).normal(0, 0.1, 8 * RATE), RATE)
    edges = list(listening.SPECTRUM_EDGES_HZ) + [RATE / 2]
    for power, lo, hi in zip(noise, edges[:-1], edges[1:]):
        assert power == pytest.approx(0.01 * (hi - lo) / (RATE / 2), rel=0.1), (lo, hi)
    # the model's hiss above the sine's band, as dB against the sine alone
    rows = listening.spectrum_vs_reference([listening.band_power(0.5 * np.sin(2 * np.pi * 700 * t) + 0.01 *
                                                                 np.random.default_rng(5).normal(size=len(t)), RATE)],
                                           [sine], RATE)
    assert [r["from_hz"] for r in rows] == edges[:-1] and rows[-1]["to_hz"] == RATE / 2
    assert rows[band]["difference_db"] == pytest.approx(0, abs=0.01)
    top = 10 * np.log10(1e-4 * 1000 / (RATE / 2))  # white noise of variance 1e-4 in the last 1 kHz band
    assert rows[-1]["model_db"] == pytest.approx(top, abs=0.5) and rows[-1]["difference_db"] > 60


def test_attack_figures_read_each_notes_lag_behind_the_reference():
    """Notes whose sound starts at known times: the reference 3 ms after each key, the model 5, 9 and 13 ms
    after, a fourth note silent in the model, a fifth too quiet (peaks below -40 dBFS) in both, and a sixth
    the model was already sounding (hiss) when its key came: apart, not instant."""
    notes = [Key(0.5 + i, 0.3, 60, 80) for i in range(6)]
    model, reference = np.zeros(7 * RATE), np.zeros(7 * RATE)
    model[int(5.45 * RATE):int(5.6 * RATE)] = 0.02 * np.random.default_rng(4).standard_normal(int(0.15 * RATE))
    for i, (lag_ms, level) in enumerate([(2, 0.5), (6, 0.5), (10, 0.5), (None, 0.5), (2, 0.003), (2, 0.5)]):
        at = int((0.5 + i + 0.010 + 0.003) * RATE)  # 10 ms of delay the model learned, then 3 ms of attack
        reference[at:at + RATE // 4] = level * tone(60, 0.25)
        if lag_ms is not None:
            start = at + lag_ms * RATE // 1000
            model[start:start + RATE // 4] = level * tone(60, 0.25)
    figures = listening.attack_figures(listening.onsets_s(model, RATE, notes, 0.010),
                                       listening.onsets_s(reference, RATE, notes, 0.010))
    assert figures["notes"] == 3 and figures["unheard"] == 1 and figures["already_sounding"] == 1
    assert figures["reference_onset_ms"]["p50"] == pytest.approx(3, abs=0.2)
    assert figures["lag_ms"]["p50"] == pytest.approx(6, abs=0.2)
    assert figures["lag_ms"]["max"] == pytest.approx(10, abs=0.2)
    assert figures["model_onset_ms"]["max"] == pytest.approx(13, abs=0.2)


def test_the_fundamental_figure_reads_the_level_it_was_made_with():
    """A tone whose partials fall as 1/k, its fundamental at a known RMS, off the analysis grid and 20 cents
    sharp, with noise 20 dB under it: the fundamental's level within 0.3 dB; a tone without its fundamental
    reads the noise's level there, far under; in the held-note figures per key, the mean of its strikes."""
    rng = np.random.default_rng(5)
    for key in (24, 45, 60, 96):
        played = tone(key, 0.75, cents=20) * 0.1  # the fundamental's peak 0.1: RMS -23.0 dBFS
        noise = rng.normal(0, 0.1 / np.sqrt(2) / 10, len(played))
        got = listening.fundamental_dbfs(played + noise, RATE, key)
        assert abs(got - 20 * np.log10(0.1 / np.sqrt(2))) < 0.3, (key, got)
        f0 = 440 * 2 ** ((key - 69 + 0.2) / 12)
        missing = played - 0.1 * np.sin(2 * np.pi * f0 * np.arange(len(played)) / RATE)
        assert listening.fundamental_dbfs(missing, RATE, key) < got - 25, key
    notes = listening.sustained_probe((36,), strikes=2)
    audio = np.zeros(int(listening.probe_seconds(notes) * RATE))
    for note, level in zip(notes, (0.1, 0.01)):  # -23 and -43 dBFS fundamentals: their mean in dB, -33
        start = int(note.start * RATE)
        audio[start:start + int(1.5 * RATE)] = level * tone(36, 1.5)
    figures = listening.sustained_figures(audio, RATE, notes, delay=0.0)
    assert abs(figures["fundamental_dbfs"][36] - 20 * np.log10(np.sqrt(0.1 * 0.01 / 2))) < 0.3


def test_the_decay_figure_reads_how_far_a_held_note_falls():
    """Key 36 held twice, dying away at 20 and 60 dB/s (its amplitude e^(-t / tau)): the fall from the early to
    the late stretch, exact for an exponential's mean square (float64 integrals), the mean of its strikes; a
    key that never falls (a drone) reads 0."""
    notes = listening.sustained_probe((36, 60), strikes=2)
    audio = np.zeros(int(listening.probe_seconds(notes) * RATE))
    t = np.arange(int(1.5 * RATE)) / RATE
    def mean_square(a, b, rate_per_s):  # of e^(-rate t) over a..b
        return (np.exp(-2 * rate_per_s * a) - np.exp(-2 * rate_per_s * b)) / (2 * rate_per_s * (b - a))

    expected = []
    for note, db_per_s in zip(notes, (20, 0, 60, 0)):
        rate_per_s = db_per_s / 20 * np.log(10)  # the amplitude's e-folding rate
        start = int(note.start * RATE)
        audio[start:start + len(t)] = 0.3 * tone(note.key, 1.5) * np.exp(-rate_per_s * t)
        if note.key == 36:
            late, early = (mean_square(*span, rate_per_s) for span in (listening.DECAY_LATE_S, listening.DECAY_EARLY_S))
            expected.append(10 * np.log10(late / early))
    figures = listening.sustained_figures(audio, RATE, notes, delay=0.0)
    assert figures["decay_db"][36] == pytest.approx(np.mean(expected), abs=0.2)
    assert figures["decay_db"][36] < -20
    assert figures["decay_db"][60] == pytest.approx(0, abs=0.1)
