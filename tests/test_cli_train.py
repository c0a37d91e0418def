# The dataset and train commands as a user meets them: a built dataset's log holds no bar redraws; a run
# given only --minutes lays its LR schedule over the steps that fit (warm-up done, cosine decayed by the end)
# and its bar counts them; the bar shows the validation the run reports; --resume says where it resumes;
# the model file is as readable as the rest of the run folder.
import csv
import json
import os
import re

import pytest
from support.cli import run_cli

from wavenet_rt.train import lr_factor

pytestmark = pytest.mark.slow
TINY = {"dilations": [1, 2, 4, 8, 16, 32], "residual_channels": 8, "gate_channels": 16, "skip_channels": 16}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_train")
    out = root / "data"
    build = run_cli(["wavenet_rt.dataset", "build", out, "--limit", "2", "--sample-rate", "8000", "--hop", "32",
                     "--test", "0"], timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY))
    return out, config, build


def test_dataset_build_writes_no_bar_redraws_into_a_log(dataset):
    assert "\r" not in dataset[2].stderr, dataset[2].stderr[-500:]


def train(dataset, out, *extra):
    data, config, _ = dataset
    return run_cli(["wavenet_rt.train", "--data", data, "--config", config, "--out", out, "--batch", "2", "--window",
                    "1500", "--valid-windows", "4", "--threads", "1", *extra], timeout=300)


def test_a_time_limited_run_shapes_its_schedule_and_bar_and_resumes_saying_so(dataset, tmp_path):
    run = tmp_path / "run"
    # default --steps (20,000) and --warmup (200); validation every 5,000 steps: the run ends before its first
    result = train(dataset, run, "--minutes", "0.25", "--valid-every", "5000")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(run / "log.csv", newline="") as f:
        lrs = [float(row["lr"]) for row in csv.DictReader(f)]
    steps = len(lrs)
    assert steps >= 20, steps  # enough steps for the schedule to mean something, even on a loaded machine
    assert max(lrs) > 0.9e-3 and lrs[-1] < 0.3e-3, (steps, max(lrs), lrs[-1])  # warmed up, then decayed
    redraws = result.stderr.split("\r")
    done, total = map(int, re.findall(r"(\d+)/(\d+) \[", redraws[-1])[-1])
    assert done == steps and total < 1.3 * steps, (done, total, steps)  # the bar counts the steps that fit
    best = float(re.search(r"best validation (\d+\.\d+)", result.stderr).group(1))
    shown = float(re.search(r"valid=(\d+\.\d+)", redraws[-1]).group(1))  # rounded to 3 places
    assert abs(shown - best) < 0.00051, redraws[-1]
    assert "steps fit; the LR schedule spans them" in result.stderr
    mode = os.stat(run / "model.safetensors").st_mode & 0o777
    assert mode == os.stat(run / "log.csv").st_mode & 0o777, oct(mode)  # written like the rest of the run
    resumed = train(dataset, run, "--resume", "--minutes", "0.05", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming run {run} from step {steps} of {total}" in resumed.stderr, resumed.stderr[-2000:]


def test_the_warm_up_never_takes_more_than_a_fifth_of_the_steps():
    assert lr_factor(0, 200, 20000) == pytest.approx(1 / 200)
    assert lr_factor(19, 200, 100) == pytest.approx(1.0)  # a 100-step run warms up over 20 steps
    assert lr_factor(99, 200, 100) == pytest.approx(0.1, abs=0.01)
