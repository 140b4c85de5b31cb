"Compute as the cost axis: what `simulate` charges, regret at a compute budget, median stopping, the freeze-thaw tuner."
import numpy as np
import optuna
import pandas as pd
import pytest

from metahpo_kit.benchmark import add_regret, simulate
from metahpo_kit.compute import at_compute, median_stopping
from metahpo_kit.freezethaw import FreezeThawTuner
from metahpo_kit.lookup import TabularObjective
from metahpo_kit.objective import TrainerObjective
from metahpo_kit.space import SEED_SPACE, config_key
from metahpo_kit.study import tune
from metahpo_kit.tasks import load_task
from metahpo_kit.train import Budget
from metahpo_kit.transfer import synthetic_metadataset
from metahpo_kit.tuners import HyperbandTuner, Observation, RandomTuner

optuna.logging.set_verbosity(optuna.logging.WARNING)
E = 5


@pytest.fixture(scope="module")
def syn():
    return synthetic_metadataset(6, seed=0, epochs=E)


@pytest.fixture(scope="module")
def fitted(syn):
    return FreezeThawTuner(syn.space, epochs=E, n_steps=30, curve_steps=300, random_state=0).fit(
        syn, exclude_tasks=["synth0"])


def recorded_cost(objective, key, epochs):
    return objective.table(epochs)[key][2]


@pytest.mark.parametrize("make", [lambda s: HyperbandTuner(s.space, random_state=0, eta=3),
                                  lambda s: RandomTuner(s.space, random_state=0)])
def test_the_compute_charged_is_the_recorded_cost(syn, make):
    "Each trial is charged its epochs and recorded seconds; a config trained again pays only the further epochs."
    obj = TabularObjective(syn, "synth0")
    run = simulate(make(syn), obj, 40, budget=Budget(epochs=E))
    trained, epochs, seconds = {}, 0, 0.0
    for r in run.to_dict("records"):
        ep = E if pd.isna(r["epochs"]) else int(r["epochs"])   # a full-budget tuner's trials: the budget's
        before = trained.get(r["config"], 0)
        epochs += ep - before
        seconds += recorded_cost(obj, r["config"], ep) - (recorded_cost(obj, r["config"], before) if before else 0.0)
        trained[r["config"]] = max(before, ep)
        assert r["epochs_total"] == epochs and r["elapsed_s"] == pytest.approx(seconds)
    assert run["epochs_run"].sum() == run["epochs_total"].iloc[-1]


def test_regret_at_a_compute_budget_counts_only_full_trainings(syn):
    obj = TabularObjective(syn, "synth0")
    run = simulate(HyperbandTuner(syn.space, random_state=0, eta=3), obj, 60, budget=Budget(epochs=E))
    run = run.assign(method="hb", task="synth0", seed=0)
    snap = at_compute(run, syn, E, budgets=(0.2, 1, 4))
    regret = add_regret(run.assign(best_val=run["full_best_val"]), syn, E)["regret"].to_numpy()
    for k, got in zip((0.2, 1, 4), snap["regret"]):
        fits = run["epochs_total"].to_numpy() <= k * E
        want = regret[np.flatnonzero(fits)[-1]] if fits.any() else 1.0
        assert got == pytest.approx(want)
    full = run[run["epochs"] == E]
    assert run["full_best_val"].dropna().iloc[-1] == pytest.approx(full["val"].max())


def test_median_stopping_stops_below_the_median_of_earlier_trials(syn):
    "Optuna's rule: a trial stops when its best score so far is below the median of the finished trials' at that epoch."
    obj = TabularObjective(syn, "synth1")
    run = median_stopping(obj, 80, E, seed=0, n_startup_trials=3)
    assert run["epochs_total"].iloc[-2] < 80 <= run["epochs_total"].iloc[-1]
    curves = {}
    for r in run.to_dict("records"):
        curve = [obj.table(e)[r["config"]][0] for e in range(1, r["epochs"] + 1)]
        if r["epochs"] < E:
            finished = [c[r["epochs"] - 1] for c in curves.values() if len(c) == E]
            assert len(finished) >= 3 and max(curve) < np.median(finished)
        curves[r["trial"]] = curve
    assert (run["epochs"] < E).any()


def test_freeze_thaw_rounds_screen_then_promote_the_predicted_best(syn, fitted):
    obj = TabularObjective(syn, "synth0")
    run = simulate(fitted, obj, 30, budget=Budget(epochs=E), task="synth0")
    assert list(run["epochs"][:6]) == [1, 1, E, 1, 1, E]
    assert list(run["epochs_run"][:3]) == [1, 1, E - 1]                 # the promoted config continues
    first = run.iloc[:2]
    pred = fitted.predict_final(first["val"].to_numpy(), 1,
                                syn.space.encode_many([eval_key(k) for k in first["config"]]), task="synth0")[:, 1]
    assert run["config"].iloc[2] == first["config"].iloc[int(np.argmax(pred))]
    assert run["val"].iloc[2] == pytest.approx(obj.table(E)[run["config"].iloc[2]][0])


def eval_key(key: str) -> dict:
    import json
    return json.loads(key)


def test_a_resumed_study_neither_loses_nor_repeats_a_round(syn, fitted):
    "The tuner keeps no state beyond the history: from any prefix of a run it proposes what the run did next."
    obj = TabularObjective(syn, "synth0")
    run = simulate(fitted, obj, 18, budget=Budget(epochs=E), task="synth0")
    history = [Observation(eval_key(r["config"]), r["val"], "ok", r["epochs"]) for r in run.to_dict("records")]
    for j in range(len(history)):
        config, epochs = fitted.propose(history[:j], task="synth0")
        assert (config_key(config), epochs) == (run["config"].iloc[j], run["epochs"].iloc[j]), j
    killed = history[:7] + [Observation(history[7].config, None, "running", history[7].epochs)]
    assert fitted.propose(killed, task="synth0") != (history[7].config, history[7].epochs)   # not run twice


def test_switches_off_leave_nothing_meta_learned(syn, fitted):
    plain = FreezeThawTuner.__new__(FreezeThawTuner)
    plain.__dict__.update(fitted.__dict__)
    plain.use_curves = plain.use_prior = False
    scores = np.array([0.3, 0.7])
    assert (plain.predict_final(scores, 1, syn.space.encode_many(syn.space.sample(2, seed=0))) ==
            scores[:, None]).all()
    a = simulate(plain, TabularObjective(syn, "synth0"), 6, budget=Budget(epochs=E), task="synth0")
    assert list(a["epochs"]) == [1, 1, E, 1, 1, E]


def test_save_load_and_the_budget_check(syn, fitted, tmp_path):
    again = FreezeThawTuner.load(fitted.save(tmp_path / "ft.npz"))
    history = [Observation(c, s, "ok", 1) for c, s in zip(syn.space.sample(2, seed=1), [0.4, 0.6])]
    assert again.propose(history, task="synth0") == fitted.propose(history, task="synth0")
    np.testing.assert_array_equal(again.predict_final([0.5], 1, syn.space.encode_many(syn.space.sample(1, seed=2))),
                                  fitted.predict_final([0.5], 1, syn.space.encode_many(syn.space.sample(1, seed=2))))
    with pytest.raises(ValueError, match=r"fitted for a full budget of 5 epochs; the study's budget is 3"):
        fitted.for_budget(Budget(epochs=3))
    with pytest.raises(ValueError, match=r"n_screen=0: must be an integer >= 1"):
        FreezeThawTuner(syn.space, n_screen=0).fit(syn)
    with pytest.raises(ValueError, match=r"epochs=9: the recorded runs trained for at most 5 epochs"):
        FreezeThawTuner(syn.space, epochs=9, n_steps=1, curve_steps=1).fit(syn)


def _trained_epochs(result) -> list:
    "(config, epochs, val, epochs trained in the trial) of each finished trial of a live study, in order."
    out = []
    for t in result.study.get_trials(deepcopy=False):
        r = t.user_attrs.get("result")
        if r is not None:
            config = {k[len("config."):]: v for k, v in r.items() if k.startswith("config.")}
            out.append((config_key(config), r["epochs"], r["val_accuracy"], r["epochs"] - r["resumed_epochs"]))
    return out


def test_a_killed_live_study_resumes_without_losing_or_repeating_a_rung(tmp_path):
    """Hyperband on a real task, the trainer resuming promoted configs from their checkpoints: a study stopped by
    Ctrl-C mid-way and resumed runs the same rungs as one run whole, and trains no epoch twice."""
    digits = load_task("digits")
    kw = dict(n_trials=7, budget=Budget(epochs=3))
    hb = lambda: HyperbandTuner(SEED_SPACE, random_state=0, eta=3, max_epochs=3)
    whole = _trained_epochs(tune(TrainerObjective(digits, checkpoints=tmp_path / "a"), hb(),
                                 storage=f"sqlite:///{tmp_path}/a.db", **kw))

    class Interrupted(TrainerObjective):
        calls = 0

        def __call__(self, config, budget=None, seed=0):
            Interrupted.calls += 1
            if Interrupted.calls == 5:
                raise KeyboardInterrupt
            return super().__call__(config, budget, seed)

    storage = f"sqlite:///{tmp_path}/b.db"
    with pytest.raises(KeyboardInterrupt):
        tune(Interrupted(digits, checkpoints=tmp_path / "b"), hb(), storage=storage, **kw)
    resumed = _trained_epochs(tune(TrainerObjective(digits, checkpoints=tmp_path / "b"), hb(), storage=storage, **kw))
    assert [e for *_, e in whole] != [e for _, e, *_ in whole]   # a promoted config continued (fewer epochs trained)
    assert resumed == whole
    assert len(list((tmp_path / "b").glob("*.pt"))) == len({c for c, *_ in whole})
