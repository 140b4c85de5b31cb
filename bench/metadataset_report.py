"""The task report of a meta-dataset as markdown: per task its size, best / manual-default / median validation
accuracy, seed noise, the share of configs within 1 point of the best, the too-flat flag and the build's cost.

    python bench/metadataset_report.py                 # the shipped meta-dataset -> bench/results/metadataset_report.md
    python bench/metadataset_report.py --epochs 2      # the scores at a 2-epoch budget
"""
import argparse
import os
import platform
import sys
import time
from pathlib import Path

from metahpo_kit.metadata import SHIPPED, MetaDataset
from metahpo_kit.report import task_report
from metahpo_kit.tasks import base_dataset


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metadata", default=str(SHIPPED))
    ap.add_argument("--epochs", type=int, nargs="+", default=[None, 2])
    ap.add_argument("--out", default="bench/results/metadataset_report.md")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    md = MetaDataset.load(args.metadata)
    load_s = time.perf_counter() - t0
    f = md.frame
    lines = ["# The meta-dataset's task report", "",
             f"Command: `{' '.join(['python bench/metadataset_report.py', *(sys.argv[1:] if argv is None else argv)])}`. "
             f"Machine: {platform.platform()}, {os.cpu_count()} CPUs.", "",
             f"{md!r}; loaded in {load_s:.2f} s. Recorded training time: {f['cost_s'].sum() / 3600:.2f} hours "
             "(the sum of the evaluations' `cost_s`, wall seconds of one-thread training, packed evaluations sharing "
             "their pack's; mostly on a busy machine, so more than the CPU time: `bench/results/build_cost.md` "
             "measures that). `seed_default`: the seed plan's manual defaults (SGD, lr 0.01, batch 32, 2x128, dropout "
             "0.2); `sensible_default`: the same with Adam at lr 0.001. Ranks are among the task's configs (1 = best); noise: the mean seed-to-seed sd "
             "of the ten best configs.", ""]
    for epochs in args.epochs:
        rep = task_report(md, epochs=epochs)
        rep["base_dataset"] = rep["task"].map(base_dataset)
        lines += [f"## Scores after {'the full budget (10 epochs)' if epochs is None else f'{epochs} epochs'}", "",
                  "| task | modality | rows | configs | seeds | best val | best test | seed default (rank) | "
                  "sensible default (rank) | median | noise | within 1 pt | too flat: why | cost s |",
                  "| --- | --- |" + " ---: |" * 12]
        for r in rep.to_dict("records"):
            lines.append(f"| {r['task']} | {r['modality']} | {r['rows']} | {r['configs']} | {r['seeds']} | "
                         f"{r['best_val']:.3f} | {r['best_test']:.3f} | {r['seed_default_val']:.3f} "
                         f"({r['seed_default_rank']:.0f}) | {r['sensible_default_val']:.3f} "
                         f"({r['sensible_default_rank']:.0f}) | {r['median_val']:.3f} | {r['noise']:.3f} | "
                         f"{r['share_within_1pt']:.2f} | {r['flat_reason']} | {r['cost_s']:.0f} |")
        lines += ["", f"{len(rep)} tasks ({', '.join(f'{m}: {n}' for m, n in rep['modality'].value_counts().items())});"
                  f" {int(rep['too_flat'].sum())} too flat at this budget (best - median below twice the seed noise, "
                  "or over half the configs within a point of the best): the benchmarks leave them out of their "
                  f"headline tables. {rep['base_dataset'].nunique()} distinct datasets.", ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
