"""The MAML tuner's first pick alone (its zero-shot prior), leave-one-dataset-out, for several `prior_mix` values at
several epoch budgets: how `prior_mix`'s default was chosen.

For each task of the shipped meta-dataset, the prior is built from the tasks of the other datasets (the bandwidth
chosen by leave-one-dataset-out among them, as `fit` does) and its first pick scored on the held-out task's recorded
scores at that budget (normalised regret: 0 = the task's best config, 1 = its worst). `prior_mix=0` is the best
config on average (the portfolio's first pick), `1` the kernel's weights alone. No network is trained.

    python bench/prior_scan.py --out bench/results/prior_scan.md
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from metahpo_kit.maml import MAMLTuner, prior_scores
from metahpo_kit.metadata import MetaDataset, SHIPPED, TabularObjective


def first_pick_regrets(md: MetaDataset, epochs: int, mixes) -> pd.DataFrame:
    "One row per held-out task: the first pick's normalised regret for every mix."
    rows = []
    for task in md.tasks:
        tuner = MAMLTuner(md.space, epochs=epochs, n_steps=0, random_state=0).fit(md, exclude_tasks=md.same_dataset(task))
        _, _, keys = tuner._grid_candidates()
        table = TabularObjective(md, task, epochs).table()     # {config key: (score, test, cost)}
        y = np.array([table[k][0] if k in table else np.nan for k in keys], dtype=float)
        z = tuner._task_vector(task)   # the held-out task, by its id: the tuner keeps every task's meta-features
        row = {"task": task, "epochs": epochs, "bandwidth": tuner.bandwidth_}
        for mix in mixes:
            p = prior_scores(tuner.prior_Y_, tuner.prior_Z_, z, tuner.bandwidth_, mix)
            p = np.where(np.isnan(y), -np.inf, np.nan_to_num(p, nan=-np.inf))
            row[mix] = (np.nanmax(y) - y[int(np.argmax(p))]) / (np.nanmax(y) - np.nanmin(y))
        rows.append(row)
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, nargs="+", default=[1, 2, 5, 10])
    ap.add_argument("--mixes", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--out", default="bench/results/prior_scan.md")
    args = ap.parse_args()
    md = MetaDataset.load(SHIPPED)
    lines = ["# The zero-shot prior's first pick by `prior_mix` and epoch budget\n",
             f"`python bench/prior_scan.py --out {args.out}`\n",
             f"{len(md.tasks)} held-out tasks, leave-one-dataset-out. Mean normalised regret of the first pick; in "
             "brackets wins/ties/losses against `prior_mix=0` (the best config on average, the portfolio's first pick; "
             "tie: within 0.01) and the two-sided Wilcoxon p.\n",
             "| epochs | " + " | ".join(f"prior_mix={m:g}" for m in args.mixes) + " |",
             "|---|" + "---|" * len(args.mixes)]
    for e in args.epochs:
        d = first_pick_regrets(md, e, args.mixes)
        base = d[args.mixes[0]].to_numpy()
        cells = []
        for m in args.mixes:
            v = d[m].to_numpy()
            diff = v - base
            if m == args.mixes[0] or not (diff != 0).any():
                cells.append(f"{v.mean():.3f}")
                continue
            wtl = f"{(diff < -0.01).sum()}/{(abs(diff) <= 0.01).sum()}/{(diff > 0.01).sum()}"
            cells.append(f"{v.mean():.3f} ({wtl}, p {wilcoxon(diff).pvalue:.2g})")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
