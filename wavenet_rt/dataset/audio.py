# Audio for the dataset: MIDI rendered by the fluidsynth command-line synthesizer with a General MIDI
# soundfont, or recorded files read with soundfile; both made mono, resampled (soxr) and peak-normalised.
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from .sources import DatasetError

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")  # Debian package timgm6mb-soundfont
PEAK = 0.9  # normalised peak level, a little headroom below full scale


def check_renderer(soundfont: Path) -> None:
    """Fails early, naming the package to install, when fluidsynth or the soundfont is missing."""
    if shutil.which("fluidsynth") is None:
        raise DatasetError("fluidsynth is not installed; on Debian: apt-get install fluidsynth")
    if not soundfont.is_file():
        if soundfont == DEFAULT_SOUNDFONT:
            raise DatasetError(f"the default soundfont {soundfont} is missing; on Debian: "
                               "apt-get install timgm6mb-soundfont (or pass --soundfont FILE.sf2)")
        raise DatasetError(f"soundfont not found: {soundfont}")


def render_midi(midi: Path, out_wav: Path, soundfont: Path, sample_rate: int, reverb: bool) -> np.ndarray:
    """Renders a MIDI file offline -> mono float32 audio at sample_rate (not normalised)."""
    effects = "1" if reverb else "0"
    command = ["fluidsynth", "-ni", "-q", "-R", effects, "-C", effects, "-g", "0.5", "-O", "float",
               "-T", "wav", "-r", str(sample_rate), "-F", str(out_wav), str(soundfont), str(midi)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not out_wav.is_file():
        raise DatasetError(f"fluidsynth failed on {midi}: {result.stderr.strip() or result.stdout.strip()}")
    return load_audio(out_wav, sample_rate)


def load_audio(path: Path, sample_rate: int) -> np.ndarray:
    """Any file soundfile reads -> mono float32 at sample_rate."""
    import soundfile

    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as err:
        raise DatasetError(f"cannot read audio file {path}: {err}") from err
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        import soxr

        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def normalise(audio: np.ndarray) -> np.ndarray:
    """Scales the peak to PEAK; raises on silence (nothing to learn from)."""
    peak = float(np.max(np.abs(audio), initial=0.0))
    if peak < 1e-4:
        raise DatasetError("the audio is silent")
    return (audio * (PEAK / peak)).astype(np.float32)
