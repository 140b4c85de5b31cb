"The mixed-space benchmark: shared sampled configs, packs of mixed hyperparameters, the build, both protocols end to end."
import contextlib
import io

import pandas as pd
import pytest
import torch

from metahpo_kit import metadata
from metahpo_kit.benchmark import run_benchmark, simulate
from metahpo_kit.cli import benchmark_methods, main
from metahpo_kit.build import build_metadataset, distinct_sample
from metahpo_kit.lookup import TabularObjective
from metahpo_kit.metadata import MetaDataset, disjoint_configs, load_mixed
from metahpo_kit.space import MIXED_SPACE, config_key
from metahpo_kit.tasks import load_task
from metahpo_kit.train import F64_RTOL, Budget, fit_many, float64_training, optimizer_kwargs
from metahpo_kit.tuners import RandomTuner

TASKS = ["wine", "breast_cancer", "digits@max_train=300"]   # embedded: no data mirror needed
N_CONFIGS = 8


# ---------------------------------------------------------------- the space and its shared configs

def test_every_task_gets_the_same_sampled_configs():
    a, b = distinct_sample(MIXED_SPACE, 256, seed=0), distinct_sample(MIXED_SPACE, 256, seed=0)
    assert a == b
    assert len({config_key(c) for c in a}) == 256
    assert all(MIXED_SPACE.validate(c) == c for c in a)
    assert distinct_sample(MIXED_SPACE, 16, seed=0) == a[:16]        # a smaller build trains the first configs
    assert distinct_sample(MIXED_SPACE, 16, seed=1) != a[:16]
    lr = [c["lr"] for c in a]
    assert len(set(lr)) == 256 and min(lr) >= 1e-4 and max(lr) <= 0.3  # continuous, not a grid
    shapes = {(c["layers"], c["units"], c["batch_size"]) for c in a}
    assert len(shapes) == 16                                         # packs still form: 16 shapes for 256 configs


def test_momentum_reaches_sgd_and_rmsprop_only():
    c = {"momentum": 0.9, "weight_decay": 1e-3, "dropout": 0.1}
    assert optimizer_kwargs(c, torch.optim.SGD) == {"momentum": 0.9, "weight_decay": 1e-3}
    assert optimizer_kwargs(c, torch.optim.RMSprop) == {"momentum": 0.9, "weight_decay": 1e-3}
    assert optimizer_kwargs(c, torch.optim.Adam) == {"weight_decay": 1e-3}


def test_one_pack_holds_different_lr_optimizer_weight_decay_and_momentum():
    "Configs of one shape and batch size but every other hyperparameter different train as one pack, as they would alone."
    digits = load_task("digits")
    shape = {"batch_size": 32, "layers": 2, "units": 64, "dropout": 0.0}
    cfgs = [{**c, **shape} for c in MIXED_SPACE.sample(12, seed=3)]
    assert len({c["optimizer"] for c in cfgs}) == 3
    # compared in float64, relative as well as absolute: a learning rate near 0.3 takes a validation loss to thousands
    # in one step, and reordering error scales with the values summed (nbs/04_train.ipynb derives F64_RTOL)
    with float64_training(digits) as d64:
        packed = fit_many(d64, cfgs, Budget(steps=1), seed=2)
        solo = fit_many(d64, cfgs, Budget(steps=1), seed=2, batched=False)
    assert all(r.profile["pack_size"] == len(cfgs) for r in packed)
    assert [r.config for r in packed] == cfgs
    for p, s in zip(packed, solo):
        assert p.status == s.status == "ok"
        assert p.train_loss == pytest.approx(s.train_loss, rel=F64_RTOL, abs=F64_RTOL)
        assert p.val_loss == pytest.approx(s.val_loss, rel=F64_RTOL, abs=F64_RTOL)


# ---------------------------------------------------------------- a mini mixed meta-dataset, built for real

@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    "8 configs of MIXED_SPACE x 1 seed x 2 epochs on three embedded datasets, in a temporary folder."
    out = tmp_path_factory.mktemp("mixed") / "md"
    build_metadataset(TASKS, space=MIXED_SPACE, configs=N_CONFIGS, epochs=2, seeds=(0,), out=str(out), progress=False)
    return out


def test_the_mixed_metadataset_stores_and_loads_its_space(mini):
    md = MetaDataset.load(mini)
    assert md.space == MIXED_SPACE
    assert load_mixed(mini).space == MIXED_SPACE and load_mixed(mini).path is None
    assert md.tasks == TASKS
    want = {config_key(c) for c in distinct_sample(MIXED_SPACE, N_CONFIGS, seed=0)}
    for t in TASKS:   # the same configs on every task, read back exactly (floats included)
        assert {config_key(c) for c in md.configs(t)} == want


def test_the_disjoint_protocol_gives_each_task_its_own_seeded_half(mini):
    md = MetaDataset.load(mini)
    half = disjoint_configs(md, seed=0)
    kept = {t: frozenset(config_key(c) for c in half.configs(t)) for t in TASKS}
    assert all(len(k) == N_CONFIGS // 2 for k in kept.values())
    assert len(set(kept.values())) == len(TASKS)                      # a different half per task
    again = disjoint_configs(md, seed=0)
    assert {t: frozenset(config_key(c) for c in again.configs(t)) for t in TASKS} == kept
    other = disjoint_configs(md, seed=1)
    assert {t: frozenset(config_key(c) for c in other.configs(t)) for t in TASKS} != kept
    # drawn per task: a task's half does not depend on which other tasks are there
    alone = disjoint_configs(md.filter(tasks=[TASKS[1]], status=None), seed=0)
    assert frozenset(config_key(c) for c in alone.configs(TASKS[1])) == kept[TASKS[1]]
    with pytest.raises(ValueError, match=r"fraction=1.5 must be a number in \(0, 1\]"):
        disjoint_configs(md, fraction=1.5)


def test_on_the_mixed_space_every_method_runs_recorded_configs_none_twice_seeded(mini):
    "simulate moves each proposal to the nearest untried recorded config: all of a task's configs, once each, seeded."
    md = disjoint_configs(MetaDataset.load(mini), seed=0)
    recorded = {config_key(c) for c in md.configs("wine")}
    assert len(recorded) == N_CONFIGS // 2
    obj = TabularObjective(md, "wine", epochs=2)
    run = simulate(RandomTuner(MIXED_SPACE, random_state=0), obj, n_trials=N_CONFIGS)
    assert len(run) == len(recorded) and set(run["config"]) == recorded        # every recorded config once, then done
    methods = {m: t for m, t in benchmark_methods(md, maml_steps=5).items() if m in ("random", "portfolio", "manual")}
    kw = dict(tasks=["wine", "breast_cancer"], n_trials=3, epochs=2, seeds=(0, 1), progress=False)
    res = run_benchmark(methods, md, **kw)
    for (method, task, seed), g in res.groupby(["method", "task", "seed"]):
        assert set(g["config"]) <= {config_key(c) for c in md.configs(task)}, (method, task)
        assert g["config"].nunique() == len(g) == 3, (method, task, seed)
    again = run_benchmark(methods, md, **kw)
    assert res["config"].tolist() == again["config"].tolist()                   # same seeds, same runs
    rand = res[res["method"] == "random"].groupby("seed")["config"].apply(tuple)
    assert rand.nunique() > 1                                                    # another seed, another run
    assert set(res["method"]) == set(methods)
    assert (res[res["method"] == "random"]["skipped"] == 1).all()                # a random proposal is never recorded


def _benchmark(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["benchmark", *args])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("protocol", ["mixed", "mixed-disjoint"])
def test_benchmark_runs_end_to_end_on_a_mixed_metadataset(mini, tmp_path, protocol):
    methods = ["portfolio", "similarity", "random", "maml"]
    code, out, err = _benchmark(["--benchmark", protocol, "--metadata", str(mini), "--tasks", *TASKS,
                                 "--methods", *methods, "--trials", "3", "--seeds", "1", "--epochs", "2",
                                 "--maml-steps", "5", "--out", str(tmp_path / "res")])
    assert code == 0, err[-3000:]
    assert f"benchmark {protocol}: 3 held-out tasks (of 3)" in out and "nearest untried config" in out
    rows = pd.read_csv(tmp_path / "res" / "benchmark_rows.csv")
    assert set(rows["method"]) == set(methods) and set(rows["task"]) == set(TASKS)
    assert len(rows) == len(methods) * len(TASKS) * 3
    md = MetaDataset.load(mini)
    md = disjoint_configs(md) if protocol == "mixed-disjoint" else md
    for (method, task), g in rows.groupby(["method", "task"]):
        recorded = {config_key(c) for c in md.configs(task)}
        assert set(g["config"]) <= recorded, (method, task)           # every trial a config the task recorded
        assert g["config"].nunique() == len(g)                        # and none twice
    assert rows["regret"].between(0, 1).all()


def test_a_missing_mixed_metadataset_names_the_command_that_builds_it(tmp_path, monkeypatch):
    monkeypatch.setattr(metadata, "MIXED_SHIPPED", tmp_path / "mixed")
    with pytest.raises(FileNotFoundError, match="python bench/build_plan.py run --stage mixed"):
        load_mixed()
    code, _, err = _benchmark(["--benchmark", "mixed-disjoint", "--out", str(tmp_path / "res")])
    assert code == 2 and "bench/build_plan.py run --stage mixed" in err
