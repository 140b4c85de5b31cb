"The default tuner: fitted once, cached under a key of the kit's version, the data and the parameters; `suggest`."
import os
import subprocess
import sys
import warnings

import optuna
import pytest

import metahpo_kit.default as default
from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.default import Suggestion, cache_key, default_tuner, suggest, tuner_path
from metahpo_kit.meta import MetaSampler, MetaTuner
from metahpo_kit.metadata import MetaDataset
from metahpo_kit.space import SEED_SPACE, SearchSpace, config_key
from metahpo_kit.study import suggest_config
from metahpo_kit.transfer import synthetic_metadataset


@pytest.fixture(scope="module")
def syn():
    return synthetic_metadataset(4, seed=0)


@pytest.fixture
def fits(monkeypatch):
    "Counts the fits of any meta-learned tuner."
    count = []
    fit = MetaTuner.fit

    def counted(self, *args, **kwargs):
        count.append(type(self).__name__)
        return fit(self, *args, **kwargs)
    monkeypatch.setattr(MetaTuner, "fit", counted)
    return count


def test_the_cache_refits_when_the_data_or_the_parameters_change_and_not_otherwise(syn, fits, tmp_path):
    first = default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=10)
    assert fits == ["DeepKernelTuner"] and len(list(tmp_path.glob("*.pt"))) == 1
    again = default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=10)
    assert len(fits) == 1                                                         # read, not fitted
    assert again.top_untried([], task="synth0", n=4) == first.top_untried([], task="synth0", n=4)
    default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=11)
    assert len(fits) == 2                                                         # a parameter
    default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=10, random_state=1)
    assert len(fits) == 3                                                         # the seed
    edited = MetaDataset(syn.space, syn.frame.assign(val_accuracy=syn.frame["val_accuracy"] * 0.99))
    default_tuner(metadataset=edited, cache_dir=tmp_path, n_steps=10)
    assert len(fits) == 4                                                         # the data
    default_tuner(metadataset=MetaDataset(syn.space, syn.frame.copy()), cache_dir=tmp_path, n_steps=10)
    default_tuner(metadataset=edited, cache_dir=tmp_path, n_steps=10)
    assert len(fits) == 4                                                         # the same data again
    assert len(list(tmp_path.glob("*.pt"))) == 4 and not list(tmp_path.glob("*.tmp*"))
    default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=10, cache=False)
    assert len(fits) == 5 and len(list(tmp_path.glob("*.pt"))) == 4               # cache=False: no read, no write


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other tuner"])
def test_a_damaged_cache_file_is_refitted(syn, fits, tmp_path, damage):
    tuner = default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=10)
    path = tuner_path(syn, tuner, tmp_path)
    if damage == "garbage":
        path.write_bytes(b"not a tuner")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        other = default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=11)
        path.write_bytes(tuner_path(syn, other, tmp_path).read_bytes())
    n = len(fits)
    with pytest.warns(UserWarning, match="cannot be used .*; fitting it again"):
        mended = default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=10)
    assert len(fits) == n + 1
    assert mended.top_untried([], task="synth0", n=4) == tuner.top_untried([], task="synth0", n=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=10)         # the file was replaced: read again
    assert len(fits) == n + 1


def test_the_key_is_the_same_in_another_process(syn):
    tuner = default.DEFAULT_LEARNER(syn.space, n_steps=10, random_state=0)
    code = ("from metahpo_kit.default import cache_key, DEFAULT_LEARNER\n"
            "from metahpo_kit.transfer import synthetic_metadataset\n"
            "md = synthetic_metadataset(4, seed=0)\n"
            "print(cache_key(md, DEFAULT_LEARNER(md.space, n_steps=10, random_state=0)))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == cache_key(syn, tuner)


def test_default_tuner_refuses_bad_arguments(syn, tmp_path):
    with pytest.raises(ValueError, match=r"\['n_step'\]: not arguments of DeepKernelTuner"):
        default_tuner(metadataset=syn, cache_dir=tmp_path, n_step=10)
    with pytest.raises(ValueError, match="acquisition='best'"):
        default_tuner(metadataset=syn, cache_dir=tmp_path, acquisition="best")
    with pytest.raises(ValueError, match="metadataset must be a MetaDataset"):
        default_tuner(metadataset=syn.frame, cache_dir=tmp_path)
    no_dropout = SearchSpace(tuple(p for p in SEED_SPACE.params if p.name != "dropout"))
    with pytest.raises(ValueError, match="space: the meta-dataset is of another search space"):
        default_tuner(no_dropout, metadataset=syn, cache_dir=tmp_path)


def test_suggest_returns_n_distinct_configs_of_the_space_with_neighbours(syn):
    tuner = default.DEFAULT_LEARNER(syn.space, n_steps=10, random_state=0).fit(syn, exclude_tasks=["synth0"])
    for task in ("synth0", syn.meta_features("synth0")):
        s = suggest(task, n=4, tuner=tuner)
        assert isinstance(s, Suggestion) and s.source == "prior"
        configs = [{k: r[k] for k in syn.space.names} for r in s.configs.to_dict("records")]
        assert len({config_key(syn.space.validate(c)) for c in configs}) == 4
        assert configs == tuner.top_untried([], task=task, n=4)
        assert list(s.configs["rank"]) == [1, 2, 3, 4]
        assert s.configs[["prior", "surrogate", "sd"]].notna().all().all()
        assert 1 <= len(s.neighbours) <= 3 and "synth0" not in set(s.neighbours["task"])
        assert s.neighbours["weight"].is_monotonic_decreasing and all(s.neighbours["why"].str.contains(" vs "))
    text = str(s)
    assert "Top 4 configs" in text and "closest" in text and s.neighbours["task"].iloc[0] in text
    with pytest.raises(ValueError, match="n=0 must be an integer >= 1"):
        suggest("synth0", n=0, tuner=tuner)


def test_suggest_and_the_sampler_use_the_default_tuner_from_the_kit_cache(syn, fits, tmp_path, monkeypatch):
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(default, "load_shipped", lambda: syn)   # the shipped meta-dataset, small
    monkeypatch.setattr(default, "DEFAULT_LEARNER", QuickKernel)
    s = suggest("synth0", n=3)
    assert len(fits) == 1 and len(list((tmp_path / "tuners").glob("dkgp-*.pt"))) == 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=MetaSampler(task="synth0"))
    study.optimize(lambda t: float(len(suggest_config(t, SEED_SPACE))), n_trials=1)
    assert len(fits) == 1                                                          # read from the cache
    assert study.trials[0].params == {k: s.configs.iloc[0][k] for k in SEED_SPACE.names}


class QuickKernel(DeepKernelTuner):
    "The default learner with small defaults, so the default path is tested in seconds."

    def __init__(self, space=SEED_SPACE, *, epochs=None, hidden=(16,), n_features=4, n_steps=10, zero_shot="prior",
                 n_cover=2, n_candidates=None, acquisition="ei", kappa=0.5, random_state=None):
        self._keep(locals())
