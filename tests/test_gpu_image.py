# The GPU machine's image has numpy, safetensors, torch and pytest but no MIDI, audio or SciPy packages:
# what its suite imports must load without them (tests/support/gpu_image.py), and the SciPy-free chi-square
# the GPU tests use must equal SciPy's.
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.chi2 import chisquare_pvalue, contingency_pvalue

GPU_IMAGE = Path(__file__).parent / "support" / "gpu_image.py"


def test_the_gpu_suite_imports_with_only_the_images_packages():
    run = subprocess.run([sys.executable, str(GPU_IMAGE), "--check"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "refused" in run.stdout and "mido" in run.stdout  # the finder really refused what it must


def test_chi_square_equals_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(5):
        table = rng.integers(5, 200, (int(rng.integers(2, 5)), int(rng.integers(3, 30))))
        assert np.isclose(contingency_pvalue(table), stats.chi2_contingency(table).pvalue, rtol=1e-9, atol=1e-300)
        observed = table[0]
        expected = rng.random(observed.size) + 0.5
        expected *= observed.sum() / expected.sum()
        assert np.isclose(chisquare_pvalue(observed, expected), stats.chisquare(observed, expected).pvalue,
                          rtol=1e-9, atol=1e-300)
