# CPU time a virtual machine's host gave to other guests instead of this one ("steal" in /proc/stat). While
# the host steals, a vCPU can stop for milliseconds at a time: long enough to run any live ring dry. `play`
# reports it beside its underruns; the benchmarks and live tests weigh underruns against it.
from __future__ import annotations

import os
from pathlib import Path


def host_steal_seconds() -> float:
    """CPU seconds stolen by the host so far, summed over all CPUs; 0 where the kernel does not count it."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()  # "cpu user nice system idle ... steal"
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0
