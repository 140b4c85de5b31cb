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

What screening can tell, on the same held-out tasks (read after `run`, whose portfolio trials it takes):

    METAHPO_THREADS=1 python bench/compute_bench.py screen --seeds 0 --out bench/results/compute_screen
    python bench/compute_bench.py screen-report bench/results/compute_screen > bench/results/compute_screen.md

`screen` takes, per held-out task, the portfolio's first 8 configs and the deep-kernel GP's 8 zero-shot picks, and
records their scores after 1, 2 and 3 epochs, the curve model's predicted final score from each, their final scores
per training seed and their regrets. `screen-report` replays policies that screen candidates and continue them in
the order some score ranks them, down to an oracle that knows the final scores.
"""
import argparse
import copy
import gzip
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
from metahpo_kit.space import config_key
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


SCREEN_N = 8   # candidates per list


def screen(args) -> None:
    import json
    md = load_shipped()
    E = args.epochs
    f = md.frame[md.frame["epochs"] == E]
    names = md.space.names
    per_seed = f.assign(key=[config_key({n: r[f"config.{n}"] for n in names}) for r in f.to_dict("records")]) \
        .pivot_table(index=["task", "key"], columns="seed", values="val_accuracy")
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        out = folder / f"seed{seed}.jsonl.gz"   # appended to: one gzip member per task, read back as one stream
        done = {json.loads(line)["task"] for line in gzip.open(out, "rt")} if out.exists() else set()
        for part in sorted(Path(args.rows).glob(f"*-seed{seed}.csv.gz")):
            rows = pd.read_csv(part, usecols=["trial", "config", "method", "task"])
            port = rows[rows["method"] == "portfolio"]
            tasks = [t for t in port["task"].unique() if t not in done]
            if not tasks:
                continue
            ft = FreezeThawTuner(md.space, epochs=E, random_state=seed).fit(md, exclude_tasks=md.same_dataset(tasks[0]))
            for task in tasks:
                obj = TabularObjective(md, task, epochs=E)
                tables = {e: obj.table(e) for e in (1, 2, 3, E)}
                final = np.array([v[0] for v in tables[E].values()])
                best, worst = final.max(), final.min()
                lists = {"port": [config_key(md.space.validate(json.loads(c)))
                                  for c in port[port["task"] == task].sort_values("trial")["config"]][:SCREEN_N],
                         "gp": [k for k in (config_key(md.space.validate(c)) for c in ft.top_untried([], task=task, n=md.space.size))
                                if k in tables[E]][:SCREEN_N]}
                rec = {"task": task, "seed": seed}
                for name, keys in lists.items():
                    X = md.space.encode_many([json.loads(k) for k in keys])
                    rec[name] = {"keys": keys, "regret": [float((best - tables[E][k][0]) / max(best - worst, 1e-12)) for k in keys],
                                 "by_seed": per_seed.loc[task].reindex(keys).to_numpy().tolist()}
                    for e in (1, 2, 3):
                        scores = np.array([tables[e][k][0] for k in keys])
                        rec[name][f"e{e}"] = scores.tolist()
                        rec[name][f"pred{e}"] = ft.predict_final(scores, e, X, task).tolist()
                with gzip.open(out, "at") as fh:
                    fh.write(json.dumps(rec) + "\n")
            print(f"{part.name}: {len(tasks)} tasks", flush=True)


def _reach(regret, order, target, screened: int, epochs_each: int, E: int) -> float:
    """Full-trial equivalents until a config with regret <= target is trained fully: `screened` configs trained
    `epochs_each` epochs first, then continued one by one in `order` (10 where none reaches it)."""
    spent = screened * epochs_each / E
    for i in order:
        spent += 1 - epochs_each / E
        if regret[i] <= target + 1e-12:
            return spent
    return 10.0


def screen_report(args) -> None:
    import json
    from scipy.stats import spearmanr
    recs = [json.loads(line) for p in sorted(Path(args.folder).glob("seed*.jsonl.gz")) for line in gzip.open(p, "rt")]
    per_seed = pd.Series([r["seed"] for r in recs]).value_counts()
    recs = [r for r in recs if per_seed[r["seed"]] == per_seed.max()]   # a seed still running is left out
    E = args.epochs
    seeds = sorted({r["seed"] for r in recs})
    print("# What screening a few epochs tells about the strong candidates\n")
    print(f"Command: `python bench/compute_bench.py screen --seeds {' '.join(map(str, seeds))} --out {args.folder}`, "
          f"then `screen-report`. {len(recs)} held-out (task, seed) pairs of {len({base_dataset(r['task']) for r in recs})} "
          f"datasets at {E} epochs, leave-one-dataset-out (the curve model and the GP fitted without the task's "
          f"dataset). Machine: {machine()}.\n")
    print("Target: the regret of the best of the portfolio's first 5 configs trained fully (what the portfolio reaches "
          "after 5 full trials). Each policy screens the first S configs of a candidate list for a few epochs, then "
          "trains them to the full budget one by one in the order a score ranks them; compute counts the epochs, in "
          "full-trial equivalents, until a config at the target is trained fully (10 when none is). The bar of issue "
          f"#30 is {5 / 3:.2f} (a third of 5). Mean over datasets:\n")
    pols = [("prior order, no screening", None, 0), ("score after 1 epoch", "e1", 1),
            ("curve model (median) after 1 epoch", "pred1:1", 1), ("curve model (90% quantile) after 1 epoch", "pred1:2", 1),
            ("score after 2 epochs", "e2", 2), ("curve model (median) after 2 epochs", "pred2:1", 2),
            ("oracle: the final score, after 1 epoch", "oracle", 1)]
    rows = []
    for r in recs:
        target = min(r["port"]["regret"][:5])
        for lst in ("port", "gp"):
            c = r[lst]
            reg = np.asarray(c["regret"])
            for S in (5, 8):
                for label, what, e in pols:
                    if what is None:
                        score, screened = -np.arange(len(reg), dtype=float), 0
                    elif what == "oracle":
                        score, screened = -reg, S
                    else:
                        key, _, q = what.partition(":")
                        score = np.asarray(c[key])[:, int(q)] if q else np.asarray(c[key])
                        screened = S
                    order = np.argsort(-score[:S], kind="stable")
                    rows.append({"dataset": base_dataset(r["task"]), "seed": r["seed"], "list": lst, "S": S,
                                 "policy": label, "compute": _reach(reg, order, target, screened, e, E),
                                 "first": reg[order[0]]})
    d = pd.DataFrame(rows)
    m = d.groupby(["list", "S", "policy", "dataset"])[["compute", "first"]].mean().groupby(["list", "S", "policy"]).mean()
    by_seed = d.groupby(["list", "S", "policy", "seed", "dataset"])["compute"].mean().groupby(["list", "S", "policy", "seed"]).mean()
    names = {"port": "the portfolio's first configs", "gp": "the deep-kernel GP's zero-shot picks"}
    print("| candidates | S | policy | compute to the target | [min, max] over meta-training seeds | regret of the first "
          "config trained fully |\n|---|---|---|---|---|---|")
    for lst in ("port", "gp"):
        for S in (5, 8):
            for label, what, _ in pols:
                if what is None and S != 5:   # no screening: S plays no part
                    continue
                c, f1 = m.loc[(lst, S, label)]
                spread = by_seed.loc[(lst, S, label)]
                print(f"| {names[lst]} | {S if what else '-'} | {label} | {c:.2f} | [{spread.min():.2f}, {spread.max():.2f}] "
                      f"| {f1:.3f} |")
    print("\nHow much the screened scores say about the final score, within each candidate list (Spearman rank "
          "correlation over its configs, mean over datasets), and how much of the final ranking is training noise "
          "(the two recorded seeds' final scores against each other):\n")
    print("| candidates | after 1 epoch | curve model, 1 epoch | after 2 epochs | seed 0 against seed 1 | the two seeds agree on the best of the first 5 |\n|---|---|---|---|---|---|")
    for lst in ("port", "gp"):
        out = []
        for r in recs:
            c = r[lst]
            fin = -np.asarray(c["regret"])
            bs = np.asarray(c["by_seed"], float)
            rho = lambda a, b: spearmanr(a, b).statistic if np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan
            out.append({"dataset": base_dataset(r["task"]), "e1": rho(c["e1"], fin), "p1": rho(np.asarray(c["pred1"])[:, 1], fin),
                        "e2": rho(c["e2"], fin), "seeds": rho(bs[:, 0], bs[:, 1]),
                        "agree": float(np.argmax(bs[:5, 0]) == np.argmax(bs[:5, 1]))})
        o = pd.DataFrame(out).groupby("dataset").mean().mean()
        print(f"| {names[lst]} | {o['e1']:.2f} | {o['p1']:.2f} | {o['e2']:.2f} | {o['seeds']:.2f} | {o['agree']:.0%} |")


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
    sc = sub.add_parser("screen")
    sc.add_argument("--epochs", type=int, default=10)
    sc.add_argument("--seeds", type=int, nargs="+", default=[0])
    sc.add_argument("--rows", default="bench/results/compute_grid_e10", help="the folder of `run` whose portfolio it reads")
    sc.add_argument("--out", default="bench/results/compute_screen")
    sr = sub.add_parser("screen-report")
    sr.add_argument("folder")
    sr.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()
    {"run": run, "report": report, "screen": screen, "screen-report": screen_report}[args.command](args)


if __name__ == "__main__":
    main()
