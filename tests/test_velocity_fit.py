# The velocity curve's fit (wavenet_rt/eval/velocity_fit.py): a model that plays every velocity at one level
# is given the soundfont's steps, read back from its own render through the performer.
import json
from types import SimpleNamespace

import numpy as np

from wavenet_rt import Engine, load_model, save_model
from wavenet_rt.dataset.voice_lines import write_notes_midi
from wavenet_rt.eval import listening
from wavenet_rt.eval.evaluate import reference_audio
from wavenet_rt.eval.velocity_fit import main
from wavenet_rt.live.probe import impulse_model
from wavenet_rt.render import render

SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"


def dataset(path, hop):
    """A dataset folder as far as the fit reads it: the manifest's rate, shape, soundfont, gain and delay."""
    path.mkdir()
    manifest = {"format": "wavenet_rt-dataset", "version": 2, "classes": 256, "cond_channels": 176,
                "cond_features": "roll88_onset88", "cond_hop": hop, "delay": hop, "global_classes": 0,
                "sample_rate": 16000, "programs": [0], "items": {},
                "options": {"soundfont": SOUNDFONT, "gain": 1.4, "reverb": False}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_a_flat_model_is_fitted_to_the_soundfonts_steps(tmp_path):
    model = impulse_model()  # full scale while a key is down, at any velocity
    model.config.voices, model.config.gain = 2, 0.05  # room for the trims up: the mix clamps at full scale
    save_model(model, tmp_path / "flat.safetensors")
    data = dataset(tmp_path / "data", model.config.cond_hop)
    keys = (55, 67)
    assert main([str(tmp_path / "flat.safetensors"), "--data", str(data), "--out", str(tmp_path / "fit.safetensors"),
                 "--keys", *map(str, keys), "--seeds", "1"]) == 0
    fitted = load_model(tmp_path / "fit.safetensors")
    assert len(fitted.config.velocity_curve_db) == len(listening.VELOCITIES)
    for name, tensor in model.state_dict().items():  # the weights untouched
        assert np.array_equal(fitted.state_dict()[name].numpy(), tensor.numpy()), name

    notes = listening.velocity_probe(keys)
    write_notes_midi(notes, tmp_path / "probe.mid", program=0)
    samples = int(listening.probe_seconds(notes) * 16000)
    options = SimpleNamespace(seed=2, temperature=None, strike_scale=None, sustain_scale=None, global_id=0)
    played = render(Engine(tmp_path / "fit.safetensors", streams=2), tmp_path / "probe.mid", samples, 2, options)
    manifest = json.loads((data / "manifest.json").read_text())
    soundfont = reference_audio(tmp_path / "probe.mid", 16000, samples, tmp_path, manifest)
    delay = model.config.cond_hop / 16000
    model_db = listening.velocity_curve(played, 16000, notes, delay)
    reference_db = listening.velocity_curve(soundfont, 16000, notes, delay)
    assert reference_db[127] - reference_db[20] > 20  # the soundfont has steps to learn
    deviation = listening.velocity_deviation_db(model_db, reference_db)
    assert deviation["max_deviation_db"] < 0.5, (model_db, reference_db)
