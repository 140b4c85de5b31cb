"The trainer: acceptance on real tasks, failures as data, reproducibility, packed = solo, bad input refused early."
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import TensorDataset

from metahpo_kit.models import build_model
from metahpo_kit.space import SEED_SPACE
from metahpo_kit.tasks import load_task
from metahpo_kit import train
from metahpo_kit.train import Budget
from metahpo_kit.train import TrialResult
from metahpo_kit.train import fit
from metahpo_kit.train import fit_many

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

def test_divergence_is_a_failed_trial_with_its_reason(digits):
    r = fit(digits, {**MLP_CFG, "optimizer": "sgd", "lr": 100.0, "dropout": 0.0}, Budget(epochs=5))
    assert r.status == "failed"
    assert r.reason.startswith("diverged: training loss") and "at epoch 1" in r.reason
    assert r.val_accuracy is None and r.test_accuracy is None
    json.dumps(r.to_dict())


def test_divergence_in_a_pack_stays_in_its_member(digits):
    cfgs = [{**MLP_CFG, "dropout": 0.0}, {**MLP_CFG, "optimizer": "sgd", "lr": 100.0, "dropout": 0.0},
            {**MLP_CFG, "optimizer": "rmsprop", "lr": 0.001, "dropout": 0.0}]
    packed = fit_many(digits, cfgs, Budget(epochs=2))
    assert [r.status for r in packed] == ["ok", "failed", "ok"]
    assert "diverged" in packed[1].reason
    alone = fit(digits, cfgs[0], Budget(epochs=2))
    assert packed[0].train_loss == pytest.approx(alone.train_loss, rel=1e-4)


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


def test_time_budget_stops_cleanly(digits):
    r = fit(digits, {**MLP_CFG, "batch_size": 16}, Budget(seconds=0.3, epochs=1000))
    assert r.ok and r.steps > 0 and r.val_accuracy is not None
    assert r.epochs < 1000
    assert r.wall_s < 10


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

def _assert_close(a: TrialResult, b: TrialResult):
    assert a.status == b.status == "ok"
    assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4, abs=1e-5)
    assert a.val_loss == pytest.approx(b.val_loss, rel=1e-4, abs=1e-5)
    assert a.val_acc == pytest.approx(b.val_acc, abs=0.005)
    assert a.test_accuracy == pytest.approx(b.test_accuracy, abs=0.005)


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
    packed = fit_many(digits, cfgs, Budget(epochs=3), seed=2)
    solo = [fit(digits, c, Budget(epochs=3), seed=2) for c in cfgs]
    assert all(r.profile["pack_size"] == len(cfgs) for r in packed)
    for p, s, c in zip(packed, solo, cfgs):
        assert p.config == c
        _assert_close(p, s)


def test_packed_with_one_seed_per_member(digits):
    cfgs = [{**MLP_CFG, "dropout": 0.0}] * 3
    packed = fit_many(digits, cfgs, Budget(epochs=2), seed=[0, 1, 2])
    for p, seed in zip(packed, [0, 1, 2]):
        _assert_close(p, fit(digits, cfgs[0], Budget(epochs=2), seed=seed))


def test_packed_with_dropout_is_within_seed_noise(digits):
    grid = [c for c in SEED_SPACE.grid() if c["batch_size"] == 64 and c["layers"] == 2 and c["units"] == 64
            and c["lr"] == 0.001]
    packed = fit_many(digits, grid, Budget(epochs=5))
    solo = fit_many(digits, grid, Budget(epochs=5), batched=False)
    assert packed[0].profile["pack_size"] == len(grid) == 6
    assert all("pack_size" not in s.profile for s in solo)
    for p, s in zip(packed, solo):
        assert abs(p.val_accuracy - s.val_accuracy) < 0.08, (p.config, p.val_accuracy, s.val_accuracy)


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
    monkeypatch.setattr(train, "_train_solo", boom)
    monkeypatch.setattr(train, "_train_pack", boom)


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
