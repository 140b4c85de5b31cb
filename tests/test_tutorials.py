"Every tutorial runs top to bottom in a real Jupyter kernel (papermill), offline, with small parameters."
import os
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "nbs" / "tutorials"
# small parameters per tutorial: every tutorial needs an entry (a new tutorial without one fails the test below)
SMALL = {
    "01_tabular.ipynb": {"N_TRIALS": 3, "TASKS": ["titanic", "adult"], "MAX_TRAIN": 1500},
    "03_image.ipynb": {"N_TRIALS": 2, "MAX_TRAIN": 600, "CIFAR_MAX_TRAIN": 200, "RESNET_SECONDS": 5},
    "04_text.ipynb": {"N_TRIALS": 2, "EPOCHS": 1, "MAX_TRAIN": 400, "MAX_TEST": 200, "MAX_LENGTH": 32},
    "02_maml.ipynb": {"N_STEPS": 30, "N_TRIALS": 5, "N_SEEDS": 2},
    "05_benchmark.ipynb": {"N_TRIALS": 5, "N_SEEDS": 2, "MAX_TASKS": 3, "MAML_STEPS": 10},
}


def test_every_tutorial_has_small_parameters():
    found = sorted(p.name for p in TUTORIALS.glob("*.ipynb") if not p.name.startswith("_"))
    assert found, "no tutorials found"
    assert sorted(SMALL) == found


@pytest.mark.parametrize("name", sorted(SMALL))
def test_tutorial_runs_in_a_kernel(name, tmp_path, data_dir, monkeypatch):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("METAHPO_THREADS", "1")
    out = tmp_path / name
    nb = papermill.execute_notebook(str(TUTORIALS / name), str(out), parameters=SMALL[name], cwd=str(TUTORIALS),
                                    kernel_name="python3", progress_bar=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "papermill found no parameters cell"
