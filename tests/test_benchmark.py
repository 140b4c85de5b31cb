"The benchmark's summaries on small cases whose answers are known, leave-one-task-out hygiene, and bad input."
import numpy as np
import pandas as pd
import pytest

from metahpo_kit.benchmark import (add_regret, at_k, default_methods, markdown_table, paired,
                                   run_benchmark, simulate, summarize, time_to_within)
from metahpo_kit.lookup import TabularObjective
from metahpo_kit.tasks import base_dataset
from metahpo_kit.space import SEED_SPACE, SearchSpace
from metahpo_kit.transfer import synthetic_metadataset
from metahpo_kit.tuners import RandomTuner


def _frame():
    "Two methods on three tasks, one seed, three trials, with regrets chosen by hand."
    rows = []
    regrets = {"a": {"t1": [0.5, 0.2, 0.0], "t2": [0.4, 0.4, 0.1], "t3": [0.3, 0.0, 0.0]},
               "b": {"t1": [0.9, 0.5, 0.5], "t2": [0.4, 0.3, 0.3], "t3": [0.8, 0.6, 0.2]}}
    for m, per in regrets.items():
        for t, rs in per.items():
            for i, r in enumerate(rs):
                rows.append({"method": m, "task": t, "seed": 0, "trial": i + 1, "regret": r, "best_val": 1 - r,
                             "best_test": 1 - r, "val": 1 - r, "elapsed_s": float(i + 1)})
    return pd.DataFrame(rows)


def test_summaries_of_a_known_case():
    df = _frame()
    s = summarize(df, ks=(1, 3)).set_index(["method", "k"])
    assert s.loc[("a", 1), "regret_mean"] == pytest.approx(0.4)
    assert s.loc[("b", 1), "regret_mean"] == pytest.approx(0.7)
    assert s.loc[("a", 3), "regret_mean"] == pytest.approx(0.1 / 3)
    assert s.loc[("a", 1), "ci_low"] <= 0.4 <= s.loc[("a", 1), "ci_high"]
    assert s.loc[("a", 1), "rank_mean"] == pytest.approx((1 + 1.5 + 1) / 3)   # t2 is a tie at k=1
    p = paired(df, "a", "b", k=1)
    assert (p["wins"], p["ties"], p["losses"]) == (2, 1, 0)
    assert "| a | 0.400" in markdown_table(summarize(df, ks=(1, 3)), ks=(1, 3))
    assert len(at_k(df, 2)) == 6 and set(at_k(df, 2)["trial"]) == {2}


def test_time_to_within_a_point():
    df = _frame()
    t = time_to_within(df, points=0.01).set_index("method")
    # each task's best is the best value seen in the run: a reaches it on every task (trials 3, 3, 2), b never
    assert t.loc["a", "trials_median"] == 3 and t.loc["a", "reached"] == 1.0
    assert t.loc["b", "reached"] == 0.0 and np.isnan(t.loc["b", "trials_median"])


def test_regret_is_normalised_by_the_tasks_recorded_range():
    md = synthetic_metadataset(n_tasks=3, seed=1)
    task = md.tasks[0]
    obj = TabularObjective(md, task)
    df = simulate(RandomTuner(SEED_SPACE, random_state=0), obj, 5)
    df.insert(0, "task", task)
    out = add_regret(df, md, epochs=None)
    scores = md.scores(tasks=[task])["score"]
    expected = (scores.max() - df["best_val"]) / (scores.max() - scores.min())
    assert np.allclose(out["regret"], expected)
    assert (np.diff(out["regret"]) <= 1e-12).all()           # the incumbent never gets worse


def test_oracle_and_random_on_a_synthetic_family():
    md = synthetic_metadataset(n_tasks=4, seed=0)
    table = md.scores()

    seen_training = {}

    class Oracle(RandomTuner):
        "Learns which tasks it is fitted without; proposes the asked task's best config first."
        def fit(self, metadataset=None, exclude_tasks=()):
            self.exclude_ = list(exclude_tasks)
            return self

        def ask(self, history=(), task=None):
            assert self.exclude_ == [task]                  # fitted without the task it is asked about
            seen_training[task] = [t for t in md.tasks if t not in self.exclude_]
            g = table[table["task"] == task].sort_values("score").iloc[-1]
            return {n: g[f"config.{n}"] for n in self.space.names} if not history else super().ask(history)

    res = run_benchmark({"random": default_methods()["random"], "oracle": Oracle(md.space)}, md, n_trials=3, epochs=None,
                        seeds=tuple(range(30)), progress=False)
    s = summarize(res, ks=(1,)).set_index("method")
    assert s.loc["oracle", "regret_mean"] == 0.0
    expected = np.mean([((g.score.max() - g.score) / (g.score.max() - g.score.min())).mean()
                        for _, g in table.groupby("task")])
    assert abs(s.loc["random", "regret_mean"] - expected) < 0.1
    assert all(t not in tr for t, tr in seen_training.items()) and len(seen_training) == 4


def test_variants_of_the_held_out_dataset_are_left_out():
    md = synthetic_metadataset(n_tasks=3, seed=2)
    frame = md.frame.copy()
    frame["task"] = frame["task"].map({"synth0": "a@max_train=10", "synth1": "a", "synth2": "b"})
    md.frame = frame
    assert base_dataset("a@max_train=10") == "a"
    trained_on = {}

    class Spy(RandomTuner):
        def fit(self, metadataset=None, exclude_tasks=()):
            trained_on[len(trained_on)] = [t for t in metadataset.tasks if t not in exclude_tasks]
            return self

    run_benchmark({"spy": Spy(md.space)}, md, tasks=["a"], n_trials=1, epochs=None, seeds=(0,), progress=False)
    assert trained_on[0] == ["b"]


def test_the_tasks_of_one_dataset_share_their_fits():
    "Two variants of one dataset exclude the same tasks: one fit per seed serves both; runs keep their own seeds."
    md = synthetic_metadataset(n_tasks=3, seed=2)
    frame = md.frame.copy()
    frame["task"] = frame["task"].map({"synth0": "a@max_train=10", "synth1": "a", "synth2": "b"})
    md.frame = frame
    fits = []

    class Counting(RandomTuner):
        def fit(self, metadataset=None, exclude_tasks=()):
            fits.append((tuple(exclude_tasks), self.random_state))
            return self

    res = run_benchmark({"c": Counting(md.space)}, md, tasks=["a@max_train=10", "a", "b"], n_trials=3, epochs=None,
                        seeds=(0, 1), progress=False)
    assert len(fits) == 4 and len(set(fits)) == 4   # (dataset a, dataset b) x (seed 0, seed 1)
    first = res[res["trial"] == 1].set_index(["task", "seed"])["config"]
    assert first["a@max_train=10", 0] != first["a", 0]   # each run draws with its own seed


def test_worker_processes_give_the_same_rows():
    "n_jobs shares the datasets out to processes; the rows (less timings) are the same, in the same order."
    from metahpo_kit.transfer import PortfolioTuner
    md = synthetic_metadataset(n_tasks=3, seed=0)
    methods = {"random": RandomTuner(md.space), "portfolio": PortfolioTuner(md.space)}
    one, two = (run_benchmark(methods, md, n_trials=4, epochs=None, seeds=(0, 1), progress=False, n_jobs=n)
                .drop(columns=["fit_s", "elapsed_s", "peak_rss_mb"], errors="ignore") for n in (1, 2))
    pd.testing.assert_frame_equal(one, two)


def test_bad_input():
    md = synthetic_metadataset(n_tasks=2, seed=0)
    with pytest.raises(ValueError, match="mode='simulated' is not one of"):
        run_benchmark(default_methods(), md, mode="simulated")
    with pytest.raises(ValueError, match="tasks \\['nope'\\] are not in the meta-dataset"):
        run_benchmark(default_methods(), md, tasks=["nope"])
    with pytest.raises(ValueError, match="method 'old' is .* not an unfitted metahpo_kit Tuner"):
        run_benchmark({"old": lambda space, md, epochs: None}, md)
    other = SearchSpace(tuple(p for p in SEED_SPACE.params if p.name != "dropout"))
    with pytest.raises(ValueError, match="method 'random': its tuner's space differs from the meta-dataset's"):
        run_benchmark({"random": RandomTuner(other)}, md)
    with pytest.raises(ValueError, match="listed more than once"):
        run_benchmark({"random": RandomTuner(md.space)}, md, tasks=["synth0", "synth0"], epochs=None)
    with pytest.raises(ValueError, match="n_jobs=0 must be a whole number >= 1, or -1"):
        run_benchmark({"random": RandomTuner(md.space)}, md, epochs=None, n_jobs=0)


def test_learned_tuners_are_fitted_per_dataset_and_seed():
    "Each (held-out dataset, seed) fits its own clone, seeded with both; fit_per_seed=False fits once per dataset."
    md = synthetic_metadataset(n_tasks=3, seed=0)
    fits = []

    class Counting(RandomTuner):
        def fit(self, metadataset=None, exclude_tasks=()):
            fits.append((tuple(exclude_tasks), self.random_state))
            return self

    run_benchmark({"c": Counting(md.space)}, md, n_trials=1, epochs=None, seeds=(0, 1), progress=False)
    assert len(fits) == 6 and len(set(fits)) == 6
    fits.clear()
    run_benchmark({"c": Counting(md.space)}, md, n_trials=1, epochs=None, seeds=(0, 1), progress=False,
                  fit_per_seed=False)
    assert len(fits) == 3


def _subset_metadataset(n_tasks=5, subset=("synth0", "synth1"), n=128):
    """A synthetic family where the tasks in `subset` recorded only `n` configs of the grid (the same `n` for each, as
    the build's `models` stage samples them with config seed 0) and the others the whole grid."""
    from metahpo_kit.build import distinct_sample
    from metahpo_kit.metadata import MetaDataset
    from metahpo_kit.space import config_key
    md = synthetic_metadataset(n_tasks=n_tasks, seed=0)
    keep = {config_key(c) for c in distinct_sample(md.space, n, seed=0)}
    f = md.frame
    keys = [config_key({p: r[f"config.{p}"] for p in md.space.names}) for r in f[md.config_cols].to_dict("records")]
    mask = [t not in subset or k in keep for t, k in zip(f["task"], keys)]
    return MetaDataset(md.space, f[mask].reset_index(drop=True)), keep


def test_a_held_out_task_with_a_subset_of_configs_is_tuned_and_scored_on_its_own_configs():
    "Every method proposes only the configs the held-out task recorded; its regret uses only those configs' scores."
    from metahpo_kit.maml import MAMLTuner
    from metahpo_kit.space import config_key
    md, keep = _subset_metadataset()
    assert len(md.configs("synth0")) == 128 and len(md.configs("synth2")) == 486
    methods = {**default_methods(), "maml": MAMLTuner(n_steps=5, random_state=0)}
    res = run_benchmark(methods, md, tasks=["synth0", "synth2"], n_trials=12, epochs=None, seeds=(0, 1),
                        progress=False)
    sub = res[res["task"] == "synth0"]
    assert set(sub["config"]) <= keep                                    # only synth0's own configs were run
    assert set(sub["method"]) == set(methods) and (sub.groupby(["method", "seed"]).size() == 12).all()
    assert sub.groupby(["method", "seed"])["config"].nunique().eq(12).all()   # no config twice
    assert sub[sub["method"] == "random"]["skipped"].sum() > 0          # the grid's other configs were refused
    assert res[res["task"] == "synth2"]["skipped"].sum() == 0            # a full-grid task refuses nothing
    scores = md.scores(tasks=["synth0"])["score"]
    best, worst = scores.max(), scores.min()
    assert np.allclose(sub["regret"], ((best - sub["best_val"]) / (best - worst)).clip(0, 1))
    first = res[(res["method"] == "random") & (res["trial"] == 1) & (res["task"] == "synth0")]
    assert first["config"].nunique() == 2                                # each seed its own random first pick


def test_random_search_on_a_subset_task_is_uniform_over_its_configs():
    from metahpo_kit.space import config_key
    md, keep = _subset_metadataset()
    obj = TabularObjective(md, "synth0")
    firsts = [simulate(RandomTuner(SEED_SPACE, random_state=s), obj, 1)["config"].iloc[0] for s in range(400)]
    assert set(firsts) <= keep
    assert len(set(firsts)) > 0.8 * len(keep) * (1 - np.exp(-400 / len(keep)))   # spread over the recorded configs


def test_a_tuner_on_a_continuous_space_runs_the_nearest_recorded_config():
    from metahpo_kit.space import Categorical, Float, config_key
    space = SearchSpace((Float("lr", 1e-4, 1e-1, log=True), Float("dropout", 0.0, 0.5),
                         Categorical("optimizer", ("adam", "sgd"))))
    md = synthetic_metadataset(n_tasks=2, space=space, n_configs=40, seed=0)
    obj = TabularObjective(md, "synth0")
    df = simulate(RandomTuner(space, random_state=0), obj, 10)
    assert len(df) == 10 and df["config"].nunique() == 10 and set(df["config"]) <= set(obj.recorded())
    assert (df["skipped"] == 1).all()        # each proposal (never a recorded config) was replaced by its nearest


def test_on_a_continuous_space_a_replaced_proposal_counts_as_tried_so_the_portfolio_moves_on():
    "Shown back as failed, the portfolio's pick that ran as its nearest recorded config is not proposed again."
    from metahpo_kit.metadata import disjoint_configs
    from metahpo_kit.space import Float, config_key
    from metahpo_kit.transfer import PortfolioTuner
    space = SearchSpace((Float("lr", 1e-4, 1e-1, log=True), Float("dropout", 0.0, 0.5)))
    md = disjoint_configs(synthetic_metadataset(n_tasks=4, space=space, n_configs=40, seed=0), seed=0)
    proposed = []

    class Recording(PortfolioTuner):
        def propose(self, history=(), task=None):
            config, epochs = super().propose(history, task=task)
            proposed.append(config_key(config))
            return config, epochs

    obj = TabularObjective(md, "synth0")
    df = simulate(Recording(space).fit(md, exclude_tasks=["synth0"]), obj, 8)
    assert len(proposed) == 8 and len(set(proposed)) == 8                 # a new pick every trial (was: the first, 8x)
    assert df["config"].nunique() == 8 and set(df["config"]) <= set(obj.recorded())
    order = [config_key(c) for c in Recording(space).fit(md, exclude_tasks=["synth0"]).portfolio_]
    idx = [order.index(k) for k in proposed]
    assert idx == sorted(idx)                                            # down the portfolio's list, in order


def test_tuners_whose_fit_ignores_the_seed_are_fitted_once_per_task():
    "Portfolio and similarity fit the same for every seed: one fit per task, and the same runs as a refit per seed."
    from metahpo_kit.benchmark import seeded_fit
    from metahpo_kit.maml import MAMLTuner
    from metahpo_kit.transfer import PortfolioTuner
    md = synthetic_metadataset(n_tasks=3, seed=0)
    fits = []

    class Counting(PortfolioTuner):
        def fit(self, metadataset=None, exclude_tasks=()):
            fits.append(self.random_state)
            return super().fit(metadataset, exclude_tasks)

    class Refitting(Counting):
        deterministic_fit = False

    a = run_benchmark({"p": Counting(md.space)}, md, n_trials=60, epochs=None, seeds=(0, 1), progress=False)
    assert len(fits) == 3
    fits.clear()
    b = run_benchmark({"p": Refitting(md.space)}, md, n_trials=60, epochs=None, seeds=(0, 1), progress=False)
    assert len(fits) == 6
    assert a["config"].tolist() == b["config"].tolist()     # beyond the portfolio (50) the random picks are seeded
    assert seeded_fit(MAMLTuner()) and not seeded_fit(RandomTuner()) and not seeded_fit(PortfolioTuner())


def test_too_flat_tasks_are_left_out_by_default():
    md = synthetic_metadataset(n_tasks=3, seed=0)
    f = md.frame.copy()
    f.loc[f["task"] == "synth1", "val_accuracy"] = 0.8 + 0.001 * (f.loc[f["task"] == "synth1"].index % 2)
    md.frame = f
    res = run_benchmark({"random": RandomTuner(md.space)}, md, n_trials=2, epochs=None, seeds=(0,), progress=False)
    assert set(res["task"]) == {"synth0", "synth2"}
    assert list(res.attrs["left_out"]) == ["synth1"] and "within 1 point" in res.attrs["left_out"]["synth1"]
    res = run_benchmark({"random": RandomTuner(md.space)}, md, tasks=md.tasks, n_trials=2, epochs=None, seeds=(0,),
                        progress=False)
    assert set(res["task"]) == set(md.tasks) and res.attrs["left_out"] == {}


def test_paired_averages_a_datasets_variants_first():
    df = _frame()
    df["task"] = df["task"].map({"t1": "d@max_train=10", "t2": "d", "t3": "e"})
    p = paired(df, "a", "b", k=1)                     # d: (-0.4 + 0) / 2 = -0.2, a win; e: -0.5, a win
    assert (p["by"], p["units"], p["tasks"]) == ("dataset", 2, 3)
    assert (p["wins"], p["ties"], p["losses"]) == (2, 0, 0) and p["mean_diff"] == pytest.approx(-0.35)
    q = paired(df, "a", "b", k=1, by="task")
    assert (q["wins"], q["ties"], q["losses"], q["units"]) == (2, 1, 0, 3)
    with pytest.raises(ValueError, match="by='seed' is not one of"):
        paired(df, "a", "b", k=1, by="seed")
    at1 = at_k(df, 1).assign(k=1)                     # rows already at k (bench scripts' CSVs) give the same
    assert paired(at1.drop(columns="trial"), "a", "b", k=1) == p


def test_hyperband_in_the_benchmark_trains_within_the_trial_budget():
    "simulate gives a multi-fidelity tuner the trial budget (`for_budget`), as `tune` does: no rung past 2 epochs."
    from metahpo_kit.metadata import load_shipped
    from metahpo_kit.train import Budget
    from metahpo_kit.tuners import HyperbandTuner
    md = load_shipped()
    res = simulate(HyperbandTuner(md.space, random_state=0), TabularObjective(md, "titanic", epochs=2), n_trials=12,
                   budget=Budget(epochs=2))
    assert len(res) == 12 and res["epochs"].max() == 2
