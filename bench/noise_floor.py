"""How fine a difference the tabular benchmark (bench/maml_bench.py) can resolve.

1. Replication noise of the recorded scores: every config of the meta-dataset was trained with two seeds. For each
   task, the config that is best on one seed, scored on the other seed's table, has a normalised regret (0 = that
   seed's best, 1 = its worst): the regret a method pays for the noise of one training run alone.
2. Power: the per-task differences of a benchmark run (method minus each baseline, mean over seeds) resampled to n
   tasks (with replacement); the share of resamples where the method beats *both* baselines with a two-sided Wilcoxon
   p < 0.05, i.e. how many held-out tasks the benchmark would need to show the observed effect beyond noise.
   The unit resampled is a dataset (`--by dataset`, the default: its variants averaged first) or a task.
3. Paired tests with the tasks of one dataset (its variants) averaged first, as the benchmark holds them out
   together: the honest unit of replication (`metahpo_kit.benchmark.paired`, the one implementation).

    python bench/noise_floor.py --results bench/results/maml_e2.csv --out bench/results/noise_floor.md
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from metahpo_kit.benchmark import paired, per_unit, signed_rank_p
from metahpo_kit.metadata import MetaDataset, load_shipped


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


def power(df: pd.DataFrame, method: str, baselines, k: int, n: int, draws: int, rng, by: str) -> float:
    "Share of resamples of n units (datasets or tasks) where `method` has the lower mean and p < 0.05 against each baseline."
    x = per_unit(df, k, by=by)
    diffs = [(x[method] - x[b]).to_numpy() for b in baselines]
    hits = 0
    for _ in range(draws):
        i = rng.integers(len(x), size=n)
        hits += all(d[i].mean() < 0 and signed_rank_p(d[i]) < 0.05 for d in diffs)   # NaN (no difference): not
    return hits / draws


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="bench/results/maml_e2.csv", help="a bench/maml_bench.py CSV")
    ap.add_argument("--method", default="maml")
    ap.add_argument("--baselines", nargs="+", default=["portfolio", "similarity"])
    ap.add_argument("--epochs", type=int, nargs="+", default=[2, 10])
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5, 10, 20])
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 60, 90, 120])
    ap.add_argument("--by", choices=["dataset", "task"], default="dataset", help="the unit the power resamples")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/noise_floor.md")
    args = ap.parse_args()
    md = load_shipped()
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
    rng = np.random.default_rng(args.seed)
    unit = "datasets" if args.by == "dataset" else "tasks"
    lines += ["", f"## Power: {args.method} against {' and '.join(args.baselines)} at once\n",
              f"Per-{args.by} differences of `{args.results}` (the mean over seeds"
              f"{', then over the variants of a dataset' if args.by == 'dataset' else ''}) resampled to n {unit}: the "
              f"share of resamples where {args.method} has the lower mean regret and a two-sided Wilcoxon p < 0.05 "
              "against every baseline.\n",
              f"| n {unit} | " + " | ".join(f"k={k}" for k in args.ks) + " |", "|---|" + "---|" * len(args.ks)]
    for n in args.sizes:
        cells = [f"{power(df, args.method, args.baselines, k, n, args.draws, rng, args.by):.2f}" for k in args.ks]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")

    first = paired(df, args.method, args.baselines[0], k=args.ks[0])
    lines += ["", "## Paired tests with the tasks of one dataset averaged first\n",
              f"{first['units']} datasets ({first['tasks']} tasks; the variants of one dataset are held out together, "
              "so they are not independent replicates): wins/ties/losses of the method (tie: |Δ| <= 0.01), the mean "
              "difference Δ and the Wilcoxon p of the per-dataset differences (`metahpo_kit.benchmark.paired`):\n",
              "| baseline | " + " | ".join(f"k={k}" for k in args.ks) + " |", "|---|" + "---|" * len(args.ks)]
    for b in args.baselines:
        cells = []
        for k in args.ks:
            r = paired(df, args.method, b, k=k)
            p = 1.0 if np.isnan(r["p_wilcoxon"]) else r["p_wilcoxon"]   # NaN: no dataset differs
            cells.append(f"{r['wins']}/{r['ties']}/{r['losses']} (Δ {r['mean_diff']:+.3f}, p {p:.2g})")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
