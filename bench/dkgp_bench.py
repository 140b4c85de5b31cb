"""Leave-one-task-out benchmark of the deep-kernel GP prototype (bench/dkgp.py) against the kit's baselines.

Uses the kit's own protocol, `metahpo_kit.benchmark.run_benchmark` (tabular mode, `md.same_dataset(task)` left out,
one fitted clone per (task, seed), seeded `run_seed_for(task, seed)`), one held-out task at a time, appending the rows
to a CSV as tasks finish (a rerun skips (method, task) pairs already there). Tables: `bench/dkgp_tables.py`.

    METAHPO_THREADS=1 OMP_NUM_THREADS=1 nice -n 5 python bench/dkgp_bench.py --methods dkgp portfolio \
        --n-tasks 10 --seeds 0 1 --out bench/results/dkgp_runs.csv
"""
import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dkgp import VARIANTS, DKGPTuner  # noqa: E402

from metahpo_kit.benchmark import run_benchmark
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.metadata import load_shipped
from metahpo_kit.transfer import PortfolioTuner, SimilarityTuner
from metahpo_kit.tuners import RandomTuner


def method(name: str, space, epochs: int):
    "name -> unfitted tuner."
    base = {"portfolio": lambda: PortfolioTuner(space, epochs=epochs),
            "similarity": lambda: SimilarityTuner(space, epochs=epochs),
            "maml": lambda: MAMLTuner(space, epochs=epochs),
            "random": lambda: RandomTuner(space)}
    if name in base:
        return base[name]()
    if name in VARIANTS:
        return DKGPTuner(space, epochs=epochs, **VARIANTS[name])
    raise ValueError(f"method {name!r} is not one of {list(base) + list(VARIANTS)}")


def held_out(tasks: list, n: int | None) -> list:
    "The first task of every `len/n`-th position (a spread over the meta-dataset's order), or every task."
    if n is None or n >= len(tasks):
        return list(tasks)
    step = len(tasks) / n
    return [tasks[int(i * step)] for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="+", required=True)
    ap.add_argument("--n-tasks", type=int, default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    md = load_shipped()
    out = Path(a.out)
    done = set()
    if out.exists():
        old = pd.read_csv(out)
        done = set(zip(old["method"], old["task"]))
    tasks = held_out(md.tasks, a.n_tasks)
    t0 = time.perf_counter()
    for task in tasks:
        todo = {m: method(m, md.space, a.epochs) for m in a.methods if (m, task) not in done}
        if not todo:
            continue
        df = run_benchmark(todo, md, tasks=[task], n_trials=a.trials, epochs=a.epochs, seeds=tuple(a.seeds),
                           progress=False, fit_per_seed=True)
        df.to_csv(out, mode="a", header=not out.exists(), index=False)
        print(f"{time.perf_counter() - t0:7.1f}s {task}: " +
              ", ".join(f"{m} fit {g['fit_s'].median():.1f}s" for m, g in df.groupby("method")), flush=True)


if __name__ == "__main__":
    main()
