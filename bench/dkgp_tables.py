"""Tables of the deep-kernel GP benchmark (bench/dkgp_bench.py): mean regret by k, per-seed spread at k=3, paired
wins/ties/losses and Wilcoxon p against the portfolio, fit seconds. Reads one or more run CSVs (same protocol).

    python bench/dkgp_tables.py bench/results/dkgp_base_runs.csv bench/results/dkgp_runs.csv [--tasks-of FILE]
"""
import argparse

import pandas as pd

from metahpo_kit.benchmark import at_k, paired

KS = (1, 3, 5, 10, 20)


def tables(df: pd.DataFrame, ref: str = "portfolio", paired_ks=(3, 5, 10)) -> str:
    methods = list(dict.fromkeys(df["method"]))
    ntask = df["task"].nunique()
    seeds = sorted(df["seed"].unique())
    lines = [f"Mean normalised regret over {ntask} held-out tasks x seeds {seeds} (a task's value: mean over seeds); "
             "last column: mean regret at k=3 of each seed's refit, and its spread (max - min).\n",
             "| method | " + " | ".join(f"k={k}" for k in KS) + " | k=3 per seed (spread) | fit s (median) |",
             "|---|" + "---|" * (len(KS) + 2)]
    for m in methods:
        g = df[df["method"] == m]
        cells = []
        for k in KS:
            cells.append(f"{at_k(g, k).groupby('task')['regret'].mean().mean():.4f}")
        s3 = at_k(g, 3).groupby("seed")["regret"].mean()
        per_seed = " / ".join(f"{v:.4f}" for v in s3) + f" ({s3.max() - s3.min():.4f})"
        fit = g.groupby(["task", "seed"])["fit_s"].first().median()
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {per_seed} | {fit:.1f} |")
    if ref in methods:
        lines += ["", f"Paired per task vs **{ref}** (mean over seeds; W/T/L for the method, tie: |diff| <= 0.01; "
                  "Δ mean difference; p: two-sided Wilcoxon):\n",
                  "| method | " + " | ".join(f"k={k}" for k in paired_ks) + " |", "|---|" + "---|" * len(paired_ks)]
        for m in methods:
            if m == ref:
                continue
            cells = []
            for k in paired_ks:
                r = paired(df, m, ref, k)
                cells.append(f"{r['wins']}/{r['ties']}/{r['losses']} (Δ {r['mean_diff']:+.4f}, p {r['p_wilcoxon']:.2g})")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--methods", nargs="*")
    ap.add_argument("--common-tasks", action="store_true", help="keep only tasks every method ran on")
    a = ap.parse_args()
    df = pd.concat([pd.read_csv(p) for p in a.csv], ignore_index=True)
    if a.methods:
        df = df[df["method"].isin(a.methods)]
    if a.common_tasks:
        sets = [set(g["task"]) for _, g in df.groupby("method")]
        common = set.intersection(*sets)
        df = df[df["task"].isin(common)]
    print(tables(df))
