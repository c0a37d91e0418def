# Audio for the dataset: MIDI rendered by the fluidsynth command-line synthesizer with a General MIDI
# soundfont at one gain for the whole dataset (so a key struck harder is louder, as on the instrument), or
# recorded files read with soundfile and kept at their recorded level; both made mono and resampled (soxr).
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from .sources import DatasetError

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")  # Debian package timgm6mb-soundfont
# fluidsynth's master gain for every render of a dataset. At 1.4 a single key struck at velocity 127 peaks
# at -10 to -16 dBFS over the keyboard (TimGM6mb) and at velocity 20 near -43 dBFS, well above the 8-bit
# mu-law floor; a chorale with all four parts redrawn to forte still peaks below full scale (1.04 at 2.0).
DEFAULT_GAIN = 1.4
# fluidsynth starts a note 1-2 of its 64-sample blocks after the MIDI event: 8-16 ms at 8 kHz, 1.3-2.7 ms
# at 48 kHz. Rendering at 48 kHz (then resampling) keeps the audio that close to the conditioning frames.
RENDER_RATE = 48000


def check_renderer(soundfont: Path) -> None:
    """Fails early, naming the package to install, when fluidsynth or the soundfont is missing."""
    if shutil.which("fluidsynth") is None:
        raise DatasetError("fluidsynth is not installed; on Debian: apt-get install fluidsynth")
    if not soundfont.is_file():
        if soundfont == DEFAULT_SOUNDFONT:
            raise DatasetError(f"the default soundfont {soundfont} is missing; on Debian: "
                               "apt-get install timgm6mb-soundfont (or pass --soundfont FILE.sf2)")
        raise DatasetError(f"soundfont not found: {soundfont}")


def render_midi(midi: Path, out_wav: Path, soundfont: Path, sample_rate: int, reverb: bool,
                gain: float = DEFAULT_GAIN) -> np.ndarray:
    """Renders a MIDI file offline at fluidsynth master `gain` -> mono float32 audio at sample_rate."""
    effects = "1" if reverb else "0"
    render_rate = max(RENDER_RATE, min(sample_rate, 96000))  # fluidsynth accepts 8 to 96 kHz
    command = ["fluidsynth", "-ni", "-q", "-R", effects, "-C", effects, "-g", f"{gain:g}", "-O", "float",
               "-T", "wav", "-r", str(render_rate), "-F", str(out_wav), str(soundfont), str(midi)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not out_wav.is_file():
        raise DatasetError(f"fluidsynth failed on {midi}: {result.stderr.strip() or result.stdout.strip()}")
    return load_audio(out_wav, sample_rate)


# fluidsynth sounds a note one or two of its 64-sample blocks after the MIDI event: never earlier than
# 1.33 ms at 48 kHz (measured: 1.5 ms and up). soxr's resampling rings up to ~0.5 ms ahead of an attack.
FLUIDSYNTH_ONSET_S = 0.0013
RESAMPLER_LEAD_S = 0.0005


def conditioning_delay(hop: int, sample_rate: int) -> int:
    """Samples rendered audio is delayed by, so that no note sounds before the frame that shows it. A
    note-on lands on the next frame boundary, up to a hop after the event, while the render sounds it at
    least FLUIDSYNTH_ONSET_S after: only the difference, plus the resampler's lead, needs delaying. A
    note that started before its frame would teach the model to start notes at random and then to wait
    for sound that does not come; every sample more of delay is latency the model learns to keep."""
    return max(0, hop - round(FLUIDSYNTH_ONSET_S * sample_rate)) + round(RESAMPLER_LEAD_S * sample_rate)


def manifest_delay(manifest: dict) -> int:
    """The delay a dataset's targets were rendered with (datasets from before it was recorded: a hop + 1 ms)."""
    return manifest.get("delay", manifest["cond_hop"] + round(0.001 * manifest["sample_rate"]))


def delay_behind_conditioning(audio: np.ndarray, delay: int) -> np.ndarray:
    return np.concatenate([np.zeros(delay, audio.dtype), audio])


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


def check_level(audio: np.ndarray, gain: float | None) -> np.ndarray:
    """Refuses audio that is silent (nothing to learn from) or clips (mu-law would fold it); returns it."""
    peak = float(np.max(np.abs(audio), initial=0.0))
    if peak < 1e-4:
        raise DatasetError("the audio is silent")
    if peak > 1.01:  # a recording at full scale may overshoot by a hair after resampling
        hint = f"lower --gain (now {gain:g})" if gain is not None else "the recording clips"
        raise DatasetError(f"the audio peaks at {peak:.2f}, above full scale: {hint}")
    return audio
