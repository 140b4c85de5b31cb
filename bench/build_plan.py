"""The staged build of the shipped meta-datasets: run it in the background for hours, stop it any time, resume it on
another machine. Each evaluation: one config trained for 10 epochs (the curve keeps every epoch), seeds 0 and 1, one
torch thread.

    python bench/build_plan.py status                       # what each stage holds, shipped and built
    python bench/build_plan.py run [--stage NAME] [--hours H] [--commit] [--ray [ADDRESS]]
    python bench/build_plan.py measure --stage mixed --tasks wine ... [--epochs 1 3]   # CPU cost of a stage's configs
    python bench/build_plan.py cost                         # the whole build's CPU hours from the saved measurements

Every stage but `mixed` evaluates configs of the seed grid (`SEED_SPACE`) and ships into
`metahpo_kit/data/metadataset/`; `mixed` evaluates 256 configs sampled once from `MIXED_SPACE` (config seed 0: the
same configs on every task, as published tabular benchmarks are) and ships into its own folder,
`metahpo_kit/data/mixed/`.

`run` trains into `build/metadata/<stage>` (folders of Parquet parts, resumable; on a fresh checkout it starts from what
ships, so no finished evaluation is repeated) and ships every task whose evaluations are all done as a new part of
its stage's shipped folder (a part is never rewritten, so the repository grows by what is new). With `--commit`
it commits each new part at once (that path only). Two `run`s may work at once on different stages.

The plan itself (stages, status, run, ship, measure, extrapolate, cost) is `metahpo_kit.build_plan` (nbs/06e_build_plan.ipynb);
this file is its command line.
"""
import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("METAHPO_THREADS", "1")
for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(k, "1")

import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from metahpo_kit.build_plan import (BY_NAME, STAGES, extrapolate, measure, run, status,  # noqa: E402,F401
                                    whole_cost)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status")
    ms = sub.add_parser("measure", help="CPU cost of a stage's configs on a few tasks, extrapolated to the stage")
    ms.add_argument("--stage", default="mixed", choices=list(BY_NAME))
    ms.add_argument("--tasks", nargs="+", required=True, help="task ids of the stage to measure")
    ms.add_argument("--epochs", type=int, nargs=2, default=[1, 3], help="two budgets: the cost's line in epochs")
    ms.add_argument("--configs", type=int, default=None, help="the first N configs of the stage (default all)")
    ms.add_argument("--out", default=None, help="also write the table (CSV) and the markdown here (file stem)")
    ms.add_argument("--append", action="store_true", help="keep the other tasks already measured in --out's CSV")
    co = sub.add_parser("cost", help="the whole build's CPU hours from each stage's saved measurement")
    co.add_argument("--results", default=str(ROOT / "bench" / "results"), help="folder of the cost_<stage>.csv files")
    r = sub.add_parser("run")
    r.add_argument("--stage", action="append", choices=list(BY_NAME), help="only these stages (default: all, in order)")
    r.add_argument("--hours", type=float, default=12.0, help="stop cleanly after this long")
    r.add_argument("--commit", action="store_true", help="commit each shipped part")
    r.add_argument("--ray", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="train packs as Ray tasks (a local cluster, or the one at ADDRESS)")
    args = ap.parse_args(argv)
    if args.cmd == "status":
        print(status().to_string(index=False))
        return
    if args.cmd == "measure":
        stage = BY_NAME[args.stage]
        unknown = [t for t in args.tasks if t not in stage.tasks]
        if unknown:
            ap.error(f"--tasks {unknown} are not tasks of stage {stage.name}; it has {list(stage.tasks)}")
        if args.append and not args.out:
            ap.error("--append keeps the tasks measured before in --out's CSV: give --out")
        measured = measure(stage, args.tasks, tuple(args.epochs), args.configs)
        if args.append and Path(f"{args.out}.csv").exists():   # the tasks measured before, kept
            before = pd.read_csv(f"{args.out}.csv")
            measured = pd.concat([before[~before["task"].isin(args.tasks)][measured.columns], measured],
                                 ignore_index=True)
        table, text = extrapolate(stage, measured, tuple(args.epochs))
        print(text)
        if args.out:
            table.to_csv(f"{args.out}.csv", index=False)
            Path(f"{args.out}.md").write_text(text + "\n")
        return
    if args.cmd == "cost":
        print(whole_cost(Path(args.results)))
        return
    run([BY_NAME[n] for n in args.stage] if args.stage else STAGES, args.hours, args.commit, args.ray)


if __name__ == "__main__":
    main()
