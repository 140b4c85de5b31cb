"""Write bench/results/dkgp_grid_e2.md from the run CSVs of bench/dkgp_bench.py (every number computed here).

    python bench/dkgp_report.py
"""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dkgp_tables import tables  # noqa: E402

R = Path(__file__).resolve().parent / "results"
RUN = "METAHPO_THREADS=1 OMP_NUM_THREADS=1 nice -n 5 python bench/dkgp_bench.py"


def load(*names):
    return pd.concat([pd.read_csv(R / n) for n in names if (R / n).exists()], ignore_index=True)


def restrict(df, methods, tasks=None):
    df = df[df["method"].isin(methods)]
    if tasks is not None:
        df = df[df["task"].isin(tasks)]
    order = {m: i for i, m in enumerate(methods)}
    return df.sort_values("method", key=lambda s: s.map(order), kind="stable")


def main():
    base = load("dkgp_base_runs.csv")
    final = load("dkgp_runs.csv", "dkgp_prior_runs.csv")
    out = ["# Deep-kernel GP surrogate (prototype, #14 item 2): grid meta-dataset, epochs=2, leave-one-task-out", "",
           "Protocol: `metahpo_kit.benchmark.run_benchmark` (tabular, `md.same_dataset(task)` excluded, 20 trials, "
           "each (task, seed) run refits its own clone seeded `run_seed_for(task, seed)`), shipped 30-task grid "
           "meta-dataset (486 configs). Timings: a 2-core machine shared with a meta-dataset build and three other "
           "agents (load 5-8): fit seconds are several times a quiet machine's (MAML's quiet figure is ~5 s).", "",
           "Commands:", "",
           f"    {RUN} --methods portfolio similarity random maml --seeds 0 1 --out bench/results/dkgp_base_runs.csv",
           f"    {RUN} --methods dkgp_ucb05 dkgp dkgp_mean dkgp_ucb05_cover1 dkgp_ucb05_cover2 --seeds 0 1 "
           "--out bench/results/dkgp_runs.csv",
           f"    {RUN} --methods dkgp_ucb05_prior dkgp_ucb05_prior_cover2 --seeds 0 1 "
           "--out bench/results/dkgp_prior_runs.csv",
           f"    {RUN} --methods dkgp_ucb05_prior --seeds 2 --out bench/results/dkgp_prior_seed2_runs.csv",
           f"    {RUN} --methods dkgp dkgp_mean dkgp_ucb05 dkgp_cover1 dkgp_minmax --n-tasks 10 --seeds 0 1 "
           "--out bench/results/dkgp_dev10b_runs.csv",
           f"    {RUN} --methods dkgp_ens3_ucb05 dkgp_ens3_ucb05_m1 --n-tasks 10 --seeds 0 1 "
           "--out bench/results/dkgp_ens_runs.csv",
           f"    {RUN} --methods dkgp_ucb05_ft --n-tasks 10 --seeds 0 1 --out bench/results/dkgp_ft_runs.csv",
           "    python bench/dkgp_report.py", "",
           "Variants (bench/dkgp.py `VARIANTS`): `dkgp` = EI, prior-mean first pick; `_ucb05` = UCB with beta 0.5; "
           "`_mean` = posterior mean; `_cover1/2` = the greedy portfolio's first 1/2 picks, then the GP; `_minmax` = "
           "GP on min-max scores instead of the median-anchored floored scale; `_ens3` = 3 members; `_m1` = member 0 "
           "of the same 3-member fit alone; `_ft` = 20 test-time Adam steps on lengthscale/outputscale/noise; "
           "`_prior` = MAMLTuner's meta-feature kernel prior (bandwidth chosen leave-one-dataset-out, mix 0.75) for "
           "the first pick; `_prior_cover2` = that, then 2 picks of the prior-weighted greedy portfolio (MAMLTuner's "
           "default first three picks), then the GP. All `dkgp*` variants of a (task, seed) with the same training "
           "arguments share one meta-training (they differ only in `ask`).", ""]
    if len(final):
        tasks = sorted(set(final["task"]))
        df = restrict(pd.concat([base, final]), ["portfolio", "similarity", "maml", "random", "dkgp_ucb05", "dkgp",
                                                 "dkgp_mean", "dkgp_ucb05_cover1", "dkgp_ucb05_cover2",
                                                 "dkgp_ucb05_prior", "dkgp_ucb05_prior_cover2"], tasks)
        out += [f"## All held-out tasks ({len(tasks)})", "", tables(df), ""]
        out += ["Paired vs **maml** (same format):", ""]
        out += [tables(df, ref="maml").split("Paired per task vs **maml**")[1].split("\n", 1)[1], ""]
    s2 = load("dkgp_prior_runs.csv", "dkgp_prior_seed2_runs.csv")
    if len(s2) and 2 in set(s2["seed"]):
        from metahpo_kit.benchmark import at_k
        g = s2[s2["method"] == "dkgp_ucb05_prior"]
        g = g[g["task"].isin(set(g[g["seed"] == 2]["task"]))]
        rows = []
        for k in (1, 3, 5, 10, 20):
            per_seed = at_k(g, k).groupby("seed")["regret"].mean()
            rows.append(f"| {k} | " + " / ".join(f"{v:.4f}" for v in per_seed) +
                        f" | {per_seed.max() - per_seed.min():.4f} | {at_k(g, k).groupby('task')['regret'].mean().mean():.4f} |")
        out += [f"## dkgp_ucb05_prior with a third meta-training seed ({g['task'].nunique()} tasks, seeds 0, 1, 2)", "",
                "| k | mean regret per seed | spread | mean over seeds |", "|---|---|---|---|", *rows, ""]
    dev = load("dkgp_dev10b_runs.csv", "dkgp_ens_runs.csv", "dkgp_ft_runs.csv")
    if len(dev):
        for name, methods in (("target scale and acquisition", ["portfolio", "maml", "dkgp", "dkgp_minmax",
                                                                  "dkgp_mean", "dkgp_ucb05", "dkgp_cover1"]),
                              ("ensemble and test-time fine-tuning", ["portfolio", "maml", "dkgp_ucb05",
                                                                        "dkgp_ens3_ucb05", "dkgp_ens3_ucb05_m1",
                                                                        "dkgp_ucb05_ft"])):
            pool = pd.concat([base, dev, final])
            present = [m for m in methods if m in set(pool["method"])]
            pool = pool[pool["method"].isin(present)]
            common = set.intersection(*[set(g["task"]) for _, g in pool.groupby("method")])
            df = restrict(pool, present, sorted(common))
            out += [f"## Ablation on {len(common)} held-out tasks: {name}", "", tables(df), ""]
    (R / "dkgp_grid_e2.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
