"""The library stays readable: no module of the kit over 600 lines, and the module notebooks read as lessons (no
exported cell over 80 lines, the median exported cell at most 30)."""
import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE, MAX_CELL, MAX_MEDIAN = 600, 80, 30


def exported_cells(folder: Path = ROOT / "nbs") -> list:
    "(notebook, cell index, lines) of every exported code cell of the notebooks in `folder` (not its sub-folders)."
    out = []
    for nb in sorted(folder.glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and src.startswith("#| export"):
                out.append((nb.name, i, len(src.splitlines())))
    return out


def test_no_module_over_600_lines():
    long = {p.name: n for p in (ROOT / "metahpo_kit").glob("*.py")
            if p.name != "_modidx.py" and (n := len(p.read_text().splitlines())) > MAX_MODULE}
    assert not long, f"modules over {MAX_MODULE} lines (split them by job): {long}"


def test_exported_cells_are_short():
    cells = exported_cells()
    assert len(cells) > 100   # the module notebooks were found
    long = [(nb, i, n) for nb, i, n in cells if n > MAX_CELL]
    assert not long, f"exported cells over {MAX_CELL} lines (notebook, cell, lines): {long}"
    assert statistics.median(n for *_, n in cells) <= MAX_MEDIAN


def test_exported_cells_counts_what_it_should(tmp_path):
    "Only code cells whose first line is the export tag count, with all their lines."
    cells = [{"cell_type": "code", "source": ["#| export\n"] + ["x = 1\n"] * 90},
             {"cell_type": "code", "source": ["y = 2\n"] * 100},
             {"cell_type": "code", "source": ["#| export\n", "z = 3"]},
             {"cell_type": "markdown", "source": ["#| export\n"] * 100}]
    (tmp_path / "a.ipynb").write_text(json.dumps({"cells": cells}))
    assert exported_cells(tmp_path) == [("a.ipynb", 0, 91), ("a.ipynb", 2, 2)]
