"The benchmark's summaries on small cases whose answers are known, leave-one-task-out hygiene, and bad input."
import numpy as np
import pandas as pd
import pytest

from metahpo_kit.benchmark import (add_regret, at_k, default_methods, markdown_table, paired,
                                   run_benchmark, simulate, summarize, time_to_within)
from metahpo_kit.metadata import TabularObjective
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
    df = simulate(RandomTuner(SEED_SPACE, 0), obj, 5)
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


def test_learned_tuners_are_fitted_per_task_and_seed():
    "Each (task, seed) run fits its own clone, seeded with the run's seed; fit_per_seed=False fits once per task."
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
