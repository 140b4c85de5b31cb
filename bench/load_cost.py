"""CPU seconds to load every task the staged build plans, from scratch (no processed-task cache), and to embed the
texts of its frozen-encoder tasks (`arch=transformer`: the MiniLM embeddings that training reads, computed once a
task): what a build on a fresh machine pays on top of training. `build_plan.py measure` times loads and training
with the cache as it finds it, so on a warm cache it leaves both out.

    python bench/load_cost.py --out bench/results/load_cost.md
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("METAHPO_THREADS", "1")
for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(k, "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_plan import STAGES  # noqa: E402
from metahpo_kit.metadata import parse_task_id  # noqa: E402
from metahpo_kit.models import text_embeddings  # noqa: E402
from metahpo_kit.tasks import load_task  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="also write the markdown here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ids = list(dict.fromkeys(t for s in STAGES for t in s.tasks))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["METAHPO_CACHE_DIR"] = tmp   # nothing processed before: every load from the raw data
        for task_id in ids:
            name, kw, extra = parse_task_id(task_id)
            c0 = time.process_time()
            task = load_task(name, **kw)
            if extra.get("arch") == "transformer":
                text_embeddings(task)
            rows.append((task_id, time.process_time() - c0))
            print(f"{rows[-1][1]:7.1f} s {task_id}", flush=True)
    total = sum(s for _, s in rows)
    slow = sorted(rows, key=lambda r: -r[1])[:10]
    lines = ["# Loading every planned task from scratch", "",
             "Command: `python bench/load_cost.py --out bench/results/load_cost.md` (one torch thread, an empty "
             "processed-task cache, the data mirror and the MiniLM encoder on disk; the frozen-encoder tasks' texts "
             "embedded, max length 64 as in the build).", "",
             f"{len(rows)} distinct task ids; **{total:.0f} CPU s ({total / 3600:.2f} CPU h) in all**. The ten "
             "slowest:", "", "| task | CPU s |", "|---|---:|"]
    lines += [f"| {t} | {s:.1f} |" for t, s in slow]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
