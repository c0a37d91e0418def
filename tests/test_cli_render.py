# The render and evaluate commands as a user meets them: usage and help that say what is taken, the output
# path checked before any rendering, --samplerate resampling (checked against soxr on the model-rate
# render), and broken MIDI files named with what is wrong.
import mido
import numpy as np
import pytest
import soundfile
import soxr
from support.cli import run_cli
from support.midi_files import write_notes


@pytest.fixture(scope="module")
def midi_file(tmp_path_factory):
    return write_notes(tmp_path_factory.mktemp("midi") / "two.mid", [(60, 0.1, 0.3), (64, 0.4, 0.7)])


def test_usage_takes_midi_and_out_once_and_help_gives_defaults():
    usage = run_cli(["wavenet_rt.render", "--help"])
    assert usage.returncode == 0 and "[MIDI] OUT\n" in usage.stdout and "[[MIDI]" not in usage.stdout, usage.stdout
    three = run_cli(["wavenet_rt.render", "a.mid", "b.wav", "c.wav"])
    assert three.returncode == 2 and "c.wav" in three.stderr
    evaluate = " ".join(run_cli(["wavenet_rt.evaluate", "--help"]).stdout.split())  # help lines rewrapped
    for option in ("--pieces PIECES", "--temperature TEMPERATURE", "--seed SEED"):
        text = evaluate.split(option + " ")[-1].split(" --")[0]  # the option's help text
        assert "default " in text, (option, text)
    assert "random seed" in evaluate.split("--seed SEED ")[-1]


def test_output_path_is_checked_before_rendering(tmp_path, midi_file):
    cases = {tmp_path / "nodir" / "o.wav": "the folder", tmp_path / "out": "extension", tmp_path / "o.ogg": "extension"}
    for out, says in cases.items():
        result = run_cli(["wavenet_rt.render", midi_file, out, "--seconds", "120"], timeout=60)
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert not out.exists()
    forgotten = run_cli(["wavenet_rt.render", midi_file, "--seconds", "120"], timeout=60)  # OUT left out
    assert forgotten.returncode == 2 and "MIDI file name" in forgotten.stderr, forgotten.stderr


def test_samplerate_resamples_the_model_rate_render_and_says_the_rate(tmp_path, midi_file, impulse_model_file):
    model_rate, native_rate = tmp_path / "model.wav", tmp_path / "48k.wav"
    first = run_cli(["wavenet_rt.render", midi_file, model_rate, "--model", impulse_model_file])
    assert first.returncode == 0 and "at 16000 Hz, the model's rate" in first.stderr, first.stderr
    second = run_cli(["wavenet_rt.render", midi_file, native_rate, "--model", impulse_model_file,
                      "--samplerate", "48000"])
    assert second.returncode == 0 and "at 48000 Hz, resampled from the model's 16000 Hz" in second.stderr
    audio, rate = soundfile.read(native_rate)
    reference, reference_rate = soundfile.read(model_rate)
    assert rate == 48000 and reference_rate == 16000
    expected = np.clip(soxr.resample(reference, 16000, 48000), -1, 1)  # the file holds 16-bit, clipped samples
    assert len(audio) == len(expected) and np.abs(audio - expected).max() < 2e-3
    assert np.abs(audio).max() > 0.9  # the notes are there, not only silence
    int8 = run_cli(["wavenet_rt.render", midi_file, tmp_path / "int8.wav", "--model", impulse_model_file,
                    "--precision", "int8"])
    assert int8.returncode == 0 and "int8 weights" in int8.stderr, int8.stderr
    audio8, _ = soundfile.read(tmp_path / "int8.wav")  # the impulse model's notes survive the rounding
    assert len(audio8) == len(reference) and np.abs(audio8 - reference).max() < 0.05
    bad = run_cli(["wavenet_rt.render", midi_file, tmp_path / "x.wav", "--samplerate", "0"])
    assert bad.returncode == 2 and "--samplerate" in bad.stderr


def test_a_broken_midi_file_says_what_is_wrong(tmp_path, midi_file):
    empty, truncated = tmp_path / "empty.mid", tmp_path / "truncated.mid"
    empty.write_bytes(b"")
    truncated.write_bytes(midi_file.read_bytes()[:-6])
    for path in (empty, truncated):
        result = run_cli(["wavenet_rt.render", path, tmp_path / "o.wav"])
        assert result.returncode == 2, result.stderr
        assert f"cannot read MIDI file {path}: it ends early (empty or truncated)" in result.stderr, result.stderr


def test_demo_renders_the_shipped_piece(tmp_path, midi_file, impulse_model_file):
    from wavenet_rt.weights import DEMO_PIECE

    demo = mido.MidiFile(str(DEMO_PIECE))  # what ships: four parts, 24 s, on the piano's keys
    parts = [t for t in demo.tracks if any(m.type == "note_on" for m in t)]
    assert len(parts) == 4 and 20 < demo.length < 30
    options = ["--model", impulse_model_file, "--seconds", "3"]
    by_flag = run_cli(["wavenet_rt.render", "--demo", tmp_path / "a.wav", *options])
    by_path = run_cli(["wavenet_rt.render", DEMO_PIECE, tmp_path / "b.wav", *options])
    assert by_flag.returncode == 0 and by_path.returncode == 0, by_flag.stderr
    a, _ = soundfile.read(tmp_path / "a.wav")
    b, _ = soundfile.read(tmp_path / "b.wav")
    assert np.abs(a).max() > 0.05 and np.array_equal(a, b)
    both = run_cli(["wavenet_rt.render", "--demo", midi_file, tmp_path / "c.wav"])
    assert both.returncode == 2 and "--demo is the MIDI input" in both.stderr


@pytest.mark.parametrize("field, value", [("temperature", "0.5"), ("sustain_scale", "0.5"), ("strike_scale", "1.5")])
def test_the_model_files_own_temperature_is_the_default(tmp_path, midi_file, field, value):
    """A model file whose config says temperature (or a scale of it) `value` renders, without the option,
    exactly what the option at `value` renders, and not what 1.0 does."""
    import torch

    from wavenet_rt.config import WaveNetConfig
    from wavenet_rt.model import WaveNet
    from wavenet_rt.weights import save_model

    torch.manual_seed(3)
    config = WaveNetConfig(dilations=[1, 2, 4, 8], residual_channels=8, gate_channels=8, skip_channels=8,
                           cond_channels=176, cond_features="roll88_onset88", cond_hop=64, **{field: float(value)})
    model = WaveNet(config).eval()
    with torch.no_grad():  # logits far from flat, so a temperature changes the draws
        for p in model.parameters():
            p.mul_(2.0)
    save_model(model, tmp_path / "cool.safetensors")
    audio = {}
    flag = "--" + field.replace("_", "-")
    for name, extra in (("own", []), (value, [flag, value]), ("1.0", [flag, "1.0"])):
        result = run_cli(["wavenet_rt.render", midi_file, tmp_path / f"{name}.wav", "--model",
                          tmp_path / "cool.safetensors", "--seconds", "0.5", *extra])
        assert result.returncode == 0, result.stderr
        audio[name] = soundfile.read(tmp_path / f"{name}.wav")[0]
    np.testing.assert_array_equal(audio["own"], audio[value])
    assert np.abs(audio["own"] - audio["1.0"]).max() > 0.01


@pytest.mark.parametrize("command", ["render", "evaluate"])
def test_a_temperature_outside_its_range_is_refused_before_any_work(tmp_path, midi_file, command):
    args = [midi_file, tmp_path / "o.wav"] if command == "render" else ["--data", tmp_path, "--out", tmp_path / "e"]
    for value in ("-0.5", "nan", "11"):
        result = run_cli([f"wavenet_rt.{command}", *args, "--temperature", value])
        assert result.returncode == 2 and "--temperature: must be in [0, 10]" in result.stderr, result.stderr
        assert not (tmp_path / "o.wav").exists() and not (tmp_path / "e").exists()
    for option, value, says in [("--sustain-scale", "-0.1", "[0, 1]"), ("--sustain-scale", "nan", "[0, 1]"),
                                ("--sustain-scale", "1.5", "[0, 1]"), ("--strike-scale", "0.9", "[1, 2]"),
                                ("--strike-scale", "2.5", "[1, 2]")]:
        result = run_cli([f"wavenet_rt.{command}", *args, option, value])
        assert result.returncode == 2 and f"{option}: must be in {says}" in result.stderr, result.stderr
        assert not (tmp_path / "o.wav").exists() and not (tmp_path / "e").exists()
