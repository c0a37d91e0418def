# The launches benchmarks/gpu_suite.sh hands to Nsight Compute (ncu): the medium model generating for one
# stream (the latency case: one cluster, fp16 weights in shared memory) and for 128 streams (the throughput
# case, fp32), each after a priming launch. Four launches in all; the profile says where a sample's time goes.
import numpy as np
import torch

from wavenet_rt import WaveNet, WaveNetConfig
from wavenet_rt.engine import Engine


def main() -> None:
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig.preset("medium", cond_channels=176, cond_hop=64)).eval()
    for streams, precision, samples in ((1, "fp16", 1024), (128, "fp32", 256)):
        engine = Engine(model, backend="cuda", streams=streams, precision=precision)
        engine.reset(0)
        for n in (64, samples):  # the first launch primes from silence
            cond = np.zeros((streams, 176, engine.frames_for(n)), np.float32)
            cond[:, 40] = 0.8
            engine.generate(n, cond)
        print(f"{streams} stream(s), {precision}: {engine.details}")


if __name__ == "__main__":
    main()
