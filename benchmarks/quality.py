# The quality benchmark: `python -m wavenet_rt.evaluate` on a model (default: the shipped one) with its
# results written under benchmarks/results/quality-<time>/ (the latest run's JSON and a few of its
# spectrogram PNGs are committed, superseded runs leave the tree; the WAVs stay out of git). Arguments
# after the model go to evaluate unchanged.
import sys
from datetime import datetime
from pathlib import Path

from wavenet_rt.eval.evaluate import main

if __name__ == "__main__":
    out = Path(__file__).parent / "results" / f"quality-{datetime.now():%Y%m%d-%H%M%S}"
    sys.exit(main([*sys.argv[1:], "--out", str(out)]))
