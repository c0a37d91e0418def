# The composer live, through the synth's MIDI sink (`Sink` in midi.py: raw bytes and a monotonic-ns time):
# ComposerPlayer writes an endless piece a phrase ahead of when it sounds and hands each message over just
# before it is due, stamped with that time; HarmonizingSink sits between a MIDI input and the synth and adds
# bass, alto and tenor under each melody key, stamped with the key's own time so they start together.
from __future__ import annotations

import queue
import threading
import time

import mido
import numpy as np

from ..live.midi import Sink
from .midi_out import CHANNEL
from .sampler import Composer, Harmonizer
from .tokens import HIGH, LOW, STEPS_PER_QUARTER

LEAD_NS = 5_000_000  # hand messages over this early; their timestamps carry the exact time (as FilePlayer)
SPECULATE_SEMITONES = 7  # a melody mostly moves within a fifth: 15 keys written ahead per step
DONE = object()  # what next() gives for a finished speculation


def changes(before: np.ndarray, after: np.ndarray, restruck: np.ndarray, velocity: int = 80,
            voices: range = range(4)) -> list[mido.Message]:
    """Messages that take `voices` from the pitches `before` to `after` (S, B, A, T; 0 = silent);
    `restruck`: voices whose note starts again even if its pitch is unchanged."""
    out = []
    for v in voices:
        if before[v] and (after[v] != before[v] or restruck[v]):
            out.append(mido.Message("note_off", note=int(before[v]), channel=CHANNEL[v]))
        if after[v] and (after[v] != before[v] or restruck[v]):
            out.append(mido.Message("note_on", note=int(after[v]), velocity=velocity, channel=CHANNEL[v]))
    return out


def all_off(sink: Sink) -> None:
    for v in range(4):
        sink(bytes(mido.Message("control_change", channel=CHANNEL[v], control=123).bytes()), time.monotonic_ns())


class ComposerPlayer:
    """Plays a Composer without end at `tempo` quarter notes per minute: one thread composes up to `ahead`
    seconds before the music sounds, another hands the messages to `sink` as they fall due."""

    def __init__(self, composer: Composer, tempo: float, sink: Sink, ahead: float = 3.0) -> None:
        self.composer, self.sink = composer, sink
        self.step_ns = round(60e9 / tempo / STEPS_PER_QUARTER)
        self.ahead_ns = round(ahead * 1e9)
        self.steps_written = 0
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, name=n, daemon=True)
                         for f, n in ((self._compose, "composer"), (self._play, "composer-play"))]

    def start(self) -> None:
        self.start_ns = time.monotonic_ns() + 100_000_000  # a moment for the synth to settle
        for t in self._threads:
            t.start()

    def _compose(self) -> None:
        sounding = np.zeros(4, dtype=np.int64)
        for tokens in self.composer.steps():
            due = self.start_ns + self.steps_written * self.step_ns
            now = self.composer.sounding
            for message in changes(sounding, now, tokens >= 2):
                self._queue.put((due, bytes(message.bytes())))
            sounding = now.copy()
            self.steps_written += 1
            wait = (due - self.ahead_ns - time.monotonic_ns()) / 1e9  # stay no more than `ahead` in front
            if self._stop.wait(max(0.0, wait)):
                return

    def _play(self) -> None:
        while not self._stop.is_set():
            try:
                due, message = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            wait = (due - LEAD_NS - time.monotonic_ns()) / 1e9
            if wait > 0 and self._stop.wait(wait):
                return
            self.sink(message, due)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t.ident is not None:  # started (play stops a player it never started when setting up fails)
                t.join(timeout=5)
        all_off(self.sink)


class HarmonizingSink:
    """A Sink that passes every message on and answers each melody key with the Harmonizer's three lower
    voices, stamped with the key's time; a clock thread advances the model's grid at `tempo` while the key
    is held or released, so it hears rhythm as well as pitch, and between steps writes the harmony ahead for
    the keys within SPECULATE_SEMITONES of the last one, so such a key is answered at once. One melody
    line: a new key ends the last."""

    def __init__(self, harmonizer: Harmonizer, sink: Sink, tempo: float) -> None:
        self.harmonizer, self.sink = harmonizer, sink
        self.step_s = 60 / tempo / STEPS_PER_QUARTER
        self.melody = 0  # the key down, 0 = none
        self.sounding = np.zeros(4, dtype=np.int64)  # what this sink has sounded (S, B, A, T)
        self.latencies_ns: list[int] = []  # per melody key: from its time stamp to the harmony handed over
        # (the synth places both at the stamp + its queue depth: the same block while this stays below that)
        self.last_key = 72  # where the speculation centres until a key is struck
        self._ahead = None  # the speculation under way (Harmonizer.speculate), one model call per next()
        self._keys_waiting = 0  # MIDI threads at the lock
        self._waiting_lock = threading.Lock()
        self._next_tick = time.monotonic() + self.step_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._clock = threading.Thread(target=self._tick, name="harmonizer-clock", daemon=True)
        self._clock.start()

    def __call__(self, message: bytes, time_ns: int) -> None:
        kind = message[0] & 0xF0 if message else 0
        on = kind == 0x90 and len(message) == 3 and message[2] > 0
        off = kind == 0x80 or (kind == 0x90 and len(message) == 3 and message[2] == 0)
        if not (on or off):
            self.sink(message, time_ns)
            return
        with self._waiting_lock:  # the clock thread lets us in between its model calls (a Lock is not fair)
            self._keys_waiting += 1
        with self._lock:
            with self._waiting_lock:
                self._keys_waiting -= 1
            if on:  # the melody first, at once; the harmony after the model has chosen it, with the same stamp
                melody = np.array([message[1], 0, 0, 0])
                for m in changes(self.sounding, melody, np.ones(4, dtype=bool), message[2], range(1)):
                    self.sink(bytes(m.bytes()), time_ns)
                after = self.harmonizer.note(message[1])
                messages = changes(self.sounding, after, np.ones(4, dtype=bool), message[2], range(1, 4))
                self.melody, self.sounding = message[1], after
            elif message[1] == self.melody:  # the voices end with the key; the clock rests them from the next step
                messages = changes(self.sounding, np.zeros(4, dtype=np.int64), np.zeros(4, dtype=bool))
                self.melody, self.sounding = 0, np.zeros(4, dtype=np.int64)
            else:
                return  # the release of a key a newer one already replaced
            for m in messages:
                self.sink(bytes(m.bytes()), time_ns)
            if on:  # a step was taken: write the next one ahead (a release takes none: what is written holds)
                self.latencies_ns.append(time.monotonic_ns() - time_ns)
                self.last_key = message[1]
                self._ahead = self.harmonizer.speculate(self._candidates())
            self._next_tick = time.monotonic() + self.step_s
        self._wake.set()

    def _candidates(self) -> range:
        return range(max(LOW, self.last_key - SPECULATE_SEMITONES), min(HIGH, self.last_key + SPECULATE_SEMITONES) + 1)

    def _tick(self) -> None:
        """The clock thread: a grid step when one is due; otherwise one model call of the speculation, under
        the lock, so a key waits for at most one such call (or a grid step); idle until the next step when
        nothing is left. A clock behind its grid catches up first and writes ahead only once it is on time."""
        while not self._stop.is_set():
            with self._lock:
                if time.monotonic() >= self._next_tick:
                    self.harmonizer.wait(down=bool(self.melody))
                    self._next_tick += self.step_s
                    on_time = time.monotonic() < self._next_tick
                    self._ahead = self.harmonizer.speculate(self._candidates()) if on_time else None
                if self._ahead is not None and next(self._ahead, DONE) is DONE:
                    self._ahead = None
                idle = self._ahead is None
            if idle:
                self._wake.wait(max(0.0, self._next_tick - time.monotonic()))
                self._wake.clear()
            while self._keys_waiting and not self._stop.is_set():  # a key is at the lock: let it in first
                time.sleep(0.0002)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._clock.join(timeout=5)
        all_off(self.sink)

    def figures(self, queue_ms: float) -> dict:
        """For `play --stats`: per melody key, the time from its stamp to its harmony handed over; a harmony
        later than the synth's queue depth (`queue_ms`) sounds a block or more after its melody note."""
        ms = np.array(self.latencies_ns, dtype=float) / 1e6
        if not len(ms):
            return {"harmonies": 0}
        return {"harmonies": len(ms), "harmonies_written_ahead": self.harmonizer.answered_ahead,
                "harmony_ms_p50": float(np.median(ms)),
                "harmony_ms_p99": float(np.percentile(ms, 99)), "harmony_ms_max": float(ms.max()),
                "harmonies_after_queue_depth": int((ms > queue_ms).sum())}


def add_live_options(p) -> None:
    """`play`'s options for the composer: --compose, --harmonize and their settings."""
    g = p.add_argument_group("composer (the notes written by the shipped composer, or a melody harmonised)")
    g.add_argument("--compose", action="store_true",
                   help="play an endless four-part piece from the composer, written a few seconds ahead")
    g.add_argument("--harmonize", action="store_true",
                   help="with --midi-in: add bass, alto and tenor under each melody key as it is struck")
    g.add_argument("--key", default="C", help="key for --compose / --harmonize: C, F#, Bb, Dm... (default C)")
    g.add_argument("--tempo", type=float, default=80.0, help="quarter notes per minute (default 80)")
    g.add_argument("--composer", help="composer model file (default: the shipped one)")


def live_source(args, push: Sink):
    """What --compose / --harmonize put between the synth's sink and the MIDI: (a ComposerPlayer to start once
    the synth plays, or None; the sink MIDI input should use; what to call at the end with the synth's queue
    depth in ms, or None: it returns figures for `--stats`, or None)."""
    from threadpoolctl import threadpool_limits

    from .sampler import load_net

    if args.compose and (args.midi_in is not None or args.midi_file):
        raise ValueError("--compose plays on its own: drop --midi-in / --midi-file")
    if args.harmonize and args.midi_in is None:
        raise ValueError("--harmonize needs a melody from --midi-in")
    if args.compose or args.harmonize:
        # The composer's batched products would start BLAS threads that spin on the cores the engine needs
        # (27,451 underruns in 5 minutes of --harmonize on 2 cores, against 1,296 before batching).
        threadpool_limits(1, user_api="blas")
    if args.compose:
        player = ComposerPlayer(Composer(load_net(args.composer), args.key, args.seed), args.tempo, push)
        return player, push, lambda queue_ms: player.stop()
    if args.harmonize:
        sink = HarmonizingSink(Harmonizer(load_net(args.composer), args.key, args.seed), push, args.tempo)

        def finish(queue_ms: float) -> dict:
            sink.close()
            return sink.figures(queue_ms)

        return None, sink, finish
    return None, push, None
