"Test settings shared by every test file: offline hub, the local data mirror, and the `--runslow` switch."
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
_MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "METAHPO_DATA_DIR" not in os.environ and _MIRROR.is_dir():
    os.environ["METAHPO_DATA_DIR"] = str(_MIRROR)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def data_dir():
    "The local mirror of the real datasets; tests that need it are skipped without it."
    d = os.environ.get("METAHPO_DATA_DIR")
    if not d or not Path(d).is_dir():
        pytest.skip("no data mirror: set METAHPO_DATA_DIR")
    return Path(d)
