"""Trainer benchmark: the textbook PyTorch loop against the kit's solo and packed trainers, side by side in one run.

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 METAHPO_DATA_DIR=../shared/data \
        .venv/bin/python bench/train_bench.py

writes bench/results/train_bench.md. `--quick` runs a small smoke version (writes to /tmp unless --out is given).

What it measures (every figure comes from this one run):
1. idiomatic loop (DataLoader over a TensorDataset, shuffle with a seeded generator) vs the kit's `fit`, config by
   config: seconds each, and whether the curves and scores are identical;
2. the seed grid (486 configs) on digits, MLP, 10 epochs: solo (`fit_many(batched=False)`) vs packed (`fit_many`),
   configs per second, agreement of packed with solo against the seed noise of solo itself, and peak RSS of each
   whole run from the kit's own `ResourceProfiler`;
3. the profiler's overhead: its own cost per block, and a 1-second trial with and without it;
4. one ResNet-18 trial on the shared CIFAR-10 subset (time budget): throughput and peak RSS.
"""
import os

# On a CPU shared with other processes, OpenMP threads that spin while they wait make every torch op crawl (we
# measured a 1-epoch CNN trial at 1.3 s alone and 26 s beside another busy process, with 2 threads each). Threads
# that sleep instead keep the comparison meaningful; this must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset

from metahpo_kit.models import build_model
from metahpo_kit.profiler import ResourceProfiler
from metahpo_kit.space import SEED_SPACE
from metahpo_kit.tasks import load_task
from metahpo_kit.train import Budget
from metahpo_kit.train import fit
from metahpo_kit.train import fit_many
from metahpo_kit.train import optimizer_class
from metahpo_kit.train import resolve_device


def idiomatic(task, config: dict, epochs: int, seed: int, eval_batch: int) -> dict:
    "The textbook loop: DataLoader over a TensorDataset, zero_grad/forward/backward/step, evaluation per epoch."
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model(task, config)
    opt = optimizer_class(config["optimizer"])(model.parameters(), lr=config["lr"])
    train = DataLoader(TensorDataset(task.X["train"], task.y["train"]), batch_size=config["batch_size"],
                       shuffle=True, generator=torch.Generator().manual_seed(seed))

    def evaluate(X, y):
        # held-out tensors are evaluated directly: a DataLoader here would draw its base seed from the *global*
        # generator at every pass, which shifts the next epoch's dropout masks
        model.eval()
        loss, preds = 0.0, []
        with torch.no_grad():
            for i in range(0, len(X), eval_batch):
                logits = model(X[i:i + eval_batch])
                loss += F.cross_entropy(logits, y[i:i + eval_batch], reduction="sum").item()
                preds.append(logits.argmax(1))
        pred = torch.cat(preds)
        return loss / len(y), (pred == y).float().mean().item(), pred

    out = {"train_loss": [], "val_loss": [], "val_acc": []}
    for _ in range(epochs):
        model.train()
        total = 0.0
        for xb, yb in train:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        vl, va, _ = evaluate(task.X["valid"], task.y["valid"])
        out["train_loss"].append(total / len(train.dataset))
        out["val_loss"].append(vl)
        out["val_acc"].append(va)
    _, out["test_accuracy"], pred = evaluate(task.X["test"], task.y["test"])
    out["test_f1"] = float(f1_score(task.y["test"].numpy(), pred.numpy(), average="macro",
                                    labels=list(range(task.n_classes)), zero_division=0))
    out["wall_s"] = time.perf_counter() - t0
    return out


def same(kit, ref) -> bool:
    "Identical curves and scores (bit for bit)."
    if not kit.ok or not all(np.isfinite(ref["train_loss"])):
        return (not kit.ok) and not all(np.isfinite(ref["train_loss"]))
    return (kit.train_loss == ref["train_loss"] and kit.val_loss == ref["val_loss"] and kit.val_acc == ref["val_acc"]
            and kit.test_accuracy == ref["test_accuracy"] and kit.test_f1 == ref["test_f1"])


def short(c: dict) -> str:
    keys = ("arch", "optimizer", "lr", "batch_size", "layers", "units", "dropout")
    return " ".join(f"{k}={c[k]}" for k in keys if k in c)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a small smoke run (few configs, few epochs)")
    ap.add_argument("--out", default=None, help="where to write the markdown table")
    ap.add_argument("--epochs", type=int, default=10, help="epochs of the digits runs")
    ap.add_argument("--reps", type=int, default=3, help="repeats of each idiomatic/kit pair (the fastest counts)")
    ap.add_argument("--grid-reps", type=int, default=2, help="repeats of each solo/packed group (the fastest counts)")
    ap.add_argument("--skip-cifar", action="store_true", help="leave out the ResNet-18 trial")
    ap.add_argument("--cifar-seconds", type=float, default=45.0, help="time budget of the ResNet-18 trial")
    args = ap.parse_args()
    out_path = Path(args.out) if args.out else (Path("/tmp/train_bench_quick.md") if args.quick else
                                                Path(__file__).parent / "results" / "train_bench.md")
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    load_start = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    dev = resolve_device("cpu")   # the kit's CPU settings (threads, denormals) hold for every loop below
    epochs = 2 if args.quick else args.epochs
    lines = []

    def say(*a):
        print(*a, flush=True)

    # ------------------------------------------------------------------ 1. idiomatic vs the kit's solo loop
    digits = load_task("digits")
    grid = SEED_SPACE.grid()
    subset = grid[::9] if not args.quick else grid[::81]
    idiomatic(digits, subset[0], 1, 0, eval_batch=4096)   # warm-up: first calls pay for lazy initialisation
    fit(digits, subset[0], Budget(epochs=1))
    rows = []
    def timed_pair(task, c, ep, eval_batch, reps=None):
        "Idiomatic and kit, alternating, `reps` times; seconds are the fastest of the repeats (results are identical)."
        refs, kits = [], []
        for _ in range(reps or args.reps):
            refs.append(idiomatic(task, c, ep, 0, eval_batch=eval_batch))
            kits.append(fit(task, c, Budget(epochs=ep), seed=0))
        return refs[0], kits[0], min(r["wall_s"] for r in refs), min(k.wall_s for k in kits)

    for c in subset:
        ref, kit, ti, tk = timed_pair(digits, c, epochs, 4096)
        rows.append(("digits MLP", c, ti, tk, same(kit, ref)))
        say(f"[1] digits {short(c)}: idiomatic {ti:.2f}s kit {tk:.2f}s same={rows[-1][-1]}")
    mnist = load_task("mnist_5k")
    cnn_cfgs = [{"arch": "cnn", "lr": 3e-3, "batch_size": 32, "layers": 2, "units": 32, "optimizer": "adam", "dropout": 0.0},
                {"arch": "cnn", "lr": 0.01, "batch_size": 64, "layers": 2, "units": 16, "optimizer": "sgd", "dropout": 0.2}]
    for c in cnn_cfgs[:1 if args.quick else 2]:
        ref, kit, ti, tk = timed_pair(mnist, c, 1, 256, reps=max(args.reps, 5))
        rows.append(("mnist_5k CNN, 1 epoch", c, ti, tk, same(kit, ref)))
        say(f"[1] mnist {short(c)}: idiomatic {ti:.2f}s kit {tk:.2f}s same={rows[-1][-1]}")
    sent = None
    if os.environ.get("METAHPO_DATA_DIR"):
        sent = load_task("sentiment_sentences")
        gru_cfgs = [{"arch": "gru", "lr": 3e-3, "batch_size": 32, "layers": 1, "units": 64, "optimizer": "adam", "dropout": 0.0},
                    {"arch": "lstm", "lr": 3e-3, "batch_size": 64, "layers": 2, "units": 64, "optimizer": "rmsprop", "dropout": 0.2}]
        for c in gru_cfgs[:1 if args.quick else 2]:
            ref, kit, ti, tk = timed_pair(sent, c, 2, 256, reps=max(args.reps, 5))
            rows.append(("sentiment_sentences RNN, 2 epochs", c, ti, tk, same(kit, ref)))
            say(f"[1] sentiment {short(c)}: idiomatic {ti:.2f}s kit {tk:.2f}s same={rows[-1][-1]}")

    # ------------------------------------------------------------------ 2. the seed grid: solo vs packed
    configs = grid if not args.quick else grid[:54]
    # solo and packed alternate group by group (a group: the configs one pack holds), so that the load of a shared
    # machine drifts over both alike; the peak RSS of a whole run is the largest of its groups' peaks
    groups = {}
    for i, c in enumerate(configs):
        groups.setdefault((c["batch_size"], c["layers"], c["units"]), []).append(i)
    solo = [None] * len(configs)
    packed = [None] * len(configs)
    solo_s = packed_s = 0.0
    solo_peak = packed_peak = 0.0
    for key, idx in groups.items():
        sub = [configs[i] for i in idx]
        ts, tp = [], []
        for _ in range(args.grid_reps):
            with ResourceProfiler() as ps:
                rs = fit_many(digits, sub, Budget(epochs=epochs), batched=False)
            with ResourceProfiler() as pp:
                rp = fit_many(digits, sub, Budget(epochs=epochs))
            ts.append(ps.result["wall_s"])
            tp.append(pp.result["wall_s"])
            solo_peak = max(solo_peak, ps.result["peak_rss_mb"])
            packed_peak = max(packed_peak, pp.result["peak_rss_mb"])
        for i, a, b in zip(idx, rs, rp):
            solo[i] = a
            packed[i] = b
        solo_s += min(ts)
        packed_s += min(tp)
        say(f"[2] group {key}: solo {ts} s packed {tp} s")
    noise_idx = list(range(0, len(configs), 9))
    solo_seed1 = fit_many(digits, [configs[i] for i in noise_idx], Budget(epochs=epochs), seed=1, batched=False)
    both_ok = [(p, s) for p, s in zip(packed, solo) if p.ok and s.ok]
    d_packed = [abs(p.val_accuracy - s.val_accuracy) for p, s in both_ok]
    noise_pairs = [(solo[i], r) for i, r in zip(noise_idx, solo_seed1) if solo[i].ok and r.ok]
    d_seed = [abs(a.val_accuracy - b.val_accuracy) for a, b in noise_pairs]
    d_packed_noise = [abs(packed[i].val_accuracy - solo[i].val_accuracy) for i in noise_idx
                      if packed[i].ok and solo[i].ok]
    status_agree = sum(p.status == s.status for p, s in zip(packed, solo))
    best_solo = max(range(len(solo)), key=lambda i: solo[i].val_accuracy or -1)
    best_packed = max(range(len(packed)), key=lambda i: packed[i].val_accuracy or -1)

    # ------------------------------------------------------------------ 3. profiler overhead
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        with ResourceProfiler(samples=1):
            pass
    per_block = (time.perf_counter() - t0) / n
    X = digits.X["train"]
    y = digits.y["train"]

    def one_second_trial(profiled: bool) -> float:
        "A fixed amount of training (about 1 s here), timed from outside, with or without a profiler around it."
        torch.manual_seed(0)
        model = build_model(digits, {"layers": 3, "units": 128, "dropout": 0.0})
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        t = time.perf_counter()
        prof = ResourceProfiler(samples=len(X)) if profiled else None
        if prof:
            prof.__enter__()
        for _ in range(steps_per_trial):
            idx = torch.randint(len(X), (32,))
            opt.zero_grad()
            F.cross_entropy(model(X[idx]), y[idx]).backward()
            opt.step()
        if prof:
            prof.__exit__(None, None, None)
            prof.to_dict()
        return time.perf_counter() - t

    steps_per_trial = 200
    probe = one_second_trial(False)
    steps_per_trial = max(50, int(200 / probe))   # about 1 s
    reps = 3 if args.quick else 9
    on, off = [], []
    for _ in range(reps):   # interleaved, so drift of the shared machine hits both
        off.append(one_second_trial(False))
        on.append(one_second_trial(True))
    ab = (statistics.median(on) - statistics.median(off)) / statistics.median(off)

    # ------------------------------------------------------------------ 4. one ResNet-18 trial on CIFAR-10
    cifar = None
    if not args.skip_cifar and os.environ.get("METAHPO_DATA_DIR"):
        kw = {"max_train": 2000, "max_test": 500} if args.quick else {"max_test": 2000}
        ctask = load_task("cifar10", **kw)
        cfg = {"arch": "resnet18", "lr": 0.05, "batch_size": 128, "optimizer": "sgd", "momentum": 0.9, "dropout": 0.0}
        budget = Budget(seconds=10 if args.quick else args.cifar_seconds, epochs=1)
        cifar = (ctask, cfg, budget, fit(ctask, cfg, budget))
        say(f"[4] cifar {cifar[3]}")
    load_end = os.getloadavg()

    # ------------------------------------------------------------------ the report
    L = lines.append
    L("# Trainer benchmark")
    L("")
    L(f"Made by `{command}` (from the repository root, with `HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 "
      f"TRANSFORMERS_OFFLINE=1 METAHPO_DATA_DIR=<shared/data>`), {started}.")
    L("")
    L(f"Machine: {platform.processor() or platform.machine()}, {_cpu_model()}, {psutil.cpu_count()} logical CPUs "
      f"({psutil.cpu_count(logical=False)} physical), {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, no GPU used; "
      f"Python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
      f"denormals flushed (the kit's CPU settings, applied to every loop here), "
      f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}. "
      f"Load average at start {load_start[0]:.2f} and end {load_end[0]:.2f}: the CPU was shared with other work, "
      f"so absolute seconds are noisy; the loops compared ran interleaved (config by config, group by group) in this "
      f"one process.")
    L("")
    L("## 1. Idiomatic PyTorch loop vs the kit's solo loop")
    L("")
    L(f"Same config, same seed (0): the idiomatic loop is `DataLoader(TensorDataset(X, y), batch_size, shuffle=True, "
      f"generator=torch.Generator().manual_seed(seed))` with zero_grad/forward/backward/step and a validation pass per "
      f"epoch over the held-out tensors; the kit is `fit(task, config, Budget(epochs=...), seed=0)` (profiler on, as always). Seconds are the "
      f"whole trial (build, train, per-epoch validation, final test), the fastest of {args.reps} alternating repeats "
      f"({max(args.reps, 5)} for the image and text rows, whose differences are smaller than the machine's noise). "
      f"*Identical* means every per-epoch train loss, "
      f"validation loss and accuracy, the test accuracy and macro-F1 are equal bit for bit. Digits: every 9th config "
      f"of the seed grid, {epochs} epochs.")
    L("")
    L("| task | config | idiomatic s | kit solo s | speed-up | identical |")
    L("| --- | --- | ---: | ---: | ---: | :---: |")
    for name, c, ti, tk, eq in rows:
        L(f"| {name} | {short(c)} | {ti:.3f} | {tk:.3f} | {ti / tk:.2f}x | {'yes' if eq else 'NO'} |")
    speedups = [ti / tk for _, _, ti, tk, _ in rows]
    n_same = sum(r[-1] for r in rows)
    n_faster = sum(s >= 1 for s in speedups)
    L("")
    L(f"Summary: kit solo at least as fast on {n_faster}/{len(rows)} configs (speed-up min {min(speedups):.2f}x, "
      f"median {statistics.median(speedups):.2f}x, max {max(speedups):.2f}x); identical results on {n_same}/{len(rows)}. "
      f"Configs per second on the digits rows: idiomatic "
      f"{sum(1 for r in rows if r[0] == 'digits MLP') / sum(r[2] for r in rows if r[0] == 'digits MLP'):.2f}, kit solo "
      f"{sum(1 for r in rows if r[0] == 'digits MLP') / sum(r[3] for r in rows if r[0] == 'digits MLP'):.2f}.")
    L("")
    L(f"## 2. The seed grid on digits: solo vs packed ({len(configs)} configs, MLP, {epochs} epochs)")
    L("")
    L("| run | wall s | configs / s | peak RSS MB (kit profiler) | failed (diverged) |")
    L("| --- | ---: | ---: | ---: | ---: |")
    L(f"| solo: `fit_many(..., batched=False)` | {solo_s:.1f} | {len(configs) / solo_s:.2f} | "
      f"{solo_peak:.0f} | {sum(not r.ok for r in solo)} |")
    L(f"| packed: `fit_many(...)` | {packed_s:.1f} | {len(configs) / packed_s:.2f} | "
      f"{packed_peak:.0f} | {sum(not r.ok for r in packed)} |")
    L("")
    L(f"Wall seconds: each group of configs that one pack holds ran solo then packed, {args.grid_reps} times "
      f"alternating; the fastest of each is summed. Results are deterministic, so the repeats agree.")
    L("")
    L(f"Packed / solo configs per second: **{solo_s / packed_s:.2f}x**. Packs: "
      f"{len({id(r.profile) for r in packed})} (members share layers, units and batch size; each has its own lr, "
      f"dropout, optimizer and state).")
    L("")
    L("Agreement with solo (validation accuracy after the last epoch, same seed 0), against the seed noise of solo "
      "itself (the same configs trained solo with seed 1):")
    L("")
    L("| comparison | configs | mean abs diff | median | 90th pct | max |")
    L("| --- | ---: | ---: | ---: | ---: | ---: |")
    L(f"| packed vs solo, all configs ok in both | {len(d_packed)} | {np.mean(d_packed):.4f} | {np.median(d_packed):.4f} | "
      f"{np.percentile(d_packed, 90):.4f} | {np.max(d_packed):.4f} |")
    L(f"| packed vs solo, the seed-noise subset | {len(d_packed_noise)} | {np.mean(d_packed_noise):.4f} | "
      f"{np.median(d_packed_noise):.4f} | {np.percentile(d_packed_noise, 90):.4f} | {np.max(d_packed_noise):.4f} |")
    L(f"| solo seed 0 vs solo seed 1 (seed noise) | {len(d_seed)} | {np.mean(d_seed):.4f} | {np.median(d_seed):.4f} | "
      f"{np.percentile(d_seed, 90):.4f} | {np.max(d_seed):.4f} |")
    L("")
    L(f"Status (ok/failed) agrees on {status_agree}/{len(configs)} configs. Best config by validation accuracy: solo "
      f"`{short(configs[best_solo])}` ({solo[best_solo].val_accuracy:.4f}); packed `{short(configs[best_packed])}` "
      f"({packed[best_packed].val_accuracy:.4f}). With dropout on, packed members draw their dropout masks from "
      f"another generator than solo's, so they agree in distribution, not bit for bit; with dropout off they agree to "
      f"float rounding after one step, and within seed noise over longer runs, where rounding differences grow "
      f"(tests/test_train.py).")
    L("")
    L("## 3. Profiler overhead")
    L("")
    L("| measure | value |")
    L("| --- | ---: |")
    L(f"| one profiled empty block (enter + exit + to_dict), mean of {n} | {per_block * 1e6:.0f} µs = "
      f"{per_block / 1.0:.4%} of a 1-second trial |")
    L(f"| a ~1-second training trial ({steps_per_trial} Adam steps), median of {reps} with vs without the profiler | "
      f"{statistics.median(on):.3f} s vs {statistics.median(off):.3f} s: {ab:+.2%} |")
    L("")
    L("The second line is dominated by run-to-run noise of a shared machine (it can come out negative); the first is "
      "the profiler's own cost.")
    L("")
    L("## 4. Peak memory")
    L("")
    L("| run | peak RSS MB (kit profiler) | goal |")
    L("| --- | ---: | --- |")
    L(f"| whole digits grid, packed ({len(configs)} configs, {epochs} epochs) | {packed_peak:.0f} | < 2048 |")
    L(f"| whole digits grid, solo | {solo_peak:.0f} | < 2048 |")
    if cifar:
        ctask, cfg, budget, r = cifar
        L(f"| one ResNet-18 trial on the shared CIFAR-10 subset | {r.profile['peak_rss_mb']:.0f} | < 4096 |")
        L("")
        L(f"The ResNet-18 trial: `{short(cfg)}` momentum 0.9 on cifar10 (train {len(ctask.y['train'])}, valid "
          f"{len(ctask.y['valid'])}, test {len(ctask.y['test'])} images; the data, {sum(x.numel() for x in ctask.X.values()) * 4 / 2**20:.0f} MB "
          f"as float32, count in the RSS), budget {budget}: status {r.status}, {r.steps} steps "
          f"({r.epochs:.3f} epochs) in {r.wall_s:.1f} s wall including the final evaluation, "
          f"{r.samples_per_s:.1f} training samples/s, validation accuracy {r.val_accuracy}, test accuracy "
          f"{r.test_accuracy}, CPU utilisation {r.profile['cpu_util']:.2f}.")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(lines) + "\n")
    say(f"wrote {out_path}")


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
