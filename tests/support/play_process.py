# `python -m wavenet_rt.play --midi-in` as a performer starts it, on a given JACK server, and stopped as
# Ctrl-C would stop it (it must exit cleanly and write its counters): shared by the live tests.
import os
import subprocess
import sys


def start_play(server, model, stats, *extra):
    env = {**os.environ, "JACK_DEFAULT_SERVER": server}
    return subprocess.Popen([sys.executable, "-m", "wavenet_rt.play", "--model", str(model), "--midi-in",
                             "--stats", str(stats), *map(str, extra)], env=env, stderr=subprocess.PIPE, text=True)


def stop_play(play):
    """Terminates play, asserts a clean exit, returns its stderr."""
    play.terminate()
    _, err = play.communicate(timeout=30)
    assert play.returncode == 0, err[-2000:]
    return err
