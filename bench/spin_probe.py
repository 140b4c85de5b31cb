"""Why torch crawls beside another busy process: one small operation timed with 1 and with all-cores threads, with
OpenMP's default wait (spin, then sleep) and with `OMP_WAIT_POLICY=PASSIVE`, quiet and beside the two competitors of
`thread_bench.py` (a single-threaded torch job at `nice -n 10`, a pure-Python busy loop). A few seconds per row.

    python bench/spin_probe.py                      # writes bench/results/spin_probe.md

The probe is the shape of a tuner's surrogate or a small model's training loop: an in-place multiply of 200,000
floats (large enough that torch splits it over its threads) with a little serial Python between two operations.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from thread_bench import PYTHON_JOB, THREAD_VARS, TORCH_JOB, machine  # noqa: E402

PROBE = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(200_000)
for _ in range(200):
    a.mul_(1.0)
n = int(sys.argv[2])
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(n):
    a.mul_(1.0)
    sum(range(200))
w, c = time.perf_counter() - t0, time.process_time() - c0
print(w / n * 1e6, c / n * 1e6)
"""

COMPETITORS = {
    "quiet": None,
    "torch job, nice 10": ["nice", "-n", "10", sys.executable, "-c", TORCH_JOB],
    "Python busy loop": [sys.executable, "-c", PYTHON_JOB],
}


def probe(threads: int, policy: dict, env: dict, n_ops: int) -> tuple:
    "Microseconds of wall and CPU time per operation."
    e = {**env, **policy}
    out = subprocess.run([sys.executable, "-c", PROBE, str(threads), str(n_ops)], env=e, capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="bench/results/spin_probe.md", help="the markdown file to write")
    out = Path(ap.parse_args().out)
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    cores = os.cpu_count() or 1
    settings = [(1, {}), (cores, {}), (cores, {"OMP_WAIT_POLICY": "PASSIVE"}), (cores, {"GOMP_SPINCOUNT": "10000"}),
                (cores, {"GOMP_SPINCOUNT": "30000"})]
    lines = ["# One small torch operation, quiet and beside a busy process", "",
             f"`python bench/spin_probe.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{machine()}. Load average before: {os.getloadavg()[0]:.2f}.", "",
             "| beside | torch threads | OpenMP wait | wall us/op | CPU us/op |", "|---|---:|---|---:|---:|"]
    for name, comp in COMPETITORS.items():
        proc = None
        if comp is not None:
            proc = subprocess.Popen(comp, stdout=subprocess.DEVNULL, env={**env, "OMP_NUM_THREADS": "1"})
            time.sleep(4)
        for threads, policy in settings:
            wall, cpu = probe(threads, policy, env, 3000)
            row = f"| {name} | {threads} | {' '.join(f'{k}={v}' for k, v in policy.items()) or 'default (spin, then sleep)'} | {wall:.0f} | {cpu:.0f} |"
            print(row, flush=True)
            lines.append(row)
        if proc is not None:
            proc.terminate()
            proc.wait()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
