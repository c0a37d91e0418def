# Composing with the trained composer: the Composer writes all four voices step by step without end (a
# generator, so a live player can stay a phrase ahead), the Harmonizer takes the soprano as it is played
# and adds bass, alto and tenor under each step. Both sample with temperature and top-p, seeded, and the
# voice-leading rules (rules.py) forbid the tokens that would break them.
from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .keyfinder import parse_key
from .numpy_model import NumpyComposerNet
from .rules import allowed
from .tokens import HOLD, REST, STEPS_PER_BAR, STEPS_PER_QUARTER, VOCAB, pitch_token, token_pitch
from .weights import load_composer_file


def load_net(path: Path | None = None) -> NumpyComposerNet:
    config, tensors, _ = load_composer_file(path)
    return NumpyComposerNet(config, tensors)


# With the rules on, a composed piece opens on the tonic chord for a bar and a piece of known length ends on
# it for a bar: the model alone drifts (docs/experiments/2026-12-04-composer-key-bias.md), and the framing
# makes every piece start and end in its key, as chorales do.
OPENING_STEPS = STEPS_PER_BAR
CLOSING_STEPS = STEPS_PER_BAR


def tonic_chord(key: int, voice: int, sounding: int) -> np.ndarray:
    """Mask (VOCAB,) of the tokens that keep `voice` on the key's tonic triad (the tonic alone in the bass):
    its notes, and HOLD where the voice already sounds one."""
    classes = (0,) if voice == 1 else (0, 3, 7) if key >= 12 else (0, 4, 7)
    relative = (token_pitch(np.arange(VOCAB)) - key % 12) % 12
    mask = np.isin(relative, classes)
    mask[[REST, HOLD]] = False
    mask[HOLD] = sounding > 0 and (sounding - key % 12) % 12 in classes
    return mask


def choose(logits: np.ndarray, mask: np.ndarray | None, temperature: float, top_p: float,
           rng: np.random.Generator) -> int:
    """A token from softmax(logits / temperature) restricted to `mask` and to the smallest set of most
    likely tokens whose probability reaches top_p; temperature 0 takes the most likely allowed token."""
    if not 0 < top_p <= 1 or temperature < 0:
        raise ValueError(f"need 0 < top_p <= 1 and temperature >= 0, got {top_p}, {temperature}")
    z = np.where(mask, logits, -np.inf) if mask is not None else logits.astype(np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    p = np.exp((z - z.max()) / temperature)
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    keep = np.searchsorted(np.cumsum(p[order]), top_p) + 1  # tokens up to and including the one crossing top_p
    q = np.zeros_like(p)
    q[order[:keep]] = p[order[:keep]]
    return int(rng.choice(len(q), p=q / q.sum()))


class _Writer:
    """The state both share: the model stream, what sounds now, the rules and the sampler settings."""

    def __init__(self, net: NumpyComposerNet | None, key: int | str, seed: int, temperature: float, top_p: float,
                 rules: bool, phase: int = 0):
        self.net = net if net is not None else load_net()
        self.key = parse_key(key) if isinstance(key, str) else int(key)
        if not 0 <= self.key < self.net.config.keys:
            raise ValueError(f"key id must be in [0, {self.net.config.keys}), got {key}")
        self.stream = self.net.stream()
        self.rng = np.random.default_rng(seed)
        self.temperature, self.top_p, self.rules = temperature, top_p, rules
        self.prev_token = self.net.config.bos
        self.sounding = np.zeros(4, dtype=np.int64)  # MIDI pitch per voice (S B A T), 0 = rest
        self.step_index = phase  # sixteenths since a bar started: 0 begins on a downbeat
        self.relaxed = 0  # voices for which no token kept every rule (the crossing rule was dropped)
        self._soprano_logits: np.ndarray | None = None  # see prefetch
        self.framed: set[int] = set()  # step indices held to the tonic chord (Composer)

    def prefetch(self) -> None:
        """Runs the model for the next step's soprano now (its input, the last token, is known), so the next
        step costs one model call less when it comes: the harmoniser's answer to a key, three calls."""
        if self._soprano_logits is None:
            self._soprano_logits = self.stream.step(self.prev_token, 0, self.step_index % STEPS_PER_BAR, self.key)

    def _feed(self, voice: int, forced: int | None, now: np.ndarray) -> int:
        if voice == 0:
            self.prefetch()
            logits, self._soprano_logits = self._soprano_logits, None
        else:
            logits = self.stream.step(self.prev_token, voice, self.step_index % STEPS_PER_BAR, self.key)
        token, relaxed = (forced, False) if forced is not None else self._pick(voice, logits, now, self.rng)
        self.relaxed += relaxed
        self._sound(voice, token, now)
        self.prev_token = token
        return token

    def _pick(self, voice: int, logits: np.ndarray, now: np.ndarray, rng: np.random.Generator) -> tuple[int, bool]:
        """The voice's token under the rules (the voices above it already in `now`), and whether the crossing
        rule had to be dropped to find one."""
        mask, relaxed = None, False
        if self.rules:
            mask = allowed(voice, self.sounding, now, list(range(voice)))
            if mask.sum() <= 1:  # only REST left: give up on crossing before giving up on the voice
                mask = allowed(voice, self.sounding, now, list(range(voice)), crossing=False)
                relaxed = True
        if self.rules and self.step_index in self.framed:
            chord = tonic_chord(self.key, voice, self.sounding[voice])
            if mask is not None:
                chord &= mask
            if chord.any():  # else the rules win: the voice moves as the model says
                mask = chord
        return choose(logits, mask, self.temperature, self.top_p, rng), relaxed

    def _sound(self, voice: int, token: int, now: np.ndarray) -> None:
        now[voice] = 0 if token == REST else self.sounding[voice] if token == HOLD else token_pitch(token)

    def _step(self, forced: tuple[int | None, ...]) -> np.ndarray:
        """One grid step; `forced`: per voice (S, B, A, T) a token to take as given, or None to sample."""
        now = np.zeros(4, dtype=np.int64)
        tokens = np.zeros(4, dtype=np.int64)
        for voice in range(4):
            tokens[voice] = self._feed(voice, forced[voice], now)
        self.sounding = now
        self.step_index += 1
        return tokens


class Composer(_Writer):
    """Four-part pieces in `key` ('C', 'F#m', 'Bb minor' or a key id), 4/4 on a sixteenth grid."""

    def __init__(self, net: NumpyComposerNet | None = None, key: int | str = "C", seed: int = 0,
                 temperature: float = 1.0, top_p: float = 0.95, rules: bool = True):
        super().__init__(net, key, seed, temperature, top_p, rules)
        self.framed = set(range(OPENING_STEPS))

    def steps(self) -> Iterator[np.ndarray]:
        """Without end: (4,) tokens S, B, A, T per sixteenth, in the model's constant time per step."""
        while True:
            yield self._step((None,) * 4)

    def compose(self, steps: int, progress: bool = False) -> np.ndarray:
        """(steps, 4) tokens."""
        from tqdm import tqdm

        end = self.step_index + steps
        self.framed |= set(range(max(self.step_index, end - CLOSING_STEPS), end))
        gen = self.steps()
        return np.array([next(gen) for _ in tqdm(range(steps), desc="composing", unit="step", disable=not progress)])


class Harmonizer(_Writer):
    """Adds bass, alto and tenor to a melody one sixteenth at a time, from the melody so far only; `phase`:
    sixteenths into the bar of the first step (12 for a one-beat pickup in 4/4)."""

    def __init__(self, net: NumpyComposerNet | None = None, key: int | str = "C", seed: int = 0,
                 temperature: float = 1.0, top_p: float = 0.95, rules: bool = True, phase: int = 0):
        super().__init__(net, key, seed, temperature, top_p, rules, phase)
        self.speculation: Speculation | None = None  # this step's answers to likely keys (speculate)
        self.answered_ahead = 0  # keys whose answer a speculation had written

    def _step(self, forced: tuple[int | None, ...]) -> np.ndarray:
        self.speculation = None  # written for the step this one replaces
        return super()._step(forced)

    def step(self, soprano: int) -> np.ndarray:
        """soprano: the melody's token for this step (REST, HOLD or a note token) -> (4,) tokens S, B, A, T."""
        return self._step((int(soprano), None, None, None))

    def wait(self, down: bool) -> np.ndarray:
        """A step in which nothing new sounds: every voice holds (`down`) or rests; the model hears what was
        played, so its next harmony follows it."""
        return self._step((HOLD if down else REST,) * 4)

    def note(self, pitch: int) -> np.ndarray:
        """A melody key struck now: the step's four MIDI pitches (S, B, A, T; 0 where a voice rests). A key
        the finished speculation holds costs no model call: its answer was written ahead, the same one."""
        spec = self.speculation
        if spec is not None and spec.done and pitch in spec.pitches:
            self._adopt(spec, spec.pitches.index(pitch))
            self.answered_ahead += 1
        else:
            self.step(pitch_token(pitch))
        return self.sounding.copy()

    def speculate(self, pitches) -> Iterator[None]:
        """Writes ahead this step's answer to each of `pitches` (distinct MIDI pitches), all together: one
        batched model call per lower voice. A generator: each next() does one call, so a caller can let a
        key in between; the work is dropped when the step moves on before it is done. The answer is the one
        note() would compute, up to the rounding of batched products (logits within ~1e-6 in float32): the
        random draws stay in step, so a token differs only where its draw lies on a sampling boundary."""
        self.prefetch()
        spec = self.speculation = Speculation(self, [int(p) for p in pitches])
        for voice in range(1, 4):
            if self.speculation is not spec:  # a step was taken meanwhile: this is stale
                return
            logits = spec.branches.step(spec.tokens[:, voice - 1], voice, self.step_index % STEPS_PER_BAR, self.key)
            for b, rng in enumerate(spec.rngs):
                token, relaxed = self._pick(voice, logits[b], spec.now[b], rng)
                spec.tokens[b, voice], spec.relaxed[b] = token, spec.relaxed[b] + relaxed
                self._sound(voice, token, spec.now[b])
            spec.done = voice == 3  # before yielding: a key let in now finds it ready
            yield

    def _adopt(self, spec: Speculation, b: int) -> None:
        """Takes branch b of a finished speculation as this step, as _step would have taken it."""
        self._soprano_logits = None  # the soprano was given: its logits were not needed
        self.stream.adopt(spec.branches, b)
        self.rng, self.relaxed = spec.rngs[b], self.relaxed + int(spec.relaxed[b])
        self.prev_token = int(spec.tokens[b, 3])
        self.sounding = spec.now[b].copy()
        self.step_index += 1
        self.speculation = None


class Speculation:
    """One step written ahead for several soprano pitches: per pitch the tokens, what sounds, the sampler's
    random state and the model's continuation (a branch of the stream)."""

    def __init__(self, harmonizer: Harmonizer, pitches: list[int]):
        self.pitches = pitches
        n = len(pitches)
        self.tokens = np.zeros((n, 4), dtype=np.int64)
        self.tokens[:, 0] = [pitch_token(p) for p in pitches]
        self.now = np.zeros((n, 4), dtype=np.int64)
        self.now[:, 0] = pitches
        self.relaxed = np.zeros(n, dtype=np.int64)
        self.rngs = [copy.deepcopy(harmonizer.rng) for _ in pitches]  # each draws what _step would draw
        self.branches = harmonizer.stream.branch(n)
        self.done = False


def steps_for(bars: float | None = None, seconds: float | None = None, tempo: float = 90.0) -> int:
    """Grid steps in `bars` of 4/4 or in `seconds` at `tempo` quarter notes per minute (whole bars)."""
    if (bars is None) == (seconds is None):
        raise ValueError("give a length in bars or in seconds")
    if tempo <= 0:
        raise ValueError(f"tempo must be positive, got {tempo}")
    if seconds is not None:
        bars = seconds * tempo / 60 / (STEPS_PER_BAR // STEPS_PER_QUARTER)
    if bars <= 0:
        raise ValueError("the length must be positive")
    return max(1, round(bars)) * STEPS_PER_BAR
