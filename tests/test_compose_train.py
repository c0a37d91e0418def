# Training the composer: windows hold the previous token (BOS first) and pad with ignored targets; a short
# run on a few hand-made pieces writes a loadable model that composes, and a second run resumes it.
import numpy as np

from wavenet_rt.compose import Composer, load_net
from wavenet_rt.compose.corpus import Chorale
from wavenet_rt.compose.tokens import HOLD, pitch_token
from wavenet_rt.compose.train import allowed_shifts, flatten, main, windows


def piece(root: int, split: str, bars: int = 4) -> Chorale:
    chord = [pitch_token(p) for p in (root + 12, root - 12, root + 7, root + 4)]
    grid = np.array(([chord] + [[HOLD] * 4] * 3) * 4 * bars)
    return Chorale(f"p{root}", grid, np.arange(len(grid)) % 16, root % 12, split)


def test_windows_shift_the_tokens_and_pad():
    c = piece(60, "train", bars=1)
    targets, voice, phase, key = flatten(c, shift=2)
    assert key == 62 % 12 and targets[0] == c.grid[0, 0] + 2 and list(voice[:5]) == [0, 1, 2, 3, 0]
    prev, v, ph, tg = windows(targets, voice, phase, 80, bos=99, start=0)
    assert prev[0] == 99 and np.array_equal(prev[1:64], targets[:63]) and np.array_equal(tg[:64], targets)
    assert (tg[64:] == -100).all() and len(prev) == 80
    prev, _, _, tg = windows(targets, voice, phase, 8, bos=99, start=8)
    assert prev[0] == targets[7] and np.array_equal(tg, targets[8:16])
    assert set(allowed_shifts(c)) == set(range(-6, 6))


def test_a_short_run_writes_a_composer_and_resumes(tmp_path):
    pieces = [piece(r, "train") for r in (55, 60, 62)] + [piece(57, "valid")]
    np.savez(tmp_path / "cache.npz", ids=[p.id for p in pieces], lengths=[len(p.grid) for p in pieces],
             grid=np.concatenate([p.grid for p in pieces]), phase=np.concatenate([p.phase for p in pieces]),
             keys=[p.key for p in pieces], splits=[p.split for p in pieces])
    args = [str(tmp_path / "run"), "--cache", str(tmp_path / "cache.npz"), "--minutes", "0.05", "--d-model", "32",
            "--layers", "1", "--context", "32", "--batch", "4", "--eval-every", "5"]
    assert main(args) == 0
    log = (tmp_path / "run" / "train.log").read_text()
    valid = [float(line.split("valid ")[1].split()[0]) for line in log.splitlines() if line.startswith("step")]
    assert len(valid) >= 2 and valid[-1] < valid[0]  # it learns
    grid = Composer(load_net(tmp_path / "run" / "composer.safetensors"), "C", seed=0).compose(8)
    assert grid.shape == (8, 4)
    assert main(args[:4] + ["0.08"] + args[5:]) == 0  # a longer budget: it goes on
    assert "resumed at step" in (tmp_path / "run" / "train.log").read_text()
