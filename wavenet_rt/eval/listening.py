# What a listener hears, measured on audio only: notes found by an independent transcriber (Spotify's
# basic-pitch, its ONNX model on onnxruntime) scored against the MIDI, the harmonic-to-noise ratio of a
# sustained note, loudness per velocity, each note's time to sound, and the level left after the keys lift.
# The model's render and the soundfont's render of the same MIDI go through the same functions, so the
# soundfont's figure is the ceiling.
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from ..conditioning import KEYS, LOWEST_KEY, VELOCITY_CURVE_POINTS
from .metrics import Note  # start, end (seconds), pitch (MIDI key): played or heard

ONSET_TOLERANCE_S = 0.05
PITCH_TOLERANCE_CENTS = 50.0
PITCH_WIDTH = 2 ** (PITCH_TOLERANCE_CENTS / 1200)  # that tolerance as a frequency ratio
INSTALL_HINT = ("the listening figures need basic-pitch and onnxruntime: pip install onnxruntime pretty_midi "
                "scikit-learn resampy==0.4.3 && pip install --no-deps basic-pitch==0.4.0")


class Transcriber:
    """basic-pitch on onnxruntime (no TensorFlow), loaded once; its default thresholds."""

    def __init__(self) -> None:
        logging.disable(logging.WARNING)  # basic-pitch warns on import about every backend it does not find
        try:
            from basic_pitch import ICASSP_2022_MODEL_PATH
            from basic_pitch.inference import Model
        except ImportError as err:
            raise RuntimeError(INSTALL_HINT) from err
        finally:
            logging.disable(logging.NOTSET)
        self._model = Model(str(Path(ICASSP_2022_MODEL_PATH).parent / "nmp.onnx"))

    def notes(self, audio: np.ndarray, rate: int) -> list[Note]:
        import soundfile
        from basic_pitch.inference import predict

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "audio.wav"
            soundfile.write(path, np.asarray(audio, dtype=np.float32), rate)
            _, _, events = predict(str(path), self._model)
        return sorted((Note(float(s), float(e), int(k)) for s, e, k, *_ in events), key=lambda n: n.start)


def note_scores(played: list[Note], heard: list[Note]) -> dict:
    """Precision, recall, F1 of the heard notes against the played ones (onset within 50 ms, pitch within
    50 cents, offsets ignored: a piano note's end is its decay), overall and per octave of the played key
    (C-based octaves: key 60 is octave 4). An octave's precision counts the heard notes in that octave."""
    scores = {"all": _prf(played, heard), "octaves": {}}
    for octave in sorted({n.pitch // 12 - 1 for n in played}):
        inside = [n for n in played if n.pitch // 12 - 1 == octave]
        heard_inside = [n for n in heard if n.pitch // 12 - 1 == octave]
        scores["octaves"][octave] = _prf(inside, heard_inside)
    return scores


def _prf(played: list[Note], heard: list[Note]) -> dict:
    import mir_eval

    if not played or not heard:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "played": len(played), "heard": len(heard)}
    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        *_intervals_and_hz(played), *_intervals_and_hz(heard), onset_tolerance=ONSET_TOLERANCE_S,
        pitch_tolerance=PITCH_TOLERANCE_CENTS, offset_ratio=None)
    return {"precision": float(p), "recall": float(r), "f1": float(f), "played": len(played), "heard": len(heard)}


def _matches(played: list[Note], heard: list[Note]) -> list[tuple[int, int]]:
    """(played index, heard index) of the notes the scores above count as right: mir_eval's matching."""
    import mir_eval

    if not played or not heard:
        return []
    return mir_eval.transcription.match_notes(
        *_intervals_and_hz(played), *_intervals_and_hz(heard), onset_tolerance=ONSET_TOLERANCE_S,
        pitch_tolerance=PITCH_TOLERANCE_CENTS, offset_ratio=None)


def _intervals_and_hz(notes: list[Note]) -> tuple[np.ndarray, np.ndarray]:
    intervals = np.array([[n.start, max(n.end, n.start + 0.01)] for n in notes])
    return intervals, _key_hz([n.pitch for n in notes])


EXTRA_KINDS = ("late", "retrigger", "harmonic", "octave_below", "neighbour", "other")
MISSED_KINDS = ("late", "octave_off", "unheard")


def note_errors(played: list[Note], heard: list[Note]) -> dict:
    """What the transcription scores count as wrong, by kind, past the notes they match (a heard note of the
    played key within 50 ms of its onset, one each). A heard note left over is `late` (a missed note of its key
    struck 50-200 ms before), a `retrigger` (its key already sounding), a `harmonic` (12, 19 or 24 keys above
    a sounding key), `octave_below` one, a `neighbour` (1-2 keys from a key sounding or struck within 50 ms)
    or `other`; a missed note is `late` (its key heard 50-200 ms after), `octave_off` (heard 12 keys off at
    its onset) or `unheard`."""
    pairs = _matches(played, heard)
    right_played, right_heard = {i for i, _ in pairs}, {j for _, j in pairs}
    missed = [n for i, n in enumerate(played) if i not in right_played]
    free = [h for j, h in enumerate(heard) if j not in right_heard]
    extra = dict.fromkeys(EXTRA_KINDS, 0)
    for h in free:
        extra[_extra_kind(h, played, missed)] += 1
    missing = dict.fromkeys(MISSED_KINDS, 0)
    for note in missed:
        missing[_missed_kind(note, heard)] += 1
    return {"played": len(played), "heard": len(heard), "extra": extra, "missed": missing}


def _extra_kind(h: Note, played: list[Note], missed: list[Note]) -> str:
    if any(n.pitch == h.pitch and ONSET_TOLERANCE_S < h.start - n.start <= 0.2 for n in missed):
        return "late"
    sounding = [n.pitch for n in played if n.start - ONSET_TOLERANCE_S <= h.start <= n.end]
    struck = [n.pitch for n in played if abs(n.start - h.start) <= ONSET_TOLERANCE_S]
    if h.pitch in sounding:
        return "retrigger"
    if any(h.pitch - k in (12, 19, 24) for k in sounding):
        return "harmonic"
    if any(k - h.pitch == 12 for k in sounding):
        return "octave_below"
    if any(abs(h.pitch - k) in (1, 2) for k in sounding + struck):
        return "neighbour"
    return "other"


def _missed_kind(note: Note, heard: list[Note]) -> str:
    if any(h.pitch == note.pitch and ONSET_TOLERANCE_S < h.start - note.start <= 0.2 for h in heard):
        return "late"
    if any(abs(h.pitch - note.pitch) == 12 and abs(h.start - note.start) <= ONSET_TOLERANCE_S for h in heard):
        return "octave_off"
    return "unheard"


def harmonic_to_noise_db(audio: np.ndarray, rate: int, key: int) -> float:
    """Energy of the key's partials against all other energy above half the fundamental, over a
    Hann-windowed stretch of a held note. Each partial is the strongest peak within 50 cents of k * f0
    (a piano's partials run sharp), taken +-2% of f0 wide; a note played off pitch counts as noise."""
    spectrum, freqs, _ = _hann_power(audio, rate)
    f0 = _key_hz(key)
    band = freqs >= f0 / 2
    harmonic = np.zeros_like(band)
    half = max(3 * rate / len(audio), 0.02 * f0)
    for k in range(1, int(rate / 2 / f0 / PITCH_WIDTH) + 1):
        search = _within_tolerance(freqs, k * f0)
        peak = freqs[search[np.argmax(spectrum[search])]]
        harmonic |= np.abs(freqs - peak) <= half
    noise = float(spectrum[band & ~harmonic].sum())
    return float(10 * np.log10(max(float(spectrum[band & harmonic].sum()), 1e-20) / max(noise, 1e-20)))


def fundamental_dbfs(audio: np.ndarray, rate: int, key: int) -> float:
    """The level of a held note's fundamental alone, as the RMS of a sine in dBFS: the strongest spectral peak
    within 50 cents of f0 in a Hann-windowed stretch, its power summed over the window's main lobe. A low
    note whose fundamental is missing is heard an octave or more up, or not at all."""
    power, freqs, window_energy = _hann_power(audio, rate)
    search = _within_tolerance(freqs, _key_hz(key))
    peak = search[np.argmax(power[search])]
    lobe = power[max(peak - 2, 0):peak + 3].sum()  # a Hann window's main lobe is 4 bins wide
    return float(10 * np.log10(max(2 * lobe / (len(audio) * window_energy), 1e-14)))


def _key_hz(key):
    """A MIDI key's fundamental in Hz, equal temperament, A4 = 440 Hz (scalar or array)."""
    return 440.0 * 2 ** ((np.asarray(key, dtype=np.float64) - 69) / 12)


def _hann_power(audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The power spectrum of a Hann-windowed stretch, its bins' frequencies and the window's energy."""
    window = np.hanning(len(audio))
    return (np.abs(np.fft.rfft(audio * window)) ** 2, np.fft.rfftfreq(len(audio), 1 / rate),
            float(np.sum(window ** 2)))


def _within_tolerance(freqs: np.ndarray, hz: float) -> np.ndarray:
    """Indices of the bins within PITCH_TOLERANCE_CENTS of `hz`."""
    return np.flatnonzero((freqs >= hz / PITCH_WIDTH) & (freqs <= hz * PITCH_WIDTH))


# Band edges (Hz) of the long-term spectrum: octaves up to 2 kHz, where a piano's fundamentals and strong
# partials lie, then 1 kHz bands to Nyquist, where a sampled model's hiss stays flat while the instrument falls
# away (the last band ends at the rate's Nyquist).
SPECTRUM_EDGES_HZ = (0, 62.5, 125, 250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 7000)
SPECTRUM_FRAME = 2048


def spectrum_edges(rate: int) -> list[float]:
    """SPECTRUM_EDGES_HZ below the rate's Nyquist, and Nyquist as the last band's end."""
    return [e for e in SPECTRUM_EDGES_HZ if e < rate / 2] + [rate / 2]


def band_power(audio: np.ndarray, rate: int) -> list[float]:
    """The mean power of `audio` in each band of spectrum_edges (the last one's Nyquist bin included), from
    Welch's average of Hann-windowed frames (SPECTRUM_FRAME samples, hop a quarter of it), so that the bands
    sum to the mean square: white noise of variance v puts v x bandwidth / Nyquist in each, a sine of
    amplitude a puts a^2 / 2 in its."""
    from scipy.signal import welch  # librosa's dependency, so the eval extra's

    x = np.asarray(audio, np.float64)
    x = np.pad(x, (0, max(0, SPECTRUM_FRAME - len(x))))
    freqs, density = welch(x, rate, window="hann", nperseg=SPECTRUM_FRAME, noverlap=3 * SPECTRUM_FRAME // 4,
                           detrend=False)
    power = density * (freqs[1] - freqs[0])
    edges = spectrum_edges(rate)
    last = len(edges) - 2
    return [float(power[(freqs >= lo) & ((freqs < hi) | (i == last))].sum())
            for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]


def spectrum_vs_reference(model: list[list[float]], reference: list[list[float]], rate: int) -> list[dict]:
    """Per band, the band_power of several renders pooled (summed) for the model and for the reference, in dB,
    and their difference: where the model's sound has more or less than the instrument's."""
    edges = spectrum_edges(rate)
    summed = [np.sum(np.asarray(side, np.float64), axis=0) for side in (model, reference)]
    rows = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        m, r = (float(10 * np.log10(max(s[i] / len(model), 1e-20))) for s in summed)
        rows.append({"from_hz": lo, "to_hz": hi, "model_db": m, "reference_db": r, "difference_db": m - r})
    return rows


def rms_dbfs(audio: np.ndarray) -> float:
    return float(10 * np.log10(max(float(np.mean(np.asarray(audio, np.float64) ** 2)), 1e-14)))


def loudest_window_dbfs(audio: np.ndarray, rate: int, window_s: float = 0.05) -> float:
    """The loudest RMS over consecutive windows: how loud a stretch gets at its worst (-140 if empty)."""
    n = max(1, int(window_s * rate))
    frames = len(audio) // n
    if frames == 0:
        return -140.0
    return max(rms_dbfs(w) for w in np.reshape(audio[: frames * n], (frames, n)))


def velocity_deviation_db(model: dict[int, float], reference: dict[int, float], lowest: int = 20) -> dict:
    """Loudness per velocity (dB) of the model against the reference after one overall gain (the mean
    difference from velocity `lowest` up): the largest remaining deviation, and each curve's span."""
    velocities = sorted(v for v in reference if v >= lowest and v in model)
    differences = np.array([model[v] - reference[v] for v in velocities])
    offset = float(differences.mean())
    return {"offset_db": offset, "max_deviation_db": float(np.abs(differences - offset).max()),
            "model_span_db": model[velocities[-1]] - model[velocities[0]],
            "reference_span_db": reference[velocities[-1]] - reference[velocities[0]]}


# ---- probes: short MIDI files that isolate one property each -------------------------------------------

SUSTAIN_KEYS = (36, 48, 60, 72, 84, 96)
# Each key is held this many times. One held note's figure swings by 20 dB or more from draw to draw (a
# model's note comes out right or it does not), so the figure is the mean over every held note, in dB: over 24
# seeds of the shipped model it spread by 1.4 dB (standard deviation) where the median of one note per key
# spread by 3.3 dB (docs/experiments/2026-12-06-a-steadier-noise-floor-figure.md).
SUSTAIN_STRIKES = 3
VELOCITY_KEYS = (48, 60, 72)
VELOCITIES = VELOCITY_CURVE_POINTS  # those a model's velocity curve names its trims at
PROBE_TAIL_S = 2.0  # silence after the last release, where the idle level is read


# Probe notes fall at 16 evenly spaced places within 4 ms (a frame of the coarsest hop, 64 at 16 kHz), as
# played keys do: a note on a frame boundary is the reference's latest sound relative to its frame, while a
# model learns when sound comes on average over where keys fall, so notes all on the grid would read its
# attack half a frame early.
SUBFRAME_SPREAD_S = 0.004


def _probe_start(i: int, gap: float) -> float:
    return 0.5 + gap * i + SUBFRAME_SPREAD_S * ((7 * i) % 16) / 16


def sustained_probe(keys: tuple[int, ...] = SUSTAIN_KEYS, strikes: int = SUSTAIN_STRIKES):
    """Single notes held 1.5 s at velocity 80, about 3 s apart: the keys in turn (six octaves by default),
    `strikes` times over."""
    from ..dataset.voice_lines import Note as Key

    return [Key(_probe_start(i, 3.0), 1.5, key, 80) for i, key in enumerate(list(keys) * strikes)]


def velocity_probe(keys: tuple[int, ...] = VELOCITY_KEYS):
    """Each key struck at each of VELOCITIES, 0.6 s held, about 1.2 s apart."""
    from ..dataset.voice_lines import Note as Key

    pairs = [(k, v) for k in keys for v in VELOCITIES]
    return [Key(_probe_start(i, 1.2), 0.6, key, velocity) for i, (key, velocity) in enumerate(pairs)]


# The piano's 88 keys, A0 to C8: the held-out pieces play few notes at either end of the keyboard (a test
# seed's six pieces: 7 in octave 1, 2 each in octaves 6 and 7), too few to judge an octave by.
KEYBOARD = tuple(range(LOWEST_KEY, LOWEST_KEY + KEYS))


def keyboard_probe(keys: tuple[int, ...] = KEYBOARD):
    """Every key once, bottom to top, at velocity 80, 0.3 s held, about 0.5 s apart: a dozen notes for each
    octave of the range."""
    from ..dataset.voice_lines import Note as Key

    return [Key(_probe_start(i, 0.5), 0.3, key, 80) for i, key in enumerate(keys)]


def probe_seconds(notes) -> float:
    return max(n.end for n in notes) + PROBE_TAIL_S


def _stretch(audio: np.ndarray, rate: int, start: float, end: float) -> np.ndarray:
    return audio[int(start * rate): int(end * rate)]


# A held note's fall: its level late in the hold against early in it. A piano's note dies away while held; a
# model that loses or inflates its own level over many steps of its loop (a bass note that drones on, or one
# that fades to its hiss) reads a different fall from the instrument's.
# Both stretches lie within the sustained probe's 1.5 s hold.
DECAY_EARLY_S = (0.15, 0.4)
DECAY_LATE_S = (1.1, 1.4)


def decay_db(audio: np.ndarray, rate: int, start: float) -> float:
    """dB from the early to the late stretch of a note held from `start` (negative: it fell)."""
    early, late = (_stretch(audio, rate, start + a, start + b) for a, b in (DECAY_EARLY_S, DECAY_LATE_S))
    return rms_dbfs(late) - rms_dbfs(early)


def sustained_figures(audio: np.ndarray, rate: int, notes, delay: float) -> dict:
    """Harmonic-to-noise of each held note over 0.15-0.9 s after its onset (the attack left out): per key the
    mean over its strikes, and the mean over every note, in dB (a dead key counts, as a listener hears it);
    per key the level of its fundamental over the same stretch and its fall while held (decay_db; each the
    mean over its strikes, in dB); and the loudest 50 ms from 1 s after the last release on (the level with no
    key down)."""
    held = [(n.key, _stretch(audio, rate, n.start + delay + 0.15, n.start + delay + 0.9)) for n in notes]
    per_note = [(key, harmonic_to_noise_db(stretch, rate, key)) for key, stretch in held]
    keys = dict.fromkeys(key for key, _ in per_note)  # in the order played
    hnr = {key: float(np.mean([db for k, db in per_note if k == key])) for key in keys}
    fundamental = {key: float(np.mean([fundamental_dbfs(stretch, rate, key) for k, stretch in held if k == key]))
                   for key in keys}
    last = max(n.end for n in notes) + delay
    decay = {key: float(np.mean([decay_db(audio, rate, n.start + delay) for n in notes if n.key == key]))
             for key in keys}
    idle = loudest_window_dbfs(_stretch(audio, rate, last + 1.0, last + PROBE_TAIL_S), rate)
    return {"hnr_db": hnr, "hnr_mean_db": float(np.mean([db for _, db in per_note])), "fundamental_dbfs": fundamental,
            "decay_db": decay, "idle_dbfs": idle}


# A note's sound starts where it first passes -40 dBFS, as `benchmarks/latency.py --key-to-sound` reads it
# live; a note that does not within half a second is unheard. One already that loud in the 2 ms before its
# time (hiss, a tail, a note started early) has no onset to read: it counts apart, never as instant.
ONSET_LEVEL = 10 ** (-40 / 20)
ONSET_WITHIN_S = 0.5
ONSET_QUIET_BEFORE_S = 0.002


def onsets_s(audio: np.ndarray, rate: int, notes, delay: float) -> list[float | None]:
    """Each note's seconds from its key plus the delay the model learned to its sound: None if unheard, NaN if
    already sounding."""
    out = []
    for n in notes:
        at = n.start + delay
        if np.abs(_stretch(audio, rate, at - ONSET_QUIET_BEFORE_S, at)).max(initial=0.0) > ONSET_LEVEL:
            out.append(float("nan"))
            continue
        loud = np.flatnonzero(np.abs(_stretch(audio, rate, at, at + ONSET_WITHIN_S)) > ONSET_LEVEL)
        out.append(float(loud[0]) / rate if len(loud) else None)
    return out


def attack_figures(model: list[float | None], reference: list[float | None]) -> dict:
    """Onsets in ms (model's and reference's, over the notes each starts from quiet) and the model's lag
    behind the reference note by note, over the notes both do; `unheard`: notes the reference sounds and the
    model does not; `already_sounding`: notes the model was already loud at. What the model adds to a key's
    time to sound beyond the instrument it imitates (both after the delay it learned)."""
    def percentiles(ms: list[float]) -> dict | None:
        return None if not ms else {"p5": float(np.percentile(ms, 5)), "p50": float(np.median(ms)),
                                    "p95": float(np.percentile(ms, 95)), "max": float(np.max(ms))}

    def started(x) -> bool:
        return x is not None and not np.isnan(x)

    pairs = [(1e3 * m, 1e3 * r) for m, r in zip(model, reference) if started(m) and started(r)]
    return {"model_onset_ms": percentiles([1e3 * m for m in model if started(m)]),
            "reference_onset_ms": percentiles([1e3 * r for r in reference if started(r)]),
            "lag_ms": percentiles([m - r for m, r in pairs]), "notes": len(pairs),
            "unheard": sum(m is None and started(r) for m, r in zip(model, reference)),
            "already_sounding": sum(m is not None and np.isnan(m) for m in model)}


def velocity_curve(audio: np.ndarray, rate: int, notes, delay: float) -> dict[int, float]:
    """dBFS RMS over the first 0.4 s of each note, averaged over the keys (in dB) per velocity."""
    levels: dict[int, list[float]] = {}
    for n in notes:
        levels.setdefault(n.velocity, []).append(rms_dbfs(_stretch(audio, rate, n.start + delay,
                                                                   n.start + delay + 0.4)))
    return {v: float(np.mean(db)) for v, db in sorted(levels.items())}
