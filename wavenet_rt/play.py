# `python -m wavenet_rt.play`: the live instrument's entry point, kept where players know it; the player
# itself is wavenet_rt/live/play.py.
import sys

from .live.play import main

if __name__ == "__main__":
    sys.exit(main())
