"""Rules the suite keeps so that it passes on any machine, busy or quiet: no test bounds a wall-clock time, a CPU
utilisation or an absolute memory figure by a number (speed and memory goals live in bench/). A comparison that
cannot flake stays with a comment on its line saying why (`# cannot flake: ...`)."""
import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "cannot flake:"
# what a machine's load or allocator moves: clocks, durations, utilisation, resident memory
MEASURED = re.compile(r"perf_counter|monotonic|process_time|thread_time|time\.time|\belapsed|wall|duration|"
                      r"cpu_util|cpu_s\b|\brss|_rss|VmHWM|memory_info|max_usage", re.IGNORECASE)


def _is_number(node: ast.AST) -> bool:
    "A literal number, or arithmetic of literal numbers (`1.0 + 0.15 + 2.0`, `-3`, `2 ** 20`)."
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _is_number(node.operand)
    if isinstance(node, ast.BinOp):
        return _is_number(node.left) and _is_number(node.right)
    return False


def _is_zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value == 0


def bounded_measurements(code: str) -> list:
    """(line, text) of every comparison in `code` between a measured quantity and a literal number other than 0
    (a sign check is no bound), unless a line of the comparison carries the `cannot flake:` comment."""
    lines = code.splitlines()
    found = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        measured = [s for s in sides if MEASURED.search(ast.unparse(s))]
        bounds = [s for s in sides if _is_number(s) and not _is_zero(s)]
        if not measured or not bounds:
            continue
        span = lines[node.lineno - 1:node.end_lineno]
        if any(MARK in line for line in span):
            continue
        found.append((node.lineno, ast.unparse(node)))
    return found


def _code_cells(path: Path):
    "(index, Python text) of a notebook's code cells, IPython magics and shell lines blanked."
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            yield i, "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def test_the_rule_finds_a_wall_clock_bound_and_passes_what_cannot_flake():
    code = ("t0 = time.perf_counter()\nrun()\nassert time.perf_counter() - t0 < 1.0 + 0.15\n"
            "assert r.wall_s < 10\nassert prof['peak_rss_mb'] > 50\nassert 0.19 < d['wall_s']\n"
            "assert d['cpu_util'] < 0.5\n"
            "while time.monotonic() < deadline:\n    pass\n"
            "assert r.wall_s > 0 and r.steps == 30\n"
            "assert d['wall_s'] >= 0.2  # cannot flake: a sleep lasts at least its time\n")
    assert [line for line, _ in bounded_measurements(code)] == [3, 4, 5, 6, 7]


def test_no_test_bounds_a_measured_time_or_memory_by_a_number():
    files = sorted((ROOT / "tests").glob("*.py"))
    notebooks = sorted((ROOT / "nbs").rglob("*.ipynb"))
    assert files and notebooks
    found = {}
    for path in files:
        if path.name != Path(__file__).name:
            found[path] = bounded_measurements(path.read_text())
    for path in notebooks:
        found[path] = [(f"cell {i}", text) for i, code in _code_cells(path) for _, text in bounded_measurements(code)]
    found = {str(p.relative_to(ROOT)): hits for p, hits in found.items() if hits}
    assert not found, ("a test bounds a measured time or memory by a number: move it to bench/, make it a property "
                       f"that load cannot move, or say on its line why it cannot flake ('# {MARK} ...'): {found}")
