"""The results page is current: `python bench/results_page.py` (run as a script) writes, from the results files in
bench/results/, the same docs/results.md as the committed one and the headline table that README.md and
nbs/index.ipynb show."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_results_page_is_current(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "results_page.py"), "--out", str(tmp_path),
                          "--no-figure"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    fix = "regenerate it: python bench/results_page.py"
    assert (tmp_path / "results.md").read_text() == (ROOT / "docs" / "results.md").read_text(), f"docs/results.md is stale: {fix}"
    table = (tmp_path / "headline_table.md").read_text().strip()
    assert table in (ROOT / "README.md").read_text(), f"README's headline table is stale: {fix}"
    index = "".join("".join(c["source"]) for c in json.loads((ROOT / "nbs" / "index.ipynb").read_text())["cells"])
    assert table in index, f"nbs/index.ipynb's headline table is stale: {fix}"


def test_headline_figure_is_committed():
    png = ROOT / "docs" / "images" / "headline.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
