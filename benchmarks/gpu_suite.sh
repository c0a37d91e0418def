#!/usr/bin/env bash
# The GPU machine's one command: build the engine with its CUDA code, run the GPU tests (and the CPU
# engine's, which share the references), compute-sanitizer memcheck and racecheck on a short run, then the
# benchmark. Everything lands in $OUT (default ./gpu_out); summary.txt has one line per step.
# Usage: OUT=/some/dir bash benchmarks/gpu_suite.sh   (no package registry there: the build uses none)
set -uo pipefail
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
summary() { echo "$1" | tee -a "$OUT/summary.txt"; }

{ nvidia-smi; nvcc --version; python3 --version; } >"$OUT/machine.txt" 2>&1
if ! WAVENET_RT_CUDA=ON python3 -m pip install --no-build-isolation --no-deps -e . >"$OUT/build.log" 2>&1; then
  summary "build: FAILED (build.log)"
  tail -40 "$OUT/build.log"
  exit 1
fi
summary "build: ok"

python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_engine.py >"$OUT/tests.log" 2>&1
summary "tests: rc=$? ($(tail -1 "$OUT/tests.log"))"

for tool in memcheck racecheck; do
  compute-sanitizer --tool "$tool" --error-exitcode 99 python3 benchmarks/cuda_smoke.py >"$OUT/$tool.log" 2>&1
  summary "compute-sanitizer $tool: rc=$? ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$tool.log" | tail -1))"
done

python3 benchmarks/gpu_bench.py --out "$OUT" 2>&1 | tee "$OUT/bench.log"
summary "benchmark: rc=${PIPESTATUS[0]}"
