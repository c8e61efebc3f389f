"""Whole fits of nnbp's estimators against scikit-learn's, at equal hyperparameters.

Both fit the same data with the same hyperparameters and random_state, so
they take the same path (nnbp follows scikit-learn's arithmetic) and do the
same number of epochs: the ratio is the cost of the same work. Data: the
bundled UCI digits (1797 x 64, 10 classes) and a synthetic 8192 x 784
problem of 10 classes, the shape of the benchmark network.
"""
import warnings

import numpy as np

import nnbp
from nnbp_bench.contenders import nnbp_threadings, numpy_threadings
from nnbp_bench.measure import best_median
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


def time_fits(cases, repeats, log):
    """A row per case of CASES: the fit times of both and the speed-up."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    data, rows = datasets(), []
    for name, hidden, solver, batch_size, max_iter in cases:
        X, y = data[name]
        options = dict(hidden_layer_sizes=hidden, solver=solver, batch_size=batch_size,
                       max_iter=max_iter, random_state=0, learning_rate_init=0.01)
        times = {}
        for label, estimator, threadings in (
                ("scikit-learn", MLPClassifier, numpy_threadings()),
                ("nnbp", nnbp.MLPClassifier, nnbp_threadings())):
            def fit():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    return estimator(**options).fit(X, y)
            times[label], _ = best_median(fit, threadings, repeats)
        rows.append(dict(data=f"{name} {X.shape[0]}x{X.shape[1]}", hidden=list(hidden),
                         solver=solver, batch=batch_size, epochs=max_iter,
                         seconds=times, speedup=times["scikit-learn"] / times["nnbp"]))
        log(f"  fit {name} {hidden} {solver}: scikit-learn {times['scikit-learn']:.3f} s, "
            f"nnbp {times['nnbp']:.3f} s")
    return rows

