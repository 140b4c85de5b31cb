"The trainer: acceptance on real tasks, failures as data and bugs as errors, reproducibility, packed = solo, bad input refused early."
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset

from metahpo_kit.models import ARCHS
from metahpo_kit.models import MLP
from metahpo_kit.models import Arch
from metahpo_kit.models import build_model
from metahpo_kit.space import SEED_SPACE
from metahpo_kit.tasks import load_task
from metahpo_kit import train
from metahpo_kit.train import F64_RTOL
from metahpo_kit.train import Budget
from metahpo_kit.train import TrialResult
from metahpo_kit.train import check_config
from metahpo_kit.train import fit
from metahpo_kit.train import fit_many
from metahpo_kit.train import float64_training

MLP_CFG = {"lr": 0.01, "batch_size": 32, "layers": 2, "units": 64, "optimizer": "adam", "dropout": 0.2}
PROFILE_FIELDS = {"wall_s", "cpu_s", "cpu_util", "peak_rss_mb", "gpu_peak_mem_mb", "gpu_util", "samples_per_s"}


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


# ---------------------------------------------------------------- acceptance on real tasks

def test_titanic_mlp_beats_the_majority_class(data_dir):
    task = load_task("titanic", data_dir=str(data_dir))
    r = fit(task, MLP_CFG, Budget(epochs=3))
    majority = torch.bincount(task.y["valid"]).max().item() / len(task.y["valid"])
    assert r.ok, r.reason
    assert r.val_accuracy > majority + 0.05, (r.val_accuracy, majority)


def test_mnist_5k_cnn_one_epoch():
    task = load_task("mnist_5k")
    r = fit(task, {"arch": "cnn", "lr": 3e-3, "batch_size": 32, "layers": 2, "units": 32, "optimizer": "adam",
                   "dropout": 0.0}, Budget(epochs=1))
    assert r.ok and r.epochs == 1
    assert r.test_accuracy >= 0.85, r


def test_sentiment_gru(data_dir):
    task = load_task("sentiment_sentences", data_dir=str(data_dir))
    r = fit(task, {"arch": "gru", "lr": 3e-3, "batch_size": 32, "layers": 1, "units": 64, "optimizer": "adam",
                   "dropout": 0.0}, Budget(epochs=5))
    assert r.ok
    assert r.test_accuracy > 0.65, r


def test_sentiment_frozen_minilm_with_mlp_head(data_dir):
    task = load_task("sentiment_sentences", data_dir=str(data_dir), max_train=1000)
    cfg = {"arch": "transformer", "lr": 1e-3, "batch_size": 32, "layers": 1, "units": 128, "optimizer": "adam",
           "dropout": 0.1}
    r = fit(task, cfg, Budget(epochs=10))
    assert r.ok
    assert r.test_accuracy > 0.75, r
    # the frozen encoder's head is an MLP on cached embeddings: fit_many packs such configs too
    many = fit_many(task, [cfg, {**cfg, "lr": 3e-3}], Budget(epochs=10))
    assert all(m.ok and m.profile["pack_size"] == 2 for m in many)
    assert many[0].test_accuracy > 0.75


# ---------------------------------------------------------------- failures are data

def test_a_short_resnet18_learns_with_precise_batchnorm_statistics(data_dir):
    """Width-8 ResNet-18, 300 CIFAR-10 images, 2 epochs (20 steps): with the running statistics training leaves, it
    scored chance (val 0.100) while its training loss fell; with `precise_bn` before each evaluation it does not."""
    task = load_task("cifar10", data_dir=str(data_dir), max_train=600)
    r = fit(task, {"arch": "resnet18", "width": 8, "lr": 1e-3, "batch_size": 32, "optimizer": "adam", "dropout": 0.0},
            Budget(epochs=2))
    share = torch.bincount(task.y["valid"]).max().item() / len(task.y["valid"])
    assert r.ok and r.train_loss[1] < r.train_loss[0]
    assert min(r.val_acc) > share + 2 * math.sqrt(share * (1 - share) / len(task.y["valid"])), (r.val_acc, share)


def test_precise_bn_averages_batch_statistics_and_draws_nothing():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 2))
    X = torch.randn(40, 3) * 3 + 1
    net.train()
    state = torch.get_rng_state()
    assert train.precise_bn(net, X, batch_size=10, rows=20)   # rows 0, 2, 4, ...: two batches of 10
    assert torch.equal(torch.get_rng_state(), state) and net.training and net[1].momentum == 0.1
    with torch.no_grad():
        h = net[0](X[::2])
    means = torch.stack([h[:10].mean(0), h[10:].mean(0)])
    variances = torch.stack([h[:10].var(0), h[10:].var(0)])   # unbiased, as BatchNorm keeps them
    torch.testing.assert_close(net[1].running_mean, means.mean(0))
    torch.testing.assert_close(net[1].running_var, variances.mean(0))
    assert not train.precise_bn(torch.nn.Linear(3, 2), X, 10)


def test_divergence_is_a_failed_trial_with_its_reason(digits):
    r = fit(digits, {**MLP_CFG, "optimizer": "sgd", "lr": 100.0, "dropout": 0.0}, Budget(epochs=5))
    assert r.status == "failed"
    assert r.reason.startswith("diverged: training loss") and "at epoch 1" in r.reason
    assert r.val_accuracy is None and r.test_accuracy is None
    json.dumps(r.to_dict())


def test_divergence_in_a_pack_stays_in_its_member(digits):
    cfgs = [{**MLP_CFG, "dropout": 0.0}, {**MLP_CFG, "optimizer": "sgd", "lr": 100.0, "dropout": 0.0},
            {**MLP_CFG, "optimizer": "rmsprop", "lr": 0.001, "dropout": 0.0}]
    # the others match the same pack without the diverging member: the same arithmetic in another pack layout,
    # compared in float64, where reordering cannot come near F64_RTOL (nbs/04_train.ipynb derives it)
    with float64_training(digits) as d64:
        packed = fit_many(d64, cfgs, Budget(steps=6))
        healthy = fit_many(d64, [cfgs[0], cfgs[2]], Budget(steps=6))
    assert [r.status for r in packed] == ["ok", "failed", "ok"]
    assert "diverged" in packed[1].reason
    for p, h in zip([packed[0], packed[2]], healthy):
        _assert_float64_close(p, h)


def test_exploding_finite_loss_is_a_failed_trial_solo_and_packed(digits):
    "Adam at lr=100 ends its 2nd epoch at a loss of about 6e5 (finite) and the accuracy of a constant guess."
    boom = {**MLP_CFG, "lr": 100.0, "dropout": 0.0}
    solo = fit(digits, boom, Budget(epochs=2))
    packed = fit_many(digits, [{**MLP_CFG, "dropout": 0.0}, boom], Budget(epochs=2))
    assert packed[1].profile["pack_size"] == 2
    for r in (solo, packed[1]):
        assert r.status == "failed" and r.reason.startswith("diverged: training loss exploded"), r.reason
        assert math.isfinite(r.train_loss[-1]) and r.train_loss[-1] > 10 * 2.3
        assert r.val_accuracy is None and r.test_accuracy is None
    assert packed[0].ok and packed[0].val_accuracy > 0.9


def test_a_shape_bug_raises_out_of_fit_and_fit_many(digits, monkeypatch):
    "A model with the wrong input size is a bug, not a property of the config: it raises, solo and packed."
    monkeypatch.setitem(ARCHS, "broken_mlp", Arch(("tabular",), lambda task, a: MLP(65, task.n_classes), packable=True))
    cfg = {**MLP_CFG, "arch": "broken_mlp"}
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        fit(digits, cfg, Budget(steps=1))
    with pytest.raises(RuntimeError, match="batch2 tensor"):
        fit_many(digits, [cfg, {**cfg, "lr": 0.1}], Budget(steps=1))


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 8 GB"),
                                   MemoryError()])
def test_out_of_memory_pack_falls_back_to_solo_and_says_so(digits, monkeypatch, error):
    cfgs = [MLP_CFG, {**MLP_CFG, "optimizer": "sgd"}]
    solo = fit_many(digits, cfgs, Budget(steps=3), batched=False)

    def no_room(*args):
        raise error
    monkeypatch.setattr(train, "_Pack", no_room)
    rs = fit_many(digits, cfgs, Budget(steps=3))
    for r, s in zip(rs, solo):
        assert r.ok and "ran out of memory" in r.profile["pack_fallback"] and type(error).__name__ in r.profile["pack_fallback"]
        assert "pack_size" not in r.profile
        assert (r.train_loss, r.val_loss, r.test_accuracy) == (s.train_loss, s.val_loss, s.test_accuracy)


def test_other_errors_in_a_pack_raise(digits, monkeypatch):
    def bug(*args):
        raise RuntimeError("expected scalar type Float but found Double")
    monkeypatch.setattr(train, "_Pack", bug)
    with pytest.raises(RuntimeError, match="expected scalar type"):
        fit_many(digits, [MLP_CFG, {**MLP_CFG, "lr": 0.1}], Budget(steps=1))


def test_out_of_memory_in_fit_is_a_failed_trial(digits, monkeypatch):
    def no_room(*args):
        raise MemoryError("could not allocate")
    monkeypatch.setattr(train, "_Solo", no_room)
    r = fit(digits, MLP_CFG, Budget(steps=1))
    assert r.status == "failed" and r.reason.startswith("out of memory: MemoryError")


# ---------------------------------------------------------------- reproducibility, the textbook loop, profile

def test_same_seed_same_curves_and_profile_filled(digits):
    a = fit(digits, MLP_CFG, Budget(epochs=3), seed=7)
    b = fit(digits, MLP_CFG, Budget(epochs=3), seed=7)
    c = fit(digits, MLP_CFG, Budget(epochs=3), seed=8)
    assert (a.train_loss, a.val_loss, a.val_acc, a.test_f1) == (b.train_loss, b.val_loss, b.val_acc, b.test_f1)
    assert a.train_loss != c.train_loss
    assert len(a.train_loss) == len(a.val_loss) == len(a.val_acc) == 3
    assert PROFILE_FIELDS <= set(a.profile)
    assert a.profile["wall_s"] > 0 and a.profile["cpu_s"] > 0 and a.profile["peak_rss_mb"] > 0
    assert a.samples_per_s == pytest.approx(3 * len(digits.y["train"]) / a.wall_s)
    assert 0 <= a.test_f1 <= 1 and a.device == "cpu" and a.seed == 7


@pytest.mark.parametrize("config", [MLP_CFG, {**MLP_CFG, "optimizer": "sgd", "dropout": 0.5, "batch_size": 64}])
def test_a_continued_trial_has_the_uninterrupted_curve(digits, tmp_path, config):
    "Trained 1 epoch, then continued to 4 from its checkpoint: the curves and scores of one run of 4 epochs."
    whole = fit(digits, config, Budget(epochs=4), seed=3)
    ck = tmp_path / "trial.pt"
    first = fit(digits, config, Budget(epochs=1), seed=3, checkpoint=ck)
    torch.manual_seed(123)   # the caller's random state does not leak into the trial
    more = fit(digits, config, Budget(epochs=4), seed=3, checkpoint=ck)
    assert (first.epochs, first.resumed_epochs, more.epochs, more.resumed_epochs) == (1, 0, 4, 1)
    assert first.val_acc == whole.val_acc[:1]
    assert (more.train_loss, more.val_loss, more.val_acc) == (whole.train_loss, whole.val_loss, whole.val_acc)
    assert (more.val_accuracy, more.test_accuracy, more.test_f1, more.steps) == \
        (whole.val_accuracy, whole.test_accuracy, whole.test_f1, whole.steps)
    assert more.samples_per_s == pytest.approx(3 * len(digits.y["train"]) / more.wall_s)   # this call's epochs only
    again = fit(digits, config, Budget(epochs=4), seed=3, checkpoint=ck)   # nothing left to train
    assert (again.val_acc, again.test_accuracy, again.resumed_epochs) == (whole.val_acc, whole.test_accuracy, 4)


def test_a_checkpoint_of_another_trial_is_refused_and_a_longer_one_kept(digits, tmp_path):
    ck = tmp_path / "trial.pt"
    fit(digits, MLP_CFG, Budget(epochs=2), seed=0, checkpoint=ck)
    with pytest.raises(ValueError, match=r"holds another trial.*'seed': \(0, 1\)"):
        fit(digits, MLP_CFG, Budget(epochs=3), seed=1, checkpoint=ck)
    short = fit(digits, MLP_CFG, Budget(epochs=1), seed=0, checkpoint=ck)   # fewer epochs: trained from the start
    assert short.resumed_epochs == 0 and short.epochs == 1
    assert torch.load(ck, weights_only=True)["epochs"] == 2


def test_identical_to_the_dataloader_loop(digits):
    "Same seed: the kit's in-memory batches give bit-identical curves to DataLoader(TensorDataset) with shuffling."
    cfg = {**MLP_CFG, "optimizer": "rmsprop", "lr": 0.001}
    r = fit(digits, cfg, Budget(epochs=2), seed=3)
    torch.manual_seed(3)
    model = build_model(digits, cfg)
    opt = torch.optim.RMSprop(model.parameters(), lr=cfg["lr"])
    loader = DataLoader(TensorDataset(digits.X["train"], digits.y["train"]), batch_size=cfg["batch_size"],
                        shuffle=True, generator=torch.Generator().manual_seed(3))
    losses = []
    for _ in range(2):
        model.train()
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(digits.y["train"]))
    assert losses == r.train_loss


def test_to_dict_is_one_flat_json_row(digits):
    r = fit(digits, MLP_CFG, Budget(steps=3))
    row = r.to_dict()
    json.dumps(row)
    assert row["config.lr"] == 0.01 and row["status"] == "ok" and row["budget.steps"] == 3
    assert "profile.peak_rss_mb" in row and isinstance(row["val_acc"], list)
    assert not any(isinstance(v, dict) for v in row.values())


# ---------------------------------------------------------------- budgets and callbacks

def test_step_budget_stops_mid_epoch(digits):
    r = fit(digits, MLP_CFG, Budget(steps=5))
    assert r.steps == 5 and len(r.val_acc) == 1
    assert r.epochs == pytest.approx(5 * 32 / len(digits.y["train"]))


class StepClock:
    "The training loop's clock, moving `dt` seconds at each reading: a time budget's rule, whatever the machine's load."

    def __init__(self, dt: float):
        self.dt, self.t = dt, 0.0

    def perf_counter(self) -> float:
        now = self.t
        self.t += self.dt
        return now


def test_time_budget_stops_at_the_first_step_past_it(digits, monkeypatch):
    # the loop reads the clock once at its start and once after each step: 30 steps of 0.01 s reach 0.3 s
    monkeypatch.setattr(train, "time", StepClock(0.01))
    r = fit(digits, {**MLP_CFG, "batch_size": 16}, Budget(seconds=0.3, epochs=1000))
    assert r.ok and r.val_accuracy is not None
    assert r.steps == 30 and r.epochs == pytest.approx(30 * 16 / len(digits.y["train"]))


def test_time_budget_honoured_by_packed_training(digits, monkeypatch):
    monkeypatch.setattr(train, "time", StepClock(0.01))
    cfgs = [{**MLP_CFG, "batch_size": 16, "lr": lr} for lr in (0.001, 0.01, 0.1)]
    rs = fit_many(digits, cfgs, Budget(seconds=0.3, epochs=1000))
    assert all(r.profile["pack_size"] == 3 for r in rs)              # a time budget no longer forces configs out of packs
    assert all(r.ok and r.steps == 30 for r in rs)


def test_resolved_fields_stay_out_of_the_config(digits):
    given = dict(MLP_CFG)
    checked = check_config(digits, given)
    assert not any(k.startswith("_") for k in checked) and given == MLP_CFG
    r = fit(digits, given, Budget(steps=1))
    assert r.config == MLP_CFG and given == MLP_CFG


def test_epochs_and_steps_combined_first_wins(digits):
    r = fit(digits, MLP_CFG, Budget(epochs=1, steps=1000))
    assert len(r.val_acc) == 1 and r.steps == math.ceil(len(digits.y["train"]) / 32)


def test_callback_stops_the_trial(digits):
    r = fit(digits, MLP_CFG, Budget(epochs=10), callbacks=[lambda res, epoch: res.val_acc[-1] > 0.5])
    assert r.ok and len(r.val_acc) == 1


def test_default_budget_per_modality(digits):
    r = fit(digits, {**MLP_CFG, "batch_size": 256})
    assert r.budget == {"epochs": 10, "steps": None, "seconds": None} and len(r.val_acc) == 10


# ---------------------------------------------------------------- many configs at once

def _assert_float64_close(p: TrialResult, s: TrialResult):
    "Two runs of the same arithmetic in another order (a pack against its members alone), trained in float64: they"
    "differ by float64 reordering alone, far below F64_RTOL, which float32 rounding anywhere in either path exceeds."
    assert p.status == s.status == "ok"
    assert p.train_loss == pytest.approx(s.train_loss, rel=F64_RTOL, abs=F64_RTOL)
    assert p.val_loss == pytest.approx(s.val_loss, rel=F64_RTOL, abs=F64_RTOL)


def _assert_within_seed_noise(packed: list, solo: list, other_seed: list):
    "Rounding differences grow with every step, so longer runs are compared the way two seeds are: the mean gap"
    "packed vs solo (same seed) must be under half the mean gap between solo runs of two seeds."
    for field in ("val_loss", "val_acc"):
        same = sum(abs(getattr(p, field)[-1] - getattr(s, field)[-1]) for p, s in zip(packed, solo)) / len(solo)
        seeds = sum(abs(getattr(s, field)[-1] - getattr(o, field)[-1]) for s, o in zip(solo, other_seed)) / len(solo)
        assert same < 0.5 * seeds, (field, same, seeds)


def test_packed_matches_solo_with_dropout_off(digits):
    cfgs = [
        {"lr": 0.001, "batch_size": 32, "layers": 3, "units": 64, "optimizer": "adam", "dropout": 0.0},
        {"lr": 0.01, "batch_size": 32, "layers": 3, "units": 64, "optimizer": "adam", "dropout": 0.0, "weight_decay": 1e-3},
        {"lr": 0.1, "batch_size": 32, "layers": 3, "units": 64, "optimizer": "sgd", "dropout": 0.0},
        {"lr": 0.01, "batch_size": 32, "layers": 3, "units": 64, "optimizer": "sgd", "dropout": 0.0, "momentum": 0.9},
        {"lr": 0.01, "batch_size": 32, "layers": 3, "units": 64, "optimizer": "sgd", "dropout": 0.0, "momentum": 0.9,
         "nesterov": True},
        {"lr": 0.001, "batch_size": 32, "layers": 3, "units": 64, "optimizer": "rmsprop", "dropout": 0.0},
        {"lr": 0.001, "batch_size": 32, "layers": 3, "units": 64, "optimizer": "RMSprop", "dropout": 0.0, "momentum": 0.5},
    ]
    with float64_training(digits) as d64:
        packed = fit_many(d64, cfgs, Budget(steps=2), seed=2)
        solo = fit_many(d64, cfgs, Budget(steps=2), seed=2, batched=False)
    assert all(r.profile["pack_size"] == len(cfgs) for r in packed)
    assert [p.config for p in packed] == cfgs
    for p, s in zip(packed, solo):
        _assert_float64_close(p, s)
    _assert_within_seed_noise(fit_many(digits, cfgs, Budget(epochs=3), seed=2),
                              fit_many(digits, cfgs, Budget(epochs=3), seed=2, batched=False),
                              fit_many(digits, cfgs, Budget(epochs=3), seed=3, batched=False))


def test_packed_with_one_seed_per_member(digits):
    cfgs = [{**MLP_CFG, "dropout": 0.0}] * 3
    with float64_training(digits) as d64:
        packed = fit_many(d64, cfgs, Budget(steps=1), seed=[0, 1, 2])
        solo = [fit(d64, cfgs[0], Budget(steps=1), seed=seed) for seed in [0, 1, 2]]
    for p, s in zip(packed, solo):
        _assert_float64_close(p, s)
    assert len({p.train_loss[0] for p in packed}) == 3   # three seeds, three batch orders and initialisations


def test_packed_with_dropout_is_within_seed_noise(digits):
    grid = [c for c in SEED_SPACE.grid() if c["batch_size"] == 64 and c["layers"] == 2 and c["units"] == 64
            and c["lr"] == 0.001]
    packed = fit_many(digits, grid, Budget(epochs=5))
    solo = fit_many(digits, grid, Budget(epochs=5), batched=False)
    assert packed[0].profile["pack_size"] == len(grid) == 6
    assert all("pack_size" not in s.profile for s in solo)
    # with dropout a packed member draws other masks than its solo run: the two agree in distribution, not in digits.
    # Allowed: four standard deviations of the difference of two accuracies, each a share of n validation rows, at the
    # widest (a share of 1/2: sd = sqrt(1/4n) each), so a config passes unless packing changes what it learns
    n = len(digits.y["valid"])
    allowed = 4 * math.sqrt(2 * 0.25 / n)
    for p, s in zip(packed, solo):
        assert abs(p.val_accuracy - s.val_accuracy) < allowed, (p.config, p.val_accuracy, s.val_accuracy, allowed)


def test_fit_many_keeps_order_and_runs_the_unpackable_alone(digits):
    cfgs = [{**MLP_CFG, "units": 32}, {**MLP_CFG, "optimizer": "adamw"}, {**MLP_CFG, "units": 32, "optimizer": "sgd"}]
    rs = fit_many(digits, cfgs, Budget(epochs=1))
    assert [r.config for r in rs] == cfgs
    assert rs[0].profile["pack_size"] == 2 and rs[2].profile["pack_size"] == 2
    assert "pack_size" not in rs[1].profile
    assert all(r.ok for r in rs)


# ---------------------------------------------------------------- bad input, refused before training

@pytest.fixture
def no_training(monkeypatch):
    "Fail the test if any training starts."
    def boom(*a, **k):
        raise AssertionError("training started")
    monkeypatch.setattr(train, "_train", boom)


@pytest.mark.parametrize("config, budget, error, message", [
    ({**MLP_CFG, "arch": "cnn"}, None, ValueError, "arch='cnn' does not fit task 'digits'"),
    ({**MLP_CFG, "optimizer": "adamx"}, None, ValueError, "optimizer='adamx' is not a torch.optim optimizer"),
    ({**MLP_CFG, "lr": -1}, None, ValueError, "lr=-1 must be a number > 0"),
    ({**MLP_CFG, "batch_size": 0}, None, ValueError, "batch_size=0 must be an integer >= 1"),
    ({**MLP_CFG, "momentun": 0.9}, None, ValueError, "['momentun'] are read by nothing"),
])
def test_bad_config_refused_before_training(digits, no_training, config, budget, error, message):
    with pytest.raises(error) as e:
        fit(digits, config, budget)
    assert message in str(e.value)
    with pytest.raises(error):
        fit_many(digits, [MLP_CFG, config], budget)


@pytest.mark.parametrize("kw, message", [
    ({"epochs": 0}, "epochs=0 must be a number > 0"),
    ({"steps": -3}, "steps=-3 must be a number > 0"),
    ({"seconds": 0.0}, "seconds=0.0 must be a number > 0"),
    ({"epochs": float("nan")}, "epochs=nan must be a number > 0"),
])
def test_budget_of_zero_or_below(kw, message):
    with pytest.raises(ValueError) as e:
        Budget(**kw)
    assert message in str(e.value)


def test_transformer_on_images_refused(no_training):
    task = load_task("mnist_5k")
    with pytest.raises(ValueError, match="arch='transformer' does not fit task 'mnist_5k'"):
        fit(task, {**MLP_CFG, "arch": "transformer"})


def test_text_task_with_missing_model_directory(data_dir, no_training, tmp_path):
    task = load_task("sentiment_sentences", data_dir=str(data_dir), max_train=100)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fit(task, {**MLP_CFG, "arch": "transformer", "model": str(tmp_path / "missing")})


@pytest.mark.slow
def test_seed_grid_packed_vs_solo_on_digits(digits):
    "The full seed grid (486 configs, 3 epochs), packed against solo: every ok member within seed noise."
    grid = SEED_SPACE.grid()
    packed = fit_many(digits, grid, Budget(epochs=3))
    solo = fit_many(digits, grid, Budget(epochs=3), batched=False)
    diffs = [abs(p.val_accuracy - s.val_accuracy) for p, s in zip(packed, solo) if p.ok and s.ok]
    assert len(diffs) > 400
    assert sum(diffs) / len(diffs) < 0.03


def test_denormals_are_not_flushed_outside_training():
    "Flushing denormals is process-wide state: the trainer turns it on only while it trains."
    from metahpo_kit.tasks import load_task
    from metahpo_kit.train import Budget, fit
    tiny = torch.tensor([1e-40], dtype=torch.float32)    # subnormal in float32
    fit(load_task("wine"), {"lr": 0.01, "batch_size": 32, "layers": 2, "units": 16, "optimizer": "adam",
                            "dropout": 0.0}, budget=Budget(epochs=1))
    assert (tiny * 1.0).item() != 0.0


# ---------------------------------------------------------------- what stopped a trial, and its validation F1

def test_stopped_by_names_the_limit_that_ended_training(digits):
    assert fit(digits, MLP_CFG, Budget(epochs=1)).stopped_by == "epochs"
    assert fit(digits, MLP_CFG, Budget(epochs=5, steps=3)).stopped_by == "steps"
    tiny = fit(digits, MLP_CFG, Budget(epochs=1000, seconds=1e-6))   # past its seconds after the first step
    assert tiny.ok and tiny.steps == 1 and tiny.stopped_by == "seconds"
    stopped = fit(digits, MLP_CFG, Budget(epochs=5), callbacks=[lambda res, epoch: True])
    assert stopped.stopped_by == "callback"
    bad = fit(digits, {**MLP_CFG, "optimizer": "sgd", "lr": 100.0, "dropout": 0.0}, Budget(epochs=3))
    assert (bad.status, bad.stopped_by) == ("failed", "diverged")
    row = tiny.to_dict()
    assert row["stopped_by"] == "seconds" and "val_f1" in row


def test_stopped_by_in_a_pack(digits):
    cfgs = [{**MLP_CFG, "lr": 0.01}, {**MLP_CFG, "lr": 100.0, "dropout": 0.0}]
    rs = fit_many(digits, cfgs, Budget(epochs=2))
    assert [r.stopped_by for r in rs] == ["epochs", "diverged"]
    assert [r.stopped_by for r in fit_many(digits, cfgs[:1] * 2, Budget(steps=2))] == ["steps", "steps"]


def test_val_f1_is_the_macro_f1_of_the_validation_predictions(digits, monkeypatch):
    from sklearn.metrics import f1_score
    seen = []
    real = train._macro_f1

    def spy(y, pred, n_classes):
        seen.append((y.clone(), pred.clone()))
        return real(y, pred, n_classes)

    monkeypatch.setattr(train, "_macro_f1", spy)
    r = fit(digits, MLP_CFG, Budget(epochs=1))
    (y_val, p_val), (y_test, _) = seen
    assert torch.equal(y_val, digits.y["valid"]) and torch.equal(y_test, digits.y["test"])
    assert r.val_f1 == pytest.approx(f1_score(y_val.numpy(), p_val.numpy(), average="macro"))
    assert r.val_accuracy == pytest.approx((p_val == y_val).float().mean().item())   # the same predictions
