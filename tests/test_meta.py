"The two meta-learned tuners on their shared base: one contract, checked on both."
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest

from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.meta import MetaTuner
from metahpo_kit.sampler import MetaSampler
from metahpo_kit.metadata import MetaDataset
from metahpo_kit.space import SEED_SPACE, Categorical, Float, SearchSpace, config_key
from metahpo_kit.study import suggest_config
from metahpo_kit.tasks import load_task
from metahpo_kit.transfer import normalised_tasks, synthetic_metadataset
from metahpo_kit.tuners import Observation

LEARNERS = {"maml": lambda: MAMLTuner(n_steps=20, random_state=0), "dkgp": lambda: DeepKernelTuner(n_steps=20, random_state=0)}
CLASSES = {"maml": MAMLTuner, "dkgp": DeepKernelTuner}


@pytest.fixture(scope="module")
def syn():
    return synthetic_metadataset(6, seed=0)


@pytest.fixture(scope="module", params=list(LEARNERS))
def fitted(request, syn):
    return LEARNERS[request.param]().fit(syn, exclude_tasks=["synth0"])


def _table(syn):
    ts = normalised_tasks(syn)["synth0"]
    return dict(zip(ts.keys, ts.y))


def test_both_learners_share_the_base_and_its_sources(fitted, syn):
    assert isinstance(fitted, MetaTuner)
    table, hist, sources = _table(syn), [], []
    for _ in range(5):
        sources.append(fitted.next_source(hist))
        c = fitted.ask(hist, task="synth0")
        hist.append(Observation(c, table[config_key(c)]))
    assert sources == ["prior", "cover", "cover", "surrogate", "surrogate"]
    assert len({config_key(o.config) for o in hist}) == 5


def test_predict_has_one_shape_for_both(fitted, syn):
    table, grid = _table(syn), SEED_SPACE.grid()[:40]
    hist = [Observation(c, table[config_key(c)]) for c in SEED_SPACE.grid()[100:104]]
    for h in ([], hist):
        out = fitted.predict(h, grid, task="synth0")
        assert isinstance(out, tuple) and len(out) == 2
        assert [a.shape for a in out] == [(40,), (40,)]
    mu, sd = fitted.predict(hist)   # the pool `ask` ranks: the whole grid here
    assert mu.shape == sd.shape == (SEED_SPACE.size,)


def test_save_load_round_trip_for_both(fitted, syn, tmp_path):
    table = _table(syn)
    hist = [Observation(c, table[config_key(c)]) for c in SEED_SPACE.grid()[:4]]
    again = type(fitted).load(fitted.save(tmp_path / "t.pt"), space=SEED_SPACE)
    assert again.get_params() == fitted.get_params()
    assert again.top_untried(hist, task="synth0", n=4) == fitted.top_untried(hist, task="synth0", n=4)
    assert (again.predict(hist, task="synth0")[0] == fitted.predict(hist, task="synth0")[0]).all()


def test_the_sampler_runs_both_inside_optuna(fitted, syn):
    table = _table(syn)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=MetaSampler(fitted, seed=0, task="synth0"))
    study.optimize(lambda t: table[config_key(suggest_config(t, SEED_SPACE))], n_trials=4)
    hist = []
    for t in study.trials:
        assert t.params == fitted.ask(hist, task="synth0")
        hist.append(Observation(t.params, t.value))


def test_save_load_proposes_the_same_over_ask_tell_steps(fitted, syn, tmp_path):
    table = _table(syn)
    again = type(fitted).load(fitted.save(tmp_path / "steps.pt"))
    h_fitted, h_again = [], []
    for _ in range(6):
        a, b = fitted.ask(h_fitted, task="synth0"), again.ask(h_again, task="synth0")
        assert a == b
        h_fitted.append(Observation(a, table[config_key(a)]))
        h_again.append(Observation(b, table[config_key(b)]))
    assert again.top_untried(h_again, task="synth0", n=5) == fitted.top_untried(h_fitted, task="synth0", n=5)


def _grouped_frame():
    "Two groups of tasks told apart by `mf.kind`: group 0's best config is (adam, 0.001), group 1's (sgd, 0.1)."
    rng = np.random.default_rng(0)
    best = {0: ("adam", 0.001), 1: ("sgd", 0.1)}
    rows = []
    for kind in (0, 1):
        for i in range(6):
            for opt in ("adam", "sgd", "rmsprop"):
                for lr in (0.001, 0.01, 0.1):
                    score = 0.9 if (opt, lr) == best[kind] else 0.5 + 0.05 * rng.random()
                    rows.append({"dataset": f"g{kind}t{i}", "optimizer": opt, "lr": lr, "acc": score,
                                 "mf.kind": float(kind), "n_rows": 500 + 10 * i})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("learner", list(LEARNERS))
def test_zero_shot_pick_follows_the_meta_features_of_a_frame(learner):
    space = SearchSpace((Categorical("optimizer", ("adam", "sgd", "rmsprop")),
                         Float("lr", 1e-3, 1e-1, log=True, values=(0.001, 0.01, 0.1))))
    md = MetaDataset.from_frame(_grouped_frame(), space=space, task_col="dataset", score_col="acc",
                                config_cols=["optimizer", "lr"], meta_features=["n_rows"])
    assert md.mf_cols == ["mf.kind", "mf.n_rows"]
    tuner = CLASSES[learner](space, n_steps=10, random_state=0).fit(md)
    assert tuner.mf_names_ == ["kind", "n_rows"]
    picks = {kind: tuner.ask([], task={"kind": float(kind), "n_rows": 525.0}) for kind in (0, 1)}
    assert picks == {0: {"optimizer": "adam", "lr": 0.001}, 1: {"optimizer": "sgd", "lr": 0.1}}


def test_meta_features_it_was_not_trained_on_are_said(fitted, syn):
    with pytest.warns(UserWarning, match=r"lack \['noise'\] \(the training tasks' mean is used for them\); include "
                                         r"\['rows'\], which it ignores: \w+ was trained on \['shift', 'noise'\]"):
        fitted.ask([], task={"shift": 0.2, "rows": 100.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # once per tuner: the same keys again are not said again
        fitted.ask([], task={"shift": 0.2, "rows": 100.0})
    mean_noise = float(fitted.mf_mean_[fitted.mf_names_.index("noise")])
    assert fitted.ask([], task={"shift": 0.2, "rows": 100.0}) == fitted.ask([], task={"shift": 0.2, "noise": mean_noise})


@pytest.mark.parametrize("learner", list(LEARNERS))
def test_a_tuner_fitted_without_meta_features_says_it_ignores_them(learner, syn):
    plain = MetaDataset(syn.space, syn.frame.drop(columns=syn.mf_cols))
    tuner = CLASSES[learner](n_steps=5, random_state=0).fit(plain, exclude_tasks=["synth0"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unknown = tuner.ask([])
        assert tuner.ask([], task="synth0") == unknown   # a task of its table: nothing to ignore
    with pytest.warns(UserWarning, match=r"fitted without meta-features, so it ignores the task's \(\['shift'\]\): "
                                         "every training task weighs the same"):
        assert tuner.ask([], task={"shift": 0.9}) == unknown


def test_the_sampler_keeps_its_history_with_extra_and_equivalent_parameters(fitted, syn):
    "MetaSampler is TunerSampler: a user's own parameter is drawn at random, a wider declaration still gets the pick."
    table = _table(syn)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(t):
        config = suggest_config(t, SEED_SPACE)
        t.suggest_float("weight_decay", 0.0, 0.1)                  # not a parameter of the tuner's space
        return table[config_key(config)]

    study = optuna.create_study(direction="maximize", sampler=MetaSampler(fitted, seed=0, task="synth0"))
    with pytest.warns(UserWarning, match="'weight_decay' is not a parameter of the tuner's space"):
        study.optimize(objective, n_trials=4)
    hist = []
    for t in study.trials:
        mine = {k: v for k, v in t.params.items() if k != "weight_decay"}
        assert mine == fitted.ask(hist, task="synth0")             # the history kept despite the extra parameter
        assert 0.0 <= t.params["weight_decay"] <= 0.1
        hist.append(Observation(mine, t.value))

    def wide(t):
        config = {n: t.suggest_categorical(n, list(d.choices)) for n, d in SEED_SPACE.to_optuna().items()
                  if n not in ("lr", "layers")}
        config["lr"] = t.suggest_float("lr", 1e-4, 1.0, log=True)   # wider than the space's three values
        config["layers"] = t.suggest_int("layers", 1, 8)
        return table[config_key(SEED_SPACE.validate(config))]

    study = optuna.create_study(direction="maximize", sampler=MetaSampler(fitted, seed=0, task="synth0"))
    study.optimize(wide, n_trials=3)
    hist = []
    for t in study.trials:
        assert t.params == fitted.ask(hist, task="synth0")
        hist.append(Observation(t.params, t.value))


def test_a_task_whose_meta_features_do_not_match_is_said():
    space = SearchSpace((Categorical("optimizer", ("adam", "sgd", "rmsprop")),
                         Float("lr", 1e-3, 1e-1, log=True, values=(0.001, 0.01, 0.1))))
    md = MetaDataset.from_frame(_grouped_frame(), space=space, task_col="dataset", score_col="acc",
                                config_cols=["optimizer", "lr"], meta_features=["n_rows"])
    tuner = DeepKernelTuner(space, n_steps=5, random_state=0).fit(md)
    with pytest.warns(UserWarning, match=r"lack \['kind', 'n_rows'\] \(the training tasks' mean is used for them\); "
                                         r"include \[.*'log_n_train'.*\], which it ignores"):
        pick = tuner.ask([], task=load_task("wine"))
    assert pick == tuner.ask([], task={"kind": float(tuner.mf_mean_[0]), "n_rows": float(tuner.mf_mean_[1])})
