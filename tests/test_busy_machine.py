"""A busy machine: nnbp's calls take only the CPUs other processes leave free.

A team's members meet several times a batch, and BLAS's threads once a
product: where another process holds a core, each meeting waits for the
scheduler, and a small network's fit ran 9 times slower with teams and BLAS
threads than on one thread. The thread decision (nnbp._threads.team) counts
the CPUs free lately (nnbp._threads.free_cpus): a team forms only on free
CPUs, and where not even two are free, BLAS runs on one thread as well. These
tests check that decision, the machine's load injected or real; the
benchmark's busy table (nnbp bench --busy) measures what it buys.
"""
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import nnbp
from nnbp import _core, _threads

pytestmark = pytest.mark.skipif(not _core.openmp_enabled(), reason="built without OpenMP")


def blas_threads():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


@pytest.fixture
def machine(monkeypatch):
    """A machine of 4 CPUs whose free CPUs the test sets (free(n)); OMP_NUM_THREADS unset."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threads, "CPUS", 4)

    def free(cpus):
        monkeypatch.setattr(_threads, "free_cpus", lambda: cpus)
    return free


@pytest.mark.parametrize("free, granted", [(4.0, 4), (2.0, 2), (1.75, 2), (1.6, 1), (1.0, 1),
                                           (0.2, 1)])
def test_a_team_takes_only_the_cpus_that_are_free(machine, free, granted):
    machine(free)
    before = blas_threads()
    with threadpool_limits(4, user_api="openmp"), _threads.team(float("inf"), 1) as threads:
        assert threads == granted
        # A team, or one thread on a machine without a second CPU free: BLAS on one.
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


def test_a_call_that_does_not_split_leaves_blas_its_threads_where_cpus_are_free(machine):
    machine(2.0)
    before = blas_threads()
    with threadpool_limits(4, user_api="openmp"), _threads.team(0.0, 1) as threads:
        assert threads == 1
        assert blas_threads() == before
    assert blas_threads() == before


def test_calls_share_what_is_free(machine):
    # Two calls at once on 3 free CPUs: the first takes 3 of 4 wanted, the next one.
    machine(3.0)
    with threadpool_limits(4, user_api="openmp"):
        with _threads.team(float("inf"), 1) as first, _threads.team(float("inf"), 1) as second:
            assert (first, second) == (3, 1)
    assert _threads._in_use == 0


def test_omp_num_threads_is_followed_whatever_the_load(machine, monkeypatch):
    machine(0.2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with threadpool_limits(2, user_api="openmp"), _threads.team(float("inf"), 1) as threads:
        assert threads == 2


@pytest.mark.parametrize("free, team", [(1.0, 1), (2.0, 2)])
def test_every_call_of_a_fit_goes_through_the_decision(machine, monkeypatch, free, team):
    # Forced to split on a small network: the fit's epochs, its loss and its
    # predictions form teams only where the machine has the CPUs free.
    pytest.importorskip("sklearn")
    machine(free)
    monkeypatch.setattr(_threads, "PARALLEL_FLOPS", 0)
    monkeypatch.setattr(_threads, "PARALLEL_ROWS", float("inf"))
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 8)), rng.integers(0, 3, 200)
    for solver in ("adam", "lbfgs"):
        _core.largest_team(reset=True)
        with threadpool_limits(2, user_api="openmp"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nnbp.MLPClassifier((16,), solver=solver, max_iter=3, random_state=0).fit(X, y) \
                .predict(X)
        assert _core.largest_team() == team, solver


@pytest.mark.parametrize("free", [1.0, 4.0])
def test_lbfgs_steps_run_blas_on_one_thread_on_a_busy_machine(machine, free):
    # scipy's L-BFGS-B steps, between the loss evaluations, call BLAS on short
    # vectors: on a busy machine BLAS's threads made a small fit 5 to 10 times slower.
    machine(free)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 5)), rng.normal(size=100)
    net = nnbp.Network([5, 8, 1], output="squared", seed=0)
    seen = []
    with threadpool_limits(2, user_api="blas"):
        nnbp.minimize_lbfgs(net, X, y, max_iter=3,
                            callback=lambda iteration, loss: seen.append(blas_threads()))
        after = blas_threads()
    assert seen and after == [2] * len(after)
    assert all(set(threads) == ({1} if free < 2 else {2}) for threads in seen), seen


SPIN = "while True: pass"


@pytest.mark.skipif(_threads.CPUS < 2, reason="one CPU: no team forms anyway")
def test_a_machine_whose_cpus_other_processes_hold_gets_one_thread(monkeypatch):
    # The real meter, on a machine made busy: a spinning process per CPU.
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(_threads.CPUS)]
    try:
        monkeypatch.setattr(_threads, "_meter", None)
        _threads.free_cpus()                        # the meter's window starts here
        time.sleep(5 * _threads._LoadMeter.WINDOW)
        free = _threads.free_cpus()
        assert free < 2 - _threads.FREE_MARGIN, free
        before = blas_threads()
        with threadpool_limits(2, user_api="openmp"), _threads.team(float("inf"), 1) as n:
            assert n == 1
            assert set(blas_threads()) == {1}
        assert blas_threads() == before
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def test_the_meter_counts_idle_cpus_and_this_process_own_time(monkeypatch):
    # Over a window: the allowed CPUs' idle seconds plus this process's CPU
    # seconds, per second of wall time, at most CPUS.
    monkeypatch.setattr(_threads, "CPUS", 8)
    meter = _threads._LoadMeter()
    if meter._last is None:
        pytest.skip("no /proc/stat")
    wall, idle, own = meter._last
    meter._last = (wall - 1.0, idle - 0.5, own - 1.25)   # a second ago
    free = meter.free()
    # The window's own second and this call's: within a tick of 1.75.
    assert abs(free - 1.75) < 0.2, free
    assert meter.free() == free                         # no new window yet: the same
