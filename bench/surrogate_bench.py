"""Leave-one-dataset-out benchmark of the meta-learned deep-kernel GP (`metahpo_kit.dkgp.DeepKernelTuner`) against the
portfolio and the similarity rule, with its ablations, every learned tuner refitted per meta-training seed (#14).

    METAHPO_THREADS=1 OMP_NUM_THREADS=1 python bench/surrogate_bench.py run --benchmark grid --epochs 2 \
        --seeds 0 1 2 --out bench/results/surrogate_grid_e2.csv
    python bench/surrogate_bench.py report bench/results/surrogate_grid_e2.csv > bench/results/surrogate_grid_e2.md

`run` uses the kit's protocol (`metahpo_kit.benchmark.run_benchmark`, tabular: `md.same_dataset(task)` left out of
training; each (task, seed) run fits its own clone seeded `run_seed_for(task, seed)`), one held-out task at a time,
appending rows to the CSV (a rerun skips the (method, task) pairs already there). The held-out tasks and the training
tasks are fixed at the first run (`<out>.tasks.json`), so a resumed run learns from the same meta-dataset even if the
shipped one has grown since. Methods (`methods()`): the default tuner (`dkgp`: the meta-feature prior's first pick,
then the GP), the meta-learned path alone (`dkgp_alone`: the GP's prior mean first, no meta-features), the same GP
meta-trained on batches that mix tasks (`pooled_alone`: multi-task regression, adapted the same way), the portfolio,
the similarity rule, MAML, random search; `dkgp_mf` and `dkgp_mf_alone`: the same two with a prior mean that also
reads the task's meta-features (`ablations.ConditionedMean`). Suffixes: `_ucb`, UCB (beta 0.5) instead of expected
improvement (the default); `_random` (spaces that are not a grid), 2,000 random candidates with local moves and the
training configs (`n_candidates=2000`) instead of the default's pool of the training configs when the tasks share
them. The results files also hold rows of variants no longer in `methods()` (their descriptions are on the
results page): `dkgp_tm`, `dkgp_mix075`, `dkgp_mix`, `dkgp_mix_ev`. The default's first three picks are the
meta-feature prior's and two of its portfolio's (`n_cover=2`); `dkgp_cover0` and `dkgp_cover1` are the shorter
covers, and `dkgp_mf`, `dkgp_ucb` and `dkgp_random` keep `n_cover=0`. `dkgp_acq_ucb`, `dkgp_acq_mean`: UCB or the
posterior mean as the acquisition; `dkgp_adapt*`, the GP's lengthscale and noise re-chosen on the task's trials
(`ablations.AdaptedKernel`); `dkgp_curves*`, meta-trained on the training tasks' learning curves
(`ablations.CurveKernel`).
Variants that differ only in `ask` share one meta-training per (task, seed) here (a cache in this script, which gives
the same parameters a second fit would; `run --fit-cache DIR` keeps it on disk across runs, so an ask-only variant
costs only its asks: its rows then record a fit time of 0, and `report` gives each family the time measured where the
fit was made). `summary` prints the README's tables; `timing` the fit and ask times; `check` the self-check of the fit
cache (`SharedFit`), which the test suite runs.
"""
import argparse
import copy
import hashlib
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablations import AdaptedKernel, ConditionedMean, CurveKernel, PooledKernel  # noqa: E402

from metahpo_kit.benchmark import headline_tasks, paired_table, run_benchmark, seed_spread, summarize
from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.metadata import load_mixed, load_shipped
from metahpo_kit.transfer import PortfolioTuner, SimilarityTuner
from metahpo_kit.tuners import RandomTuner

ASK_ONLY = ("zero_shot", "n_cover", "acquisition", "kappa", "n_candidates")
_FITS = {}
FIT_CACHE = None   # a folder (`run --fit-cache`): fits kept on disk, so a later run of an ask-only variant reuses them


def _tasks_file(results: Path) -> Path:
    "The held-out and training tasks pinned beside a results file (`x.csv` or `x.csv.gz`: `x.tasks.json`)."
    return results.with_name(results.name.removesuffix(".gz").removesuffix(".csv") + ".tasks.json")


class SharedFit:
    """A mixin: tuners whose fit arguments, data and seed are equal share one fit (a deterministic fit gives the same),
    in this process and, with `FIT_CACHE`, across runs. The key names the class (its switches), the fit arguments,
    the training tasks and the tasks left out."""
    def fit(self, metadataset=None, exclude_tasks=()):
        params = {k: v for k, v in self.get_params().items() if k not in ASK_ONLY and k != "space"}
        kit_class = next(c for c in type(self).__mro__ if c.__module__.startswith("metahpo_kit."))
        switches = {k: getattr(self, k) for k in getattr(self, "switches", ())}
        key = (kit_class.__name__, repr(sorted(switches.items())), repr(sorted(params.items())),
               repr(sorted(map(str, metadataset.tasks))), repr(sorted(map(str, exclude_tasks))))
        path = None
        if FIT_CACHE is not None:
            path = Path(FIT_CACHE) / (hashlib.sha256(repr(key).encode()).hexdigest()[:24] + ".pkl")
            if key not in _FITS and path.exists():
                _FITS[key] = pickle.loads(path.read_bytes())
        if key not in _FITS:
            super().fit(metadataset, exclude_tasks)
            _FITS[key] = {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}
            if path is not None:   # written whole, then renamed: a run killed mid-write leaves no torn file
                path.parent.mkdir(parents=True, exist_ok=True)
                part = path.with_suffix(".part")
                part.write_bytes(pickle.dumps(_FITS[key]))
                part.replace(path)
        else:
            vars(self).update(copy.deepcopy(_FITS[key]))
            self._cache = {}
        return self


class SharedDKGP(SharedFit, DeepKernelTuner):
    pass


class SharedPooled(SharedFit, PooledKernel):
    pass


class SharedConditioned(SharedFit, ConditionedMean):
    pass


class SharedAdapted(SharedFit, AdaptedKernel):
    pass


class SharedCurves(SharedFit, CurveKernel):
    pass


def methods(space, epochs: int) -> dict:
    "name -> a factory of the unfitted tuner."
    old = dict(n_cover=0)   # variants measured with no cover keep it
    return {
        "dkgp": lambda: SharedDKGP(space, epochs=epochs),
        "dkgp_cover0": lambda: SharedDKGP(space, epochs=epochs, **old),
        "dkgp_cover1": lambda: SharedDKGP(space, epochs=epochs, n_cover=1),
        "dkgp_ucb": lambda: SharedDKGP(space, epochs=epochs, acquisition="ucb", **old),
        "dkgp_random": lambda: SharedDKGP(space, epochs=epochs, n_candidates=2000, **old),
        "dkgp_ucb_random": lambda: SharedDKGP(space, epochs=epochs, acquisition="ucb", n_candidates=2000, **old),
        "dkgp_alone": lambda: SharedDKGP(space, epochs=epochs, zero_shot="surrogate"),
        "dkgp_alone_ucb": lambda: SharedDKGP(space, epochs=epochs, zero_shot="surrogate", acquisition="ucb"),
        "dkgp_alone_random": lambda: SharedDKGP(space, epochs=epochs, zero_shot="surrogate", n_candidates=2000),
        "dkgp_alone_ucb_random": lambda: SharedDKGP(space, epochs=epochs, zero_shot="surrogate", acquisition="ucb",
                                                    n_candidates=2000),
        # the default with another acquisition, or with the kernel's lengthscale and noise adapted to the task
        "dkgp_acq_ucb": lambda: SharedDKGP(space, epochs=epochs, acquisition="ucb"),
        "dkgp_acq_mean": lambda: SharedDKGP(space, epochs=epochs, acquisition="mean"),
        "dkgp_adapt": lambda: SharedAdapted(space, epochs=epochs),
        "dkgp_adapt_ucb": lambda: SharedAdapted(space, epochs=epochs, acquisition="ucb"),
        "dkgp_adapt_mean": lambda: SharedAdapted(space, epochs=epochs, acquisition="mean"),
        "dkgp_adapt_random": lambda: SharedAdapted(space, epochs=epochs, n_candidates=2000, **old),
        "dkgp_adapt_ucb_random": lambda: SharedAdapted(space, epochs=epochs, acquisition="ucb", n_candidates=2000,
                                                       **old),
        "dkgp_curves": lambda: SharedCurves(space, epochs=epochs),
        "dkgp_curves_alone": lambda: SharedCurves(space, epochs=epochs, zero_shot="surrogate"),
        "dkgp_mf": lambda: SharedConditioned(space, epochs=epochs, **old),
        "dkgp_mf_alone": lambda: SharedConditioned(space, epochs=epochs, zero_shot="surrogate"),
        # the training tasks' scores, weighted by meta-features and trials, as the GP's mean (or where trials favour it)
        "pooled_alone": lambda: SharedPooled(space, epochs=epochs, zero_shot="surrogate"),
        "pooled_alone_ucb": lambda: SharedPooled(space, epochs=epochs, zero_shot="surrogate", acquisition="ucb"),
        "pooled_alone_random": lambda: SharedPooled(space, epochs=epochs, zero_shot="surrogate", n_candidates=2000),
        "pooled_alone_ucb_random": lambda: SharedPooled(space, epochs=epochs, zero_shot="surrogate", acquisition="ucb",
                                                        n_candidates=2000),
        "portfolio": lambda: PortfolioTuner(space, epochs=epochs),
        "similarity": lambda: SimilarityTuner(space, epochs=epochs),
        "maml": lambda: MAMLTuner(space, epochs=epochs),
        "random": lambda: RandomTuner(space),
    }


def load(benchmark: str):
    if benchmark == "grid":
        return load_shipped()
    if benchmark == "mixed":
        return load_mixed()
    raise ValueError(f"--benchmark {benchmark!r} is not one of ['grid', 'mixed']")


def run(a):
    global FIT_CACHE
    FIT_CACHE = a.fit_cache
    torch.set_num_threads(1)
    md = load(a.benchmark)
    out = Path(a.out)
    pinned = _tasks_file(out)
    if pinned.exists():
        fixed = json.loads(pinned.read_text())
        md = md.filter(tasks=fixed["train"], status=None)   # every row, failed evaluations included
        held = fixed["held_out"]
    else:
        held, flat = headline_tasks(md, a.epochs)
        if a.shuffle is not None:   # a run stopped part way then holds out a random subset, not the first stages'
            held = [held[i] for i in np.random.default_rng(a.shuffle).permutation(len(held))]
        fixed = {"benchmark": a.benchmark, "epochs": a.epochs, "train": list(md.tasks), "held_out": list(held),
                 "too_flat": dict(zip(flat["task"], flat["flat_reason"]))}
        pinned.write_text(json.dumps(fixed, indent=1) + "\n")
    done = set()
    if out.exists():
        old = pd.read_csv(out)
        done = set(zip(old["method"], old["task"]))
    make = methods(md.space, a.epochs)
    unknown = [m for m in a.methods if m not in make]
    if unknown:
        raise SystemExit(f"--methods {unknown} not among {list(make)}")
    t0 = time.perf_counter()
    for task in held[:a.n_tasks]:
        todo = {m: make[m]() for m in a.methods if (m, task) not in done}
        if not todo:
            continue
        df = run_benchmark(todo, md, tasks=[task], n_trials=a.trials, epochs=a.epochs, seeds=tuple(a.seeds),
                           progress=False, fit_per_seed=True)
        df.to_csv(out, mode="a", header=not out.exists(), index=False)
        _FITS.clear()
        print(f"{time.perf_counter() - t0:7.1f}s {task}: " +
              ", ".join(f"{m} fit {g['fit_s'].median():.1f}s" for m, g in df.groupby("method")), flush=True)


def report(a):
    df = pd.read_csv(a.csv)
    fixed = json.loads(_tasks_file(Path(a.csv)).read_text())
    ks = (1, 3, 5, 10, 20)
    known = list(methods(None, 1))
    order = [m for m in known if m in set(df["method"])] + sorted(set(df["method"]) - set(known))
    n_tasks = df["task"].nunique()
    print(f"# Deep-kernel GP vs transfer baselines: {fixed['benchmark']} benchmark, {fixed['epochs']}-epoch budget\n")
    print(f"Command: `METAHPO_THREADS=1 OMP_NUM_THREADS=1 python bench/surrogate_bench.py run --benchmark "
          f"{fixed['benchmark']} --epochs {fixed['epochs']} --seeds {' '.join(map(str, sorted(df.seed.unique())))} "
          f"--methods {' '.join(order)} --out {a.csv}`, then `python bench/surrogate_bench.py report {a.csv}`.\n")
    print(f"{n_tasks} held-out tasks ({df.task.map(lambda t: t.split('@')[0]).nunique()} datasets), "
          f"{len(fixed['train'])} tasks in the meta-dataset (each held-out task's dataset left out of training), "
          f"{len(fixed['too_flat'])} too flat and left out; seeds {sorted(map(int, df.seed.unique()))}; every learned tuner "
          f"refitted per seed. Machine: the kit's 2-CPU development machine, no GPU, one torch thread, shared with "
          f"other jobs: meta-dataset builds, notebook runs (fit times are busy-machine figures).\n")
    s = summarize(df[df.method.isin(order)], ks=ks).pivot(index="method", columns="k", values="regret_mean")
    spread = seed_spread(df[df.method.isin(order)], 3)
    spread5 = seed_spread(df[df.method.isin(order)], 5)["spread"]   # the default's first 3 picks ignore the seed
    # variants that share one meta-training (see the docstring) show it once: give each the family's fit time
    families = ("pooled", "dkgp_mf", "dkgp_curves", "dkgp")
    family = df["method"].map(lambda m: next((f for f in families if m.startswith(f)), m))
    runs = df.assign(family=family).groupby(["method", "family", "task", "seed"])["fit_s"].first().reset_index()
    shared = runs.groupby(["family", "task", "seed"])["fit_s"].transform("max")
    fit = runs.assign(fit_s=shared).groupby("method")["fit_s"].median()
    print("Mean normalised regret over held-out tasks (a task's value: mean over seeds); then the mean at k=3 of each "
          "meta-training seed's runs and its spread (max - min), the spread at k=5, and the median fit seconds per "
          "run.\n")
    print("| method | " + " | ".join(f"k={k}" for k in ks) + " | k=3 per seed (spread) | k=5 spread | fit s |")
    print("|---|" + "---:|" * (len(ks) + 3))
    for m in order:
        seeds = spread.loc[m].drop("spread")
        print(f"| {m} | " + " | ".join(f"{s.loc[m, k]:.4f}" for k in ks) +
              f" | {' / '.join(f'{v:.4f}' for v in seeds)} ({spread.loc[m, 'spread']:.4f}) | {spread5[m]:.4f} | "
              f"{fit[m]:.1f} |")
    for base in ("portfolio", "similarity", "pooled_alone"):
        if base not in order:
            continue
        print(f"\nPaired against **{base}**, per dataset (a dataset's held-out variants averaged; wins/ties/losses "
              f"of the row's method, tie |diff| <= 0.01; p: two-sided Wilcoxon signed-rank):\n")
        t = paired_table(df, base, [m for m in order if m != "random"], ks)
        print("| method | " + " | ".join(t.columns) + " |\n|---|" + "---|" * len(t.columns))
        for m, row in t.iterrows():
            print(f"| {m} | " + " | ".join(row) + " |")


def summary(a):
    "The README's tables: every benchmark's mean regret, and the default tuner paired with each baseline."
    ks = (1, 3, 5, 10, 20)
    runs = {name: pd.read_csv(Path(a.results) / f"surrogate_{name}.csv.gz") for name in a.runs}
    print("| benchmark | method | " + " | ".join(f"k={k}" for k in ks) + " | seed spread k=3 / 5 |")
    print("|---|---|" + "---:|" * (len(ks) + 1))
    for name, df in runs.items():
        show = [m for m in ("dkgp", "dkgp_cover0", "dkgp_alone", "dkgp_mf", "dkgp_mix", "pooled_alone", "portfolio",
                            "similarity") if m in set(df.method)]
        s = summarize(df[df.method.isin(show)], ks=ks).pivot(index="method", columns="k", values="regret_mean")
        spread = {k: seed_spread(df[df.method.isin(show)], k)["spread"] for k in (3, 5)}
        for m in show:
            print(f"| {name} ({df.task.nunique()} tasks) | {m} | " + " | ".join(f"{s.loc[m, k]:.3f}" for k in ks)
                  + f" | {spread[3][m]:.4f} / {spread[5][m]:.4f} |")
    print("\n| benchmark | pair | " + " | ".join(f"k={k}" for k in ks) + " |")
    print("|---|---|" + "---|" * len(ks))
    for name, df in runs.items():
        for a_, b_ in (("dkgp", "portfolio"), ("dkgp", "similarity"), ("dkgp_alone", "portfolio"),
                       ("dkgp_alone", "pooled_alone"), ("dkgp_cover0", "portfolio"), ("dkgp_cover0", "similarity")):
            if a_ not in set(df.method):
                continue
            row = paired_table(df, b_, [a_], ks).iloc[0]
            print(f"| {name} | {a_} vs {b_} | " + " | ".join(row) + " |")
    # the later attempts: the acquisition, the kernel's lengthscale and noise adapted to the task, learning curves
    attempts = ("dkgp", "dkgp_acq_ucb", "dkgp_acq_mean", "dkgp_adapt", "dkgp_adapt_ucb", "dkgp_adapt_mean",
                "dkgp_curves", "dkgp_random", "dkgp_adapt_random", "dkgp_adapt_ucb_random", "dkgp_alone",
                "dkgp_curves_alone")
    late = (5, 10, 20)
    print("\n| benchmark | method | " + " | ".join(f"k={k}" for k in late) + " | vs portfolio k=5 / 10 | vs similarity "
          "k=3 / 5 / 10 |")
    print("|---|---|" + "---:|" * len(late) + "---|---|")
    for name, df in runs.items():
        show = [m for m in attempts if m in set(df.method)]
        if len(show) < 2:
            continue
        s = summarize(df[df.method.isin(show)], ks=late).pivot(index="method", columns="k", values="regret_mean")
        tables = [paired_table(df, base, show, sel)
                  for base, sel in (("portfolio", (5, 10)), ("similarity", (3, 5, 10)))]
        for m in show:
            pairs = [" / ".join(c.split(" (")[0] for c in t.loc[m]) for t in tables]
            print(f"| {name} | {m} | " + " | ".join(f"{s.loc[m, k]:.4f}" for k in late)
                  + f" | {pairs[0]} | {pairs[1]} |")


def timing(a):
    """Fit seconds per held-out task, and `ask`'s median milliseconds with 50 observations on the grid and over 2,000
    random candidates (plus the training configs) on the mixed space; the machine's load is printed beside them."""
    import os
    from metahpo_kit.lookup import TabularObjective
    from metahpo_kit.tuners import Observation
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
    for bench, n_cand in (("grid", 2000), ("mixed", 2000)):
        md = load(bench)
        task = headline_tasks(md, 2)[0][0]
        fits = []
        for seed in range(3):
            t0 = time.perf_counter()
            tuner = DeepKernelTuner(md.space, epochs=2, n_candidates=n_cand, random_state=seed).fit(
                md, exclude_tasks=md.same_dataset(task))
            fits.append(time.perf_counter() - t0)
        obj = TabularObjective(md, task, epochs=2)
        rng = np.random.default_rng(0)
        recorded = sorted(obj.recorded())
        hist = [Observation(json.loads(k), float(obj(json.loads(k)).val_accuracy), "ok", 2)
                for k in rng.choice(recorded, size=50, replace=False)]
        tuner.ask(hist, task=task)
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            tuner.ask(hist, task=task)
            times.append(time.perf_counter() - t0)
        print(f"{bench}: {len(md.tasks)} tasks, held out {task}: fit {np.median(fits):.1f} s (median of 3 seeds; "
              f"{min(fits):.1f}-{max(fits):.1f}), ask with 50 observations {1000 * np.median(times):.1f} ms (median of "
              f"30) over {'the grid' if md.space.is_finite else f'{n_cand} random + {len(tuner.train_keys_)} training configs'}")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


def check(a=None):
    """The self-check of `SharedFit`: fits of equal arguments, data and seed are shared, in memory and on disk (another
    seed or another switch fits anew); a shared fit gives the parameters and the asks a refit would, as a copy."""
    import tempfile
    from metahpo_kit.space import SEED_SPACE
    from metahpo_kit.transfer import synthetic_metadataset
    from metahpo_kit.tuners import Observation
    global FIT_CACHE
    torch.set_num_threads(1)
    syn = synthetic_metadataset(8, seed=0)
    saved = FIT_CACHE
    with tempfile.TemporaryDirectory() as folder:
        FIT_CACHE = folder
        try:
            first = SharedDKGP(n_steps=20, random_state=0).fit(syn, exclude_tasks=["synth0"])
            SharedDKGP(n_steps=20, random_state=1).fit(syn, exclude_tasks=["synth0"])       # another seed: another fit
            SharedPooled(n_steps=20, random_state=0).fit(syn, exclude_tasks=["synth0"])     # another switch: another fit
            assert len(list(Path(folder).glob("*.pkl"))) == 3
            _FITS.clear()                                                                # a new process, as it were

            def refit(*args, **kwargs):
                raise AssertionError("meta-trained again")
            DeepKernelTuner.fit = refit
            try:
                again = SharedDKGP(n_steps=20, random_state=0, n_cover=0).fit(syn, exclude_tasks=["synth0"])  # ask-only
            finally:
                del DeepKernelTuner.fit                                                  # the kit's fit again
            assert all(np.array_equal(again.params_[k], first.params_[k]) for k in first.params_)
            hist = [Observation(c, 0.5 + 0.01 * i) for i, c in enumerate(SEED_SPACE.grid()[:5])]
            assert again.ask(hist, task="synth1") == first.set_params(n_cover=0).ask(hist, task="synth1")
            again.params_["fw0"][:] = 0                                                  # a copy: the cache is untouched
            assert not np.array_equal(again.params_["fw0"], SharedDKGP(n_steps=20, random_state=0).fit(
                syn, exclude_tasks=["synth0"]).params_["fw0"])
        finally:
            FIT_CACHE = saved
            _FITS.clear()
    print("SharedFit: ok", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--benchmark", default="grid")
    r.add_argument("--epochs", type=int, default=2)
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--trials", type=int, default=20)
    r.add_argument("--methods", nargs="+", default=["dkgp", "dkgp_ucb", "dkgp_alone", "dkgp_alone_ucb", "pooled_alone",
                                                   "pooled_alone_ucb", "portfolio", "similarity", "random"])
    r.add_argument("--n-tasks", type=int, default=None)
    r.add_argument("--shuffle", type=int, default=None, metavar="SEED",
                   help="pin the held-out tasks in an order shuffled with SEED (at the first run of --out)")
    r.add_argument("--out", required=True)
    r.add_argument("--fit-cache", default=None, metavar="DIR",
                   help="keep each meta-training on disk and reuse it (an ask-only variant then costs only its asks)")
    p = sub.add_parser("report")
    p.add_argument("csv")
    sub.add_parser("timing")
    sub.add_parser("check", help="the self-check of the fit cache (SharedFit), as the test suite runs it")
    q = sub.add_parser("summary")
    q.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"))
    q.add_argument("--runs", nargs="+", default=["grid122_e2", "grid122_e10", "mixed_e2"],
                   help="results files surrogate_<run>.csv (the grid runs on the 41-task meta-dataset: grid_e2 "
                        "grid_e10)")
    a = ap.parse_args()
    {"run": run, "report": report, "timing": timing, "summary": summary, "check": check}[a.cmd](a)


if __name__ == "__main__":
    main()
