"The two meta-learned tuners on their shared base: one contract, checked on both."
import optuna
import pytest

from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.meta import MetaSampler, MetaTuner
from metahpo_kit.space import SEED_SPACE, config_key
from metahpo_kit.study import suggest_config
from metahpo_kit.transfer import normalised_tasks, synthetic_metadataset
from metahpo_kit.tuners import Observation

LEARNERS = {"maml": lambda: MAMLTuner(n_steps=20, random_state=0), "dkgp": lambda: DeepKernelTuner(n_steps=20, random_state=0)}


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
