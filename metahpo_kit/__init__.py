"""metahpo_kit: meta-learned hyperparameter tuning, taught and benchmarked on real data.

    import metahpo_kit as mk
    result = mk.tune("data.csv", target="label", n_trials=10)   # the default meta-learned tuner on your file

The names below are the user's vocabulary; each is imported from its module the first time it is used, so
`import metahpo_kit` stays light (torch and the tuners load on demand)."""
__version__ = "0.1.0"

import importlib as _importlib
import os as _os

# idle OpenMP threads sleep instead of spinning (read once, when torch loads; a user's own setting wins):
# see "Threads on a shared CPU" in nbs/03_profiler.ipynb
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_PUBLIC = {   # name -> the module that defines it
    "SearchSpace": "space", "Float": "space", "Int": "space", "Categorical": "space",
    "SEED_SPACE": "space", "MIXED_SPACE": "space",
    "load_task": "tasks", "meta_features": "tasks", "Task": "tasks", "EMBEDDED_TASKS": "tasks",
    "Budget": "train", "fit": "train",
    "tune": "study", "suggest_config": "study", "TunerSampler": "sampler",
    "TUNERS": "tuners", "make_tuner": "tuners", "ManualTuner": "tuners", "RandomTuner": "tuners",
    "GridTuner": "tuners", "TPETuner": "tuners", "GPTuner": "tuners", "HyperbandTuner": "tuners",
    "MetaDataset": "metadata", "load_shipped": "metadata",
    "PortfolioTuner": "transfer", "SimilarityTuner": "transfer",
    "MetaTuner": "meta", "MetaSampler": "sampler",
    "MAMLTuner": "maml", "DeepKernelTuner": "dkgp",
    "default_tuner": "default", "suggest": "default",
    "run_benchmark": "benchmark",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    "Import a public name from its module on first use (PEP 562), and keep it."
    if name not in _PUBLIC:
        raise AttributeError(f"module 'metahpo_kit' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
