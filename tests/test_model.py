# The PyTorch WaveNet: causality, receptive field, input checks, and the incremental (Fast WaveNet)
# generator proven equal to the parallel forward pass, in float64.
import math

import numpy as np
import pytest
import torch
from support.picks import played

from wavenet_rt import WaveNet, WaveNetConfig
from wavenet_rt.incremental import IncrementalGenerator
from wavenet_rt.mulaw import mulaw_encode, silence_code
from wavenet_rt.sampling import sample_categorical, sampling_uniforms

CONFIGS = {
    "plain": WaveNetConfig(dilations=[1, 2, 4, 8, 1, 2, 4, 8], residual_channels=8, gate_channels=12,
                           skip_channels=10, classes=32),
    "kernel3-cond": WaveNetConfig(dilations=[1, 3, 9, 2], kernel_size=3, residual_channels=7, gate_channels=10,
                                  skip_channels=9, classes=40, cond_channels=5, cond_hop=4),
    "global-cond": WaveNetConfig(dilations=[1, 2, 4, 8, 16], residual_channels=6, gate_channels=8,
                                 skip_channels=11, classes=64, cond_channels=3, cond_hop=7, global_classes=3),
    "kernel4": WaveNetConfig(dilations=[2, 5], kernel_size=4, residual_channels=5, gate_channels=6,
                             skip_channels=4, classes=16, global_classes=2),
    "dc-blocker": WaveNetConfig(dilations=[1, 2, 4, 8, 16], residual_channels=6, gate_channels=8, skip_channels=11,
                                classes=64, cond_channels=3, cond_hop=7, global_classes=3, dc_blocker=0.99),
}


def make(config, seed=0):
    torch.manual_seed(seed)
    return WaveNet(config).double().eval()


def inputs(config, batch, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, config.classes, (batch, steps), generator=g)
    cond = (torch.rand(batch, config.cond_channels, math.ceil(steps / config.cond_hop), generator=g,
                       dtype=torch.float64) if config.cond_channels else None)
    glob = torch.randint(0, config.global_classes, (batch,), generator=g) if config.global_classes else None
    return codes, cond, glob


def test_presets_match_the_design_table():
    small, medium, large = (WaveNetConfig.preset(n) for n in ("small", "medium", "large"))
    assert small.dilations == [2**i for i in range(10)] * 2 and large.layers == 30
    assert (small.residual_channels, small.gate_channels, small.skip_channels, small.classes) == (32, 64, 128, 256)
    assert (medium.residual_channels, medium.gate_channels, medium.skip_channels) == (64, 128, 256)
    assert (large.residual_channels, large.gate_channels, large.skip_channels) == (128, 256, 256)
    assert WaveNetConfig.preset("small", sample_rate=24000).sample_rate == 24000
    assert small.receptive_field == 2047
    with pytest.raises(ValueError, match="preset"):
        WaveNetConfig.preset("huge")


@pytest.mark.parametrize("name", CONFIGS)
def test_causal(name):
    config = CONFIGS[name]
    model = make(config)
    steps = 3 * config.receptive_field
    codes, cond, glob = inputs(config, 2, steps)
    base = model(codes, cond, glob)
    for t in (0, config.receptive_field // 2, steps - 2):
        codes2 = codes.clone()
        codes2[:, t + 1:] = torch.randint(0, config.classes, codes2[:, t + 1:].shape)
        cond2 = None
        if cond is not None:
            cond2 = cond.clone()
            cond2[:, :, t // config.cond_hop + 1:] = torch.rand_like(cond2[:, :, t // config.cond_hop + 1:])
        changed = model(codes2, cond2, glob)
        assert torch.equal(changed[:, :, :t + 1], base[:, :, :t + 1])
        assert not torch.equal(changed[:, :, t + 1:], base[:, :, t + 1:])


@pytest.mark.parametrize("name", CONFIGS)
def test_receptive_field_is_what_the_config_says(name):
    config = CONFIGS[name]
    model = make(config)
    steps = config.receptive_field + 20
    codes, cond, glob = inputs(config, 1, steps)
    if cond is not None:
        cond.zero_()  # only the first code may differ
    codes2 = codes.clone()
    codes2[0, 0] = (codes[0, 0] + 1) % config.classes
    differs = (model(codes, cond, glob) - model(codes2, cond, glob)).abs().amax(dim=(0, 1)) > 0
    measured = int(torch.nonzero(differs).max()) + 1  # the last output that still sees codes[0]
    assert measured == config.receptive_field == model.receptive_field


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("batch,length", [(1, 0.5), (3, 2.5)])
def test_incremental_logits_equal_forward(name, batch, length):
    config = CONFIGS[name]
    model = make(config)
    steps = max(2, int(length * config.receptive_field))
    codes, cond, glob = inputs(config, batch, steps)
    reference = model(codes, cond, glob)
    incremental = IncrementalGenerator(model, batch).logits(codes, cond, glob)
    scale = reference.abs().max()
    assert (incremental - reference).abs().max() <= 1e-5 * scale


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("outputs", [1, 7, 100, 10_000])
def test_the_last_outputs_alone_equal_the_full_forwards_tail(name, outputs):
    """forward(outputs=N) (what training asks for) computes each layer only where later layers and the N
    logits read it, and gives the full forward's last N logits."""
    config = CONFIGS[name]
    model = make(config)
    steps = int(2.5 * config.receptive_field)
    codes, cond, glob = inputs(config, 2, steps)
    reference = model(codes, cond, glob)[:, :, -outputs:]
    lengths = []
    hooks = [layer.conv.register_forward_hook(lambda _m, _i, out: lengths.append(out.shape[-1]))
             for layer in model.layers]
    tail = model(codes, cond, glob, outputs=outputs)
    for hook in hooks:
        hook.remove()
    assert tail.shape == reference.shape
    assert (tail - reference).abs().max() <= 1e-12 * reference.abs().max()
    assert lengths[-1] == min(outputs, steps) and lengths[0] <= steps  # the last layer: only the outputs


@pytest.mark.parametrize("name", ["global-cond", "kernel3-cond", "dc-blocker"])
def test_generation_follows_the_model_and_the_sampling_contract(name):
    """Every generated code is the sampling contract applied to forward()'s logits over a long silence
    (the silence code, empty conditioning frames) followed by the codes generated so far, and played
    through the config's DC blocker (wavenet_rt/feedback.py) when it has one."""
    config = CONFIGS[name]
    model = make(config)
    n, batch, hop = 90, 2, config.cond_hop
    _, cond, glob = inputs(config, batch, n)
    generator = IncrementalGenerator(model, batch)
    lead = math.ceil(config.receptive_field / hop) * hop  # silence before sample 0, in whole frames
    silence = np.full((batch, lead + 1), silence_code(config.classes))
    for temperature in (1.0, 0.0):
        generator.reset(seed=42)
        first = generator.generate(50, cond[:, :, :math.ceil(50 / hop)], glob, temperature)
        # A second block starts mid-frame: its cond holds the frames it touches, from frame 50 // hop on.
        second = generator.generate(n - 50, cond[:, :, 50 // hop:], glob, temperature)
        codes = mulaw_encode(np.concatenate([first, second], axis=1), config.classes)
        history = torch.from_numpy(np.concatenate([silence, codes], axis=1))
        full_cond = torch.cat([torch.zeros(batch, config.cond_channels, lead // hop, dtype=cond.dtype), cond], 2)
        logits = model(history[:, :-1], full_cond, glob).detach().float().numpy()[:, :, lead:]  # (B, classes, n)
        for s in range(batch):
            expect = sample_categorical(logits[s].T, temperature, sampling_uniforms(42, s, 0, n))
            if config.dc_blocker:
                assert not np.array_equal(expect, codes[s]), "the blocker changed nothing"
                expect = played(config, expect, codes[s])
            assert np.array_equal(expect, codes[s])


def test_generation_is_seeded():
    model = make(CONFIGS["plain"])
    generator = IncrementalGenerator(model, 2)
    generator.reset(seed=1)
    a = generator.generate(40)
    generator.reset(seed=1)
    b = generator.generate(40)
    generator.reset(seed=2)
    c = generator.generate(40)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # streams draw different numbers


def test_bad_inputs_raise_value_errors():
    config = CONFIGS["global-cond"]
    model = make(config)
    codes, cond, glob = inputs(config, 2, 20)
    with pytest.raises(ValueError, match="codes must be in"):
        model(codes + config.classes, cond, glob)
    with pytest.raises(ValueError, match="cond must have shape"):
        model(codes, cond[:, :, :-1], glob)
    with pytest.raises(ValueError, match="cond must have shape"):
        model(codes, None, glob)
    with pytest.raises(ValueError, match="global_id must be in"):
        model(codes, cond, glob + config.global_classes)
    with pytest.raises(ValueError, match="integer tensor"):
        model(codes.double(), cond, glob)
    with pytest.raises(ValueError, match="no local conditioning"):
        make(CONFIGS["plain"])(codes % 32, cond)
    with pytest.raises(ValueError, match="gate_channels"):
        WaveNetConfig(gate_channels=7)
