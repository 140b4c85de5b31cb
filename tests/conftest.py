"""Test settings shared by every test file: offline hub, the local data mirror, the `--runslow` switch, and a memory
guard that fails a runaway test instead of letting the kernel's OOM killer take the machine."""
import os
import resource
from pathlib import Path

import pytest

from metahpo_kit.profiler import proc_status_mb

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "METAHPO_DATA_DIR" not in os.environ and _MIRROR.is_dir():
    os.environ["METAHPO_DATA_DIR"] = str(_MIRROR)

# The memory guard. RLIMIT_DATA caps the process's writable private memory (heap, anonymous mappings), so an
# allocation past it fails where it is made: Python raises MemoryError, torch and numpy raise their out-of-memory
# errors, and the test that asked fails with a traceback. RLIMIT_AS would be the classic choice but counts every
# mapping, including address space reserved and never used (shared libraries, the 64 MiB malloc arenas of each
# thread, a browser's multi-GB reservations), so it breaks torch and the end-to-end test long before memory is
# short. The limit is inherited by the processes tests start (CLI runs, notebook kernels, the browser), which is
# wanted: a runaway child fails its test too. METAHPO_TEST_MEM_GB sets it (default 4; 0 turns the guard off).
_MEM_GB = float(os.environ.get("METAHPO_TEST_MEM_GB", "4"))
_PEAK = {"data_mb": 0.0, "test": None}


def _set_data_limit(gb: float) -> None:
    if gb <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    want = int(gb * 2 ** 30)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft == resource.RLIM_INFINITY or soft > want:
        resource.setrlimit(resource.RLIMIT_DATA, (want, hard))


_set_data_limit(_MEM_GB)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    data = proc_status_mb("VmData") or 0.0
    if data > _PEAK["data_mb"]:
        _PEAK["data_mb"], _PEAK["test"] = data, item.nodeid


def _own_peak() -> dict:
    return {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **_PEAK}


def pytest_sessionfinish(session):
    "In a pytest-xdist worker: hand this process's memory figures to the controller."
    out = getattr(session.config, "workeroutput", None)
    if out is not None:
        out["metahpo_peak"] = _own_peak()


_WORKERS = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    "In the pytest-xdist controller: collect each worker's memory figures."
    peak = getattr(node, "workeroutput", {}).get("metahpo_peak")
    if peak:
        _WORKERS.append(peak)


def pytest_terminal_summary(terminalreporter):
    """The test processes' peak RSS, and the largest VmData after a test (with the test): what the guard watches. With
    pytest-xdist, the largest over the workers (the tests run there)."""
    peaks = _WORKERS or [_own_peak()]
    rss = max(p["rss_mb"] for p in peaks)
    data = max(peaks, key=lambda p: p["data_mb"])
    who = f"{len(peaks)} test processes" if _WORKERS else "pytest"
    line = (f"memory: {who}, peak RSS {rss:.0f} MB; largest VmData after a test {data['data_mb']:.0f} MB "
            f"({data['test']}); guard RLIMIT_DATA {f'{_MEM_GB:g} GB' if _MEM_GB > 0 else 'off'} a process")
    terminalreporter.write_line(line)
    out = os.environ.get("METAHPO_PEAK_RSS_FILE")
    if out:
        Path(out).write_text(line + "\n")


@pytest.fixture
def data_dir():
    "The local mirror of the real datasets; tests that need it are skipped without it."
    d = os.environ.get("METAHPO_DATA_DIR")
    if not d or not Path(d).is_dir():
        pytest.skip("no data mirror: set METAHPO_DATA_DIR")
    return Path(d)


@pytest.fixture
def need():
    "`need(what, ok)`: skip the test when `what` is missing here (not `ok`); fail it in CI, which must provide it."
    def check(what: str, ok) -> None:
        if ok:
            return
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide {what}")
        pytest.skip(f"{what} is not installed")
    return check
