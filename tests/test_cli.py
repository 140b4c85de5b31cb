"The `metahpo` command: tasks, and a tuning study that resumes after Ctrl-C."
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

METAHPO = [sys.executable, "-m", "metahpo_kit.cli"]


def _finished(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return con.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_tasks_command_lists_and_loads_embedded(tmp_path):
    out = subprocess.run(METAHPO + ["tasks"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "mnist_5k" in out.stdout and "cifar10" in out.stdout
    out = subprocess.run(METAHPO + ["tasks", "--embedded"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert all(n in out.stdout for n in ("digits", "breast_cancer", "wine", "mnist_5k", "landmark_logreg"))


def test_bad_input_exits_with_a_message():
    out = subprocess.run(METAHPO + ["tasks", "--load", "cifar100"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "unknown task 'cifar100'" in out.stderr
    out = subprocess.run(METAHPO + ["tune", "--task", "wine", "--trials", "0"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "n_trials=0 must be a whole number > 0" in out.stderr


def _csv(path: Path, n: int = 1500, weights=None, seed: int = 0) -> Path:
    "A table the kit has never seen (scikit-learn's make_classification), written as one CSV file with a 'label'."
    import pandas as pd
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n, n_features=12, n_informative=6, weights=weights, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(label=y)
    frame.to_csv(path, index=False)
    return path


def test_tune_a_csv_file_with_the_default_tuner_resumes_after_ctrl_c(tmp_path):
    data = _csv(tmp_path / "data.csv")
    db = tmp_path / "studies.db"
    # trials long enough that Ctrl-C after the third cannot come after the last
    n = 10
    cmd = METAHPO + ["tune", str(data), "--target", "label", "--trials", str(n), "--epochs", "30",
                     "--storage", f"sqlite:///{db}", "--out", str(tmp_path)]
    env = {**os.environ, "METAHPO_CACHE_DIR": str(tmp_path / "cache")}
    # the child gets SIGINT's default disposition, as a command started at a terminal does: a child inherits an
    # ignored SIGINT (from a test run started in the background by a script), and Python then installs no
    # KeyboardInterrupt handler, so Ctrl-C would be ignored and the run would end normally with 0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600
    while _finished(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGINT)                       # what Ctrl-C sends
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "run the same command again to resume" in err
    assert "modality inferred: tabular" in out and "split 80/20 into train/test, stratified by 'label'" in out
    assert "with dkgp (DeepKernelTuner)" in out                    # the default: the meta-learned tuner
    assert "trial 0  prior" in out                                   # each trial says what chose it
    before = _finished(db)
    assert 3 <= before < n
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "best config:" in again.stdout and "test accuracy" in again.stdout and "test macro-F1" in again.stdout
    assert "surrogate" in again.stdout
    assert _finished(db) == n
    with sqlite3.connect(db) as con:
        rows = con.execute("select t.number, group_concat(p.param_name || '=' || p.param_value, ',') "
                           "from trials t join trial_params p on p.trial_id = t.trial_id "
                           "where t.state = 'COMPLETE' group by t.trial_id").fetchall()
    assert len({r[1] for r in rows}) == n                  # no config ran twice
    assert (tmp_path / "data-dkgp-accuracy-seed0.csv").exists()


def test_tune_with_metric_f1_keeps_the_best_validation_f1(tmp_path):
    "An imbalanced table (about 7% positives): the incumbent is the trial with the best validation macro-F1."
    import contextlib
    import io

    import pandas as pd

    from metahpo_kit.cli import main
    data = _csv(tmp_path / "rare.csv", n=800, weights=[0.93])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["tune", str(data), "--target", "label", "--tuner", "random", "--metric", "f1", "--trials", "6",
                     "--epochs", "1", "--storage", f"sqlite:///{tmp_path}/s.db", "--out", str(tmp_path)])
    assert code == 0
    trials = pd.read_csv(tmp_path / "rare-random-f1-seed0.csv")
    best = trials.loc[trials["val_f1"].idxmax()]
    assert f"(trial {int(best['number'])})" in out.getvalue()
    assert f"validation f1 {best['val_f1']:.4f}" in out.getvalue() and "test macro-F1" in out.getvalue()


def test_suggest_prints_configs_and_the_tasks_behind_them(tmp_path):
    data = _csv(tmp_path / "data.csv", n=400)
    env = {**os.environ, "METAHPO_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(METAHPO + ["suggest", str(data), "--target", "label", "-n", "3"], capture_output=True,
                         text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Top 3 configs for data" in out.stdout and "nothing was trained" in out.stdout
    table = out.stdout.split("nothing was trained", 1)[1].split("The training tasks that weighed most")[0]
    assert [line.split()[0] for line in table.splitlines() if line.strip()[:1].isdigit()] == ["1", "2", "3"]
    assert "The training tasks that weighed most" in out.stdout
    missing = subprocess.run(METAHPO + ["suggest", str(data), "--target", "y"], capture_output=True, text=True,
                             timeout=300, env=env)
    assert missing.returncode == 2 and "label" in missing.stderr     # the error lists the columns


def test_benchmark_command_on_a_given_metadataset(tmp_path):
    from metahpo_kit.transfer import synthetic_metadataset
    f = tmp_path / "md.parquet"
    synthetic_metadataset(n_tasks=4, seed=0).save(f)
    out = subprocess.run(METAHPO + ["benchmark", "--quick", "--metadata", str(f), "--trials", "5", "--epochs", "1",
                                    "--maml-steps", "20", "--dkgp-steps", "20", "--out", str(tmp_path / "res")],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "METAHPO_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert all(f"| {m} |" in out.stdout for m in ("manual", "random", "tpe", "portfolio", "similarity", "maml", "dkgp"))
    first = out.stdout.index("the learned default (dkgp) against the best baseline at each k")
    assert first < out.stdout.index("every method: mean normalised regret")      # the mission's question first
    assert "best baseline" in out.stdout and "wins/ties/losses" in out.stdout
    for name in ("benchmark_rows.csv", "benchmark_summary.csv", "benchmark_regret.png"):
        assert (tmp_path / "res" / name).stat().st_size > 0
    bad = subprocess.run(METAHPO + ["benchmark", "--metadata", str(f), "--epochs", "1", "--methods", "maml2"],
                         capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "--methods ['maml2'] are not among" in bad.stderr


def test_quick_holds_out_the_seed_datasets_and_a_stratified_sample(tmp_path):
    """--quick on a meta-dataset of 25 datasets (27 tasks, one too flat), two of them seed-plan datasets: every task of
    those two held out, and 8 other datasets, one task each; a flag the user typed wins over --quick."""
    import contextlib
    import io

    import pandas as pd

    from metahpo_kit.benchmark import headline_tasks
    from metahpo_kit.cli import QUICK_OTHERS, main, quick_tasks
    from metahpo_kit.metadata import MetaDataset
    from metahpo_kit.tasks import base_dataset
    from metahpo_kit.transfer import synthetic_metadataset
    md = synthetic_metadataset(n_tasks=27, seed=0)
    f = md.frame.copy()
    f["task"] = f["task"].replace({"synth25": "titanic", "synth26": "adult@max_train=100", "synth0": "adult"})
    f.loc[f["task"] == "synth24", "val_accuracy"] = 0.5                 # every config alike: too flat
    md = MetaDataset(md.space, f)
    path = tmp_path / "md.parquet"
    md.save(path)
    headline, flat = headline_tasks(md, epochs=1)
    assert list(flat["task"]) == ["synth24"] and len(headline) == 26
    assert len({base_dataset(t) for t in headline}) == 25

    def bench(*args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["benchmark", "--metadata", str(path), "--epochs", "1", "--methods", "random", "portfolio",
                         "--trials", "2", *args])
        assert code == 0, err.getvalue()[-2000:]
        return out.getvalue()

    out = bench("--quick", "--out", str(tmp_path / "quick"))
    rows = pd.read_csv(tmp_path / "quick" / "benchmark_rows.csv")
    held = list(dict.fromkeys(rows["task"]))
    modality = md.frame.groupby("task")["modality"].first().to_dict()
    assert held == quick_tasks(headline, modality) and len(held) == 3 + QUICK_OTHERS
    assert {"titanic", "adult", "adult@max_train=100"} <= set(held)      # every task of the seed datasets
    assert len({base_dataset(t) for t in held}) == 2 + QUICK_OTHERS       # the others: one task per dataset
    assert "benchmark grid: 11 held-out tasks (of 27), 3 seeds" in out
    assert "left out, too flat to tell tuners apart (1): synth24 (" in out and "of configs within 1 point" in out
    assert "--quick: every headline task of the seed plan's datasets" in out and ", ".join(held) in out
    again = bench("--quick", "--out", str(tmp_path / "again"))
    assert pd.read_csv(tmp_path / "again" / "benchmark_rows.csv")["task"].unique().tolist() == held   # fixed sample
    out = bench("--quick", "--seeds", "1", "--out", str(tmp_path / "one"))   # the typed flag wins over --quick
    assert "11 held-out tasks (of 27), 1 seeds" in out
    assert set(pd.read_csv(tmp_path / "one" / "benchmark_rows.csv")["seed"]) == {0}
    out = bench("--seeds", "1", "--out", str(tmp_path / "all"))
    assert set(pd.read_csv(tmp_path / "all" / "benchmark_rows.csv")["task"]) == set(headline)
    assert "26 held-out tasks (of 27)" in out and "--quick:" not in out
    out = bench("--quick", "--tasks", "synth3", "adult", "--out", str(tmp_path / "given"))
    assert "2 held-out tasks (of 27)" in out and "too flat" not in out        # --tasks: as given, nothing sampled
