"""Contract tests of every tuner, learned ones included, from one factory table (Optuna's style): seeded runs equal
(also across processes), configs valid, n_trials and time_budget respected, failures recorded, kill-and-resume,
shared workers, clones unfitted."""
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sklearn.base

from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.space import SEED_SPACE, Categorical, Float, Int, SearchSpace, config_key
from metahpo_kit.transfer import PortfolioTuner, SimilarityTuner, synthetic_metadataset
from metahpo_kit import study as study_module
from metahpo_kit.study import make_storage, tune
from metahpo_kit.tuners import (TUNERS, GPTuner, GridTuner, HyperbandTuner, ManualTuner, Observation, RandomTuner,
                                TPETuner, clone, make_tuner, tuner_class)

_META = {}


def meta(space):
    "A small synthetic meta-dataset of `space` (6 tasks: the grid, or 60 sampled configs a task), built once."
    key = json.dumps(space.to_dict(), sort_keys=True, default=str)
    if key not in _META:
        _META[key] = synthetic_metadataset(6, space=space, n_configs=None if space.is_finite else 60, seed=0)
    return _META[key]


TUNER_FACTORIES = {
    "ManualTuner": lambda space, seed: ManualTuner(space, configs=[space.sample(1, seed=99)[0]], random_state=seed),
    "RandomTuner": lambda space, seed: RandomTuner(space, random_state=seed),
    "GridTuner": lambda space, seed: GridTuner(space, random_state=seed),
    "TPETuner": lambda space, seed: TPETuner(space, random_state=seed, n_startup_trials=3),
    "GPTuner": lambda space, seed: GPTuner(space, random_state=seed, n_startup_trials=3),
    "HyperbandTuner": lambda space, seed: HyperbandTuner(space, random_state=seed, min_epochs=1, max_epochs=9),
    # the learned tuners, fitted on a small meta-dataset of the same space
    "PortfolioTuner": lambda space, seed: PortfolioTuner(space, size=5, random_state=seed).fit(meta(space)),
    "SimilarityTuner": lambda space, seed: SimilarityTuner(space, random_state=seed).fit(meta(space)),
    "MAMLTuner": lambda space, seed: MAMLTuner(space, n_steps=10, n_candidates=200, random_state=seed).fit(meta(space)),
    "DeepKernelTuner": lambda space, seed: DeepKernelTuner(space, n_steps=10, random_state=seed).fit(meta(space)),
}
LEARNED = ("PortfolioTuner", "SimilarityTuner", "MAMLTuner", "DeepKernelTuner")
SEED_FREE = ("GridTuner", "ManualTuner", "SimilarityTuner")   # the first 8 configs do not depend on random_state
CONTINUOUS = SearchSpace((Float("lr", 1e-4, 1e-1, log=True), Float("momentum", 0.1, 0.99),
                          Int("layers", 1, 4), Categorical("optimizer", ("sgd", "adam"))))
HERE = Path(__file__).resolve().parent


def score(config, budget=None):
    "A deterministic toy objective of any space: higher lr and more units are better."
    s = 0.5 + 0.05 * math.log10(config["lr"])
    s += 0.01 * config.get("units", 128) / 256 + 0.01 * config.get("layers", 2)
    s += 0.02 * (config.get("optimizer") == "adam")
    if budget is not None and budget.epochs:
        s += 0.001 * budget.epochs
    return s


def slow_score(config, budget=None):
    time.sleep(0.15)
    return score(config, budget)


def barrier_score(config, budget=None):
    "slow_score, whose first call in each process waits until two processes have arrived (so both workers work)."
    folder = Path(os.environ["METAHPO_TEST_BARRIER"])
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return slow_score(config, budget)


def _configs(res, space=SEED_SPACE):
    return [space.validate({n: r[f"config.{n}"] for n in space.names}) for r in res.trials.to_dict("records")]


@pytest.mark.parametrize("name", TUNER_FACTORIES)
def test_seeded_runs_are_equal(name):
    a = tune(score, TUNER_FACTORIES[name](SEED_SPACE, 3), n_trials=8)
    b = tune(score, TUNER_FACTORIES[name](SEED_SPACE, 3), n_trials=8)
    assert _configs(a) == _configs(b)
    if name not in SEED_FREE:
        c = tune(score, TUNER_FACTORIES[name](SEED_SPACE, 4), n_trials=8)
        assert _configs(a) != _configs(c)


def test_seeded_runs_are_equal_across_processes():
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import test_tuners as t; "
            "from metahpo_kit.space import SEED_SPACE; "
            "print(json.dumps({n: t._configs(t.tune(t.score, f(SEED_SPACE, 3), n_trials=6)) "
            "for n, f in t.TUNER_FACTORIES.items()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONHASHSEED": "123"})
    assert out.returncode == 0, out.stderr[-2000:]
    there = json.loads(out.stdout.strip().splitlines()[-1])
    for name, f in TUNER_FACTORIES.items():
        assert there[name] == _configs(tune(score, f(SEED_SPACE, 3), n_trials=6)), name


def _assert_unfitted_copy(name, tuner, twin):
    "`twin` learned nothing, shares no mutable argument with `tuner`, and a learned one refuses to ask."
    assert not [k for k in vars(twin) if k.endswith("_") and not k.startswith("_")]   # nothing learned
    for k, v in tuner.get_params().items():
        if isinstance(v, (list, dict)):
            assert twin.get_params()[k] is not v, k
    if name in LEARNED:
        with pytest.raises(ValueError, match="not fitted"):
            twin.ask([])


@pytest.mark.parametrize("name", TUNER_FACTORIES)
def test_clone_is_unfitted_and_shares_no_mutable_state(name):
    tuner = TUNER_FACTORIES[name](SEED_SPACE, 1)
    twin = clone(tuner)
    assert type(twin) is type(tuner) and twin.get_params().keys() == tuner.get_params().keys()
    _assert_unfitted_copy(name, tuner, twin)
    hist = [Observation(c, score(c)) for c in SEED_SPACE.sample(3, seed=7)]
    assert twin.fit(meta(SEED_SPACE)).ask(hist) == tuner.ask(hist)    # fitted again, it answers the same
    assert clone(tuner, random_state=2).random_state == 2 and tuner.random_state == 1
    with pytest.raises(ValueError, match="has no parameter"):
        clone(tuner, no_such_argument=1)


# a valid value other than the class's of a switch, for the tuners that have switches: set on an instance, it must
# survive a clone
SWITCH_VALUES = {"bandwidth": 1.0, "prior_mix": 0.5, "adapt_in_suggest": False, "pooled": True}


def test_every_registered_tuner_is_in_the_factory_table_and_keyword_only():
    "The contract tests cover every tuner of the registry (`TUNERS`), and each takes only the space by position."
    classes = {name: tuner_class(name) for name in TUNERS}
    factory_classes = {type(f(SEED_SPACE, 0)) for f in TUNER_FACTORIES.values()}
    missing = [name for name, cls in classes.items() if cls not in factory_classes]
    assert not missing, f"TUNERS entries without a TUNER_FACTORIES row: {missing}"
    assert {cls.__name__ for cls in classes.values()} == set(TUNER_FACTORIES)
    for name, cls in classes.items():
        with pytest.raises(TypeError, match="positional argument"):
            cls(SEED_SPACE, 0)
        made = make_tuner(name, SEED_SPACE, random_state=7)
        assert type(made) is cls and made.random_state == 7 and made.space == SEED_SPACE


@pytest.mark.parametrize("name", TUNER_FACTORIES)
def test_sklearn_clone_gives_an_unfitted_copy_of_the_same_class_and_switches(name):
    tuner = TUNER_FACTORIES[name](SEED_SPACE, 1)
    own = {k: SWITCH_VALUES[k] for k in type(tuner).switches if k in SWITCH_VALUES}
    assert bool(own) == bool(type(tuner).switches), f"SWITCH_VALUES needs a value of a switch of {name}"
    for k, v in own.items():
        assert getattr(type(tuner), k) != v
        setattr(tuner, k, v)                                         # a switch the instance set for itself
    assert tuner.get_params(deep=True) == tuner.get_params(deep=False) == tuner.get_params()
    twin = sklearn.base.clone(tuner)
    assert type(twin) is type(tuner) and twin is not tuner
    assert twin.get_params() == tuner.get_params()
    for k, v in own.items():
        assert getattr(twin, k) == v and k in vars(twin), k           # carried over, as the instance's own
    _assert_unfitted_copy(name, tuner, twin)


@pytest.mark.parametrize("name", TUNER_FACTORIES)
def test_configs_are_always_valid_and_never_repeated(name):
    res = tune(score, TUNER_FACTORIES[name](SEED_SPACE, 0), n_trials=15)
    configs = _configs(res)                 # validate() raises on an invalid config
    if name == "HyperbandTuner":            # Hyperband re-runs promoted configs with more epochs
        keys = [(config_key(c), e) for c, e in zip(configs, res.trials["epochs_budget"])]
    else:
        keys = [config_key(c) for c in configs]
    assert len(set(keys)) == len(keys) == 15
    if name == "GridTuner":
        with pytest.raises(ValueError, match="GridTuner needs a finite space; continuous parameter"):
            tune(score, TUNER_FACTORIES[name](CONTINUOUS, 0), n_trials=3)
    else:
        cont = tune(score, TUNER_FACTORIES[name](CONTINUOUS, 0), n_trials=8)
        for c in _configs(cont, CONTINUOUS):
            CONTINUOUS.validate(c)


class TrialClock:
    "The study loop's clock, moved only by the objective: the time budget's rule, whatever the machine's load."

    def __init__(self):
        self.t = 0.0
        self.time, self.sleep = time.time, time.sleep   # the rest of the loop's use of the time module, unchanged

    def monotonic(self) -> float:
        return self.t

    def perf_counter(self) -> float:       # a trial's wall seconds (the loop's record) on the same clock
        return self.t

    def __getattr__(self, name):           # anything else the loop reads of the time module: the real one
        return getattr(time, name)


@pytest.mark.parametrize("name", TUNER_FACTORIES)
def test_n_trials_and_time_budget_are_respected(name, monkeypatch):
    assert len(tune(score, TUNER_FACTORIES[name](SEED_SPACE, 0), n_trials=7).trials) == 7
    clock, given = TrialClock(), []

    def timed_score(config, budget=None):
        given.append(budget.seconds)
        clock.t += 0.15                    # each trial takes 0.15 s of the study's clock
        return score(config, budget)

    monkeypatch.setattr(study_module, "time", clock)
    res = tune(timed_score, TUNER_FACTORIES[name](SEED_SPACE, 0), time_budget=1.0)
    assert len(res.trials) == 7            # started at 0, 0.15, ..., 0.90; none at 1.05, past the budget
    assert given == pytest.approx([1.0 - 0.15 * i for i in range(7)])   # each cut to the time left


@pytest.mark.parametrize("name", TUNER_FACTORIES)
def test_a_failing_objective_is_recorded_as_failed(name):
    def flaky(config):
        if config["optimizer"] == "sgd":
            raise RuntimeError("diverged")
        return score(config)
    res = tune(flaky, TUNER_FACTORIES[name](SEED_SPACE, 0), n_trials=10, catch=(RuntimeError,))
    assert len(res.trials) == 10
    failed = res.trials[res.trials["status"] == "failed"]
    assert (failed["config.optimizer"] == "sgd").all()
    assert failed["reason"].str.contains("RuntimeError: diverged").all()
    ok = res.trials[res.trials["status"] == "ok"]
    assert (ok["config.optimizer"] != "sgd").all()


def _completed(storage_url, name):
    try:
        st = optuna.load_study(study_name=name, storage=make_storage(storage_url))
    except KeyError:
        return 0
    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in st.get_trials(deepcopy=False))


@pytest.mark.parametrize("name", TUNER_FACTORIES)
def test_resume_after_sigkill(name, tmp_path):
    url = str(tmp_path / "study.log")
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_tuners as t; "
            "from metahpo_kit.space import SEED_SPACE; "
            f"t.tune(t.slow_score, t.TUNER_FACTORIES[{name!r}](SEED_SPACE, 5), n_trials=12, storage={url!r}, "
            "study_name='s')")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _completed(url, "s") < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _completed(url, "s")
    assert 4 <= before < 12
    res = tune(slow_score, TUNER_FACTORIES[name](SEED_SPACE, 5), n_trials=12, storage=url, study_name="s")
    counted = res.trials[res.trials["status"].isin(["ok", "failed"])]
    assert len(counted) == 12                                        # the total is right
    assert (res.trials["status"] == "interrupted").sum() <= 1        # at most the trial in flight was lost
    keys = [(config_key(c), e) for c, e in zip(_configs(res.__class__(res.study_name, SEED_SPACE, counted)),
                                               counted["epochs_budget"])]
    assert len(set(keys)) == len(keys)                               # no trial repeats


def test_two_workers_share_one_journal_file(tmp_path, monkeypatch):
    url = str(tmp_path / "shared.log")
    (tmp_path / "barrier").mkdir()
    monkeypatch.setenv("METAHPO_TEST_BARRIER", str(tmp_path / "barrier"))
    res = tune(barrier_score, RandomTuner(SEED_SPACE, random_state=0), n_trials=14, storage=url, study_name="w",
               n_jobs=2)
    counted = res.trials[res.trials["status"].isin(["ok", "failed"])]
    assert len(counted) == 14 and (counted["status"] == "ok").all()  # none lost
    assert counted["number"].is_unique
    keys = [config_key(c) for c in _configs(res.__class__(res.study_name, SEED_SPACE, counted))]
    assert len(set(keys)) == 14                                      # none duplicated
    assert counted["worker"].nunique() == 2                          # both workers did trials
    alone = tune(score, RandomTuner(SEED_SPACE, random_state=0), n_trials=14)
    assert keys == [config_key(c) for c in _configs(alone)]          # the very configs one worker would try
    again = tune(slow_score, RandomTuner(SEED_SPACE, random_state=0), n_trials=14, storage=url, study_name="w")
    assert len(again.trials) == len(res.trials)                      # already done: nothing more runs


def test_two_workers_on_postgresql(tmp_path, monkeypatch):
    url = os.environ.get("METAHPO_TEST_POSTGRES")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide a PostgreSQL server: METAHPO_TEST_POSTGRES is not set")
        pytest.skip("no PostgreSQL server: set METAHPO_TEST_POSTGRES (.ci/run starts one)")
    name = f"pg-{os.getpid()}-{time.time_ns()}"
    (tmp_path / "barrier").mkdir()
    monkeypatch.setenv("METAHPO_TEST_BARRIER", str(tmp_path / "barrier"))
    res = tune(barrier_score, RandomTuner(SEED_SPACE, random_state=0), n_trials=10, storage=url, study_name=name,
               n_jobs=2)
    counted = res.trials[res.trials["status"].isin(["ok", "failed"])]
    assert len(counted) == 10 and counted["worker"].nunique() == 2
    assert res.best["val_accuracy"] == pytest.approx(max(score(c) for c in _configs(res.__class__(
        res.study_name, SEED_SPACE, counted))))
    optuna.delete_study(study_name=name, storage=url)


# ---- bad input --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url,err,msg", [
    ("not-a-url", ValueError, "is not a storage URL"),
    ("postgresql://user@@:x/db", ValueError, "malformed"),
    ("postgresql://user:pw@127.0.0.1:9/db", ConnectionError, "could not be opened"),
])
def test_bad_storage(url, err, msg):
    with pytest.raises(err, match=msg):
        tune(score, RandomTuner(SEED_SPACE, random_state=0), n_trials=1, storage=url)


def test_resuming_with_another_space_names_the_difference(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    tune(score, RandomTuner(SEED_SPACE, random_state=0), n_trials=2, storage=url, study_name="s")
    other = SearchSpace(tuple(p if p.name != "units" else Int("units", 32, 512, log=True) for p in SEED_SPACE.params))
    with pytest.raises(ValueError, match="another search space.*units: Int\\(64, 256.*Int\\(32, 512"):
        tune(score, RandomTuner(other, random_state=0), n_trials=4, storage=url, study_name="s")


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_n_trials_must_be_positive(n):
    with pytest.raises(ValueError, match=f"n_trials={n!r} must be a whole number > 0"):
        tune(score, RandomTuner(SEED_SPACE, random_state=0), n_trials=n)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match="stopping rule"):
        tune(score, RandomTuner(SEED_SPACE, random_state=0))
    with pytest.raises(ValueError, match="needs a storage shared between processes"):
        tune(score, RandomTuner(SEED_SPACE, random_state=0), n_trials=2, n_jobs=2)
    with pytest.raises(ValueError, match="is not a metahpo_kit Tuner"):
        tune(score, optuna.samplers.TPESampler(), n_trials=2)


def test_space_is_exhausted_cleanly():
    tiny = SearchSpace((Categorical("optimizer", ("adam", "sgd")), Float("lr", 0.01, 0.1, values=(0.01, 0.1))))
    res = tune(score, RandomTuner(tiny, random_state=0), n_trials=10)
    assert len(res.trials) == 4
    assert GridTuner(tiny).ask([Observation(c, 0.5) for c in tiny.grid()[:3]]) == tiny.grid()[3]


@pytest.mark.parametrize("name", [n for n in TUNER_FACTORIES if n != "HyperbandTuner"])
def test_tuner_sampler_in_optunas_own_loop(name, tmp_path):
    from metahpo_kit.sampler import TunerSampler
    from metahpo_kit.study import suggest_config
    storage = make_storage(str(tmp_path / "s.log"))
    study = optuna.create_study(direction="maximize", storage=storage,
                                sampler=TunerSampler(TUNER_FACTORIES[name](SEED_SPACE, 2), seed=0))
    study.optimize(lambda trial: score(suggest_config(trial, SEED_SPACE)), n_trials=8)
    configs = [SEED_SPACE.validate(t.params) for t in study.trials]
    assert len({config_key(c) for c in configs}) == 8
    assert configs == _configs(tune(score, TUNER_FACTORIES[name](SEED_SPACE, 2), n_trials=8))


# ---- TPE's and GP's random start-up -----------------------------------------------------------------------

def _random_sampler_answer(tuner, history):
    "What Optuna's RandomSampler, seeded as the tuner seeds its sampler, proposes after `history`."
    import warnings
    from metahpo_kit.space import seed_for
    from metahpo_kit.tuners import replay
    study = replay(history, tuner.space, optuna.samplers.RandomSampler(seed=seed_for(tuner.random_state, len(history))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuner.space.validate(study.ask(tuner.space.to_optuna()).params)


@pytest.mark.parametrize("cls", [TPETuner, GPTuner])
def test_in_startup_says_when_the_sampler_is_random(cls):
    # on a continuous space a model-based proposal equals the random sampler's only by chance (probability 0), so
    # `in_startup` is checked against what Optuna really did; trials 1 and 3 fail and must not count
    tuner = cls(CONTINUOUS, random_state=1, n_startup_trials=3)
    history, said, was_random = [], [], []
    for i in range(8):
        said.append(tuner.in_startup(history))
        c = tuner.ask(history)
        was_random.append(c == _random_sampler_answer(tuner, history))
        history.append(Observation(c, None, "failed") if i in (1, 3) else Observation(c, score(c)))
    assert said == was_random
    assert said == [True] * 5 + [False] * 3       # 3 scored trials are reached only at trial 5


def test_check_budget_warns_when_every_trial_is_random(recwarn):
    with pytest.warns(UserWarning, match="TPETuner: n_trials=4 <= n_startup_trials=5.*random search"):
        TPETuner(SEED_SPACE, n_startup_trials=5).check_budget(4)
    with pytest.warns(UserWarning, match="GPTuner: n_trials=3 <= n_startup_trials=3"):
        GPTuner(SEED_SPACE, n_startup_trials=3).check_budget(3)
    recwarn.clear()
    TPETuner(SEED_SPACE, n_startup_trials=5).check_budget(6)
    RandomTuner(SEED_SPACE).check_budget(1)
    PortfolioTuner(SEED_SPACE).check_budget(1)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_tune_says_when_tpe_never_models():
    with pytest.warns(UserWarning, match="n_trials=3 <= n_startup_trials=3"):
        tune(score, TPETuner(SEED_SPACE, random_state=0, n_startup_trials=3), n_trials=3)


@pytest.mark.parametrize("make", [
    lambda: ManualTuner(SEED_SPACE, random_state=0), lambda: RandomTuner(SEED_SPACE, random_state=0),
    lambda: GridTuner(SEED_SPACE), lambda: TPETuner(SEED_SPACE, random_state=0, n_startup_trials=2),
    lambda: GPTuner(SEED_SPACE, random_state=0, n_startup_trials=2), lambda: HyperbandTuner(SEED_SPACE, random_state=0),
    lambda: PortfolioTuner(random_state=0).fit(synthetic_metadataset(n_tasks=4)),
    lambda: SimilarityTuner().fit(synthetic_metadataset(n_tasks=4)),
    lambda: MAMLTuner(n_steps=2, random_state=0).fit(synthetic_metadataset(n_tasks=4)),
    lambda: DeepKernelTuner(n_steps=2, random_state=0).fit(synthetic_metadataset(n_tasks=4))],
    ids=["manual", "random", "grid", "tpe", "gp", "hyperband", "portfolio", "similarity", "maml", "dkgp"])
def test_every_history_form_gives_the_same_proposal(make):
    import pandas as pd
    tuner = make()
    seen = [Observation(c, 0.5 + 0.1 * i) for i, c in enumerate(tuner.space.sample(3, seed=3))]
    want = tuner.propose(seen)
    forms = [[(o.config, o.score) for o in seen], [{"config": o.config, "score": o.score} for o in seen],
             [{**o.config, "score": o.score} for o in seen], pd.DataFrame([{**o.config, "score": o.score} for o in seen]),
             pd.DataFrame([{**{f"config.{k}": v for k, v in o.config.items()}, "score": o.score} for o in seen])]
    for h in forms:
        assert tuner.propose(h) == want
        assert tuner.ask(h) == want[0]
    with pytest.raises(ValueError, match="history item 1 is 'oops'; a history is a list of Observation"):
        tuner.ask([seen[0], "oops"])


# ---- the study's metric, each trial's source, its line, and budgets a multi-fidelity tuner keeps -------------

def two_scores(config):
    "Accuracy likes large learning rates and adam; this macro-F1 likes small learning rates and sgd."
    return {"val_accuracy": score(config),
            "val_f1": 0.3 - 0.05 * math.log10(config["lr"]) + 0.05 * (config["optimizer"] == "sgd")}


def test_metric_f1_picks_the_trial_with_the_best_validation_f1():
    by_acc = tune(two_scores, RandomTuner(SEED_SPACE, random_state=0), n_trials=12)
    by_f1 = tune(two_scores, RandomTuner(SEED_SPACE, random_state=0), n_trials=12, metric="f1")
    assert _configs(by_acc) == _configs(by_f1)               # the same 12 trials (random search ignores scores)
    t = by_f1.trials
    assert by_f1.best["number"] == t.loc[t["val_f1"].idxmax(), "number"]
    assert by_acc.best["number"] == t.loc[t["val_accuracy"].idxmax(), "number"]
    assert by_f1.best["number"] != by_acc.best["number"]     # the two metrics crown different trials here
    assert by_f1.best_config == _configs(by_f1)[by_f1.best["number"]]
    assert [tr.value for tr in by_f1.study.trials] == list(t["val_f1"])
    assert "best val_f1=" in repr(by_f1)


def test_metric_f1_on_an_imbalanced_task_trains_on_validation_f1():
    import torch
    from sklearn.datasets import make_classification
    from metahpo_kit.tasks import Task
    from metahpo_kit.train import Budget
    X, y = make_classification(n_samples=400, n_features=6, n_informative=3, weights=[0.93], random_state=0)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    assert y.float().mean() < 0.1
    cuts = {"train": slice(0, 240), "valid": slice(240, 320), "test": slice(320, 400)}
    rare = Task("rare", "tabular", ["negative", "positive"], X={s: X[c] for s, c in cuts.items()},
                y={s: y[c] for s, c in cuts.items()})
    res = tune(rare, RandomTuner(SEED_SPACE, random_state=0), n_trials=4, budget=Budget(epochs=2), metric="f1")
    ok = res.ok
    assert len(ok) >= 2 and ok["val_f1"].between(0, 1).all() and ok["test_f1"].notna().all()
    assert res.best["number"] == ok.loc[ok["val_f1"].astype(float).idxmax(), "number"]
    assert [t.value for t in res.study.trials if t.value is not None] == list(ok["val_f1"])


def test_bad_metric_and_a_missing_score_and_a_resumed_study_with_another_metric(tmp_path):
    with pytest.raises(ValueError, match=r"metric='auc' is not one of \['accuracy', 'f1'\]"):
        tune(score, n_trials=2, metric="auc")
    with pytest.raises(ValueError, match="metric='f1' maximises val_f1, and the objective 'score' reported none"):
        tune(score, n_trials=2, metric="f1")
    url = str(tmp_path / "s.log")
    tune(two_scores, RandomTuner(SEED_SPACE, random_state=0), n_trials=2, storage=url, study_name="s")
    with pytest.raises(ValueError, match="maximises metric='accuracy'; it cannot resume with metric='f1'"):
        tune(two_scores, RandomTuner(SEED_SPACE, random_state=0), n_trials=4, storage=url, study_name="s", metric="f1")


@pytest.mark.parametrize("name", ["MAMLTuner", "DeepKernelTuner", "RandomTuner"])
def test_each_trial_records_the_source_that_chose_it(name, capsys):
    tuner = TUNER_FACTORIES[name](SEED_SPACE, 0)
    res = tune(score, tuner, n_trials=5, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    if name == "RandomTuner":
        assert res.trials["source"].isna().all()
        assert all(line.split()[2] == "random" for line in lines)
        return
    hist, expected = [], []
    for c in _configs(res):
        expected.append(tuner.next_source(hist))
        hist.append(Observation(c, score(c)))
    assert list(res.trials["source"]) == expected and set(expected) >= {"prior", "surrogate"}
    assert [t.user_attrs["source"] for t in res.study.trials] == expected
    assert [line.split()[2] for line in lines] == expected


def test_verbose_prints_one_line_per_trial_with_its_limit(capsys):
    from metahpo_kit.train import Budget
    tune("wine", RandomTuner(SEED_SPACE, random_state=0), n_trials=2, budget=Budget(epochs=1), verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"trial {i}  random     (val_accuracy \d\.\d{{4}}|failed \(.*\))  1 epochs  \d+\.\d s  "
                            r"stopped by (epochs|diverged)", line), line


def test_hyperband_never_trains_a_trial_past_the_study_budget():
    from metahpo_kit.train import Budget
    res = tune("wine", make_tuner("hyperband", random_state=0), n_trials=13, budget=Budget(epochs=2))
    assert len(res.trials) == 13
    assert res.trials["budget.epochs"].max() <= 2 and res.trials["epochs"].max() <= 2
    assert res.trials["epochs_budget"].max() <= 2
    given = []

    def budgeted(config, budget=None):
        given.append(budget.epochs)
        return score(config, budget)
    tune(budgeted, HyperbandTuner(SEED_SPACE, random_state=0), n_trials=40, budget=Budget(epochs=27))   # bracket 1
    assert max(given) == 27 and set(given) == {1, 3, 9, 27}
    with pytest.raises(ValueError, match="max_epochs=9 is more than the study's budget of 2 epochs"):
        tune(score, HyperbandTuner(SEED_SPACE, max_epochs=9), n_trials=3, budget=Budget(epochs=2))
