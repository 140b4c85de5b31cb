"""Per-modality and per-task tables of a live benchmark run, from its rows (no training).

    python bench/live_tables.py                       # bench/results/live/live_rows.csv -> bench/results/live/tables.md

Per modality: normalised regret and test accuracy of the incumbent after k trials, mean over the runs (task x seed)
with a 95% bootstrap interval over those runs. Per task: the median over seeds with the [min, max] over seeds.
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from metahpo_kit.benchmark import at_k


def boot(x: np.ndarray, n: int = 2000, seed: int = 0) -> tuple:
    "Mean and 95% bootstrap interval of the mean."
    rng = np.random.default_rng(seed)
    means = rng.choice(x, size=(n, len(x)), replace=True).mean(axis=1)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="bench/results/live/live_rows.csv")
    ap.add_argument("--out", default="bench/results/live/tables.md")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10])
    args = ap.parse_args(argv)
    res = pd.read_csv(args.rows)
    methods = list(dict.fromkeys(res["method"]))
    lines = ["# Live benchmark: tables by modality and by task", "",
             f"Command: `python bench/live_tables.py --rows {args.rows} --out {args.out} --ks {' '.join(map(str, args.ks))}`"
             f", from `{args.rows}` ({res.groupby(['method', 'task', 'seed']).ngroups} runs); the run's command and "
             f"machine are in `{Path(args.rows).parent / 'README.md'}`.", ""]
    for modality, g in res.groupby("modality"):
        lines += [f"## {modality} ({', '.join(dict.fromkeys(g['task']))})", "",
                  "Mean over runs (task x seed) [95% bootstrap interval over runs].", "",
                  "| method | " + " | ".join(f"regret k={k}" for k in args.ks) + " | "
                  + " | ".join(f"test acc k={k}" for k in args.ks) + " |",
                  "| --- |" + " ---: |" * (2 * len(args.ks))]
        for m in methods:
            if not (g["method"] == m).any():
                continue
            cells = []
            for col in ("regret", "best_test"):
                for k in args.ks:
                    snap = at_k(g[g["method"] == m], k)
                    mean, lo, hi = boot(snap[col].to_numpy(dtype=float))
                    cells.append(f"{mean:.3f} [{lo:.3f}, {hi:.3f}]")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    for task, g in res.groupby("task", sort=False):
        lines += [f"## {task}", "", "Median over seeds [min, max].", "",
                  "| method | " + " | ".join(f"test acc k={k}" for k in args.ks) + " | "
                  + " | ".join(f"val acc k={k}" for k in args.ks) + " |",
                  "| --- |" + " ---: |" * (2 * len(args.ks))]
        for m in methods:
            if not (g["method"] == m).any():
                continue
            cells = []
            for col in ("best_test", "best_val"):
                for k in args.ks:
                    v = at_k(g[g["method"] == m], k)[col].to_numpy(dtype=float)
                    cells.append(f"{np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}]")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
