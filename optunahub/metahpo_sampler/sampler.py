"""A meta-learned hyperparameter sampler: metahpo_kit's `MetaSampler`, packaged for OptunaHub."""
from __future__ import annotations

import os

from metahpo_kit.sampler import MetaSampler
from metahpo_kit.meta import MetaTuner
from metahpo_kit.tuners import tuner_class


class MetaHPOSampler(MetaSampler):
    """A sampler whose proposals come from a tuner meta-learned on other tasks' evaluations (metahpo_kit).

    The first trial is the config a meta-feature prior ranks first, the next few cover the prior's portfolio, and then
    a surrogate adapted to this study's trials ranks the candidates. A parameter the objective declares with a
    distribution equivalent to the tuner's (e.g. a categorical of its values) gets the tuner's value; parameters
    outside the tuner's space are sampled by Optuna's `RandomSampler`.

    Args:
        tuner:
            A fitted meta-learned tuner of metahpo_kit (`DeepKernelTuner`, `MAMLTuner`), the path of one written by
            its `save` (of kind `learner`), or None: the kit's default tuner, fitted on the meta-dataset shipped with
            metahpo_kit once and cached (`metahpo_kit.default.default_tuner`).
        seed:
            Seeds Optuna's `RandomSampler` for the parameters outside the tuner's space.
        task:
            What is tuned: a metahpo_kit `Task`, a task name that `metahpo_kit.tasks.load_task` knows, or a dict of
            its meta-features. None weighs every training task the same.
        learner:
            The kind of tuner a path holds: "dkgp" (deep-kernel GP) or "maml".
    """

    def __init__(self, tuner: MetaTuner | str | os.PathLike | None = None, *, seed: int | None = None, task=None,
                 learner: str = "dkgp") -> None:
        if isinstance(tuner, (str, os.PathLike)):
            if learner not in ("dkgp", "maml"):
                raise ValueError(f"learner={learner!r} is not a meta-learned tuner of metahpo_kit; use 'dkgp' or 'maml'")
            tuner = tuner_class(learner).load(tuner)
        if tuner is not None and not isinstance(tuner, MetaTuner):
            raise ValueError(f"tuner={tuner!r} is not a meta-learned tuner of metahpo_kit (DeepKernelTuner, MAMLTuner), "
                             "a path to a saved one, or None (the kit's default tuner)")
        super().__init__(tuner, seed=seed, task=task)
