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


def test_tune_titanic_resumes_after_ctrl_c(tmp_path, data_dir):
    db = tmp_path / "studies.db"
    # trials long enough that Ctrl-C after the third cannot come after the last (10 trials of 3 epochs once all
    # finished in 1.3 s, between two polls, on a loaded machine)
    n = 10
    cmd = METAHPO + ["tune", "--task", "titanic", "--tuner", "random", "--trials", str(n), "--epochs", "20",
                     "--storage", f"sqlite:///{db}"]
    # the child gets SIGINT's default disposition, as a command started at a terminal does: a child inherits an
    # ignored SIGINT (from a test run started in the background by a script), and Python then installs no
    # KeyboardInterrupt handler, so Ctrl-C would be ignored and the run would end normally with 0
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while _finished(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()[-2000:]
    proc.send_signal(signal.SIGINT)                       # what Ctrl-C sends
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "run the same command again to resume" in err
    before = _finished(db)
    assert 3 <= before < n
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "best config:" in again.stdout and "test accuracy" in again.stdout
    assert _finished(db) == n
    with sqlite3.connect(db) as con:
        rows = con.execute("select t.number, group_concat(p.param_name || '=' || p.param_value, ',') "
                           "from trials t join trial_params p on p.trial_id = t.trial_id "
                           "where t.state = 'COMPLETE' group by t.trial_id").fetchall()
    assert len({r[1] for r in rows}) == n                  # no config ran twice


def test_benchmark_command_on_a_given_metadataset(tmp_path):
    from metahpo_kit.transfer import synthetic_metadataset
    f = tmp_path / "md.parquet"
    synthetic_metadataset(n_tasks=4, seed=0).save(f)
    out = subprocess.run(METAHPO + ["benchmark", "--quick", "--metadata", str(f), "--trials", "5", "--epochs", "1",
                                    "--maml-steps", "20", "--dkgp-steps", "20", "--out", str(tmp_path / "res")],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "METAHPO_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert all(f"| {m} |" in out.stdout for m in ("manual", "random", "tpe", "portfolio", "similarity", "maml", "dkgp"))
    assert "paired vs random per dataset (a dataset's variants averaged; wins/ties/losses, tie = 0.01):" in out.stdout
    for name in ("benchmark_rows.csv", "benchmark_summary.csv", "benchmark_regret.png"):
        assert (tmp_path / "res" / name).stat().st_size > 0
    bad = subprocess.run(METAHPO + ["benchmark", "--metadata", str(f), "--epochs", "1", "--methods", "maml2"],
                         capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "methods ['maml2'] are not among" in bad.stderr


def test_quick_holds_out_a_seeded_sample_of_20_headline_tasks_one_per_dataset(tmp_path):
    "--quick on a meta-dataset of 25 datasets (27 tasks, one too flat): 20 held out, one per dataset; without: all."
    import contextlib
    import io

    import pandas as pd

    from metahpo_kit.benchmark import headline_tasks
    from metahpo_kit.cli import QUICK_TASKS, main, quick_tasks
    from metahpo_kit.metadata import MetaDataset
    from metahpo_kit.tasks import base_dataset
    from metahpo_kit.transfer import synthetic_metadataset
    md = synthetic_metadataset(n_tasks=27, seed=0)
    f = md.frame.copy()
    f["task"] = f["task"].replace({"synth25": "synth0@max_train=100", "synth26": "synth1@max_train=100"})
    f.loc[f["task"] == "synth24", "val_accuracy"] = 0.5                 # every config alike: too flat
    md = MetaDataset(md.space, f)
    path = tmp_path / "md.parquet"
    md.save(path)
    headline, flat = headline_tasks(md, epochs=1)
    assert list(flat["task"]) == ["synth24"] and len(headline) == 26
    assert len({base_dataset(t) for t in headline}) == 24

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
    assert held == quick_tasks(headline) and len(held) == QUICK_TASKS == 20
    assert len({base_dataset(t) for t in held}) == 20                     # one per dataset
    assert "benchmark grid: 20 held-out tasks (of 27), 3 seeds" in out
    assert "left out, too flat to tell tuners apart (1): synth24 (" in out and "of configs within 1 point" in out
    assert "--quick: 20 of the 26 headline tasks held out, one per dataset" in out and ", ".join(held) in out
    again = bench("--quick", "--out", str(tmp_path / "again"))
    assert pd.read_csv(tmp_path / "again" / "benchmark_rows.csv")["task"].unique().tolist() == held   # fixed sample
    out = bench("--seeds", "1", "--out", str(tmp_path / "all"))
    assert set(pd.read_csv(tmp_path / "all" / "benchmark_rows.csv")["task"]) == set(headline)
    assert "26 held-out tasks (of 27)" in out and "--quick:" not in out
    out = bench("--quick", "--tasks", "synth3", "synth0@max_train=100", "--out", str(tmp_path / "given"))
    assert "2 held-out tasks (of 27)" in out and "too flat" not in out        # --tasks: as given, nothing sampled
