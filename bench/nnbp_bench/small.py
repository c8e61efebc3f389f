"""One row and batch 1: where BLAS's overhead, not its arithmetic, sets the time.

- ``one_row``: Network.forward of one row, repeated and after 50 ms of
  idleness, against its floor (NumPy's chain of one-row products, x @ W.T + b
  and the activation per layer, on one BLAS thread); the same forward through
  BLAS (``_core.small_product_rows(0)``: what nnbp did before it had its own
  one-row products); and the estimator's predict_proba.
- ``batch_one``: an epoch of per-example SGD against its floor, the same
  products by scipy.linalg.blas in a loop: per example, gemv for each
  layer's forward product, gemv for each dX but the first layer's, and ger
  for the update W <- W - eta d x^T, which BLAS does in place.
"""
import contextlib
import time
import warnings

import numpy as np
import scipy.linalg.blas
from threadpoolctl import threadpool_limits

import nnbp
from nnbp import _core
from nnbp_bench.contenders import NumpyMLP
from nnbp_bench.measure import median_call_seconds, median_seconds
from nnbp_bench.workloads import LEARNING_RATE

IDLE_SECONDS = 0.05
IDLE_CALLS = 20           # calls timed after idleness, per repeat: each costs IDLE_SECONDS
BATCH_ONE_ROWS = 2048


@contextlib.contextmanager
def blas_products(rows=0):
    """nnbp's products of up to `rows` rows by its own loops; 0: all by BLAS."""
    previous = _core.small_product_rows()
    _core.small_product_rows(rows)
    try:
        yield
    finally:
        _core.small_product_rows(previous)


def after_idle_seconds(function, calls):
    """Median seconds of single calls, each after IDLE_SECONDS without any."""
    function()
    times = []
    for _ in range(calls):
        time.sleep(IDLE_SECONDS)
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def one_row(workload, dtype, repeats, idle_calls=IDLE_CALLS):
    """Seconds of one-row forward passes, repeated and after idleness, and their ratios.

    Each figure after idleness is the median of `idle_calls` x `repeats`
    calls, each IDLE_SECONDS after the last.
    """
    X, y = workload.shrunk(256).data(dtype)
    x = X[:1].copy()
    net = nnbp.Network(workload.sizes, activation="relu", output=workload.output,
                       dtype=dtype, seed=0)
    floor = NumpyMLP(workload, dtype).predict_one(x, X, y)
    estimator = nnbp.MLPClassifier if workload.output == "softmax" else nnbp.MLPRegressor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # one epoch: not converged
        fitted = estimator(hidden_layer_sizes=workload.sizes[1:-1], max_iter=1,
                           random_state=0, dtype=dtype).fit(X, y)
    predict_method = getattr(fitted, "predict_proba", fitted.predict)

    def forward():
        return net.forward(x)

    def predict():
        return predict_method(x)

    blocks, calls = 5 * repeats, idle_calls * repeats
    with threadpool_limits(limits=1, user_api="blas"):
        floor_seconds = median_call_seconds(floor, blocks=blocks)
        # The floor idles too: what idleness costs any code on this machine.
        floor_after_idle = after_idle_seconds(floor, calls)
    seconds = {"floor": floor_seconds, "floor after idle": floor_after_idle,
               "forward": median_call_seconds(forward, blocks=blocks),
               "forward after idle": after_idle_seconds(forward, calls),
               "predict_proba": median_call_seconds(predict, blocks=blocks)}
    with blas_products():
        seconds["forward by BLAS"] = median_call_seconds(forward, blocks=blocks)
        seconds["forward by BLAS after idle"] = after_idle_seconds(forward, calls)
    return dict(sizes=workload.label, dtype=np.dtype(dtype).name, seconds=seconds,
                forward_over_floor=seconds["forward"] / floor_seconds,
                idle_over_repeated=seconds["forward after idle"] / seconds["forward"],
                predict_over_forward=seconds["predict_proba"] / seconds["forward"])


def blas_floor_epoch(weights, X, learning_rate):
    """One example at a time: the products of a per-example SGD step by BLAS, and nothing else."""
    dtype = X.dtype
    prefix = "s" if dtype == np.float32 else "d"
    gemv, ger = (getattr(scipy.linalg.blas, prefix + name) for name in ("gemv", "ger"))
    # BLAS is column-major: W^T, (fan_in, fan_out), is W's row-major buffer.
    columns = [W.T for W in weights]
    delta = np.ones(weights[-1].shape[0], dtype)

    def run():
        for x in X:
            inputs = [x]
            for W_T in columns:
                inputs.append(gemv(1.0, W_T, inputs[-1], trans=1))     # z = W x
            d = delta
            for l in range(len(columns) - 1, -1, -1):
                d_below = gemv(1.0, columns[l], d) if l > 0 else None     # dx = W^T d
                ger(-learning_rate, inputs[l], d, a=columns[l], overwrite_a=True)
                d = d_below
    return run


def passes_over_the_parameters(sizes):
    """Per step, (nnbp, floor): the passes over the weights, in weight vectors.

    nnbp: each layer's step reads and writes its weights once (dx with them),
    and computes the next example's first product with the new W(1) in the
    same pass, so the forward pass reads only the later layers. The floor:
    gemv forward, ger, and gemv for dx, which the first layer does not need.
    """
    weights = [a * b for a, b in zip(sizes, sizes[1:])]
    later = sum(weights[1:]) / sum(weights)
    return 1.0 + later, 2.0 + later


def batch_one(workload, dtype, repeats, rows=BATCH_ONE_ROWS):
    """An epoch of per-example plain SGD on `rows` rows: nnbp against the gemv/ger floor, per step.

    The floor loops over the examples in Python: its epoch costs about a
    millisecond a row on 784-256-128-10.
    """
    X, y = workload.shrunk(rows).data(dtype)
    rows = X.shape[0]
    net = nnbp.Network(workload.sizes, activation="relu", output=workload.output,
                       dtype=dtype, seed=0)
    trainer = nnbp.StochasticTrainer(net, nnbp.SGD(learning_rate=LEARNING_RATE, momentum=0.0),
                                     batch_size=1, shuffle=False)
    floor_weights = [W.copy() for W in net.weights]
    floor = blas_floor_epoch(floor_weights, X, LEARNING_RATE)
    seconds = {}
    for name, function, threads in (("floor, 1 BLAS thread", floor, 1),
                                    ("floor, BLAS threads as they are", floor, None),
                                    ("nnbp", lambda: trainer.fit(X, y, max_epochs=1), None)):
        with threadpool_limits(limits=threads, user_api="blas"):
            seconds[name] = median_seconds(function, repeats)
    floor_seconds = min(seconds["floor, 1 BLAS thread"],
                        seconds["floor, BLAS threads as they are"])
    nnbp_passes, floor_passes = passes_over_the_parameters(workload.sizes)
    return dict(sizes=workload.label, dtype=np.dtype(dtype).name, rows=rows,
                microseconds_per_step={name: 1e6 * s / rows for name, s in seconds.items()},
                nnbp_over_floor=seconds["nnbp"] / floor_seconds,
                passes_per_step={"nnbp": nnbp_passes, "floor": floor_passes})
