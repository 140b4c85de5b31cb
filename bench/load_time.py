"""How long the shipped meta-dataset takes to load, and how large it is (#15: <= 50 MB, loads in < 2 s).

Each repeat runs in a fresh Python process: it imports the kit, then times `load_shipped()` alone (reading every
Parquet part of the folder into one DataFrame); the import is timed too, apart. The folder's size is the sum of its
files. Writes a markdown table naming the command and the machine.

    python bench/load_time.py                          # -> bench/results/load_time.md
    python bench/load_time.py --repeats 5 --out bench/results/load_time.md
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, time
t0 = time.perf_counter()
from metahpo_kit.metadata import load_shipped
t1 = time.perf_counter()
md = load_shipped()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "rows": len(md), "tasks": len(md.tasks)}))
"""


def folder_mb(path: Path) -> float:
    "The size of the files under `path`, in MB (10^6 bytes)."
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def one_run() -> dict:
    "Time `load_shipped()` in a fresh process (same interpreter and environment as this one)."
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, env=os.environ)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes, one load each")
    ap.add_argument("--out", default="bench/results/load_time.md")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit(f"--repeats={args.repeats} must be >= 1")
    from metahpo_kit.metadata import SHIPPED
    runs = [one_run() for _ in range(args.repeats)]
    load = [r["load_s"] for r in runs]
    imp = [r["import_s"] for r in runs]
    parts = sorted(p.name for p in SHIPPED.glob("*.parquet"))
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["# Loading the shipped meta-dataset", "",
             f"`python bench/load_time.py --repeats {args.repeats}`: each repeat a fresh Python process that imports "
             "the kit and times `load_shipped()` alone.", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
             f"{platform.system()} {platform.release()}, Python {platform.python_version()}; load average "
             f"{load1:.1f} when it ran (a shared, busy machine reads slower than a quiet one).", "",
             "| what | value |", "| --- | ---: |",
             f"| shipped folder size | {folder_mb(SHIPPED):.1f} MB ({len(parts)} Parquet part(s)) |",
             f"| rows, tasks | {runs[0]['rows']:,}, {runs[0]['tasks']} |",
             f"| `load_shipped()`, median of {len(load)} | {statistics.median(load):.2f} s |",
             f"| `load_shipped()`, min / max | {min(load):.2f} / {max(load):.2f} s |",
             f"| `import metahpo_kit.metadata`, median | {statistics.median(imp):.2f} s |", "",
             "Parts: " + ", ".join(f"`{p}`" for p in parts), ""]
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
