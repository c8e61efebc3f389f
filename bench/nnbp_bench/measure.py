"""How the benchmark measures: medians of timed blocks, GEMM peak, latency, peak memory."""
import contextlib
import threading
import time
import tracemalloc
import warnings

import numpy as np

import nnbp
from nnbp import _core
from threadpoolctl import threadpool_limits

from nnbp_bench.contenders import (
    Nnbp,
    estimator_targets,
    numpy_threadings,
    sklearn_options,
)
from nnbp_bench.workloads import LEARNING_RATE

PEAK_SIZE = 2048          # square GEMM that runs at the machine's peak
SETTLE_SECONDS = 0.2      # longer than OpenBLAS's threads spin after a call


def median_seconds(function, repeats):
    """Median seconds of function over repeats calls, after one to warm up.

    Each contender is timed in a block of its own, not in alternation: NumPy,
    SciPy and PyTorch each bundle a BLAS with its own thread pool, whose
    threads spin for a while after a call and would slow another library's
    next one.
    """
    function()                  # warm up: workspaces, caches, thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fastest_threading(function, threadings, settle=SETTLE_SECONDS):
    """The name of the thread setting under which a warm-up and one timed call are fastest."""
    if len(threadings) == 1:
        return next(iter(threadings))
    trials = {}
    for name, context in threadings.items():
        with context():
            time.sleep(settle)
            trials[name] = median_seconds(function, 1)
    return min(trials, key=trials.get)


def best_median(function, threadings, repeats, settle=SETTLE_SECONDS):
    """(seconds, threading): the median under the contender's fastest thread setting."""
    name = fastest_threading(function, threadings, settle)
    with threadings[name]():
        return median_seconds(function, repeats), name


def interleaved_medians(functions, repeats, settle=SETTLE_SECONDS):
    """{name: median seconds} of functions = {name: (function, thread context)}.

    The calls are taken in turn, one of each contender per round, so that a
    slow spell of the shared machine falls on every contender alike rather
    than on whichever block it hits. Before each call the other libraries'
    thread pools get `settle` seconds to stop spinning: OpenBLAS's threads
    spin for about 0.1 s after a call, and would slow the next library's.
    """
    times = {name: [] for name in functions}
    for function, context in functions.values():
        with context():
            function()                      # warm up: workspaces, caches, threads
    for _ in range(repeats):
        for name, (function, context) in functions.items():
            with context():
                time.sleep(settle)
                start = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(seconds)) for name, seconds in times.items()}


def gemm_peak_gflops(dtype, repeats, size=PEAK_SIZE, settle=SETTLE_SECONDS):
    """The machine's GEMM rate: a large square NumPy matmul, best of 1 thread and all."""
    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((size, size)).astype(dtype) for _ in range(2))
    C = np.empty_like(A)
    seconds, _ = best_median(lambda: np.matmul(A, B, out=C), numpy_threadings(), repeats,
                             settle)
    return 2 * size ** 3 / seconds / 1e9


def median_call_seconds(function, calls=200, blocks=25):
    """Seconds per call: the median over blocks of `calls` back-to-back calls."""
    function()
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        times.append((time.perf_counter() - start) / calls)
    return float(np.median(times))


ONE_AFTER_THE_OTHER = "one after the other, 1 BLAS thread"
ONE_AFTER_THE_OTHER_ALL = "one after the other, BLAS threads as they are"
AT_ONCE = "at once in two Python threads, 1 BLAS thread each"


def training_in_threads(workload, dtype, batch, repeats, settle=SETTLE_SECONDS):
    """An epoch of each of two networks: one after the other, and at once in two threads.

    The compiled epoch releases the GIL, so two Python threads train on two
    cores at once. Returns the median seconds of each way, and the speed-up
    of the threads over one after the other on one BLAS thread.
    """
    X, y = workload.data(dtype)
    epochs = [Nnbp(workload, dtype).epoch(X, y, batch) for _ in range(2)]

    def one_after_the_other():
        for epoch in epochs:
            epoch()

    def at_once():
        threads = [threading.Thread(target=epoch) for epoch in epochs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def one_blas_thread():
        return threadpool_limits(limits=1, user_api="blas")

    seconds = interleaved_medians({
        ONE_AFTER_THE_OTHER: (one_after_the_other, one_blas_thread),
        ONE_AFTER_THE_OTHER_ALL: (one_after_the_other, contextlib.nullcontext),
        AT_ONCE: (at_once, one_blas_thread),
    }, repeats, settle)
    return dict(sizes=workload.label, dtype=np.dtype(dtype).name, rows=workload.rows,
                batch=batch, seconds=seconds,
                speedup=seconds[ONE_AFTER_THE_OTHER] / seconds[AT_ONCE])


def _status_bytes(field):
    """A memory figure of Linux's /proc/self/status, in bytes, or None where unknown."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_resident_bytes():
    """The most memory this process has held resident (since reset_peak_resident), or None
    where unknown.

    Linux's VmHWM: ru_maxrss would do, but a process started by another keeps
    the starter's peak there, across exec.
    """
    return _status_bytes("VmHWM")


def resident_bytes():
    """The memory this process holds resident now, or None where unknown."""
    return _status_bytes("VmRSS")


def reset_peak_resident():
    """Start peak_resident_bytes over from the memory resident now (Linux 4.0 on)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def traced_peak_bytes(function):
    """The most memory that function held at once beyond what existed before, by tracemalloc.

    NumPy reports its array buffers to tracemalloc, so this counts every
    array that fit allocates, and Python's own objects.
    """
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def fit_memory(workload, dtype, batch, optimizer, estimator=False):
    """Peak memory of one shuffled epoch of fit, against its budget, after a warm-up fit.

    The fit is StochasticTrainer's, or with estimator=True nnbp.MLPClassifier's
    (or MLPRegressor's) with solver=optimizer, the network made inside it.
    The budget is the issue's: the data, 4 copies of the parameters, and the
    workspaces (the network's layer buffers for a batch, the gathered batch
    and the epoch's row orders).
    """
    X, y = workload.data(dtype)
    n = X.shape[0]
    itemsize = np.dtype(dtype).itemsize

    def fit():
        if estimator:
            kind, options = sklearn_options(workload, batch)
            options.update(solver=optimizer, max_iter=1, shuffle=True,
                           learning_rate_init=LEARNING_RATE)
            model = getattr(nnbp, kind)(**options)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)      # max_iter=1: not converged
                model.fit(X, estimator_targets(y))
            fit.net = model.network_
            return
        net = nnbp.Network(workload.sizes, output=workload.output, dtype=dtype, seed=0)
        optimizers = {"sgd": nnbp.SGD(learning_rate=LEARNING_RATE, momentum=0.0),
                      "adam": nnbp.Adam(learning_rate=LEARNING_RATE)}
        nnbp.StochasticTrainer(net, optimizers[optimizer], batch_size=batch,
                               random_state=np.random.RandomState(0)).fit(X, y, max_epochs=1)
        fit.net = net

    fit()                        # first use: imports and caches are not the fit's memory
    peak = traced_peak_bytes(fit)
    net = fit.net
    params = net.params.nbytes
    batch_buffers = batch * (X.shape[1] * itemsize + (8 if y.ndim == 1 else y.shape[1] * itemsize))
    workspaces = (_core.workspace_size(net.layer_sizes, batch) * itemsize + batch_buffers
                  + 3 * n * 8)               # the epoch's row orders, int64
    data = X.nbytes + y.nbytes
    return dict(sizes=workload.label, dtype=np.dtype(dtype).name, batch=batch,
                fit=("MLPClassifier" if workload.output == "softmax" else "MLPRegressor")
                if estimator else "StochasticTrainer",
                optimizer=optimizer, data_bytes=data, params_bytes=params,
                workspace_bytes=workspaces, fit_peak_bytes=peak,
                peak_bytes=data + peak, budget_bytes=data + 4 * params + workspaces,
                params_copies=(peak - workspaces) / params)
