"Base models: the right network for each modality, shapes, bad architectures refused, ResNet-18 trains a step."
import pytest
import torch
import torch.nn.functional as F

from metahpo_kit.models import MLP
from metahpo_kit.models import RNNClassifier
from metahpo_kit.models import ResNet18
from metahpo_kit.models import SimpleCNN
from metahpo_kit.models import TransformerClassifier
from metahpo_kit.models import build_model
from metahpo_kit.models import check_model_path
from metahpo_kit.models import text_embeddings
from metahpo_kit.tasks import Task
from metahpo_kit.tasks import VocabTokenizer
from metahpo_kit.tasks import load_task
from metahpo_kit.train import Budget
from metahpo_kit.train import fit


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


@pytest.fixture(scope="module")
def mnist():
    return load_task("mnist_5k")


@pytest.fixture(scope="module")
def tiny_text():
    texts = {"train": ["a great film", "truly awful", "great fun", "awful plot"], "valid": ["great", "awful"],
             "test": ["great acting", "awful acting"]}
    tok = VocabTokenizer(max_length=8, min_df=1).fit(texts["train"])
    y = {"train": torch.tensor([1, 0, 1, 0]), "valid": torch.tensor([1, 0]), "test": torch.tensor([1, 0])}
    return Task("tiny_text", "text", ["neg", "pos"], X={s: tok(t) for s, t in texts.items()}, y=y, texts=texts,
                vocab_size=tok.vocab_size, preprocessor=tok)


def test_mlp_reads_layers_units_dropout(digits):
    m = build_model(digits, {"layers": 3, "units": 32, "dropout": 0.5})
    assert isinstance(m, MLP)
    assert [lin.out_features for lin in m.hidden] == [32, 32, 32]
    assert m.dropout == 0.5
    assert m(digits.X["train"][:7]).shape == (7, 10)


def test_image_architectures(mnist):
    cnn = build_model(mnist, {"layers": 3, "units": 8})
    assert isinstance(cnn, SimpleCNN)
    assert sum(isinstance(l, torch.nn.Conv2d) for l in cnn.features) == 3
    assert cnn(mnist.X["train"][:2]).shape == (2, 10)
    assert isinstance(build_model(mnist, {"arch": "resnet18"}), ResNet18)
    assert isinstance(build_model(mnist, {"arch": "mlp"}), MLP)


def test_resnet18_is_the_small_image_form():
    r = ResNet18(3, 10)
    assert r.stem[0].kernel_size == (3, 3) and r.stem[0].stride == (1, 1)
    assert sum(p.numel() for p in r.parameters()) == 11_173_962
    assert r(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_text_architectures(tiny_text):
    gru = build_model(tiny_text, {"arch": "gru", "layers": 2, "units": 16})
    lstm = build_model(tiny_text, {"arch": "lstm", "units": 16})
    assert isinstance(gru, RNNClassifier) and isinstance(gru.rnn, torch.nn.GRU) and gru.rnn.num_layers == 2
    assert isinstance(lstm.rnn, torch.nn.LSTM)
    gru.eval()
    ids = tiny_text.X["train"]
    torch.testing.assert_close(gru(ids), gru(F.pad(ids, (0, 30))))   # padding changes nothing


def test_transformer_frozen_on_cpu(tiny_text):
    m = build_model(tiny_text, {"arch": "transformer", "layers": 1, "units": 16})
    assert isinstance(m, TransformerClassifier) and m.frozen
    assert not any(p.requires_grad for p in m.encoder.parameters())
    assert all(p.requires_grad for p in m.head.parameters())
    ids = tiny_text.hf_encode(m.model_path, max_length=16)["train"]["input_ids"]
    assert m(ids).shape == (4, 2)
    emb = text_embeddings(tiny_text, m.model_path, max_length=16, cache=False)
    assert emb["train"].shape == (4, m.encoder.config.hidden_size)
    torch.testing.assert_close(m.head(emb["train"]), m(ids), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("modality_task, config, message", [
    ("digits", {"arch": "cnn"}, "arch='cnn' does not fit task 'digits'"),
    ("digits", {"arch": "resnet18"}, "allowed for tabular: ['mlp']"),
    ("mnist", {"arch": "transformer"}, "arch='transformer' does not fit task 'mnist_5k'"),
    ("mnist", {"arch": "gru"}, "allowed for image"),
    ("digits", {"layers": 0}, "layers=0 must be an integer >= 1"),
    ("digits", {"units": 2.5}, "units=2.5 must be an integer >= 1"),
    ("digits", {"dropout": -0.1}, "dropout=-0.1 must be a number in [0, 1)"),
])
def test_architecture_that_does_not_fit(request, modality_task, config, message):
    task = request.getfixturevalue(modality_task)
    with pytest.raises(ValueError, match=None) as e:
        build_model(task, config)
    assert message in str(e.value)


def test_missing_model_directory(tiny_text, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_model(tiny_text, {"arch": "transformer", "model": str(tmp_path / "nope")})
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        check_model_path(str(tmp_path))


def test_offline_hub_id_not_cached(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="the hub is off"):
        check_model_path("no-such-org/no-such-model-xyz")


def test_seeded_build_is_reproducible(mnist):
    torch.manual_seed(3)
    a = build_model(mnist, {"arch": "resnet18"}).state_dict()
    torch.manual_seed(3)
    b = build_model(mnist, {"arch": "resnet18"}).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resnet18_trains_one_step_on_cifar10(data_dir):
    task = load_task("cifar10", data_dir=str(data_dir), max_train=200, max_test=100)
    r = fit(task, {"arch": "resnet18", "lr": 0.01, "batch_size": 32, "optimizer": "sgd", "momentum": 0.9},
            Budget(steps=1))
    assert r.ok, r.reason
    assert r.steps == 1 and len(r.train_loss) == 1
    assert r.train_loss[0] > 1.0          # one step from a random start: about log(10)
    assert 0.0 <= r.test_accuracy <= 1.0
    assert r.profile["peak_rss_mb"] > 0


def test_transformer_fine_tunes_when_asked(tiny_text):
    "The GPU path (fine-tuning the whole encoder), forced on the CPU for one step on a tiny task."
    r = fit(tiny_text, {"arch": "transformer", "finetune": True, "lr": 1e-4, "batch_size": 4, "layers": 1,
                        "units": 8, "optimizer": "adamw", "max_length": 16}, Budget(steps=1))
    assert r.ok, r.reason
    assert r.steps == 1 and r.arch == "transformer"
