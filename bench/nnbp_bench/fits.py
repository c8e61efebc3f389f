"""Whole fits of nnbp's estimators against scikit-learn's, at equal hyperparameters.

``time_fits``: the CASES below. ``time_default_fits``: scikit-learn's default
parameters (random_state=0 alone) on small tabular data, each solver, with
each fit's final loss and epochs, to show that both took the same path, and
its steps, to give the microseconds of a step beside its arithmetic.

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

# Small tabular problems, their features standardised as scikit-learn's users do;
# each with every solver at scikit-learn's defaults.
DEFAULT_DATA = ("breast_cancer", "digits", "diabetes", "tabular 20000x50")
DEFAULT_CASES = [(data, solver) for data in DEFAULT_DATA for solver in ("adam", "sgd", "lbfgs")]
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



def default_datasets():
    """{name: (X, y, estimator class name)} of DEFAULT_DATA."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification
    from sklearn.preprocessing import StandardScaler

    X_digits, y_digits = load_digits()
    X_tabular, y_tabular = make_classification(20000, 50, n_informative=20, n_classes=3,
                                               random_state=0)
    scaled = {"breast_cancer": load_breast_cancer(return_X_y=True) + ("MLPClassifier",),
              "diabetes": load_diabetes(return_X_y=True) + ("MLPRegressor",),
              "tabular 20000x50": (X_tabular, y_tabular, "MLPClassifier")}
    data = {name: (StandardScaler().fit_transform(X), y, kind)
            for name, (X, y, kind) in scaled.items()}
    data["digits"] = (X_digits / 16, y_digits, "MLPClassifier")
    return data


def steps_of(model, n_rows):
    """(steps, rows per step) of a fitted model: minibatches, or lbfgs's iterations
    (each of which evaluates the loss and gradient once or more)."""
    if model.solver == "lbfgs":
        return model.n_iter_, n_rows
    batch = min(200, n_rows)
    return model.n_iter_ * -(-n_rows // batch), batch


def time_default_fits(cases, repeats, log):
    """A row per (data, solver) of cases: both fits' seconds, final loss, epochs and steps."""
    from sklearn import neural_network
    from sklearn.exceptions import ConvergenceWarning

    data, rows = default_datasets(), []
    for name, solver in cases:
        X, y, kind = data[name]
        row = dict(data=f"{name} {X.shape[0]}x{X.shape[1]}", estimator=kind, solver=solver,
                   seconds={}, loss={}, epochs={}, steps={})
        for label, module, threadings in (
                ("scikit-learn", neural_network, numpy_threadings()),
                ("nnbp", nnbp, nnbp_threadings())):
            def fit():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    return getattr(module, kind)(solver=solver, random_state=0).fit(X, y)
            row["seconds"][label], _ = best_median(fit, threadings, repeats)
            model = fit()
            row["loss"][label], row["epochs"][label] = float(model.loss_), model.n_iter_
            row["steps"][label], row["rows_per_step"] = steps_of(model, X.shape[0])
        classes = len(np.unique(y))
        sizes = [X.shape[1], 100, 1 if kind == "MLPRegressor" or classes == 2 else classes]
        # The products of one step on rows_per_step rows (as Workload.gradient_flops).
        row["flops_per_step"] = 2 * row["rows_per_step"] * (
            3 * sum(a * b for a, b in zip(sizes, sizes[1:])) - sizes[0] * sizes[1])
        row["speedup"] = row["seconds"]["scikit-learn"] / row["seconds"]["nnbp"]
        rows.append(row)
        log(f"  default fit {name} {solver}: scikit-learn {row['seconds']['scikit-learn']:.3f} s, "
            f"nnbp {row['seconds']['nnbp']:.3f} s, epochs {row['epochs']}")
    return rows
