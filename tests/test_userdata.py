"Your own data: one file or a folder, the modality inferred, every decision noted, bad input refused with what to do."
import io
import socket
import warnings

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits

from metahpo_kit import tasks as T
from metahpo_kit import userdata as U
from metahpo_kit.tasks import META_FEATURES, load_task, meta_features


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("METAHPO_CACHE_DIR", str(tmp_path / "cache"))


def _cancer() -> pd.DataFrame:
    "569 rows, 30 numbers, an imbalanced label (212 malignant, 357 benign)."
    frame = load_breast_cancer(as_frame=True).frame
    frame["label"] = frame.pop("target").map({0: "malignant", 1: "benign"})
    return frame


def _reviews(n: int = 80) -> pd.DataFrame:
    "A long text column, a short one, a number, and the label."
    rng = np.random.default_rng(0)
    good = ["a", "warm", "funny", "clever", "film", "I", "loved", "it"]
    bad = ["a", "dull", "slow", "film", "I", "hated", "it", "badly"]
    text = [" ".join(rng.choice(good if i % 2 else bad, size=9)) for i in range(n)]
    return pd.DataFrame({"text": text, "city": rng.choice(["Leeds", "New York"], size=n), "stars": rng.integers(1, 6, n),
                         "label": ["pos" if i % 2 else "neg" for i in range(n)]})


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((a.reshape(8, 8) * 15).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _digit_images(n: int = 200) -> pd.DataFrame:
    "scikit-learn's 8x8 digits as PNG bytes in dicts, the way other tools write image Parquet files."
    X, y = load_digits(return_X_y=True)
    return pd.DataFrame({"image": [{"bytes": _png(a), "path": None} for a in X[:n]], "label": y[:n]})


# ---- 1. one file, or a folder ----
def test_one_csv_file_is_split_80_20_stratified_and_seeded(tmp_path):
    _cancer().to_csv(tmp_path / "cancer.csv", index=False)
    task = load_task(str(tmp_path / "cancer.csv"), target="label")
    assert task.name == "cancer" and task.modality == "tabular" and task.class_names == ["benign", "malignant"]
    sizes = task.sizes()
    assert sizes["test"] == 114 and sizes["train"] + sizes["valid"] == 455          # 20% of 569, rounded up
    assert sizes["valid"] == T.valid_size(455)                                       # validation carved as for any task
    share = lambda y: float(np.mean(y.numpy() == 1))
    assert abs(share(task.y["test"]) - 212 / 569) < 0.01                             # stratified by the label
    assert task.info["notes"] == ["modality inferred: tabular (no text or image column)",
                                  "one file: split 80/20 into train/test, stratified by 'label', seed 0"]
    assert float(task.X["train"].mean(0).abs().max()) < 1e-4                         # scaling fitted on train
    again = load_task(str(tmp_path / "cancer.csv"), target="label", cache=False)
    other = load_task(str(tmp_path / "cancer.csv"), target="label", seed=1)
    assert torch.equal(again.X["test"], task.X["test"]) and torch.equal(again.y["test"], task.y["test"])
    assert not torch.equal(other.y["test"], task.y["test"])
    assert other.info["notes"][1].endswith("seed 1")
    assert list(meta_features(task)) == list(META_FEATURES)


def test_one_parquet_file_and_a_folder_holding_it(tmp_path):
    (tmp_path / "mine").mkdir()
    _cancer().to_parquet(tmp_path / "mine" / "cancer.parquet")
    from_file = load_task(str(tmp_path / "mine" / "cancer.parquet"), target="label")
    from_folder = load_task(str(tmp_path / "mine"), target="label")
    assert torch.equal(from_file.X["train"], from_folder.X["train"])
    assert torch.equal(from_file.y["test"], from_folder.y["test"])
    assert from_folder.info["notes"][0] == f"folder {tmp_path / 'mine'}: one data file, cancer.parquet, loaded as that file"
    assert from_folder.info["notes"][1:] == from_file.info["notes"]


def test_a_folder_with_train_and_test_files_keeps_its_split(tmp_path):
    frame = _cancer()
    frame.iloc[:400].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[400:].to_csv(tmp_path / "test.csv", index=False)
    task = load_task(str(tmp_path), target="label")
    assert task.sizes()["test"] == 169
    assert task.info["notes"] == ["modality inferred: tabular (no text or image column)"]   # no split of ours


def test_notes_and_modality_survive_the_cache(tmp_path, monkeypatch):
    _reviews().to_csv(tmp_path / "reviews.csv", index=False)
    first = load_task(str(tmp_path / "reviews.csv"), target="label")

    def no_build(*a, **k):
        raise AssertionError("rebuilt although cached")
    monkeypatch.setattr(T, "_build", no_build)
    second = load_task(str(tmp_path / "reviews.csv"), target="label")
    assert second.modality == "text" and second.info["notes"] == first.info["notes"]
    # the same file with modality= given is another task: it is built, not read from the inferred one's cache
    with pytest.raises(AssertionError, match="rebuilt"):
        load_task(str(tmp_path / "reviews.csv"), target="label", modality="tabular")


def test_catalogue_tasks_have_notes_too():
    task = load_task("wine")
    assert task.info["notes"] == []


# ---- 2. the modality inferred ----
def test_text_inferred_from_a_long_string_column(tmp_path):
    _reviews().to_csv(tmp_path / "reviews.csv", index=False)
    task = load_task(str(tmp_path / "reviews.csv"), target="label")
    assert task.modality == "text" and task.X["train"].dtype == torch.int64
    assert task.info["notes"][0] == ("modality inferred: text (column 'text': median 9 words a row, at least 5); "
                                     "columns not used: ['city', 'stars']")
    assert task.texts["test"][0].count(" ") == 8                                   # the texts, as they were
    assert list(meta_features(task)) == list(META_FEATURES)


def test_short_strings_stay_tabular(tmp_path):
    frame = _reviews().drop(columns="text")                                        # 'New York': two words
    frame.to_csv(tmp_path / "short.csv", index=False)
    task = load_task(str(tmp_path / "short.csv"), target="label")
    assert task.modality == "tabular" and task.input_shape == (3,)                 # stars, city one-hot


def test_image_inferred_from_a_bytes_column(tmp_path):
    _digit_images().to_parquet(tmp_path / "digits.parquet")
    task = load_task(str(tmp_path / "digits.parquet"), target="label")
    assert task.modality == "image" and task.input_shape == (1, 8, 8) and task.X["train"].dtype == torch.float32
    assert task.info["notes"][0] == "modality inferred: image (column 'image' holds images)"
    assert list(meta_features(task)) == list(META_FEATURES)


def test_image_inferred_from_the_mirrors_parquet(tmp_path, data_dir):
    import pyarrow.parquet as pq
    pq.write_table(pq.read_table(data_dir / "cifar10" / "test.parquet").slice(0, 200), tmp_path / "cifar.parquet")
    task = load_task(str(tmp_path / "cifar.parquet"), target="label")
    assert task.modality == "image" and task.input_shape == (3, 32, 32)
    assert task.info["notes"][0] == "modality inferred: image (column 'img' holds images)"


def test_modality_and_input_col_override_the_rule(tmp_path):
    _reviews().to_csv(tmp_path / "reviews.csv", index=False)
    table = load_task(str(tmp_path / "reviews.csv"), target="label", modality="tabular")
    assert table.modality == "tabular" and table.info["notes"] == [
        "one file: split 80/20 into train/test, stratified by 'label', seed 0"]
    city = load_task(str(tmp_path / "reviews.csv"), target="label", input_col="city")
    assert city.modality == "text" and city.info["notes"][0] == "modality inferred: text (input_col 'city' holds strings)"
    with pytest.raises(ValueError, match="input_col='stars' holds .* neither images nor text"):
        load_task(str(tmp_path / "reviews.csv"), target="label", input_col="stars")


def test_infer_modality_rule_directly():
    d = datasets.Dataset.from_dict({"a": [1.0, 2.0], "name": ["Braund, Mr. Owen Harris", "Heikkinen, Miss. Laina"],
                                    "y": [0, 1]})
    assert U.infer_modality(d, "y")[0] == "tabular"                                # names are short
    pics = datasets.Dataset.from_dict({"px": [np.zeros((4, 4)).tolist()] * 2, "y": [0, 1]})
    assert U.infer_modality(pics, "y")[:2] == ("image", "px")                      # 2-D arrays are images


# ---- 4. bad input: a clear error before any work ----
def test_missing_target_lists_the_columns(tmp_path):
    _cancer().to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match=r"target column 'diagnosis' is not in the data; columns are \['mean radius'.*"
                                         r"pass target= one of them"):
        load_task(str(tmp_path / "c.csv"), target="diagnosis")


def test_one_class_is_refused(tmp_path):
    _cancer().assign(label="benign").to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match=r"target 'label' has 1 class\(es\) \['benign'\]; need at least 2"):
        load_task(str(tmp_path / "c.csv"), target="label")


def test_too_few_rows_of_a_class_names_it_and_the_counts(tmp_path):
    frame = _cancer()
    rare = pd.concat([frame[frame["label"] == "benign"], frame[frame["label"] == "malignant"].head(2)])
    rare.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match=r"too few rows in class\(es\) \{'malignant': 2\}.*at least 3 rows per class; "
                                         r"the counts: \{'benign': 357, 'malignant': 2\}"):
        load_task(str(tmp_path / "c.csv"), target="label")
    pd.DataFrame({"x": range(30), "label": [f"k{i}" for i in range(10)] * 3}).to_csv(tmp_path / "ten.csv", index=False)
    with pytest.raises(ValueError, match=r"30 rows are too few for a stratified 20% test split of 10 classes"):
        load_task(str(tmp_path / "ten.csv"), target="label")                  # 6 test rows for 10 classes


def test_nan_labels_say_how_many_and_what_to_do(tmp_path):
    frame = _cancer()
    frame.loc[::100, "label"] = None                                               # 6 rows
    frame.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match=r"6 label\(s\) of split 'train' in column 'label' are missing \(of 569 rows.*"
                                         r"Drop those rows or fill in their labels"):
        load_task(str(tmp_path / "c.csv"), target="label")


def test_unreadable_file_names_it_the_suffixes_and_the_parser_error(tmp_path):
    (tmp_path / "c.parquet").write_text("label,x\na,1\n")
    with pytest.raises(ValueError, match=r"could not read .*c\.parquet as PARQUET \(ArrowInvalid: .*\); "
                                         r"own data must be a readable \.csv or \.parquet file"):
        load_task(str(tmp_path / "c.parquet"), target="label")
    (tmp_path / "c.xlsx").write_text("x")
    with pytest.raises(ValueError, match=r"suffix '\.xlsx'; own data must be one of \['\.csv', '\.parquet'\]"):
        load_task(str(tmp_path / "c.xlsx"), target="label")


def test_missing_path_and_unknown_modality(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder: .*nothing.csv"):
        load_task(str(tmp_path / "nothing.csv"), target="label")
    _cancer().to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match=r"modality='audio' is not one of \['image', 'text', 'tabular'\]"):
        load_task(str(tmp_path / "c.csv"), target="label", modality="audio")


def test_errors_come_before_any_preprocessing(tmp_path, monkeypatch):
    def no_build(*a, **k):
        raise AssertionError("preprocessing started")
    monkeypatch.setattr(T, "_build", no_build)
    _cancer().assign(label="benign").to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match="need at least 2"):
        load_task(str(tmp_path / "c.csv"), target="label")


# ---- 5. a class only in the test split ----
def test_a_class_only_in_test_warns(tmp_path):
    frame = _cancer()
    frame.iloc[:400].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[400:].assign(label=["benign", "malignant", "unknown"] * 56 + ["unknown"]).to_csv(
        tmp_path / "test.csv", index=False)
    with pytest.warns(UserWarning, match=r"class\(es\) \['unknown'\] are in the test split \(57 rows\) but not in train"):
        task = load_task(str(tmp_path), target="label")
    assert "unknown" in task.class_names


def test_no_warning_when_train_has_every_class(tmp_path):
    _cancer().to_csv(tmp_path / "c.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_task(str(tmp_path / "c.csv"), target="label")
        load_task("wine")


# ---- 6. the hub, offline ----
def _hub_never_called(monkeypatch):
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append(a) or pytest.fail("asked the hub"))
    monkeypatch.setattr(U, "_hub_cached", lambda hub_id: False)
    monkeypatch.delenv("METAHPO_DATA_DIR", raising=False)
    return calls


def test_offline_hub_task_fails_at_once_with_the_ways_out(monkeypatch):
    calls = _hub_never_called(monkeypatch)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(ConnectionError) as e:
        load_task("titanic")
    msg = str(e.value)
    for part in ("task 'titanic' needs the Hugging Face hub ('scikit-learn/titanic')", "offline mode is set",
                 "no local mirror", "METAHPO_DATA_DIR", "titanic/train.parquet", "EMBEDDED_TASKS", "'digits'",
                 "target="):
        assert part in msg, part
    assert calls == []


def test_unreachable_hub_fails_without_retrying(monkeypatch):
    calls = _hub_never_called(monkeypatch)
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    tries = []

    def refuse(*args, **kwargs):
        tries.append(args)
        raise OSError("network is unreachable")
    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ConnectionError, match=r"huggingface.co cannot be reached \(network is unreachable\)"):
        load_task("titanic")
    with pytest.raises(ConnectionError, match="no file or folder 'someone/reviews' here"):
        load_task("someone/reviews", target="label")
    assert len(tries) == 2 and calls == []                                         # one try each


def test_ctrl_c_stops_the_hub_check(monkeypatch):
    _hub_never_called(monkeypatch)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(socket, "create_connection", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_task("titanic")


def test_a_mirror_without_the_task_says_the_ways_out(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no folder .*titanic in the data directory.*EMBEDDED_TASKS"):
        load_task("titanic", data_dir=tmp_path)
