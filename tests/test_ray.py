"""Ray: the meta-dataset build on a local Ray cluster gives the rows of the in-process build, loses and repeats nothing
when a worker is killed mid-pack or the build is stopped and resumed, and the Ray Tune recipe of the study notebook
runs a kit tuner."""
import itertools
import math
import os
import signal
import threading
import time
import types

import pytest

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from metahpo_kit import build
from metahpo_kit.build import build_metadataset, local_ray_cluster
from metahpo_kit.metadata import MetaDataset
from metahpo_kit.space import SEED_SPACE, config_key


@pytest.fixture(scope="module")
def cluster():
    "A local Ray cluster (2 CPUs, one torch thread per worker) for the module's tests."
    with local_ray_cluster(num_cpus=2):
        yield


def _keys(md: MetaDataset) -> list:
    return sorted(f"{t}|{s}|{config_key({c[len('config.'):]: r[c] for c in md.config_cols})}"
                  for t, s, r in zip(md.frame["task"], md.frame["seed"], md.frame[md.config_cols].to_dict("records")))


def test_ray_build_gives_the_rows_of_the_in_process_build(cluster, tmp_path):
    args = dict(configs=8, epochs=2, seeds=(0, 1), progress=False)
    here = build_metadataset(["wine"], out=str(tmp_path / "here"), **args)
    on_ray = build_metadataset(["wine"], out=str(tmp_path / "ray"), ray=True, **args)
    assert _keys(on_ray) == _keys(here) and len(here) == 16
    cols = ["task", "seed", *here.config_cols]
    a = here.frame.sort_values(cols).reset_index(drop=True)
    b = on_ray.frame.sort_values(cols).reset_index(drop=True)
    assert [list(c) for c in a["val_acc"]] == [list(c) for c in b["val_acc"]]   # same seed, same curve
    assert list(a["test_accuracy"]) == list(b["test_accuracy"])


def _ray_pack_workers() -> list:
    "The worker processes running a pack now (Ray names a busy worker's process after its task)."
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::_train_pack"):
            out.append(p)
    return out


def test_killed_ray_worker_loses_and_repeats_nothing(cluster, tmp_path):
    killed = []
    stop = threading.Event()

    def killer():                     # SIGKILL the first worker seen training a pack, once
        while not stop.is_set() and not killed:
            for p in _ray_pack_workers():
                os.kill(p.pid, signal.SIGKILL)
                killed.append(p.pid)
                break
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        md = build_metadataset(["wine"], configs=24, epochs=3, seeds=(0, 1), out=str(tmp_path / "md"), progress=False,
                               ray=True)
    finally:
        stop.set()
        thread.join()
    assert killed, "no Ray worker was seen training a pack"
    keys = _keys(md)
    assert len(keys) == 48 and len(set(keys)) == 48            # every evaluation once: none lost, none twice
    assert _keys(MetaDataset.load(tmp_path / "md")) == keys    # and so on disk


def test_stopped_ray_build_resumes_without_duplicates(cluster, tmp_path, monkeypatch):
    args = dict(configs=24, epochs=3, seeds=(0, 1), out=str(tmp_path / "md"), progress=False, ray=True)
    # the build's clock: the deadline is set, two packs start, then the time is up, however fast the machine (on a
    # quiet one, all 34 packs, 17 a seed, once finished inside a real 0.5 s)
    calls = itertools.count()
    clock = types.SimpleNamespace(monotonic=lambda: 0.0 if next(calls) < 3 else math.inf, time_ns=time.time_ns)
    monkeypatch.setattr(build, "time", clock)
    partial = build_metadataset(["wine"], max_seconds=0.5, **args)   # the packs in flight at the deadline finish
    assert 0 < len(partial) < 48
    monkeypatch.undo()
    full = build_metadataset(["wine"], **args)
    keys = _keys(full)
    assert len(keys) == 48 and len(set(keys)) == 48


def test_ray_tune_runs_a_kit_tuner(cluster, tmp_path):
    "The study notebook's Ray Tune recipe, small: Ray runs the trials, the kit's grid tuner proposes them in order."
    pytest.importorskip("ray.tune")
    from ray import tune as rtune
    from ray.tune.search.optuna import OptunaSearch

    from metahpo_kit.sampler import TunerSampler
    from metahpo_kit.tasks import load_task
    from metahpo_kit.train import fit
    from metahpo_kit.tuners import GridTuner

    def trainable(config):
        result = fit(load_task("wine"), config, budget=1)
        rtune.report({"val_accuracy": result.val_accuracy or 0.0})

    search = OptunaSearch(space=SEED_SPACE.to_optuna(), metric="val_accuracy", mode="max",
                          sampler=TunerSampler(GridTuner(SEED_SPACE)))
    tuner = rtune.Tuner(trainable, tune_config=rtune.TuneConfig(search_alg=search, num_samples=4, max_concurrent_trials=1),
                        run_config=rtune.RunConfig(storage_path=str(tmp_path), name="wine", verbose=0))
    results = tuner.fit()
    assert not results.errors
    frame = results.get_dataframe()
    assert len(frame) == 4 and frame["val_accuracy"].between(0, 1).all()
    seen = sorted(config_key({n: r.config[n] for n in SEED_SPACE.names}) for r in results)
    assert seen == sorted(config_key(c) for c in SEED_SPACE.grid()[:4])   # the grid tuner's first four, one each
