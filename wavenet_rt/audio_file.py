# Output audio files of render and play: the path is checked before any work starts, so a long render is
# never lost to a missing folder or an extension soundfile cannot write (render.py and play.py call this).
from __future__ import annotations

import os
from pathlib import Path

SUBTYPE = "PCM_16"  # what render and play write


def check_output_path(path: str | Path) -> Path:
    """`path` when an audio file can be written there, else a ValueError that says why."""
    import soundfile

    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind in ("mid", "midi"):
        raise ValueError(f"the output {path} is a MIDI file name: give the audio file to write after the MIDI "
                         "file, e.g. out.wav")
    if not kind or kind.upper() not in soundfile.available_formats() or not soundfile.check_format(kind.upper(),
                                                                                                   SUBTYPE):
        raise ValueError(f"cannot tell which audio format to write to {path} from its extension: end it in "
                         ".wav (or .flac, .aiff)")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: the folder {folder} does not exist")
    if path.is_dir() or not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"cannot write {path}: " + ("it is a folder" if path.is_dir() else "permission denied"))
    return path
