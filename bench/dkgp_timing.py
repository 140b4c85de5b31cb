"""Fit seconds and ask milliseconds of the deep-kernel GP prototype on the shipped grid (486 configs).

    METAHPO_THREADS=1 OMP_NUM_THREADS=1 nice -n 5 python bench/dkgp_timing.py --variants dkgp dkgp_ens3
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dkgp import VARIANTS, DKGPTuner  # noqa: E402

from metahpo_kit.metadata import load_shipped
from metahpo_kit.space import config_key
from metahpo_kit.tuners import Observation


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", nargs="+", default=["dkgp"])
    ap.add_argument("--task", default="adult@max_train=3000")
    ap.add_argument("--n-obs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(1)
    md = load_shipped()
    tab = md.scores(2)
    tab = tab[tab["task"] == a.task]
    names = md.space.names
    rows = [({n: r[f"config.{n}"] for n in names}, r["score"]) for r in tab.to_dict("records")]
    rng = np.random.default_rng(0)
    hist = [Observation(*rows[i]) for i in rng.choice(len(rows), a.n_obs, replace=False)]
    for v in a.variants:
        t0 = time.perf_counter()
        tuner = DKGPTuner(md.space, epochs=2, random_state=0, **VARIANTS[v]).fit(md, exclude_tasks=md.same_dataset(a.task))
        fit_s = time.perf_counter() - t0
        tuner.ask(hist, task=a.task)   # builds the grid's features once
        ts = []
        for _ in range(a.repeats):
            t1 = time.perf_counter()
            tuner.ask(hist, task=a.task)
            ts.append(time.perf_counter() - t1)
        print(f"{v}: fit {fit_s:.1f} s, ask with {a.n_obs} observations: median {1e3 * np.median(ts):.2f} ms "
              f"(min {1e3 * np.min(ts):.2f})", flush=True)


if __name__ == "__main__":
    main()
