# `python -m wavenet_rt.lv2 install [--dest DIR]`: copies the LV2 bundle the build made (wavenet_rt.lv2: the
# plugin, its Turtle and the shipped model, csrc/lv2/) to where hosts look for plugins, ~/.lv2 by default;
# write_state makes a saved state choosing a model (for jalv -l: the tests and benchmarks/latency.py --lv2).
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

BUNDLE = Path(__file__).parent / "wavenet_rt.lv2"
PLUGIN_URI = "urn:wavenet_rt:lv2:synth"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m wavenet_rt.lv2",
        description="The wavenet_rt instrument as an LV2 plugin for DAWs and other LV2 hosts (Ardour, jalv, ...).",
        epilog=f"After installing: `jalv {PLUGIN_URI}` plays it from JACK MIDI; in Ardour add it as an "
               "instrument (Plugin Selector, search 'wavenet_rt').")
    sub = p.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="copy the wavenet_rt.lv2 bundle to an LV2 folder",
                             description="Copy the wavenet_rt.lv2 bundle (plugin, Turtle, shipped model) to an LV2 "
                                         "folder; an older copy there is replaced.")
    install.add_argument("--dest", type=Path, default=Path.home() / ".lv2", metavar="DIR",
                         help="LV2 folder to install into (default ~/.lv2; hosts also search the folders in LV2_PATH)")
    return p.parse_args(argv)


def install(dest: Path) -> Path:
    """Copies the built bundle into dest (created if missing) and returns the installed bundle's path."""
    if not (BUNDLE / "manifest.ttl").is_file():
        raise FileNotFoundError(
            f"no LV2 bundle was built ({BUNDLE} is missing): install lv2-dev (apt-get install lv2-dev) and rebuild "
            "(python setup.py build_ext --inplace)")
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"--dest {dest} is not a folder")
    target = dest / BUNDLE.name
    dest.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(BUNDLE, target)
    return target


def write_state(folder: Path, model: Path) -> Path:
    """A saved plugin state (an LV2 preset) choosing `model`, in `folder`: what `jalv -l folder` loads, so a
    host starts the plugin with that model, as a session would."""
    presets = "".join(f"@prefix {p}: <http://lv2plug.in/ns/{ns}#> .\n" for p, ns in
                      [("lv2", "lv2core"), ("pset", "ext/presets"), ("state", "ext/state")])
    presets += "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.ttl").write_text(presets + f"<state.ttl> a pset:Preset ; lv2:appliesTo <{PLUGIN_URI}> ; "
                                         "rdfs:seeAlso <state.ttl> .\n")
    (folder / "state.ttl").write_text(presets + f"<> a pset:Preset ; lv2:appliesTo <{PLUGIN_URI}> ; state:state "
                                      f"[ <urn:wavenet_rt:lv2:model> <{Path(model).resolve().as_uri()}> ] .\n")
    return folder


def start_jalv(server: str, state: Path, name: str, log, lv2_path: Path = BUNDLE.parent,
               console: bool = False, controls: dict[str, float] | None = None) -> subprocess.Popen:
    """jalv on JACK server `server` as client `name`, running the plugin found in `lv2_path` (by default the
    bundle this checkout built) from the saved state in `state` (write_state), its control ports at
    `controls` (symbol: value) where given; its messages go to `log`. With `console`, jalv reads its
    commands from a pipe (`monitors` prints the output controls, e.g. "load = 3.2") and writes line by line,
    so the log can be read while it runs."""
    env = {**os.environ, "LV2_PATH": f"{lv2_path}:/usr/lib/lv2:/usr/local/lib/lv2", "JACK_DEFAULT_SERVER": server,
           "JACK_NO_START_SERVER": "1"}
    command = ["stdbuf", "-oL", "jalv"] if console else ["jalv", "-i"]
    for symbol, value in (controls or {}).items():
        command += ["-c", f"{symbol}={value}"]
    return subprocess.Popen([*command, "-n", name, "-l", str(state)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.PIPE if console else None, text=True)


def ask_monitors(jalv: subprocess.Popen) -> None:
    """Types `monitors` into a console jalv (start_jalv(console=True)): it prints its output controls."""
    jalv.stdin.write("monitors\n")
    jalv.stdin.flush()


def monitored(log_text: str, symbol: str) -> list[float]:
    """Every value of output control `symbol` that jalv printed (its console's `monitors`) in `log_text`."""
    return [float(v) for v in re.findall(rf"^(?:> )?{symbol} = ([-0-9.e+]+)$", log_text, re.MULTILINE)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        target = install(args.dest)
    except (FileNotFoundError, NotADirectoryError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    on_path = args.dest.resolve() == (Path.home() / ".lv2").resolve()
    hint = "" if on_path else f" (not a default LV2 folder: run hosts with LV2_PATH={args.dest})"
    print(f"installed {target}{hint}; try: jalv {PLUGIN_URI}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
