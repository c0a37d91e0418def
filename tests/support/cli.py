# Running the package's commands as a user does: a subprocess of this Python, with a JACK server name
# (or one that does not exist: then there is no audio device and no JACK MIDI) and JACK never auto-started.
import os
import subprocess
import sys


def run_cli(args, server="no_server_here", timeout=120, env=None):
    """The finished command; stdout and stderr decoded here, as text mode would turn a redraw's \r into \n.
    env: variables to add."""
    env = {**os.environ, "JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1", **(env or {})}
    result = subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, env=env, timeout=timeout)
    result.stdout, result.stderr = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
    return result
