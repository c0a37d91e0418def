# `python -m wavenet_rt.evaluate`: the evaluation's entry point, kept where users know it; the evaluation
# itself is wavenet_rt/eval/evaluate.py.
import sys

from .eval.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
