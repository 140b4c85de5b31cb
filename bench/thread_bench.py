"""Time one command quiet, beside a competing single-threaded torch process at lower priority, and beside a
pure-Python busy loop, in one run: does a second CPU-heavy process cost the kit at most what losing its cores costs?

    python bench/thread_bench.py                    # the acceptance run: `metahpo benchmark --quick` three times
    python bench/thread_bench.py --cmd "metahpo benchmark --quick --tasks wine digits --methods maml tpe" \\
        --out bench/results/thread_bench_small.md   # a smaller command, for development

The measured command runs with the kit's own thread policy: the thread variables of this shell (METAHPO_THREADS,
OMP_NUM_THREADS, OMP_WAIT_POLICY, GOMP_SPINCOUNT, MKL_NUM_THREADS) are removed from its environment unless
`--keep-env` is given. Each competitor starts a few seconds before the command (so its imports are done) and is
stopped when the command ends; its own progress (steps per second) is reported too, so a kit that wins by starving
the other process would show. The result file names the command, the machine and the load average before each
scenario (a busy machine makes every ratio meaningless: run it on a quiet one). Exit status 1 when a competed time
is over `--max-ratio` times the quiet time.
"""
import argparse
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREAD_VARS = ("METAHPO_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS")

# A competitor: a loop that counts its steps and prints steps per second when it is stopped (SIGTERM).
LOOP = """
import signal, sys, time
{setup}
steps, t0 = 0, time.perf_counter()
def done(*_):
    print(f"{{steps / (time.perf_counter() - t0):.1f}}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
{body}
    steps += 1
"""

# A single-threaded torch job: a small MLP trained step after step, the shape of a notebook kernel that trains.
TORCH_JOB = LOOP.format(setup="""import torch
torch.set_num_threads(1)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
X, y = torch.randn(128, 64), torch.randint(0, 10, (128,))""", body="""    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(X), y).backward()
    opt.step()""")

# A pure-Python busy loop: no threads, no torch.
PYTHON_JOB = LOOP.format(setup="", body="    pass")

# What the kit sets up in a fresh process: its OpenMP wait policy and its thread counts.
POLICY = """
import os
import metahpo_kit
from metahpo_kit import profiler
print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')} after import metahpo_kit; "
      f"cpu_threads('surrogate')={profiler.cpu_threads('surrogate')}, cpu_threads('train')={profiler.cpu_threads('train')}")
"""

SCENARIOS = {
    "quiet": None,
    "beside a single-threaded torch job (nice -n 10)": ["nice", "-n", "10", sys.executable, "-c", TORCH_JOB],
    "beside a pure-Python busy loop": [sys.executable, "-c", PYTHON_JOB],
}


def machine() -> str:
    "CPU model, logical CPUs, kernel, Python and torch versions."
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True).stdout.strip()
    return (f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch_version}")


def run_scenario(cmd: list, env: dict, competitor, warmup_s: float, log) -> dict:
    "Run `cmd` (beside `competitor`, when given); wall time, the command's CPU time and the competitor's rate."
    load = os.getloadavg()[0]
    comp = None
    if competitor is not None:
        comp = subprocess.Popen(competitor, stdout=subprocess.PIPE, text=True,
                                env={**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
        time.sleep(warmup_s)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    rate = None
    if comp is not None:
        comp.send_signal(signal.SIGTERM)
        out, _ = comp.communicate(timeout=30)
        rate = float(out.strip()) if out.strip() else None
    return {"load_before": load, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "rc": os.waitstatus_to_exitcode(status), "competitor_steps_per_s": rate}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cmd", default="metahpo benchmark --quick --out {tmp}",
                   help="the command to time (a shell-like string; {tmp} becomes a fresh temporary folder)")
    p.add_argument("--out", default="bench/results/thread_bench.md", help="the results file (markdown)")
    p.add_argument("--max-ratio", type=float, default=2.2, help="largest acceptable competed / quiet wall time")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds a competitor runs before the command starts")
    p.add_argument("--keep-env", action="store_true", help="keep this shell's thread variables for the command")
    args = p.parse_args()

    cmd = shlex.split(args.cmd.replace("{tmp}", tempfile.mkdtemp(prefix="thread_bench_")))
    env = dict(os.environ)
    removed = [] if args.keep_env else [f"{v}={env.pop(v)}" for v in THREAD_VARS if v in env]
    policy = subprocess.run([sys.executable, "-c", POLICY], env=env, capture_output=True, text=True).stdout.strip()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path = out.with_suffix(".log")
    rows = {}
    with open(log_path, "w") as log:
        for name, competitor in SCENARIOS.items():
            print(f"== {name}: {args.cmd}", flush=True)
            log.write(f"== {name}\n")
            log.flush()
            rows[name] = r = run_scenario(cmd, env, competitor, args.warmup, log)
            print(f"   {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, rc {r['rc']}, load before "
                  f"{r['load_before']:.2f}, competitor {r['competitor_steps_per_s']} steps/s", flush=True)

    quiet = rows["quiet"]["wall_s"]
    ok = all(r["rc"] == 0 for r in rows.values())
    lines = [
        "# Threads on a shared CPU: the same command quiet and beside a competitor",
        "",
        f"Command: `{args.cmd}`, run by `python bench/thread_bench.py {shlex.join(sys.argv[1:])}` "
        f"on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {machine()}.",
        f"Thread variables removed from the command's environment: {', '.join(removed) or 'none'} "
        f"({'kept: --keep-env' if args.keep_env else 'the kit picks its own'}).",
        f"The kit's policy, as a fresh process sees it: {policy or 'could not be read'}.",
        f"Competitors: a single-threaded torch MLP training loop at `nice -n 10`; a pure-Python `while True` loop; "
        f"each started {args.warmup:g} s before the command and stopped when it ends.",
        "",
        "| scenario | wall s | CPU s | x quiet | competitor steps/s | load avg before | exit |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        ratio = r["wall_s"] / quiet
        if name != "quiet" and ratio > args.max_ratio:
            ok = False
        comp = "" if r["competitor_steps_per_s"] is None else f"{r['competitor_steps_per_s']:.0f}"
        lines.append(f"| {name} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {ratio:.2f} | {comp} | "
                     f"{r['load_before']:.2f} | {r['rc']} |")
    lines += ["", f"Acceptance (every command exits 0, each competed time <= {args.max_ratio:g}x quiet): "
              f"{'PASS' if ok else 'FAIL'}. The command's output is in `{log_path.name}`.", ""]
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
