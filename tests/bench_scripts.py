"Load a script of the repository's `bench/` folder as a module (bench/ is not a package: its scripts run as files)."
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name: str):
    "The module of `bench/<name>.py`, executed once per call."
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
