"""A meta-learned hyperparameter sampler: metahpo_kit's `MetaSampler`, packaged for OptunaHub."""
from __future__ import annotations

import os

from metahpo_kit.meta import MetaSampler
from metahpo_kit.meta import MetaTuner
from metahpo_kit.tuners import make_tuner
from metahpo_kit.tuners import tuner_class


class MetaHPOSampler(MetaSampler):
    """A sampler whose proposals come from a tuner meta-learned on other tasks' evaluations (metahpo_kit).

    The first trial is the config a meta-feature prior ranks first, the next few cover the prior's portfolio, and then
    a surrogate adapted to this study's trials ranks the candidates. Parameters outside the tuner's search space are
    sampled by Optuna's `RandomSampler`.

    Args:
        tuner:
            A fitted meta-learned tuner of metahpo_kit (`DeepKernelTuner`, `MAMLTuner`), the path of one written by
            its `save`, or None: a tuner of kind `learner` fitted here on the meta-dataset shipped with metahpo_kit.
        seed:
            Seeds Optuna's `RandomSampler` for the parameters outside the tuner's space (and a tuner fitted here).
        task:
            What is tuned: a metahpo_kit `Task`, a task name that `metahpo_kit.tasks.load_task` knows, or a dict of
            its meta-features. None weighs every training task the same.
        learner:
            The kind of tuner to load or fit when `tuner` is a path or None: "dkgp" (deep-kernel GP) or "maml".
    """

    def __init__(self, tuner: MetaTuner | str | os.PathLike | None = None, *, seed: int | None = None, task=None,
                 learner: str = "dkgp") -> None:
        if learner not in ("dkgp", "maml"):
            raise ValueError(f"learner={learner!r} is not a meta-learned tuner of metahpo_kit; use 'dkgp' or 'maml'")
        if tuner is None:
            from metahpo_kit.metadata import load_shipped

            tuner = make_tuner(learner, random_state=0 if seed is None else seed).fit(load_shipped())
        elif isinstance(tuner, (str, os.PathLike)):
            tuner = tuner_class(learner).load(tuner)
        if not isinstance(tuner, MetaTuner):
            raise ValueError(f"tuner={tuner!r} is not a meta-learned tuner of metahpo_kit (DeepKernelTuner, MAMLTuner), "
                             "a path to a saved one, or None")
        super().__init__(tuner, seed=seed, task=task)
