"""The live benchmark: tuners side by side on held-out real tasks, training for real within a budget.

Every task here is held out of meta-training: the transfer methods (portfolio, similarity, MAML, the deep-kernel GP)
learn from the shipped meta-dataset without any task of the same dataset. Same seeds for every method.

    python bench/live_benchmark.py --jobs 2 --seconds 10  # the committed run (see bench/results/live/README.md)
    python bench/live_benchmark.py --trials 3 --seeds 1 --tasks titanic --out /tmp/live   # a smoke run
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import pandas as pd
import psutil
import torch

from live_tables import main as live_tables   # bench/live_tables.py, beside this script
from metahpo_kit.benchmark import (add_regret, markdown_table, paired, plot_regret,
                                   resources, run_benchmark, summarize, time_to_within)
from metahpo_kit.cli import benchmark_methods
from metahpo_kit.metadata import load_shipped
from metahpo_kit.report import task_report
from metahpo_kit.tasks import TASKS as CATALOGUE

TASKS = ["titanic", "adult@max_train=3000", "mnist@max_train=1000,max_test=2000",
         "cifar10@max_train=1000,max_test=1000", "imdb@arch=transformer,max_train=2000,max_test=1000",
         "ag_news@arch=transformer,max_train=3000"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=TASKS)
    ap.add_argument("--methods", nargs="+",
                    default=["manual", "random", "tpe", "portfolio", "similarity", "maml", "dkgp"])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=None, help="also stop a trial's training after this many seconds")
    ap.add_argument("--maml-steps", type=int, default=300)
    ap.add_argument("--dkgp-steps", type=int, default=300)
    ap.add_argument("--exclude", nargs="*", default=[], help="meta-dataset tasks left out of meta-training")
    ap.add_argument("--jobs", type=int, default=1,
                    help="processes side by side, one torch thread each; the tasks are dealt out in turn (the default "
                         "order alternates cheap and costly ones) and the parts merged into --out")
    ap.add_argument("--out", default="bench/results/live")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.jobs > 1:
        return run_parts(args, argv if argv is not None else sys.argv[1:], out)
    md = load_shipped()
    absent = sorted(set(args.exclude) - set(md.tasks))
    if absent:
        print(f"--exclude: {absent} not in the shipped meta-dataset (nothing to leave out for them)", file=sys.stderr)
    md = md.filter(exclude_tasks=args.exclude, status=None)
    methods = benchmark_methods(md, args.maml_steps, args.dkgp_steps)
    unknown = sorted(set(args.methods) - set(methods))
    if unknown:
        ap.error(f"--methods: {unknown} not among {list(methods)}")
    methods = {m: methods[m] for m in args.methods}
    t0 = time.time()
    res = run_benchmark(methods, md, tasks=args.tasks, mode="live", n_trials=args.trials, epochs=args.epochs,
                        seeds=tuple(range(args.seeds)), seconds=args.seconds)
    # one reference for every task: the best and worst validation accuracy seen in this run (the meta-dataset holds
    # some of these task ids, over another set of configs and seeds, so its extremes would not compare across tasks)
    res = add_regret(res, None, args.epochs)
    res["modality"] = res["task"].map(lambda t: CATALOGUE[t.split("@")[0]].modality)
    res.to_csv(out / "live_rows.csv", index=False)
    run = {"command": "python bench/live_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "machine": f"{platform.platform()}, {psutil.cpu_count()} CPUs, torch {torch.__version__}, "
                      f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}",
           "wall_s": time.time() - t0, "metadataset_tasks": len(md.tasks), "tasks": args.tasks,
           "trials": args.trials, "epochs": args.epochs, "seconds": args.seconds, "seeds": args.seeds}
    (out / "run.json").write_text(json.dumps(run, indent=1))
    return report(res, [run], out)


def run_parts(args, argv: list, out: Path):
    "Run the tasks as `--jobs` processes (each this command on its share of the tasks) and merge their results."
    groups = [args.tasks[i::args.jobs] for i in range(args.jobs) if args.tasks[i::args.jobs]]
    rest, skip = [], False
    for a in argv:   # this command's own arguments, less --tasks/--jobs/--out (each part gets its own)
        if a.startswith("--"):
            skip = a.split("=")[0] in ("--tasks", "--jobs", "--out")
        if not skip:
            rest.append(a)
    env = {**os.environ, "METAHPO_THREADS": "1", "OMP_NUM_THREADS": "1"}
    parts = [out / f"part{i + 1}" for i in range(len(groups))]
    t0 = time.time()
    procs = [subprocess.Popen([sys.executable, __file__, *rest, "--tasks", *g, "--out", str(d)], env=env)
             for g, d in zip(groups, parts)]
    codes = [p.wait() for p in procs]
    if any(codes):
        sys.exit(f"a part failed (exit codes {codes}); the parts that finished are in {out}/part*")
    res = pd.concat([pd.read_csv(d / "live_rows.csv") for d in parts], ignore_index=True)
    res.to_csv(out / "live_rows.csv", index=False)
    runs = [json.loads((d / "run.json").read_text()) for d in parts]
    whole = {"command": "python bench/live_benchmark.py " + " ".join(argv), "wall_s": time.time() - t0}
    return report(res, runs, out, whole)


def report(res: pd.DataFrame, runs: list, out: Path, whole: dict | None = None):
    """Write README.md (tables) and live_regret.png for the rows of one benchmark run: one process (`runs`: its
    run.json) or several (`runs`: the parts'; `whole`: the command that started them, and its wall time)."""
    methods = list(dict.fromkeys(res["method"]))
    trials = int(res["trial"].max())
    ks = tuple(k for k in (1, 5, 10) if k <= trials)
    r0 = runs[0]
    limit = f"{r0['epochs']} epochs" + (f" or {r0['seconds']:g} s of training, whichever comes first"
                                         if r0.get("seconds") else "")
    lines = ["# Live benchmark", ""]
    if whole:
        lines += [f"Command: `{whole['command']}` (wall {whole['wall_s'] / 60:.1f} min), which ran these "
                  f"{len(runs)} parts side by side, one process and one torch thread each:", ""]
        lines += [f"- `{r['command']}` (wall {r['wall_s'] / 60:.1f} min)" for r in runs] + [""]
    else:
        lines += [f"Command: `{r0['command']}` (wall {r0['wall_s'] / 60:.1f} min)  "]
    lines += [f"Machine: {r0['machine']}; meta-dataset: {r0['metadataset_tasks']} tasks.", "",
              f"Held-out tasks: {', '.join(dict.fromkeys(res['task']))}; {trials} trials per run, each trial limited to "
              f"{limit}; seeds 0..{r0['seeds'] - 1}. Regret is normalised by the best and worst validation accuracy "
              "seen in this run on each task, the same for every method. The transfer methods learn from the shipped "
              "meta-dataset minus every task drawn from the held-out task's data (its variants included).", ""]
    # the headline leaves out the held-out tasks that the meta-dataset's task report flags too flat at this budget
    # (they cannot tell tuners apart); the per-modality and per-task tables below keep every task
    held = list(dict.fromkeys(res["task"]))
    md = load_shipped()
    rep = task_report(md.filter(tasks=[t for t in held if t in md.tasks], status=None), epochs=r0["epochs"])
    flat = dict(zip(rep[rep["too_flat"]]["task"], rep[rep["too_flat"]]["flat_reason"]))
    head = res[~res["task"].isin(flat)]
    lines += [f"## Normalised regret, {len(held) - len(flat)} of {len(held)} tasks (mean [95% bootstrap CI over tasks])",
              ""]
    if flat:
        lines += [f"Left out of this table and of the paired tests, too flat in the meta-dataset at {r0['epochs']} "
                  "epochs to tell tuners apart: " + "; ".join(f"{t} ({why})" for t, why in flat.items()) + ".", ""]
    else:
        lines += ["No held-out task is too flat in the meta-dataset's task report at this budget.", ""]
    lines += [markdown_table(summarize(head, ks=ks), ks=ks), ""]
    for modality, g in res.groupby("modality"):
        s = summarize(g, ks=ks)
        lines += [f"## {modality}: normalised regret (mean [95% bootstrap CI over tasks])", "",
                  markdown_table(s, ks=ks), ""]
    lines += ["Test accuracy by modality and by task, with intervals over runs and seeds: [tables.md](tables.md).", ""]
    if "random" in methods:
        lines += ["## Paired vs random, per dataset (a dataset's tasks averaged; wins/ties/losses, tie = 0.01 regret)",
                  ""]
        for m in methods:
            if m != "random":
                for k in ks:
                    p = paired(head, m, "random", k=k)
                    lines.append(f"- {m} k={k}: {p['wins']}/{p['ties']}/{p['losses']} of {p['units']} datasets "
                                 f"(p={p['p_wilcoxon']:.3g})")
    lines += ["", "## Time to within 1 point of the best seen (median over runs)", "",
              "| method | trials | seconds of training | runs that got there |", "| --- | ---: | ---: | ---: |"]
    for r in time_to_within(res, points=0.01).to_dict("records"):
        lines.append(f"| {r['method']} | {r['trials_median']:.0f} | {r['seconds_median']:.1f} | {r['reached']:.2f} |")
    lines += ["", "## What the runs cost (all tasks)", "",
              "| method | training s per run (median) | training s in all | peak RSS of a trial (MiB) | meta-training s "
              "per held-out task (median) |", "| --- | ---: | ---: | ---: | ---: |"]
    fit = res.groupby(["method", "task"], sort=False)["fit_s"].first().groupby("method", sort=False).median()
    for r in resources(res).to_dict("records"):
        lines.append(f"| {r['method']} | {r['run_seconds_median']:.1f} | {r['total_seconds']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} | {fit[r['method']]:.1f} |")
    (out / "README.md").write_text("\n".join(lines) + "\n")
    live_tables(["--rows", str(out / "live_rows.csv"), "--out", str(out / "tables.md"), "--ks", *map(str, ks)])
    ax = plot_regret(res)
    ax.figure.savefig(out / "live_regret.png", dpi=120, bbox_inches="tight")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
