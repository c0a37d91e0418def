# The play command's paper cuts, run as a user runs it: bad numbers refused, the output path and the MIDI
# source checked before a WAV file is created, a device that refuses the rate is one clear line, the status
# line kept out of logs, the rate written said, and the MIDI system chosen (JACK when a server runs, else
# ALSA) and named, with the JACK library's own noise kept off the terminal.
import pytest
from support.cli import run_cli
from support.midi_files import write_notes

JACK_NOISE = ("Cannot connect to server", "JackShmReadWritePtr", "jack server is not running")


@pytest.fixture(scope="module")
def midi_file(tmp_path_factory):
    return write_notes(tmp_path_factory.mktemp("midi") / "one.mid", [(60, 0.1, 0.3)])


def play(*args, server="no_server_here"):
    return run_cli(["wavenet_rt.play", *args], server, timeout=60)


def test_a_recorded_run_keeps_its_log_clean_and_says_what_it_wrote(tmp_path, impulse_model_file):
    out = tmp_path / "take.wav"
    result = play("--model", impulse_model_file, "--seconds", "1", "--out", out, "--latency", "40")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "\r" not in result.stderr  # no status redraws piled into a log
    assert f"wrote {out} at 48000 Hz" in result.stderr
    engine_line = next(line for line in result.stderr.splitlines() if " engine (" in line)
    words = engine_line.replace("thread(s)", "threads")
    assert words.count("(") == words.count(")") == 1, engine_line  # one parenthesis, none inside it


@pytest.mark.parametrize("option, value, says", [
    ("--latency", "-5", "must be at least"), ("--samplerate", "0", "must be at least"),
    ("--temperature", "-1", "must be in [0, 10]"), ("--temperature", "nan", "must be in [0, 10]"),
    ("--temperature", "11", "must be in [0, 10]"), ("--temperature", "warm", "must be in [0, 10]"),
    ("--sustain-scale", "1.5", "must be in [0, 1]"), ("--sustain-scale", "-0.5", "must be in [0, 1]"),
    ("--strike-scale", "0.5", "must be in [1, 2]")])
def test_impossible_numbers_are_refused(tmp_path, impulse_model_file, option, value, says):
    result = play("--model", impulse_model_file, "--seconds", "0.5", "--out", tmp_path / "x.wav", option, value)
    assert result.returncode == 2 and option in result.stderr and says in result.stderr, result.stderr[-2000:]


def test_missing_sources_and_folders_leave_no_file(tmp_path, impulse_model_file):
    cases = [(["--midi-file", tmp_path / "nonexist.mid"], "cannot read MIDI file"),
             (["--midi-in"], "cannot open alsa MIDI (no JACK server is running)"),
             ([], "the folder")]
    for k, (source, says) in enumerate(cases):
        out = tmp_path / ("nodir" if says == "the folder" else "") / f"take{k}.wav"
        result = play("--model", impulse_model_file, "--seconds", "1", "--out", out, *source)
        assert result.returncode == 2 and says in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and not out.exists()
    not_midi = tmp_path / "notes.txt"
    not_midi.write_text("C4 E4 G4\n")
    result = play("--model", impulse_model_file, "--seconds", "1", "--out", tmp_path / "t.wav", "--midi-file", not_midi)
    assert result.returncode == 2 and "cannot read MIDI file" in result.stderr, result.stderr[-2000:]
    assert "rendering to" not in result.stderr  # refused before the model loaded and the output opened


def test_a_device_that_refuses_the_rate_is_one_clear_error(jack_server, tmp_path, impulse_model_file):
    out = tmp_path / "e4.wav"
    result = play("--model", impulse_model_file, "--seconds", "1", "--samplerate", "12345", "--out", out,
                  server=jack_server)
    assert result.returncode == 2 and "Invalid sample rate" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not out.exists()


def test_midi_system_is_chosen_named_and_quiet(jack_server, tmp_path, impulse_model_file):
    listed = play("--list-midi", server=jack_server)
    assert listed.returncode == 0 and listed.stdout.strip() == "no MIDI inputs", listed
    assert "jack MIDI (a JACK server is running)" in listed.stderr
    live = play("--model", impulse_model_file, "--midi-in", "--seconds", "1", "--out", tmp_path / "live.wav",
                server=jack_server)
    assert live.returncode == 0, live.stderr[-2000:]
    assert "virtual jack MIDI input 'wavenet_rt' (jack: a JACK server is running)" in live.stderr
    for args in (["--list-midi"], ["--list-devices"], ["--list-midi", "--midi-backend", "jack"]):
        result = play(*args)
        assert not any(noise in result.stderr for noise in JACK_NOISE), (args, result.stderr)
    no_jack = play("--list-midi", "--midi-backend", "jack")
    assert no_jack.returncode == 2 and "no JACK server is running (start one" in no_jack.stderr
    no_system = play("--list-midi")
    assert "alsa MIDI (no JACK server is running)" in no_system.stderr, no_system.stderr


def test_the_model_files_own_temperature_is_the_default(tmp_path, impulse_model_file):
    """Without --temperature play samples at the temperature the model file names; with it, at that."""
    import json

    from wavenet_rt.weights import load_model, save_model

    model = load_model(impulse_model_file)
    model.config.temperature = 0.25
    save_model(model, tmp_path / "cool.safetensors")
    for extra, expected in (([], 0.25), (["--temperature", "0.75"], 0.75)):
        stats = tmp_path / "stats.json"
        result = play("--model", tmp_path / "cool.safetensors", "--seconds", "0.5", "--out", tmp_path / "x.wav",
                      "--stats", stats, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(stats.read_text())["temperature"] == pytest.approx(expected)
