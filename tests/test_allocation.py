"""Training allocates nothing per step, and fit holds few copies of the parameters.

tracemalloc sees every array NumPy allocates and every Python object. An
epoch that allocated per step (a gradient, a batch, even a float) would
allocate in proportion to its steps; these tests compare epochs of one step
with epochs of hundreds.
"""
import gc
import sys
import tracemalloc

import numpy as np
import pytest

from nnbp import SGD, Adam, Network, StochasticTrainer, _threads
from nnbp_bench.measure import traced_peak_bytes

from support import DTYPES, forget_attribute_names, make_targets

ROWS = 512
SIZES = (16, 128, 64, 4)       # 10,692 parameters: 42 KiB in float32
EPOCH_BOOKKEEPING = 8192        # bytes
A_FEW_INTS = 3 * 32             # bytes: a Python int of a step count takes 28 or 32
# Before 3.11, CPython keeps each code object's last frame for its next call (its
# "zombie frame", about 500 bytes for threadpoolctl's and contextlib's). Which
# epoch refills a slot that an earlier test emptied is chance: one frame, once,
# in one interval (seen with teams, whose BLAS limit is set and restored through
# those functions each epoch). 3.11 keeps frames on the interpreter's stack.
ZOMBIE_FRAME = 512 if sys.version_info < (3, 11) else 0
ONE_OFF = A_FEW_INTS + ZOMBIE_FRAME
OPTIMIZERS = {
    "sgd": lambda: SGD(learning_rate=0.01, momentum=0.0),
    "nesterov": lambda: SGD(learning_rate=0.001, momentum=0.9, nesterov=True),
    "adam": lambda: Adam(learning_rate=0.001),
}


def steady_epoch_allocations(dtype, output, optimizer, batch_size, weights=False):
    """(peak, retained) bytes that epochs 2 and 3 of a fit allocate, beyond what they start with.

    on_epoch runs after each epoch: it marks where the next epoch starts.
    Between two marks lie one whole epoch and the trainer's bookkeeping.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, SIZES[0])).astype(dtype)
    y = make_targets(output, ROWS, SIZES[-1], rng)
    sample_weight = rng.uniform(0.5, 2.0, ROWS) if weights else None
    net = Network(SIZES, activation="tanh", output=output, dtype=dtype, seed=0)
    trainer = StochasticTrainer(net, OPTIMIZERS[optimizer](), batch_size=batch_size,
                                random_state=np.random.RandomState(0), tol=0.0,
                                n_iter_no_change=np.inf)
    marks = []

    def mark(trainer):
        # A full collection also empties CPython's free lists of floats and
        # tuples: whether the loss curve's next float is new memory or a
        # recycled one then no longer depends on what ran before the test.
        # The attribute cache keeps names threadpoolctl makes for each BLAS
        # call a team makes (see forget_attribute_names).
        gc.collect()
        forget_attribute_names()
        current, peak = tracemalloc.get_traced_memory()
        marks.append((current, peak))
        tracemalloc.reset_peak()

    # Frozen objects are left out of collections: mark's stays cheap however
    # many objects the test session holds.
    gc.freeze()
    tracemalloc.start()
    try:
        trainer.fit(X, y, sample_weight, max_epochs=4, on_epoch=mark)
    finally:
        tracemalloc.stop()
        gc.unfreeze()
    # marks[k] closes epoch k + 1. Epoch 1 is left out: it grows lists and
    # caches once. Each later interval holds one epoch and its bookkeeping.
    peak = max(marks[k + 1][1] - marks[k][0] for k in range(len(marks) - 1))
    retained = marks[-1][0] - marks[0][0]
    return peak, retained, net.params.nbytes


@pytest.fixture(params=["one thread", "teams"])
def threads(request, monkeypatch):
    """Every epoch on one thread, or on a team (whose BLAS limit an epoch makes once)."""
    monkeypatch.setattr(_threads, "PARALLEL_FLOPS", 0 if request.param == "teams" else np.inf)
    monkeypatch.setattr(_threads, "PARALLEL_ROWS", np.inf)
    # The machine's load, as the thread decision reads it, held still: its meter
    # reads /proc/stat (a few KB) at most once a 0.1 s window, whatever the
    # steps, so a long epoch of many steps would meet a reading and a short one
    # not (tests/test_busy_machine.py checks the meter).
    monkeypatch.setattr(_threads, "free_cpus", lambda: float(_threads.CPUS))
    return request.param


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("output", ["softmax", "squared"])
def test_an_epoch_allocates_the_same_whatever_its_number_of_steps(dtype, optimizer, output,
                                                                 threads):
    per_example, retained_1, params_bytes = steady_epoch_allocations(dtype, output, optimizer, 1)
    full_batch, retained_n, _ = steady_epoch_allocations(dtype, output, optimizer, ROWS)
    # 512 steps against 1: any allocation per step, of an array or of a Python
    # object, would make the first peak larger by hundreds of allocations.
    # They may differ by the few Python ints that count steps: 512 is past
    # the interpreter's cache of small ints, 1 is not.
    assert abs(per_example - full_batch) <= ONE_OFF
    # What an epoch does allocate, once, is small: the views Cython makes of
    # the compiled epoch's arguments, the loss, the loss curve's entry.
    assert per_example < EPOCH_BOOKKEEPING < params_bytes
    # Nothing is kept from epoch to epoch but three epochs' bookkeeping: the
    # loss curve's entries, the step counts and the marks themselves.
    assert abs(retained_1 - retained_n) <= ONE_OFF
    assert retained_1 < 1024 + ZOMBIE_FRAME


@pytest.mark.parametrize("batch_size", [1, 7, ROWS])
def test_shuffled_weighted_epochs_allocate_nothing_per_step(batch_size, threads):
    peak, retained, params_bytes = steady_epoch_allocations(
        np.float32, "logistic", "nesterov", batch_size, weights=True)
    reference, _, _ = steady_epoch_allocations(
        np.float32, "logistic", "nesterov", ROWS, weights=True)
    assert abs(peak - reference) <= ONE_OFF
    assert peak < EPOCH_BOOKKEEPING < params_bytes
    assert retained < 1024 + ZOMBIE_FRAME


def fit_peak_copies(optimizer):
    """Peak bytes of a whole fit beyond the data, in copies of the parameter vector."""
    rng = np.random.default_rng(0)
    sizes = (32, 256, 256, 4)               # parameters dominate the workspaces
    X = rng.standard_normal((64, sizes[0]))
    y = rng.integers(0, sizes[-1], 64)

    def fit():
        net = Network(sizes, output="softmax", seed=0)
        StochasticTrainer(net, OPTIMIZERS[optimizer](), batch_size=8,
                          random_state=np.random.RandomState(0)).fit(X, y, max_epochs=2)
        return net.params.nbytes

    params_bytes = fit()                    # first use: imports and caches are not fit's
    return traced_peak_bytes(fit) / params_bytes


@pytest.mark.parametrize("optimizer, copies", [("sgd", 3), ("nesterov", 4), ("adam", 5)])
def test_fit_holds_the_parameters_their_gradient_a_backup_and_the_optimizer_state(
        optimizer, copies):
    # params, gradient, the epoch's backup (divergence and interrupts restore
    # it), and the velocity or Adam's two moments; workspaces are small here.
    assert copies <= fit_peak_copies(optimizer) < copies + 0.25
