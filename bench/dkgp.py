"""A meta-learned deep-kernel GP (as FSBO, Wistuba & Grabocka 2021) as a kit tuner: a research prototype for #14.

The surrogate of task t's scores on a per-task scale g_t(x) (target="median", the default: 0 = the task's median
config, 1 = its best, floored at `floor`; target="minmax": 0 = worst, 1 = best) is a GP

    g_t ~ GP(m(x), s^2 k(phi(x), phi(x')) + sigma^2 [x = x'])

with phi a small MLP of the encoded config, m a second small MLP (the meta-learned prior mean; "constant": one
number, as FSBO), k an RBF or Matern-5/2 kernel with a learned lengthscale. Meta-training maximises the exact
marginal likelihood of random batches of each training task's scaled scores (Adam on every parameter at once;
Cholesky in float64). Nothing is task-specific, so the held-out task is handled by exact Bayesian inference:

- its raw scores y are unknown affine images y = a + b g of the normalised scale; a is integrated out (flat prior,
  GLS estimate) and b is a MAP estimate under a log-normal prior fitted to the training tasks' score ranges;
- the GP posterior of g at every candidate given the (rescaled) observations; optional `finetune_steps` of Adam on
  the kernel's lengthscale, outputscale and noise (the marginal likelihood of the observations);
- the next config maximises EI (or UCB) over the untried candidates, averaged over `n_ensemble` members (each
  meta-trained together from its own initialisation on the same batches: the lever against seed spread).

First picks: `zero_shot="mean"` takes the prior mean's best config; `n_portfolio=k` takes the greedy portfolio's first
k configs (the kit's PortfolioTuner on the same training tasks), then the GP; `zero_shot="prior"` takes MAMLTuner's
meta-feature kernel prior's best config (and `n_cover` picks of its weighted portfolio), then the GP.
Results: bench/results/dkgp_grid_e2.md (bench/dkgp_bench.py, bench/dkgp_report.py).
"""
import math
import time

import numpy as np
import torch

from metahpo_kit.metadata import MetaDataset
from metahpo_kit.space import GRID_LIMIT, SEED_SPACE, SearchSpace, config_key, seed_for
from metahpo_kit.transfer import _union, check_training, greedy_portfolio, normalised_tasks
from metahpo_kit.tuners import SpaceExhausted, Tuner, scored

DT = torch.float64
FIT_ARGS = ("hidden", "n_features", "kernel", "mean", "target", "floor", "n_steps", "lr", "tasks_per_step", "batch", "n_ensemble",
            "epochs", "random_state")
_FITTED = {}   # benchmark speed-up: variants that differ only at ask time share one (deterministic) meta-training


def init_mlp(sizes, n_members: int, gen: torch.Generator, prefix: str) -> dict:
    "Stacked weights of `n_members` MLPs with layer widths `sizes`: {prefix+'w0': (E, a, b), prefix+'b0': (E, b), ...}."
    out = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        out[f"{prefix}w{i}"] = torch.randn(n_members, a, b, generator=gen, dtype=DT) * math.sqrt(1.0 / a)
        out[f"{prefix}b{i}"] = torch.zeros(n_members, b, dtype=DT)
    return out


def mlp(params: dict, prefix: str, X: torch.Tensor) -> torch.Tensor:
    "Every member's outputs: shared inputs X (..., n, d) -> (E, ..., n, out), tanh between layers."
    n = sum(1 for k in params if k.startswith(prefix + "w"))
    h = X[None]
    for i in range(n):
        w, b = params[f"{prefix}w{i}"], params[f"{prefix}b{i}"]
        lead = (w.shape[0],) + (1,) * (h.dim() - 3)
        h = h @ w.view(*lead, *w.shape[1:]) + b.view(*lead, 1, b.shape[-1])
        if i < n - 1:
            h = torch.tanh(h)
    return h


def kernel(A: torch.Tensor, B: torch.Tensor, ls: torch.Tensor, kind: str) -> torch.Tensor:
    "Unit-variance kernel matrix between feature sets A (..., n, f) and B (..., m, f); ls broadcasts against (..., 1, 1)."
    d2 = ((A[..., :, None, :] - B[..., None, :, :]) ** 2).sum(-1) / ls ** 2
    if kind == "rbf":
        return torch.exp(-0.5 * d2)
    r = torch.sqrt(d2 + 1e-12) * math.sqrt(5.0)
    return (1.0 + r + r ** 2 / 3.0) * torch.exp(-r)


def hypers(params: dict) -> tuple:
    "(lengthscale, outputscale s^2, noise sigma^2), each (E,), from their unconstrained parameters."
    sp = torch.nn.functional.softplus
    return sp(params["ls"]) + 1e-3, sp(params["os"]) + 1e-4, sp(params["noise"]) + 1e-5


def nll(params: dict, X: torch.Tensor, y: torch.Tensor, kind: str, mean: str) -> torch.Tensor:
    "Mean negative log marginal likelihood per point of y (T, B) at X (T, B, d), for every member (E,)."
    phi = mlp(params, "f", X)                                  # (E, T, B, F)
    m = mlp(params, "m", X)[..., 0] if mean == "learned" else params["c"][:, None, None].expand(-1, *y.shape)
    ls, os_, noise = hypers(params)
    K = os_[:, None, None, None] * kernel(phi, phi, ls[:, None, None, None], kind)
    K = K + (noise[:, None, None, None] + 1e-6) * torch.eye(y.shape[-1], dtype=DT)
    L = torch.linalg.cholesky(K)
    r = (y[None] - m)[..., None]
    alpha = torch.cholesky_solve(r, L)
    quad = (r * alpha).sum((-2, -1))
    logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    return ((0.5 * quad + 0.5 * logdet) / y.shape[-1] + 0.5 * math.log(2 * math.pi)).mean(-1)   # (E,)


def expected_improvement(mu: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    "EI of a maximisation at posterior means `mu` and sds `sd` over the incumbent `best`."
    from scipy.special import ndtr
    z = (mu - best) / sd
    return (mu - best) * ndtr(z) + sd * np.exp(-0.5 * z ** 2) / math.sqrt(2 * math.pi)


class DKGPTuner(Tuner):
    "A meta-learned deep-kernel GP: MLP features + GP kernel + MLP prior mean, adapted by exact GP inference."
    name = "dkgp"

    def __init__(self, space: SearchSpace = SEED_SPACE,
                 hidden=(64, 64),             # widths of the feature MLP (and of the mean MLP)
                 n_features: int = 16,        # output width of the feature MLP
                 kernel: str = "rbf",         # "rbf" or "matern" (5/2)
                 mean: str = "learned",       # "learned" (MLP prior mean) or "constant" (FSBO)
                 target: str = "median",      # the GP's scale: "minmax" (0 worst, 1 best) or "median" (0 median, 1 best)
                 floor: float = -2.0,         # with target="median": scores below the floor are raised to it
                 n_steps: int = 300,          # Adam steps of meta-training
                 lr: float = 5e-3,            # Adam's learning rate
                 tasks_per_step: int = 8,     # tasks in a step's batch
                 batch: int = 64,             # configs of a task in a step's batch
                 n_ensemble: int = 1,         # members meta-trained independently (one batched model)
                 acquisition: str = "ei",     # "ei", "ucb" or "mean"
                 beta: float = 1.0,           # UCB's weight on the posterior sd
                 zero_shot: str = "mean",     # first pick: "mean" (argmax prior mean) or "prior" (MAMLTuner's
                                              # meta-feature kernel prior, grid spaces)
                 n_cover: int = 0,            # with zero_shot="prior": picks 2..n_cover+1 from the prior-weighted portfolio
                 n_portfolio: int = 0,        # first picks from the greedy portfolio of the training tasks
                 finetune_steps: int = 0,     # test-time Adam steps on lengthscale, outputscale, noise
                 members: int | None = None,  # use only the first `members` of the ensemble at ask (an ablation)
                 epochs: int | None = None,   # the epoch budget of the training scores (None: final epoch)
                 n_candidates: int = 2000,    # random candidates on spaces that are not a small grid
                 random_state: int | None = None):
        self.space = space
        self.hidden = hidden
        self.n_features = n_features
        self.kernel = kernel
        self.mean = mean
        self.target = target
        self.floor = floor
        self.n_steps = n_steps
        self.lr = lr
        self.tasks_per_step = tasks_per_step
        self.batch = batch
        self.n_ensemble = n_ensemble
        self.acquisition = acquisition
        self.beta = beta
        self.zero_shot = zero_shot
        self.n_cover = n_cover
        self.n_portfolio = n_portfolio
        self.finetune_steps = finetune_steps
        self.members = members
        self.epochs = epochs
        self.n_candidates = n_candidates
        self.random_state = random_state

    def check_args(self):
        for name, ok in (("kernel", ("rbf", "matern")), ("mean", ("learned", "constant")),
                         ("target", ("minmax", "median")),
                         ("acquisition", ("ei", "ucb", "mean")), ("zero_shot", ("mean", "prior"))):
            if getattr(self, name) not in ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {list(ok)}")

    # ---------------------------------------------------------------- meta-training
    def fit(self, metadataset: MetaDataset = None, exclude_tasks=()) -> "DKGPTuner":
        """Meta-train the deep kernel and prior mean on the tasks of `metadataset` less `exclude_tasks`. A fit with
        the same training arguments, data and seed is reused (it would give the same parameters)."""
        self.check_args()
        key = (tuple(repr(getattr(self, n)) for n in FIT_ARGS), id(metadataset), tuple(sorted(map(str, exclude_tasks))))
        if key in _FITTED:
            for k, v in _FITTED[key].items():
                setattr(self, k, v)
            self._cand = None
        else:
            self._fit(metadataset, exclude_tasks)
            _FITTED[key] = {k: getattr(self, k) for k in ("params_", "losses_", "logb_prior_", "portfolio_",
                                                          "train_X_", "fit_seconds_")}
        if self.zero_shot == "prior":
            self._fit_prior(metadataset, exclude_tasks)
        return self

    def _fit_prior(self, metadataset, exclude_tasks):
        "MAMLTuner's zero-shot prior: the training tasks' grid scores, standardised meta-features, chosen bandwidth."
        from metahpo_kit.maml import choose_bandwidth
        from metahpo_kit.tasks import base_dataset
        tasks = normalised_tasks(metadataset, self.epochs, exclude_tasks)
        grid = self.space.grid()
        col = {config_key(c): j for j, c in enumerate(grid)}
        Y = np.full((len(tasks), len(grid)), np.nan)
        for i, ts in enumerate(tasks.values()):
            for k, v in zip(ts.keys, ts.y):
                Y[i, col[k]] = v
        M = np.stack([ts.meta_features for ts in tasks.values()])
        self.mf_mean_, sd = M.mean(0), M.std(0)
        self.mf_scale_ = np.where(sd > 1e-8, sd, 1.0)
        self.prior_Y_, self.prior_Z_ = Y, (M - self.mf_mean_) / self.mf_scale_
        self.meta_features_ = {t: np.array(list(metadataset.meta_features(t).values()), dtype=float)
                               for t in metadataset.tasks}
        self.bandwidth_, _ = choose_bandwidth(Y, self.prior_Z_, [base_dataset(t) for t in tasks])

    def _fit(self, metadataset, exclude_tasks):
        tasks = normalised_tasks(metadataset, self.epochs, exclude_tasks) if isinstance(metadataset, MetaDataset) else {}
        check_training(metadataset, self.space, exclude_tasks, tasks, type(self).__name__)
        t0 = time.perf_counter()
        seed = seed_for(self.random_state, 17)
        rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        # the log-normal prior of a task's raw score range b (y_raw = a + b g)
        table = metadataset.filter(exclude_tasks=exclude_tasks, status=None).scores(self.epochs)
        low = (lambda s: np.nanmin(s)) if self.target == "minmax" else (lambda s: np.nanmedian(s))
        rng_ = table.groupby("task")["score"].agg(lambda s: np.nanmax(s) - low(s))
        logb = np.log(rng_[rng_ > 0].to_numpy(dtype=float))
        self.logb_prior_ = (float(logb.mean()), float(max(logb.std(), 0.3)))
        E, d = self.n_ensemble, self.space.dim
        params = init_mlp([d, *self.hidden, self.n_features], E, gen, "f")
        if self.mean == "learned":
            params.update(init_mlp([d, *self.hidden, 1], E, gen, "m"))
        params["c"] = torch.full((E,), 0.5, dtype=DT)
        params["ls"] = torch.full((E,), math.log(math.expm1(1.0)), dtype=DT)
        params["os"] = torch.full((E,), math.log(math.expm1(0.1)), dtype=DT)
        params["noise"] = torch.full((E,), math.log(math.expm1(0.01)), dtype=DT)
        params = {k: v.requires_grad_(True) for k, v in params.items()}
        opt = torch.optim.Adam(params.values(), lr=self.lr)
        data = [(torch.as_tensor(ts.X, dtype=DT), torch.as_tensor(self._scale(ts.y), dtype=DT)) for ts in tasks.values()]
        n_min = min(len(y) for _, y in data)
        B, T = min(self.batch, n_min), min(self.tasks_per_step, len(data))
        self.losses_ = []
        with torch.enable_grad():
            for step in range(self.n_steps):
                pick = rng.choice(len(data), size=T, replace=False)
                Xb, yb = [], []
                for i in pick:
                    X, y = data[i]
                    idx = torch.as_tensor(rng.choice(len(y), size=B, replace=False))
                    Xb.append(X[idx])
                    yb.append(y[idx])
                loss = nll(params, torch.stack(Xb), torch.stack(yb), self.kernel, self.mean)   # (E,)
                opt.zero_grad()
                loss.sum().backward()
                opt.step()
                self.losses_.append(loss.detach().numpy().copy())
        self.params_ = {k: v.detach() for k, v in params.items()}
        self.losses_ = np.array(self.losses_)
        keys, Xu, S = _union(tasks)
        self.portfolio_ = [self.space.decode(Xu[j]) for j in greedy_portfolio(S, 5)]
        self.train_X_ = Xu
        self._cand = None
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _scale(self, y: np.ndarray) -> np.ndarray:
        "A training task's targets from its min-max normalised scores: as they are, or 0 at the median, floored."
        if self.target == "minmax":
            return y
        med = np.median(y)
        if not med < 1:
            return np.zeros_like(y)
        return np.maximum((y - med) / (1 - med), self.floor)

    # ---------------------------------------------------------------- candidates and their features
    def _candidates(self, n_history: int):
        "(configs or None, encoded X, keys or None): the grid on small finite spaces; else random + training configs."
        if self.space.is_finite and self.space.size <= GRID_LIMIT:
            if self._cand is None:
                grid = self.space.grid()
                X = self.space.encode_many(grid)
                self._cand = (grid, X, [config_key(c) for c in grid], self._features(X))
            return self._cand
        rng_seed = seed_for(self.random_state, 5, n_history)
        sample = self.space.sample(self.n_candidates, seed=rng_seed)
        X = np.concatenate([self.space.encode_many(sample), self.train_X_])
        return None, X, None, self._features(X)

    def _features(self, X: np.ndarray) -> tuple:
        "(phi (E, n, F), prior mean (E, n)) of encoded configs X."
        with torch.no_grad():
            Xt = torch.as_tensor(np.asarray(X, dtype=float), dtype=DT)
            phi = mlp(self.params_, "f", Xt)
            if self.mean == "learned":
                m = mlp(self.params_, "m", Xt)[..., 0]
            else:
                m = self.params_["c"][:, None].expand(-1, len(X))
        return phi.numpy(), m.numpy()

    # ---------------------------------------------------------------- adaptation: exact GP posterior
    def _hypers(self, phi_h, m_h, y) -> np.ndarray:
        "(E, 3) lengthscale, outputscale, noise: the meta-trained ones, or after `finetune_steps` on the observations."
        ls, os_, noise = (t.numpy() for t in hypers(self.params_))
        H = np.stack([ls, os_, noise], 1)[:len(phi_h)]
        if self.finetune_steps <= 0 or len(y) < 3:
            return H
        # fine-tune on the observations, rescaled with the meta-trained hypers' (a, b)
        out = []
        for e in range(len(H)):
            a, b = self._affine(phi_h[e], m_h[e], y, H[e])
            g = torch.as_tensor((y - a) / b, dtype=DT)
            raw = torch.tensor(np.log(np.expm1(np.maximum(H[e] - [1e-3, 1e-4, 1e-5], 1e-8))), dtype=DT, requires_grad=True)
            init = raw.detach().clone()
            P = torch.as_tensor(phi_h[e], dtype=DT)
            m = torch.as_tensor(m_h[e], dtype=DT)
            opt = torch.optim.Adam([raw], lr=0.05)
            with torch.enable_grad():
                for _ in range(self.finetune_steps):
                    hp = torch.nn.functional.softplus(raw) + torch.tensor([1e-3, 1e-4, 1e-5], dtype=DT)
                    K = hp[1] * kernel(P, P, hp[0], self.kernel) + (hp[2] + 1e-6) * torch.eye(len(y), dtype=DT)
                    L = torch.linalg.cholesky(K)
                    r = (g - m)[:, None]
                    loss = 0.5 * (r * torch.cholesky_solve(r, L)).sum() + torch.log(torch.diagonal(L)).sum()
                    loss = loss + 0.5 * ((raw - init) ** 2).sum()   # stay near the meta-trained values
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            out.append((torch.nn.functional.softplus(raw) + torch.tensor([1e-3, 1e-4, 1e-5], dtype=DT)).detach().numpy())
        return np.stack(out)

    def _gram(self, phi_h, H):
        K = H[1] * self._k(phi_h, phi_h, H[0]) + (H[2] + 1e-6) * np.eye(len(phi_h))
        return np.linalg.cholesky(K)

    def _k(self, A, B, ls):
        d2 = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1) / ls ** 2
        if self.kernel == "rbf":
            return np.exp(-0.5 * d2)
        r = np.sqrt(d2 + 1e-12) * math.sqrt(5.0)
        return (1.0 + r + r ** 2 / 3.0) * np.exp(-r)

    def _affine(self, phi_h, m_h, y, H, L=None) -> tuple:
        """(a, b) with y = a + b g: a by generalised least squares (flat prior), b the MAP on a grid under the
        log-normal prior of the training tasks' ranges (restricted likelihood: n - 1 degrees of freedom)."""
        from scipy.linalg import cho_solve
        L = self._gram(phi_h, H) if L is None else L
        solve = lambda v: cho_solve((L, True), v)
        one = np.ones(len(y))
        Ki1, Kiy, Kim = solve(one), solve(y), solve(m_h)
        mu_b, sd_b = self.logb_prior_
        bs = np.exp(mu_b + sd_b * np.linspace(-3, 3, 61))
        # r(b) = y - b m; a(b) = 1'K^-1 r / 1'K^-1 1; Q(b) = (r - a)' K^-1 (r - a)
        s11 = one @ Ki1
        ry1 = Kiy @ one
        rm1 = Kim @ one
        yy, ym, mm = y @ Kiy, y @ Kim, m_h @ Kim
        a = (ry1 - bs * rm1) / s11
        Q = yy - 2 * bs * ym + bs ** 2 * mm - a ** 2 * s11
        logpost = -0.5 * np.maximum(Q, 0) / bs ** 2 - (len(y) - 1) * np.log(bs) - 0.5 * ((np.log(bs) - mu_b) / sd_b) ** 2
        j = int(np.argmax(logpost))
        return float(a[j]), float(bs[j])

    def posterior(self, phi_h, m_h, y, phi_c, m_c) -> tuple:
        "(mu, sd, g_best), each member's: GP posterior of the normalised score at the candidates given raw scores y."
        H = self._hypers(phi_h, m_h, y)
        mus, sds, bests = [], [], []
        from scipy.linalg import cho_solve, solve_triangular
        for e in range(len(H)):
            L = self._gram(phi_h[e], H[e])
            a, b = self._affine(phi_h[e], m_h[e], y, H[e], L)
            g = (y - a) / b
            if self.target == "median":
                g = np.maximum(g, self.floor)
            Kc = H[e][1] * self._k(phi_c[e], phi_h[e], H[e][0])          # (n_c, n)
            alpha = cho_solve((L, True), g - m_h[e])
            V = solve_triangular(L, Kc.T, lower=True)                    # (n, n_c)
            mus.append(m_c[e] + Kc @ alpha)
            sds.append(np.sqrt(np.maximum(H[e][1] - (V ** 2).sum(0), 1e-12)))
            bests.append(g.max())
        return np.array(mus), np.array(sds), np.array(bests)

    # ---------------------------------------------------------------- ask
    def ask(self, history=(), task=None) -> dict:
        if not hasattr(self, "params_"):
            raise ValueError("DKGPTuner is not fitted: call fit(metadataset) first")
        self.check_args()
        seen = self.__dict__.setdefault("_seen", {})   # raw config key -> (key, encoding), validated once
        def valid(c):
            raw = config_key(c)
            if raw not in seen:
                v = self.space.validate(c)
                seen[raw] = (config_key(v), self.space.encode(v))
            return seen[raw]
        tried = {valid(o.config)[0] for o in history}
        if len(history) < self.n_portfolio:
            for c in self.portfolio_:
                if config_key(c) not in tried:
                    return c
        configs, Xc, keys, (phi_c, m_c) = self._candidates(len(history))
        if self.members is not None:
            phi_c, m_c = phi_c[:self.members], m_c[:self.members]
        ok = [o for o in history if scored(o)]
        if self.zero_shot == "prior" and (not ok or len(history) <= self.n_cover):
            from metahpo_kit.maml import prior_scores, prior_weights
            z = (self.meta_features_[task] - self.mf_mean_) / self.mf_scale_ if task in self.meta_features_ else None
            h = self.bandwidth_ if z is not None else math.inf
            z = np.zeros(self.prior_Z_.shape[1]) if z is None else z
            if not ok:
                p = prior_scores(self.prior_Y_, self.prior_Z_, z, h, 0.75)
                score = np.where(np.isnan(p), -np.inf, p)
            else:
                w = prior_weights(self.prior_Z_, z, h, 0.75)
                picks = greedy_portfolio(np.nan_to_num(self.prior_Y_, nan=0.0), 1, weights=w,
                                         start=[j for j, k in enumerate(keys) if k in tried])
                return configs[picks[0]]
        elif not ok:
            score = m_c.mean(0)
        else:
            hk = [valid(o.config)[0] for o in ok]
            if keys is not None:   # the grid: the candidates' features, looked up
                if "_index" not in self.__dict__:
                    self._index = {k: j for j, k in enumerate(keys)}
                rows = [self._index[k] for k in hk]
                phi_h, m_h = self._cand[3][0][:, rows], self._cand[3][1][:, rows]
            else:
                phi_h, m_h = self._features(np.stack([valid(o.config)[1] for o in ok]))
            if self.members is not None:
                phi_h, m_h = phi_h[:self.members], m_h[:self.members]
            y = np.array([o.score for o in ok], dtype=float)
            mu, sd, best = self.posterior(phi_h, m_h, y, phi_c, m_c)
            if self.acquisition == "ei":
                score = np.mean([expected_improvement(mu[e], sd[e], best[e]) for e in range(len(mu))], 0)
            elif self.acquisition == "ucb":
                score = (mu + self.beta * sd).mean(0)
            else:
                score = mu.mean(0)
        for j in np.argsort(-score, kind="stable"):
            c = configs[j] if configs is not None else self.space.decode(Xc[j])
            if (keys[j] if keys is not None else config_key(c)) not in tried:
                return c
        raise SpaceExhausted(f"every one of the {len(Xc)} candidates has been tried")


# the variants the benchmark compares: name -> DKGPTuner arguments
VARIANTS = {
    "dkgp": dict(),
    "dkgp_minmax": dict(target="minmax"),
    "dkgp_mean": dict(acquisition="mean"),
    "dkgp_ucb05": dict(acquisition="ucb", beta=0.5),
    "dkgp_ucb05_cover1": dict(acquisition="ucb", beta=0.5, n_portfolio=1),
    "dkgp_ucb05_cover2": dict(acquisition="ucb", beta=0.5, n_portfolio=2),
    "dkgp_ucb05_ft": dict(acquisition="ucb", beta=0.5, finetune_steps=20),
    "dkgp_ucb05_prior": dict(acquisition="ucb", beta=0.5, zero_shot="prior"),
    "dkgp_ucb05_prior_cover2": dict(acquisition="ucb", beta=0.5, zero_shot="prior", n_cover=2),
    "dkgp_cover1": dict(n_portfolio=1),
    "dkgp_cover2": dict(n_portfolio=2),
    "dkgp_const": dict(mean="constant", n_portfolio=1),
    "dkgp_ucb": dict(acquisition="ucb"),
    "dkgp_matern": dict(kernel="matern"),
    "dkgp_ft": dict(finetune_steps=20),
    "dkgp_ens3": dict(n_ensemble=3),
    "dkgp_ens3_ucb05": dict(n_ensemble=3, acquisition="ucb", beta=0.5),
    "dkgp_ens3_ucb05_m1": dict(n_ensemble=3, acquisition="ucb", beta=0.5, members=1),
    "dkgp_ens3_ucb05_cover1": dict(n_ensemble=3, acquisition="ucb", beta=0.5, n_portfolio=1),
    "dkgp_ens3_mean": dict(n_ensemble=3, acquisition="mean"),
}
