"""What dropout costs an epoch: nnbp's compiled epoch with dropout 0.2 beside it without.

Usage: python bench/dropout_epoch.py [--batch B ...] [--dtype float32|float64 ...]
       [--repeats R]

For 784-256-128-10 (relu, softmax) on 8192 rows, plain SGD, the rows shuffled
each epoch: one epoch by nnbp.training.Epoch (the compiled epoch as
StochasticTrainer runs it, on the team nnbp would take) without dropout, and
with dropout 0.2 on both hidden layers; medians of R, the two taken in turn as
in nnbp bench. Prints a Markdown table: the medians and their ratio.
"""
import argparse

import numpy as np

import nnbp
from nnbp.training import Epoch
from nnbp_bench.measure import interleaved_medians
from nnbp_bench.workloads import LEARNING_RATE, MNIST_SHAPED

RATE = 0.2


def epoch_runner(dtype, batch, dropout):
    """A function that runs one epoch of plain SGD, with dropout or without."""
    workload = MNIST_SHAPED
    X, y = workload.data(dtype)
    net = nnbp.Network(workload.sizes, output=workload.output, dtype=dtype, seed=0)
    rates = None if dropout is None else (dropout,) * (len(workload.sizes) - 2)
    epoch = Epoch(net, net.check_data(X, y), batch, shuffle=True, dropout=rates)
    sgd = nnbp.SGD(LEARNING_RATE, momentum=0.0).start(net.params)
    grad, backup = np.empty_like(net.params), np.empty_like(net.params)
    random_state = np.random.RandomState(0)

    def run():
        epoch.run(sgd, random_state, grad, backup, 1)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--dtype", choices=["float32", "float64"], nargs="+",
                        default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    print(f"| batch | dtype | no dropout (ms) | dropout {RATE} (ms) | ratio |")
    print("|-------|-------|-----------------|------------------|-------|")
    for dtype in map(np.dtype, args.dtype):
        for batch in args.batch:
            functions = {name: (epoch_runner(dtype, batch, rate), _as_they_are)
                         for name, rate in (("plain", None), ("dropout", RATE))}
            medians = interleaved_medians(functions, args.repeats)
            print(f"| {batch} | {dtype.name} | {1e3 * medians['plain']:.1f} | "
                  f"{1e3 * medians['dropout']:.1f} | "
                  f"{medians['dropout'] / medians['plain']:.2f} |", flush=True)


class _as_they_are:
    """The thread settings as nnbp takes them: no context of the benchmark's own."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


if __name__ == "__main__":
    main()
