"""One loss_and_grad call of nnbp against its GEMM floor and a plain NumPy MLP.

Usage: python bench/bench_core.py [--repeats R] [--json FILE]

For the network 784-256-128-10 (softmax) on n rows, it times in one run:
- "gemms": the matrix products backpropagation cannot avoid (3 forward, 3 for
  dW, 2 for dX), alone, in NumPy: the floor;
- "numpy": a plain NumPy MLP, forward and backward with relu;
- "nnbp": Network.loss_and_grad.
Then nnbp with each hidden activation, as a ratio to the floor: what the
elementwise work costs on top of the matrix products.
Medians of R repeats; ratios to the floor are taken within the same run.
"""
import argparse
import json
import platform
import time
from functools import partial

import numpy as np

import nnbp

SIZES = (784, 256, 128, 10)
ACTIVATION_ROWS = 8192


def median_seconds(function, repeats):
    """Median seconds of function over repeats calls, after one to warm up.

    Each contender is timed in a block of its own, not in alternation: NumPy
    and SciPy each bundle an OpenBLAS with its own thread pool, whose threads
    spin for a while after a call and would slow the other library's next one.
    """
    function()                                      # warm up: workspaces, caches, threads
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def gemms_alone(weights, X, activations, deltas):
    def run():
        inputs = X
        for W, A in zip(weights, activations):
            np.matmul(inputs, W.T, out=A)
            inputs = A
        inputs = [X] + activations[:-1]
        for l in range(len(weights) - 1, -1, -1):
            deltas[l].T @ inputs[l]
            if l > 0:
                deltas[l] @ weights[l]
    return run


def numpy_mlp(weights, biases, X, y):
    n = X.shape[0]

    def run():
        activations, inputs = [], X
        for l, (W, b) in enumerate(zip(weights, biases)):
            Z = inputs @ W.T + b
            inputs = np.maximum(Z, 0) if l < len(weights) - 1 else Z
            activations.append(inputs)
        Z = activations[-1]
        Z = Z - Z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(Z).sum(axis=1, keepdims=True))
        loss = -(Z[np.arange(n), y] - log_norm[:, 0]).mean()
        D = np.exp(Z - log_norm)
        D[np.arange(n), y] -= 1
        D /= n
        grads, layer_inputs = [], [X] + activations[:-1]
        for l in range(len(weights) - 1, -1, -1):
            grads.append((D.T @ layer_inputs[l], D.sum(axis=0)))
            if l > 0:
                D = (D @ weights[l]) * (layer_inputs[l] > 0)
        return loss, grads
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float32, np.float64):
        for n in (256, 8192):
            net = nnbp.Network(SIZES, activation="relu", output="softmax", dtype=dtype, seed=0)
            X = rng.normal(size=(n, SIZES[0])).astype(dtype)
            y = rng.integers(0, SIZES[-1], size=n)
            weights = [W.copy() for W in net.weights]
            biases = [b.copy() for b in net.biases]
            activations = [np.empty((n, W.shape[0]), dtype) for W in weights]
            deltas = [rng.normal(size=(n, W.shape[0])).astype(dtype) for W in weights]
            grad = np.empty_like(net.params)
            timings = {
                "gemms": median_seconds(gemms_alone(weights, X, activations, deltas),
                                        args.repeats),
                "numpy": median_seconds(numpy_mlp(weights, biases, X, y), args.repeats),
                "nnbp": median_seconds(lambda: net.loss_and_grad(X, y, out=grad), args.repeats),
            }
            flops = 2 * n * sum(a * b for a, b in zip(SIZES[1:], SIZES[:-1])) * 3 \
                - 2 * n * SIZES[0] * SIZES[1]
            rows.append({"dtype": np.dtype(dtype).name, "n": n, "seconds": timings,
                         "nnbp_gflops": flops / timings["nnbp"] / 1e9})
    print(f"loss_and_grad, {'-'.join(map(str, SIZES))} softmax, relu; medians of "
          f"{args.repeats}; {platform.machine()}, numpy {np.__version__}\n")
    print("| dtype | n | GEMMs alone (ms) | NumPy MLP (ms) | nnbp (ms) | nnbp / GEMMs "
          "| nnbp / NumPy | nnbp GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        t = {k: 1e3 * v for k, v in row["seconds"].items()}
        print(f"| {row['dtype']} | {row['n']} | {t['gemms']:.2f} | {t['numpy']:.2f} "
              f"| {t['nnbp']:.2f} | {t['nnbp'] / t['gemms']:.2f} | {t['nnbp'] / t['numpy']:.2f} "
              f"| {row['nnbp_gflops']:.0f} |")
    print(f"\nby hidden activation, n = {ACTIVATION_ROWS}: nnbp / GEMMs alone\n")
    print("| dtype | " + " | ".join(nnbp.ACTIVATIONS) + " |")
    print("|---|" + "---|" * len(nnbp.ACTIVATIONS))
    for dtype in (np.float32, np.float64):
        X = rng.normal(size=(ACTIVATION_ROWS, SIZES[0])).astype(dtype)
        y = rng.integers(0, SIZES[-1], size=ACTIVATION_ROWS)
        net = nnbp.Network(SIZES, dtype=dtype, seed=0)
        activations = [np.empty((ACTIVATION_ROWS, W.shape[0]), dtype) for W in net.weights]
        deltas = [rng.normal(size=a.shape).astype(dtype) for a in activations]
        floor = median_seconds(gemms_alone(list(net.weights), X, activations, deltas),
                               args.repeats)
        ratios = {}
        for activation in nnbp.ACTIVATIONS:
            net = nnbp.Network(SIZES, activation=activation, dtype=dtype, seed=0)
            grad = np.empty_like(net.params)
            ratios[activation] = median_seconds(
                partial(net.loss_and_grad, X, y, out=grad), args.repeats) / floor
        rows.append({"dtype": np.dtype(dtype).name, "n": ACTIVATION_ROWS,
                     "ratio_to_gemms_by_activation": ratios})
        print(f"| {np.dtype(dtype).name} | "
              + " | ".join(f"{ratios[a]:.2f}" for a in nnbp.ACTIVATIONS) + " |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
