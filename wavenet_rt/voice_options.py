# The voice, sleep, precision and temperature policy of the command-line players (play, render, evaluate):
# the --voices, --sleep-after, --precision, --temperature, --strike-scale and --sustain-scale options they
# share, and a model's own voices, temperature and scales. The mechanisms live in the conditioner
# (csrc/midi/voices.h), the engines (csrc/core/sleep.h) and the performer (csrc/live/performer.cpp).
from __future__ import annotations

import argparse
from pathlib import Path

from .conditioning import MAX_VOICES
from .config import WaveNetConfig
from .sampling import MAX_STRIKE_SCALE, MAX_TEMPERATURE
from .weights import read_model_config

# What the player, render and evaluate pass as sleep_after (the LV2 plugin's *Sleep after* default too): half a
# second after its key lifts, a released note of the shipped model has reached its idle hiss (median -59.5 dBFS,
# the loudest of 66 notes -55 dBFS; 11 keys x 3 velocities x 2 seeds, 2026-12-05), so waiting longer only hisses
# and, under a chorale's stream of released notes, keeps twice as many voices computing.
PLAYER_SLEEP_AFTER_S = 0.5
# How the players store the weights: fp16 scores the shipped model's test split as fp32 does (2.0513 bits per
# sample against 2.0515) and, half the bytes, keeps a chord's matrices in the core's L2: 16 awake voices ran
# 1.3x faster, and the live harmoniser ran short 18 times in 3 minutes against 278-1,548 in fp32
# (docs/experiments/2026-12-05-fp16-by-default.md). The LV2 plugin stores its weights the same way.
PLAYER_PRECISION = "fp16"


def add_voice_options(p: argparse.ArgumentParser) -> None:
    """--voices and --sleep-after: how the keys are shared out to engine streams, and when a stream rests."""
    p.add_argument("--voices", type=int, metavar="N", help=(
        "polyphony: share the keys out to N voices, one engine stream each, summed at unity (a note sounds as "
        "loud through any number of voices; a voice costs compute "
        "while it sounds; when all sound, the quietest gives way: a released note's tail, then the oldest "
        "held note); 0: one stream hears every key. Default: the model's own (16 for the shipped model); play "
        "halves it, down to 4, where this CPU cannot run them all sounding at 1.5x real time"))
    p.add_argument("--sleep-after", type=float, default=PLAYER_SLEEP_AFTER_S, metavar="SECONDS", help=(
        "a voice with no key down this long sleeps until its next key: silence instead of the model's idle "
        f"hiss, and no compute on the CPU (default {PLAYER_SLEEP_AFTER_S:g}; 0: never, every sample drawn)"))


def add_precision_option(p: argparse.ArgumentParser) -> None:
    """--precision: how the CPU engine stores the weights (the speed / fidelity trade, one help for all)."""
    p.add_argument("--precision", default=PLAYER_PRECISION, choices=["fp32", "fp16", "int8"], help=(
        "CPU engine weights: fp32 (exact), fp16 (half the bytes, float32 arithmetic: logits about 1e-3 from "
        "fp32's, the same likelihood, faster), int8 (a quarter of the bytes, integer sums, the logits' own "
        f"matrix fp32; logits about 1e-2 from fp32's; CPU only). Default {PLAYER_PRECISION}"))


def model_voices(model: Path, voices: int | None) -> int:
    """The voices to play `model` with: `voices` when given, else the model file's own default."""
    config = read_model_config(model)
    if voices is None:
        return config.voices
    if not 0 <= voices <= MAX_VOICES:
        raise ValueError(f"--voices must be in [0, {MAX_VOICES}], got {voices}")
    if voices == 0 and config.velocity_curve_db:
        raise ValueError(f"{model} learned every note at one level and plays each note's velocity through its "
                         "voices: --voices must be at least 1")
    return voices


def _number_in(low: float, high: float):
    """argparse type: a number in [low, high] (`not <=` also refuses NaN)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], got {text}")
        return value
    return parse


def add_temperature_option(p: argparse.ArgumentParser, what: str) -> None:
    """--temperature (`what` it sets), --strike-scale and --sustain-scale; by default the model file's own."""
    p.add_argument("--temperature", type=_number_in(0, MAX_TEMPERATURE), help=(
        f"{what} (0 = argmax; default the model's own, its config's temperature: 1 for the shipped piano "
        "and for a model trained here)"))
    p.add_argument("--strike-scale", type=_number_in(1, MAX_STRIKE_SCALE), metavar="SCALE", help=(
        "a voice's temperature over its note's first 10 ms at full velocity, as a multiple of the temperature "
        "(softer notes in proportion less): a hotter strike sounds sooner (1 = alike; default the model's own: "
        "1.3 for the shipped piano, 1 for a model trained here)"))
    p.add_argument("--sustain-scale", type=_number_in(0, 1), metavar="SCALE", help=(
        "a voice's temperature once its note's attack is over (the first 32 ms), as a multiple of the "
        "temperature: less hiss while a note sounds (1 = alike; default the model's own: 0.25 for the shipped "
        "piano, 1 for a model trained here)"))


def player_temperature(config: WaveNetConfig, temperature: float | None) -> float:
    """What a player samples at: `temperature` when one was asked for, else the model's own."""
    return config.temperature if temperature is None else temperature


def model_scales(config: WaveNetConfig) -> dict[str, float]:
    """How the model scales a voice's temperature over its strike and after its attack: keyword arguments
    of the performer and the live synth."""
    return {"strike_scale": config.strike_scale, "sustain_scale": config.sustain_scale}


def model_mix(config: WaveNetConfig) -> dict:
    """How the voices' streams are mixed: the model's level trim and its velocity curve (keyword arguments of
    the performer and the live synth, which refuse a curve without voices rather than play every note loud)."""
    return {"gain": config.gain, "velocity_curve_db": list(config.velocity_curve_db)}


def player_scales(config: WaveNetConfig, args: argparse.Namespace) -> dict[str, float]:
    """model_scales, each replaced by --strike-scale or --sustain-scale where one was asked for."""
    asked = {name: getattr(args, name) for name in ("strike_scale", "sustain_scale")}
    return {name: value if asked[name] is None else asked[name] for name, value in model_scales(config).items()}
