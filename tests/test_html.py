"""The static HTML site of the executed notebooks (`bench/notebooks.py html`): every page opens in headless Chromium
(Playwright driving Debian's chromium) without an error or a request off this machine, every image in it has
loaded, a notebook with stored figures shows them, and a screenshot of a figure has ink on it."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _notebooks_cli(*args, env=None) -> subprocess.CompletedProcess:
    "Run `bench/notebooks.py` (a command, not a module the tests import)."
    return subprocess.run([sys.executable, str(ROOT / "bench" / "notebooks.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _site_order() -> list:
    "[(notebook path, page path)] in reading order, as `bench/notebooks.py list` prints them."
    out = _notebooks_cli("list")
    assert out.returncode == 0, out.stderr
    return [(NBS / a, Path(b)) for a, b in (line.split("\t") for line in out.stdout.splitlines())]


def _stored_figures(nb_path: Path) -> int:
    "How many images the notebook's stored outputs hold."
    nb = json.loads(nb_path.read_text())
    return sum(1 for c in nb["cells"] for o in c.get("outputs", [])
               if any(k.startswith("image/") for k in o.get("data", {})))


def _ink(png: bytes) -> float:
    "Share of pixels of a screenshot that are not (near) white."
    import io

    from PIL import Image
    img = Image.open(io.BytesIO(png)).convert("L")
    hist = img.histogram()
    return 1 - sum(hist[240:]) / (img.width * img.height)


def test_site_order_names_and_links(tmp_path):
    names = [nb.relative_to(NBS).as_posix() for nb, _ in _site_order()]
    tutorials = [n for n in names if n.startswith("tutorials/")]
    assert names[0] == "index.ipynb"
    assert names[1:1 + len(tutorials)] == sorted(tutorials), "tutorials come right after the index, in order"
    assert len(tutorials) >= 2 and len(names) > len(tutorials) + 1
    unknown = _notebooks_cli("list", "no_such_notebook")
    assert unknown.returncode != 0 and "unknown notebook" in unknown.stderr
    # a link between notebooks points at the other page; a link off the site is left alone
    site = tmp_path / "site"
    assert _notebooks_cli("html", "--out", str(site), "01_tabular").returncode == 0
    page = (site / "pages" / "tutorials" / "01_tabular.html").read_text()
    assert 'href="00_concepts.html"' in page and 'href="00_concepts.ipynb"' not in page


def test_scrub_replaces_machine_paths(tmp_path):
    home = tmp_path / "someone"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    nb = {"cells": [{"cell_type": "code", "id": "a", "metadata": {}, "execution_count": 1, "source": ["x = 1"],
                     "outputs": [{"output_type": "stream", "name": "stderr",
                                  "text": [f"{ROOT}/metahpo_kit/x.py:3: Warning\n",
                                           f"see {home}/.cache/y and {ROOT}sitory\n"]}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    p = tmp_path / "n.ipynb"
    p.write_text(json.dumps(nb))
    clean = _notebooks_cli("scrub", str(p), env=env)
    assert clean.returncode == 0 and clean.stdout.strip() == "", clean.stdout + clean.stderr
    text = "".join(json.loads(p.read_text())["cells"][0]["outputs"][0]["text"])
    assert text == f"<repo>/metahpo_kit/x.py:3: Warning\nsee ~/.cache/y and {ROOT}sitory\n"
    nb["cells"][0]["source"] = [f"open('{home}/data')"]     # a path in a source is reported, not edited
    p.write_text(json.dumps(nb))
    left = _notebooks_cli("scrub", str(p), env=env)
    assert left.returncode == 1 and len(left.stdout.strip().splitlines()) == 1 and str(home) in left.stdout


def test_pages_render_with_their_images(tmp_path, need):
    need("Debian's chromium", CHROMIUM)
    playwright = pytest.importorskip("playwright.sync_api") if not os.environ.get("CI") else __import__(
        "playwright.sync_api", fromlist=["sync_playwright"])
    site = tmp_path / "site"
    assert _notebooks_cli("html", "--out", str(site)).returncode == 0
    pages = [(nb, site / page) for nb, page in _site_order()]
    assert pages and all(page.is_file() for _, page in pages)
    index_html = (site / "index.html").read_text()
    hrefs = [page.relative_to(site).as_posix() for _, page in pages]
    assert [index_html.index(h) for h in hrefs] == sorted(index_html.index(h) for h in hrefs), "index in path order"
    with_figures = {nb: n for nb, n in ((nb, _stored_figures(nb)) for nb, _ in pages) if n}
    assert with_figures, "no notebook has a stored figure: were the notebooks executed (bench/notebooks.py execute)?"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    inked = {}
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems, offsite = [], []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:120]}"))
        page.route(lambda url: not url.startswith(("file:", "data:")),
                   lambda route: (offsite.append(route.request.url), route.abort()))
        for target in [site / "index.html"] + [pg for _, pg in pages]:
            problems.clear()
            page.goto(target.as_uri(), wait_until="load")
            where = target.relative_to(site).as_posix()
            assert not offsite, f"{where} asked the network for {offsite}"
            assert not problems, f"{where}: {problems}"
            assert page.locator("body").inner_text().strip(), f"{where} is empty"
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.src.slice(0, 60)])")
            broken = [src for complete, width, src in images if not complete or width == 0]
            assert not broken, f"{where}: images that did not load: {broken}"
            nb = next((nb for nb, pg in pages if pg == target), None)
            if nb in with_figures:
                assert len(images) >= with_figures[nb], f"{where}: {len(images)} images, the notebook stores {with_figures[nb]}"
                shot = page.locator("img").first.screenshot()   # scrolls the figure into view
                inked[where] = _ink(shot)
                (shots / (where.replace("/", "_") + ".figure.png")).write_bytes(shot)
            png = page.screenshot()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000, f"{where}: no screenshot"
            (shots / (where.replace("/", "_") + ".png")).write_bytes(png)
        browser.close()
    assert max(inked.values()) > 0.02, f"the figures' screenshots are blank: ink {inked}"
