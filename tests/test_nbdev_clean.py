"""`nbdev-clean` is safe to run: on a copy of the notebooks, with this repository's settings ([tool.nbdev] in
pyproject.toml), it keeps every notebook's sources, outputs, tags, papermill's run record (bench/tutorial_times.py
reads it) and image sizes, and leaves every stored notebook byte-identical: notebooks are stored without execution
counts (nbdev 3 always empties them; `bench/notebooks.py` stores what it executes without them)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"


def notebooks():
    "The notebooks nbdev-clean visits (folders starting with _ or . skipped, as nbdev skips them)."
    return sorted(p.relative_to(NBS).as_posix() for p in NBS.rglob("*.ipynb")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(NBS).parts[:-1]))


def without_counts(nb: dict) -> dict:
    "The notebook with its execution counts emptied, as nbdev-clean leaves them."
    for cell in nb["cells"]:
        if "execution_count" in cell:
            cell["execution_count"] = None
        for out in cell.get("outputs", []):
            if "execution_count" in out:
                out["execution_count"] = None
    return nb


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    "The notebooks after `nbdev-clean` on a copy: {relative path: text}."
    tmp = tmp_path_factory.mktemp("clean")
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    for name in notebooks():
        (tmp / "nbs" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(NBS / name, tmp / "nbs" / name)
    exe = Path(sys.executable).with_name("nbdev-clean")
    subprocess.run([str(exe) if exe.exists() else "nbdev-clean"], cwd=tmp, check=True, capture_output=True)
    return {name: (tmp / "nbs" / name).read_text() for name in notebooks()}


@pytest.mark.parametrize("name", notebooks())
def test_nbdev_clean_changes_nothing(cleaned, name):
    stored = (NBS / name).read_text()
    assert json.loads(cleaned[name]) == without_counts(json.loads(stored)), f"nbdev-clean drops content of nbs/{name}"
    assert cleaned[name] == stored, f"nbdev-clean rewrites nbs/{name} (store it without execution counts)"
