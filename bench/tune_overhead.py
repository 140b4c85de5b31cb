"""Per-trial overhead of the kit's study machinery vs bare Optuna, side by side in one run; and the cost of the
ResourceProfiler block that wraps every trial.

A dummy objective (returns a number at once) isolates the machinery: one trial = ask + run + tell + bookkeeping.
The figure is the median of the intervals between consecutive trial ends (ms), after 5 warm-up trials.

    python bench/tune_overhead.py            # writes bench/results/tune_overhead.md
"""
import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import psutil

from metahpo_kit.profiler import ResourceProfiler
from metahpo_kit.space import SEED_SPACE
from metahpo_kit.study import suggest_config, tune
from metahpo_kit.tuners import RandomTuner, TPETuner

optuna.logging.set_verbosity(optuna.logging.WARNING)
N = {"memory": 200, "sqlite": 100}


def dummy(config):
    return 0.5 + 0.1 * config["lr"]


def median_ms(stamps):
    gaps = [b - a for a, b in zip(stamps[5:], stamps[6:])]
    return 1000 * statistics.median(gaps), 1000 * (statistics.quantiles(gaps, n=4)[2] - statistics.quantiles(gaps, n=4)[0])


def kit(tuner, storage, n):
    stamps = []
    tune(dummy, tuner, n_trials=n, storage=storage, study_name="kit",
         callbacks=[lambda study, result: stamps.append(time.perf_counter())])
    return median_ms(stamps)


def bare(sampler, storage, n):
    stamps = []
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage, study_name="bare")
    study.optimize(lambda trial: dummy(suggest_config(trial, SEED_SPACE)), n_trials=n,
                   callbacks=[lambda study, trial: stamps.append(time.perf_counter())])
    return median_ms(stamps)


def profiler_ms(n=200):
    "Median and IQR in ms of an empty `with ResourceProfiler():` block (what the profiler adds to a trial)."
    gaps = []
    for _ in range(n):
        t0 = time.perf_counter()
        with ResourceProfiler(gpu=False):
            pass
        gaps.append(time.perf_counter() - t0)
    q = statistics.quantiles(gaps, n=4)
    return 1000 * statistics.median(gaps), 1000 * (q[2] - q[0]), n


def main(out="bench/results/tune_overhead.md"):
    prof = profiler_ms()
    rows = []
    for where in ("memory", "sqlite"):
        for tuner_name, make_kit, make_bare in (
                ("random", lambda: RandomTuner(SEED_SPACE, random_state=0), lambda: optuna.samplers.RandomSampler(seed=0)),
                ("tpe", lambda: TPETuner(SEED_SPACE, random_state=0),
                 lambda: optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True))):
            with tempfile.TemporaryDirectory() as d:
                url = None if where == "memory" else f"sqlite:///{d}/kit.db"
                k, k_iqr = kit(make_kit(), url, N[where])
                url = None if where == "memory" else f"sqlite:///{d}/bare.db"
                b, b_iqr = bare(make_bare(), url, N[where])
            rows.append((where, tuner_name, N[where], k, k_iqr, b, b_iqr))
            print(rows[-1], flush=True)
    lines = ["# Per-trial overhead of the study machinery", "",
             f"Machine: {platform.platform()}, {psutil.cpu_count(logical=True)} CPUs, Python {platform.python_version()}, "
             f"optuna {optuna.__version__}. Command: `python bench/tune_overhead.py`.", "",
             "Median ms per trial (ask + tell + bookkeeping) on a dummy objective, after 5 warm-up trials; IQR in "
             "brackets. Kit: `tune(...)` (the tuner asked with the history rebuilt from the storage, proposals "
             "ordered by trial number, the result stored as a user attribute). Bare: `study.optimize` with the "
             "equivalent Optuna sampler.", "",
             "| storage | tuner | trials | kit ms/trial | bare Optuna ms/trial | kit / bare |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for where, t, n, k, ki, b, bi in rows:
        lines.append(f"| {where} | {t} | {n} | {k:.2f} [{ki:.2f}] | {b:.2f} [{bi:.2f}] | {k / b:.1f}x |")
    lines += ["", f"The profiler around each trial: an empty `with ResourceProfiler():` block costs {prof[0]:.3f} ms "
              f"[{prof[1]:.3f}] (median [IQR] of {prof[2]} blocks)."]
    Path(out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="bench/results/tune_overhead.md", help="the markdown file to write")
    main(ap.parse_args().out)
