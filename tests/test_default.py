"The default tuner: fitted once, cached under a key of the kit's version, the data and the parameters; `suggest`."
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import optuna
import pytest

import metahpo_kit.default as default
from metahpo_kit.dkgp import DeepKernelTuner
from metahpo_kit.default import Suggestion, cache_key, default_tuner, suggest, tuner_path
from metahpo_kit.meta import MetaTuner
from metahpo_kit.sampler import MetaSampler
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
    assert fits == ["DeepKernelTuner"] and len(list(tmp_path.glob("*.npz"))) == 1
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
    assert len(list(tmp_path.glob("*.npz"))) == 4 and not list(tmp_path.glob("*.tmp*"))
    default_tuner(metadataset=syn, cache_dir=tmp_path, n_steps=10, cache=False)
    assert len(fits) == 5 and len(list(tmp_path.glob("*.npz"))) == 4               # cache=False: no read, no write


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
    assert len(fits) == 1 and len(list((tmp_path / "tuners").glob("dkgp-*.npz"))) == 1
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


def test_the_shipped_default_tuner_is_current_and_read_without_a_fit(fits, tmp_path):
    "The fitted tuner in the package is the one `default_tuner()` fits now (the kit's version, the data, the defaults)."
    fp = default.shipped_fingerprint(tmp_path)
    tuner = default.DEFAULT_LEARNER(SearchSpace.from_dict(json.loads(fp[0])), random_state=0)
    expected = tuner_path(fp, tuner, default.SHIPPED_TUNERS)
    assert [p.name for p in default.SHIPPED_TUNERS.glob("*.npz")] == [expected.name], (
        "the shipped default tuner is stale: run "
        "python -c 'from metahpo_kit.default import ship_default_tuner; ship_default_tuner()'")
    shipped = default_tuner(cache_dir=tmp_path)
    assert fits == [] and not list(tmp_path.glob("*.npz"))        # read from the package: no fit, nothing written
    fresh = default_tuner(cache=False)
    assert fits == ["DeepKernelTuner"]
    for task in ("wine", {"is_tabular": 1.0, "log_n_train": 3.0}):
        assert shipped.top_untried([], task=task, n=5) == fresh.top_untried([], task=task, n=5)
        for a, b in zip(shipped.predict([], task=task), fresh.predict([], task=task)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_the_shipped_fingerprint_is_kept_by_the_files_bytes(tmp_path, monkeypatch):
    from metahpo_kit.metadata import _fingerprint, load_shipped
    fp = default.shipped_fingerprint(tmp_path)
    assert json.dumps(list(fp)) == json.dumps(list(_fingerprint(load_shipped())))
    monkeypatch.setattr(default, "load_shipped", lambda: pytest.fail("the shipped meta-dataset was read again"))
    assert default.shipped_fingerprint(tmp_path) == fp
    monkeypatch.setattr(default, "SHIPPED", tmp_path / "other")   # other files: another memo, computed afresh
    (tmp_path / "other").mkdir()
    with pytest.raises(BaseException, match="read again"):
        default.shipped_fingerprint(tmp_path)


def test_data_meta_features_are_computed_once_per_content(tmp_path, monkeypatch):
    from sklearn.datasets import load_iris
    from metahpo_kit.tasks import load_task, meta_features
    frame = load_iris(as_frame=True).frame
    data = tmp_path / "flowers.csv"
    frame.to_csv(data, index=False)
    cache = tmp_path / "cache"
    name, mf, notes = default.data_meta_features(data, "target", cache_dir=cache)
    task = load_task(str(data), target="target", cache=False)
    assert (name, mf, notes) == (task.name, meta_features(task), task.info["notes"])
    monkeypatch.setattr(default, "load_task", lambda *a, **k: pytest.fail("the data was loaded again"))
    assert default.data_meta_features(data, "target", cache_dir=cache) == (name, mf, notes)
    frame.iloc[:120].to_csv(data, index=False)                      # other bytes: computed afresh
    with pytest.raises(BaseException, match="loaded again"):
        default.data_meta_features(data, "target", cache_dir=cache)
    with pytest.raises(BaseException, match="loaded again"):        # another seed: another split
        default.data_meta_features(tmp_path / "flowers.csv", "target", seed=1, cache_dir=cache)
    with pytest.raises(FileNotFoundError, match="no file or folder"):
        default.data_meta_features(tmp_path / "missing.csv", "target", cache_dir=cache)


def test_suggest_from_the_caches_loads_neither_torch_nor_the_data_libraries(tmp_path):
    "`metahpo suggest` on a file seen before reads the shipped tuner and the cached meta-features, and nothing heavy."
    from sklearn.datasets import load_iris
    load_iris(as_frame=True).frame.to_csv(tmp_path / "flowers.csv", index=False)
    env = {**os.environ, "METAHPO_CACHE_DIR": str(tmp_path / "cache")}
    argv = ["suggest", str(tmp_path / "flowers.csv"), "--target", "target", "-n", "3"]
    code = ("import sys; from metahpo_kit.cli import main; rc = main(sys.argv[1:]); "
            "print('LOADED', sorted(m for m in ('torch', 'datasets', 'sklearn', 'transformers') if m in sys.modules)); "
            "sys.exit(rc)")
    runs = [subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, check=True)
            for _ in range(2)]
    assert "'torch'" in runs[0].stdout.split("LOADED")[1]                     # the first run reads the data
    assert "LOADED []" in runs[1].stdout                                        # the second, only caches
    table = lambda out: out.split("Top 3 configs", 1)[1].split("LOADED")[0]
    assert table(runs[0].stdout) == table(runs[1].stdout)
    assert "modality inferred: tabular" in runs[1].stdout                      # the notes are said again
