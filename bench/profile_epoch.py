"""Where an epoch's time goes: nnbp's compiled epoch taken apart, beside its floor.

Usage: python bench/profile_epoch.py [--batch B] [--dtype float32|float64] [--repeats R]

For 784-256-128-10 (relu, softmax) on 8192 rows, medians of R, the calls
taken in turn as in nnbp bench:
- the floor: the GEMMs alone in a NumPy loop (as in nnbp bench);
- the compiled epoch (nnbp._core.train_epoch: every batch's forward,
  backward and SGD update, no Python), on the team nnbp would take;
- the same batches' loss and gradient alone, without the updates;
- the forward pass and loss alone;
- the updates alone: one pass over the parameter vector per batch;
and, for one row, the first layer's product alone beside Network.forward:
what single-row prediction cannot go below.
"""
import argparse
import contextlib
import sys

import numpy as np

import nnbp
from nnbp import _core
from nnbp_bench.contenders import GemmsAlone, numpy_threadings
from nnbp_bench.measure import fastest_threading, interleaved_medians, median_call_seconds
from nnbp_bench.workloads import LEARNING_RATE, MNIST_SHAPED


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    dtype, batch, workload = np.dtype(args.dtype), args.batch, MNIST_SHAPED
    X, y = workload.data(dtype)
    net = nnbp.Network(workload.sizes, output=workload.output, dtype=dtype, seed=0)
    data = net.check_data(X, y, None)
    X, labels = data.X, data.labels
    grad = np.empty_like(net.params)
    net.workspace_for(batch)
    batches = [net.check_data(X[start:start + batch], labels[start:start + batch], None)
               for start in range(0, X.shape[0], batch)]
    plain_sgd = nnbp.SGD(LEARNING_RATE, momentum=0.0)

    def epoch():
        # On the team that StochasticTrainer would take (nnbp._threads).
        with net.compiled(net.flops_per_layer(batch), batch) as model:
            _core.train_epoch(model, plain_sgd.compiled(), net.params, grad, data, None, batch)

    def gradients():
        for data in batches:
            net.compiled_loss(data, grad)

    def losses():
        for data in batches:
            net.compiled_loss(data, None)

    zero = np.zeros_like(grad)

    def updates():
        for _ in batches:
            _core.update(plain_sgd.compiled(), net.params, zero)

    floor = GemmsAlone(workload, dtype)
    floor_epoch = floor.epoch(X, y, batch)
    threads = fastest_threading(floor_epoch, numpy_threadings())
    steady = contextlib.nullcontext
    seconds = interleaved_medians({
        f"floor: GEMMs alone, NumPy loop ({threads})": (floor_epoch,
                                                        numpy_threadings()[threads]),
        "compiled epoch": (epoch, steady),
        "  loss and gradient of each batch": (gradients, steady),
        "  forward and loss of each batch": (losses, steady),
        "  updates alone": (updates, steady)}, args.repeats)
    floor_seconds = next(iter(seconds.values()))
    print(f"{workload.label}, {dtype.name}, batch {batch}, {X.shape[0]} rows: "
          f"{len(batches)} steps, {net.params.size} parameters; medians of {args.repeats}\n")
    for name, median in seconds.items():
        print(f"  {name:<48} {1e3 * median:8.1f} ms  {median / floor_seconds:5.2f} x floor")
    row = X[:1].copy()
    W, b = net.weights[0], net.biases[0]
    Z, A = np.empty((1, W.shape[0]), dtype), np.empty((1, W.shape[0]), dtype)

    def first_layer():
        _core.dense_forward(row, W, b, _core.ACTIVATIONS["relu"], 0.01, Z, A)

    print(f"\none row: Network.forward {1e6 * median_call_seconds(lambda: net.forward(row)):.1f}"
          f" us; the first layer's product alone ({W.shape[0]}x{W.shape[1]}, "
          f"{W.nbytes // 1024} KiB of weights, BLAS gemm through nnbp._core) "
          f"{1e6 * median_call_seconds(first_layer):.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
