# The composer: NumPy inference (ring KV cache) against the PyTorch model in float64, sampling (seed,
# temperature, top-p), the voice-leading rules holding in what it writes, the harmoniser's causality, the
# model file's checks and the compose command end to end. Tiny random models: no training needed.
import copy
import subprocess
import sys

import mido
import numpy as np
import pytest
import torch

from wavenet_rt.compose import Composer, ComposerFileError, Harmonizer, load_net, steps_for
from wavenet_rt.compose.config import ComposerConfig
from wavenet_rt.compose.metrics import crossings, parallels, range_violations
from wavenet_rt.compose.model import ComposerNet
from wavenet_rt.compose.numpy_model import NumpyComposerNet
from wavenet_rt.compose.sampler import choose
from wavenet_rt.compose.tokens import HOLD, pitch_token
from wavenet_rt.compose.weights import save_composer

TINY = ComposerConfig(d_model=32, layers=2, heads=2, d_ff=64, context=16)


def random_net(std: float, seed: int = 0) -> ComposerNet:
    torch.manual_seed(seed)
    net = ComposerNet(TINY).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(std=std)
    return net


def tensors(net: ComposerNet) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("composer") / "tiny.safetensors"
    save_composer(tensors(random_net(0.3)), TINY, path)
    return path


def inputs(t: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, TINY.vocab + 1, t), np.arange(t) % 4, rng.integers(0, 16, t)


def test_stream_equals_torch_forward_and_runs_past_the_context():
    torch_net = random_net(0.3)
    net = NumpyComposerNet(TINY, tensors(torch_net), np.float64)
    prev, voice, phase = inputs(3 * TINY.context + 5)
    n = TINY.context
    with torch.no_grad():
        ref = torch_net(*(torch.from_numpy(a[:n])[None] for a in (prev, voice, phase)), torch.tensor([7]))[0].numpy()
    stream = net.stream()
    steps = np.array([stream.step(p, v, f, 7) for p, v, f in zip(prev, voice, phase)])
    np.testing.assert_allclose(steps[:n], ref, atol=1e-10)
    np.testing.assert_allclose(net.forward(prev[:n], voice[:n], phase[:n], 7), ref, atol=1e-10)
    # past the context the ring keeps the last `context` tokens, as the banded whole-sequence forward
    np.testing.assert_allclose(steps, net.forward(prev, voice, phase, 7), atol=1e-10)
    # float32 (what composing uses) stays close to the float64 reference
    f32 = NumpyComposerNet(TINY, tensors(torch_net)).stream()
    np.testing.assert_allclose([f32.step(p, v, f, 7) for p, v, f in zip(prev, voice, phase)], steps, atol=1e-3)


def test_branches_compute_what_a_copy_of_the_stream_would():
    """Several continuations computed together (the harmoniser's speculation): each branch's logits are a
    stepped copy's, with the ring not yet full and wrapped, and a stream that adopts a branch goes on as
    the copy does; a branch that no longer fits its stream is refused."""
    net = NumpyComposerNet(TINY, tensors(random_net(0.3)), np.float64)
    prev, voice, phase = inputs(3 * TINY.context, seed=3)
    for filled in (2, TINY.context - 1, 2 * TINY.context + 3):
        stream = net.stream()
        for p, v, f in zip(prev[:filled], voice[:filled], phase[:filled]):
            stream.step(p, v, f, 5)
        branches = stream.branch(4)
        tokens = np.random.default_rng(filled).integers(0, TINY.vocab, (3, 4))
        logits = [branches.step(tokens[j], 1 + j, 9, 5) for j in range(3)]
        for b in range(4):
            copy_ = copy.deepcopy(stream)
            expected = [copy_.step(int(tokens[j, b]), 1 + j, 9, 5) for j in range(3)]
            np.testing.assert_allclose([step[b] for step in logits], expected, atol=1e-12)
        copy_ = copy.deepcopy(stream)
        for j in range(3):
            copy_.step(int(tokens[j, 2]), 1 + j, 9, 5)
        stream.adopt(branches, 2)
        np.testing.assert_allclose(stream.step(7, 0, 10, 5), copy_.step(7, 0, 10, 5), atol=1e-12)
        with pytest.raises(ValueError):
            stream.adopt(branches, 1)  # the stream has moved on


def test_choose_temperature_and_top_p():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([0.4, 0.3, 0.2, 0.1]))
    draws = np.array([choose(logits, None, 1.0, 1.0, rng) for _ in range(20000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), [0.4, 0.3, 0.2, 0.1], atol=0.015)
    # top-p 0.5: the smallest set reaching 0.5 is {0, 1}, renormalised to 4:3
    draws = np.array([choose(logits, None, 1.0, 0.5, rng) for _ in range(20000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), [4 / 7, 3 / 7, 0, 0], atol=0.015)
    for temperature in (0.3, 3.0):  # p ** (1 / T), renormalised
        expect = np.array([0.4, 0.3, 0.2, 0.1]) ** (1 / temperature)
        draws = np.array([choose(logits, None, temperature, 1.0, rng) for _ in range(20000)])
        np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), expect / expect.sum(), atol=0.015)
    assert choose(logits, None, 0.0, 1.0, rng) == 0
    mask = np.array([False, True, True, False])
    assert {choose(logits, mask, 1.0, 1.0, rng) for _ in range(200)} == {1, 2}
    with pytest.raises(ValueError):
        choose(logits, None, 1.0, 0.0, rng)


def test_composer_is_deterministic_by_seed(tiny_file):
    net = load_net(tiny_file)
    a = Composer(net, "Dm", seed=3).compose(40)
    b = Composer(net, "Dm", seed=3).compose(40)
    c = Composer(net, "Dm", seed=4).compose(40)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == (40, 4)


def test_rules_hold_where_the_model_alone_breaks_them(tiny_file):
    net = load_net(tiny_file)
    free = Composer(net, "C", seed=1, rules=False).compose(200)
    composer = Composer(net, "C", seed=1)
    ruled = composer.compose(200)
    assert parallels(free) + range_violations(free) + crossings(free) > 20
    assert parallels(ruled) == 0 and range_violations(ruled) == 0
    # crossing is the one rule given up when nothing else is left, and the composer counts each time
    assert crossings(ruled) <= composer.relaxed < 10


def test_a_composed_piece_opens_and_closes_on_the_tonic_chord(tiny_file):
    """The first and last bars sound the tonic triad, the bass on the tonic, whatever the (random) model
    says in between; without the rules nothing holds it there."""
    from wavenet_rt.compose.keyfinder import parse_key
    from wavenet_rt.compose.tokens import STEPS_PER_BAR, sounding

    net = load_net(tiny_file)
    for key, triad in (("G", {7, 11, 2}), ("Dm", {2, 5, 9})):
        tonic = parse_key(key) % 12
        for rules, holds in ((True, True), (False, False)):
            pitches = sounding(Composer(net, key, seed=2, rules=rules).compose(6 * STEPS_PER_BAR))
            framed = np.concatenate([pitches[:STEPS_PER_BAR], pitches[-STEPS_PER_BAR:]])
            voiced = framed[framed > 0] % 12
            on_chord = voiced.size > 0.9 * framed.size and set(voiced) <= triad
            bass = framed[:, 1][framed[:, 1] > 0] % 12
            assert (on_chord and bass.size and (bass == tonic).all()) == holds, (key, rules, framed)


def test_harmonizer_keeps_the_melody_and_is_causal(tiny_file):
    net = load_net(tiny_file)
    melody = [pitch_token(p) if i % 4 == 0 else HOLD for i, p in enumerate([72] * 8 + [74] * 8)]
    other = melody[:8] + [pitch_token(67) if i % 4 == 0 else HOLD for i in range(8)]
    h1, h2 = Harmonizer(net, "C", seed=2), Harmonizer(net, "C", seed=2)
    a = np.array([h1.step(t) for t in melody])
    b = np.array([h2.step(t) for t in other])
    assert np.array_equal(a[:, 0], melody)
    h3 = Harmonizer(net, "C", seed=2)
    prefetched = []
    for t in melody:  # the live harmoniser runs the next soprano position ahead: the same music
        prefetched.append(h3.step(t))
        h3.prefetch()
    assert np.array_equal(np.array(prefetched), a)
    assert np.array_equal(a[:8], b[:8]) and not np.array_equal(a[8:], b[8:])
    pitches = Harmonizer(net, "C", seed=2).note(72)
    assert pitches[0] == 72 and pitches.shape == (4,)


def test_speculation_answers_as_the_step_would(tiny_file):
    """The live harmoniser writes each step ahead for likely keys; a key among them gets the same harmony
    (and leaves the same state behind) as computing it when the key comes; other keys are computed then."""
    net = load_net(tiny_file)
    plain, ahead = Harmonizer(net, "C", seed=5), Harmonizer(net, "C", seed=5)
    adopted = 0
    for i, pitch in enumerate([72, 74, 76, 74, 79, 72, 60, 71, 72, 72, 84, 67]):
        expected = plain.note(pitch)
        list(ahead.speculate(range(pitch - 3, pitch + 2) if i % 5 != 4 else (50, 51)))  # every 5th: a miss
        adopted += ahead.speculation is not None and pitch in ahead.speculation.pitches
        assert np.array_equal(ahead.note(pitch), expected), i
        for down in (True, False):  # grid steps between keys, as the live clock takes them
            assert np.array_equal(ahead.wait(down), plain.wait(down))
    assert adopted == 10 and ahead.relaxed == plain.relaxed
    stale = ahead.speculate([60, 62])
    next(stale)
    ahead.wait(False)  # the step moved on before the speculation finished: it is dropped, not adopted
    assert list(stale) == [] and ahead.speculation is None


def test_lengths_and_keys():
    assert steps_for(bars=8) == 128
    assert steps_for(seconds=12, tempo=80) == 64  # 16 beats = 4 bars
    with pytest.raises(ValueError):
        steps_for(bars=2, seconds=3)
    with pytest.raises(ValueError):
        Composer(NumpyComposerNet(TINY, tensors(random_net(0.02))), key="H")


def test_foreign_or_missing_file_is_refused(tmp_path, impulse_model_file):
    with pytest.raises(ComposerFileError):
        load_net(tmp_path / "none.safetensors")
    with pytest.raises(ComposerFileError, match="not a composer"):
        load_net(impulse_model_file)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ComposerFileError):
        load_net(tmp_path / "junk.safetensors")


def run_compose(*args):
    return subprocess.run([sys.executable, "-m", "wavenet_rt.compose", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_compose_command_writes_midi(tmp_path, tiny_file):
    out = tmp_path / "piece.mid"
    done = run_compose(out, "--bars", 2, "--tempo", 60, "--seed", 5, "--key", "G", "--composer", tiny_file)
    assert done.returncode == 0, done.stderr
    midi = mido.MidiFile(str(out))
    assert len(midi.tracks) == 4
    assert 0 < midi.length <= 8.0 + 1e-6  # two bars of 4/4 at 60 bpm
    again = tmp_path / "again.mid"
    assert run_compose(again, "--bars", 2, "--tempo", 60, "--seed", 5, "--key", "G",
                       "--composer", tiny_file).returncode == 0
    assert again.read_bytes() == out.read_bytes()
    bad = run_compose(tmp_path / "x.mid", "--key", "Q", "--composer", tiny_file)
    assert bad.returncode == 2 and "unknown key" in bad.stderr


def test_compose_command_renders_wav_through_render(tmp_path, tiny_file, impulse_model_file):
    import soundfile

    out = tmp_path / "piece.wav"
    done = run_compose(out, "--bars", 1, "--tempo", 240, "--composer", tiny_file, "--model", impulse_model_file,
                       "--backend", "cpu")
    assert done.returncode == 0, done.stderr
    audio, rate = soundfile.read(str(out))
    assert len(audio) / rate == pytest.approx(2.0, abs=0.05)  # one bar at 240 bpm + render's 1 s tail
    assert np.abs(audio).max() > 0.1  # the impulse model sounds while a key is down


def test_the_shipped_composer_writes_in_the_key_asked_for():
    from wavenet_rt.compose.keyfinder import parse_key
    from wavenet_rt.compose.metrics import in_scale

    for key in ("G", "Dm"):
        grid = Composer(key=key, seed=0).compose(64)  # four bars from wavenet_rt/models/composer.safetensors
        assert in_scale(grid, parse_key(key)) > 0.85
        assert parallels(grid) == 0 and range_violations(grid) == 0
