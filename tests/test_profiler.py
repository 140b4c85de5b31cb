"ResourceProfiler: every field filled, peaks seen, nesting, errors; the thread policy; the suite's memory guard."
import json
import mmap
import os
import resource
import subprocess
import sys
import threading
import time

import psutil
import pytest
import torch

from metahpo_kit.profiler import ResourceProfiler, cpu_threads, physical_cores, torch_threads
from metahpo_kit.train import resolve_device

FIELDS = {"wall_s", "cpu_s", "cpu_util", "cpus", "torch_threads", "peak_rss_mb", "gpu_peak_mem_mb", "gpu_util",
          "samples", "samples_per_s"}


def test_fields_filled_and_json_safe():
    x = torch.randn(2048, 512)
    with ResourceProfiler(samples=2048) as prof:
        for _ in range(10):
            x @ x.T
        rss_inside = psutil.Process().memory_info().rss / 2 ** 20
    d = prof.to_dict()
    assert set(d) == FIELDS
    json.dumps(d)
    assert d["wall_s"] > 0 and d["cpu_s"] > 0
    assert 0 < d["cpu_util"] <= 1.0   # cannot flake: the profiler clamps the ratio to 1, and matmuls take CPU time
    assert d["peak_rss_mb"] >= rss_inside   # the peak mark covers the whole block
    assert abs(d["samples_per_s"] - 2048 / d["wall_s"]) < 1e-6 * d["samples_per_s"]
    if not torch.cuda.is_available():
        assert d["gpu_peak_mem_mb"] is None and d["gpu_util"] is None


def test_samples_set_later_and_none_without():
    with ResourceProfiler() as prof:
        time.sleep(0.01)
    assert prof.to_dict()["samples_per_s"] is None
    prof.samples = 100
    assert prof.to_dict()["samples_per_s"] > 0


def test_wall_time_of_a_sleep():
    "In a process of its own, so no other thread of the test process adds CPU time; a busy machine only adds wall time."
    code = ("import json, time\nfrom metahpo_kit.profiler import ResourceProfiler\n"
            "with ResourceProfiler() as prof:\n    time.sleep(0.2)\nprint(json.dumps(prof.to_dict()))")
    d = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert d["wall_s"] >= 0.2 - 1e-3   # cannot flake: a sleep lasts at least its time (1 ms for the clocks' rounding)
    assert d["cpu_s"] < 0.5 * d["wall_s"]   # cannot flake: sleeping is not CPU work, and load cannot add CPU time


def _spike(mib: int) -> None:
    """Make `mib` MiB resident, then give them back. Through anonymous mmap, not torch or numpy: in a long-lived test
    process the allocator may serve a large request from freed heap memory that is still resident (an earlier test's),
    and then RSS does not rise at all (seen once in CI: the peak equalled the RSS after the block)."""
    m = mmap.mmap(-1, mib * 2 ** 20)
    for off in range(0, len(m), mmap.PAGESIZE):   # touch every page
        m[off] = 1
    m.close()                                      # unmapped: RSS falls back


def test_peak_rss_is_the_blocks_own():
    "Against the process's own RSS, with half the spike as the margin: only 100 MiB of other growth could cross it."
    with ResourceProfiler() as big:
        _spike(200)
    with ResourceProfiler() as small:
        torch.ones(10).sum()
    rss_now = psutil.Process().memory_info().rss / 2 ** 20
    assert big.result["peak_rss_mb"] > rss_now + 100
    assert small.result["peak_rss_mb"] < big.result["peak_rss_mb"] - 100


def test_nested_profilers_keep_their_peaks():
    with ResourceProfiler() as outer:
        _spike(100)
        with ResourceProfiler() as inner:
            pass
    assert outer.result["peak_rss_mb"] > inner.result["peak_rss_mb"] + 50   # half the spike: the margin


def test_to_dict_before_the_end_is_an_error():
    prof = ResourceProfiler()
    try:
        prof.to_dict()
    except RuntimeError as e:
        assert "has not finished" in str(e)
    else:
        raise AssertionError("to_dict() before the block ended should raise")


def test_a_block_starts_no_thread_where_the_kernel_keeps_the_peak():
    "What keeps a block cheap (its cost is measured in bench/tune_overhead.py): on Linux two /proc reads, no poller."
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("no /proc/self/clear_refs: the profiler polls RSS in a thread here")
    before = threading.active_count()
    with ResourceProfiler(gpu=False) as prof:
        assert prof._thread is None and threading.active_count() == before
    assert prof.result["peak_rss_mb"] > 0


@pytest.mark.parametrize("value,train,surrogate", [("", None, 1), ("1", 1, 1), ("3", 3, 3)])
def test_thread_counts_and_the_override(monkeypatch, value, train, surrogate):
    monkeypatch.setenv("METAHPO_THREADS", value)
    assert cpu_threads("train") == (train or physical_cores())
    assert cpu_threads("surrogate") == surrogate


@pytest.mark.parametrize("bad", ["0", "-2", "two", "2.5"])
def test_a_bad_override_is_refused(monkeypatch, bad):
    monkeypatch.setenv("METAHPO_THREADS", bad)
    with pytest.raises(ValueError, match=f"METAHPO_THREADS={bad!r} must be a whole number >= 1"):
        cpu_threads()
    with pytest.raises(ValueError, match="METAHPO_THREADS"):
        resolve_device("cpu")


def test_trainer_takes_the_training_count_and_a_block_gives_it_back(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("METAHPO_THREADS", "2")
        resolve_device("cpu")
        assert torch.get_num_threads() == 2
        with torch_threads(cpu_threads("surrogate")) as n:
            assert n == 2 and torch.get_num_threads() == 2      # the override holds for surrogates too
        monkeypatch.delenv("METAHPO_THREADS")
        with pytest.raises(ZeroDivisionError):
            with torch_threads(cpu_threads("surrogate")):
                assert torch.get_num_threads() == 1
                1 / 0
        assert torch.get_num_threads() == 2                     # restored after the error
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="n must be a whole number >= 1"):
        with torch_threads(0):
            pass


def test_memory_guard_fails_the_allocation_not_the_machine():
    "tests/conftest.py caps writable memory (RLIMIT_DATA): a runaway allocation raises in the test that made it."
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    if soft == resource.RLIM_INFINITY:
        pytest.skip("memory guard off (METAHPO_TEST_MEM_GB=0)")
    too_much = soft + 2 ** 30
    with pytest.raises(MemoryError):
        bytearray(too_much)
    with pytest.raises(RuntimeError, match="(?i)allocate"):
        torch.empty(too_much // 4, dtype=torch.float32)
    # processes the tests start inherit the cap
    code = f"import sys\ntry:\n    bytearray({too_much})\nexcept MemoryError:\n    sys.exit(7)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 7
    torch.ones(1000).sum()   # and the process is fine afterwards


def test_import_asks_for_sleeping_openmp_threads():
    code = "import os, metahpo_kit; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}

    def run(e):
        return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True).stdout.strip()

    assert run(env) == "PASSIVE"
    assert run({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"   # a user's own setting wins
