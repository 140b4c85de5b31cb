"""How long `metahpo suggest` takes, as a user runs it: the whole command in a new process, on a CSV file the kit has
never seen, side by side in one run.

- cold: a fresh install (an empty cache folder); the default tuner's fit ships with the kit, the file is read and its
  meta-features computed;
- cached: the same command again (the tuner and the file's meta-features from the cache);
- new file: another file, the tuner already cached (its meta-features computed: the data libraries load);
- fit from scratch: an empty cache and a seed whose fit does not ship (`--seed 1`): what a user's own meta-dataset or
  seed costs the first time.

    python bench/suggest_time.py            # writes bench/results/suggest_time.md
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.datasets import make_classification

from thread_bench import machine   # bench/ is the script's folder


def write_csv(path: Path, seed: int) -> Path:
    "A 600-row, 12-feature, 3-class table (scikit-learn's `make_classification`), as a user's CSV file."
    X, y = make_classification(600, 12, n_informative=6, n_classes=3, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(label=y)
    frame.to_csv(path, index=False)
    return path


def run(data: Path, cache: Path, seed: int = 0) -> float:
    "Seconds of one `metahpo suggest` in a new process (it must succeed)."
    env = {**os.environ, "METAHPO_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "metahpo_kit.cli", "suggest", str(data), "--target", "label", "-n", "5",
           "--seed", str(seed)]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def measure(repeats: int, folder: Path) -> dict:
    "Seconds of each case, `repeats` times, the cases interleaved so that a slow spell of the machine hits them alike."
    first, second = write_csv(folder / "data.csv", 1), write_csv(folder / "other.csv", 2)
    times = {k: [] for k in ("cold", "cached", "new file", "fit from scratch")}
    for r in range(repeats):
        cache = folder / f"cache{r}"
        times["cold"].append(run(first, cache))
        times["cached"].append(run(first, cache))
        times["new file"].append(run(second, cache))
        times["fit from scratch"].append(run(first, folder / f"scratch{r}", seed=1))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="bench/results/suggest_time.md")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        times = measure(args.repeats, Path(d))
    rows = ["| case | median s | min s | max s |", "|---|---|---|---|"]
    for case, ts in times.items():
        rows.append(f"| {case} | {statistics.median(ts):.2f} | {min(ts):.2f} | {max(ts):.2f} |")
    text = "\n".join([
        "# `metahpo suggest`: seconds per command",
        "",
        f"Command: `python bench/suggest_time.py --repeats {args.repeats}` (each case {args.repeats} times, "
        "interleaved; the whole command in a new process, on a 600-row CSV the kit has never seen).",
        f"Machine: {machine()}; 1-minute load average {load:.2f} at the start.",
        "",
        *rows,
        "",
        "cold: an empty cache folder (the default tuner's fit ships with the kit; the file is read and described). "
        "cached: the same command again. new file: another file with the tuner cached. fit from scratch: an empty "
        "cache and `--seed 1`, whose fit does not ship.",
        "",
    ])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
