"""The static HTML site of the executed notebooks (`bench/notebooks.py html`): every page opens in headless Chromium
(Playwright driving Debian's chromium) without an error or a request off this machine, every image in it has
loaded, a notebook with stored figures shows them, and a screenshot of a figure has ink on it."""
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _load_notebooks_script():
    spec = importlib.util.spec_from_file_location("bench_notebooks", ROOT / "bench" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_site_order_names_and_links():
    nbk = _load_notebooks_script()
    order = nbk.site_order()
    names = [p.relative_to(nbk.NBS).as_posix() for p in order]
    tutorials = [n for n in names if n.startswith("tutorials/")]
    assert names[0] == "index.ipynb"
    assert names[1:1 + len(tutorials)] == sorted(tutorials), "tutorials come right after the index, in order"
    assert len(tutorials) >= 2 and len(names) > len(tutorials) + 1
    with pytest.raises(SystemExit, match="unknown notebook"):
        nbk.select(order, ["no_such_notebook"])
    assert nbk._relink('<a href="01_tabular.ipynb#x">') == '<a href="01_tabular.html#x">'
    assert nbk._relink('<a href="https://x.org/a.ipynb">') == '<a href="https://x.org/a.ipynb">'


def test_scrub_replaces_machine_paths(tmp_path):
    nbk = _load_notebooks_script()
    paths = {"/some/checkout/of/repo": "<repo>", "/home/someone": "~"}
    nb = {"cells": [{"cell_type": "code", "id": "a", "metadata": {}, "execution_count": 1, "source": ["x = 1"],
                     "outputs": [{"output_type": "stream", "name": "stderr",
                                  "text": ["/some/checkout/of/repo/metahpo_kit/x.py:3: Warning\n",
                                           "see /home/someone/.cache/y and /some/checkout/of/repository\n"]}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    p = tmp_path / "n.ipynb"
    p.write_text(json.dumps(nb))
    assert nbk.scrub_notebook(p, paths) == []
    text = "".join(json.loads(p.read_text())["cells"][0]["outputs"][0]["text"])
    assert text == "<repo>/metahpo_kit/x.py:3: Warning\nsee ~/.cache/y and /some/checkout/of/repository\n"
    nb["cells"][0]["source"] = ["open('/home/someone/data')"]     # a path in a source is reported, not edited
    p.write_text(json.dumps(nb))
    left = nbk.scrub_notebook(p, paths)
    assert len(left) == 1 and "/home/someone" in left[0]


def test_pages_render_with_their_images(tmp_path, need):
    need("Debian's chromium", CHROMIUM)
    playwright = pytest.importorskip("playwright.sync_api") if not os.environ.get("CI") else __import__(
        "playwright.sync_api", fromlist=["sync_playwright"])
    nbk = _load_notebooks_script()
    site = tmp_path / "site"
    assert nbk.main(["html", "--out", str(site)]) == 0
    pages = [(nb, site / nbk.page_path(nb)) for nb in nbk.site_order()]
    assert pages and all(page.is_file() for _, page in pages)
    index_html = (site / "index.html").read_text()
    hrefs = [nbk.page_path(nb).as_posix() for nb, _ in pages]
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
