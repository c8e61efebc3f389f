import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

from nnbp import _core, _threads

# Property tests and fuzzing: "ci" (the default) draws the same examples on
# every run, so that a failure reproduces and a pass means the same thing
# each time; "deep" (HYPOTHESIS_PROFILE=deep) draws fresh, many more, to hunt.
settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def available_instruction_sets():
    """The kernels' instruction sets this processor runs: "baseline", and "avx2", "avx512"."""
    current = _core.kernel_isa()
    available = [isa for isa in _core.INSTRUCTION_SETS if _core.kernel_isa(isa) == isa]
    _core.kernel_isa(current)
    return available


@pytest.fixture
def rng():
    """A seeded generator: every test draws the same data on every run."""
    return np.random.default_rng(20261128)


@pytest.fixture(params=available_instruction_sets())
def isa(request):
    """Runs the test under each compiled variant of the elementwise kernels."""
    previous = _core.kernel_isa()
    assert _core.kernel_isa(request.param) == request.param
    yield request.param
    _core.kernel_isa(previous)


@pytest.fixture
def threads(monkeypatch):
    """A context that runs nnbp's calls on teams of n threads, more than the CPUs too."""
    monkeypatch.setattr(_threads, "PARALLEL_FLOPS", 0)
    monkeypatch.setattr(_threads, "PARALLEL_ROWS", float("inf"))

    def on(n):
        # OMP_NUM_THREADS set: asked for, n threads are given even past the CPUs.
        monkeypatch.setenv("OMP_NUM_THREADS", str(n))
        return threadpool_limits(n, user_api="openmp")
    return on
