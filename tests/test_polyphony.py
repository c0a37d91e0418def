# The live player's polyphony on this CPU (wavenet_rt/live/polyphony.py): measured with every voice
# sounding, halved while under the margin, never below a four-part chord.
import torch

from wavenet_rt import Engine, WaveNet, WaveNetConfig
from wavenet_rt.live.polyphony import FEWEST_VOICES, affordable_voices, sounding_speed


def keyed_model():
    torch.manual_seed(0)
    config = WaveNetConfig.preset("small", cond_channels=176, cond_hop=64)
    return WaveNet(config).eval()


def test_the_speed_is_measured_with_every_voice_awake():
    """Sleeping streams cost nothing, so eight asleep would run faster than one awake: eight that each hold
    a key run several times slower per stream."""
    model = keyed_model()
    one = sounding_speed(Engine(model, backend="cpu", streams=1, threads=1, sleep_after=0.001))
    eight = sounding_speed(Engine(model, backend="cpu", streams=8, threads=1, sleep_after=0.001))
    assert eight < 0.7 * one, (one, eight)


def test_voices_are_halved_until_the_margin_holds():
    model = keyed_model()
    made = []

    def make(streams):
        made.append(streams)
        return Engine(model, backend="cpu", streams=streams, sleep_after=0.001)

    engine, voices, speed = affordable_voices(make, 16, margin=0.01)  # any CPU plays 16 at 1 % of real time
    assert (voices, made, engine.streams) == (16, [16], 16) and speed > 0.01
    made.clear()
    engine, voices, speed = affordable_voices(make, 16, margin=1e6)  # none plays them a million times faster
    assert (voices, made, engine.streams) == (FEWEST_VOICES, [16, 8, 4], 4) and speed < 1e6
