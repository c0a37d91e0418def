# Running the package's commands as a user does: a subprocess of this Python, with a JACK server name
# (or one that does not exist: then there is no audio device and no JACK MIDI) and JACK never auto-started.
import os
import subprocess
import sys


def run_cli(args, server="no_server_here", timeout=120, **kwargs):
    env = {**os.environ, "JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1"}
    return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout, **kwargs)
