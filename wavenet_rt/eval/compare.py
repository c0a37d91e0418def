# Compares evaluations seed by seed: `evaluate` with the same --seed and split draws the same pieces,
# windows and uniforms, so two models' (or two sampling options') figures differ only by what was changed.
# Groups results.json files into variants (model file and sampling options) and prints each one's means per
# split beside the first variant's, with the paired difference in note F1 over the seeds both have.
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

VARIANT_OPTIONS = ("temperature", "strike_scale", "sustain_scale", "voices", "precision", "quick")


def load(path: Path) -> dict:
    """A results.json (or a folder holding one) as evaluate wrote it."""
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{path}: no results.json (write one with python -m wavenet_rt.evaluate --out)")
    results = json.loads(file.read_text())
    if "listening" not in results or "options" not in results:
        raise ValueError(f"{file} is not an evaluate results file with listening figures")
    return results


def variant_of(results: dict) -> str:
    """The model file and the sampling options: what was compared."""
    options = results["options"]
    return results["model"] + "".join(f" {k}={options[k]}" for k in VARIANT_OPTIONS if k in options)


def figures(results: dict) -> dict[str, float]:
    s = results["listening"]["summary"]
    return {"f1": s["note_f1"], "reference_f1": s["reference_note_f1"], "precision": s["note_precision"],
            "recall": s["note_recall"], "hnr_db": s["hnr_mean_db"]}


def compare(runs: list[dict]) -> list[dict]:
    """One row per (variant, split), variants in the order first seen: its seeds, mean figures and, for each
    variant after the first, the paired note-F1 difference from the first on the seeds both have (mean,
    standard error, seeds up)."""
    table: dict[tuple[str, str], dict[int, dict]] = {}
    for results in runs:
        key = (variant_of(results), results["options"]["split"])
        seed = int(results["options"]["seed"])
        if seed in table.setdefault(key, {}):
            raise ValueError(f"two results for {key[0]} on the {key[1]} split with seed {seed}")
        table[key][seed] = figures(results)
    first = next(iter(table))[0] if table else None
    rows = []
    for (variant, split), seeds in table.items():
        mean = {k: float(np.mean([f[k] for f in seeds.values()])) for k in next(iter(seeds.values()))}
        row = {"variant": variant, "split": split, "seeds": sorted(seeds), **mean,
               "f1_ratio": mean["f1"] / max(mean["reference_f1"], 1e-9)}
        baseline = table.get((first, split), {})
        shared = sorted(set(seeds) & set(baseline))
        if variant != first and shared:
            diff = np.array([seeds[s]["f1"] - baseline[s]["f1"] for s in shared])
            row["paired"] = {"seeds": shared, "mean": float(diff.mean()), "up": int((diff > 0).sum()),
                             "standard_error": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else None}
        rows.append(row)
    return rows


def row_line(row: dict) -> str:
    line = (f"{row['split']:5} seeds {','.join(map(str, row['seeds'])):12} note F1 {row['f1']:.3f} "
            f"({row['f1_ratio']:.3f}x the soundfont's {row['reference_f1']:.3f}) P {row['precision']:.3f} "
            f"R {row['recall']:.3f} held-note HNR {row['hnr_db']:.1f} dB")
    paired = row.get("paired")
    if paired:
        error = f" +- {paired['standard_error']:.3f}" if paired["standard_error"] is not None else ""
        line += (f"  vs the first: {paired['mean']:+.3f}{error} over {len(paired['seeds'])} seed(s), "
                 f"{paired['up']} up")
    return line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m wavenet_rt.eval.compare", description=(
        "Compares evaluate results (results.json files or the --out folders holding them) seed by seed: "
        "groups them by model file and sampling options, prints each group's mean note F1 (and its ratio to "
        "the soundfont's), precision, recall and held-note HNR per split, and for each group after the first "
        "the paired difference in note F1 from the first group on the seeds both have (mean, standard error, "
        "seeds up). Evaluations with the same --seed and split play the same pieces with the same draws."))
    p.add_argument("results", nargs="+", type=Path, help="results.json files or evaluate --out folders")
    args = p.parse_args(argv)
    try:
        rows = compare([load(path) for path in args.results])
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    variant = None
    for row in rows:
        if row["variant"] != variant:
            variant = row["variant"]
            print(variant)
        print("  " + row_line(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
