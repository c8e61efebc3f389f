"""Memory: no leaks over many cycles, and a clear MemoryError for what cannot fit.

- 1,000 cycles of fit, predict, save and load leave the resident set size
  flat, and tracemalloc sees nothing retained from one cycle to the next.
- A network, workspace or optimizer too large for the memory available is
  refused with a MemoryError naming what needed how much, before anything
  is allocated (Linux would grant it and kill the process when it wrote
  the pages); an allocation that fails anyway says the same.
"""
import gc
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
import warnings

import numpy as np
import pytest
from support import forget_attribute_names

import nnbp
from nnbp import _memory

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

MiB = 2**20


def resident_bytes():
    """This process's resident set size (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cycle(path, X, y, X_new):
    """One fit, predict, save and load, as a service retraining a model would."""
    est = nnbp.MLPClassifier((32,), max_iter=5, random_state=0).fit(X, y)
    est.predict(X_new)
    est.save(path)
    nnbp.load(path).predict_proba(X_new)


@pytest.fixture
def cycle_data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    return tmp_path / "model.npz", X, y, rng.standard_normal((50, 8))


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
@pytest.mark.slow                # the cycles are what the test counts on
def test_a_thousand_fit_predict_save_load_cycles_leave_the_resident_size_flat(cycle_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(100):                 # caches, pools and lazy imports fill up
            cycle(*cycle_data)
        gc.collect()
        before = resident_bytes()
        for _ in range(1000):
            cycle(*cycle_data)
        gc.collect()
        growth = resident_bytes() - before
    # One leaked parameter vector (370 parameters) per cycle would be 3 MB.
    assert growth < 2 * MiB, f"resident size grew by {growth / MiB:.1f} MiB"


@pytest.mark.slow                # the cycles are what the test counts on
def test_fit_predict_save_load_cycles_retain_nothing_that_tracemalloc_sees(cycle_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tracemalloc.start()
        try:
            for _ in range(20):              # caches, pools and lazy imports fill up
                cycle(*cycle_data)
            forget_attribute_names()
            gc.collect()
            before = tracemalloc.take_snapshot()
            for _ in range(300):
                cycle(*cycle_data)
            forget_attribute_names()
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    # The first snapshot is alive when the second is taken: not the cycles'.
    not_snapshots = [tracemalloc.Filter(False, tracemalloc.__file__)]
    growth = after.filter_traces(not_snapshots).compare_to(before.filter_traces(not_snapshots),
                                                           "lineno")
    retained = sum(stat.size_diff for stat in growth)
    # Under 8 bytes a cycle (this frame's own variables are a few dozen bytes):
    # one object kept per cycle (the smallest is 16 bytes) would be at least
    # 4800 bytes, and a leaked model, array or file handle 100 times that.
    assert retained < 300 * 8, "\n".join(str(stat) for stat in growth[:10])


@pytest.fixture
def little_memory(monkeypatch):
    """The system reports 64 MiB available."""
    monkeypatch.setattr(_memory, "available_bytes", lambda: 64 * MiB)


def test_a_network_too_large_for_the_memory_available_is_a_clear_memory_error(little_memory):
    # 4096 x 4096 float64 weights are 128 MiB.
    # 128 MiB of float64 weights, and as much again for the initial draw.
    with pytest.raises(MemoryError, match=r"^a network of 16785409 parameters needs 256\.1 MiB "
                                          r"of memory, but only 64\.0 MiB is available$"):
        nnbp.Network([4096, 4096, 1], dtype=np.float64)
    nnbp.Network([1024, 1024, 1], dtype=np.float32)          # 4 MiB: fine


def test_a_batch_workspace_too_large_is_a_clear_memory_error(little_memory):
    net = nnbp.Network([4, 2048, 2048, 2], dtype=np.float32, seed=0)
    X, y = np.zeros((4000, 4)), np.zeros(4000, dtype=int)
    with pytest.raises(MemoryError, match="the workspace for a batch of 4000 rows needs"):
        net.loss_and_grad(X, y)
    net.loss_and_grad(X[:100], y[:100])


def test_training_state_too_large_is_a_clear_memory_error(monkeypatch):
    net = nnbp.Network([1024, 2048, 2], dtype=np.float64, seed=0)     # 16 MiB
    monkeypatch.setattr(_memory, "available_bytes", lambda: 24 * MiB)
    # The gradient and the epoch's backup: 32 MiB.
    with pytest.raises(MemoryError, match="^training a network of 2103298 parameters needs "
                                          r"32\.1 MiB of memory, but only 24\.0 MiB"):
        nnbp.StochasticTrainer(net, nnbp.SGD(), batch_size=10)


ALLOCATION_FAILS = textwrap.dedent("""
    import json, resource
    import numpy as np
    import nnbp
    # Cap the address space at what the process uses now plus 512 MiB: the
    # 3.2 GB network's allocation then fails for real.
    with open("/proc/self/statm") as statm:
        in_use = int(statm.read().split()[0]) * resource.getpagesize()
    limit = in_use + 512 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        nnbp.Network([20000, 20000, 1], dtype=np.float64)
    except MemoryError as error:
        print(json.dumps({"type": type(error).__name__, "message": str(error)}))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="caps the address space with setrlimit")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer reserves terabytes of address space")
def test_an_allocation_the_system_refuses_is_a_clear_memory_error(tmp_path):
    # cwd: not the checkout, whose nnbp/ would shadow the installed package.
    result = subprocess.run([sys.executable, "-c", ALLOCATION_FAILS], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["type"] == "MemoryError"
    assert seen["message"] == ("a network of 400040001 parameters needs 3.0 GiB of memory, "
                               "which the system could not allocate")
