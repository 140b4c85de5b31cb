"""How long each tutorial takes with its default parameters, run top to bottom in a Jupyter kernel (papermill).

    python bench/tutorial_times.py            # runs them all; writes bench/results/tutorial_times.md
    python bench/tutorial_times.py 03_image.ipynb --out /tmp/times.md
    python bench/tutorial_times.py --from-notebooks   # no run: the times papermill stored in the executed notebooks
                                                      # (`python bench/notebooks.py execute` runs and stores them)
"""
import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import papermill
import psutil
import torch

TUTORIALS = Path(__file__).resolve().parents[1] / "nbs" / "tutorials"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=sorted(p.name for p in TUTORIALS.glob("*.ipynb")))
    ap.add_argument("--out", default="bench/results/tutorial_times.md")
    ap.add_argument("--from-notebooks", action="store_true",
                    help="read the durations papermill stored in the committed notebooks instead of running them")
    args = ap.parse_args(argv)
    rows = []
    how = "kernel start to last cell, this run"
    if args.from_notebooks:
        how = "kernel start to last cell, as papermill stored it in each executed notebook"
        for name in args.names:
            meta = json.loads((TUTORIALS / name).read_text())["metadata"].get("papermill") or {}
            if meta.get("duration") is None or meta.get("exception"):
                raise SystemExit(f"{name}: no clean papermill run stored; run python bench/notebooks.py execute first")
            rows.append((name, float(meta["duration"]), meta.get("end_time", "?")[:19]))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ([] if args.from_notebooks else args.names):
            t0 = time.perf_counter()
            papermill.execute_notebook(str(TUTORIALS / name), str(Path(tmp) / name), cwd=str(TUTORIALS),
                                       kernel_name="python3", progress_bar=False)
            rows.append((name, time.perf_counter() - t0, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())))
            print(f"{name}: {rows[-1][1]:.0f} s", flush=True)
    lines = ["# Tutorial run times with default parameters", "",
             f"Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, torch {torch.__version__}, "
             f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}; "
             + (f"METAHPO_THREADS={os.environ.get('METAHPO_THREADS', 'unset')}; load average at the end "
                f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}." if not args.from_notebooks else
                "run one at a time by `python bench/notebooks.py execute` (METAHPO_THREADS=1)."), "",
             f"| tutorial | seconds ({how}) | finished (UTC) |", "| --- | ---: | --- |"]
    lines += [f"| {n} | {s:.0f} | {end} |" for n, s, end in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
