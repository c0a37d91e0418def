# The engine benchmark's quick mode runs end to end and writes a complete results file and plot.
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "latency.py"


def test_quick_benchmark_writes_results(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARK), "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=BENCHMARK.parents[1],
                            env={**os.environ, "PYTHONPATH": str(BENCHMARK.parents[1])})  # this checkout's engine
    assert result.returncode == 0, result.stderr[-2000:]
    [json_file] = tmp_path.glob("latency-quick-*.json")
    assert json_file.with_suffix(".png").is_file()
    results = json.loads(json_file.read_text())
    rows = results["sizes"]["small"]
    assert results["machine"]["cpu"] and {r["backend"] for r in rows} >= {"pytorch", "cpu"}
    for row in rows:
        assert row["samples_per_s"] > 0 and row["block_ms"]["p50"] <= row["block_ms"]["max"]
        assert set(row["real_time_factor"]) == {"16000", "24000", "48000"}
    engine = next(r for r in rows if r["backend"] == "cpu" and r["streams"] == 1)
    assert engine["vs_pytorch"] > 1  # a compiled engine slower than the Python loop would be a bug
    assert "small" in result.stdout
    voices = results["voices"]
    assert voices["matmul_multiply_adds_per_s"] > 1e8
    small = voices["sizes"]["small"]
    assert [r["voices"] for r in small["rows"]] == [1, 2, 4]
    for r in small["rows"]:  # the figures are ratios of one another, as documented
        assert r["real_time_factor"] == pytest.approx(r["samples_per_s"] / (r["voices"] * 16000))
        assert r["share_of_matmul_rate"] == pytest.approx(
            r["samples_per_s"] * small["multiply_adds_per_sample"] / voices["matmul_multiply_adds_per_s"])
        assert 0 < r["share_of_matmul_rate"] < 1.5
