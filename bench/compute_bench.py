"""Regret against compute on the shipped grid: the freeze-thaw tuner against full-budget and early-stopping baselines,
leave-one-dataset-out, every learned part refitted per meta-training seed (issue #30).

    METAHPO_THREADS=1 OMP_NUM_THREADS=1 python bench/compute_bench.py run --epochs 10 --seeds 0 1 2 \
        --jobs 2 --out bench/results/compute_grid_e10
    python bench/compute_bench.py report bench/results/compute_grid_e10 > bench/results/compute_grid_e10.md

`run` holds out each dataset of the headline tasks at the budget (`benchmark.headline_tasks`; all its tasks are left
out of training: `md.same_dataset`), fits the learned methods on the others once per seed, and simulates every method
on each held-out task until `--compute` full-trial equivalents are spent (`benchmark.simulate`: a config trained again
for more epochs continues where it stopped, for every method alike). One CSV part per (dataset, seed) in the folder:
a rerun skips the parts already there (gzipped CSV). Methods:

- `freezethaw`: `FreezeThawTuner` (its defaults); `ft_no_curves`: the same with rounds ranked by the screened score
  (`use_curves=False`); `ft_no_prior`: with random candidates (`use_prior=False`); `ft_no_meta`: both off, nothing
  meta-learned (successive halving of random configs in the same rounds);
- `dkgp`: the learned default at the full budget (the same fit as `freezethaw`'s GP), `portfolio` at the full budget;
- `hyperband` (eta 3, continuing promoted configs), `median_stop` (Optuna's random sampler and `MedianPruner`).
"""
import argparse
import copy
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from metahpo_kit.benchmark import headline_tasks, paired, per_unit, simulate
from metahpo_kit.compute import at_compute, median_stopping
from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.freezethaw import FreezeThawTuner
from metahpo_kit.lookup import TabularObjective
from metahpo_kit.metadata import load_shipped
from metahpo_kit.tasks import base_dataset
from metahpo_kit.train import Budget
from metahpo_kit.transfer import PortfolioTuner
from metahpo_kit.tuners import HyperbandTuner
from thread_bench import machine   # bench/ is the script's folder

BUDGETS = (1, 2, 5, 10)
METHODS = ("freezethaw", "ft_no_curves", "ft_no_prior", "ft_no_meta", "dkgp", "portfolio", "hyperband", "median_stop")


def variant(ft: FreezeThawTuner, **switches) -> FreezeThawTuner:
    "A copy of the fitted tuner with its switches set (nothing refitted)."
    out = copy.deepcopy(ft)
    for k, v in switches.items():
        setattr(out, k, v)
    return out


def as_default(ft: FreezeThawTuner) -> DeepKernelTuner:
    "The fitted freeze-thaw tuner's GP as the learned default (full-budget trials)."
    gp = DeepKernelTuner(ft.space, **{k: getattr(ft, k) for k in DeepKernelTuner._param_names() if k != "space"})
    for k in DeepKernelTuner._state:
        setattr(gp, k, getattr(ft, k))
    gp._cache = {}
    return gp


def run_part(md, dataset: str, tasks: list, seed: int, epochs: int, compute: float) -> pd.DataFrame:
    "Every method on the held-out `tasks` of `dataset`, fitted with `seed` on the other datasets."
    exclude = md.same_dataset(tasks[0])
    t0 = time.perf_counter()
    ft = FreezeThawTuner(md.space, epochs=epochs, random_state=seed).fit(md, exclude_tasks=exclude)
    fit_s = time.perf_counter() - t0
    portfolio = PortfolioTuner(md.space, epochs=epochs, random_state=seed).fit(md, exclude_tasks=exclude)
    tuners = {"freezethaw": ft, "ft_no_curves": variant(ft, use_curves=False), "ft_no_prior": variant(ft, use_prior=False),
              "ft_no_meta": variant(ft, use_curves=False, use_prior=False), "dkgp": as_default(ft),
              "portfolio": portfolio, "hyperband": HyperbandTuner(md.space, random_state=seed, eta=3)}
    frames = []
    for task in tasks:
        objective = TabularObjective(md, task, epochs=epochs)
        n_max = len(objective.recorded())
        for name, tuner in tuners.items():
            tuner = copy.deepcopy(tuner)
            tuner.random_state = seed
            df = simulate(tuner, objective, min(n_max, int(compute * epochs)), budget=Budget(epochs=epochs), task=task)
            frames.append(df[df["epochs_total"].shift(fill_value=0) < compute * epochs].assign(method=name, task=task))
        stopped = median_stopping(objective, compute * epochs, epochs, seed=seed)
        frames.append(stopped.assign(method="median_stop", task=task))
    return pd.concat(frames, ignore_index=True).assign(dataset=dataset, seed=seed, fit_s=fit_s)


def run(args) -> None:
    md = load_shipped()
    heads, _ = headline_tasks(md, epochs=args.epochs)
    by_dataset = {}
    for t in heads:
        by_dataset.setdefault(base_dataset(t), []).append(t)
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(d, ts, s) for s in args.seeds for d, ts in sorted(by_dataset.items())   # seed by seed
            if not (folder / f"{d}-seed{s}.csv.gz").exists()]
    if args.limit:
        todo = todo[:args.limit]
    print(f"{len(by_dataset)} datasets x {len(args.seeds)} seeds; {len(todo)} parts to run", flush=True)

    def one(item):
        dataset, tasks, seed = item
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        t0 = time.perf_counter()
        out = run_part(md, dataset, tasks, seed, args.epochs, args.compute)
        tmp = folder / f"{dataset}-seed{seed}.tmp.csv.gz"
        out.to_csv(tmp, index=False)
        tmp.rename(folder / f"{dataset}-seed{seed}.csv.gz")
        return dataset, seed, time.perf_counter() - t0

    if args.jobs > 1:
        from joblib import Parallel, delayed
        for d, s, secs in Parallel(n_jobs=args.jobs, return_as="generator_unordered")(delayed(one)(i) for i in todo):
            print(f"{d} seed {s}: {secs:.0f} s", flush=True)
    else:
        for item in todo:
            d, s, secs = one(item)
            print(f"{d} seed {s}: {secs:.0f} s", flush=True)


def load_rows(folder: Path) -> pd.DataFrame:
    parts = sorted(Path(folder).glob("*-seed[0-9]*.csv.gz"))
    if not parts:
        raise SystemExit(f"no parts in {folder}: run `python bench/compute_bench.py run --out {folder}` first")
    return pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)


def to_reach(snap: pd.DataFrame, rows: pd.DataFrame, md, epochs: int, target_method: str, method: str,
             at: int = 5, most: float = 10.0) -> pd.DataFrame:
    """Per dataset: the compute (full-trial equivalents) `method` needs to reach the regret `target_method` has after
    `at` full trials, on each (task, seed) (the whole run's compute where it never does: censored), averaged."""
    target = snap[(snap["method"] == target_method) & (snap["k"] == at)].set_index(["task", "seed"])["regret"]
    fine = at_compute(rows[rows["method"] == method], md, epochs, budgets=tuple(np.round(np.arange(1, 10 * most + 1) / 10, 1)))
    out = []
    for (task, seed), g in fine.groupby(["task", "seed"]):
        ok = g[g["regret"] <= target[(task, seed)] + 1e-12]
        out.append({"task": task, "seed": seed, "dataset": base_dataset(task),
                    "compute": float(ok["k"].min()) if len(ok) else most, "censored": not len(ok)})
    return pd.DataFrame(out)


def report(args) -> None:
    md = load_shipped()
    rows = load_rows(args.folder)
    per_seed = rows.groupby("seed")["dataset"].nunique()
    partial = sorted(int(s) for s in per_seed.index if per_seed[s] < per_seed.max())
    rows = rows[~rows["seed"].isin(partial)]   # a seed still running would weigh its datasets unevenly
    E = args.epochs
    snap = at_compute(rows, md, E, budgets=BUDGETS)
    methods = [m for m in METHODS if m in set(snap["method"])]
    seeds = sorted(int(s) for s in snap["seed"].unique())
    print(f"# Regret against compute on the grid at {E} epochs\n")
    print(f"Command: `python bench/compute_bench.py run --epochs {E} --seeds {' '.join(map(str, seeds))} --jobs 2 "
          f"--out {args.folder}`, then `report`. {snap['task'].nunique()} held-out tasks of "
          f"{len({base_dataset(t) for t in snap['task']})} datasets, leave-one-dataset-out, seeds {seeds} (each "
          f"learned method refitted per seed). Machine: {machine()}; two worker processes, one torch thread each."
          + (f" Seeds {partial} are left out: not every dataset has run with them yet." if partial else "") + "\n")
    print("Mean normalised regret over datasets of the incumbent among the configs trained for the full budget, "
          "after k full-trial equivalents of compute (1 where none was trained fully yet); the median over "
          "meta-training seeds [min, max]:\n")
    lines = ["| method | " + " | ".join(f"k = {k}" for k in BUDGETS) + " |", "|---" * (len(BUDGETS) + 1) + "|"]
    for m in methods:
        cells = []
        for k in BUDGETS:
            per_seed = [per_unit(snap[(snap["seed"] == s)], k)[m].mean() for s in seeds]
            cells.append(f"{np.median(per_seed):.3f} [{min(per_seed):.3f}, {max(per_seed):.3f}]")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    print("\nfreezethaw against each method at each k, paired per dataset (its tasks and seeds averaged): "
          "wins/ties/losses for freezethaw (tie: within 0.01) and the Wilcoxon p:\n")
    lines = ["| against | " + " | ".join(f"k = {k}" for k in BUDGETS) + " |", "|---" * (len(BUDGETS) + 1) + "|"]
    for m in methods:
        if m == "freezethaw":
            continue
        cells = []
        for k in BUDGETS:
            p = paired(snap, "freezethaw", m, k)
            cells.append(f"{p['wins']}/{p['ties']}/{p['losses']}, p={p['p_wilcoxon']:.2g}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if "portfolio" in methods:
        print("\nCompute to reach the portfolio's regret after 5 full trials, per (task, seed), in full-trial "
              "equivalents, averaged over each dataset's tasks and seeds, then over datasets (a run that never "
              "reaches it counts its whole compute):\n")
        print("| method | mean compute | share of 5 | runs that never reach it |\n|---|---|---|---|")
        for m in methods:
            r = to_reach(snap, rows, md, E, "portfolio", m)
            mean = r.groupby("dataset")["compute"].mean().mean()
            print(f"| {m} | {mean:.2f} | {mean / 5:.2f} | {int(r['censored'].sum())} of {len(r)} |")
    print(f"\nFit seconds per (dataset, seed), median: {rows.groupby(['dataset', 'seed'])['fit_s'].first().median():.1f}.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--epochs", type=int, default=10)
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--compute", type=float, default=10.0, help="full-trial equivalents each run may spend")
    r.add_argument("--jobs", type=int, default=1)
    r.add_argument("--limit", type=int, default=None, help="run at most this many parts (a quick look)")
    r.add_argument("--out", default="bench/results/compute_grid_e10")
    p = sub.add_parser("report")
    p.add_argument("folder")
    p.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    {"run": run, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
