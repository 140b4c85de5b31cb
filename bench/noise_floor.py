"""How fine a difference the tabular benchmark (bench/maml_bench.py) can resolve.

1. Replication noise of the recorded scores: every config of the meta-dataset was trained with two seeds. For each
   task, the config that is best on one seed, scored on the other seed's table, has a normalised regret (0 = that
   seed's best, 1 = its worst): the regret a method pays for the noise of one training run alone.
2. Power: the per-task differences of a benchmark run (method minus each baseline, mean over seeds) resampled to n
   tasks (with replacement); the share of resamples where the method beats *both* baselines with a two-sided Wilcoxon
   p < 0.05, i.e. how many held-out tasks the benchmark would need to show the observed effect beyond noise.
3. The same tests with the tasks of one dataset (its variants) averaged first, as the benchmark holds them out
   together: the honest unit of replication.

    python bench/noise_floor.py --results bench/results/maml_e2.csv --out bench/results/noise_floor.md
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from metahpo_kit.metadata import MetaDataset, SHIPPED
from metahpo_kit.tasks import base_dataset


def replication_regret(md: MetaDataset, epochs: int) -> pd.DataFrame:
    "Per task: the normalised regret, on one seed's scores, of the config best on the other seed (mean of both ways)."
    f = md.frame
    rows = []
    for task, g in f.groupby("task", sort=False):
        score = [(list(c)[min(epochs, len(c)) - 1] if o == "ok" else 0.0) for c, o in zip(g["val_acc"], g["status"])]
        t = g.assign(score=score).pivot_table(index=md.config_cols, columns="seed", values="score").dropna()
        seeds = list(t.columns)[:2]
        if len(seeds) < 2:
            continue
        a, b = t[seeds[0]].to_numpy(), t[seeds[1]].to_numpy()
        r = [(x.max() - x[np.argmax(y)]) / (x.max() - x.min()) for x, y in ((a, b), (b, a)) if x.max() > x.min()]
        rows.append({"task": task, "epochs": epochs, "replication_regret": float(np.mean(r)) if r else np.nan})
    return pd.DataFrame(rows)


def p_value(d: np.ndarray) -> float:
    return float(wilcoxon(d).pvalue) if (d != 0).any() else 1.0


def power(per_task: pd.DataFrame, method: str, baselines, k: int, n: int, draws: int, rng) -> float:
    "Share of resamples of n tasks where `method` has the lower mean and p < 0.05 against every baseline."
    x = per_task.xs(k, level="k")
    diffs = [(x[method] - x[b]).to_numpy() for b in baselines]
    hits = 0
    for _ in range(draws):
        i = rng.integers(len(x), size=n)
        hits += all(d[i].mean() < 0 and p_value(d[i]) < 0.05 for d in diffs)
    return hits / draws


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="bench/results/maml_e2.csv", help="a bench/maml_bench.py CSV")
    ap.add_argument("--method", default="maml")
    ap.add_argument("--baselines", nargs="+", default=["portfolio", "similarity"])
    ap.add_argument("--epochs", type=int, nargs="+", default=[2, 10])
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5, 10, 20])
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 60, 90, 120])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/noise_floor.md")
    args = ap.parse_args()
    md = MetaDataset.load(SHIPPED)
    lines = [f"# How fine a difference the tabular benchmark can resolve\n",
             f"`python bench/noise_floor.py --results {args.results}` (seed {args.seed}, {args.draws} resamples)\n",
             "## Replication noise of the recorded scores\n",
             "Normalised regret, on one seed's scores, of the config that is best on the other seed (mean of both "
             "ways); over the tasks of the shipped meta-dataset:\n",
             "| epochs | mean | median | 75th percentile | tasks |", "|---|---|---|---|---|"]
    rep = pd.concat([replication_regret(md, e) for e in args.epochs])
    for e, g in rep.groupby("epochs"):
        v = g["replication_regret"].dropna()
        lines.append(f"| {e} | {v.mean():.3f} | {v.median():.3f} | {v.quantile(0.75):.3f} | {len(v)} |")

    df = pd.read_csv(args.results)
    df = df[df["method"].isin([args.method, *args.baselines])]
    per_task = df.groupby(["task", "k", "method"])["regret"].mean().unstack("method")
    rng = np.random.default_rng(args.seed)
    lines += ["", f"## Power: {args.method} against {' and '.join(args.baselines)} at once\n",
              f"Per-task differences of `{args.results}` resampled to n tasks: the share of resamples where "
              f"{args.method} has the lower mean regret and a two-sided Wilcoxon p < 0.05 against every baseline.\n",
              "| n tasks | " + " | ".join(f"k={k}" for k in args.ks) + " |", "|---|" + "---|" * len(args.ks)]
    for n in args.sizes:
        cells = [f"{power(per_task, args.method, args.baselines, k, n, args.draws, rng):.2f}" for k in args.ks]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")

    per_data = per_task.groupby([per_task.index.get_level_values("task").map(base_dataset),
                                 per_task.index.get_level_values("k")]).mean()
    per_data.index.names = ["dataset", "k"]
    lines += ["", "## Paired tests with the tasks of one dataset averaged first\n",
              f"{per_data.index.get_level_values('dataset').nunique()} datasets (the variants of one dataset are held "
              "out together, so they are not independent replicates); Wilcoxon p of the per-dataset differences:\n",
              "| baseline | " + " | ".join(f"k={k}" for k in args.ks) + " |", "|---|" + "---|" * len(args.ks)]
    for b in args.baselines:
        cells = []
        for k in args.ks:
            d = (per_data.xs(k, level="k")[args.method] - per_data.xs(k, level="k")[b]).to_numpy()
            cells.append(f"Δ {d.mean():+.3f}, p {p_value(d):.2g}")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
