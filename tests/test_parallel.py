"""nnbp's own threads: teams that split each layer's units (nnbp._core, "teams of threads").

With any number of threads the results match the reference and finite
differences, are bitwise the same from run to run for a given number, and
agree with one thread's within round-off; a team of one is the serial code.
Teams really form (``_core.largest_team``), BLAS runs on one thread while
they do, and concurrent calls share the CPUs instead of oversubscribing them.
The tests force teams on small networks and on many rows: the thresholds
that keep such calls on one thread (NNBP_PARALLEL_FLOPS, NNBP_PARALLEL_ROWS)
are set to 0 and inf here.
"""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from support import DTYPES, REFERENCE_TOLERANCE, make_targets, reference_loss_and_grad, relative_error
from threadpoolctl import threadpool_info, threadpool_limits

import nnbp
from nnbp import _core, _threads

THREADS = [1, 2, 3, 4, 7]
pytestmark = pytest.mark.skipif(not _core.openmp_enabled(), reason="built without OpenMP")



def problem(dtype, output="softmax", alpha=0.3, sizes=(7, 13, 5, 3), n=11, seed=0):
    rng = np.random.default_rng(seed)
    net = nnbp.Network(sizes, activation="tanh", output=output, dtype=dtype, alpha=alpha,
                       seed=seed)
    for b in net.biases:
        b[...] = rng.uniform(-0.5, 0.5, size=b.shape)
    X = rng.normal(size=(n, sizes[0]))
    return net, X, make_targets(output, n, sizes[-1], rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_teams_match_the_reference_and_are_reproducible(output, dtype, threads):
    # 7 threads on layers of 13, 5 and 3 units: some members have no units.
    net, X, y = problem(dtype, output)
    ref_loss, ref_grad = reference_loss_and_grad(net, X.astype(dtype), y)
    one_thread = None
    for n in THREADS:
        _core.largest_team(reset=True)
        with threads(n):
            loss, grad = net.loss_and_grad(X, y)
            again, grad_again = net.loss_and_grad(X, y)
            forward = net.forward(X)
        assert _core.largest_team() == n
        assert again == loss and np.array_equal(grad_again, grad)
        assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
        for name, where in net.block_slices():
            assert relative_error(grad[where], ref_grad[where]) <= REFERENCE_TOLERANCE[dtype], name
        if one_thread is None:
            one_thread = loss, grad, forward
        else:
            np.testing.assert_allclose(grad, one_thread[1], rtol=0,
                                       atol=64 * np.finfo(dtype).eps * np.abs(ref_grad).max())
            # A team's share of the rows may be one row, which nnbp's own loop
            # takes where BLAS takes many: another order of the same sum. An
            # output near 0 is a sum of terms far larger (0.0051 of terms of
            # 0.3-0.7 under Haswell's kernel), so the round-off is the terms',
            # as for the gradient above.
            np.testing.assert_allclose(forward, one_thread[2], rtol=0,
                                       atol=64 * np.finfo(dtype).eps * np.abs(forward).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_teams_pass_the_gradient_check(dtype, threads):
    net, X, y = problem(dtype, "logistic", sizes=(5, 9, 4, 2))
    with threads(3):
        report = nnbp.check_gradients(net, X, y, reference=True)
    assert report.passed, str(report)


def train(dtype, optimizer, batch_size, weights=False, epochs=2):
    net, X, y = problem(dtype, "softmax", sizes=(10, 17, 9, 3), n=40)
    sample_weight = np.random.default_rng(1).uniform(0.5, 2, 40) if weights else None
    optimizers = {"sgd": lambda: nnbp.SGD(0.05, momentum=0.0),
                  "nesterov": lambda: nnbp.SGD(0.05, momentum=0.9, nesterov=True),
                  "adam": lambda: nnbp.Adam(0.01)}
    trainer = nnbp.StochasticTrainer(net, optimizers[optimizer](), batch_size=batch_size,
                                     random_state=np.random.RandomState(0), tol=0.0,
                                     n_iter_no_change=np.inf)
    trainer.fit(X, y, sample_weight, max_epochs=epochs)
    return net.params.copy(), trainer.loss_curve


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_training_is_reproducible_for_each_team_and_close_to_one_thread(optimizer, dtype,
                                                                       threads):
    with threads(1):
        serial, serial_curve = train(dtype, optimizer, 8, weights=True)
    for n in (2, 3):
        with threads(n):
            params, curve = train(dtype, optimizer, 8, weights=True)
            again, again_curve = train(dtype, optimizer, 8, weights=True)
        assert np.array_equal(params, again) and curve == again_curve
        np.testing.assert_allclose(params, serial, rtol=0,
                                   atol=1e3 * np.finfo(dtype).eps * np.abs(serial).max())
        np.testing.assert_allclose(curve, serial_curve, rtol=1e3 * np.finfo(dtype).eps)


def test_a_team_of_one_is_the_serial_code(threads):
    # One thread: the same calls as before teams, to the last bit, whatever
    # the threshold says.
    with threads(1):
        split, split_curve = train(np.float64, "adam", 8)
    _threads.PARALLEL_FLOPS = float("inf")
    serial, serial_curve = train(np.float64, "adam", 8)
    assert np.array_equal(split, serial) and split_curve == serial_curve


def test_blas_runs_on_one_thread_while_a_team_runs_and_as_before_after(monkeypatch):
    monkeypatch.setattr(_threads, "free_cpus", lambda: float(_threads.CPUS))  # a quiet machine

    def blas_threads():
        return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]

    before = blas_threads()
    with threadpool_limits(2, user_api="openmp"), _threads.team(float("inf"), 1) as granted:
        if granted == 1:
            pytest.skip("one CPU: no team forms")
        assert set(blas_threads()) == {1}
        # Another team at once (another Python thread's) keeps the limit ...
        with _threads.team(float("inf"), 1):
            assert set(blas_threads()) == {1}
        # ... and its end does not lift it while the first still runs.
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


def test_concurrent_calls_share_the_cpus(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threads, "CPUS", 4)
    monkeypatch.setattr(_threads, "free_cpus", lambda: 4.0)      # a quiet machine
    granted, entered, release = [], threading.Barrier(4), threading.Event()

    def call():
        with threadpool_limits(4, user_api="openmp"), _threads.team(float("inf"), 1) as n:
            granted.append(n)
            entered.wait()
            release.wait()

    workers = [threading.Thread(target=call) for _ in range(3)]
    for worker in workers:
        worker.start()
    entered.wait()
    release.set()
    for worker in workers:
        worker.join()
    # The first takes what it asks for, the others what is left, at least one
    # each (a training takes its threads anew each epoch: the first, at its
    # next, takes what the others leave).
    assert sorted(granted) == [1, 1, 4]
    assert _threads._in_use == 0


def test_a_team_forms_for_small_batches_of_large_layers_only(monkeypatch):
    monkeypatch.setattr(_threads, "PARALLEL_FLOPS", 2e6)
    monkeypatch.setattr(_threads, "PARALLEL_ROWS", 256)
    assert _threads.splits(2e6, 256)
    assert not _threads.splits(2e6 - 1, 256)        # meetings cost more than they save
    assert not _threads.splits(2e6, 257)            # BLAS's own threads do as well
    net = nnbp.Network([784, 256, 128, 10])
    assert _threads.splits(net.flops_per_layer(32), 32)
    assert not _threads.splits(net.flops_per_layer(8192), 8192)
    assert not _threads.splits(nnbp.Network([64] * 9 + [10]).flops_per_layer(32), 32)


def test_lbfgs_holds_blas_on_one_thread_for_its_whole_run(threads, monkeypatch):
    net, X, Y = problem(np.float64)
    seen = []
    original = _threads._blas_on_one_thread

    def counted():
        seen.append(_threads._blas_holders)     # 0: this entry sets BLAS's threads
        return original()
    monkeypatch.setattr(_threads, "_blas_on_one_thread", counted)
    with threads(2):
        result = nnbp.minimize_lbfgs(net, X, Y, max_iter=5)
    assert result.nfev > 1
    if _threads.wanted_threads() > 1:
        # Set once, for the run: the teams of its calls find BLAS held.
        assert len(seen) == result.nfev + 1 and seen.count(0) == 1


def test_the_thread_count_follows_omp_num_threads(tmp_path):
    script = ("from nnbp import _threads, _core; "
              "print(_threads.wanted_threads(), _core.openmp_enabled())")
    counts = {}
    for value in ("1", "3"):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                env=dict(os.environ, OMP_NUM_THREADS=value), cwd=tmp_path,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        counts[value] = result.stdout.split()
    assert counts["1"] == ["1", "True"]
    # Asked for, more threads than CPUs are given (as scikit-learn's count does).
    assert counts["3"] == ["3", "True"]


def test_a_forked_child_trains_on_one_thread_and_does_not_hang(threads):
    # libgomp's threads do not survive fork(): the child must not start a team.
    import multiprocessing

    with threads(2):
        train(np.float64, "sgd", 8, epochs=1)                     # the parent's team exists
        child = multiprocessing.get_context("fork").Process(
            target=_train_in_child, args=(_threads.PARALLEL_FLOPS,))
        child.start()
        child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("a forked child hung in nnbp's threads")
    assert child.exitcode == 0


def _train_in_child(parallel_flops):
    _threads.PARALLEL_FLOPS = parallel_flops
    assert _threads.wanted_threads() == 1
    train(np.float64, "sgd", 8, epochs=1)
    assert _threads.wanted_threads() == 1


FORK_WHILE_TRAINING = r"""
import multiprocessing, sys, threading, time
import numpy as np
import nnbp

rng = np.random.default_rng(0)
X, y = rng.normal(size=(4000, 40)), rng.integers(0, 3, 4000)
net = nnbp.Network([40, 64, 3], seed=0)
trainer = nnbp.StochasticTrainer(net, nnbp.SGD(1e-4), batch_size=50, tol=0.0,
                                 n_iter_no_change=np.inf)
stop = threading.Event()
trainer_thread = threading.Thread(
    target=trainer.fit, args=(X, y), kwargs=dict(max_epochs=10**6,
                                                 on_epoch=lambda _: stop.is_set()))
trainer_thread.start()
time.sleep(0.3)

def child(queue):
    queue.put(net.forward(X[:5]).shape)

context = multiprocessing.get_context("fork")
for _ in range(3):                      # the lock is held nearly all the time
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    process.join(20)
    if process.is_alive():
        process.kill()
        stop.set()
        print("the child blocked")
        sys.exit(1)
    assert queue.get(timeout=5) == (5, 3)
stop.set()
trainer_thread.join()
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="no fork on this platform")
def test_a_child_forked_while_a_thread_trains_can_use_the_network(tmp_path):
    # The child inherited the network's lock held by the training thread,
    # which does not exist in the child: it blocked forever. (Run from tmp_path:
    # python -c puts the working directory first on its path, and a checkout's
    # top holds an nnbp/ without its extension built.)
    done = subprocess.run([sys.executable, "-c", FORK_WHILE_TRAINING], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
