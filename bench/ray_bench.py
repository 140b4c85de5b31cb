"""Meta-dataset build throughput: one single-threaded process against a local Ray cluster, same configs, same rows.

    python bench/ray_bench.py                       # writes bench/results/ray_bench.md
    python bench/ray_bench.py --tasks wine digits --configs 54 --epochs 3

Both builds train the same (task, seed, config) evaluations into fresh folders, one after the other; the Ray build
starts its cluster first (`local_ray_cluster`, timed apart) with one CPU and one torch thread per worker. The rows must be
the same evaluation for evaluation (same keys, same validation curves), or the script fails.
"""
import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("METAHPO_THREADS", "1")   # the single process: one torch thread, as each Ray worker has
os.environ.setdefault("OMP_NUM_THREADS", "1")

import psutil  # noqa: E402
import torch  # noqa: E402

from metahpo_kit.metadata import build_metadataset, local_ray_cluster  # noqa: E402


def _sorted(md):
    cols = ["task", "seed", *md.config_cols]
    return md.frame.sort_values(cols).reset_index(drop=True), cols


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["wine", "breast_cancer", "digits"])
    ap.add_argument("--configs", type=int, default=48, help="sampled configs per task")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--cpus", type=int, default=psutil.cpu_count(), help="CPUs of the local Ray cluster")
    ap.add_argument("--out", default="bench/results/ray_bench.md")
    args = ap.parse_args(argv)
    import ray

    kw = dict(configs=args.configs, epochs=args.epochs, seeds=tuple(args.seeds), progress=False)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        here = build_metadataset(args.tasks, out=f"{d}/here", **kw)
        t_here = time.perf_counter() - t0
        t0 = time.perf_counter()
        with local_ray_cluster(num_cpus=args.cpus):
            t_init = time.perf_counter() - t0
            t0 = time.perf_counter()
            on_ray = build_metadataset(args.tasks, out=f"{d}/ray", ray=True, **kw)
            t_ray = time.perf_counter() - t0
    a, cols = _sorted(here)
    b, _ = _sorted(on_ray)
    same_keys = len(a) == len(b) and (a[cols].astype(str).values == b[cols].astype(str).values).all()
    same_curves = same_keys and all(list(x) == list(y) for x, y in zip(a["val_acc"], b["val_acc"]))
    n = len(a)
    lines = ["# Meta-dataset build: one process against a local Ray cluster", "",
             f"Command: `python bench/ray_bench.py --tasks {' '.join(args.tasks)} --configs {args.configs} "
             f"--epochs {args.epochs} --seeds {' '.join(map(str, args.seeds))} --cpus {args.cpus}`", "",
             f"Machine: {platform.platform()}, {psutil.cpu_count()} CPUs ({psutil.cpu_count(logical=False)} physical), "
             f"torch {torch.__version__}, ray {ray.__version__}; both builds single-threaded per process "
             f"(METAHPO_THREADS=1), run one after the other in one invocation; load average at the end "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.", "",
             "| build | evaluations | seconds | evaluations / s | throughput vs one process |",
             "| --- | ---: | ---: | ---: | ---: |",
             f"| one process | {n} | {t_here:.1f} | {n / t_here:.2f} | 1.00x |",
             f"| Ray, {args.cpus} workers (cluster start excluded) | {len(b)} | {t_ray:.1f} | {len(b) / t_ray:.2f} | "
             f"{t_here / t_ray:.2f}x |",
             f"| Ray, {args.cpus} workers (cluster start included: {t_init:.1f} s) | {len(b)} | {t_init + t_ray:.1f} | "
             f"{len(b) / (t_init + t_ray):.2f} | {t_here / (t_init + t_ray):.2f}x |", "",
             f"Same evaluations row for row: {'yes' if same_keys else 'NO'}; same validation curves: "
             f"{'yes' if same_curves else 'NO'}."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not same_curves:
        raise SystemExit("the Ray build's rows differ from the in-process build's")


if __name__ == "__main__":
    main()
