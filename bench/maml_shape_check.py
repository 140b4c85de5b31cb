"""Same seed, same proposals: the MAML tuner's first 5 proposals (and the sums of its trained weights) on held-out
tasks of the shipped meta-dataset, for the shipped default, each ablation switch and a continuous space, written to
a JSON file; run it on two commits, on the same meta-dataset parts, and compare the files (`--compare`). It runs on the API before the ablation
switches left the constructor (they are passed as arguments there) and after (a subclass sets them).

    METAHPO_THREADS=1 python bench/maml_shape_check.py /tmp/after.json --compare /tmp/before.json
"""
import argparse
import inspect
import json
import time

import numpy as np
import pandas as pd
import torch

torch.set_num_threads(1)
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.metadata import load_shipped
from metahpo_kit.space import config_key, SearchSpace, Float, Int, Categorical
from metahpo_kit.metadata import MetaDataset
from metahpo_kit.tuners import Observation
ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--compare", default=None, help="a JSON file this script wrote on another commit")
a = ap.parse_args()
old = "first_order" in inspect.signature(MAMLTuner.__init__).parameters
def make(space, switches, **kw):
    if old or not switches:
        return MAMLTuner(space, **switches, **kw)
    cls = type("Variant", (MAMLTuner,), switches)
    return cls(space, **kw)
md = load_shipped()
epochs = 2
sc = md.scores(epochs)
out = {}
def run(tuner, task, k=5):
    g = sc[sc.task == task]
    table = {config_key({n: r[f"config.{n}"] for n in md.space.names}): float(r["score"]) for r in g.to_dict("records")}
    hist = []
    for _ in range(k):
        c = tuner.ask(hist, task=task)
        hist.append(Observation(c, table[config_key(c)]))
    return [config_key(o.config) for o in hist], [float(v.sum()) for v in tuner.params_.values()]
tasks = [md.tasks[0], md.tasks[len(md.tasks) // 2], md.tasks[-1]]
for task in tasks:
    t0 = time.time()
    tu = make(md.space, {}, epochs=epochs, random_state=0).fit(md, exclude_tasks=md.same_dataset(task))
    out[f"default|{task}"] = run(tu, task)
    print(task, time.time() - t0, out[f"default|{task}"][0][:2], flush=True)
variants = {"second_order": dict(first_order=False), "fixed_lr": dict(learn_inner_lr=False),
            "multitask": dict(p_zero=1.0, learn_inner_lr=False), "zs": dict(adapt_in_suggest=False),
            "mf": dict(use_meta_features=True), "eq": dict(bandwidth=float("inf")), "kern": dict(prior_mix=1.0),
            "misc": dict(outer_lr=1e-2, tasks_per_step=4, support=(3, 10), query=None, mf_noise=0.1)}
task = tasks[1]
for name, sw in variants.items():
    kw = {}
    if name == "mf":   # use_meta_features stays a keyword argument
        kw, sw = sw, {}
    tu = make(md.space, sw, epochs=epochs, n_steps=30, random_state=1, **kw).fit(md, exclude_tasks=md.same_dataset(task))
    out[f"{name}|{task}"] = run(tu, task)
for name, kw in {"net": dict(zero_shot="network", n_cover=0), "mean": dict(acquisition="mean", kappa=1.0, hidden=(32,), inner_steps=2, inner_lr=0.05, n_ensemble=3, outer_loss="both")}.items():
    tu = make(md.space, {}, epochs=epochs, n_steps=30, random_state=2, **kw).fit(md, exclude_tasks=md.same_dataset(task))
    out[f"{name}|{task}"] = run(tu, task)
space = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Float("wd", 0.0, 0.1), Int("layers", 1, 4), Categorical("opt", ("adam", "sgd", "rmsprop"))))
rows = [{"task": f"t{t}", **c, "score": -abs(np.log10(c["lr"]) + 2 - t / 2)} for t in range(4) for c in space.sample(100, seed=t)]
cmd = MetaDataset.from_frame(pd.DataFrame(rows), space=space)
ct = make(space, {}, n_steps=30, n_candidates=300, random_state=0).fit(cmd, exclude_tasks=["t0"])
hist = []
for _ in range(5):
    c = ct.ask(hist)
    hist.append(Observation(c, float(-abs(np.log10(c["lr"]) + 2))))
out["continuous"] = [repr(sorted(o.config.items())) for o in hist]
json.dump(out, open(a.out, "w"), indent=1)
out = json.loads(json.dumps(out))   # tuples as the file has them (lists), so the comparison is like for like
if a.compare:
    other = json.load(open(a.compare))
    same = [k for k in out if other.get(k) == out[k]]
    print(f"{len(same)} of {len(out)} runs identical to {a.compare}; different: {[k for k in out if k not in same]}")
