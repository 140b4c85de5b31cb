"""Keep the executed notebooks current, and render them as a static HTML site.

    python bench/notebooks.py execute                    # every notebook, default parameters, outputs stored in place
    python bench/notebooks.py execute 05_benchmark 07_maml   # only these (names with or without .ipynb)
    python bench/notebooks.py html                       # _site/: one page per notebook, images embedded, an index
    python bench/notebooks.py html --out /tmp/site 00_space
    python bench/notebooks.py list                       # the notebooks in reading order, each with its page
    python bench/notebooks.py scrub nbs/00_space.ipynb   # replace this machine's paths in stored outputs

`execute` runs the library notebooks (`nbs/*.ipynb`) with `nbdev-test --save` (outputs written back only when a
notebook ran without error) and the tutorials (`nbs/tutorials/*.ipynb`) one at a time with papermill from
`nbs/tutorials`, each into a temporary file that replaces the original only when it finished without error, so an
interrupted run never leaves a half-executed notebook. Then it replaces this machine's paths in the stored outputs
(the repository root, the data folder, the Python environment, the home folder) with placeholders, and fails if any
remains. `METAHPO_THREADS` defaults to 1, and `datasets`' progress bars are off (`HF_DATASETS_DISABLE_PROGRESS_BARS=1`):
the first load of a dataset into an empty cache would otherwise store them.

`html` needs no network: nbconvert's lab template without the scripts it would fetch from a CDN (require.js, MathJax,
the widget manager); widgets whose state was saved are drawn as the static HTML of their last state. The sources
are the kit's own notebooks, so highlighted code is not run through nbconvert's HTML sanitizer (the slowest step).
"""
import argparse
import html
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
TUTORIALS = NBS / "tutorials"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


# ---------------------------------------------------------------------------------------------------------- which
def _visible(paths):
    return sorted(p for p in paths if not p.name.startswith(("_", ".")))


def library_notebooks(nbs: Path = NBS) -> list:
    "The library notebooks (`nbs/*.ipynb`, the index among them), by name."
    return _visible(nbs.glob("*.ipynb"))


def tutorial_notebooks(nbs: Path = NBS) -> list:
    "The tutorials (`nbs/tutorials/*.ipynb`), in their numbered order."
    return _visible((nbs / "tutorials").glob("*.ipynb"))


def site_order(nbs: Path = NBS) -> list:
    "Every notebook in reading order: the index, the tutorials (00, 01, ...), then the module notebooks (reference)."
    lib = library_notebooks(nbs)
    index = [p for p in lib if p.stem == "index"]
    return index + tutorial_notebooks(nbs) + [p for p in lib if p.stem != "index"]


def select(paths: list, names) -> list:
    "The notebooks of `paths` named in `names` (stem, file name or path under nbs/); all of them when `names` is empty."
    if not names:
        return list(paths)
    by_name = {}
    for p in paths:
        by_name[p.stem] = p
        by_name[p.name] = p
        if p.is_relative_to(NBS):                  # tutorials/05_benchmark, if a stem is ever ambiguous
            by_name[p.relative_to(NBS).with_suffix("").as_posix()] = p
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown notebook(s) {unknown}; allowed: {sorted(p.stem for p in paths)}")
    return list(dict.fromkeys(by_name[n] for n in names))


# -------------------------------------------------------------------------------------------------------- scrub
def machine_paths() -> dict:
    "This machine's paths that must not be stored in a notebook, longest first, each with its placeholder."
    found = {str(ROOT): "<repo>", sys.prefix: "<python-env>", str(Path.home()): "~"}
    if sys.base_prefix not in ("/usr", "/usr/local"):      # a Python installed in its own folder (pyenv, conda)
        found[sys.base_prefix] = "<python>"
    data = os.environ.get("METAHPO_DATA_DIR")
    if data:
        found[str(Path(data).resolve())] = "<data>"
        found[data.rstrip("/")] = "<data>"
    found = {k: v for k, v in found.items() if k and k not in ("/", ".")}
    return dict(sorted(found.items(), key=lambda kv: -len(kv[0])))


def _pattern(paths: dict):
    return re.compile("|".join(re.escape(p) + r"(?![\w.-])" for p in paths))


def _scrub(obj, paths: dict, pattern):
    if isinstance(obj, str):
        return pattern.sub(lambda m: paths[m.group(0)], obj)
    if isinstance(obj, list):
        return [_scrub(x, paths, pattern) for x in obj]
    if isinstance(obj, dict):
        return {k: _scrub(v, paths, pattern) for k, v in obj.items()}
    return obj


def scrub_notebook(path: Path, paths: dict | None = None) -> list:
    """Replace machine paths in `path`'s outputs and metadata (not its sources: those are written by hand) with
    placeholders, drop per-run cell timings (nbdev-test's and papermill's) and empty execution counts (as `nbdev-clean` does, so that it finds
    nothing to change), write it back if that changed it, and return the machine paths that remain anywhere in the
    file (empty: clean)."""
    paths = paths or machine_paths()
    pattern = _pattern(paths)
    text = path.read_text()
    nb = json.loads(text)
    nb["metadata"] = _scrub(nb.get("metadata", {}), paths, pattern)
    for cell in nb["cells"]:
        cell.setdefault("metadata", {}).pop("execution", None)    # nbdev-test's per-run timings: churn, and not
        cell["metadata"].pop("papermill", None)                   # valid nbformat; papermill's per-cell times alike
        cell["metadata"] = _scrub(cell["metadata"], paths, pattern)  # (its run time stays in the notebook's metadata)
        if "execution_count" in cell:
            cell["execution_count"] = None
        if "outputs" in cell:
            cell["outputs"] = _scrub(cell["outputs"], paths, pattern)
            for out in cell["outputs"]:
                if "execution_count" in out:
                    out["execution_count"] = None
    new = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if json.loads(new) != json.loads(text):
        path.write_text(new)
    left = []
    for p in paths:
        for m in re.finditer(re.escape(p) + r"(?![\w.-])", new):
            left.append(f"{path.name}: {p!r} in ...{new[max(0, m.start() - 60):m.end() + 60]!r}...")
    return left


# ------------------------------------------------------------------------------------------------------ execute
def run_library(notebooks: list, n_workers: int = 2) -> int:
    "nbdev-test --save on `notebooks` (library notebooks only); returns its exit code."
    if not notebooks:
        return 0
    names = "|".join(re.escape(p.name) for p in notebooks)
    cmd = ["nbdev-test", str(NBS), "--n-workers", str(n_workers), "--save", "--do-print",
           "--file-re", f"^({names})$", "--skip-folder-re", r"^[_.]|^tutorials$"]
    print("library:", " ".join(p.name for p in notebooks), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def run_tutorial(path: Path) -> None:
    "Execute one tutorial with its default parameters into a temporary file; replace the original when it finished."
    import papermill
    # beside the original (so the move is atomic), named `_...` so nbdev and the tutorial tests skip it meanwhile
    fd, tmp = tempfile.mkstemp(prefix=f"_running_{path.stem}.", suffix=".ipynb", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        papermill.execute_notebook(str(path), str(tmp), cwd=str(path.parent), kernel_name="python3",
                                   progress_bar=False)
        nb = json.loads(tmp.read_text())
        meta = nb["metadata"].get("papermill", {})
        meta["input_path"] = meta["output_path"] = path.name     # not the temporary name, nor this machine's paths
        tmp.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        os.chmod(tmp, path.stat().st_mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def execute(names=(), n_workers: int = 2) -> int:
    "Re-execute the named notebooks (all when none) with their default parameters; 0 when all ran and are clean."
    os.environ.setdefault("METAHPO_THREADS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")   # a cold datasets cache would store its bars
    every = library_notebooks() + tutorial_notebooks()
    chosen = select(every, names)
    lib = [p for p in chosen if p.parent == NBS]
    tut = [p for p in chosen if p.parent == TUTORIALS]
    failed = []
    if run_library(lib, n_workers) != 0:
        failed.append("library notebooks (nbdev-test: see above; the failing ones were not saved)")
    for path in tut:
        print(f"tutorial: {path.name}", flush=True)
        try:
            run_tutorial(path)
        except Exception as e:              # report, keep the original, go on with the next
            failed.append(f"{path.name}: {type(e).__name__}: {str(e)[:2000]}")
    left = []
    for path in chosen:
        left += scrub_notebook(path)
    for line in failed:
        print("FAILED", line, file=sys.stderr)
    for line in left:
        print("MACHINE PATH LEFT", line, file=sys.stderr)
    return 1 if failed or left else 0


# --------------------------------------------------------------------------------------------------------- html
def _widget_html(model_id: str, state: dict, depth: int = 0) -> str:
    "Static HTML of a saved widget: boxes as flex rows or columns, HTML and label values, progress bars."
    model = state.get(model_id)
    if model is None or depth > 20:
        return ""
    name, s = model.get("model_name", ""), model.get("state", {})
    kids = [_widget_html(c.split("IPY_MODEL_", 1)[-1], state, depth + 1) for c in s.get("children", [])]
    if name in ("VBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel"):
        return '<div style="display:flex;flex-direction:column;gap:4px">' + "".join(kids) + "</div>"
    if name == "HBoxModel":
        return '<div style="display:flex;flex-direction:row;gap:8px;align-items:flex-start">' + "".join(kids) + "</div>"
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<div>{s.get('value', '')}</div>"
    if name in ("LabelModel", "TextModel", "TextareaModel"):
        return f"<div>{html.escape(str(s.get('value', '')))}</div>"
    if name in ("IntProgressModel", "FloatProgressModel"):
        return (f"<div>{html.escape(str(s.get('description', '')))} "
                f"<progress value=\"{s.get('value', 0)}\" max=\"{s.get('max', 100)}\"></progress></div>")
    if name == "ImageModel" and isinstance(s.get("value"), str):
        return f"<img src=\"data:image/{s.get('format', 'png')};base64,{s['value']}\">"
    return ""


def static_widgets(nb) -> None:
    """Draw widget outputs without JavaScript: from the notebook's saved widget state when there is one (as
    text/html), else their text fallback. Drops the state so the page loads no widget manager."""
    state = nb.metadata.pop("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_MIME in data:
                drawn = _widget_html(data[WIDGET_MIME].get("model_id", ""), state)
                del data[WIDGET_MIME]
                if drawn and "text/html" not in data:
                    data["text/html"] = drawn


OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{% block input %}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
     <div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
     </div>
</div>
{%- endblock input %}
"""


def exporter():
    "nbconvert's HTML exporter (lab template), images embedded, and no script fetched from the network."
    import jinja2
    from nbconvert import HTMLExporter
    ex = HTMLExporter(template_name="lab", embed_images=True)
    ex.extra_loaders = [jinja2.DictLoader({"metahpo_offline.html.j2": OFFLINE_TEMPLATE})]
    ex.template_file = "metahpo_offline.html.j2"
    return ex


def page_path(nb_path: Path, nbs: Path = NBS) -> Path:
    "Where a notebook's page goes in the site, relative to its root: `pages/` mirrors `nbs/`."
    return Path("pages") / nb_path.relative_to(nbs).with_suffix(".html")


def title_of(nb) -> str:
    "The notebook's first markdown heading, else its name."
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def _relink(body: str) -> str:
    "Links between notebooks point at their pages: a relative `x.ipynb` becomes `x.html`."
    return re.sub(r'href="(?![a-z][a-z0-9+.-]*:)([^"#]*?)\.ipynb((?:#[^"]*)?)"', r'href="\1.html\2"', body)


def render_site(out, names=(), nbs: Path = NBS) -> list:
    "Render the notebooks (all, or the named ones) into `out`, with an index.html; returns [(notebook, page)]."
    import nbformat
    out = Path(out)
    ex = exporter()
    chosen = select(site_order(nbs), names)
    pages = []
    for nb_path in chosen:
        nb = nbformat.read(nb_path, as_version=4)
        title = title_of(nb) or nb_path.stem
        static_widgets(nb)
        for cell in nb.cells:                    # timings some runners store there, in a shape nbformat rejects
            cell.metadata.pop("execution", None)
        nb.metadata["title"] = title
        body, _ = ex.from_notebook_node(nb, resources={"metadata": {"name": nb_path.stem, "path": str(nb_path.parent)}})
        page = out / page_path(nb_path, nbs)
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_relink(body))
        pages.append((nb_path, page, title))
    write_index(out, pages, nbs)
    return [(nb_path, page) for nb_path, page, _ in pages]


def write_index(out: Path, pages: list, nbs: Path = NBS) -> Path:
    "index.html: the pages in reading order, in three groups."
    groups = {"Start here": [], "Tutorials": [], "Reference: the module notebooks": []}
    for nb_path, page, title in pages:
        key = ("Tutorials" if nb_path.parent.name == "tutorials" else
               "Start here" if nb_path.stem == "index" else "Reference: the module notebooks")
        href = page.relative_to(out).as_posix()
        groups[key].append(f'<li><a href="{html.escape(href)}">{html.escape(nb_path.stem)}</a>: '
                           f"{html.escape(title)}</li>")
    body = "".join(f"<h2>{name}</h2>\n<ul>\n" + "\n".join(items) + "\n</ul>\n" for name, items in groups.items() if items)
    index = out / "index.html"
    index.write_text("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>metahpo_kit notebooks</title>"
                     "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}</style>"
                     "</head><body>\n<h1>metahpo_kit: the notebooks</h1>\n"
                     "<p>Executed with their default parameters. Start with the concepts, follow the tutorials in "
                     "order; the module notebooks are the reference.</p>\n" + body + "</body></html>\n")
    return index


# ---------------------------------------------------------------------------------------------------------- cli
def main(argv=None) -> int:
    # a kill (timeout, CI cancelling) unwinds like an error, so a half-run tutorial's temporary file is removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("execute", help="re-execute notebooks with their default parameters, outputs stored in place")
    ex.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    ex.add_argument("--n-workers", type=int, default=2, help="nbdev-test workers for the library notebooks")
    ht = sub.add_parser("html", help="render the notebooks as a static HTML site")
    ht.add_argument("names", nargs="*", help="notebooks to render (default: all)")
    ht.add_argument("--out", default=str(ROOT / "_site"), help="output folder (default: _site/)")
    ls = sub.add_parser("list", help="the notebooks in reading order: path under nbs/, a tab, its page's path")
    ls.add_argument("names", nargs="*", help="only these (default: all)")
    sc = sub.add_parser("scrub", help="replace this machine's paths in notebooks' outputs; list any left (exit 1)")
    sc.add_argument("paths", nargs="+", help="notebook files")
    args = ap.parse_args(argv)
    if args.cmd == "execute":
        return execute(args.names, args.n_workers)
    if args.cmd == "list":
        for nb in select(site_order(), args.names):
            print(f"{nb.relative_to(NBS).as_posix()}\t{page_path(nb).as_posix()}")
        return 0
    if args.cmd == "scrub":
        left = [hit for p in args.paths for hit in scrub_notebook(Path(p))]
        print("\n".join(left))
        return 1 if left else 0
    pages = render_site(args.out, args.names)
    print(f"{len(pages)} pages and index.html in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
