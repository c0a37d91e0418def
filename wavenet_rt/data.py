# Training windows from a built dataset (wavenet_rt/dataset/): one split's shards held in memory, and
# random windows of receptive field + N samples drawn from them. Windows start on frame boundaries (so
# conditioning frames line up) and may start before a piece, padded with silence and empty frames, so
# the model also learns how music begins from nothing.
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .conditioning import KEYS, LOWEST_KEY, ONSET_CHANNELS, note_ages
from .dataset.shards import load_manifest, read_shard
from .mulaw import mulaw_decode, mulaw_encode, silence_code
from .velocity_level import divided_codes, frame_levels, voice_trims

# How far before a window its velocity level looks for the note still sounding: a tail longer ago has
# decayed, and a voice sleeps half a second after its key lifts.
VELOCITY_LOOKBACK_S = 1.0
AGE_LOOKBACK_S = 4.0  # a clock is exp(-4) = 0.02 of its start by then

# The keyboard's ends, which the chorales seldom reach even transposed: keys below C2 and from C7 up (MIDI).
# In data/piano16's training split a key of octave 7 is held in 1.2 % of the frames, of octave 4 in 44.5 %.
KEYBOARD_END_BELOW, KEYBOARD_END_FROM = 36, 96


@dataclass
class Batch:
    inputs: np.ndarray  # (B, T) int64 codes; T = receptive_field + targets - 1
    targets: np.ndarray  # (B, N) int64: the codes that follow the last N inputs
    cond: np.ndarray | None  # (B, C, ceil(T / hop)) float32
    global_id: np.ndarray | None  # (B,) int64


class WindowSampler:
    """Random training windows from one split. `receptive_field` samples of context come before the N
    target samples, so every target is predicted from a full receptive field. With a `velocity_curve_db`
    (a model's config's, `train --velocity-level`) each window's audio is divided by its voice's level
    by velocity, as the performer will scale what the model plays."""

    def __init__(self, root: str | Path, split: str, receptive_field: int, targets: int,
                 use_cond: bool = True, use_global: bool = True, solo_share: float | None = None,
                 line_share: float | None = None, velocity_curve_db: list[float] | None = None,
                 ends_share: float = 0.0, with_ages: bool = False) -> None:
        root = Path(root)
        self.manifest = load_manifest(root)
        self.hop = self.manifest["cond_hop"]
        self.length = receptive_field + targets  # codes per window: inputs plus one
        self.targets = targets
        self.use_cond = use_cond and self.manifest["cond_channels"] > 0
        self.use_global = use_global and self.manifest["global_classes"] > 0
        self.silence = silence_code(self.manifest["classes"])
        self.velocity_curve_db = list(velocity_curve_db or [])
        self.with_ages = with_ages and self.use_cond  # the age clocks, computed from each window's frames
        if self.velocity_curve_db and not self.use_cond:
            raise ValueError("a velocity level needs the dataset's MIDI conditioning (its velocities)")
        # Windows may begin up to a receptive field (rounded up to whole frames) before a piece starts.
        self.lead = math.ceil(receptive_field / self.hop) * self.hop
        self.pieces = []
        for item_id, record in sorted(self.manifest["items"].items()):
            if record["split"] != split:
                continue
            codes, cond = read_shard(root / record["shard"])
            starts = (len(codes) - self.length + self.lead) // self.hop + 1  # frame-aligned start positions
            if starts > 0:
                self.pieces.append((item_id, codes, cond if self.use_cond else None, record["global_id"], starts))
        if not self.pieces:
            raise ValueError(f"split {split!r} of {root} has no piece long enough for windows of {self.length} samples")
        records = [self.manifest["items"][p[0]] for p in self.pieces]
        lines = np.array([bool(r.get("line")) for r in records])  # generated lines (--generated)
        parts = np.array([bool(r.get("part_of")) for r in records])  # a score's parts alone (--solo-parts)
        counts = np.array([p[4] for p in self.pieces], dtype=np.float64)
        self.weights = _window_weights(counts, lines, parts, solo_share, line_share)
        self.receptive_field, self.ends_share = receptive_field, ends_share
        if ends_share:
            self._find_keyboard_ends()

    @property
    def hours(self) -> float:
        return sum(len(p[1]) for p in self.pieces) / self.manifest["sample_rate"] / 3600

    def sample(self, rng: np.random.Generator, batch: int) -> Batch:
        picks = rng.choice(len(self.pieces), size=batch, p=self.weights)
        starts = [int(rng.integers(self.pieces[i][4])) * self.hop - self.lead for i in picks]
        spec = list(zip(picks, starts))
        if self.ends_share:
            spec = [self._window_at_an_end(rng) if rng.random() < self.ends_share else s for s in spec]
        return self.windows(spec)

    def _find_keyboard_ends(self) -> None:
        """The frames where each drawable piece holds a key at either end of the keyboard."""
        if not 0 <= self.ends_share <= 1:
            raise ValueError(f"the ends share must be between 0 and 1, not {self.ends_share}")
        if not self.use_cond:
            raise ValueError("an ends share needs the dataset's MIDI conditioning (its keys)")
        low, high = KEYBOARD_END_BELOW - LOWEST_KEY, KEYBOARD_END_FROM - LOWEST_KEY
        self.end_frames = []  # (piece index, frame indices)
        for index, piece in enumerate(self.pieces):
            if self.weights[index] > 0:
                ends = piece[2].dense(np.r_[0:low, high:KEYS]) != 0  # only the end keys' rows: fast
                frames = np.nonzero(ends.any(axis=0))[0]
                if len(frames):
                    self.end_frames.append((index, frames))
        if not self.end_frames:
            raise ValueError(f"an ends share needs keys below MIDI {KEYBOARD_END_BELOW} or from "
                             f"{KEYBOARD_END_FROM} up in the pieces drawn from: build the dataset with "
                             "--generated lines or --transpose-range")
        counts = np.array([len(frames) for _, frames in self.end_frames], dtype=np.float64)
        self.end_weights = counts / counts.sum()

    def _window_at_an_end(self, rng: np.random.Generator) -> tuple[int, int]:
        """A window whose targets hold a frame at a keyboard end, that frame anywhere among them."""
        index, frames = self.end_frames[rng.choice(len(self.end_frames), p=self.end_weights)]
        at = int(rng.choice(frames)) * self.hop - self.receptive_field - int(rng.integers(self.targets))
        start = min(max((at + self.lead) // self.hop, 0), self.pieces[index][4] - 1)
        return index, start * self.hop - self.lead

    def windows(self, spec: list[tuple[int, int]]) -> Batch:
        """The windows at (piece index, start sample) pairs; start < 0 reaches into leading silence."""
        frames = math.ceil((self.length - 1) / self.hop)
        codes = np.full((len(spec), self.length), self.silence, dtype=np.int64)
        cond = None
        if self.use_cond:
            channels = self.pieces[0][2].channels + (KEYS if self.with_ages else 0)
            cond = np.zeros((len(spec), channels, frames), dtype=np.float32)
        # A levelled window's frames reach back far enough to find the note still sounding at its start, and a
        # window with clocks far enough that a note struck before it has aged as it would have
        rate = self.manifest["sample_rate"]
        back = math.ceil(VELOCITY_LOOKBACK_S * rate / self.hop) if self.velocity_curve_db else 0
        back = max(back, math.ceil(AGE_LOOKBACK_S * rate / self.hop)) if self.with_ages else back
        for row, (index, start) in enumerate(spec):
            piece_codes, piece_cond = self.pieces[index][1], self.pieces[index][2]
            skip = max(0, -start)
            codes[row, skip:] = piece_codes[start + skip:start + self.length]
            if cond is None:
                continue
            # zeros before and after the piece; one frame more than the inputs need covers the last target
            window = piece_cond.window(start // self.hop - back, back + frames + 1)
            cond[row, :window.shape[0]] = window[:, back:back + frames]
            if self.with_ages:
                cond[row, window.shape[0]:] = note_ages(window, self.hop, rate)[:, back:back + frames]
            if self.velocity_curve_db:
                codes[row] = self._divided_by_velocity_level(codes[row], window, back)
        global_id = np.array([self.pieces[i][3] for i, _ in spec], dtype=np.int64) if self.use_global else None
        return Batch(codes[:, :-1], codes[:, -self.targets:], cond, global_id)

    def _divided_by_velocity_level(self, codes: np.ndarray, window: np.ndarray, back: int) -> np.ndarray:
        """The window's codes divided by its voice's trims, from its frames and `back` frames before them."""
        trims = voice_trims(frame_levels(window), self.velocity_curve_db, self.hop)[back * self.hop:][:len(codes)]
        return divided_codes(codes, trims, self.manifest["classes"])

    def fixed_windows(self, count: int, seed: int = 1234) -> list[tuple[int, int]]:
        """A reproducible set of window positions (for validation): same seed, same windows."""
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(self.pieces), size=count, p=self.weights)
        return [(int(i), int(rng.integers(self.pieces[i][4])) * self.hop - self.lead) for i in picks]


def _window_weights(counts: np.ndarray, lines: np.ndarray, parts: np.ndarray, solo_share: float | None,
                    line_share: float | None) -> np.ndarray:
    """Window probabilities over the pieces, each group in proportion to its pieces' window counts.
    `line_share` of them on the generated lines (which spread their notes evenly over the keyboard, where
    the chorales crowd the middle octaves); the rest on the other pieces, of which `solo_share` on single
    lines (parts alone, and generated lines when no line share sets them apart) and the rest on whole
    pieces. Without shares, every window position is equally likely."""
    rest = ~lines if line_share is not None else np.ones_like(lines)
    if solo_share is None:
        weights = _in_proportion(counts, rest)
    else:
        if not 0 <= solo_share <= 1:
            raise ValueError(f"the solo share must be between 0 and 1, not {solo_share}")
        solo = (parts | lines) & rest
        whole = rest & ~solo
        if not solo.any() or not whole.any():
            raise ValueError("a solo share needs both whole pieces and single lines in the split: "
                             "build the dataset with --solo-parts (or --generated lines)")
        weights = solo_share * _in_proportion(counts, solo) + (1 - solo_share) * _in_proportion(counts, whole)
    if line_share is None:
        return weights
    if not 0 <= line_share <= 1:
        raise ValueError(f"the line share must be between 0 and 1, not {line_share}")
    if lines.all() or not lines.any():
        raise ValueError("a line share needs both generated lines and other pieces in the split: "
                         "build the dataset with --generated N beside its scores")
    return line_share * _in_proportion(counts, lines) + (1 - line_share) * weights


def _in_proportion(counts: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Probabilities in proportion to `counts` over the chosen pieces, 0 elsewhere."""
    counts = np.where(chosen, counts, 0.0)
    return counts / counts.sum()


def with_input_noise(batch: Batch, std_classes: float, rng: np.random.Generator, classes: int) -> Batch:
    """The batch with Gaussian noise (std in mu-law classes, rounded) added to the codes the model reads,
    not to those it must predict. Free-running, the model reads its own samples, each a few classes off
    the likeliest one; noise of that kind in training teaches it to predict clean samples from such a past
    instead of drifting into a noise floor. In the class domain the noise scales with the signal as its
    own errors do (in the linear domain it would bury quiet passages)."""
    noise = np.rint(rng.normal(0.0, std_classes, batch.inputs.shape)).astype(np.int64)
    return dataclasses.replace(batch, inputs=np.clip(batch.inputs + noise, 0, classes - 1))


def with_input_offset(batch: Batch, amplitude: float, rng: np.random.Generator, classes: int) -> Batch:
    """The batch with a constant offset (uniform in +-amplitude, in linear audio) added to each window's
    input codes from its start up to a random point, never to the targets. Free-running, a small WaveNet
    can slide into a loud DC state it never heard in training and stay there (each sample predicts the
    next one equal); with this it learns to predict the clean signal from such a past, and to recover
    once the past turns clean again. Half the windows stay unchanged."""
    inputs = batch.inputs.copy()
    for row in range(inputs.shape[0]):
        if rng.random() < 0.5:
            continue
        end = int(rng.integers(1, inputs.shape[1] + 1))
        shifted = mulaw_decode(inputs[row, :end], classes) + rng.uniform(-amplitude, amplitude)
        inputs[row, :end] = mulaw_encode(np.clip(shifted, -1.0, 1.0), classes)
    return dataclasses.replace(batch, inputs=inputs)


def with_input_level_drift(batch: Batch, db: float, rng: np.random.Generator, classes: int) -> Batch:
    """The batch with half its windows' input codes (never the targets) scaled by one gain uniform in -db..+db
    dB: free-running, a held note's level drifts, and a model that trusts its past drifts with it; with a
    past at the wrong level it must take the level to come from the key, its velocity and its age."""
    inputs = batch.inputs.copy()
    for row in range(inputs.shape[0]):
        if rng.random() < 0.5:
            continue
        gain = 10 ** (rng.uniform(-db, db) / 20)
        inputs[row] = mulaw_encode(np.clip(gain * mulaw_decode(inputs[row], classes), -1.0, 1.0), classes)
    return dataclasses.replace(batch, inputs=inputs)


def with_attack_gain(batch: Batch, cut_db: float, boost_db: float, rng: np.random.Generator, classes: int,
                     hop: int) -> Batch:
    """The batch with the input codes of half its windows scaled by one gain, uniform in -cut_db .. +boost_db
    dB, wherever a note's onset channel is lit (its first 32 ms), never the targets (a boost clips at full
    scale). Free-running, a model whose own first attack samples come out quiet hears a quiet past and stays
    quiet (the hop-16 piano lost 10-20 dB within 50 ms of its own attack, while teacher-forced it predicted
    the soundfont's level); with this it learns that in an attack the level comes from the key's velocity,
    not from its own past. Cuts alone taught it to come out louder than its past, soft notes too."""
    lit = np.repeat(batch.cond[:, ONSET_CHANNELS].max(axis=1) > 0, hop, axis=1)[:, :batch.inputs.shape[1]]
    inputs = batch.inputs.copy()
    for row in range(inputs.shape[0]):
        if rng.random() < 0.5:
            continue
        gain = 10 ** (rng.uniform(-cut_db, boost_db) / 20)
        inputs[row, lit[row]] = mulaw_encode(mulaw_decode(inputs[row, lit[row]], classes) * gain, classes)
    return dataclasses.replace(batch, inputs=inputs)
