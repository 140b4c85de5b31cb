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


def quickstart_blocks() -> list:
    "(language, code) of every fenced block in the README's Quickstart section, in order."
    text = README.read_text()
    section = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(sh|python)\n(.*?)```", section, re.S)


def test_the_quickstart_has_a_command_line_a_python_and_an_optuna_block():
    blocks = quickstart_blocks()
    assert [lang for lang, _ in blocks] == ["sh", "sh", "python", "python"], blocks
    assert "metahpo tune data.csv" in blocks[1][1] and "metahpo suggest data.csv" in blocks[1][1]
    assert "mk.tune(" in blocks[2][1] and "optuna.create_study(" in blocks[3][1]


def test_the_quickstart_runs_as_written(tmp_path):
    "Each block in a fresh folder, in order, as a user pastes them: shell blocks in bash, Python blocks in python."
    import os
    import subprocess
    import sys
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "METAHPO_CACHE_DIR": str(tmp_path / "cache"), "METAHPO_THREADS": "1"}
    outputs = []
    for lang, code in quickstart_blocks():
        cmd = ["bash", "-euo", "pipefail", "-c", code] if lang == "sh" else [sys.executable, "-c", code]
        out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, f"{lang} block failed:\n{code}\n{out.stderr[-3000:]}"
        outputs.append(out.stdout)
    assert "best config:" in outputs[1] and "test macro-F1" in outputs[1]
    assert all(word in outputs[1] for word in ("prior", "surrogate"))    # each trial says what chose it
    assert "test accuracy" in outputs[2]
    assert outputs[3].strip()
