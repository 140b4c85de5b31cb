"""Leave-one-task-out benchmark of the MAML tuner against random search, TPE, the portfolio and the similarity rule.

For each held-out task of the meta-dataset, every method is fitted on the other tasks and simulated on the held-out
task's recorded scores (a direct `ask(history)` loop: the tabular benchmark). Normalised regret after k trials =
(best - best_so_far) / (best - worst) on `md.scores(epochs)` of the held-out task. Rows are appended to a CSV as they
finish (a rerun skips what is done), then a markdown table is written.

    METAHPO_THREADS=1 OMP_NUM_THREADS=1 python bench/maml_bench.py --epochs 1 --seeds 0 1 --out bench/results/maml_e1
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ablations import (EqualWeightsPrior, FixedInnerLR, KernelOnlyPrior, MultiTaskFinetune,  # bench/ablations.py,
                       SecondOrder, ZeroShotOnly, variant)                                       # beside this script
from metahpo_kit.benchmark import paired
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.metadata import MetaDataset, random_search_expected_best, SHIPPED
from metahpo_kit.transfer import PortfolioTuner, SimilarityTuner
from metahpo_kit.space import config_key
from metahpo_kit.tuners import Observation, TPETuner, clone

KS = (1, 3, 5, 10, 20)

# the MAML tuner's variants: name -> (class: the shipped tuner or an ablation of bench/ablations.py, its arguments)
MAML_VARIANTS = {
    "maml": (MAMLTuner, dict()),
    "maml_zero_shot": (ZeroShotOnly, dict()),                           # no inner loop in ask
    "maml_fixed_lr": (FixedInnerLR, dict()),
    "multitask_finetune": (MultiTaskFinetune, dict()),
    "maml_second_order": (SecondOrder, dict()),
    "maml_network_zero_shot": (MAMLTuner, dict(zero_shot="network")),   # first pick from the network, not the prior
    "maml_mf_inputs": (MAMLTuner, dict(use_meta_features=True)),        # the network sees the meta-features too
    "maml_equal_weights": (EqualWeightsPrior, dict()),                  # the prior without meta-features: the mean config
    "maml_kernel_only": (KernelOnlyPrior, dict()),                      # the prior from the kernel's weights alone
    "maml_no_cover": (MAMLTuner, dict(n_cover=0)),                      # the network from the second pick on
}


def methods(space, epochs: int, maml_kw: dict) -> dict:
    """name -> unfitted tuner (random search is not among them: its expected curve is exact, see `main`).
    `maml_kw` (from --maml and --n-steps) holds constructor arguments and switches: the switches make every MAML
    variant a subclass with them set."""
    out = {"tpe": TPETuner(space), "portfolio": PortfolioTuner(space, epochs=epochs),
           "similarity": SimilarityTuner(space, epochs=epochs)}
    switches = {k: v for k, v in maml_kw.items() if k in MAMLTuner.switches}
    args = {k: v for k, v in maml_kw.items() if k not in switches}
    for name, (cls, kw) in MAML_VARIANTS.items():
        own = vars(cls) if cls is not MAMLTuner else {}                  # the switches an ablation sets: they win,
        extra = {k: v for k, v in switches.items() if k not in own}      # as a variant's own arguments do
        cls = variant(cls, **extra) if extra else cls
        out[name] = cls(space, epochs=epochs, **{**args, **kw})
    return out


def make(tuner, md, task, seed):
    "A clone of `tuner` with `random_state=seed`, fitted on every task but `task`'s data; (tuner, fit seconds)."
    t0 = time.perf_counter()
    fitted = clone(tuner, random_state=seed).fit(md, exclude_tasks=md.same_dataset(task))
    return fitted, time.perf_counter() - t0


def simulate(tuner, table: dict, k_max: int, task: str) -> tuple:
    "Best-so-far scores after each of k_max asks on `task`, and the median ask time."
    hist, best, times = [], [], []
    for _ in range(k_max):
        t0 = time.perf_counter()
        c = tuner.ask(hist, task=task)
        times.append(time.perf_counter() - t0)
        s = table[config_key(c)]
        hist.append(Observation(c, s))
        best.append(max(o.score for o in hist))
    return np.array(best), float(np.median(times))


def summarise(df: pd.DataFrame, baselines=("portfolio", "similarity"), tie=0.01) -> str:
    "Markdown: mean normalised regret (sd over tasks) by method and k; paired W/T/L of every method vs baselines."
    per_task = df.groupby(["method", "task", "k"])["regret"].mean().reset_index()
    runs = df.rename(columns={"k": "trial"})   # the kit's `paired` reads a run's k-th trial from "trial"
    lines = []
    methods = list(dict.fromkeys(df["method"]))
    ntask = per_task["task"].nunique()
    lines.append(f"Mean normalised regret over {ntask} held-out tasks (each the mean over seeds); in brackets the sd "
                 "over tasks and the standard error of the mean.\n")
    lines.append("| method | " + " | ".join(f"k={k}" for k in KS) + " |")
    lines.append("|---|" + "---|" * len(KS))
    for m in methods:
        cells = []
        for k in KS:
            v = per_task[(per_task.method == m) & (per_task.k == k)]["regret"]
            cells.append(f"{v.mean():.3f} ({v.std():.3f}, ±{v.std() / np.sqrt(len(v)):.3f})")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    for b in baselines:
        if b not in methods:
            continue
        lines.append(f"\nPaired per-task wins/ties/losses vs **{b}** (lower regret wins; tie: |difference| <= {tie}; "
                     "Δ: mean difference; p: two-sided Wilcoxon signed-rank test over tasks):\n")
        lines.append("| method | " + " | ".join(f"k={k}" for k in KS) + " |")
        lines.append("|---|" + "---|" * len(KS))
        for m in methods:
            if m == b:
                continue
            cells = []
            for k in KS:
                r = paired(runs, m, b, k=k, tie=tie)
                p = 1.0 if np.isnan(r["p_wilcoxon"]) else r["p_wilcoxon"]   # NaN: no task differs
                cells.append(f"{r['wins']}/{r['ties']}/{r['losses']} (Δ {r['mean_diff']:+.3f}, p {p:.2g})")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def timing(md: MetaDataset, epochs: int, out: Path, repeats: int = 50) -> str:
    "Fit on the whole meta-dataset; median ask time with 50 observations on the grid and on a continuous space."
    from metahpo_kit.space import Categorical, Float, Int, SearchSpace
    import platform
    lines = [f"# MAML tuner timing (epochs={epochs})\n", f"CPU: {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, load average {os.getloadavg()}\n"]
    tuner = MAMLTuner(md.space, epochs=epochs, random_state=0).fit(md)
    lines.append(f"- fit on {len(md.tasks)} tasks ({tuner.n_steps} outer steps, first order): {tuner.fit_seconds_:.1f} s")
    second = SecondOrder(md.space, epochs=epochs, random_state=0).fit(md)
    lines.append(f"- fit, second order: {second.fit_seconds_:.1f} s")
    rng = np.random.default_rng(0)
    grid = md.space.grid()
    task = md.tasks[0]
    hist = [Observation(grid[i], float(rng.random())) for i in rng.choice(len(grid), 50, replace=False)]

    def med(f):
        f()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return 1000 * float(np.median(ts)), 1000 * float(np.percentile(ts, 90))

    m, p90 = med(lambda: tuner.ask(hist, task=task))
    lines.append(f"- ask, seed grid ({len(grid)} candidates), 50 observations: median {m:.1f} ms (90th pct {p90:.1f})")
    m, p90 = med(lambda: tuner.ask([], task=task))
    lines.append(f"- ask, seed grid, empty history (zero-shot): median {m:.1f} ms (90th pct {p90:.1f})")
    m, p90 = med(lambda: tuner.ask(hist[:2], task=task))
    lines.append(f"- ask, seed grid, 2 observations (the prior's greedy portfolio): median {m:.1f} ms (90th pct {p90:.1f})")
    space = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Float("wd", 0.0, 0.1), Int("layers", 1, 4),
                         Categorical("opt", ("adam", "sgd", "rmsprop"))))
    rows = []
    for t in range(4):
        for c in space.sample(100, seed=t):
            rows.append({"task": f"t{t}", **c, "score": -abs(np.log10(c["lr"]) + 2 - t / 2)})
    cmd = MetaDataset.from_frame(pd.DataFrame(rows), space=space)
    ct = MAMLTuner(space, n_steps=50, random_state=0).fit(cmd)
    chist = [Observation(c, float(-abs(np.log10(c["lr"]) + 2))) for c in space.sample(50, seed=9)]
    m, p90 = med(lambda: ct.ask(chist))
    lines.append(f"- ask, continuous space, {ct.n_candidates} random + 300 local candidates, 50 observations: "
                 f"median {m:.1f} ms (90th pct {p90:.1f})")
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timing", action="store_true", help="only time fit and ask (writes <out>_timing.md)")
    ap.add_argument("--metadata", default=str(SHIPPED))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--methods", nargs="+",
                    default=["random", "tpe", "portfolio", "similarity", *MAML_VARIANTS])
    ap.add_argument("--ablation-seeds", type=int, nargs="+", default=None,
                    help="seeds for the maml_* ablations (default: --seeds)")
    ap.add_argument("--tasks", nargs="*", default=None, help="held-out tasks (default: all)")
    ap.add_argument("--n-steps", type=int, default=None, help="MAML outer steps (default: the tuner's)")
    ap.add_argument("--maml", nargs="*", default=[],
                    help="extra MAMLTuner arguments or switches (MAMLTuner.switches), key=value")
    ap.add_argument("--k-max", type=int, default=20)
    ap.add_argument("--out", default="bench/results/maml")
    a = ap.parse_args()
    torch.set_num_threads(1)
    md = MetaDataset.load(a.metadata)
    if a.timing:
        print(timing(md, a.epochs, Path(a.out + "_timing.md")))
        return
    tasks = a.tasks or md.tasks
    maml_kw = {}
    if a.n_steps:
        maml_kw["n_steps"] = a.n_steps
    for item in a.maml:
        k, v = item.split("=")
        maml_kw[k] = eval(v)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    csv = out.with_suffix(".csv")
    done = set()
    if csv.exists():
        old = pd.read_csv(csv)
        done = set(zip(old.method, old.task, old.seed))
    print(f"meta-dataset {a.metadata}: {len(md.tasks)} tasks {md.tasks}; epochs={a.epochs}; held out: {tasks}",
          flush=True)
    scores = md.scores(a.epochs)
    unfitted = methods(md.space, a.epochs, maml_kw)
    unknown = [m for m in a.methods if m != "random" and m not in unfitted]
    if unknown:
        raise ValueError(f"methods {unknown} are not among {['random', *unfitted]}")
    for task in tasks:
        g = scores[scores.task == task]
        names = md.space.names
        keys = [config_key({n: r[f"config.{n}"] for n in names}) for r in g.to_dict("records")]
        table = dict(zip(keys, g["score"].astype(float)))
        best, worst = g["score"].max(), g["score"].min()
        regret = lambda b: (best - b) / (best - worst)
        for method in a.methods:
            seeds = a.seeds
            if method.startswith("maml_") or method == "multitask_finetune":
                seeds = a.ablation_seeds or a.seeds
            for seed in seeds:
                if (method, task, seed) in done:
                    continue
                if method == "random":
                    curve = random_search_expected_best(g["score"], a.k_max)   # exact expectation
                    fit_s, ask_s = 0.0, 0.0
                else:
                    tuner, fit_s = make(unfitted[method], md, task, seed)
                    curve, ask_s = simulate(tuner, table, a.k_max, task)
                rows = pd.DataFrame({"method": method, "task": task, "seed": seed, "k": np.arange(1, a.k_max + 1),
                                     "regret": regret(curve), "fit_s": fit_s, "ask_ms": 1000 * ask_s})
                rows.to_csv(csv, mode="a", header=not csv.exists(), index=False)
                print(f"{task:>28} {method:>20} seed {seed}: regret@1,5,20 = "
                      f"{regret(curve[0]):.3f} {regret(curve[4]):.3f} {regret(curve[-1]):.3f}  fit {fit_s:.1f}s "
                      f"ask {1000 * ask_s:.1f}ms", flush=True)
    df = pd.read_csv(csv)
    df = df[df.k.isin(KS) & df.method.isin(a.methods)]   # the methods asked for (the CSV may hold more)
    md_text = summarise(df)
    cmd = "METAHPO_THREADS=1 OMP_NUM_THREADS=1 python bench/maml_bench.py " + " ".join(os.sys.argv[1:])
    header = (f"# MAML tuner: leave-one-task-out, epochs={a.epochs}\n\n`{cmd}`\n\nMeta-dataset: {os.path.relpath(a.metadata)} "
              f"({len(md.tasks)} tasks: {', '.join(md.tasks)}); held out: {df.task.nunique()} tasks; seeds "
              f"{sorted(df.seed.unique().tolist())}; MAML arguments {maml_kw or 'defaults'}.\n\n")
    fit = df[df.fit_s > 0].groupby("method")[["fit_s", "ask_ms"]].median().round(2)
    text = header + md_text + "\n\nMedian fit seconds and ask milliseconds (per held-out task):\n\n" + "\n".join(["| method | fit s | ask ms |", "|---|---|---|"] +
                                                                               [f"| {m} | {r.fit_s} | {r.ask_ms} |" for m, r in fit.iterrows()]) + "\n"
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
