"The staged build (bench/build_plan.py): a run ships each finished task once and never rebuilds what ships."
import bench_scripts
from metahpo_kit.metadata import MetaDataset, _parts

build_plan = bench_scripts.load("build_plan")


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
