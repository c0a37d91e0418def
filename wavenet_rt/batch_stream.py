# Training batches drawn ahead in a background thread, so that cutting windows out of the dataset (numpy,
# on the CPU) overlaps the step that runs on the GPU (or on the other core). Each batch comes with the
# random generator's state after it was drawn: a checkpoint stores the state the next *used* batch starts
# from, so a resumed run draws exactly the batches an uninterrupted one would.
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .data import Batch


class BatchStream:
    def __init__(self, draw: Callable[[np.random.Generator], Batch], rng: np.random.Generator,
                 ahead: int = 2) -> None:
        self.rng_state: dict[str, Any] = rng.bit_generator.state  # where the next used batch starts from
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(draw, rng), name="batches", daemon=True)
        self._thread.start()

    def _produce(self, draw: Callable[[np.random.Generator], Batch], rng: np.random.Generator) -> None:
        while not self._stopping.is_set():
            try:
                item = (draw(rng), rng.bit_generator.state, None)
            except Exception as err:  # raised again in the training thread, where it can be reported
                item = (None, None, err)
            while not self._stopping.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item[2] is not None:
                return

    def next(self) -> Batch:
        batch, state, error = self._queue.get()
        if error is not None:
            raise error
        self.rng_state = state
        return batch

    def close(self) -> None:
        self._stopping.set()
        self._thread.join()
