"""Every tutorial runs top to bottom in a real Jupyter kernel (papermill), offline, with small parameters; and no
tutorial lets its held-out task leak into the training tasks of a transfer method."""
import json
import os
import re
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "nbs" / "tutorials"
# small parameters per tutorial: every tutorial needs an entry (a new tutorial without one fails the test below)
SMALL = {
    "00_concepts.ipynb": {"N_SYNTH": 4, "N_CONFIGS": 60, "OUTER_STEPS": 20, "N_DRAWS": 2},
    "01_tabular.ipynb": {"N_TRIALS": 3, "TASKS": "titanic,adult", "MAX_TRAIN": 1500},   # a string, as `-p TASKS` gives
    "03_image.ipynb": {"N_TRIALS": 2, "MAX_TRAIN": 600, "CIFAR_MAX_TRAIN": 200, "RESNET_SECONDS": 5},
    "04_text.ipynb": {"N_TRIALS": 2, "EPOCHS": 1, "MAX_TRAIN": 400, "MAX_TEST": 200, "MAX_LENGTH": 32},
    "02_maml.ipynb": {"N_STEPS": 30, "N_TRIALS": 5, "N_SEEDS": 2, "DKGP_STEPS": 20},
    "05_benchmark.ipynb": {"N_TRIALS": 5, "N_SEEDS": 2, "MAX_TASKS": 3, "MAML_STEPS": 10, "DKGP_STEPS": 10},
}


def test_every_tutorial_has_small_parameters():
    found = sorted(p.name for p in TUTORIALS.glob("*.ipynb") if not p.name.startswith("_"))
    assert found, "no tutorials found"
    assert sorted(SMALL) == found


def test_a_list_parameter_also_takes_one_string():
    "`papermill -p TASKS adult` passes a string: each tutorial with TASKS makes it a list (`task_list`) at once."
    with_tasks = [p for p in tutorials() if "TASKS" in default_parameters(p)]
    assert with_tasks
    for path in with_tasks:
        cells = code_cells(path)
        params = next(i for i, src in enumerate(cells) if re.match(r"TASKS\s*=", src))
        first_use = next(i for i, src in enumerate(cells) if i > params and "TASKS" in src)   # after `kit_state()`
        assert "TASKS = task_list(TASKS)" in cells[first_use], f"{path.name}: TASKS is not passed through task_list"


@pytest.mark.parametrize("name", sorted(SMALL))
def test_tutorial_runs_in_a_kernel(name, tmp_path, data_dir, monkeypatch):
    "Runs in a kernel without error; and every transfer tuner it fits leaves out whole datasets (the leak guard)."
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("METAHPO_THREADS", "1")
    log = install_leak_guard_in_kernels(tmp_path, monkeypatch)
    out = tmp_path / name
    nb = papermill.execute_notebook(str(TUTORIALS / name), str(out), parameters=SMALL[name], cwd=str(TUTORIALS),
                                    kernel_name="python3", progress_bar=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "papermill found no parameters cell"
    fits = read_fits(log)
    if fits_transfer_tuner(code_cells(TUTORIALS / name)):
        assert fits, f"{name} fits a transfer tuner but the leak guard saw no fit (was the guard installed?)"
    leaks = [f for f in fits if f["leaked"]]
    assert not leaks, f"{name}: a transfer tuner was trained on tasks of a held-out dataset: {leaks}"

# --- leave-one-task-out in the tutorials -------------------------------------------------------------------------
# A tutorial holds a task out of the training tasks of a transfer method (portfolio, similarity rule, MAML tuner).
# Its held-out choices are the parameters below. Holding out by the id's prefix (`t.split("@")[0] != TASK`) keeps
# `mnist@arch=mlp,...` when `mnist_5k` is held out: the same digits. The hold-out must be `md.same_dataset(task)`.
HELD_OUT_PARAMS = ("TASK", "TASKS", "HELD_OUT")
ID_SPLIT = re.compile(r"""\.(r?split|r?partition)\(\s*['"]@['"]""")
FITS_TRANSFER = re.compile(r"\b(PortfolioTuner|SimilarityTuner|MAMLTuner|DeepKernelTuner)\b")

# Installed in every tutorial's kernel (an IPython startup file) by the kernel test above: each fit of a transfer
# tuner logs the tasks it leaves out (of the shipped meta-dataset, when it is trained on a part of it) and the
# training tasks built on the dataset of a left-out task (a leak).
LEAK_GUARD = '''
def _install_leak_guard(log):
    "Wrap the transfer tuners' `fit` to log, for each fit, the tasks held out and any leaked training task."
    import json

    from metahpo_kit import dkgp, maml, transfer
    from metahpo_kit.metadata import MetaDataset, load_shipped
    from metahpo_kit.tasks import base_dataset

    shipped = []
    originals = {}

    def guard(cls):
        fit = cls.fit
        originals[cls] = cls.__dict__.get("fit")   # None: inherited, so uninstall removes the wrapper

        def fit_guarded(self, metadataset=None, exclude_tasks=(), *args, **kwargs):
            if isinstance(metadataset, MetaDataset):
                if not shipped:
                    shipped.append(set(load_shipped().tasks))
                tasks = set(metadataset.tasks)
                reference = shipped[0] if tasks <= shipped[0] else tasks
                training = tasks - set(exclude_tasks)
                held = reference - training
                held_datasets = {base_dataset(t) for t in held}
                leaked = sorted(t for t in training if base_dataset(t) in held_datasets)
                with open(log, "a") as f:
                    f.write(json.dumps({"tuner": cls.__name__, "held_out": sorted(held), "leaked": leaked}) + "\\n")
            return fit(self, metadataset, exclude_tasks, *args, **kwargs)

        cls.fit = fit_guarded

    for cls in (transfer.PortfolioTuner, transfer.SimilarityTuner, maml.MAMLTuner, dkgp.DeepKernelTuner):
        guard(cls)

    def uninstall():
        for cls, fit in originals.items():
            if fit is None:
                del cls.fit
            else:
                cls.fit = fit

    return uninstall
'''
STARTUP = LEAK_GUARD + '''
_install_leak_guard(__import__("os").environ["METAHPO_LEAK_LOG"])
del _install_leak_guard
'''


def install_leak_guard_in_kernels(tmp_path: Path, monkeypatch) -> Path:
    "Make kernels started from now on (IPYTHONDIR) run the leak guard at start; the path of its log."
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00_leak_guard.py").write_text(STARTUP)
    log = tmp_path / "fits.jsonl"
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("METAHPO_LEAK_LOG", str(log))
    return log


def read_fits(log: Path) -> list:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def fits_transfer_tuner(cells: list) -> bool:
    "Whether a tutorial's code names a transfer tuner and calls a `.fit(`."
    return any(FITS_TRANSFER.search(src) for src in cells) and any(".fit(" in src for src in cells)


def tutorials() -> list:
    return sorted(p for p in TUTORIALS.glob("*.ipynb") if not p.name.startswith("_"))


def code_cells(path: Path) -> list:
    "The source of each code cell of a notebook."
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def default_parameters(path: Path) -> dict:
    "A tutorial's default parameters: its cell tagged `parameters`, executed into a dict."
    cells = [c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters', expected one"
    ns = {}
    exec("".join(cells[0]["source"]), {}, ns)
    return ns


def held_out_choices(params: dict) -> list:
    "The task ids among `params` named TASK, TASKS or HELD_OUT (a string or a list of strings)."
    from metahpo_kit.catalogue import task_list
    out = []
    for name in HELD_OUT_PARAMS:
        v = params.get(name)
        if v is None:
            continue
        values = task_list(v, name) if name == "TASKS" else [v] if isinstance(v, str) else list(v)   # as the tutorial reads it
        assert all(isinstance(x, str) for x in values), f"{name}={v!r}: expected a task id or a list of task ids"
        out += values
    return out


def leaked(md, held_out: str, training_tasks) -> list:
    "The training tasks built on the same dataset as `held_out`."
    from metahpo_kit.tasks import base_dataset
    return [t for t in training_tasks if base_dataset(t) == base_dataset(held_out)]


@pytest.fixture(scope="module")
def shipped():
    from metahpo_kit.metadata import load_shipped
    return load_shipped()


def test_leak_check_can_fail(shipped):
    "The check below finds the leak of a hold-out by the id's prefix (so a passing check means something)."
    held = "mnist_5k"
    by_prefix = [t for t in shipped.tasks if t.partition("@")[0] != held]
    assert leaked(shipped, held, by_prefix), "the id-prefix hold-out of mnist_5k should keep an mnist task"
    assert not leaked(shipped, held, shipped.filter(exclude_tasks=shipped.same_dataset(held)).tasks)


def test_leak_guard_catches_an_id_prefix_hold_out(tmp_path, shipped):
    "The guard the kernel runs install logs the leak of an id-prefix hold-out, and none for `same_dataset`."
    from metahpo_kit.dkgp import DeepKernelTuner
    from metahpo_kit.transfer import PortfolioTuner
    ns = {}
    exec(LEAK_GUARD, ns)
    log = tmp_path / "fits.jsonl"
    uninstall = ns["_install_leak_guard"](str(log))
    try:
        by_prefix = [t for t in shipped.tasks if t.partition("@")[0] != "mnist_5k"]
        PortfolioTuner(size=3).fit(shipped.filter(tasks=by_prefix))
        PortfolioTuner(size=3).fit(shipped, exclude_tasks=shipped.same_dataset("mnist_5k"))
    finally:
        uninstall()
    assert PortfolioTuner.fit.__name__ == "fit" and "fit" not in vars(DeepKernelTuner)   # uninstalled as it was
    first, second = read_fits(log)
    assert first["leaked"] == [t for t in shipped.tasks if t.startswith("mnist@")] != []
    assert second["leaked"] == []
    assert sorted(second["held_out"]) == sorted(shipped.same_dataset("mnist_5k"))


@pytest.mark.parametrize("name", [p.name for p in tutorials()])
def test_no_leak_of_held_out_choices(name, shipped):
    "Each held-out choice of a tutorial (default and small parameters): known, and none of its dataset left to train on."
    from metahpo_kit.tasks import base_dataset, list_tasks
    choices = held_out_choices(default_parameters(TUTORIALS / name)) + held_out_choices(SMALL.get(name, {}))
    known = set(list_tasks()) | {base_dataset(t) for t in shipped.tasks}
    for x in choices:
        assert base_dataset(x) in known, f"{name}: held-out choice {x!r} is no task of the catalogue or the meta-dataset"
        training = shipped.filter(exclude_tasks=shipped.same_dataset(x)).tasks
        assert not leaked(shipped, x, training), f"{name}: {x!r} leaks through {leaked(shipped, x, training)}"


@pytest.mark.parametrize("name", [p.name for p in tutorials()])
def test_no_leak_by_splitting_task_ids(name):
    "No tutorial holds tasks out by splitting the task id at '@'; one that fits a transfer tuner uses same_dataset."
    cells = code_cells(TUTORIALS / name)
    splits = [line.strip() for src in cells for line in src.splitlines() if ID_SPLIT.search(line)]
    assert not splits, f"{name} holds tasks out by the id's prefix (use md.same_dataset(task)): {splits}"
    if fits_transfer_tuner(cells):
        assert any("same_dataset(" in src for src in cells), \
            f"{name} fits a transfer tuner but never calls md.same_dataset(task) to hold out the task's dataset"


# --- one run, one state; a lesson, not a log ----------------------------------------------------------------------
def stored_text(cell: dict) -> str:
    "The text of a code cell's stored outputs (streams and plain-text results)."
    out = []
    for o in cell.get("outputs", []):
        out.append("".join(o.get("text", "")))
        out.append("".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(t for t in out if t)


def test_every_tutorial_was_executed_on_the_current_state_of_the_kit():
    "The first output of each tutorial names the kit version and shipped meta-dataset it ran on: they must be today's."
    from metahpo_kit.default import kit_state
    now = kit_state()
    stale = {}
    for path in tutorials():
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code" and c.get("outputs")]
        first = stored_text(cells[0]).strip() if cells else ""
        if first != now:
            stale[path.name] = first[:100]
    assert not stale, (f"tutorials executed on another state of the kit (now: {now!r}); re-execute them with "
                       f"`python bench/notebooks.py execute`: {stale}")


NUMBER = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred)"
TYPED_COUNT = re.compile(rf"\b{NUMBER}(\s+[a-z-]+){{0,2}}\s+(tasks|datasets)\b", re.I)


def typed_counts(text: str) -> list:
    return [m.group(0) for m in TYPED_COUNT.finditer(text)]


def test_typed_counts_are_found():
    assert typed_counts("titanic is one task among thirty tasks; only three text tasks; 110 held-out datasets") == \
        ["thirty tasks", "three text tasks", "110 held-out datasets"]
    assert typed_counts("a task among the training tasks; every dataset") == []


def test_the_prose_types_no_count_of_tasks():
    "Counts of tasks and datasets go stale as the meta-dataset grows: the prose says them through computed outputs."
    found = {}
    for path in tutorials():
        for i, c in enumerate(json.loads(path.read_text())["cells"]):
            if c["cell_type"] == "markdown" and (hits := typed_counts("".join(c["source"]))):
                found[f"{path.name} cell {i}"] = hits
    assert not found, f"hand-typed task counts in the tutorials' prose: {found}"


P_VALUE = re.compile(r"\bp\s*[=<]\s*\d|\(p \d")
HEX = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def test_outputs_hold_no_commit_hash_and_at_most_one_p_value_a_line():
    "A p-value is read one comparison at a time; a commit hash is a lab log's, not a lesson's."
    from metahpo_kit.default import kit_state
    fingerprint = kit_state().rsplit(" ", 1)[-1]
    found = {}
    for path in tutorials():
        for i, c in enumerate(json.loads(path.read_text())["cells"]):
            text = stored_text(c) if c["cell_type"] == "code" else ""
            wide = [line for line in text.splitlines() if len(P_VALUE.findall(line)) > 1]
            hashes = [h for h in HEX.findall(text) if h != fingerprint]
            if wide or hashes:
                found[f"{path.name} cell {i}"] = wide[:2] + hashes[:2]
    assert not found, found


def test_p_value_and_hash_patterns_can_fail():
    assert len(P_VALUE.findall("k=1: 31/48/15 (p 0.013)  k=3: 8/79/7 (p 0.5)")) == 2
    assert len(P_VALUE.findall("better on 31, worse on 15; p = 0.013: ahead")) == 1
    assert HEX.findall("main at 56f67a8, fingerprint") == ["56f67a8"] and HEX.findall("trial 1234567") == []


def test_every_tutorial_links_the_glossary():
    glossary = TUTORIALS / "glossary.md"
    assert glossary.exists()
    missing = [p.name for p in tutorials() if "(glossary.md)" not in p.read_text()]
    assert not missing, f"tutorials without a link to the glossary: {missing}"


def test_every_tutorial_ends_with_a_questionnaire_and_hidden_answers():
    missing = []
    for path in tutorials():
        md = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
        q = next((i for i, s in enumerate(md) if s.startswith("## Questionnaire")), None)
        if q is None or not any(s.startswith("<details>") for s in md[q + 1:]):
            missing.append(path.name)
    assert not missing, f"tutorials without a questionnaire followed by collapsed answers: {missing}"


def test_stored_tutorials_keep_no_per_cell_timings():
    "A re-run changes the notebook's one run time (papermill's, in its metadata), not a timestamp in every cell."
    timed = {p.name: i for p in tutorials() for i, c in enumerate(json.loads(p.read_text())["cells"])
             if {"papermill", "execution"} & set(c.get("metadata", {}))}
    assert not timed, f"per-cell timings stored (first such cell): {timed}; run `python bench/notebooks.py scrub`"


def test_stored_tutorials_hold_no_live_widget():
    "A widget's stored state is its first frame (a progress bar at 0): a saved tutorial shows a static picture instead."
    live = [p.name for p in tutorials() for c in json.loads(p.read_text())["cells"] for o in c.get("outputs", [])
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert not live, f"tutorials with a stored live widget: {sorted(set(live))}"
