# A short CUDA engine run for compute-sanitizer (benchmarks/gpu_suite.sh): every code path of the kernel
# (silence priming, sampling, teacher forcing, conditioning, global classes, padding streams, clusters of
# each size the plan picks) in a few launches. --size picks the models: tiny (racecheck, synccheck), small
# (memcheck), all (tiny and medium: the plain first run).
import argparse

import numpy as np
import torch

from wavenet_rt import WaveNet, WaveNetConfig
from wavenet_rt.engine import Engine


def configs(size: str) -> list[WaveNetConfig]:
    tiny = WaveNetConfig(dilations=[1, 2, 4], kernel_size=3, residual_channels=5, gate_channels=6, skip_channels=7,
                         classes=11, cond_channels=3, cond_hop=4, global_classes=2)
    if size == "tiny":
        return [tiny]
    if size == "small":
        return [WaveNetConfig.preset("small", cond_channels=176, cond_hop=64)]
    return [tiny, WaveNetConfig.preset("medium", cond_channels=176, cond_hop=64)]


def main() -> None:
    p = argparse.ArgumentParser(description="A short run of every CUDA engine code path.")
    p.add_argument("--size", choices=["tiny", "small", "all"], default="all")
    p.add_argument("--short", action="store_true", help="3 streams in fp16, fewer steps (racecheck is slow)")
    args = p.parse_args()
    torch.manual_seed(0)
    for config in configs(args.size):
        model = WaveNet(config).eval()
        for streams, precision in ((3, "fp16"),) if args.short else ((1, "fp32"), (3, "fp16")):
            engine = Engine(model, backend="cuda", streams=streams, precision=precision)
            rng = np.random.default_rng(0)
            glob = np.zeros(streams, np.int64) if config.global_classes else None
            engine.reset(1)
            for n in (1, 67) if args.short else (1, 67, 130):
                frames = engine.frames_for(n)
                cond = rng.random((streams, config.cond_channels, frames)).astype(np.float32)
                audio = engine.generate(n, cond, glob)
                assert np.isfinite(audio).all()
            steps = 40 if args.short else 150
            codes = rng.integers(0, config.classes, (streams, steps))
            cond = rng.random((streams, config.cond_channels, -(-steps // config.cond_hop))).astype(np.float32)
            assert np.isfinite(engine.logits(codes, cond, glob)).all()
            print(f"{config.residual_channels}-channel model, {streams} stream(s), {precision}: {engine.details}")


if __name__ == "__main__":
    main()
