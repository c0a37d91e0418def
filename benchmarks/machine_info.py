# What a benchmark's figures were measured on, written into every results file: CPU name, family and model,
# the SIMD extensions the engines use, core count and Python.
from __future__ import annotations

import os
import platform


def machine() -> dict:
    """The CPU by name, family and model (VMs of one name differ: AVX2-only and AVX-512 VNNI EPYCs both say
    "AMD EPYC") and the SIMD extensions the engine's kernel sets use."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {"cpu": info.get("model name", platform.processor() or "unknown CPU"),
            "cpu_family": info.get("cpu family"), "cpu_model": info.get("model"),
            "simd": [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni") if f in flags],
            "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
