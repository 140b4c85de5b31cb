"`import metahpo_kit as mk` gives the user's vocabulary, lazily: nothing heavy loads until a name is used."
import subprocess
import sys

import metahpo_kit as mk


def test_every_public_name_resolves_to_its_module_object():
    for name in mk.__all__:
        value = getattr(mk, name)
        module = sys.modules[f"metahpo_kit.{mk._PUBLIC[name]}"]
        assert value is getattr(module, name), name
    assert set(mk.__all__) <= set(dir(mk))


def test_the_namespace_holds_every_registered_tuner():
    from metahpo_kit.tuners import TUNERS
    classes = {path.split(":")[1] for path in TUNERS.values()}
    assert classes <= set(mk.__all__), classes - set(mk.__all__)


def test_import_loads_neither_torch_nor_a_tuner_and_an_unknown_name_says_so():
    code = ("import sys, metahpo_kit as mk\n"
            "print(sorted(m for m in ('torch', 'optuna', 'metahpo_kit.tuners') if m in sys.modules))\n"
            "try:\n    mk.no_such_name\nexcept AttributeError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "module 'metahpo_kit' has no attribute 'no_such_name'"]


def test_tune_takes_your_file_and_the_default_tuner(tmp_path, monkeypatch):
    import pandas as pd
    import pytest
    from sklearn.datasets import load_wine
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path / "cache"))
    load_wine(as_frame=True).frame.to_csv(tmp_path / "wine.csv", index=False)
    res = mk.tune(str(tmp_path / "wine.csv"), target="target", n_trials=3, budget=1)
    assert isinstance(res.best_config, dict) and len(res.trials) == 3
    assert res.trials["source"].tolist()[0] == "prior"                  # the meta-learned default chose it
    with pytest.raises(ValueError, match="target= and modality= describe your data file"):
        mk.tune(pd.DataFrame(), target="target", n_trials=1)
