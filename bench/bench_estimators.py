"""nnbp.MLPClassifier against scikit-learn's MLPClassifier: fit time at equal hyperparameters.

Usage: python bench/bench_estimators.py [--repeats R] [--json FILE]

Both fit the same data with the same hyperparameters and random_state, so
they take the same path (nnbp follows scikit-learn's arithmetic) and do the
same number of epochs: the ratio is the cost of the same work. Data: the
bundled UCI digits (1797 x 64, 10 classes) and a synthetic 8192 x 784
problem of 10 classes, the shape of the benchmark network. Medians of R fits
each, timed in blocks (see bench_core.median_seconds); ratios within one run.
"""
import argparse
import json
import platform
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLP

import nnbp
from bench_core import median_seconds
from nnbp.datasets import load_digits

CASES = [
    # (data, hidden_layer_sizes, solver, batch_size, max_iter)
    ("digits", (64,), "adam", "auto", 20),
    ("digits", (64,), "sgd", 32, 20),
    ("digits", (64,), "lbfgs", "auto", 50),
    ("synthetic", (256, 128), "adam", 256, 3),
    ("synthetic", (256, 128), "sgd", 32, 1),
]


def datasets():
    X, y = load_digits()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 784))
    labels = rng.integers(0, 10, 8192)
    synthetic = centres[labels] + 3.0 * rng.standard_normal((8192, 784))
    return {"digits": (X / 16, y), "synthetic": (synthetic, labels)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    data = datasets()
    rows = []
    print(f"nnbp {nnbp.__version__}, scikit-learn {sklearn.__version__}, "
          f"{platform.processor() or platform.machine()}; medians of {args.repeats} fits\n")
    print("| data | hidden | solver | batch | epochs | scikit-learn (s) | nnbp (s) | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for name, hidden, solver, batch_size, max_iter in CASES:
        X, y = data[name]
        options = dict(hidden_layer_sizes=hidden, solver=solver, batch_size=batch_size,
                       max_iter=max_iter, random_state=0, learning_rate_init=0.01)
        times = {}
        for label, estimator in (("sklearn", SklearnMLP), ("nnbp", nnbp.MLPClassifier)):
            def fit():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    return estimator(**options).fit(X, y)
            times[label] = median_seconds(fit, args.repeats)
        rows.append(dict(data=name, hidden=list(hidden), solver=solver, batch=batch_size,
                         epochs=max_iter, sklearn_s=times["sklearn"], nnbp_s=times["nnbp"],
                         speedup=times["sklearn"] / times["nnbp"]))
        print(f"| {name} {X.shape[0]}x{X.shape[1]} | {hidden} | {solver} | {batch_size} | "
              f"{max_iter} | {times['sklearn']:.3f} | {times['nnbp']:.3f} | "
              f"{times['sklearn'] / times['nnbp']:.1f}x |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
