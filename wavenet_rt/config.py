# WaveNetConfig: the one description of a model's shape, shared by the PyTorch model, model files and the
# C++ engines (csrc/core/weights.h reuses these names). Presets are the standard sizes of DESIGN.md.
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .conditioning import MAX_GAIN, MAX_VELOCITY_TRIM_DB, MAX_VOICES, VELOCITY_CURVE_POINTS
from .sampling import MAX_STRIKE_SCALE, MAX_TEMPERATURE


def _dilation_cycles(cycles: int, top: int = 512) -> list[int]:
    one_cycle = [2**i for i in range(top.bit_length())]  # 1, 2, 4, ..., top
    return one_cycle * cycles


_PRESETS: dict[str, dict[str, Any]] = {
    "small": dict(dilations=_dilation_cycles(2), residual_channels=32, gate_channels=64, skip_channels=128),
    "medium": dict(dilations=_dilation_cycles(2), residual_channels=64, gate_channels=128, skip_channels=256),
    "large": dict(dilations=_dilation_cycles(3), residual_channels=128, gate_channels=256, skip_channels=256),
}


@dataclass
class WaveNetConfig:
    """Shape of a WaveNet. Sample t of the output uses conditioning frame t // cond_hop."""

    dilations: list[int] = field(default_factory=lambda: _dilation_cycles(2))
    kernel_size: int = 2
    residual_channels: int = 32
    gate_channels: int = 64  # split in two halves: tanh and sigmoid
    skip_channels: int = 128
    classes: int = 256  # mu-law classes
    cond_channels: int = 0  # 0 = no local conditioning
    cond_hop: int = 64  # samples per conditioning frame
    global_classes: int = 0  # 0 = no global conditioning
    sample_rate: int = 16000
    cond_features: str = ""  # name of the conditioning feature set (wavenet_rt.conditioning.FEATURE_SETS)
    excitation: str = ""  # "periods": the input one held key's period back, added to the input (excitation.py)
    # How players condition it by default: 0 = one stream hears every key (the model learned chords);
    # N = keys shared out to N voices of one key each, one engine stream per voice, mixed (csrc/midi/voices.h)
    voices: int = 0
    # The pole r of a DC blocker on every generated sample before it is played and fed back, y = x - x_prev
    # + r * y_prev (wavenet_rt/feedback.py): a model that drifts into a constant offset stops hearing it.
    # 0 = none. 0.9995 puts the corner at 1.3 Hz at 16 kHz, far below the piano's lowest key.
    dc_blocker: float = 0.0
    # The sampling temperature players draw with unless asked for another (the mod wheel raises it up to
    # twice this). 1 = the distribution the model learned; below 1 the hop-64 piano that shipped until
    # 2026-12-06 heard fewer spurious notes (docs/experiments/2026-12-06-temperature.md). Training never reads it.
    temperature: float = 1.0
    # The level trim players multiply the voices' summed streams by (csrc/midi/voices.h mix_voices). Voices
    # add at unity, as an instrument's notes do, so the number of voices sets the polyphony and not the level;
    # a model whose streams play too loud trims them here (the hop-64 piano: 0.25). Training never reads it.
    gain: float = 1.0
    # A voice's temperature over its note's first 10 ms (the strike) at full velocity, as a multiple of the
    # temperature in [1, MAX_STRIKE_SCALE], and in proportion less for softer notes (csrc/live/performer.h):
    # a hotter strike reaches the ear sooner (docs/experiments/2026-12-07-strike-and-sustain.md). 1 = alike.
    # Training never reads it.
    strike_scale: float = 1.0
    # A voice's temperature once its note's attack is over (its onset channels dark: after ONSET_SECONDS,
    # and in its release tail), as a multiple of the temperature (csrc/live/performer.h). The attack is
    # drawn as the model learned it, the held sound with less hiss: at 0.5 the stage-18 piano's transcribed
    # note F1 rose (docs/experiments/2026-12-07-strike-and-sustain.md). 1 = alike. Training never reads it.
    sustain_scale: float = 1.0
    # Each voice's level by its note's velocity, in dB at VELOCITY_CURVE_POINTS (16, 20, 32 ... 127;
    # interpolated between them), applied to the voice's stream before the mix (csrc/midi/velocity_curve.h):
    # a model trained with `train --velocity-level` learned every note at the loudest's level, its windows
    # divided by this curve (wavenet_rt/velocity_level.py). Empty = none: notes learned at their own level.
    velocity_curve_db: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dilations = [int(d) for d in self.dilations]
        self.validate()

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> WaveNetConfig:
        if name not in _PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(_PRESETS)}")
        return cls(**{**_PRESETS[name], **overrides})

    @property
    def receptive_field(self) -> int:
        """Number of input samples (the current one included) that one output depends on."""
        return (self.kernel_size - 1) * sum(self.dilations) + 1

    @property
    def layers(self) -> int:
        return len(self.dilations)

    def validate(self) -> None:
        problems = []
        if not self.dilations or any(d < 1 for d in self.dilations):
            problems.append(f"dilations must be a non-empty list of positive ints, got {self.dilations}")
        for name in ("kernel_size", "residual_channels", "skip_channels", "cond_hop", "sample_rate"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.gate_channels < 2 or self.gate_channels % 2:
            problems.append(f"gate_channels must be even and >= 2, got {self.gate_channels}")
        if not 2 <= self.classes <= 65536:
            problems.append(f"classes must be in [2, 65536], got {self.classes}")
        if self.cond_channels < 0 or self.global_classes < 0:
            problems.append("cond_channels and global_classes must be >= 0")
        if self.excitation not in ("", "periods"):
            problems.append(f"excitation must be '' or 'periods', got {self.excitation!r}")
        elif self.excitation and not (self.cond_features.startswith("roll88") and self.cond_channels >= 88):
            problems.append("excitation 'periods' needs conditioning that starts with the 88-key roll (roll88...)")
        if not 0 <= self.voices <= MAX_VOICES or (self.voices and not self.cond_channels):
            problems.append(f"voices must be in [0, {MAX_VOICES}], and 0 without local conditioning, got {self.voices}")
        number = isinstance(self.dc_blocker, (int, float)) and not isinstance(self.dc_blocker, bool)
        if not (number and 0 <= np.float32(self.dc_blocker) < 1):  # the engines' float32, as C++ checks it
            problems.append(f"dc_blocker must be a number in [0, 1) in float32, got {self.dc_blocker!r}")
        number = isinstance(self.temperature, (int, float)) and not isinstance(self.temperature, bool)
        if not (number and 0 <= self.temperature <= MAX_TEMPERATURE):
            problems.append(f"temperature must be a number in [0, {MAX_TEMPERATURE:g}], got {self.temperature!r}")
        number = isinstance(self.gain, (int, float)) and not isinstance(self.gain, bool)
        if not (number and 0 < np.float32(self.gain) <= MAX_GAIN):  # the mixer's float32, as C++ checks it
            problems.append(f"gain must be a number in (0, {MAX_GAIN:g}] in float32, got {self.gain!r}")
        number = isinstance(self.strike_scale, (int, float)) and not isinstance(self.strike_scale, bool)
        if not (number and 1 <= self.strike_scale <= MAX_STRIKE_SCALE):
            problems.append(f"strike_scale must be a number in [1, {MAX_STRIKE_SCALE:g}], got {self.strike_scale!r}")
        number = isinstance(self.sustain_scale, (int, float)) and not isinstance(self.sustain_scale, bool)
        if not (number and 0 <= self.sustain_scale <= 1):
            problems.append(f"sustain_scale must be a number in [0, 1], got {self.sustain_scale!r}")
        problems += self._velocity_curve_problems()
        if problems:
            raise ValueError("invalid WaveNetConfig: " + "; ".join(problems))

    def _velocity_curve_problems(self) -> list[str]:
        curve = self.velocity_curve_db
        numbers = isinstance(curve, list) and all(
            isinstance(d, (int, float)) and not isinstance(d, bool) and abs(d) <= MAX_VELOCITY_TRIM_DB for d in curve)
        if not numbers or len(curve) not in (0, len(VELOCITY_CURVE_POINTS)):
            return [f"velocity_curve_db must be empty or {len(VELOCITY_CURVE_POINTS)} numbers within "
                    f"+-{MAX_VELOCITY_TRIM_DB:g} dB (at velocities {VELOCITY_CURVE_POINTS}), got {curve!r}"]
        if curve and not self.voices:
            return ["velocity_curve_db trims voices: it needs voices > 0"]
        return []

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WaveNetConfig:
        """Parses a config written by to_json; unknown fields are an error (a newer writer)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("config JSON must be an object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config has fields this version does not know: {unknown}")
        return cls(**data)
