"Tests for the deep-kernel GP tuner: bad input, every history form, task ids of any type, copies, Optuna, failures."
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.lookup import TabularObjective
from metahpo_kit.metadata import MetaDataset
from metahpo_kit.space import SEED_SPACE, Categorical, Float, SearchSpace, config_key
from metahpo_kit.sampler import TunerSampler
from metahpo_kit.study import suggest_config
from metahpo_kit.tasks import base_dataset
from metahpo_kit.transfer import normalised_tasks, synthetic_metadataset
from metahpo_kit.tuners import Observation, clone, variant

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)

REPO = Path(__file__).resolve().parents[1]
# the deep-kernel GP's ablations of one switch (bench/ablations.py names them so)
PooledKernel = variant(DeepKernelTuner, pooled=True)
ConditionedMean = variant(DeepKernelTuner, condition_mean=True)


@pytest.fixture(scope="module")
def syn():
    return synthetic_metadataset(8, seed=0)


@pytest.fixture(scope="module")
def tuner(syn):
    return DeepKernelTuner(n_steps=40, random_state=0).fit(syn, exclude_tasks=["synth0"])


def _scores(md, task):
    table = TabularObjective(md, task)
    return lambda c: table(c).val_accuracy


def _run(t, score, n, task=None):
    hist = []
    for _ in range(n):
        c = t.ask(hist, task=task)
        hist.append(Observation(c, score(c)))
    return hist


def test_bad_input_names_the_field_and_what_is_allowed(syn, tuner):
    with pytest.raises(ValueError, match="at least two tasks"):
        DeepKernelTuner(n_steps=1).fit(syn.filter(tasks=["synth1"]))
    other = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Categorical("opt", ("adam", "sgd"))))
    with pytest.raises(ValueError, match="another search space"):
        DeepKernelTuner(other, n_steps=1).fit(syn)
    with pytest.raises(ValueError, match="not fitted"):
        DeepKernelTuner().ask([])
    with pytest.raises(ValueError, match="not fitted"):
        DeepKernelTuner().predict([])
    bad = [Observation(dict(lr=0.01, batch_size=32, layers=9, units=128, optimizer="sgd", dropout=0.2), 0.5)]
    with pytest.raises(ValueError, match=r"history\[0\].config.*layers=9"):
        tuner.ask(bad)
    for kwargs, msg in [(dict(acquisition="pi"), r"acquisition='pi': must be one of \['ei', 'ucb', 'mean'\]$"),
                        (dict(zero_shot="network"), r"zero_shot='network': must be one of \['prior', 'surrogate'\]$"),
                        (dict(kappa=-1.0), r"kappa=-1.0: must be a finite number >= 0 \(UCB's weight on the spread\)$"),
                        (dict(n_cover=1.5), r"n_cover=1.5: must be an integer >= 0 \(0: the surrogate right after"),
                        (dict(n_candidates=-1), r"n_candidates=-1: must be an integer >= 0, or None \(random"),
                        (dict(hidden=(64, 0)), r"hidden=\(64, 0\): must be a non-empty tuple of integers >= 1"),
                        (dict(n_features=0), r"n_features=0: must be an integer >= 1$"),
                        (dict(epochs=0), r"epochs=0: must be an integer >= 1 \(the epoch budget of the training "
                                         r"scores\), or None")]:
        with pytest.raises(ValueError, match=msg):
            DeepKernelTuner(n_steps=1, **kwargs).fit(syn)
    with pytest.raises(ValueError, match=r"prior_mix=2 \(a switch of DeepKernelTuner_prior_mix=2: a class attribute\): "
                                         r"must be a number in \[0, 1\] \(1: the kernel's weights only\), or None"):
        variant(DeepKernelTuner, prior_mix=2)(n_steps=1).fit(syn)
    with pytest.raises(ValueError, match=r"floor=0.5 \(a switch of .*: a class attribute\): must be a finite number < 0"):
        variant(DeepKernelTuner, floor=0.5)(n_steps=1).fit(syn)
    with pytest.raises(ValueError, match="has no parameter 'beta'"):          # UCB's weight is kappa, as MAML's
        DeepKernelTuner().set_params(beta=1.0)
    assert DeepKernelTuner().set_params(kappa=1.0).kappa == 1.0
    DeepKernelTuner(epochs=np.int64(2), hidden=(np.int64(8),), n_features=np.int64(4), n_steps=np.int64(1),
                    n_cover=np.int64(1), n_candidates=np.int64(0), random_state=np.int64(0)).check_args()   # NumPy ints
    with pytest.raises(TypeError):
        DeepKernelTuner(SEED_SPACE, None)      # keyword-only after the space


def test_the_prior_chooses_its_bandwidth_and_mix_unless_given(syn, tuner):
    "Default: the (bandwidth, mix) pair of least leave-one-dataset-out regret over the training tasks; a switch fixes one."
    from metahpo_kit.meta import BANDWIDTHS, PRIOR_MIXES, choose_prior
    pairs = tuner.prior_regret_
    assert {h for h, _ in pairs} == set(BANDWIDTHS) and {m for _, m in pairs} == set(PRIOR_MIXES)
    assert pairs[(tuner.bandwidth_, tuner.prior_mix_)] == min(pairs.values())
    fixed = variant(DeepKernelTuner, prior_mix=0.5, bandwidth=1.0)(n_steps=0).fit(syn, exclude_tasks=["synth0"])
    assert (fixed.bandwidth_, fixed.prior_mix_) == (1.0, 0.5) and list(fixed.prior_regret_) == [(1.0, 0.5)]
    mix_only = variant(DeepKernelTuner, prior_mix=0.5)(n_steps=0).fit(syn, exclude_tasks=["synth0"])
    assert mix_only.prior_mix_ == 0.5 and {m for _, m in mix_only.prior_regret_} <= {0.5, 1.0}   # 1.0: h = inf only
    # the same choice as the function on the tuner's own table
    groups = [base_dataset(t) for t in tuner.train_tasks_]
    assert choose_prior(tuner.prior_Y_, tuner.prior_Z_, groups, mixes=PRIOR_MIXES)[0] == (tuner.bandwidth_,
                                                                                          tuner.prior_mix_)


def test_every_history_form_gives_the_same_answer(syn, tuner):
    score = _scores(syn, "synth0")
    hist = _run(tuner, score, 3, task="synth0")
    want = tuner.ask(hist, task="synth0")
    pairs = [(o.config, o.score) for o in hist]
    dicts = [{"config": o.config, "score": o.score} for o in hist]
    frame = pd.DataFrame([{**o.config, "score": o.score} for o in hist])
    for form in (pairs, dicts, frame):
        assert tuner.ask(form, task="synth0") == want
    with pytest.raises(ValueError, match="history"):
        tuner.ask([("not a config", 0.5)])


def test_same_seed_same_tuner_and_another_seed_another(syn, tuner):
    twin = DeepKernelTuner(n_steps=40, random_state=0).fit(syn, exclude_tasks=["synth0"])
    for k, v in tuner.params_.items():
        np.testing.assert_array_equal(v, twin.params_[k])
    other = DeepKernelTuner(n_steps=40, random_state=1).fit(syn, exclude_tasks=["synth0"])
    assert not np.allclose(other.params_["fw0"], tuner.params_["fw0"])
    score = _scores(syn, "synth0")
    assert [o.config for o in _run(tuner, score, 5, "synth0")] == [o.config for o in _run(twin, score, 5, "synth0")]


def test_never_repeats_and_a_failed_trial_counts_as_tried_not_as_data(syn, tuner):
    score = _scores(syn, "synth2")
    hist = _run(tuner, score, 12, task="synth2")
    assert len({config_key(o.config) for o in hist}) == 12
    first = tuner.ask([], task="synth2")
    failed = [Observation(first, None, "failed")]
    assert tuner.next_source(failed) == "prior"                # nothing scored yet: still the prior's turn
    assert config_key(tuner.ask(failed, task="synth2")) != config_key(first)
    mu_f, _ = tuner.predict(failed, [first])
    mu_0, _ = tuner.predict([], [first])
    np.testing.assert_allclose(mu_f, mu_0)                      # a failure is not an observation of the surface


def test_the_prior_follows_meta_features_and_without_a_task_weighs_tasks_equally(syn, tuner):
    "The prior's first pick, each task of the family held out in turn, against the best config on average."
    prior, plain = [], []
    for t in syn.tasks:
        ts = normalised_tasks(syn)[t]
        table = dict(zip(ts.keys, ts.y))
        fitted = DeepKernelTuner(n_steps=1, random_state=0).fit(syn, exclude_tasks=[t])
        prior.append(table[config_key(fitted.ask([], task=t))])
        plain.append(table[config_key(fitted.ask([]))])          # an unknown task: every training task weighs the same
        assert fitted.ask([], task=t) == fitted.ask([], task=syn.meta_features(t))   # an id or its meta-features
    assert np.mean(prior) > np.mean(plain) + 0.2                  # the shift meta-feature moves the best config


def test_task_ids_of_any_type_are_left_out_or_refused():
    space = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Float("wd", 0.0, 0.1)))
    rows = []
    configs = space.sample(30, seed=0)                 # every task on the same configs, as a tabular benchmark
    for t in (3945, 3946, 3947, 3948):
        for c in configs:
            rows.append({"task": t, **c, "score": -abs(np.log10(c["lr"]) + 2 + (t - 3946) / 2)})
    md = MetaDataset.from_frame(pd.DataFrame(rows), space=space)
    t = DeepKernelTuner(space, n_steps=10, n_candidates=200, random_state=0)
    for ids in ([3945], "3945", ["3945"]):
        assert "3945" not in t.fit(md, exclude_tasks=ids).train_tasks_
    with pytest.raises(ValueError, match="not tasks of this meta-dataset"):
        t.fit(md, exclude_tasks=[9999])
    # a continuous space whose tasks share configs: the prior's first pick and its cover are among them, then the GP
    t.fit(md, exclude_tasks=[3945])
    assert t.mf_names_ == []
    hist = []
    for source in ("prior", "cover", "cover"):
        assert t.next_source(hist) == source
        hist.append(Observation(c := t.ask(hist), 0.5))
        assert config_key(c) in {config_key(x) for x in configs}
    assert t.next_source(hist) == "surrogate"
    space.validate(t.ask(hist))
    assert t.ask(hist) == t.ask(hist)


def test_a_clone_shares_nothing_and_the_original_is_unchanged(syn, tuner):
    before = {k: v.copy() for k, v in tuner.params_.items()}
    ask_before = tuner.ask([], task="synth0")
    twin = clone(tuner).set_params(random_state=1)
    assert not hasattr(twin, "params_") and tuner.random_state == 0
    twin.fit(syn, exclude_tasks=["synth0"])
    _run(twin, _scores(syn, "synth0"), 4, "synth0")
    for k, v in before.items():
        np.testing.assert_array_equal(tuner.params_[k], v)
    assert tuner.ask([], task="synth0") == ask_before
    again = pickle.loads(pickle.dumps(tuner))
    hist = _run(tuner, _scores(syn, "synth0"), 3, "synth0")
    assert again.ask(hist, task="synth0") == tuner.ask(hist, task="synth0")


def test_the_pooled_ablation_changes_only_its_switch(syn):
    pooled = PooledKernel(n_steps=20, random_state=0)
    assert pooled.get_params() == DeepKernelTuner(n_steps=20, random_state=0).get_params()
    assert pooled.pooled and not DeepKernelTuner.pooled
    pooled.fit(syn, exclude_tasks=["synth0"])
    plain = DeepKernelTuner(n_steps=20, random_state=0).fit(syn, exclude_tasks=["synth0"])
    assert not np.allclose(pooled.params_["fw0"], plain.params_["fw0"])   # same seed, other batches


def test_the_conditioned_mean_reads_the_task_and_only_with_its_switch(syn, tuner):
    with pytest.raises(ValueError, match=r"condition_mean.*True or False"):
        variant(DeepKernelTuner, condition_mean="yes")(n_steps=20).fit(syn, exclude_tasks=["synth0"])
    cond = ConditionedMean(n_steps=20, random_state=0).fit(syn, exclude_tasks=["synth0"])
    grid = SEED_SPACE.grid()[:200]
    # the prior mean moves with the task's meta-features; the shipped one is one function of the config
    assert not np.allclose(cond.predict([], grid, task="synth0")[0], cond.predict([], grid, task="synth1")[0])
    assert np.allclose(tuner.predict([], grid, task="synth0")[0], tuner.predict([], grid, task="synth1")[0])
    # what `ask` ranks is cached per task: after asking for synth0, synth1 gets its own means again
    hist = [Observation(grid[0], 0.5)]
    fresh = clone(cond).fit(syn, exclude_tasks=["synth0"])
    assert type(fresh) is ConditionedMean and fresh.condition_mean
    cond.ask(hist, task="synth1")
    cond.ask(hist, task="synth0")
    assert np.allclose(cond.predict(hist, task="synth1")[0], fresh.predict(hist, task="synth1")[0])
    assert cond.ask(hist, task="synth1") == fresh.ask(hist, task="synth1")


def _check(*argv):
    "Run a bench script's self-check as a subprocess (tests import nothing from bench/)."
    out = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout


def test_the_kernel_ablations_check_themselves():
    """bench/ablations.py --check: AdaptedKernel is the default on a one-point grid and calls scores without structure
    noise; CurveKernel trains on every epoch and reads a config at the budget."""
    out = _check("bench/ablations.py", "--check")
    assert "AdaptedKernel: ok" in out and "CurveKernel: ok" in out


def test_the_benchmarks_fit_cache_gives_what_a_refit_would():
    "bench/surrogate_bench.py check: SharedFit's cache (in memory and on disk) gives the parameters a refit would."
    assert "SharedFit: ok" in _check("bench/surrogate_bench.py", "check")


def test_as_an_optuna_sampler(syn, tuner):
    study = optuna.create_study(direction="maximize", sampler=TunerSampler(tuner, seed=0, task="synth0"))
    table = TabularObjective(syn, "synth0")
    study.optimize(lambda t: table(suggest_config(t, SEED_SPACE)).val_accuracy, n_trials=4)
    hist = []
    for t in study.trials:
        assert t.params == tuner.ask(hist, task="synth0")
        hist.append(Observation(t.params, t.value))


def test_without_shared_configs_the_prior_says_so_once_and_the_gp_picks_first():
    space = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Float("wd", 0.0, 0.1)))
    rows = []
    for t in range(4):                                   # each task its own configs: nothing shared
        for c in space.sample(30, seed=10 + t):
            rows.append({"task": f"t{t}", **c, "score": -abs(np.log10(c["lr"]) + 2)})
    md = MetaDataset.from_frame(pd.DataFrame(rows), space=space)
    with pytest.warns(UserWarning, match="no two training tasks share a config"):
        t = DeepKernelTuner(space, n_steps=10, n_candidates=100, random_state=0).fit(md, exclude_tasks=["t0"])
    assert not t.prior_usable_ and t.next_source([]) == "surrogate"
    assert t.prior_Y_.shape == (3, 90)                   # the table of the prior is still built: one task a config
    assert t.ask([]) == clone(t, zero_shot="surrogate").fit(md, exclude_tasks=["t0"]).ask([])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # zero_shot="surrogate" has nothing to warn about
        DeepKernelTuner(space, n_steps=1, zero_shot="surrogate").fit(md, exclude_tasks=["t0"])


def test_on_a_shared_pool_the_default_ranks_the_pool_then_goes_beyond_it():
    space = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Float("wd", 0.0, 0.1)))
    pool = space.sample(8, seed=0)
    rows = [{"task": f"t{t}", **c, "score": -abs(np.log10(c["lr"]) + 1 + t / 3)} for t in range(4) for c in pool]
    md = MetaDataset.from_frame(pd.DataFrame(rows), space=space)
    t = DeepKernelTuner(space, n_steps=10, random_state=0).fit(md, exclude_tasks=["t0"])
    keys = {config_key(c) for c in pool}
    hist = []
    for _ in range(10):
        c = t.ask(hist)
        hist.append(Observation(c, -abs(np.log10(c["lr"]) + 1)))
    assert [config_key(o.config) in keys for o in hist] == [True] * 8 + [False] * 2
    wide = clone(t, n_candidates=50).fit(md, exclude_tasks=["t0"])
    first = _run(wide, lambda c: -abs(np.log10(c["lr"]) + 1), 4)
    assert any(config_key(o.config) not in keys for o in first)   # random candidates from the start
