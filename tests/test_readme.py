"""README.md is the front page's mirror: the markdown and code of nbs/index.ipynb, links one folder up there. It stays
a guide (at most 200 lines, 2 tables, no lab-log words); measurements live on docs/results.md."""
import base64
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
INDEX = ROOT / "nbs" / "index.ipynb"
HEADER = "<!-- mirrors nbs/index.ipynb: edit both together (tests/test_readme.py checks that they agree) -->\n"


def readme_from_index() -> str:
    "The README that nbs/index.ipynb implies: its title cell with the tagline unquoted, markdown as is, code fenced."
    cells = json.loads(INDEX.read_text())["cells"]
    parts = []
    for i, cell in enumerate(cells):
        src = "".join(cell["source"]).replace("](../", "](")   # links from nbs/ point one folder up
        src = src.replace("](attachment:headline.png)", "](docs/images/headline.png)")   # the figure, attached
        if i == 0:
            src = src.replace("\n> ", "\n")                     # nbdev's title cell: the tagline as a quote
        parts.append(f"```python\n{src}\n```" if cell["cell_type"] == "code" else src)
    return HEADER + "\n\n".join(parts) + "\n"


def test_readme_mirrors_the_index():
    assert README.read_text() == readme_from_index(), "README.md and nbs/index.ipynb differ: edit both together"


def test_the_index_attaches_the_headline_figure():
    cell = next(c for c in json.loads(INDEX.read_text())["cells"] if "attachment:headline.png" in "".join(c["source"]))
    attached = base64.b64decode(cell["attachments"]["headline.png"]["image/png"])
    assert attached == (ROOT / "docs" / "images" / "headline.png").read_bytes(), "run python bench/results_page.py"


def test_readme_is_a_guide():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert len(re.findall(r"^\|[ -:|]+\|$", text, re.M)) <= 2, "at most two tables: results go on docs/results.md"
    assert not re.search(r"commit [0-9a-f]{7}|busy machine|removed after", text), "lab-log words in the README"


def test_readme_links_resolve():
    text = README.read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to {target}, which is not in the repository"
