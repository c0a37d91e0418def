# The README's Python API block runs as written (taken from README.md itself, run in a fresh interpreter in
# an empty folder), and `from wavenet_rt import WaveNet` loads no torch until WaveNet is used.
import os
import subprocess
import sys
from pathlib import Path

import soundfile

ROOT = Path(__file__).parents[1]


def python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, from any folder
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_python_api_block_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("Python API (", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    result = python(block, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    audio, rate = soundfile.read(tmp_path / "two_notes.wav")
    assert rate == 16000 and len(audio) == 8000 and 0.01 < abs(audio).max() <= 1.0


def test_wavenet_imports_without_torch_until_used(tmp_path):
    code = ("import sys\nfrom wavenet_rt import WaveNet, WaveNetConfig, default_model_path\n"
            "assert 'torch' not in sys.modules, 'torch loaded on import'\n"
            "model = WaveNet(WaveNetConfig.preset('small'))\n"
            "class Mine(WaveNet):\n    pass\n"
            "assert 'torch' in sys.modules and isinstance(model, WaveNet) and issubclass(Mine, WaveNet)\n"
            "assert default_model_path().is_file()\n")
    result = python(code, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
