"""The staged build (`metahpo_kit.build_plan`, run by bench/build_plan.py): a run ships each finished task once and never rebuilds what ships; the
cost of the whole build is extrapolated from a measurement as its docstring says."""
import pandas as pd
import pytest

from metahpo_kit import build_plan
from metahpo_kit.metadata import MetaDataset, _parts


def test_a_run_ships_finished_tasks_once_and_skips_what_ships(tmp_path, monkeypatch):
    monkeypatch.setattr(build_plan, "BUILD", tmp_path / "build")
    monkeypatch.setattr(build_plan, "COST_LOG", tmp_path / "cost.csv")
    stage = build_plan.Stage("tiny", ("wine",), 2, "a test stage", shipped=tmp_path / "shipped")
    build_plan.run([stage], hours=1.0, commit=False, ray=None)
    parts = _parts(tmp_path / "shipped")
    md = MetaDataset.load(tmp_path / "shipped")
    assert len(parts) == 1 and md.tasks == ["wine"]
    assert len(md) == 2 * len(build_plan.SEEDS) and (md.frame["status"] == "ok").all()

    calls = []
    monkeypatch.setattr(build_plan, "build_metadataset", lambda *a, **k: calls.append(a))
    build_plan.run([stage], hours=1.0, commit=False, ray=None)   # a second run: the task ships, nothing to build
    assert calls == [] and _parts(tmp_path / "shipped") == parts
    assert (tmp_path / "cost.csv").read_text().count("wine") == 1   # one cost line: the run that built it


def test_cost_extrapolates_a_measurement_and_totals_the_stages(tmp_path, monkeypatch):
    # one task measured (wine: 2 configs, 2 CPU s at 1 epoch, 4 at 3), one never recorded anywhere
    stage = build_plan.Stage("tiny", ("wine", "never_recorded"), 2, "a test stage", shipped=tmp_path / "shipped")
    monkeypatch.setattr(build_plan, "STAGES", [stage])
    pd.DataFrame([{"task": "wine", "configs": 2, "load_cpu_s": 1.0, "train_rows": 71, "cpu_s_e1": 2.0,
                   "cpu_s_e3": 4.0, "failed_e3": 0}]).to_csv(tmp_path / "cost_tiny.csv", index=False)
    m, text = build_plan.extrapolate(stage, pd.read_csv(tmp_path / "cost_tiny.csv"))
    # a config: 0.5 CPU s an epoch + 0.5 fixed = 5.5 s at 10 epochs; wine: 2 loads + 5.5 x 2 configs x 2 seeds = 24 s;
    # the unrecorded task takes wine's recorded cost (the only one), scaled by wine's ratio: 22 s, and a load: 2 s
    assert m["eval_cpu_s"].iloc[0] == pytest.approx(5.5)
    low, pooled, high = m.attrs["stage_cpu_h"]
    assert low == pytest.approx(48 / 3600) and pooled == pytest.approx(low) and high == pytest.approx(low)
    assert "1 with no recorded cost taken at the stage mean" in text
    table = build_plan.whole_cost(tmp_path)
    assert "| tiny | 1 | 2 | 0.01 | 0.01 | 0.01 |" in table and "Not measured" not in table
    (tmp_path / "cost_tiny.csv").unlink()
    assert "Not measured (not in the total): tiny." in build_plan.whole_cost(tmp_path)
