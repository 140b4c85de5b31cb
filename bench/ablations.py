"""The learned tuners' ablations: each a small subclass of `MAMLTuner` or `DeepKernelTuner` that changes some switches.

The switches (`MAMLTuner.switches`: first or second order, learned inner rates, the share of episodes without
adaptation, episode sizes, the outer optimiser's rate, the prior's bandwidth and mixture, adaptation in `ask`) are
class attributes holding the shipped values, not constructor arguments: the constructor keeps what a user tunes. A
study of one switch subclasses the tuner here, and `clone` (which keeps the class) lets the benchmark refit it per
held-out task and seed as it does the shipped tuner. `metahpo_kit.tuners.variant(MAMLTuner, **switches)` builds one on the fly
(`variant(DeepKernelTuner, pooled=True)` for the deep-kernel GP).
`PooledKernel` is the deep-kernel GP's multi-task ablation (`bench/surrogate_bench.py` runs it as `pooled_alone`),
`ConditionedMean` its prior mean conditioned on meta-features (`dkgp_mf`, `dkgp_mf_alone` there), `AdaptedKernel` its
lengthscale and noise re-chosen on the task's trials (`dkgp_adapt*`), `CurveKernel` it meta-trained on the training
tasks' learning curves (`dkgp_curves*`).

    from bench.ablations import SecondOrder
    SecondOrder(md.space, epochs=2, random_state=0).fit(md, exclude_tasks=md.same_dataset(task))

`python bench/ablations.py --check` runs the self-check of the two ablations with code of their own (`AdaptedKernel`,
`CurveKernel`); the test suite runs it (tests import nothing from bench/).
"""
import argparse
import math

import numpy as np

from metahpo_kit.dkgp import DeepKernelTuner, _scale, rbf
from metahpo_kit.maml import MAMLTuner
from metahpo_kit.transfer import normalised_tasks
from metahpo_kit.tuners import variant


class ZeroShotOnly(MAMLTuner):
    "The prior, the cover, then the network's ranking without the inner loop in `ask`."
    adapt_in_suggest = False


class FixedInnerLR(MAMLTuner):
    "MAML with one fixed inner learning rate (`inner_lr`) instead of learned per-parameter rates (Meta-SGD)."
    learn_inner_lr = False


class MultiTaskFinetune(MAMLTuner):
    "Multi-task training (no episode adapts), fine-tuned on the task's trials in `ask` with the fixed `inner_lr`."
    p_zero = 1.0
    learn_inner_lr = False


class SecondOrder(MAMLTuner):
    "Exact second-order outer gradients through the inner loop (the shipped tuner is first order)."
    first_order = False


class EqualWeightsPrior(MAMLTuner):
    "The prior without meta-features: every training task weighs the same (the best config on average)."
    bandwidth = math.inf


class KernelOnlyPrior(MAMLTuner):
    "The prior from the meta-feature kernel's weights alone (no share of equal weights)."
    prior_mix = 1.0


class PooledKernel(DeepKernelTuner):
    """The deep-kernel GP meta-trained on batches that mix the tasks' configs: one function of the config for every
    task (multi-task regression), adapted on the new task's trials exactly as the shipped tuner is."""
    pooled = True


class ConditionedMean(DeepKernelTuner):
    """The deep-kernel GP whose prior-mean MLP also reads the task's standardised meta-features: a meta-learned mean
    that can move with the task (the shipped mean is one function of the config for every task)."""
    condition_mean = True


class AdaptedKernel(DeepKernelTuner):
    """The deep-kernel GP whose lengthscale and noise are re-chosen on the task's trials, as FSBO fine-tunes its kernel
    on the target task: the MAP over `LS_MULTIPLES` x `NOISE_MULTIPLES` of the meta-learned values (the log posterior
    `_affine` gives at its affine map, less half the log determinant of the kernel matrix, plus a log-normal prior of
    sd 1 on each multiple, median 1). Tried with each acquisition (`dkgp_adapt*`); not the default (see
    `bench/results/surrogate_*.md`)."""
    LS_MULTIPLES = (0.5, 0.71, 1.0, 1.41, 2.0)
    NOISE_MULTIPLES = (0.3, 1.0, 3.0, 10.0, 30.0)

    def _kernel_fit(self, phi_h, m_h, y):
        ls0, os_, noise0 = self.hypers_
        best = None
        for s in self.LS_MULTIPLES:
            for t in self.NOISE_MULTIPLES:
                L = np.linalg.cholesky(os_ * rbf(phi_h, phi_h, ls0 * s) + (noise0 * t + 1e-6) * np.eye(len(y)))
                a, b, logpost = self._affine(L, m_h, y)
                logpost += -np.log(np.diagonal(L)).sum() - 0.5 * math.log(s) ** 2 - 0.5 * math.log(t) ** 2
                if best is None or logpost > best[0]:
                    best = (logpost, L, ls0 * s, a, b)
        return best[1:]


class CurveKernel(DeepKernelTuner):
    """The deep-kernel GP meta-trained on the training tasks' learning curves: the scores of every epoch up to the
    budget, each epoch's normalised as the budget's are, with the epoch's share of the budget as one more input of both
    networks; a new task's trials and the candidates are read at the budget (1). The kernel then learns how a task's
    early rankings foretell its final one, from up to `epochs` times the points. `dkgp_curves*` in the benchmark."""
    curves = True
    switches = (*DeepKernelTuner.switches, "curves")   # a switch of its own: its fits are not the default's

    def _training_points(self, metadataset, tasks, exclude_tasks=()):
        budget = self.epochs or int(metadataset.frame["epochs"].max())
        per_epoch = [(e / budget, normalised_tasks(metadataset, e, exclude_tasks)) for e in range(1, budget + 1)]
        Xs, ys = [], []
        for t in tasks:
            at = [(f, pe[t]) for f, pe in per_epoch if t in pe]   # an epoch where every config scored alike: none
            Xs.append(np.concatenate([np.c_[ts.X, np.full(len(ts.y), f)] for f, ts in at]))
            ys.append(np.concatenate([_scale(ts.y, self.floor) for _, ts in at]))
        return Xs, ys

    def _inputs(self, X, z=None):
        X = np.asarray(X)
        if X.shape[1] == self.space.dim:   # a config with no epoch: read at the budget
            X = np.c_[X, np.ones(len(X), X.dtype)]
        return super()._inputs(X, z)


def check_adapted_kernel() -> None:
    """AdaptedKernel: the same meta-training as the default; the noise it chooses is lower for scores the task's own
    structure explains than for the same scores shuffled; with one multiple of each it is the default's posterior."""
    from metahpo_kit.lookup import TabularObjective
    from metahpo_kit.space import SEED_SPACE
    from metahpo_kit.transfer import synthetic_metadataset
    from metahpo_kit.tuners import Observation
    syn = synthetic_metadataset(8, seed=0)
    tuner = DeepKernelTuner(n_steps=40, random_state=0).fit(syn, exclude_tasks=["synth0"])
    adapted = AdaptedKernel(n_steps=40, random_state=0).fit(syn, exclude_tasks=["synth0"])
    assert np.allclose(adapted.params_["fw0"], tuner.params_["fw0"])   # the same meta-training: only `ask` differs
    grid = SEED_SPACE.grid()
    rng = np.random.default_rng(0)
    configs = [grid[i] for i in rng.choice(len(grid), 12, replace=False)]
    table = TabularObjective(syn, "synth0")
    true = np.array([table(c).val_accuracy for c in configs])

    def noise_multiple(t, y):   # the noise variance `_kernel_fit` chose, as a multiple of the meta-learned one
        _, X, y = t._observed([Observation(c, float(v)) for c, v in zip(configs, y)])
        phi, m = t._inputs(X)
        L = t._kernel_fit(phi.astype(float), m, y)[0]
        return ((L @ L.T)[0, 0] - t.hypers_[1] - 1e-6) / t.hypers_[2]
    # scores the task's own structure explains need less noise than the same scores shuffled over the configs
    assert noise_multiple(adapted, true) < noise_multiple(adapted, rng.permutation(true))
    # with one multiple of each, the adapted kernel is the meta-learned one: the same posterior as the default's
    one = type("OnePoint", (AdaptedKernel,), {"LS_MULTIPLES": (1.0,), "NOISE_MULTIPLES": (1.0,)})
    same = one(n_steps=40, random_state=0).fit(syn, exclude_tasks=["synth0"])
    hist = [Observation(c, float(v)) for c, v in zip(configs, true)]
    assert np.allclose(same.predict(hist, task="synth0")[0], tuner.predict(hist, task="synth0")[0])
    assert math.isclose(noise_multiple(same, true), 1.0, rel_tol=1e-6)


def check_curve_kernel() -> None:
    """CurveKernel: trained on every epoch up to the budget (the budget's rows as the default's), a config without an
    epoch read at the budget, and its `ask` gives a config of the space."""
    from metahpo_kit.metadata import load_shipped
    md = load_shipped()
    md = md.filter(tasks=md.tasks[:5], status=None)
    plain = DeepKernelTuner(md.space, epochs=3, n_steps=5, random_state=0)
    curves = CurveKernel(md.space, epochs=3, n_steps=5, random_state=0)
    assert "curves" in curves.switches and "curves" not in plain.switches   # its own fits in the benchmark's cache
    tasks = normalised_tasks(md, 3, [md.tasks[0]])
    (X0, y0), (X1, y1) = (t._training_points(md, tasks, [md.tasks[0]]) for t in (plain, curves))
    assert len(X0) == len(X1) == len(tasks)
    for a, ya, b, yb in zip(X0, y0, X1, y1):   # per task: epochs 1, 2 and 3, the budget's rows last and unchanged
        assert np.allclose(sorted(set(b[:, -1])), [1 / 3, 2 / 3, 1])
        assert np.array_equal(b[b[:, -1] == 1, :-1], a) and np.array_equal(yb[b[:, -1] == 1], ya)
    curves.fit(md, exclude_tasks=[md.tasks[0]])
    X = md.space.encode_many(md.space.grid()[:7])
    for got, want in zip(curves._inputs(X), curves._inputs(np.c_[X, np.ones(len(X))])):
        assert np.array_equal(got, want)
    c = curves.ask([], task=md.tasks[0])
    assert md.space.validate(c) == c


def check() -> None:
    "The self-check of the ablations with code of their own; raises AssertionError on a failure."
    import torch
    torch.set_num_threads(1)
    for name, f in (("AdaptedKernel", check_adapted_kernel), ("CurveKernel", check_curve_kernel)):
        f()
        print(f"{name}: ok", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="The ablations are imported by the benchmark scripts (bench/surrogate_bench.py).")
    ap.add_argument("--check", action="store_true",
                    help="run the self-check of AdaptedKernel and CurveKernel (as the test suite does)")
    args = ap.parse_args()
    if not args.check:
        ap.print_help()
    else:
        check()
