# `python -m wavenet_rt.compose.evaluate`: the composer judged beside Bach. Test-split NLL against the
# per-voice unigram and trigram; the statistics of composed pieces (with and without the sampling rules),
# of Bach's test chorales and of random notes; test melodies harmonised note by note, with the time each
# note takes. Writes benchmarks/results/composer-<timestamp>.json.
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .baselines import UNIGRAM, NGram
from .corpus import load_chorales
from .keyfinder import key_name, parse_key
from .metrics import ngram_index, piece_stats, summarise
from .sampler import Composer, Harmonizer, load_net, steps_for
from .tokens import VOCAB, transpose
from .train import allowed_shifts, flatten
from .weights import default_composer_path


def plain(o):
    """JSON for NumPy scalars."""
    return o.item() if hasattr(o, "item") else str(o)


KEYS = ("C", "Dm", "G", "Am", "F", "Em", "Bb", "Gm")
LIVE_RATE = 48000  # samples per second of the live synth, to state latency in samples


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m wavenet_rt.compose.evaluate",
                                description="Evaluate the composer beside Bach's test chorales.")
    p.add_argument("--composer", type=Path, help="composer model (default: the shipped one)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "wavenet_rt" / "chorales.npz",
                   help="encoded chorales (made on first use, about a minute)")
    p.add_argument("--pieces", type=int, default=4, help="composed pieces with the rules (default 4)")
    p.add_argument("--raw-pieces", type=int, default=2, help="composed pieces without the rules (default 2)")
    p.add_argument("--seconds", type=float, default=120.0, help="length of each composed piece (default 120)")
    p.add_argument("--tempo", type=float, default=80.0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--melodies", type=int, default=10, help="test melodies to harmonise (default 10)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the JSON")
    return p.parse_args(argv)


def model_nll(net, chorales) -> float:
    total, count = 0.0, 0
    for c in chorales:
        targets, voice, phase, key = flatten(c)
        prev = np.concatenate([[net.config.bos], targets[:-1]])
        logits = net.forward(prev, voice, phase, key).astype(np.float64)  # (4T, vocab)
        z = logits - logits.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        total -= logp[np.arange(len(targets)), targets].sum()
        count += len(targets)
    return total / count


def harmonise(net, chorale, seed: int, args) -> tuple[np.ndarray, list[float]]:
    """Bach's soprano fed step by step; returns the four voices and, for each melody onset, the seconds its
    harmony took (wall clock, and this thread's CPU time: on a shared machine the wall clock includes
    waiting), the next soprano position prefetched between steps as live."""
    h = Harmonizer(net, chorale.key, seed, args.temperature, args.top_p, phase=int(chorale.phase[0]))
    rows, took = [], []
    for token in chorale.grid[:, 0]:
        start, cpu = time.perf_counter(), time.thread_time()
        rows.append(h.step(token))
        if token >= 2:
            took.append((time.perf_counter() - start, time.thread_time() - cpu))
        h.prefetch()  # as the live harmoniser does between keys
    return np.array(rows), took


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = args.composer or default_composer_path()
    net = load_net(path)
    chorales = load_chorales(args.cache)
    split = {s: [c for c in chorales if c.split == s] for s in ("train", "valid", "test")}
    results: dict = {"kind": "composer", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
                     "command": "python -m wavenet_rt.compose.evaluate " + " ".join(argv or sys.argv[1:]),
                     "composer": {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
                                  "config": json.loads(net.config.to_json())},
                     "pieces": {s: len(v) for s, v in split.items()}}
    print("test NLL...", file=sys.stderr)
    augmented = [transpose(c.grid, s) for c in split["train"] for s in allowed_shifts(c)]
    ngram = NGram(augmented)
    weights = ngram.fit_weights([c.grid for c in split["valid"]])
    test_grids = [c.grid for c in split["test"]]
    results["test_nll_nats_per_token"] = {
        "composer": model_nll(net, split["test"]), "trigram": ngram.nll(test_grids),
        "trigram_weights": weights, "unigram": ngram.nll(test_grids, UNIGRAM)}
    print(json.dumps(results["test_nll_nats_per_token"], default=plain), file=sys.stderr)

    index = ngram_index([c.grid for c in split["train"]])
    bach = [piece_stats(c.grid, c.key, index) for c in split["test"]]
    results["bach_test"] = summarise(bach)
    steps = steps_for(seconds=args.seconds, tempo=args.tempo)
    for name, count, rules in (("composed", args.pieces, True), ("composed_without_rules", args.raw_pieces, False)):
        stats = []
        for seed in range(count):
            key = parse_key(KEYS[seed % len(KEYS)])
            composer = Composer(net, key, seed, args.temperature, args.top_p, rules=rules)
            start = time.perf_counter()
            grid = composer.compose(steps, progress=True)
            took = time.perf_counter() - start
            stats.append({**piece_stats(grid, key, index), "key": key_name(key), "seed": seed,
                          "ms_per_step": 1000 * took / steps, "rules_relaxed": composer.relaxed})
        results[name] = {"summary": summarise([{k: v for k, v in s.items() if k not in ("key", "seed")}
                                               for s in stats]), "pieces": stats}
        print(name, json.dumps(results[name]["summary"], default=plain), file=sys.stderr)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, VOCAB, size=(steps, 4))
    results["random_notes"] = piece_stats(noise, 0, index)

    harm_stats, took = [], []
    for i, c in enumerate(split["test"][:args.melodies]):
        grid, t = harmonise(net, c, i, args)
        harm_stats.append(piece_stats(grid, c.key, index))
        took += t
    wall, cpu = 1000 * np.array(took).T
    results["harmonizer"] = {
        "summary": summarise(harm_stats), "melody_notes": len(took),
        "ms_per_note_wall": {"median": float(np.median(wall)), "p99": float(np.percentile(wall, 99)),
                             "min": float(wall.min()), "max": float(wall.max())},
        "ms_per_note_cpu": {"median": float(np.median(cpu)), "p99": float(np.percentile(cpu, 99))},
        "samples_per_note_at_48k_wall_median": float(np.median(wall) * LIVE_RATE / 1000),
        "load_average": list(os.getloadavg()), "cpus": os.cpu_count()}
    print("harmonizer", json.dumps(results["harmonizer"], default=plain), file=sys.stderr)

    bach_sum, comp = results["bach_test"], results["composed"]["summary"]
    results["targets"] = {
        "nll_below_trigram": results["test_nll_nats_per_token"]["composer"] < results["test_nll_nats_per_token"][
            "trigram"],
        "parallels_at_most_2x_bach": comp["parallels_per_100_beats"] <= 2 * bach_sum["parallels_per_100_beats"],
        "range_violations_at_most_2x_bach": comp["range_violations_per_100_beats"] <= 2 * bach_sum[
            "range_violations_per_100_beats"],
        "copied_below_5_percent": comp["copied_8_note_share"] < 0.05,
        # "keeps one key, or modulates and returns": the last four bars are in the key asked for
        "every_piece_ends_in_its_key": all(s["ends_in_key"] for s in results["composed"]["pieces"])}
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"composer-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    out.write_text(json.dumps(results, indent=1, default=plain) + "\n")
    print(json.dumps(results["targets"], default=plain), file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
