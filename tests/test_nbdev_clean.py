"""`nbdev-clean` is safe to run: on a copy of the notebooks with this repository's settings ([tool.nbdev] in
pyproject.toml) it leaves every notebook byte-identical (papermill's run record, tags and image sizes kept; the
notebooks are stored without execution counts, which nbdev 3 always nulls)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
# still stored with execution counts; each passes once `nbdev-clean <notebook>` has been run on it and committed
PENDING = {"05_tuners.ipynb", "05a_study.ipynb", "07_maml.ipynb", "07b_dkgp.ipynb", "08_benchmark.ipynb"}


def notebooks():
    "The notebooks nbdev-clean visits (folders starting with _ or . skipped, as nbdev skips them)."
    return sorted(p.relative_to(NBS).as_posix() for p in NBS.rglob("*.ipynb")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(NBS).parts[:-1]))


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    "The notebooks after `nbdev-clean` on a copy: {relative path: bytes}."
    tmp = tmp_path_factory.mktemp("clean")
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    for name in notebooks():
        (tmp / "nbs" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(NBS / name, tmp / "nbs" / name)
    exe = Path(sys.executable).with_name("nbdev-clean")
    subprocess.run([str(exe) if exe.exists() else "nbdev-clean"], cwd=tmp, check=True, capture_output=True)
    return {name: (tmp / "nbs" / name).read_bytes() for name in notebooks()}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason="stored with execution counts"))
                                  if n in PENDING else n for n in notebooks()])
def test_nbdev_clean_changes_nothing(cleaned, name):
    assert cleaned[name] == (NBS / name).read_bytes(), (
        f"nbdev-clean rewrites nbs/{name}: run `nbdev-clean --fname nbs/{name}` and commit the result")
