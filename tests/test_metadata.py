"""Meta-dataset: bad files and rows are refused without touching what is stored, a killed build resumes without
duplicates, a rebuilt slice matches the shipped numbers, and tuners run on recorded tasks."""
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from metahpo_kit.build import build_metadataset
from metahpo_kit.lookup import TabularObjective, random_search_expected_best
from metahpo_kit.metadata import MetaDataset, load_shipped
from metahpo_kit.report import task_report
from metahpo_kit.space import SEED_SPACE, Float, SearchSpace
from metahpo_kit.space import config_key
from metahpo_kit.study import tune
from metahpo_kit.tuners import HyperbandTuner, RandomTuner, TPETuner


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("md") / "small"
    return build_metadataset(["wine"], configs=6, epochs=2, seeds=(0,), out=str(out), progress=False)


def test_truncated_file_is_refused_and_left_alone(small, tmp_path):
    f = tmp_path / "md.parquet"
    small.save(f)
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    before = f.read_bytes()
    with pytest.raises(ValueError, match="is not a readable Parquet file.*may be truncated"):
        MetaDataset.load(f)
    assert f.read_bytes() == before


def test_file_of_another_format_version(small, tmp_path):
    f = tmp_path / "old.parquet"
    small.save(f)
    table = pq.read_table(f)
    meta = dict(table.schema.metadata)
    info = json.loads(meta[b"metahpo_kit"])
    info.update(format=99, kit_version="9.9.9")
    meta[b"metahpo_kit"] = json.dumps(info).encode()
    pq.write_table(table.replace_schema_metadata(meta), f)
    with pytest.raises(ValueError, match="format 99 \\(kit 9.9.9\\).*reads format 1"):
        MetaDataset.load(f)


def test_file_of_another_space_names_the_difference(small, tmp_path):
    f = tmp_path / "md.parquet"
    small.save(f)
    other = SearchSpace(tuple(p if p.name != "lr" else Float("lr", 1e-4, 1.0, log=True) for p in SEED_SPACE.params))
    with pytest.raises(ValueError, match="another search space: lr:"):
        MetaDataset.load(f, other)
    with pytest.raises(ValueError, match="not written by metahpo_kit"):
        pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "foreign.parquet")
        MetaDataset.load(tmp_path / "foreign.parquet")


def test_a_folder_of_parts_loads_whole_whatever_arrow_type_each_part_gave_its_strings(small, tmp_path):
    "Parts written by other versions or builds may hold a text column as string in one, large_string in another."
    import pyarrow as pa
    folder = tmp_path / "parts"
    folder.mkdir()
    small.save(folder / "a.parquet")
    table = pq.read_table(folder / "a.parquet")
    swap = {pa.string(): pa.large_string(), pa.large_string(): pa.string()}
    other_strings = pa.schema([f.with_type(swap.get(f.type, f.type)) for f in table.schema],
                              metadata=table.schema.metadata)
    assert other_strings != table.schema
    pq.write_table(table.cast(other_strings), folder / "b.parquet")
    both = MetaDataset.load(folder)
    assert len(both) == 2 * len(small) and both.path == str(folder)
    pd.testing.assert_frame_equal(both.frame.iloc[len(small):].reset_index(drop=True),
                                  both.frame.iloc[:len(small)].reset_index(drop=True))
    other = SearchSpace(tuple(p if p.name != "lr" else Float("lr", 1e-4, 1.0, log=True) for p in SEED_SPACE.params))
    MetaDataset(other, small.frame).save(folder / "c.parquet")
    with pytest.raises(ValueError, match="another search space"):
        MetaDataset.load(folder)


def test_building_into_a_folder_of_another_space_overwrites_nothing(small, tmp_path):
    folder = tmp_path / "md"
    folder.mkdir()
    small.save(folder / "part-0.parquet")
    before = sorted((p.name, p.read_bytes()) for p in folder.iterdir())
    other = SearchSpace(tuple(p for p in SEED_SPACE.params if p.name != "dropout"))
    with pytest.raises(ValueError, match="another search space: dropout"):
        build_metadataset(["wine"], space=other, configs=2, epochs=1, seeds=(0,), out=str(folder), progress=False)
    assert sorted((p.name, p.read_bytes()) for p in folder.iterdir()) == before


def test_appending_a_row_outside_the_space(small):
    row = small.frame.iloc[:1].copy()
    row["config.optimizer"] = "adagrad"
    with pytest.raises(ValueError, match="row 0 \\(task 'wine'\\): optimizer='adagrad' is not in Categorical"):
        MetaDataset(SEED_SPACE).append(row)
    with pytest.raises(ValueError, match="missing column\\(s\\) \\['config.units'\\]"):
        MetaDataset(SEED_SPACE).append(small.frame.drop(columns=["config.units"]))


def test_killed_build_resumes_without_duplicates(tmp_path):
    out = tmp_path / "md"
    args = dict(configs=54, epochs=3, seeds=(0, 1), out=str(out), progress=False)
    code = ("from metahpo_kit.build import build_metadataset; "
            f"build_metadataset(['digits'], configs=54, epochs=3, seeds=(0, 1), out={str(out)!r}, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE,
                            env={**os.environ, "METAHPO_THREADS": "1"})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and len(list(out.glob("*.parquet"))) < 2:
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = MetaDataset.load(out)
    assert 0 < len(partial) < 108
    full = build_metadataset(["digits"], **args)
    assert len(full) == 108
    keys = full.frame[["task", "seed", *full.config_cols]].astype(str).agg("|".join, axis=1)
    assert keys.is_unique
    assert len(MetaDataset.load(out)) == 108


def test_rebuilt_slice_matches_the_shipped_numbers(tmp_path):
    shipped = load_shipped()
    tasks = [t for t in ("wine", "breast_cancer") if t in shipped.tasks]
    if len(tasks) < 2:
        pytest.skip("the shipped meta-dataset lacks wine and breast_cancer")
    configs = SEED_SPACE.sample(6, seed=3)
    sub = shipped.filter(tasks=tasks, status=None)
    epochs = int(sub.frame["epochs"].iloc[0])
    seeds = tuple(sorted(sub.frame["seed"].unique()))
    keyset = {config_key(c) for c in configs}

    rebuilt = MetaDataset(SEED_SPACE)
    from metahpo_kit.build import row_from_result
    from metahpo_kit.tasks import load_task, meta_features
    from metahpo_kit.train import Budget, fit_many
    for t in tasks:
        task = load_task(t)
        for s in seeds:
            res = fit_many(task, configs, budget=Budget(epochs=epochs), seed=int(s))
            rebuilt.append([row_from_result(t, task.modality, meta_features(task), SEED_SPACE, r, epochs) for r in res])
    a = rebuilt.scores().set_index(["task", *rebuilt.config_cols])
    b = sub.scores()
    b = b[[config_key({n: r[f"config.{n}"] for n in SEED_SPACE.names}) in keyset for r in b.to_dict("records")]]
    b = b.set_index(["task", *sub.config_cols])
    joined = a.merge(b, left_index=True, right_index=True, suffixes=("_new", "_shipped"), how="inner")
    assert len(joined) == len(tasks) * 6
    noise = task_report(sub).set_index("task")["noise"]
    # two means over the same seeds differ by about one seed deviation of the config: allow three, at least the task's
    sd = np.maximum(joined["score_sd_shipped"].to_numpy(), [noise[t] for t in joined.index.get_level_values("task")])
    tol = 3 * sd + 0.005
    diff = np.abs(joined["score_new"] - joined["score_shipped"])
    assert (diff <= tol).all(), joined[["score_new", "score_shipped"]]
    print(f"largest difference rebuilt vs shipped: {diff.max():.4f} (tolerance {tol.min():.4f}..{tol.max():.4f})")


def test_tuners_run_on_every_shipped_task():
    shipped = load_shipped()
    assert len(shipped.tasks) >= 2
    from metahpo_kit.benchmark import simulate
    for task in shipped.tasks:
        obj = TabularObjective(shipped, task, epochs=2)
        if len(obj.recorded()) < SEED_SPACE.size:
            # a task of some grid configs only (the models stage: 128): tuners choose among them through the
            # benchmark's `simulate`, and every trial it runs is one the task recorded
            for tuner in (RandomTuner(SEED_SPACE, random_state=0), TPETuner(SEED_SPACE, random_state=0)):
                rows = simulate(tuner, obj, n_trials=12)
                assert len(rows) == 12 and (rows["status"] == "ok").all(), task
                assert all(config_key(SEED_SPACE.validate(json.loads(c))) in obj.recorded() for c in rows["config"])
            continue
        for tuner in (RandomTuner(SEED_SPACE, random_state=0), TPETuner(SEED_SPACE, random_state=0), HyperbandTuner(SEED_SPACE, random_state=0, max_epochs=9)):
            res = tune(obj, tuner, n_trials=12)
            assert (res.trials["status"] == "ok").all()
            assert res.best["val_accuracy"] <= obj.table(9 if isinstance(tuner, HyperbandTuner) else 2)[
                config_key(res.best_config)][0] + 1e-12 or isinstance(tuner, HyperbandTuner)


def test_exact_random_search_matches_simulation_on_a_shipped_task():
    shipped = load_shipped()
    task = shipped.tasks[0]
    scores = shipped.scores(2, tasks=[task])["score"].to_numpy()
    exact = random_search_expected_best(scores, 20)
    sims = []
    for seed in range(300):
        res = RandomTuner(SEED_SPACE, random_state=seed)
        hist, best = [], []
        obj = TabularObjective(shipped, task, epochs=2)
        from metahpo_kit.tuners import Observation
        for _ in range(20):
            c = res.ask(hist)
            hist.append(Observation(c, obj(c).val_accuracy))
            best.append(max(o.score for o in hist))
        sims.append(best)
    sim = np.mean(sims, axis=0)
    se = np.std(sims, axis=0) / np.sqrt(len(sims)) + 1e-9
    assert (np.abs(sim - exact) < 4 * se + 1e-6).all()


def test_the_shipped_folder_stays_within_50_mb():
    "#15: the shipped meta-dataset (every part of its folder) is at most 50 MB."
    from metahpo_kit.metadata import SHIPPED
    size = sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file())
    assert 0 < size <= 50e6, f"the shipped meta-dataset is {size / 1e6:.1f} MB"


def test_task_report_says_why_a_task_is_too_flat():
    from metahpo_kit.transfer import synthetic_metadataset
    md = synthetic_metadataset(n_tasks=3, seed=0)
    f = md.frame.copy()
    f.loc[f["task"] == "synth1", "val_accuracy"] = 0.8
    f.loc[(f["task"] == "synth1") & (f.index % 3 != 0), "val_accuracy"] = 0.9   # two thirds at the best
    md.frame = f
    rep = task_report(md).set_index("task")
    assert rep.loc["synth1", "too_flat"] and not rep.loc["synth0", "too_flat"]
    assert rep.loc["synth1", "flat_reason"].endswith("of configs within 1 point of the best")
    assert rep.loc["synth0", "flat_reason"] == ""


def test_task_report_breaks_ties_in_recorded_order():
    "Among configs tied at the best score the report reads the first recorded one, whatever sort the CPU runs."
    rows = [{"task": "t0", "modality": "tabular", **{f"config.{k}": v for k, v in c.items()}, "seed": 0, "epochs": 1,
             "val_accuracy": 0.9 if i % 2 else 0.5, "test_accuracy": i / 1000, "status": "ok"}
            for i, c in enumerate(SEED_SPACE.grid()[:300])]
    rep = task_report(MetaDataset(SEED_SPACE, pd.DataFrame(rows)))
    assert rep.loc[0, "best_val"] == 0.9 and rep.loc[0, "best_test"] == 0.001   # config 1, the first tied at 0.9


def _rows(n_tasks=2):
    return [{"task": f"t{j}", "modality": "tabular", **{f"config.{k}": v for k, v in c.items()}, "seed": 0, "epochs": 1,
             "val_accuracy": 0.5 + 0.01 * i, "status": "ok"} for j in range(n_tasks) for i, c in enumerate(SEED_SPACE.grid()[:5])]


def test_the_constructor_checks_rows_as_append_does():
    rows = pd.DataFrame(_rows())
    rows.loc[7, "config.optimizer"] = "adamw"
    with pytest.raises(ValueError, match=r"row 7 \(task 't1'\): optimizer='adamw' is not in "
                                         r"Categorical\(\['adam', 'sgd', 'rmsprop'\]\)"):
        MetaDataset(SEED_SPACE, rows)
    with pytest.raises(ValueError, match="rows are missing column"):
        MetaDataset(SEED_SPACE, rows.drop(columns=["status"]))
    mixed = pd.DataFrame(_rows()).assign(**{"mf.size": [1.0] * 5 + [2.0] * 4 + [3.0]})
    with pytest.raises(ValueError, match=r"meta-feature 'mf.size' varies within task 't1' \(values \[2.0, 3.0\]\)"):
        MetaDataset(SEED_SPACE, mixed)
    with pytest.raises(ValueError, match="meta-feature 'mf.size' is missing \\(NaN\\) for task 't0'"):
        MetaDataset(SEED_SPACE, mixed.assign(**{"mf.size": [None] + [1.0] * 9}))
    ok = pd.DataFrame(_rows()).assign(**{"mf.size": [1.0] * 5 + [2.0] * 5})
    md = MetaDataset(SEED_SPACE, ok)
    assert md.meta_features("t1") == {"size": 2.0} and ok["config.lr"].dtype == md.frame["config.lr"].dtype


def _external(n_tasks=4, n_configs=6):
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"dataset": 100 + t, "lr": float(lr), "momentum": float(m), "acc": float(rng.random()),
                          "mf.log_rows": 3.0 + t, "n_classes": 2 + t % 2, "note": "x"}
                         for t in range(n_tasks) for lr, m in zip(10 ** rng.uniform(-4, -1, n_configs),
                                                                    rng.uniform(0.1, 0.9, n_configs))])


def test_from_frame_keeps_meta_features_and_never_takes_them_for_hyperparameters():
    df = _external().drop(columns=["note"])
    with pytest.warns(UserWarning, match=r"these columns are the hyperparameters: \['lr', 'momentum'\]"):
        md = MetaDataset.from_frame(df, task_col="dataset", score_col="acc", meta_features=["n_classes"])
    assert md.space.names == ["lr", "momentum"] and md.mf_cols == ["mf.log_rows", "mf.n_classes"]
    with pytest.warns(UserWarning, match="no space given"):
        named = MetaDataset.from_frame(_external(), task_col="dataset", score_col="acc", config_cols=["lr", "momentum"])
    assert named.mf_cols == ["mf.log_rows"]                           # kept although config_cols names others
    assert named.meta_features("101") == {"log_rows": 4.0}
    assert md.meta_features("101") == {"log_rows": 4.0, "n_classes": 3.0}
    X, y, mf = md.task_arrays()["103"]
    assert mf.tolist() == [6.0, 3.0]


@pytest.mark.parametrize("change, message", [
    (lambda df: df.assign(n_classes=np.arange(len(df))), "meta-feature 'n_classes' varies within task '100'"),
    (lambda df: df.assign(n_classes=df["n_classes"].astype(object).where(df.index != 3)),
     "meta-feature 'n_classes' is missing \\(NaN\\) for task '100'"),
    (lambda df: df.assign(n_classes="two"), "meta-feature 'n_classes' holds values that are not numbers, such as 'two'"),
    (lambda df: df, "config_cols: \\['n_classes'\\] are the task, score, fidelity, seed or meta-feature columns"),
    (lambda df: df.rename(columns={"n_classes": "nc"}), "meta_features: 'n_classes' is not a column"),
    (lambda df: df.assign(**{"mf.n_classes": 1.0}), "would be stored as 'mf.n_classes', which is already a column"),
])
def test_from_frame_refuses_bad_meta_features(change, message):
    df = change(_external())
    config_cols = ["lr", "n_classes"] if "config_cols" in message else ["lr", "momentum"]
    with pytest.raises(ValueError, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the inferred space's notice
        MetaDataset.from_frame(df, task_col="dataset", score_col="acc", config_cols=config_cols,
                               meta_features=["n_classes"])
