# Composition: a small transformer trained on Bach's chorales writes four-part music on a sixteenth-note
# grid (Composer), or adds three voices under a melody as it is played (Harmonizer); the WaveNet plays the
# result. Composing needs NumPy only; training (train.py) needs torch. CLI: `python -m wavenet_rt.compose`.
from .keyfinder import key_name, parse_key
from .midi_out import grid_to_midi, write_midi
from .sampler import Composer, Harmonizer, load_net, steps_for
from .weights import ComposerFileError, default_composer_path

__all__ = ["Composer", "Harmonizer", "load_net", "steps_for", "grid_to_midi", "write_midi", "key_name", "parse_key",
           "ComposerFileError", "default_composer_path"]
