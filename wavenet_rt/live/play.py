# `python -m wavenet_rt.play --midi-in`: a MIDI keyboard becomes a WaveNet instrument. Also plays a MIDI
# file in real time (--midi-file), free-runs with no MIDI source, records to WAV (--out), and without an
# audio device still renders --out in real time. Ctrl-C stops cleanly.
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from ..compose.live import add_live_options, live_source
from ..conditioning import read_midi_events
from ..engine import Engine
from ..voice_options import (
    add_precision_option,
    add_temperature_option,
    add_voice_options,
    model_voices,
    player_scales,
    player_temperature,
)
from ..weights import DEMO_PIECE, ModelFileError, default_model_path
from .host_steal import host_steal_seconds
from .midi import BACKENDS, FilePlayer, MidiError, MidiInput, list_inputs
from .polyphony import FEWEST_VOICES, LIVE_MARGIN, affordable_voices


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m wavenet_rt.play",
        description="Play a WaveNet model live from MIDI, from a MIDI file, or free-running.",
        epilog="Examples: play --midi-in (a virtual port 'wavenet_rt' to connect a keyboard to); "
               "play --midi-in Keystation; play --midi-file song.mid --out take.wav")
    src = p.add_argument_group("MIDI source (none: free-running)")
    src.add_argument("--midi-in", nargs="?", const="", metavar="NAME",
                     help="live MIDI: alone opens a virtual input 'wavenet_rt'; with NAME connects to the first "
                          "input whose name contains NAME")
    src.add_argument("--midi-file", metavar="FILE", help="play a MIDI file through the same path, in real time")
    src.add_argument("--demo", action="store_true",
                     help="play the demo piece that ships with the package (24 s, written by the shipped composer)")
    src.add_argument("--midi-backend", default="auto", choices=BACKENDS,
                     help="MIDI system (default auto: jack when a JACK server runs, else alsa)")
    src.add_argument("--list-midi", action="store_true", help="list MIDI inputs and exit")
    out = p.add_argument_group("audio")
    out.add_argument("--device", help="output device: index or part of its name (default: the default output)")
    out.add_argument("--list-devices", action="store_true", help="list output devices and exit")
    out.add_argument("--samplerate", type=int, help="device sample rate (default: the device's)")
    out.add_argument("--blocksize", type=int, default=0, help="frames per audio callback (default: the host's)")
    out.add_argument("--latency", type=float,
                     help="ms of audio kept queued ahead of the device (default 10, or a period and up to two more, "
                          "at most 10 ms more, where that is deeper: 736 frames at 256-frame periods; "
                          "at least 1.5 periods are kept)")
    out.add_argument("--out", metavar="FILE.wav", help="record what is played (works without an audio device)")
    m = p.add_argument_group("model")
    m.add_argument("--model", help="model file (default: the shipped model)")
    m.add_argument("--backend", default="auto", choices=["auto", "cpu", "cuda"], help="engine (default auto)")
    add_precision_option(m)
    add_temperature_option(m, "sampling temperature with the mod wheel at rest (full wheel doubles it)")
    m.add_argument("--global-id", type=int, default=0, help="starting global class (program change sets it)")
    m.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_voice_options(m)
    add_live_options(p)
    p.add_argument("--seconds", type=float, help="stop after this long (default: until Ctrl-C or the file ends)")
    p.add_argument("--stats", metavar="FILE.json", help="write the synth's counters when it stops")
    args = p.parse_args(argv)
    for option, value, low in (("--latency", args.latency, 0.0), ("--samplerate", args.samplerate, 1),
                               ("--blocksize", args.blocksize, 0), ("--seconds", args.seconds, 0.0)):
        if value is not None and not value >= low:  # `not >=` also refuses NaN
            p.error(f"{option} must be at least {low}, got {value}")
    if args.demo:
        if args.midi_file or args.midi_in is not None:
            p.error("--demo is the MIDI source: drop --midi-file / --midi-in")
        args.midi_file = str(DEMO_PIECE)
    return args


def list_and_exit(args: argparse.Namespace) -> int:
    if args.list_devices:
        from .stream import output_devices

        devices = output_devices()
        for index, name, api, rate in devices:
            print(f"{index:3d}  {name}  ({api}, {rate} Hz)")
        if not devices:
            print("no audio output devices")
    if args.list_midi:
        system, names = list_inputs(args.midi_backend)
        print(f"MIDI inputs on {system}:", file=sys.stderr)
        for name in names:
            print(name)
        if not names:
            print("no MIDI inputs")
    return 0


def open_output(args: argparse.Namespace):
    """The device index, or None for the real-time stand-in (only with --out)."""
    try:
        from .stream import resolve_device

        device = resolve_device(args.device)
    except OSError as err:  # PortAudio itself is missing
        device, reason = None, f"no audio system ({err})"
    else:
        reason = "no audio output device"
    if device is None:
        if not args.out:
            raise RuntimeError(f"{reason}: give --out FILE.wav to render what would be played")
        print(f"{reason}: rendering to {args.out} in real time", file=sys.stderr)
    return device


def run(args: argparse.Namespace) -> int:
    from .stream import LiveSynth, Recorder

    if args.out:
        from wavenet_rt.audio_file import check_output_path

        check_output_path(args.out)
    # a file that is not MIDI is refused before the model loads and the device opens
    midi_events = read_midi_events(args.midi_file) if args.midi_file else None
    model = args.model or default_model_path()
    voices = model_voices(model, args.voices)
    # the model's idle sound: nothing to sleep through
    free_running = args.midi_in is None and not args.midi_file and not args.compose

    def make_engine(streams: int) -> Engine:
        return Engine(model, backend=args.backend, precision=args.precision, streams=max(1, streams),
                      sleep_after=0.0 if free_running else args.sleep_after)

    sounding_speed = None  # the chosen voices' real-time factor all sounding, where play measured it
    if args.voices is None and voices > FEWEST_VOICES:  # the model's own polyphony, if this CPU affords it
        engine, chosen, sounding_speed = affordable_voices(make_engine, voices)
        why = (f"all sounding: {sounding_speed:.1f}x real time here" if chosen == voices else
               f"not the model's {voices}: this CPU plays {chosen} sounding at {sounding_speed:.1f}x real time, "
               f"more under {LIVE_MARGIN}x; --voices {voices} insists")
        print(f"{chosen} voices ({why})", file=sys.stderr)
        voices = chosen
    else:
        engine = make_engine(voices)
    device = open_output(args)
    live = LiveSynth(engine, device, samplerate=args.samplerate, blocksize=args.blocksize, latency_ms=args.latency,
                     temperature=player_temperature(engine.config, args.temperature),
                     scales=player_scales(engine.config, args), global_id=args.global_id,
                     seed=args.seed, record=bool(args.out), voices=voices)
    source, player, finish, finish_figures = None, None, None, None
    started, stolen_before = time.monotonic(), host_steal_seconds()
    try:
        # the source opens before the recording does: a missing file or MIDI system leaves no WAV behind
        composing, sink, finish = live_source(args, live.push)
        if args.midi_in is not None:
            source = MidiInput(sink, args.midi_in or None, args.midi_backend)
        elif args.midi_file:
            player = FilePlayer(midi_events, live.push)
        live.start(Recorder(args.out, live.samplerate) if args.out else None)
        if source is not None:
            print(f"listening on {source.description}", file=sys.stderr)
        elif player is not None:
            player.start()
        elif composing is not None:
            composing.start()
        else:
            print("no MIDI source: free-running", file=sys.stderr)
        print(f"{engine.backend} engine ({engine.details}), {live.samplerate} Hz, about "
              f"{1000 * live.synth.latency_seconds:.1f} ms from MIDI to the device; Ctrl-C stops", file=sys.stderr)
        show_status(live, args, player)
    except KeyboardInterrupt:
        pass
    finally:
        if source is not None:
            source.close()
        if player is not None:
            player.stop()
        if finish is not None:
            finish_figures = finish(1e3 * live.synth.latency_seconds)  # the queue the synth kept
        live.stop()
    c, stolen = live.counters(), host_steal_seconds() - stolen_before
    if args.stats:
        stats = {**c, "elapsed_s": time.monotonic() - started, "samplerate": live.samplerate,
                 "latency_s": live.synth.latency_seconds, "voices": voices, "voices_sounding_speed": sounding_speed,
                 "host_steal_s": stolen, **(finish_figures or {})}
        Path(args.stats).write_text(json.dumps(stats, indent=1))
    # a VM's host that takes the CPU away for milliseconds runs any ring dry: the performer should know
    steal_note = f" (the host stole {stolen:.1f} s of CPU meanwhile)" if c["underruns"] and stolen >= 0.05 else ""
    print(f"\nplayed {c['frames_delivered'] / live.samplerate:.1f} s: {c['underruns']} underruns{steal_note}, "
          f"{c['midi_events']} MIDI messages ({c['midi_ignored']} ignored)"
          + (f"; wrote {args.out} at {live.samplerate} Hz (the output's rate)" if args.out else ""), file=sys.stderr)
    return 0


def show_status(live, args: argparse.Namespace, player: FilePlayer | None) -> None:
    started = time.monotonic()
    while True:
        time.sleep(0.1)
        status = live.status()
        if sys.stderr.isatty():  # a redrawn line; in a log it would pile up hundreds of redraws
            print("\r" + status.line(), end="", file=sys.stderr, flush=True)
        if status.error:
            raise RuntimeError(f"the generator stopped: {status.error}")
        if args.seconds is not None and time.monotonic() - started >= args.seconds:
            return
        if player is not None and player.done and time.monotonic() - started > player.duration + 1.0:
            return


def stop_on_sigterm() -> None:
    """SIGTERM (a service manager, a test harness) stops like Ctrl-C: counters, WAV and ports closed."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    if args.list_devices or args.list_midi:
        try:
            return list_and_exit(args)
        except (MidiError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    try:
        return run(args)
    except (ValueError, FileNotFoundError, ModelFileError, MidiError, RuntimeError) as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
