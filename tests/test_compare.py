# wavenet_rt.eval.compare: evaluations grouped by model and sampling options, paired seed by seed.
import json
import subprocess
import sys

import pytest

from wavenet_rt.eval.compare import compare, load


def results(model, split, seed, f1, sustain=0.5, reference_f1=0.8):
    return {"model": model, "options": {"split": split, "seed": seed, "temperature": 1.0, "strike_scale": 1.3,
                                        "sustain_scale": sustain, "voices": 16},
            "listening": {"summary": {"note_f1": f1, "reference_note_f1": reference_f1, "note_precision": f1 + 0.01,
                                      "note_recall": f1 - 0.01, "hnr_mean_db": 20.0 + seed}}}


def test_variants_are_paired_seed_by_seed_against_the_first():
    runs = ([results("a.safetensors", "test", s, f) for s, f in enumerate((0.70, 0.72, 0.74))] +
            [results("b.safetensors", "test", s, f) for s, f in ((0, 0.73), (2, 0.73), (5, 0.9))] +
            [results("a.safetensors", "test", s, f, sustain=0.35) for s, f in ((1, 0.70),)] +
            [results("a.safetensors", "valid", 0, 0.6)])
    rows = compare(runs)
    assert [(r["variant"].split()[0], r["split"]) for r in rows] == [
        ("a.safetensors", "test"), ("b.safetensors", "test"), ("a.safetensors", "test"), ("a.safetensors", "valid")]
    first, other, cooler, valid = rows
    assert first["seeds"] == [0, 1, 2] and first["f1"] == pytest.approx(0.72)
    assert first["f1_ratio"] == pytest.approx(0.9) and "paired" not in first
    assert first["hnr_db"] == pytest.approx(21.0)
    # b on seeds 0 and 2, where a has 0.70 and 0.74: +0.03 and -0.01; seed 5 has nothing to pair with
    assert other["seeds"] == [0, 2, 5] and other["paired"]["seeds"] == [0, 2]
    assert other["paired"]["mean"] == pytest.approx(0.01) and other["paired"]["up"] == 1
    assert other["paired"]["standard_error"] == pytest.approx(0.02)  # sd 0.02828 over sqrt(2)
    # the same model at another sustain scale is a variant of its own; one seed has no standard error
    assert "sustain_scale=0.35" in cooler["variant"] and cooler["paired"]["mean"] == pytest.approx(-0.02)
    assert cooler["paired"]["standard_error"] is None
    assert "paired" not in valid  # the first variant itself, on the other split


def test_the_command_reads_folders_and_refuses_what_it_cannot_pair(tmp_path):
    for name, f1 in (("a", 0.7), ("b", 0.75)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(results(f"{name}.safetensors", "test", 3, f1)))
    run = subprocess.run([sys.executable, "-m", "wavenet_rt.eval.compare", str(tmp_path / "a"), str(tmp_path / "b")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "note F1 0.750 (0.938x the soundfont's 0.800)" in run.stdout and "+0.050 over 1 seed(s), 1 up" in run.stdout
    twice = subprocess.run([sys.executable, "-m", "wavenet_rt.eval.compare", str(tmp_path / "a"),
                            str(tmp_path / "a" / "results.json")], capture_output=True, text=True, timeout=60)
    assert twice.returncode == 2 and "two results for a.safetensors" in twice.stderr
    missing = subprocess.run([sys.executable, "-m", "wavenet_rt.eval.compare", str(tmp_path)], capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 2 and "no results.json" in missing.stderr
    with pytest.raises(ValueError, match="not an evaluate results file"):
        (tmp_path / "other.json").write_text("{}")
        load(tmp_path / "other.json")
