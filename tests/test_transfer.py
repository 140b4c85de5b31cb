"Tests for the transfer baselines: portfolio and similarity rule (synthetic meta-data, seconds)."
import numpy as np
import pytest

from metahpo_kit.metadata import MetaDataset
from metahpo_kit.space import Float, Int, SearchSpace, SEED_SPACE
from metahpo_kit.transfer import (PortfolioTuner, SimilarityTuner, greedy_portfolio, normalised_tasks,
                                  pair_agreement, synthetic_metadataset)
from metahpo_kit.space import config_key
from metahpo_kit.study import tune
from metahpo_kit.tuners import Observation
from metahpo_kit.lookup import TabularObjective


@pytest.fixture(scope="module")
def syn():
    return synthetic_metadataset(6, seed=1)


def test_greedy_portfolio_is_optimal_on_a_small_case():
    S = np.array([[1.0, 0.0, 0.9], [0.0, 1.0, 0.9]])
    # alone, config 2 is best on average; then 0 or 1 covers the rest
    assert greedy_portfolio(S, 2)[0] == 2
    assert greedy_portfolio(S, 3) == [2, 0, 1]
    assert greedy_portfolio(S, 3, weights=np.ones(len(S)) / len(S)) == [2, 0, 1]   # equal weights: the same
    assert greedy_portfolio(S, 2, start=[2]) == [0, 1]                               # continued after a pick
    one = np.eye(len(S))[0]                                                         # all weight on task 0
    assert greedy_portfolio(S, 1, weights=one)[0] == int(np.argmax(S[0]))


def test_portfolio_never_repeats_and_runs_in_tune(syn):
    tuner = PortfolioTuner(size=5, random_state=0).fit(syn, exclude_tasks=["synth0"])
    res = tune(TabularObjective(syn, "synth0"), tuner, n_trials=8)
    keys = [config_key({n: r[f"config.{n}"] for n in SEED_SPACE.names}) for r in res.trials.to_dict("records")]
    assert len(set(keys)) == 8
    assert keys[:5] == [config_key(c) for c in tuner.portfolio_]


def test_similarity_weights_follow_agreement(syn):
    tuner = SimilarityTuner(sharpness=20).fit(syn, exclude_tasks=["synth0"])
    ts = normalised_tasks(syn)["synth0"]
    X, y, mf, keys = ts.X, ts.y, ts.meta_features, ts.keys
    # observe the held-out task at 12 configs: the training task with the nearest shift should weigh most
    idx = np.random.default_rng(0).choice(len(keys), 12, replace=False)
    hist = [Observation(SEED_SPACE.decode(X[i]), float(y[i])) for i in idx]
    w = tuner.weights(hist)
    shifts = {t: normalised_tasks(syn)[t].meta_features[0] for t in tuner.tasks_}
    nearest = min(shifts, key=lambda t: abs(shifts[t] - mf[0]))
    farthest = max(shifts, key=lambda t: abs(shifts[t] - mf[0]))
    assert w[tuner.tasks_.index(nearest)] > w[tuner.tasks_.index(farthest)]
    assert abs(w.sum() - 1) < 1e-9
    assert config_key(tuner.ask(hist)) not in {config_key(o.config) for o in hist}


def test_pair_agreement():
    assert pair_agreement(np.array([1.0, 2.0]), np.array([5.0, 5.0])) == 0.5
    assert pair_agreement(np.array([1.0]), np.array([5.0])) == 0.5


def test_bad_input(syn):
    with pytest.raises(ValueError, match="at least two tasks"):
        SimilarityTuner().fit(syn.filter(tasks=["synth1"]))
    other = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Int("layers", 1, 4)))
    with pytest.raises(ValueError, match="another search space"):
        PortfolioTuner(other).fit(syn)
    with pytest.raises(ValueError, match="not fitted"):
        PortfolioTuner().ask([])
    with pytest.raises(ValueError, match="needs a MetaDataset"):
        SimilarityTuner().fit("not a metadataset")


def test_continuous_space_from_frame():
    import pandas as pd
    space = SearchSpace((Float("lr", 1e-4, 1.0, log=True), Float("wd", 0.0, 0.1)))
    rng = np.random.default_rng(0)
    rows = []
    for t in range(4):
        for c in space.sample(30, seed=t):
            rows.append({"task": f"t{t}", **c, "score": -abs(np.log10(c["lr"]) + 2) + rng.normal(0, 0.01)})
    md = MetaDataset.from_frame(pd.DataFrame(rows), space=space)
    sim = SimilarityTuner(space).fit(md, exclude_tasks=["t0"])
    hist = []
    for _ in range(5):
        c = sim.ask(hist)
        space.validate(c)
        hist.append(Observation(c, -abs(np.log10(c["lr"]) + 2)))
    assert max(o.score for o in hist) > -0.5
    port = PortfolioTuner(space, size=3, random_state=0).fit(md)
    assert len(port.portfolio_) == 3


def _subset(md, tasks, n=128):
    "`md` with the tasks in `tasks` holding only `n` configs of the grid (seeded sample, as the build's models stage)."
    from metahpo_kit.build import distinct_sample
    keep = {config_key(c) for c in distinct_sample(md.space, n, seed=0)}
    f = md.frame
    keys = [config_key({p: r[f"config.{p}"] for p in md.space.names}) for r in f[md.config_cols].to_dict("records")]
    return MetaDataset(md.space, f[[t not in tasks or k in keep for t, k in zip(f["task"], keys)]].reset_index(drop=True)), keep


def test_training_tasks_that_hold_a_subset_of_the_configs(syn):
    "Union of configs; a config a task did not record is NaN: 0 for the portfolio, no vote for the similarity rule."
    from metahpo_kit.transfer import _union, score_matrix
    md, keep = _subset(syn, {"synth1", "synth2"})
    nt = normalised_tasks(md, exclude_tasks=["synth0"])
    assert [len(nt[t].keys) for t in nt] == [128 if t in ("synth1", "synth2") else 486 for t in nt]
    assert set(nt["synth1"].keys) == keep and (nt["synth1"].y.min(), nt["synth1"].y.max()) == (0.0, 1.0)
    keys, X, S = _union(nt)
    assert len(keys) == 486 and np.isnan(S).sum() == 2 * (486 - 128)
    names = list(nt)
    assert np.isnan(S[names.index("synth1"), [j for j, k in enumerate(keys) if k not in keep]]).all()
    port = PortfolioTuner(size=5).fit(md, exclude_tasks=["synth0"])
    first = int(np.argmax(np.nan_to_num(S, nan=0.0).mean(0)))               # missing counts as the task's worst
    assert config_key(port.portfolio_[0]) == keys[first]
    sim = SimilarityTuner().fit(md, exclude_tasks=["synth0"])
    assert (sim.present_ == ~np.isnan(sim.S_)).all()
    # only synth1 weighs: the similarity rule proposes synth1's best config among the configs synth1 recorded
    i = sim.tasks_.index("synth1")
    w = np.zeros(len(sim.tasks_))
    w[i] = 1.0
    sim.weights = lambda history=(): w
    assert config_key(sim.ask([])) == keys[int(np.nanargmax(S[names.index("synth1")]))]


def test_normalised_tasks_are_memoised_and_never_stale(syn):
    md = MetaDataset(syn.space, syn.frame.copy())
    a = normalised_tasks(md, exclude_tasks=["synth0"])
    b = normalised_tasks(md, exclude_tasks=["synth1"])
    assert a["synth2"] is b["synth2"] and "synth0" not in a and "synth1" not in b
    with pytest.raises(ValueError, match="read-only"):
        a["synth2"].y[0] = 0.5
    with pytest.raises(ValueError, match=r"\['nope'\] are not tasks"):
        normalised_tasks(md, exclude_tasks=["nope"])
    best = int(np.argmax(a["synth2"].y))
    f = md.frame.copy()
    rows = f.index[f["task"] == "synth2"]
    f.loc[rows[best], "val_accuracy"] = -1.0             # the best config of synth2 becomes its worst
    md.frame = f
    c = normalised_tasks(md, exclude_tasks=["synth0"])
    assert c["synth2"].y[best] == 0.0 and a["synth2"].y[best] == 1.0
    md.frame.loc[rows[best], "val_accuracy"] = 2.0       # in place, on the same frame object
    assert normalised_tasks(md)["synth2"].y[best] == 1.0
    md.append(syn.frame[syn.frame["task"] == "synth0"].assign(task="new"))
    assert "new" in normalised_tasks(md)


def test_greedy_portfolio_never_chooses_an_excluded_config():
    S = np.array([[1.0, 0.9, 0.0], [0.5, 0.0, 0.8]])
    assert greedy_portfolio(S, 3) == [0, 2, 1]
    assert greedy_portfolio(S, 3, exclude=[0]) == [1, 2]
    assert greedy_portfolio(S, 2, start=[0], exclude=[0, 1]) == [2]
