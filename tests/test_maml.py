"Tests for the MAML hyper-learner: gradients, adaptation, zero-shot ranking, persistence, Optuna sampler contract."
import copy
import inspect
import json
import math
import multiprocessing
import os
from functools import partial

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.testing.pytest_samplers import BasicSamplerTestCase
from scipy.stats import spearmanr

from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.maml import MAMLTuner, adapt, adapt_ensemble, episode_loss, init_params, rank_loss, surrogate
from metahpo_kit.meta import BANDWIDTHS, PRIOR_MIXES, prior_weights
from metahpo_kit.sampler import MetaSampler
from metahpo_kit.lookup import TabularObjective
from metahpo_kit.metadata import MetaDataset
from metahpo_kit.space import Categorical, Float, SEED_SPACE, SearchSpace
from metahpo_kit.transfer import normalised_tasks, synthetic_metadataset
from metahpo_kit.space import config_key
from metahpo_kit.study import suggest_config, tune
from metahpo_kit.tuners import Observation, clone, variant
from metahpo_kit.train import F64_RTOL

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)

# the ablations of the switches (bench/ablations.py names them so): each a subclass that sets switches
ZeroShotOnly = variant(MAMLTuner, adapt_in_suggest=False)
FixedInnerLR = variant(MAMLTuner, learn_inner_lr=False)
MultiTaskFinetune = variant(MAMLTuner, p_zero=1.0, learn_inner_lr=False)
SecondOrder = variant(MAMLTuner, first_order=False)
EqualWeightsPrior = variant(MAMLTuner, bandwidth=math.inf)
KernelOnlyPrior = variant(MAMLTuner, prior_mix=1.0)


@pytest.fixture(scope="module")
def syn():
    return synthetic_metadataset(8, seed=0)


_FITTED = {}


def fitted(syn=None) -> MAMLTuner:
    "A small tuner fitted on the synthetic family less synth0 (once per test session)."
    if "t" not in _FITTED:
        md = syn if syn is not None else synthetic_metadataset(8, seed=0)
        _FITTED["t"] = MAMLTuner(random_state=0).fit(md, exclude_tasks=["synth0"])
    return _FITTED["t"]


def fitted_net(syn) -> MAMLTuner:
    "The same with meta-features as network inputs and the network's zero-shot ranking."
    if "net" not in _FITTED:
        _FITTED["net"] = MAMLTuner(use_meta_features=True, zero_shot="surrogate", random_state=0).fit(
            syn, exclude_tasks=["synth0"])
    return _FITTED["net"]


def _tiny(seed=0):
    g = torch.Generator().manual_seed(seed)
    P = {k: v[0] for k, v in init_params(3, (5,), n_members=1, generator=g, dtype=torch.float64).items()}
    data = [torch.rand(n, *s, generator=g, dtype=torch.float64) for n, s in ((6, (3,)), (6, ()), (9, (3,)), (9, ()))]
    return P, data


def test_maml_gradient_matches_finite_differences(first_order=False):
    "The exact (second-order) outer gradient, w.r.t. the weights and the Meta-SGD rates, equals central differences."
    P, (Xs, ys, Xq, yq) = _tiny()
    L = {k: torch.full_like(v, 0.7) for k, v in P.items()}
    names = list(P)
    flat = torch.cat([P[k].flatten() for k in names] + [L[k].flatten() for k in names])
    shapes = [P[k].shape for k in names]

    def loss_of(vec):
        out, i = [], 0
        for s in shapes + shapes:
            n = int(np.prod(s)) if len(s) else 1
            out.append(vec[i:i + n].reshape(s))
            i += n
        p = dict(zip(names, out[:len(names)]))
        l = dict(zip(names, out[len(names):]))
        return episode_loss(p, l, Xs, ys, Xq, yq, steps=2, first_order=first_order)

    v = flat.clone().requires_grad_(True)
    analytic = torch.autograd.grad(loss_of(v), v)[0]
    rng = np.random.default_rng(0)
    idx = rng.choice(len(flat), 25, replace=False)
    h = 1e-6
    for i in idx:
        e = torch.zeros_like(flat)
        e[i] = h
        numeric = (loss_of(flat + e) - loss_of(flat - e)) / (2 * h)
        # float64 central differences: truncation error ~h^2 = 1e-12, rounding ~u/h = 1e-10; the bound is far above both
        assert abs(float(numeric) - float(analytic[i])) < 1e-6 + 1e-4 * abs(float(numeric)), (i, numeric, analytic[i])
    # the check can fail: the first-order gradient of the same loss is not the true gradient
    P2 = {k: v.clone().requires_grad_(True) for k, v in P.items()}
    fo = torch.autograd.grad(episode_loss(P2, L, Xs, ys, Xq, yq, steps=2, first_order=True), list(P2.values()))
    fo = torch.cat([t.flatten() for t in fo])
    exact = analytic[:len(fo)]
    assert (fo - exact).norm() / exact.norm() > 1e-3


def test_first_and_second_order_agree_for_a_tiny_step():
    P, (Xs, ys, Xq, yq) = _tiny(1)

    def g(lr, fo):
        p = {k: v.clone().requires_grad_(True) for k, v in P.items()}
        l = {k: torch.full_like(v, lr) for k, v in P.items()}
        return torch.cat([t.flatten() for t in torch.autograd.grad(
            episode_loss(p, l, Xs, ys, Xq, yq, steps=1, first_order=fo), list(p.values()))])

    small = (g(1e-5, True) - g(1e-5, False)).norm() / g(1e-5, False).norm()
    large = (g(1.0, True) - g(1.0, False)).norm() / g(1.0, False).norm()
    assert small < 1e-4
    assert large > 100 * small


def test_adaptation_lowers_support_loss():
    "In float64, so the ensemble's batched arithmetic and one member's agree to float64 rounding (F64_RTOL)."
    g = torch.Generator().manual_seed(3)
    E = init_params(4, (16, 16), n_members=3, generator=g, dtype=torch.float64)
    L = {k: torch.full_like(v, 0.2) for k, v in E.items()}
    Xs, ys = torch.rand(12, 4, generator=g, dtype=torch.float64), torch.rand(12, generator=g, dtype=torch.float64)
    a = adapt_ensemble(E, L, Xs, ys, steps=5)
    for m in range(3):
        before = rank_loss(surrogate({k: v[m] for k, v in E.items()}, Xs), ys)
        after = rank_loss(surrogate({k: v[m] for k, v in a.items()}, Xs), ys)
        assert after < before
        one = adapt({k: v[m] for k, v in E.items()}, {k: v[m] for k, v in L.items()}, Xs, ys, steps=5)
        for k in one:
            torch.testing.assert_close(one[k], a[k][m], rtol=F64_RTOL, atol=F64_RTOL)


def test_zero_shot_ranks_a_synthetic_family_better_than_chance(syn):
    tuner = fitted_net(syn)
    ts = normalised_tasks(syn)["synth0"]
    X, y, keys = ts.X, ts.y, ts.keys
    z = tuner._task_vector(syn.meta_features("synth0"))
    with torch.no_grad():
        from metahpo_kit.maml import ensemble_scores
        f = ensemble_scores(tuner.params_, torch.as_tensor(tuner._task_inputs(X.astype(np.float32), z))).mean(0)
    rho = spearmanr(f.numpy(), y).correlation
    top10 = y[np.argsort(-f.numpy())[:10]].mean()
    assert rho > 0.3                                        # chance: 0
    assert top10 > 0.8                                      # chance: the mean, about 0.45
    first = tuner.ask([], task="synth0")
    assert dict(zip(keys, y))[config_key(first)] > 0.8     # chance: the mean, about 0.45


def test_prior_zero_shot_follows_the_meta_features(syn):
    "The prior's first pick, each task of the family held out in turn, against the best config on average."
    prior, mean = [], []
    for t in syn.tasks:
        ts = normalised_tasks(syn)[t]
        table = dict(zip(ts.keys, ts.y))
        tuner = MAMLTuner(n_steps=1, random_state=0).fit(syn, exclude_tasks=[t])
        assert tuner.bandwidth_ in BANDWIDTHS and tuner.prior_mix_ in PRIOR_MIXES
        assert {h for h, _ in tuner.prior_regret_} == set(BANDWIDTHS)            # the pair is chosen together
        assert {m for _, m in tuner.prior_regret_} == set(PRIOR_MIXES)
        assert tuner.prior_regret_[(tuner.bandwidth_, tuner.prior_mix_)] == min(tuner.prior_regret_.values())
        prior.append(table[config_key(tuner.ask([], task=t))])
        tuner.bandwidth_ = float("inf")
        mean.append(table[config_key(tuner.ask([], task=t))])
    assert np.mean(prior) > np.mean(mean) + 0.2           # the shift meta-feature moves the best config
    tuner = fitted(syn)
    five = tuner.top_untried([], task="synth3", n=5)
    assert len({config_key(c) for c in five}) == 5
    assert tuner.ask([Observation(five[0], None, status="failed")], task="synth3") == five[1]
    tuner.bandwidth_, h = float("inf"), tuner.bandwidth_
    try:
        everyone = tuner.ask([], task="synth3")
    finally:
        tuner.bandwidth_ = h
    assert tuner.ask([]) == everyone                    # an unknown task: every training task weighs the same


def test_prior_mix_runs_from_the_mean_config_to_the_kernel(syn):
    """A mix of 0: the best config on average (as bandwidth=inf); 1: the kernel's weights alone; between: a blend. The
    fitted mix (`prior_mix_`, chosen with the bandwidth unless the `prior_mix` switch fixes it) is what `ask` uses."""
    tuner = MAMLTuner(n_steps=1, random_state=0).fit(syn, exclude_tasks=["synth0"])
    h = tuner.bandwidth_ if math.isfinite(tuner.bandwidth_) else 1.0        # a finite bandwidth: the mix matters
    mf = syn.meta_features("synth0")
    def first(**kw):
        saved = {k: getattr(tuner, k) for k in kw}
        try:
            for k, v in kw.items():
                setattr(tuner, k, v)
            return tuner.top_untried([], task=mf, n=3)
        finally:
            for k, v in saved.items():
                setattr(tuner, k, v)
    assert first(prior_mix_=0.0, bandwidth_=h) == first(bandwidth_=float("inf"))
    assert first(prior_mix_=1.0, bandwidth_=h) != first(prior_mix_=0.0, bandwidth_=h)   # synth0's neighbours differ
    assert first(prior_mix=0.0) == first()                     # the switch is read by fit, not by ask
    kernel = KernelOnlyPrior(n_steps=1, random_state=0).fit(syn, exclude_tasks=["synth0"])
    assert kernel.prior_mix_ == 1.0 and {m for _, m in kernel.prior_regret_} == {1.0}
    assert kernel.top_untried([], task=mf, n=3) == first(prior_mix_=1.0, bandwidth_=kernel.bandwidth_)


def test_cover_picks_come_between_the_prior_and_the_network(syn):
    "After the first result, n_cover picks from the prior's greedy portfolio; then the adapted network."
    from metahpo_kit.transfer import greedy_portfolio
    tuner = fitted(syn)
    mf = syn.meta_features("synth0")
    obj = TabularObjective(syn, "synth0")
    hist = []
    for _ in range(tuner.n_cover + 2):
        hist.append(Observation(c := tuner.ask(hist, task=mf), obj(c).val_accuracy))
    keys = tuner.train_keys_                                 # the prior's configs: every training task's
    col = {k: j for j, k in enumerate(keys)}
    w = prior_weights(tuner.prior_Z_, tuner._task_vector(mf), tuner.bandwidth_, tuner.prior_mix_)
    for i in range(1, tuner.n_cover + 1):                   # trials 2 .. n_cover + 1: the cover
        picked = [col[config_key(o.config)] for o in hist[:i]]
        assert config_key(hist[i].config) == keys[greedy_portfolio(np.nan_to_num(tuner.prior_Y_), 1, w, picked)[0]]
    assert tuner.top_untried(hist[:1], task=mf, n=2) == [o.config for o in hist[1:3]]
    n_cover, tuner.n_cover = tuner.n_cover, 0
    try:                                                    # without the cover the surrogate picks the second
        assert tuner.ask(hist[:1], task=mf) != hist[1].config
    finally:
        tuner.n_cover = n_cover


def test_on_a_task_holding_a_subset_the_cover_picks_the_second_and_third_real_trials(syn):
    """A held-out task that recorded 128 of the grid's configs: the benchmark shows each refused proposal back as a
    failed trial, which is not a trial, so the 2nd and 3rd configs that run are still the cover's: the prior's greedy
    portfolio continued from the configs that ran, never choosing a refused one."""
    from metahpo_kit.benchmark import simulate
    from metahpo_kit.build import distinct_sample
    from metahpo_kit.transfer import greedy_portfolio
    keep = {config_key(c) for c in distinct_sample(SEED_SPACE, 128, seed=0)}
    f = syn.frame
    keys = [config_key({p: r[f"config.{p}"] for p in SEED_SPACE.names}) for r in f[syn.config_cols].to_dict("records")]
    md = MetaDataset(SEED_SPACE, f[[t != "synth0" or k in keep for t, k in zip(f["task"], keys)]].reset_index(drop=True))
    tuner = MAMLTuner(n_steps=20, random_state=0).fit(md, exclude_tasks=["synth0"])
    assert tuner.n_cover == 2
    sources = []
    propose = tuner.propose
    def recording(history=(), task=None):
        sources.append(tuner.next_source(history))
        return propose(history, task=task)
    tuner.propose = recording
    run = simulate(tuner, TabularObjective(md, "synth0"), n_trials=4, task="synth0")
    assert set(run["config"]) <= keep and run["config"].nunique() == 4
    assert run["skipped"].iloc[1:3].sum() > 0                       # the cover proposed configs synth0 lacks
    ran = [sum(run["skipped"].iloc[:i + 1]) + i for i in range(4)]  # the proposal that ran, for each trial
    assert [sources[j] for j in ran] == ["prior", "cover", "cover", "surrogate"]
    grid_keys = tuner.train_keys_                                   # the prior's configs (synth1..7 hold the grid)
    assert sorted(grid_keys) == sorted(config_key(c) for c in SEED_SPACE.grid())
    col = {k: j for j, k in enumerate(grid_keys)}
    w = prior_weights(tuner.prior_Z_, tuner._task_vector("synth0"), tuner.bandwidth_, tuner.prior_mix_)
    lacks = [j for j, k in enumerate(grid_keys) if k not in keep]
    for i in (1, 2):                                                # what the cover picks among synth0's configs
        start = [col[k] for k in run["config"].iloc[:i]]
        pick = greedy_portfolio(np.nan_to_num(tuner.prior_Y_), 1, w, start=start, exclude=lacks)[0]
        assert run["config"].iloc[i] == grid_keys[pick]

def test_ask_never_repeats_and_tune_gives_the_direct_loop(syn):
    "tune passes the objective's task (TabularObjective: its id) to ask, as the direct loop does."
    tuner = fitted(syn)
    obj = TabularObjective(syn, "synth0")
    hist = []
    for _ in range(8):
        c = tuner.ask(hist, task="synth0")
        hist.append(Observation(c, obj(c).val_accuracy))
    assert len({config_key(o.config) for o in hist}) == 8
    res = tune(obj, tuner, n_trials=8)
    got = [config_key({n: r[f"config.{n}"] for n in SEED_SPACE.names}) for r in res.trials.to_dict("records")]
    assert got == [config_key(o.config) for o in hist]


def test_save_load_round_trip(syn, tmp_path):
    tuner = fitted(syn)
    hist = [Observation(c, s) for c, s in zip(SEED_SPACE.sample(6, seed=1), [0.1, 0.5, 0.3, 0.9, 0.2, 0.4])]
    tuner.save(tmp_path / "m.pt")
    again = MAMLTuner.load(tmp_path / "m.pt")
    assert again.top_untried(hist, n=10) == tuner.top_untried(hist, n=10)
    assert again.ask([], task="synth3") == tuner.ask([], task="synth3")
    other = SearchSpace((Float("lr", 1e-4, 1.0, log=True),))
    with pytest.raises(ValueError, match="saved for another search space"):
        MAMLTuner.load(tmp_path / "m.pt", space=other)
    assert again.get_params() == tuner.get_params() and type(again) is MAMLTuner
    for k in MAMLTuner._state:                                  # the shared prior and the network, all of it
        assert k in vars(again), k
    assert (again.bandwidth_, again.prior_mix_, again.prior_usable_) == (tuner.bandwidth_, tuner.prior_mix_, True)
    np.testing.assert_array_equal(again.prior_Y_, tuner.prior_Y_)
    assert all(torch.equal(again.params_[k], v) for k, v in tuner.params_.items())
    mu, sd = tuner.predict(hist, SEED_SPACE.grid()[:20], task="synth3")
    mu2, sd2 = again.predict(hist, SEED_SPACE.grid()[:20], task="synth3")
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(sd, sd2)
    with np.load(tmp_path / "m.pt") as f:                      # NumPy arrays and a JSON header: no pickle
        header = json.loads(f["header"].tobytes())
    assert (header["format"], header["learner"]) == (4, "maml")
    # a file of the older torch format (3), a header of another format, a header that is not a tuner's: refused
    torch.save({**header, "format": 3}, tmp_path / "old3.pt")
    with pytest.raises(ValueError, match=r"old3.pt is not a tuner file of format 4 \(.*\); files written by an older "
                                         r"kit \(format 3, torch\) cannot be read: fit the tuner again and save it"):
        MAMLTuner.load(tmp_path / "old3.pt")
    for name, obj, what in (("other.npz", {**header, "format": 3}, "of format 3, learner 'maml'"),
                            ("list.npz", [1, 2, 3], "a list, not a tuner file")):
        np.savez(tmp_path / name, header=np.frombuffer(json.dumps(obj).encode(), np.uint8))
        with pytest.raises(ValueError, match=rf"{name} is {what}; MAMLTuner.load reads files that MAMLTuner.save "
                                             r"writes \(format 4, learner 'maml'\): fit the tuner again"):
            MAMLTuner.load(tmp_path / name)
    # a switch a subclass set is kept by the loaded tuner, as its own attribute where it differs from the class's
    second = SecondOrder(n_steps=2, random_state=0).fit(syn, exclude_tasks=["synth0"])
    second.adapt_in_suggest = False                             # an instance's own switch, saved as well
    second.save(tmp_path / "second.pt")
    old = MAMLTuner.load(tmp_path / "second.pt")
    assert (old.first_order, old.adapt_in_suggest) == (False, False)
    assert "first_order" in vars(old) and "p_zero" not in vars(old)
    assert old.top_untried(hist, task="synth3", n=5) == second.top_untried(hist, task="synth3", n=5)


def test_load_refuses_the_other_learners_file(syn, tmp_path):
    "One format for both learners, a `learner` key apart: each class's load names what the file is."
    gp = DeepKernelTuner(n_steps=2, random_state=0).fit(syn, exclude_tasks=["synth0"])
    gp.save(tmp_path / "gp.pt")
    with pytest.raises(ValueError, match=r"gp.pt is of format 4, learner 'dkgp'; MAMLTuner.load reads files that MAMLTuner.save "
                                         r"writes \(format 4, learner 'maml'\)"):
        MAMLTuner.load(tmp_path / "gp.pt")
    fitted(syn).save(tmp_path / "maml.pt")
    with pytest.raises(ValueError, match=r"maml.pt is of format 4, learner 'maml'; DeepKernelTuner.load reads files that "
                                         r"DeepKernelTuner.save writes \(format 4, learner 'dkgp'\)"):
        DeepKernelTuner.load(tmp_path / "maml.pt")
    assert DeepKernelTuner.load(tmp_path / "gp.pt").ask([], task="synth0") == gp.ask([], task="synth0")


def test_bad_input(syn):
    with pytest.raises(ValueError, match="at least two tasks"):
        MAMLTuner(n_steps=1).fit(syn.filter(tasks=["synth1"]))
    other = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Categorical("opt", ("adam", "sgd"))))
    with pytest.raises(ValueError, match="another search space"):
        MAMLTuner(other, n_steps=1).fit(syn)
    tuner = fitted(syn)
    bad = [Observation({**SEED_DEFAULT_LIKE, "layers": 9}, 0.5)]
    with pytest.raises(ValueError, match=r"history\[0\].config.*layers=9"):
        tuner.ask(bad)
    with pytest.raises(ValueError, match="not fitted"):
        MAMLTuner().ask([])
    with pytest.raises(ValueError, match=r"acquisition='ei': must be one of \['mean', 'ucb'\]"):
        MAMLTuner(acquisition="ei", n_steps=1).fit(syn)
    with pytest.raises(ValueError, match=r"zero_shot='table': must be one of \['prior', 'surrogate'\]"):
        MAMLTuner(zero_shot="table", n_steps=1).fit(syn)
    with pytest.raises(ValueError, match=r"bandwidth=0.0 \(a switch of MAMLTuner_bandwidth=0.0: a class attribute\): "
                                         r"must be a number > 0"):
        variant(MAMLTuner, bandwidth=0.0)(n_steps=1).fit(syn)
    with pytest.raises(ValueError, match=r"prior_mix=1.5 \(a switch of .*: a class attribute\): must be a number in "
                                         r"\[0, 1\] \(1: the kernel's weights only\), or None to choose it"):
        variant(MAMLTuner, prior_mix=1.5)(n_steps=1).fit(syn)
    with pytest.raises(ValueError, match="n_cover=-1: must be an integer >= 0"):
        MAMLTuner(n_cover=-1, n_steps=1).fit(syn)


SEED_DEFAULT_LIKE = dict(lr=0.01, batch_size=32, layers=2, units=128, optimizer="sgd", dropout=0.2)


def test_next_source_names_the_part_that_picked(syn):
    "prior, then n_cover picks of the cover, then the surrogate; each pick is the one that part would make."
    import copy
    tuner = copy.copy(fitted(syn))
    tuner.acquisition = "mean"                      # so the network's pick is predict's best untried config
    obj = TabularObjective(syn, "synth0")
    grid = SEED_SPACE.grid()
    hist, sources = [], []
    for _ in range(tuner.n_cover + 4):
        sources.append(tuner.next_source(hist))
        c = tuner.ask(hist, task="synth0")
        if sources[-1] == "surrogate":
            p, _ = tuner.predict(hist, grid, task="synth0")
            tried = {config_key(o.config) for o in hist}
            assert c == next(grid[j] for j in np.argsort(-p, kind="stable") if config_key(grid[j]) not in tried)
        hist.append(Observation(c, obj(c).val_accuracy))
    assert sources == ["prior"] + ["cover"] * tuner.n_cover + ["surrogate"] * 3
    assert config_key(hist[0].config) == tuner.prior_of("synth0")[1].idxmax()
    failed = [Observation(hist[0].config, None, "failed")]
    assert tuner.next_source(failed) == "prior"                      # no score yet
    assert tuner.next_source(failed + hist[1:2]) == "cover"          # a failed trial is not a trial
    tuner.n_cover = 0
    assert tuner.next_source(hist[:1]) == "surrogate"


def test_predict_and_prior_of_bad_input(syn):
    tuner = fitted(syn)
    grid = SEED_SPACE.grid()[:5]
    with pytest.raises(ValueError, match=r"configs\[1\]=.*layers=9"):
        tuner.predict([], [grid[0], {**grid[0], "layers": 9}])
    for steps in (-1, 1.5, True):                   # the unadapted network: a copy with inner_steps=0, checked
        with pytest.raises(ValueError, match=rf"inner_steps={steps!r}: must be an integer >= 0"):
            copy.copy(tuner).set_params(inner_steps=steps).predict([], grid)
    with pytest.raises(TypeError, match="steps"):  # predict's own steps= and return_std= are gone
        tuner.predict([], grid, steps=0)
    with pytest.raises(ValueError, match="configs is empty"):
        tuner.predict([], [])
    with pytest.raises(ValueError, match=r"history\[0\].config"):
        tuner.predict([Observation({**grid[0], "lr": 5.0}, 0.5)], grid)
    with pytest.raises(ValueError, match="not fitted"):
        MAMLTuner().predict([], grid)
    with pytest.raises(ValueError, match="not fitted"):
        MAMLTuner().prior_of("synth0")
    mu, sd = tuner.predict([], grid)                                  # always (mean, sd) over the ensemble
    assert mu.shape == sd.shape == (5,) and (sd >= 0).all()
    hist = [Observation(c, s) for c, s in zip(SEED_SPACE.sample(4, seed=2), [0.2, 0.6, 0.4, 0.9])]
    unadapted = copy.copy(tuner).set_params(inner_steps=0)
    assert tuner.inner_steps == 5                                     # the copy's setting is its own
    for a, b in zip(unadapted.predict(hist, grid), unadapted.predict([], grid)):
        np.testing.assert_array_equal(a, b)                           # no inner loop: the trials change nothing
    assert not np.array_equal(tuner.predict(hist, grid)[0], mu)       # adapted: they do
    space = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Float("wd", 0.0, 0.1)))
    rows = [{"task": f"t{t}", **c, "score": -abs(np.log10(c["lr"]) + 3 - t)} for t in range(3)
            for c in space.sample(20, seed=t)]
    with pytest.warns(UserWarning, match="no two training tasks share a config"):
        cont = MAMLTuner(space, n_steps=2, random_state=0).fit(MetaDataset.from_frame(pd.DataFrame(rows), space=space))
    assert not cont.prior_usable_ and cont.prior_Y_.shape == (3, 60)  # each config recorded by one task only
    weights, prior = cont.prior_of()
    assert len(weights) == 3 and len(prior) == 60 and weights.sum() == pytest.approx(1.0)
    assert cont.next_source([]) == "surrogate"                        # no usable prior: the network from the first pick


def test_from_frame_continuous_space_without_meta_features():
    space = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Float("wd", 0.0, 0.1)))
    rows = []
    for t in range(4):
        best = -3.5 + t
        for c in space.sample(40, seed=t):
            rows.append({"task": f"t{t}", **c, "score": -abs(np.log10(c["lr"]) - best)})
    md = MetaDataset.from_frame(pd.DataFrame(rows), space=space)
    with pytest.warns(UserWarning, match="no two training tasks share a config"):
        tuner = MAMLTuner(space, n_steps=30, n_candidates=300, random_state=0).fit(md)
    assert tuner.mf_names_ == []
    assert not tuner.prior_usable_ and tuner.next_source([]) == "surrogate"   # no shared config: the network's pick
    hist = []
    for _ in range(3):
        c = tuner.ask(hist)
        space.validate(c)
        hist.append(Observation(c, -abs(np.log10(c["lr"]) + 2)))
    table = {config_key(c) for c in md.configs()}
    # the pool: every training config, with n_candidates random points (and 100 local moves around each of the best
    # three trials once there are some); before the shared base it held the random points only
    assert len(table) == 160 and len(tuner.predict()[0]) == 300 + 160
    assert len(tuner.predict(hist)[0]) == 300 + 3 * 100 + 160
    assert len({config_key(o.config) for o in hist}) == 3
    assert tuner.ask(hist) == tuner.ask(hist)                    # reproducible from history + random_state


def test_update_keeps_learning(syn):
    tuner = MAMLTuner(n_steps=10, random_state=0).fit(syn, exclude_tasks=["synth0", "synth1"])
    before = {k: v.clone() for k, v in tuner.params_.items()}
    tuner.update(syn.filter(tasks=["synth0"]), n_steps=3)
    assert "synth0" in tuner.train_tasks_
    assert tuner.prior_Y_.shape[0] == len(tuner.train_tasks_) == 7   # the prior knows the new task
    assert len(tuner.losses_) == 13
    assert any(not torch.equal(before[k], tuner.params_[k]) for k in before)


# --- Optuna's own sampler contract -------------------------------------------------------------------------------
class TestMAMLSamplerContract(BasicSamplerTestCase):
    "Optuna's contract for samplers. (MetaSampler, as TunerSampler, answers in `sample_independent`: no relative space.)"

    @pytest.fixture
    def sampler(self):
        return lambda: MetaSampler(fitted(), seed=0)


def test_sampler_uses_the_tuner_on_its_space(syn):
    tuner = fitted(syn)
    mf = syn.meta_features("synth0")
    study = optuna.create_study(direction="maximize", sampler=MetaSampler(tuner, seed=0, task=mf))
    table = TabularObjective(syn, "synth0")
    study.optimize(lambda t: table(suggest_config(t, SEED_SPACE)).val_accuracy, n_trials=4)
    hist = []
    for t in study.trials:
        assert t.params == tuner.ask(hist, task=mf)
        hist.append(Observation(t.params, t.value))


def _worker(path, log, n):
    torch.set_num_threads(1)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    tuner = MAMLTuner.load(path)
    storage = JournalStorage(JournalFileBackend(log))
    study = optuna.load_study(study_name="maml", storage=storage, sampler=MetaSampler(tuner, seed=0, task="synth3"))
    obj = TabularObjective(synthetic_metadataset(8, seed=0), "synth3")
    study.optimize(lambda t: obj(suggest_config(t, SEED_SPACE)).val_accuracy, n_trials=n)


def test_sampler_with_journal_storage_and_two_workers(syn, tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    path = str(tmp_path / "m.pt")
    fitted(syn).save(path)
    log = str(tmp_path / "journal.log")
    optuna.create_study(study_name="maml", storage=JournalStorage(JournalFileBackend(log)), direction="maximize")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(path, log, 4)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs)
    study = optuna.load_study(study_name="maml", storage=JournalStorage(JournalFileBackend(log)))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 8
    assert study.best_value > 0.8


def test_a_misspelt_argument_raises_naming_the_allowed_values(syn):
    with pytest.raises(ValueError, match=r"outer_loss='pairwse': must be one of \['pairwise', 'top', 'listwise', 'both'\]"):
        MAMLTuner(outer_loss="pairwse", n_steps=1).fit(syn)


def test_copies_share_no_mutable_state_with_the_original(syn):
    "A clone refitted with another seed, or a deep copy (the benchmark's reseeded runs), updated: the original is unchanged."
    import copy

    from metahpo_kit.tuners import clone
    original = MAMLTuner(n_steps=5, random_state=0).fit(syn, exclude_tasks=["synth0"])
    before = (sorted(original.train_tasks_), {k: v.clone() for k, v in original.params_.items()}, len(original.losses_))
    cloned = clone(original).set_params(random_state=1).fit(syn, exclude_tasks=["synth0"])
    copied = copy.deepcopy(original)
    copied.random_state = 1
    for other in (cloned, copied):
        other.update(syn.filter(tasks=["synth0"]), n_steps=2)
        assert "synth0" in other.train_tasks_
    assert sorted(original.train_tasks_) == before[0] and len(original.losses_) == before[2]
    assert all(torch.equal(original.params_[k], v) for k, v in before[1].items())


# ------------------------------------------------------------------------------------------- the tuner's shape
ARGUMENTS = ["space", "epochs", "hidden", "inner_steps", "inner_lr", "n_ensemble", "n_steps", "outer_loss", "zero_shot",
             "use_meta_features", "n_cover", "n_candidates", "acquisition", "kappa", "random_state"]
# name -> bad values: every constructor argument and every switch, each with values it must refuse
BAD = {"space": [{"lr": 0.1}], "epochs": [0, 2.0, "2"], "hidden": [(), (64, 0), 64, (64.5,)],
       "inner_steps": [-1, 2.5, True], "inner_lr": [0.0, -0.1, math.inf, math.nan, "0.1"], "n_ensemble": [0, 1.5],
       "n_steps": [-1, 10.0], "outer_loss": ["pairwse", None], "zero_shot": ["table"], "use_meta_features": [1, "yes"],
       "n_cover": [-1, 1.5], "n_candidates": [-1, 100.0], "acquisition": ["ei"], "kappa": [math.nan, math.inf, "1"],
       "random_state": [-1, 1.5, "0"],
       "first_order": [0, "no"], "learn_inner_lr": [None], "p_zero": [-0.1, 1.5, math.nan], "outer_lr": [0.0, math.inf],
       "tasks_per_step": [0, 8.0], "support": [(0, 5), (5, 2), (2,), 5], "query": [0, 64.5],
       "mf_noise": [-0.1, math.inf], "bandwidth": [0.0, -1.0, math.nan], "prior_mix": [1.5, -0.1],
       "adapt_in_suggest": ["no"]}


def test_the_constructor_is_the_space_then_keyword_only_arguments():
    params = inspect.signature(MAMLTuner.__init__).parameters
    assert [n for n in params if n != "self"] == ARGUMENTS
    assert params["space"].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(params[n].kind == inspect.Parameter.KEYWORD_ONLY for n in ARGUMENTS[1:])
    with pytest.raises(TypeError, match="positional argument"):
        MAMLTuner(SEED_SPACE, None)
    for k in MAMLTuner.switches:                    # the ablation switches are class attributes, not arguments
        assert k not in params and hasattr(MAMLTuner, k)
        with pytest.raises(TypeError, match=k):
            MAMLTuner(**{k: getattr(MAMLTuner, k)})


def test_every_argument_and_switch_is_checked_naming_it_its_value_and_what_is_allowed(syn):
    assert sorted(BAD) == sorted(ARGUMENTS + list(MAMLTuner.switches))   # a new argument needs its bad values here
    MAMLTuner().check_args()                                             # the defaults pass
    ints = dict(epochs=np.int64(2), hidden=(np.int64(8),), inner_steps=np.int64(1), n_ensemble=np.int64(2),
                n_steps=np.int64(1), n_cover=np.int64(1), n_candidates=np.int64(0), random_state=np.int64(0))
    MAMLTuner(**ints).check_args()                                       # NumPy integers are integers
    variant(MAMLTuner, tasks_per_step=np.int64(4), support=(np.int64(2), np.int64(5)), query=np.int64(8))().check_args()
    for name, values in BAD.items():
        allowed = (f"one of {list(MAMLTuner.acquisitions)}" if name == "acquisition" else MAMLTuner.rules[name][1])
        for v in values:
            if name in MAMLTuner.switches:
                tuner = variant(MAMLTuner, **{name: v})()
                where = f" (a switch of {type(tuner).__name__}: a class attribute)"
            else:
                tuner = MAMLTuner(**{name: v})
                where = ""
            with pytest.raises(ValueError) as e:
                tuner.check_args()
            assert str(e.value) == f"{name}={v!r}{where}: must be {allowed}"      # the one format of every rule
    with pytest.raises(ValueError, match="inner_steps=-1: must be an integer >= 0"):   # fit checks first
        MAMLTuner(inner_steps=-1).fit(syn)
    tuner = fitted(syn)
    saved, tuner.kappa = tuner.kappa, "big"
    try:
        with pytest.raises(ValueError, match="kappa='big'"):                          # and so does ask
            tuner.ask([])
    finally:
        tuner.kappa = saved


def test_get_params_round_trips_and_set_params_refuses_unknown_names():
    tuner = MAMLTuner(SEED_SPACE, epochs=2, hidden=(32,), n_steps=7, kappa=1.0, random_state=3)
    params = tuner.get_params()
    assert list(params) == ARGUMENTS
    assert MAMLTuner(**params).get_params() == params
    assert tuner.set_params(**params) is tuner and tuner.get_params() == params
    with pytest.raises(ValueError, match=r"MAMLTuner has no parameter 'hiden'; its parameters are \['space', 'epochs'"):
        tuner.set_params(n_steps=9, hiden=(8,))
    assert tuner.n_steps == 7                                          # an unknown name sets nothing
    with pytest.raises(ValueError, match=r"first_order: class-level switch.*class Variant\(MAMLTuner\)"):
        tuner.set_params(first_order=False)
    with pytest.raises(ValueError, match="has no parameter.*p_zero: class-level switch"):
        clone(tuner, p_zero=0.5)


def test_a_clone_or_a_reseeded_clone_shares_nothing_and_keeps_the_class(syn):
    hidden = [16, 16]
    tuner = SecondOrder(hidden=hidden, n_steps=3, random_state=0).fit(syn, exclude_tasks=["synth0"])
    twin = clone(tuner).set_params(random_state=1)
    assert type(twin) is SecondOrder and twin.first_order is False
    assert twin.hidden == hidden and twin.hidden is not tuner.hidden and twin.space is not tuner.space
    assert not hasattr(twin, "params_") and tuner.random_state == 0
    twin.hidden.append(8)
    assert tuner.hidden == [16, 16]
    copied = copy.copy(tuner)                                           # an instance's own switch is carried by clone
    copied.adapt_in_suggest = False
    assert clone(copied).adapt_in_suggest is False and clone(tuner).adapt_in_suggest is True
    assert "adapt_in_suggest" not in vars(tuner)


def test_the_original_is_unchanged_after_its_reseeded_clone_fits_asks_and_updates(syn):
    original = MAMLTuner(n_steps=5, random_state=0).fit(syn, exclude_tasks=["synth0"])
    hist = [Observation(c, s) for c, s in zip(SEED_SPACE.sample(4, seed=2), [0.2, 0.6, 0.4, 0.9])]
    asked = original.top_untried(hist, task="synth0", n=5)
    state = {k: (v.copy() if isinstance(v, (dict, list)) else v) for k, v in vars(original).items()}
    params = {k: v.clone() for k, v in original.params_.items()}
    twin = clone(original).set_params(random_state=1).fit(syn, exclude_tasks=["synth0"])
    twin.top_untried(hist, task="synth0", n=5)
    twin.update(syn.filter(tasks=["synth0"]), n_steps=2)
    assert sorted(vars(original)) == sorted(state)
    assert original.train_tasks_.keys() == state["train_tasks_"].keys() and len(original.losses_) == len(state["losses_"])
    assert original.get_params() == {**twin.get_params(), "random_state": 0}
    assert all(torch.equal(original.params_[k], v) for k, v in params.items())
    assert original.top_untried(hist, task="synth0", n=5) == asked


def test_the_ablations_are_subclasses_that_change_only_their_switches(syn):
    shipped = {k: getattr(MAMLTuner, k) for k in MAMLTuner.switches}
    for cls in (ZeroShotOnly, FixedInnerLR, MultiTaskFinetune, SecondOrder, EqualWeightsPrior, KernelOnlyPrior):
        changed = {k for k in MAMLTuner.switches if getattr(cls, k) != shipped[k]}
        assert changed and changed == {k for k in vars(cls) if k in shipped}, cls
        cls().check_args()
        assert cls.__bases__ == (MAMLTuner,) and cls.__name__.startswith("MAMLTuner_")
    same = variant(MAMLTuner, **shipped)              # the shipped values set again: the same proposals
    a = MAMLTuner(n_steps=3, random_state=0).fit(syn, exclude_tasks=["synth0"])
    b = same(n_steps=3, random_state=0).fit(syn, exclude_tasks=["synth0"])
    hist = [Observation(c, s) for c, s in zip(SEED_SPACE.sample(4, seed=2), [0.2, 0.6, 0.4, 0.9])]
    assert a.top_untried(hist, task="synth0", n=5) == b.top_untried(hist, task="synth0", n=5)
    with pytest.raises(ValueError, match=r"\['n_steps'\] are not switches of MAMLTuner"):
        variant(MAMLTuner, n_steps=3)
    with pytest.raises(TypeError):                    # the base class is required
        variant(first_order=False)
