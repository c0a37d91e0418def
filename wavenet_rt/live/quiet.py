# Keeps what C libraries print on file descriptor 2 (libjack's "Cannot connect to server socket", ALSA's
# "snd_seq_hw_open") off the user's terminal while midi.py and stream.py probe for a MIDI or audio system;
# the callers turn a failed probe into one line of their own.
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """fd 2 goes to /dev/null inside the block (the whole process, all threads: for short probes only)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
