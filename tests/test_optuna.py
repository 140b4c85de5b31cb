"""Optuna users: a kit tuner as a plain Optuna sampler keeps its history beside the user's own parameters, maps
parameters declared with an equivalent distribution, samples the rest at random and says so; the OptunaHub package
loads and runs."""
import pickle
import re
import warnings
from pathlib import Path

import optuna
import pytest

from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.space import SEED_SPACE, config_key
from metahpo_kit.sampler import TunerSampler, holds
from metahpo_kit.study import suggest_config
from metahpo_kit.transfer import normalised_tasks, synthetic_metadataset
from metahpo_kit.tuners import Observation, RandomTuner

ROOT = Path(__file__).resolve().parent.parent
D = optuna.distributions
TUNERS = {   # every learned tuner, fitted small, and one plain tuner
    "MAMLTuner": lambda syn: MAMLTuner(n_steps=20, random_state=0).fit(syn, exclude_tasks=["synth0"]),
    "DeepKernelTuner": lambda syn: DeepKernelTuner(n_steps=20, random_state=0).fit(syn, exclude_tasks=["synth0"]),
    "RandomTuner": lambda syn: RandomTuner(SEED_SPACE, random_state=0),
}


@pytest.fixture(scope="module")
def syn():
    return synthetic_metadataset(6, seed=0)


@pytest.fixture(scope="module")
def table(syn):
    "The held-out task's score of every grid config: a cheap objective."
    ts = normalised_tasks(syn)["synth0"]
    return dict(zip(ts.keys, ts.y))


@pytest.fixture(scope="module", params=list(TUNERS))
def tuner(request, syn):
    return TUNERS[request.param](syn)


def _kit_config(trial) -> dict:
    return SEED_SPACE.validate({n: trial.params[n] for n in SEED_SPACE.names})


def _run(tuner, objective, n_trials):
    "A plain Optuna study driven by `tuner`; the messages the sampler gave."
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        study = optuna.create_study(direction="maximize", sampler=TunerSampler(tuner, seed=0, task="synth0"))
        study.optimize(objective, n_trials=n_trials)
    return study, [str(w.message) for w in said if "TunerSampler" in str(w.message)]


def _asked(tuner, study) -> list:
    "What the tuner proposes when asked with each trial's earlier trials, as a study rebuilds them."
    out, hist = [], []
    for t in study.trials:
        out.append(tuner.ask(hist, task="synth0"))
        hist.append(Observation(_kit_config(t), t.value))
    return out


def test_an_extra_parameter_keeps_the_history(tuner, table):
    def objective(trial):
        return table[config_key(suggest_config(trial, SEED_SPACE))] + 0.001 * trial.suggest_float("my_extra", 0, 1)

    study, said = _run(tuner, objective, 10)
    configs = [_kit_config(t) for t in study.trials]
    assert len({config_key(c) for c in configs}) == 10            # the tuner saw every earlier trial
    assert configs == _asked(tuner, study)                         # and each proposal is the tuner's
    assert len({t.params["my_extra"] for t in study.trials}) == 10
    assert said == ["TunerSampler: 'my_extra' is not a parameter of the tuner's space "
                    f"{list(SEED_SPACE.names)}; Optuna's RandomSampler samples it"]   # said once


def test_seed_parameters_declared_as_categoricals_are_the_tuners(tuner, table):
    def objective(trial):
        config = {}
        for name, d in SEED_SPACE.to_optuna().items():
            values = d.choices if isinstance(d, D.CategoricalDistribution) else range(d.low, d.high + 1, d.step)
            config[name] = trial.suggest_categorical(name, list(values))
        return table[config_key(SEED_SPACE.validate(config))]

    study, said = _run(tuner, objective, 6)
    assert said == []
    assert isinstance(study.trials[0].distributions["layers"], D.CategoricalDistribution)
    assert [_kit_config(t) for t in study.trials] == _asked(tuner, study)
    assert len({config_key(_kit_config(t)) for t in study.trials}) == 6


def test_an_int_range_around_the_kits_values_is_mapped(table):
    tuner = RandomTuner(SEED_SPACE, random_state=0)

    def objective(trial):
        config = {n: trial.suggest_int(n, 1, 8) if n == "layers" else None for n in SEED_SPACE.names}
        for name, d in SEED_SPACE.to_optuna().items():
            if name != "layers":
                config[name] = trial.suggest_categorical(name, d.choices)
        return table[config_key(SEED_SPACE.validate(config))]

    study, said = _run(tuner, objective, 5)
    assert said == [] and [_kit_config(t) for t in study.trials] == _asked(tuner, study)


def test_a_truly_different_distribution_is_sampled_at_random_and_named():
    def objective(trial):
        layers = trial.suggest_categorical("layers", [5, 6])
        return layers + (trial.suggest_categorical("optimizer", ["adam", "sgd"]) == "adam")

    study, said = _run(RandomTuner(SEED_SPACE, random_state=0), objective, 4)
    assert {t.params["layers"] for t in study.trials} <= {5, 6}
    assert len(said) == 2
    assert re.search(r"'layers' is declared as CategoricalDistribution\(choices=\(5, 6\)\), which does not hold the "
                     r"tuner's IntDistribution\(high=4, log=False, low=2, step=1\)", said[0])
    assert "'optimizer' is declared as CategoricalDistribution(choices=('adam', 'sgd'))" in said[1]


def test_the_sampler_pickles_and_goes_on_proposing(tuner, table):
    "Ray Tune and worker processes pickle a sampler: the copy drops its lock and asks as the original would."
    again = pickle.loads(pickle.dumps(TunerSampler(tuner, seed=0, task="synth0")))
    study = optuna.create_study(direction="maximize", sampler=again)
    study.optimize(lambda trial: table[config_key(suggest_config(trial, SEED_SPACE))], n_trials=3)
    assert [_kit_config(t) for t in study.trials] == _asked(tuner, study)


@pytest.mark.parametrize("declared, kit, expected", [
    (D.IntDistribution(2, 4), D.IntDistribution(2, 4), True),
    (D.CategoricalDistribution([4, 3, 2]), D.IntDistribution(2, 4), True),
    (D.FloatDistribution(0, 10), D.IntDistribution(2, 4), True),
    (D.IntDistribution(2, 4, step=2), D.IntDistribution(2, 4), False),
    (D.CategoricalDistribution([True, False]), D.CategoricalDistribution([1, 0]), False),   # bools are not numbers
    (D.FloatDistribution(1e-5, 1, log=True), D.FloatDistribution(1e-4, 0.1, log=True), True),
    (D.FloatDistribution(1e-3, 1), D.FloatDistribution(1e-4, 0.1, log=True), False),
    (D.IntDistribution(0, 1), D.FloatDistribution(0, 1), False),
    (D.FloatDistribution(0.0, 1.0, step=0.1), D.CategoricalDistribution([0.2, 0.5]), True),
])
def test_holds(declared, kit, expected):
    assert holds(declared, kit) is expected


def test_optunahub_package_loads_and_runs_three_trials(syn, table, tmp_path):
    optunahub = pytest.importorskip("optunahub")
    module = optunahub.load_local_module(package="metahpo_sampler", registry_root=str(ROOT / "optunahub"))
    tuner = TUNERS["DeepKernelTuner"](syn)
    for given in (tuner, tuner.save(tmp_path / "dkgp.pt")):   # a fitted tuner, or the file it was saved to
        study = optuna.create_study(direction="maximize", sampler=module.MetaHPOSampler(given, seed=0, task="synth0"))
        study.optimize(lambda trial: table[config_key(suggest_config(trial, SEED_SPACE))], n_trials=3)
        assert len(study.trials) == 3
        assert [_kit_config(t) for t in study.trials] == _asked(tuner, study)
    with pytest.raises(ValueError, match="is not a meta-learned tuner of metahpo_kit"):
        module.MetaHPOSampler(RandomTuner(SEED_SPACE))


def test_optunahub_package_has_the_files_and_front_matter_the_registry_asks_for():
    folder = ROOT / "optunahub" / "metahpo_sampler"
    assert {"__init__.py", "README.md", "LICENSE"} <= {p.name for p in folder.iterdir()}
    assert (folder / "LICENSE").read_text().startswith("MIT License")
    text = (folder / "README.md").read_text()
    front = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert front, "README.md must start with the front matter between --- lines"
    keys = dict(line.split(": ", 1) for line in front.group(1).splitlines())
    assert set(keys) == {"author", "title", "description", "tags", "optuna_versions", "license"}
    assert "sampler" in keys["tags"] and keys["license"] == "MIT License"
    for section in ("## Abstract", "## Class or Function Names", "## Example"):
        assert section in text
