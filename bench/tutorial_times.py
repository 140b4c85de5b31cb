"""How long each tutorial takes with its default parameters, run top to bottom in a Jupyter kernel (papermill).

    python bench/tutorial_times.py            # writes bench/results/tutorial_times.md
    python bench/tutorial_times.py 03_image.ipynb --out /tmp/times.md
"""
import argparse
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
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            t0 = time.perf_counter()
            papermill.execute_notebook(str(TUTORIALS / name), str(Path(tmp) / name), cwd=str(TUTORIALS),
                                       kernel_name="python3", progress_bar=False)
            rows.append((name, time.perf_counter() - t0))
            print(f"{name}: {rows[-1][1]:.0f} s", flush=True)
    lines = ["# Tutorial run times with default parameters", "",
             f"Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, torch {torch.__version__}, "
             f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}; "
             f"METAHPO_THREADS={os.environ.get('METAHPO_THREADS', 'unset')}; load average at the end "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.", "",
             "| tutorial | seconds (kernel start to last cell) |", "| --- | ---: |"]
    lines += [f"| {n} | {s:.0f} |" for n, s in rows]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
