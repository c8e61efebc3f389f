"""nnbp.MLPClassifier and nnbp.MLPRegressor as scikit-learn estimators.

scikit-learn's own estimator checks over several configurations; Pipeline,
GridSearchCV, clone, pickle and cross_val_score; the fitted attributes
against scikit-learn's MLP; the methods; coefs_ and intercepts_ as writable
views of the network's parameters; dtypes; errors for bad input; divergence;
reproducibility; and `import nnbp` without scikit-learn.
"""
import inspect
import json
import numbers
import os
import pathlib
import pickle
import re
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import neural_network
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle as shuffle_arrays
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

import nnbp

ESTIMATORS_PAGE = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "user_guide"
                   / "estimators.md")
ESTIMATORS = (nnbp.MLPClassifier, nnbp.MLPRegressor)
SOLVERS = ("sgd", "adam", "lbfgs")

# Most runs here are deliberately short.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """The networks here are tiny: BLAS threads only add synchronisation.

    On a busy two-core machine, two OpenBLAS threads made this file several
    times slower and its runtime erratic; one thread keeps it at ~10 s.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------- data


def classification(n_samples=200, n_classes=3, n_features=6, random_state=0):
    """An easy problem: well separated classes, one cluster each."""
    return make_classification(n_samples=n_samples, n_features=n_features, n_informative=4,
                               n_redundant=0, n_classes=n_classes, n_clusters_per_class=1,
                               class_sep=2.0, random_state=random_state)


def regression(n_samples=200, n_targets=1, n_features=5, random_state=0):
    """A standardised regression problem (targets of unit scale)."""
    X, y = make_regression(n_samples=n_samples, n_features=n_features, n_informative=4,
                           n_targets=n_targets, noise=1.0, random_state=random_state)
    return X, (y - y.mean(axis=0)) / y.std(axis=0)


def small_problem(Estimator, **options):
    return (classification(**options) if Estimator is nnbp.MLPClassifier
            else regression(**options))


# ---------------------------------------------------------------- 1. scikit-learn's checks

CHECKED_CONFIGURATIONS = [
    {},  # scikit-learn's defaults, with scikit-learn's own suite's max_iter=100
    dict(solver="lbfgs"),
    dict(solver="sgd"),
    dict(dtype="float32"),
    dict(activation="softplus"),
    dict(activation="leaky_relu"),
    dict(activation="gelu"),
    dict(activation="silu"),
    dict(init="he"),
    dict(early_stopping=True),
    dict(weight_decay=0.01, max_grad_norm=5.0, learning_rate="cosine", warmup_fraction=0.1),
    dict(solver="sgd", weight_decay=0.01, max_grad_norm=5.0, learning_rate="cosine"),
    dict(dropout=0.2),
    dict(solver="sgd", dropout=0.1),
]


def checked_estimators():
    # random_state=0 makes every check deterministic (many set it themselves).
    return [Estimator(max_iter=100, random_state=0, **configuration)
            for Estimator in ESTIMATORS for configuration in CHECKED_CONFIGURATIONS]


# What scikit-learn's own MLPClassifier and MLPRegressor(early_stopping=True)
# fail as well, for the same reasons, in scikit-learn 1.9.
EARLY_STOPPING_FAILURES = {
    **{check: "partial_fit does not support early_stopping=True (scikit-learn's neither)"
       for check in ("check_fit_score_takes_y", "check_n_features_in_after_fitting",
                     "check_estimators_partial_fit_n_features")},
    **{f"check_sample_weight_equivalence_on_{kind}_data": (
        "the held-out rows are drawn from the rows as given, so a row of weight 2 and two "
        "copies of it are split differently (scikit-learn's MLP too)")
       for kind in ("dense", "sparse")},
    **{check: ("the check's data are too few to hold out a validation set: refused by "
               "name, as scikit-learn's MLP refuses them")
       for check in ("check_estimators_nan_inf", "check_fit2d_1feature")},
}
EARLY_STOPPING_FAILURES_OF = {
    nnbp.MLPClassifier: {"check_classifiers_one_label": (
        "a validation split of one class cannot be stratified (scikit-learn's MLP: the same)")},
    nnbp.MLPRegressor: {"check_regressors_no_decision_function": (
        "the check's data are too few to hold out a validation set (scikit-learn's MLP: "
        "the same)")},
}


def expected_failed_checks(estimator):
    if estimator.early_stopping:
        return {**EARLY_STOPPING_FAILURES, **EARLY_STOPPING_FAILURES_OF[type(estimator)]}
    if estimator.dropout:
        reason = ("dropout draws a mask for each row: a row of weight 2 keeps one mask, "
                  "its two copies draw two (torch's nn.Dropout too), so the fits differ")
        return {f"check_sample_weight_equivalence_on_{kind}_data": reason
                for kind in ("dense", "sparse")}
    if estimator.dtype is not None and np.dtype(estimator.dtype) == np.float32:
        reason = (
            "dtype='float32' trains in float32: a weight of k and k repeated rows are "
            "summed in a different order, so the predictions differ by a few float32 "
            "ulps (about 5e-7 relative), above the check's fixed rtol=1e-7. "
            "scikit-learn's own MLP fit on float32 X differs by as much (6e-7 dense, "
            "5e-7 sparse). test_float32_sample_weight_equivalence_to_float32_round_off shows the "
            "equivalence holds to float32 round-off."
        )
        return {f"check_sample_weight_equivalence_on_{kind}_data": reason
                for kind in ("dense", "sparse")}
    return {}


# Checks whose tolerance is finer than the rounding BLAS promises for float32:
# they pass on some BLAS kernels and fail on others (OpenBLAS's Nehalem
# kernels round a row by its place in the batch), so they can be neither run
# nor a strict xfail there. The test named checks the same at float32's round-off.
BLAS_ROUNDING_CHECKS = {
    "check_methods_sample_order_invariance": (
        "its atol=1e-9 and rtol=1e-7 are below the float32 rounding of a product "
        "whose rows BLAS may take in another order: see "
        "test_float32_predictions_do_not_depend_on_the_order_of_the_rows"),
    "check_methods_subset_invariance": (
        "its atol=1e-7 is below the float32 rounding of one row's product, which nnbp's own "
        "loop sums in another order than BLAS sums the whole batch's (the answer is float64, "
        "as scikit-learn's is for float64 X, but computed in float32): see "
        "test_float32_predictions_do_not_depend_on_the_batch"),
}


# Strict: a check expected to fail that passes fails the run. scikit-learn 1.8 added
# xfail_strict; 1.6 and 1.7 (the newest for Python 3.10) mark those checks non-strict.
STRICT_XFAIL = ({"xfail_strict": True}
                if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters else {})


@parametrize_with_checks(checked_estimators(), expected_failed_checks=expected_failed_checks,
                         **STRICT_XFAIL)
def test_sklearn_estimator_checks(estimator, check):
    name = getattr(check, "func", check).__name__
    if name in BLAS_ROUNDING_CHECKS and np.dtype(estimator.dtype or np.float64) == np.float32:
        pytest.skip(BLAS_ROUNDING_CHECKS[name])
    check(estimator)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float32_predictions_do_not_depend_on_the_order_of_the_rows(Estimator):
    """check_methods_sample_order_invariance's data, at float32's round-off."""
    rng = np.random.RandomState(0)
    X = 3 * rng.uniform(size=(20, 3))
    y = X[:, 0].astype(np.int64)
    model = Estimator(max_iter=100, random_state=1, dtype="float32").fit(X, y)
    methods = ["predict"] + (["predict_proba"] if hasattr(model, "predict_proba") else [])
    for seed in range(5):
        order = np.random.RandomState(seed).permutation(X.shape[0])
        for method in methods:
            in_order, reordered = getattr(model, method)(X)[order], getattr(model, method)(X[order])
            if method == "predict" and Estimator is nnbp.MLPClassifier:
                assert np.array_equal(in_order, reordered)
            else:
                assert_allclose(reordered, in_order, rtol=16 * np.finfo(np.float32).eps,
                                atol=1e-7)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float32_predictions_do_not_depend_on_the_batch(Estimator):
    """check_methods_subset_invariance's data, row by row and in halves, at float32's
    round-off."""
    rng = np.random.RandomState(0)
    X = 3 * rng.uniform(size=(20, 3))
    y = X[:, 0].astype(np.int64)
    model = Estimator(max_iter=100, random_state=1, dtype="float32").fit(X, y)
    methods = ["predict"] + (["predict_proba"] if hasattr(model, "predict_proba") else [])
    for method in methods:
        whole = getattr(model, method)(X)
        for rows in (1, 10):
            by_batch = np.concatenate([getattr(model, method)(X[start:start + rows])
                                       for start in range(0, X.shape[0], rows)])
            if method == "predict" and Estimator is nnbp.MLPClassifier:
                assert np.array_equal(by_batch, whole)
            else:
                assert_allclose(by_batch, whole, rtol=16 * np.finfo(np.float32).eps, atol=1e-7)


@pytest.mark.parametrize("container", [np.asarray, sparse.csr_array])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float32_sample_weight_equivalence_to_float32_round_off(Estimator, container):
    """The data of check_sample_weight_equivalence_on_dense_data (and _sparse_data, the
    same as CSR), at float32's tolerance."""
    rng = np.random.RandomState(42)
    n_samples = 15
    X = rng.rand(n_samples, n_samples * 2)
    y = rng.randint(0, 3, size=n_samples)
    sample_weight = rng.randint(0, 5, size=n_samples)
    X_repeated, y_repeated = X.repeat(sample_weight, axis=0), y.repeat(sample_weight)
    X_weighted, y_weighted, sample_weight = shuffle_arrays(X, y, sample_weight, random_state=0)
    X_repeated, X_weighted = container(X_repeated), container(X_weighted)
    options = dict(max_iter=100, random_state=0, dtype="float32")
    repeated = Estimator(**options).fit(X_repeated, y_repeated)
    weighted = Estimator(**options).fit(X_weighted, y_weighted, sample_weight=sample_weight)
    method = "predict_proba" if Estimator is nnbp.MLPClassifier else "predict"
    expected, got = getattr(repeated, method)(X), getattr(weighted, method)(X)
    # Computed in float32; returned as float64 for float64 X, as scikit-learn's.
    assert weighted.network_.dtype == np.float32 and got.dtype == np.float64
    assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- 2. scikit-learn's tools


def test_pipeline():
    X, y = classification(random_state=1)
    X = 100.0 * X + 50.0  # badly scaled: the scaler matters
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), nnbp.MLPClassifier(hidden_layer_sizes=(16,),
                                                              learning_rate_init=0.01,
                                                              max_iter=100, random_state=0))
    pipe.fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.9
    proba = pipe.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    assert_array_equal(pipe.predict(X_test), pipe.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize("grid", [{"alpha": [1e-4, 1.0]},
                                  {"hidden_layer_sizes": [(2,), (12,)]}],
                         ids=["alpha", "hidden_layer_sizes"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_grid_search(Estimator, grid):
    X, y = small_problem(Estimator, n_samples=120)
    search = GridSearchCV(Estimator(hidden_layer_sizes=(8,), learning_rate_init=0.01,
                                    max_iter=30, random_state=0), grid, cv=2)
    search.fit(X, y)
    (name, values), = grid.items()
    assert search.best_params_[name] in values
    assert isinstance(search.best_estimator_, Estimator)
    assert search.best_estimator_.get_params()[name] == search.best_params_[name]
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert search.score(X, y) > 0.8


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_cross_val_score(Estimator):
    X, y = small_problem(Estimator, n_samples=150)
    scores = cross_val_score(Estimator(hidden_layer_sizes=(8,), learning_rate_init=0.01,
                                       max_iter=60, random_state=0), X, y, cv=3)
    assert scores.shape == (3,)
    assert np.all(scores > 0.8), scores


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_clone_is_unfitted_with_the_same_params(Estimator):
    X, y = small_problem(Estimator, n_samples=60)
    est = Estimator(hidden_layer_sizes=(5, 3), alpha=0.01, solver="sgd", max_iter=5,
                    random_state=0, dtype="float32", init="he", activation="softplus")
    for candidate in (est, est.fit(X, y)):
        copy = clone(candidate)
        assert type(copy) is Estimator and copy is not candidate
        assert copy.get_params() == est.get_params()
        assert "network_" not in vars(copy)
        with pytest.raises(NotFittedError):
            check_is_fitted(copy)
        assert not hasattr(copy, "coefs_") and not hasattr(copy, "intercepts_")
    # The clone, fitted on the same data, is the same model.
    copy = clone(est).fit(X, y)
    for a, b in zip(copy.coefs_ + copy.intercepts_, est.coefs_ + est.intercepts_):
        assert_array_equal(a, b)


def network_outputs(est, X):
    """predict_proba (classifier) or predict (regressor): the network's outputs."""
    return est.predict_proba(X) if isinstance(est, nnbp.MLPClassifier) else est.predict(X)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_pickle_round_trip(Estimator):
    X, y = small_problem(Estimator, n_samples=80)  # 3 classes, or 1 target
    est = Estimator(hidden_layer_sizes=(6,), solver="sgd", max_iter=10, random_state=0).fit(X, y)
    before = network_outputs(est, X)
    loaded = pickle.loads(pickle.dumps(est))
    assert_array_equal(network_outputs(loaded, X), before)  # bitwise
    assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.get_params() == est.get_params()
    assert loaded.network_ is not est.network_
    assert_array_equal(loaded.network_.params, est.network_.params)
    # coefs_ and intercepts_ of the copy are views of the copy's own parameters.
    for block in loaded.coefs_ + loaded.intercepts_:
        assert np.shares_memory(block, loaded.network_.params)
        assert not np.shares_memory(block, est.network_.params)
    loaded.coefs_[0][...] = 0.0
    assert np.all(loaded.network_.weights[0] == 0.0)
    assert not np.array_equal(network_outputs(loaded, X), before)
    assert_array_equal(network_outputs(est, X), before)  # the original is untouched

    # Training goes on in the copy's own network: partial_fit moves its coefs_.
    again = pickle.loads(pickle.dumps(est))
    coefs = [c.copy() for c in again.coefs_]
    again.partial_fit(X, y)
    assert not np.array_equal(again.coefs_[0], coefs[0])
    assert_array_equal(est.coefs_[0], coefs[0])
    assert_array_equal(network_outputs(again, X).reshape(len(X), -1), again.network_.forward(X))


# ---------------------------------------------------------------- 3. fitted attributes


def public_fitted_names(est):
    return {name for name in dir(est)
            if name.endswith("_") and not name.startswith("_") and hasattr(est, name)}


def kind(value):
    """What a fitted attribute is, to compare nnbp's with scikit-learn's."""
    if value is None:
        return None
    if isinstance(value, str):
        return "str"
    if isinstance(value, np.ndarray):
        return ("ndarray", value.shape, value.dtype.kind)
    if isinstance(value, list):
        return ("list", [kind(item) for item in value])
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    return type(value).__name__


# nnbp's fitted attributes that scikit-learn's MLP does not have after the same fit.
EXTRA_ATTRIBUTES = {"sgd": {"network_"}, "adam": {"network_"},
                    "lbfgs": {"network_", "loss_curve_", "best_loss_"}}


@pytest.mark.parametrize("early_stopping", [False, True], ids=["no_early_stopping", "early_stopping"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_fitted_attributes_match_sklearn(name, solver, early_stopping):
    Estimator = getattr(nnbp, name)
    X, y = small_problem(Estimator, n_samples=100)
    options = dict(hidden_layer_sizes=(7, 4), solver=solver, early_stopping=early_stopping,
                   max_iter=6, random_state=0)
    ours = Estimator(**options).fit(X, y)
    theirs = getattr(neural_network, name)(**options).fit(X, y)
    ours_names, theirs_names = public_fitted_names(ours), public_fitted_names(theirs)
    assert theirs_names - ours_names == set()
    assert ours_names - theirs_names == EXTRA_ATTRIBUTES[solver]
    for attribute in sorted(theirs_names):
        assert kind(getattr(ours, attribute)) == kind(getattr(theirs, attribute)), attribute
    for attribute in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_",
                      "n_features_in_", "classes_"):
        if attribute in theirs_names:
            assert_array_equal(getattr(ours, attribute), getattr(theirs, attribute))
    assert isinstance(ours.network_, nnbp.Network)


def exact_types(value):
    """The Python type of a fitted scalar, or of each item of a list of them."""
    if isinstance(value, list):
        return ("list", [type(item) for item in value])
    return type(value)


LOSSES = ("loss_", "best_loss_", "loss_curve_")


def float32_log_loss_type(expected):
    """nnbp's loss type where scikit-learn's follows SciPy: np.float64, as on float64 data.

    scikit-learn computes a classifier's loss as xlogy(y, p), y boolean: SciPy 1.17
    promotes float32 p to float64 there, SciPy 1.18 keeps float32. nnbp sums its
    losses in float64 and reports them so, whatever SciPy does.
    """
    from scipy.special import xlogy

    if xlogy(np.True_, np.float32(0.5)).dtype != np.float32 or expected is type(None):
        return expected     # (best_loss_ is None with early stopping)
    if isinstance(expected, tuple):     # loss_curve_
        assert set(expected[1]) == {np.float32}, expected
        return ("list", [np.float64] * len(expected[1]))
    assert expected is np.float32, expected
    return np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("early_stopping", [False, True], ids=["no_early_stopping", "early_stopping"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_fitted_scalars_have_sklearns_exact_types(name, solver, early_stopping, dtype):
    # numpy.float64 losses, Python float validation scores, Python int counts.
    Estimator = getattr(nnbp, name)
    X, y = small_problem(Estimator, n_samples=100)
    X = X.astype(dtype)
    options = dict(hidden_layer_sizes=(7,), solver=solver, early_stopping=early_stopping,
                   max_iter=4, random_state=0)
    ours = Estimator(**options).fit(X, y)
    theirs = getattr(neural_network, name)(**options).fit(X, y)
    for attribute in ("loss_", "best_loss_", "loss_curve_", "validation_scores_",
                      "best_validation_score_", "n_iter_", "t_", "n_layers_", "n_outputs_",
                      "n_features_in_"):
        if attribute in vars(theirs):
            expected = exact_types(getattr(theirs, attribute))
            if attribute in LOSSES and name == "MLPClassifier" and dtype == np.float32:
                expected = float32_log_loss_type(expected)
            assert exact_types(getattr(ours, attribute)) == expected, attribute
    if solver == "lbfgs":   # nnbp's own, as its loss_
        assert type(ours.best_loss_) is np.float64
        assert {type(loss) for loss in ours.loss_curve_} == {np.float64}
    elif not early_stopping:
        ours.partial_fit(X, y)
        assert type(ours.loss_) is type(ours.best_loss_) is type(ours.loss_curve_[-1]) \
            is np.float64


def test_extra_attributes_are_documented():
    """Each attribute nnbp has beyond scikit-learn's is on the user guide's estimators page."""
    section = ESTIMATORS_PAGE.read_text()
    assert re.search(r"plus `network_`, the fitted `nnbp\.Network`", section)
    assert re.search(r"For lbfgs, `loss_curve_` records", section)


def test_lbfgs_best_loss_is_documented():
    section = ESTIMATORS_PAGE.read_text()
    assert re.search(r"For lbfgs, [^.]*`best_loss_`", section)


@pytest.mark.parametrize("early_stopping", [False, True], ids=["no_early_stopping", "early_stopping"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_fitted_attributes_of_stochastic_solvers(solver, early_stopping):
    X, y = classification(n_samples=120, n_features=4, random_state=2)
    est = nnbp.MLPClassifier(hidden_layer_sizes=(7, 5), solver=solver, max_iter=8,
                             early_stopping=early_stopping, random_state=0).fit(X, y)
    assert [c.shape for c in est.coefs_] == [(4, 7), (7, 5), (5, 3)]
    assert [b.shape for b in est.intercepts_] == [(7,), (5,), (3,)]
    assert isinstance(est.coefs_, list) and isinstance(est.intercepts_, list)
    assert est.n_layers_ == 4 and est.n_outputs_ == 3 and est.n_features_in_ == 4
    assert est.out_activation_ == "softmax"
    assert_array_equal(est.classes_, [0, 1, 2])
    assert isinstance(est.n_iter_, int) and est.n_iter_ == len(est.loss_curve_) == 8
    n_train = 120 - (12 if early_stopping else 0)
    assert isinstance(est.t_, int) and est.t_ == 8 * n_train
    assert isinstance(est.loss_curve_, list)
    assert all(isinstance(loss, float) for loss in est.loss_curve_)
    assert isinstance(est.loss_, float) and est.loss_ == est.loss_curve_[-1]
    if early_stopping:
        assert est.best_loss_ is None
        assert isinstance(est.validation_scores_, list) and len(est.validation_scores_) == 8
        assert all(0.0 <= score <= 1.0 for score in est.validation_scores_)
        assert isinstance(est.best_validation_score_, float)
        assert est.best_validation_score_ == max(est.validation_scores_)
    else:
        assert est.best_loss_ == min(est.loss_curve_)
        assert est.validation_scores_ is None and est.best_validation_score_ is None


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_optimizer_is_the_one_training_goes_on_with(Estimator):
    """_optimizer, scikit-learn's name, is the optimizer of the next epoch, with its rate."""
    X, y = small_problem(Estimator, n_samples=40)
    est = Estimator(hidden_layer_sizes=(4,), solver="sgd", learning_rate="invscaling",
                    max_iter=3, random_state=0)
    with pytest.raises(AttributeError, match="no optimizer before a fit with solver 'sgd'"):
        est._optimizer
    est.fit(X, y)
    optimizer = est._optimizer
    assert isinstance(optimizer, nnbp.SGD) and est.t_ == 3 * 40
    assert optimizer.learning_rate == 0.001 / (3 * 40 + 1) ** 0.5
    est.partial_fit(X, y)  # goes on with the same optimizer and schedule
    assert est._optimizer is optimizer and optimizer.learning_rate == 0.001 / (4 * 40 + 1) ** 0.5
    est.set_params(solver="lbfgs").fit(X, y)
    with pytest.raises(AttributeError, match="no optimizer"):
        est._optimizer


def test_fitted_attributes_of_lbfgs():
    X, y = regression(n_samples=80, n_targets=2, n_features=3)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=15,
                            random_state=0).fit(X, y)
    assert [c.shape for c in est.coefs_] == [(3, 6), (6, 2)]
    assert [b.shape for b in est.intercepts_] == [(6,), (2,)]
    assert est.n_layers_ == 3 and est.n_outputs_ == 2 and est.out_activation_ == "identity"
    assert isinstance(est.n_iter_, int) and 1 <= est.n_iter_ <= 15
    assert type(est.loss_) is np.float64 and np.isfinite(est.loss_)
    assert len(est.loss_curve_) == est.n_iter_ and est.loss_curve_[-1] == est.loss_
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.t_ == 0
    assert not hasattr(est, "classes_")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_feature_names_in(Estimator):
    pd = pytest.importorskip("pandas")
    X, y = small_problem(Estimator, n_samples=60)
    frame = pd.DataFrame(X, columns=[f"feature {i}" for i in range(X.shape[1])])
    est = Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(frame, y)
    theirs = getattr(neural_network, Estimator.__name__)(hidden_layer_sizes=(4,), max_iter=3,
                                                         random_state=0).fit(frame, y)
    assert_array_equal(est.feature_names_in_, list(frame.columns))
    assert_array_equal(est.feature_names_in_, theirs.feature_names_in_)
    assert est.feature_names_in_.dtype == object
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        assert_array_equal(est.predict(frame), est.predict(X))
    # Fitted on an array: no feature names.
    assert not hasattr(Estimator(hidden_layer_sizes=(4,), max_iter=3).fit(X, y),
                       "feature_names_in_")


# ---------------------------------------------------------------- 4. methods


@pytest.mark.parametrize("solver", SOLVERS)
def test_classifier_learns_an_easy_problem(solver):
    X, y = classification(n_samples=300, random_state=3)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    est = nnbp.MLPClassifier(hidden_layer_sizes=(16,), solver=solver, learning_rate_init=0.01,
                             max_iter=150, random_state=0).fit(X_train, y_train)
    assert est.score(X_test, y_test) > 0.9
    assert est.loss_ < est.loss_curve_[0]


@pytest.mark.parametrize("solver", SOLVERS)
def test_regressor_learns_an_easy_problem(solver):
    X, y = regression(n_samples=300, random_state=3)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(16,), solver=solver, learning_rate_init=0.01,
                            max_iter=200, random_state=0).fit(X_train, y_train)
    assert est.score(X_test, y_test) > 0.9


def test_binary_classification():
    X, y = classification(n_samples=120, n_classes=2)
    labels = np.array(["no", "yes"])[y]
    est = nnbp.MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=50,
                             random_state=0).fit(X, labels)
    assert_array_equal(est.classes_, ["no", "yes"])
    assert est.n_outputs_ == 1 and est.out_activation_ == "logistic"
    proba = est.predict_proba(X)
    assert proba.shape == (120, 2)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(proba[:, 1], est.network_.forward(X)[:, 0])  # the sigmoid output
    assert_array_equal(est.predict_log_proba(X), np.log(proba))
    predicted = est.predict(X)
    assert predicted.shape == (120,) and set(predicted) <= {"no", "yes"}
    assert_array_equal(predicted, est.classes_[proba.argmax(axis=1)])
    assert est.score(X, labels) == accuracy_score(labels, predicted) > 0.9


def test_multiclass_classification():
    X, y = classification(n_samples=150, n_classes=4)
    labels = np.array([10, 20, 30, 40])[y]
    est = nnbp.MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=60,
                             random_state=0).fit(X, labels)
    assert_array_equal(est.classes_, [10, 20, 30, 40])
    assert est.n_outputs_ == 4 and est.out_activation_ == "softmax"
    proba = est.predict_proba(X)
    assert proba.shape == (150, 4) and np.all((proba >= 0) & (proba <= 1))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(est.predict_log_proba(X), np.log(proba))
    assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])
    assert est.score(X, labels) > 0.9


def test_multilabel_classification():
    X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=3,
                                          random_state=0)
    est = nnbp.MLPClassifier(hidden_layer_sizes=(12,), solver="lbfgs", max_iter=200,
                             random_state=0).fit(X, Y)
    assert est.n_outputs_ == 3 and est.out_activation_ == "logistic"
    assert_array_equal(est.classes_, [0, 1, 2])
    proba = est.predict_proba(X)
    assert proba.shape == (120, 3) and np.all((proba >= 0) & (proba <= 1))
    assert_array_equal(est.predict_log_proba(X), np.log(proba))
    predicted = est.predict(X)
    assert predicted.shape == (120, 3)
    assert_array_equal(predicted, (proba > 0.5).astype(predicted.dtype))
    assert est.score(X, Y) == accuracy_score(Y, predicted) > 0.6  # subset accuracy


@pytest.mark.parametrize("n_targets", [1, 2])
def test_regression_outputs(n_targets):
    X, y = regression(n_samples=120, n_targets=n_targets)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100,
                            random_state=0).fit(X, y)
    assert est.n_outputs_ == n_targets and est.out_activation_ == "identity"
    predicted = est.predict(X)
    assert predicted.shape == y.shape
    assert_array_equal(predicted.reshape(120, -1), est.network_.forward(X))
    assert est.score(X, y) == pytest.approx(r2_score(y, predicted), rel=1e-12)
    assert est.score(X, y) > 0.9
    # A (n, 1) target is one output, like scikit-learn's (with its warning).
    if n_targets == 1:
        with pytest.warns(Warning, match="column-vector y"):
            column = nnbp.MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100,
                                       random_state=0).fit(X, y[:, None])
        assert column.n_outputs_ == 1 and column.predict(X).shape == (120,)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sample_weight_zero_is_removal_and_weights_matter(Estimator):
    X, y = small_problem(Estimator, n_samples=60)
    weight = np.ones(60)
    weight[::3] = 0.0
    options = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=50, random_state=0)
    weighted = Estimator(**options).fit(X, y, sample_weight=weight)
    removed = Estimator(**options).fit(X[weight > 0], y[weight > 0])
    method = "predict_proba" if Estimator is nnbp.MLPClassifier else "predict"
    assert_allclose(getattr(weighted, method)(X), getattr(removed, method)(X), rtol=1e-6,
                    atol=1e-9)
    unweighted = Estimator(**options).fit(X, y)
    assert not np.allclose(getattr(weighted, method)(X), getattr(unweighted, method)(X))
    # score takes weights too.
    metric = accuracy_score if Estimator is nnbp.MLPClassifier else r2_score
    assert weighted.score(X, y, sample_weight=weight) == pytest.approx(
        metric(y, weighted.predict(X), sample_weight=weight), rel=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_classifier_partial_fit(solver):
    X, y = classification(n_samples=90, n_classes=3)
    est = nnbp.MLPClassifier(hidden_layer_sizes=(6,), solver=solver, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    # The first batch has two of the three classes: classes= names all three.
    first = y != 2
    est.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert_array_equal(est.classes_, [0, 1, 2])
    assert est.n_outputs_ == 3 and est.predict_proba(X).shape == (90, 3)
    assert est.n_iter_ == 1 and est.t_ == first.sum() and len(est.loss_curve_) == 1
    coefs = [c.copy() for c in est.coefs_]
    for step in range(2, 5):
        est.partial_fit(X, y)
        assert est.n_iter_ == 1 and len(est.loss_curve_) == step
    assert est.t_ == first.sum() + 3 * 90
    assert not np.array_equal(est.coefs_[0], coefs[0])
    with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
        est.partial_fit(X, y, classes=[0, 1, 2, 3])


def test_regressor_partial_fit():
    X, y = regression(n_samples=60, n_targets=2)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(6,), solver="sgd", random_state=0)
    for step in range(1, 4):
        est.partial_fit(X[20 * (step - 1):20 * step], y[20 * (step - 1):20 * step])
        assert len(est.loss_curve_) == step and est.t_ == 20 * step
    assert est.predict(X).shape == (60, 2)


@pytest.mark.parametrize("solver", SOLVERS)
def test_convergence_warning_when_max_iter_is_reached(solver):
    X, y = classification(n_samples=60)
    with pytest.warns(ConvergenceWarning):
        nnbp.MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=1,
                           random_state=0).fit(X, y)


# ---------------------------------------------------------------- 5. coefs_, intercepts_: views


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_coefs_and_intercepts_are_writable_views(Estimator):
    X, y = small_problem(Estimator, n_samples=50, n_features=4)
    est = Estimator(hidden_layer_sizes=(5, 3), max_iter=3, random_state=0).fit(X, y)
    net = est.network_
    for l, (coef, intercept) in enumerate(zip(est.coefs_, est.intercepts_)):
        assert coef.flags.writeable and intercept.flags.writeable
        assert np.shares_memory(coef, net.params) and np.shares_memory(intercept, net.params)
        assert_array_equal(coef, net.weights[l].T)
        assert_array_equal(intercept, net.biases[l])
    before = est.predict(X)
    est.coefs_[0][...] = 0.0
    assert np.all(net.weights[0] == 0.0)
    est.intercepts_[-1][...] = 7.0
    assert np.all(net.biases[-1] == 7.0)
    assert not np.array_equal(est.predict(X), before)
    # Writing into the flat vector shows through the views too.
    net.params[...] = 0.25
    assert all(np.all(block == 0.25) for block in est.coefs_ + est.intercepts_)


def test_assigning_coefs_and_intercepts():
    X, y = regression(n_samples=40, n_features=3)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    rng = np.random.RandomState(0)
    coefs = [rng.normal(size=(3, 4)), rng.normal(size=(4, 1))]
    intercepts = [rng.normal(size=4), rng.normal(size=1)]
    params = est.network_.params
    est.coefs_ = coefs
    est.intercepts_ = intercepts
    assert est.network_.params is params  # copied in, not rebound
    for got, expected in zip(est.coefs_ + est.intercepts_, coefs + intercepts):
        assert_array_equal(got, expected)
        assert np.shares_memory(got, params)
    coefs[0][0, 0] = 1000.0  # the estimator holds copies
    assert est.coefs_[0][0, 0] != 1000.0
    # Lists of lists do as well.
    est.intercepts_ = [[0.0] * 4, [1.0]]
    assert_array_equal(est.network_.biases[1], [1.0])


def test_assigning_coefs_of_wrong_shapes_raises():
    X, y = regression(n_samples=40, n_features=3)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    saved = est.network_.params.copy()
    good = re.escape("[(3, 4), (4, 1)]")
    for wrong in ([np.zeros((4, 3)), np.zeros((4, 1))],  # transposed
                  [np.zeros((3, 4))],  # too few
                  [np.zeros((3, 4)), np.zeros((4, 1)), np.zeros((1, 1))]):  # too many
        given = re.escape(str([np.shape(w) for w in wrong]))
        with pytest.raises(ValueError, match=rf"coefs_ must have the shapes {good}, got {given}"):
            est.coefs_ = wrong
    with pytest.raises(ValueError, match=re.escape("intercepts_ must have the shapes "
                                                   "[(4,), (1,)], got [(4,), (2,)]")):
        est.intercepts_ = [np.zeros(4), np.zeros(2)]
    assert_array_equal(est.network_.params, saved)  # nothing was written
    with pytest.raises(ValueError, match=re.escape("coefs_[1] must have the shapes [(4, 1)], "
                                                   "got [(1, 4)]")):
        est.coefs_[1] = np.zeros((1, 4))
    with pytest.raises(TypeError, match=re.escape("assign coefs_ whole, or one at a time")):
        est.coefs_[:] = [np.zeros((3, 4)), np.zeros((4, 1))]
    assert_array_equal(est.network_.params, saved)
    with pytest.raises(AttributeError, match="before it is fitted"):
        nnbp.MLPRegressor().coefs_


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_assigning_one_block_writes_into_the_network(Estimator):
    """estimator.coefs_[l] = W changes the model, as in scikit-learn."""
    X, y = small_problem(Estimator, n_samples=40, n_features=5)
    est = Estimator(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    before = network_outputs(est, X)
    coef = np.full(est.coefs_[0].shape, 0.5)
    est.coefs_[0] = coef
    est.intercepts_[1] = np.zeros(est.intercepts_[1].shape)
    assert_array_equal(est.network_.weights[0], coef.T)
    assert np.all(est.network_.biases[1] == 0)
    assert not np.array_equal(network_outputs(est, X), before)
    coef[...] = 2.0  # the network holds a copy
    assert np.all(est.coefs_[0] == 0.5)


def full_batch_sgd_step(est, X, y, learning_rate):
    """(the loss, the parameters) of one full-batch step of plain sgd from est's network."""
    net = est.network_.copy()
    targets = np.searchsorted(est.classes_, y) if net.output == "softmax" else y
    loss, grad = net.loss_and_grad(X, targets)
    return loss, net.params - learning_rate * grad


@pytest.mark.parametrize("method", ["partial_fit", "warm_start"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_parameters_assigned_before_fitting_are_the_start(Estimator, method):
    """Assigned to an unfitted estimator, coefs_ and intercepts_ are the initial parameters
    of partial_fit and of a warm-start fit, as in scikit-learn (its test_fit)."""
    X, y = small_problem(Estimator, n_samples=30, n_features=5)
    options = dict(hidden_layer_sizes=(4,), solver="sgd", momentum=0.0, learning_rate_init=0.1,
                   batch_size=len(X), max_iter=1, random_state=0)
    reference = Estimator(**options).fit(X, y)  # only for the shapes and the targets' layout
    rng = np.random.RandomState(1)
    coefs = [rng.uniform(-1, 1, c.shape) for c in reference.coefs_]
    intercepts = [rng.uniform(-1, 1, b.shape) for b in reference.intercepts_]
    assigned = [block.copy() for block in coefs + intercepts]
    est = Estimator(**options, warm_start=method == "warm_start")
    est.coefs_ = [None, None]  # scikit-learn's test fills the list in afterwards
    est.coefs_[0], est.coefs_[1] = coefs
    est.intercepts_ = intercepts
    assert est.coefs_[0] is coefs[0] and not hasattr(est, "network_")
    if method == "partial_fit":
        classes = {"classes": np.unique(y)} if Estimator is nnbp.MLPClassifier else {}
        est.partial_fit(X, y, **classes)
    else:
        est.fit(X, y)
    reference.coefs_, reference.intercepts_ = coefs, intercepts
    loss, expected = full_batch_sgd_step(reference, X, y, learning_rate=0.1)
    assert est.loss_curve_ == [pytest.approx(loss, rel=1e-12)]
    assert_allclose(est.network_.params, expected, rtol=1e-12, atol=1e-15)
    for given, before in zip(coefs + intercepts, assigned):
        assert_array_equal(given, before)  # the caller's arrays are not modified
    assert all(np.shares_memory(block, est.network_.params) for block in est.coefs_)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_fresh_fit_ignores_parameters_assigned_before(Estimator):
    X, y = small_problem(Estimator, n_samples=30, n_features=5)
    drawn = Estimator(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    est = Estimator(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    est.coefs_ = [np.zeros(c.shape) for c in drawn.coefs_]
    est.intercepts_ = [np.zeros(b.shape) for b in drawn.intercepts_]
    est.fit(X, y)  # warm_start=False: drawn as scikit-learn draws, as always
    assert_array_equal(est.network_.params, drawn.network_.params)


def test_parameters_assigned_before_fitting_are_checked():
    X, y = regression(n_samples=30, n_features=3)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", max_iter=1, warm_start=True)
    est.coefs_ = [np.zeros((3, 4)), np.zeros((4, 1))]
    with pytest.raises(ValueError, match="intercepts_ must be assigned too"):
        est.fit(X, y)
    est.intercepts_ = [np.zeros(4), np.zeros(2)]
    with pytest.raises(ValueError, match=re.escape("intercepts_ must have the shapes [(4,), (1,)], "
                                                   "got [(4,), (2,)]")):
        est.fit(X, y)
    est.intercepts_ = [np.zeros(4), np.array([np.nan])]
    with pytest.raises(ValueError, match="assigned before fitting hold NaN or infinity"):
        est.fit(X, y)
    assert not hasattr(est, "network_")
    est.intercepts_ = [np.zeros(4), np.zeros(1)]
    est.fit(X, y)
    assert est.n_layers_ == 3 and est.n_outputs_ == 1 and est.out_activation_ == "identity"


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_continues_from_assigned_parameters(Estimator):
    """loss_curve_ holds, for each epoch, the mean of its batch losses, each at the
    parameters before that batch's update. One full-batch epoch: its entry is the loss
    at the starting parameters, the ones assigned."""
    X, y = small_problem(Estimator, n_samples=60, n_features=4)
    est = Estimator(hidden_layer_sizes=(5,), solver="sgd", alpha=0.01, max_iter=3,
                    random_state=0).fit(X, y)
    n_epochs = len(est.loss_curve_)
    rng = np.random.RandomState(1)
    est.coefs_ = [rng.uniform(-1, 1, c.shape) for c in est.coefs_]
    est.intercepts_ = [rng.uniform(-1, 1, b.shape) for b in est.intercepts_]
    assigned = est.network_.params.copy()
    if Estimator is nnbp.MLPClassifier:  # softmax: the network takes class indices
        targets = np.searchsorted(est.classes_, y)
    else:
        targets = y
    expected = est.network_.loss(X, targets)
    assert expected != pytest.approx(est.loss_curve_[-1], rel=1e-3)  # it did change
    est.set_params(warm_start=True, max_iter=1, batch_size=len(X), learning_rate_init=1e-12)
    est.fit(X, y)
    # Warm starts extend loss_curve_, as scikit-learn's do: the new epoch is the last.
    assert len(est.loss_curve_) == n_epochs + 1
    assert est.loss_curve_[-1] == pytest.approx(expected, rel=1e-12)
    assert_allclose(est.network_.params, assigned, rtol=0, atol=1e-9)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_cold_start_ignores_assigned_parameters(Estimator):
    X, y = small_problem(Estimator, n_samples=40)
    est = Estimator(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    first = est.network_.params.copy()
    est.coefs_ = [np.zeros(c.shape) for c in est.coefs_]
    est.fit(X, y)  # warm_start=False: a new network, drawn as before
    assert_array_equal(est.network_.params, first)


# ---------------------------------------------------------------- 6. dtypes


@pytest.mark.parametrize("X_dtype, dtype, expected", [
    (np.float32, None, np.float32),
    (np.float64, None, np.float64),
    (np.int64, None, np.float64),
    (np.int32, None, np.float64),
    (np.float64, "float32", np.float32),
    (np.float64, np.float32, np.float32),
    (np.float32, "float64", np.float64),
])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_dtype(Estimator, X_dtype, dtype, expected):
    X, y = small_problem(Estimator, n_samples=50)
    X = (10 * X).astype(X_dtype)
    est = Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0, dtype=dtype).fit(X, y)
    assert est.network_.dtype == expected and est.network_.params.dtype == expected
    assert all(block.dtype == expected for block in est.coefs_ + est.intercepts_)
    # The outputs have scikit-learn's dtype: numpy's type of X's values times
    # the weights (float64 from a float32 network on float64 or int64 X).
    # tests/test_estimators_follow_sklearn.py compares every pair with it.
    predict = est.predict_proba if Estimator is nnbp.MLPClassifier else est.predict
    for X_in in (X, X.astype(np.float32), X.astype(np.float64)):
        output = np.result_type(X_in.dtype, expected)
        assert predict(X_in).dtype == output
        if Estimator is nnbp.MLPClassifier:
            assert est.predict_log_proba(X_in).dtype == output


# ---------------------------------------------------------------- 7. bad input


@pytest.mark.parametrize("params, match", [
    (dict(learning_rate_init=0.0), r"'learning_rate_init' parameter .* range \(0\.0, inf\)"),
    (dict(learning_rate_init=-0.1), r"'learning_rate_init' parameter .* Got -0\.1"),
    (dict(batch_size=0), r"'batch_size' parameter .* range \[1, inf\)"),
    (dict(batch_size=-5), r"'batch_size' parameter"),
    (dict(learning_rate="cyclic"), r"'learning_rate' parameter .* Got 'cyclic'"),
    (dict(activation="swish"), r"'activation' parameter .* Got 'swish'"),
    (dict(momentum=1.5), r"'momentum' parameter .* range \[0\.0, 1\.0\]\. Got 1\.5"),
    (dict(validation_fraction=1.0), r"'validation_fraction' parameter .* range \[0\.0, 1\.0\)"),
    (dict(hidden_layer_sizes=(5, 0)), r"hidden_layer_sizes must be > 0, got \[5, 0\]"),
    (dict(hidden_layer_sizes=0), r"hidden_layer_sizes"),
    (dict(init="xavier"), r"'init' parameter .* Got 'xavier'"),
    (dict(dtype="float16"), r"'dtype' parameter .* Got 'float16'"),
])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_bad_parameters(Estimator, params, match):
    X, y = small_problem(Estimator, n_samples=20)
    with pytest.raises(ValueError, match=match):
        Estimator(max_iter=2, **params).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unknown_solver_lists_the_valid_ones(Estimator):
    X, y = small_problem(Estimator, n_samples=20)
    with pytest.raises(ValueError, match="'solver' parameter") as raised:
        Estimator(solver="newton").fit(X, y)
    for valid in SOLVERS:
        assert f"'{valid}'" in str(raised.value)
    with pytest.raises(ValueError, match="'learning_rate' parameter") as raised:
        Estimator(learning_rate="cyclic").fit(X, y)
    for valid in ("constant", "invscaling", "adaptive", "cosine"):
        assert f"'{valid}'" in str(raised.value)


def test_partial_fit_with_unknown_classes():
    X, y = classification(n_samples=60, n_classes=3)
    est = nnbp.MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    est.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        est.partial_fit(X, np.where(y == 2, 3, y))
    fresh = nnbp.MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match=r"`y` has classes not in `self.classes_`"):
        fresh.partial_fit(X, y, classes=[0, 1])  # the first call, too


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_needs_a_stochastic_solver(Estimator):
    X, y = small_problem(Estimator, n_samples=20)
    est = Estimator(solver="lbfgs")
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        est.partial_fit(X, y)
    assert hasattr(Estimator(solver="sgd"), "partial_fit")
    assert hasattr(Estimator(solver="adam"), "partial_fit")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_refuses_early_stopping(Estimator):
    X, y = small_problem(Estimator, n_samples=40)
    est = Estimator(early_stopping=True, random_state=0)
    kwargs = dict(classes=np.unique(y)) if Estimator is nnbp.MLPClassifier else {}
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        est.partial_fit(X, y, **kwargs)


@pytest.mark.parametrize("value, what", [(np.nan, "NaN"), (np.inf, "infinity")])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_non_finite_input(Estimator, value, what):
    X, y = small_problem(Estimator, n_samples=30)
    est = Estimator(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    bad_X = X.copy()
    bad_X[4, 1] = value
    with pytest.raises(ValueError, match=f"Input X contains {what}"):
        est.fit(bad_X, y)
    bad_y = y.astype(np.float64)
    bad_y[4] = value
    with pytest.raises(ValueError, match=f"Input y contains {what}"):
        est.fit(X, bad_y)
    est.fit(X, y)
    with pytest.raises(ValueError, match=f"Input X contains {what}"):
        est.predict(bad_X)
    if Estimator is nnbp.MLPRegressor:
        with pytest.raises(ValueError, match=f"Input y contains {what}"):
            Estimator(hidden_layer_sizes=(3,)).partial_fit(X, bad_y)
    with pytest.raises(ValueError, match=f"Input X contains {what}"):
        est.score(bad_X, y)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_a_stochastic_fit_passes_over_x_s_values_once(Estimator, early_stopping, monkeypatch):
    # scikit-learn's validation checks X's values; the network's data check, which
    # used to make a second pass with nnbp's kernel, takes them as checked.
    X, y = small_problem(Estimator, n_samples=60)
    passes = []
    all_finite = nnbp._core.all_finite
    monkeypatch.setattr(nnbp._core, "all_finite",
                        lambda x: passes.append(x.size) or all_finite(x))
    est = Estimator(hidden_layer_sizes=(3,), max_iter=2, early_stopping=early_stopping,
                    random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        est.max_iter, est.early_stopping = 1, False
        est.partial_fit(X, y)
    n_train = X.shape[0] - (6 if early_stopping else 0)
    assert passes and not {n_train * X.shape[1], X.size} & set(passes), passes


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_after_a_fit_with_early_stopping_watches_the_loss(Estimator):
    # scikit-learn's raises a TypeError here (its best_loss_ is None after early stopping).
    X, y = small_problem(Estimator, n_samples=60)
    est = Estimator(hidden_layer_sizes=(3,), max_iter=2, early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.best_loss_ is None
    est.early_stopping = False
    est.partial_fit(X, y)
    assert est.best_loss_ == est.loss_ == est.loss_curve_[-1]
    assert est._no_improvement_count == 0
    est.partial_fit(X, y)
    assert est.best_loss_ == min(est.loss_curve_[-2:])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_wrong_number_of_features(Estimator):
    X, y = small_problem(Estimator, n_samples=30)
    est = Estimator(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
    n_features = X.shape[1]
    message = f"X has {n_features - 1} features, but {Estimator.__name__} is expecting " \
              f"{n_features} features as input"
    with pytest.raises(ValueError, match=message):
        est.predict(X[:, 1:])
    with pytest.raises(ValueError, match=message):
        est.score(X[:, 1:], y)
    if Estimator is nnbp.MLPClassifier:
        with pytest.raises(ValueError, match=message):
            est.predict_proba(X[:, 1:])
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X[:, 1:], y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        est.predict(X[0])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_before_fit(Estimator):
    X, _ = small_problem(Estimator, n_samples=10)
    est = Estimator()
    methods = ["predict", "score"] + (["predict_proba", "predict_log_proba"]
                                      if Estimator is nnbp.MLPClassifier else [])
    for method in methods:
        args = (X, np.zeros(10)) if method == "score" else (X,)
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(est, method)(*args)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_sparse_input_is_taken_as_scikit_learn_takes_it(Estimator):
    # Any scipy format, converted to CSR once; predictions on sparse X are
    # those on the same rows dense. (tests/test_sparse.py and the sparse
    # section of tests/test_estimators_follow_sklearn.py go further.)
    X, y = small_problem(Estimator, n_samples=30)
    X[X < 0.5] = 0.0
    assert Estimator().__sklearn_tags__().input_tags.sparse
    est = Estimator(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    est.fit(sparse.lil_matrix(X), y)
    np.testing.assert_allclose(est.predict(sparse.coo_array(X)), est.predict(X), rtol=1e-12)
    with pytest.raises(ValueError, match="X has 4 features, but"):
        est.predict(sparse.csr_matrix(X[:, :4]))


def test_warm_start_with_another_number_of_outputs():
    X, y = regression(n_samples=40, n_targets=2)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0,
                            warm_start=True).fit(X, y[:, 0])
    with pytest.raises(ValueError, match="y has 2 outputs, but the network was fitted with 1"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="y has 2 outputs, but the network was fitted with 1"):
        est.partial_fit(X, y)
    est.set_params(warm_start=False).fit(X, y)  # a cold start may change them
    assert est.n_outputs_ == 2


def test_warm_start_with_other_classes():
    X, y = classification(n_samples=60, n_classes=3)
    est = nnbp.MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0,
                             warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same "
                                         "classes"):
        est.fit(X, np.where(y == 2, 1, y))


def caller_arrays(Estimator, X_dtype, order):
    X, y = small_problem(Estimator, n_samples=40)
    if Estimator is nnbp.MLPRegressor:
        y = np.column_stack([y, -y])
    X = np.asarray(X, dtype=X_dtype, order=order)
    weight = np.linspace(0.5, 2.0, len(X))
    return X, y, weight


@pytest.mark.parametrize("X_dtype, order", [(np.float64, "C"), (np.float32, "C"),
                                            (np.float64, "F")])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_the_callers_arrays_are_not_modified(Estimator, solver, X_dtype, order):
    X, y, weight = caller_arrays(Estimator, X_dtype, order)
    copies = X.copy(order="K"), y.copy(), weight.copy()

    def unchanged():
        for array, copy in zip((X, y, weight), copies):
            assert_array_equal(array, copy)
            assert array.dtype == copy.dtype

    for options in (dict(), dict(early_stopping=True), dict(shuffle=False)):
        est = Estimator(hidden_layer_sizes=(4,), solver=solver, max_iter=3, random_state=0,
                        **options)
        est.fit(X, y, sample_weight=weight)
        unchanged()
        est.predict(X)
        if Estimator is nnbp.MLPClassifier:
            est.predict_proba(X)
            est.predict_log_proba(X)
        est.score(X, y, sample_weight=weight)
        unchanged()
    if solver != "lbfgs":
        est = Estimator(hidden_layer_sizes=(4,), solver=solver, random_state=0)
        kwargs = dict(classes=np.unique(y)) if Estimator is nnbp.MLPClassifier else {}
        est.partial_fit(X, y, sample_weight=weight, **kwargs)
        est.partial_fit(X, y, sample_weight=weight)
        unchanged()


# ---------------------------------------------------------------- 8. divergence


def divergent_regression():
    """Unscaled inputs and large targets: sgd at learning rate 1e10 overflows."""
    X, y = make_regression(n_samples=40, n_features=4, noise=1.0, random_state=0)
    return X, 1000.0 * y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_divergence_raises_and_keeps_finite_parameters(dtype):
    X, y = divergent_regression()
    options = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, learning_rate_init=1e10,
                   batch_size=len(X), max_iter=50, random_state=0, dtype=dtype)
    est = nnbp.MLPRegressor(**options)
    with pytest.raises(nnbp.DivergenceError, match=r"inf or nan (at|in) .*epoch \d+") as raised:
        est.fit(X, y)
    assert isinstance(raised.value, ValueError)
    # scikit-learn's words first, which its users match on.
    assert re.match(r"Solver produced non-finite parameter weights\. The input data may contain "
                    r"large values and need to be preprocessed\. The (training loss|parameters) "
                    r"became inf or nan", str(raised.value))
    epoch = int(re.search(r"epoch (\d+)", str(raised.value)).group(1))
    assert np.all(np.isfinite(est.network_.params))
    # The epochs before the one named were recorded, and their parameters kept: one
    # batch an epoch, so they are those of a fit that stops just before it.
    assert len(est.loss_curve_) == est.n_iter_ == epoch - 1
    assert np.all(np.isfinite(est.loss_curve_))
    assert epoch > 1
    before = nnbp.MLPRegressor(**{**options, "max_iter": epoch - 1}).fit(X, y)
    assert_array_equal(est.network_.params, before.network_.params)


# Before it diverges, r2_score squares huge errors, as scikit-learn's own fit does.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_divergence_with_early_stopping_keeps_the_best_parameters():
    """As scikit-learn does since its issue #29504: the fit ends with a warning, the
    diverged epoch scoring nan, and the parameters that scored best are kept."""
    X, y = regression(n_samples=40, n_features=4)
    options = dict(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=0.6, max_iter=50,
                   early_stopping=True, validation_fraction=0.25, random_state=0)
    est = nnbp.MLPRegressor(**options)
    with pytest.warns(ConvergenceWarning, match=r"Training diverged: the training loss became "
                      r"inf or nan at batch 1 of epoch 14\. The network keeps the parameters "
                      r"that scored best on the validation set"):
        est.fit(X, y)
    assert est.n_iter_ == len(est.loss_curve_) == len(est.validation_scores_) == 14
    assert np.isnan(est.loss_curve_[-1]) and np.isnan(est.loss_)
    assert np.isnan(est.validation_scores_[-1])
    assert np.all(np.isfinite(est.loss_curve_[:-1]))
    best_epoch = int(np.nanargmax(est.validation_scores_)) + 1
    assert 1 < best_epoch < 13
    assert est.best_validation_score_ == est.validation_scores_[best_epoch - 1]
    # The parameters of that epoch: those a fit that stops there keeps.
    best = nnbp.MLPRegressor(**{**options, "max_iter": best_epoch}).fit(X, y)
    assert_array_equal(est.network_.params, best.network_.params)


def test_divergence_with_early_stopping_but_no_best_raises():
    """Diverging in the first epoch, before any validation score: nothing to keep."""
    X, y = divergent_regression()
    est = nnbp.MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0,
                            learning_rate_init=1e10, batch_size=5, early_stopping=True,
                            random_state=0)
    with pytest.raises(nnbp.DivergenceError, match=r"^Solver produced non-finite parameter "
                       r"weights\. .* The training loss became inf or nan at batch \d+ of epoch 1;"):
        est.fit(X, y)
    assert np.all(np.isfinite(est.network_.params))


def test_divergence_of_the_trainer_keeps_finite_parameters():
    X, y = divergent_regression()
    net = nnbp.Network([4, 5, 1], output="squared", seed=0)
    start = net.copy()
    trainer = nnbp.StochasticTrainer(net, nnbp.SGD(1e10, momentum=0.0), batch_size=len(X),
                                     shuffle=False)
    with pytest.raises(nnbp.DivergenceError, match=r"inf or nan (at|in) .*epoch \d+") as raised:
        trainer.fit(X, y, max_epochs=50)
    assert isinstance(raised.value, ValueError)
    assert np.all(np.isfinite(net.params))
    epoch = int(re.search(r"epoch (\d+)", str(raised.value)).group(1))
    assert len(trainer.loss_curve) == epoch - 1 and np.all(np.isfinite(trainer.loss_curve))
    assert epoch > 1
    nnbp.StochasticTrainer(start, nnbp.SGD(1e10, momentum=0.0), batch_size=len(X),
                           shuffle=False).fit(X, y, max_epochs=epoch - 1)
    assert_array_equal(net.params, start.params)
    # Minibatches too: the error names the batch, and the parameters stay finite.
    net = nnbp.Network([4, 5, 1], output="squared", seed=0)
    trainer = nnbp.StochasticTrainer(net, nnbp.SGD(1e10, momentum=0.0), batch_size=10,
                                     random_state=np.random.RandomState(0))
    with pytest.raises(nnbp.DivergenceError, match=r"batch \d+ of epoch \d+"):
        trainer.fit(X, y, max_epochs=50)
    assert np.all(np.isfinite(net.params))


# ---------------------------------------------------------------- 9. reproducibility


@pytest.mark.parametrize("init", ["glorot", "he"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_same_random_state_same_parameters(Estimator, solver, init):
    X, y = small_problem(Estimator, n_samples=80)
    options = dict(hidden_layer_sizes=(6, 4), solver=solver, shuffle=True, batch_size=16,
                   max_iter=5, init=init)
    first = Estimator(random_state=3, **options).fit(X, y)
    second = Estimator(random_state=3, **options).fit(X, y)
    for a, b in zip(first.coefs_ + first.intercepts_, second.coefs_ + second.intercepts_):
        assert_array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_
    other = Estimator(random_state=4, **options).fit(X, y)
    assert not np.array_equal(other.network_.params, first.network_.params)


# ---------------------------------------------------------------- 10. without scikit-learn

BLOCKERS = {
    "meta path finder": """
        import importlib.abc

        class NoSklearn(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "sklearn" or name.startswith("sklearn."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoSklearn())
    """,
    "sys.modules None": """
        sys.modules["sklearn"] = None
    """,
}

WITHOUT_SKLEARN = """
    import numpy as np

    try:
        import sklearn
    except ImportError:
        pass
    else:
        raise AssertionError("scikit-learn was not blocked")

    import nnbp
    assert not any(name == "sklearn" or name.startswith("sklearn.") for name in sys.modules
                   if sys.modules[name] is not None), "import nnbp imported scikit-learn"

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, size=30)
    net = nnbp.Network([3, 4, 2], activation="tanh", output="softmax", seed=0)
    before = net.loss(X, y)
    trainer = nnbp.StochasticTrainer(net, nnbp.SGD(0.1), batch_size=10,
                                     random_state=np.random.default_rng(0))
    trainer.fit(X, y, max_epochs=5)
    assert len(trainer.loss_curve) == 5 and net.loss(X, y) < before
    nnbp.minimize_lbfgs(net, X, y, max_iter=5)
    assert net.forward(X).shape == (30, 2)
    assert nnbp.check_gradients(net, X[:5], y[:5]).passed

    for name in ("MLPClassifier", "MLPRegressor"):
        try:
            getattr(nnbp, name)
        except ImportError as error:
            assert "pip install 'nnbp[sklearn]'" in str(error), str(error)
        else:
            raise AssertionError(f"nnbp.{name} did not raise ImportError")
    try:
        from nnbp import MLPRegressor
    except ImportError as error:
        assert "pip install 'nnbp[sklearn]'" in str(error), str(error)
    else:
        raise AssertionError("from nnbp import MLPRegressor did not raise ImportError")
    print("OK")
"""


@pytest.mark.parametrize("blocker", list(BLOCKERS))
def test_import_nnbp_without_sklearn(blocker, tmp_path):
    code = "import sys\n" + textwrap.dedent(BLOCKERS[blocker]) + textwrap.dedent(WITHOUT_SKLEARN)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"


# ---------------------------------------------------------------- the plain input's path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_plain_input_skips_validation_with_the_same_answers_and_refusals(Estimator, dtype):
    # A finite C-contiguous array of the network's dtype and width goes
    # straight to the network; any other input through scikit-learn's
    # validation: the answers are the same, and so are the refusals.
    X, y = classification() if Estimator is nnbp.MLPClassifier else regression()
    model = Estimator(hidden_layer_sizes=(8,), max_iter=5, random_state=0,
                      dtype=dtype).fit(X, y)
    plain = X.astype(np.float32).astype(dtype)      # values that both dtypes hold exactly
    for other in (plain.astype(np.float32 if dtype == np.float64 else np.float64),
                  np.asfortranarray(plain), plain.tolist(), plain[::-1][::-1]):
        np.testing.assert_array_equal(model.predict(other), model.predict(plain))
    for rows in (plain[:1], plain):
        assert np.array_equal(model._forward(model._fitted(), rows), model.network_.forward(rows))
    bad = plain[:2].copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.predict(bad)
    with pytest.raises(ValueError, match=f"X has {X.shape[1] - 1} features, but "
                                         f"{Estimator.__name__} is expecting {X.shape[1]}"):
        model.predict(plain[:, :-1].copy())


# ---------------------------------------------------------------- predicting while refitted


class _PausedRefit:
    """A refit of est in another thread, paused where its new data are checked but its
    network is not yet built: the moment a predict in another thread used to mix the two."""

    def __init__(self, est, X, y):
        self.checked, self.go_on = threading.Event(), threading.Event()
        initialize = est._initialize

        def paused_initialize(*args, **kwargs):
            self.checked.set()
            assert self.go_on.wait(60)
            return initialize(*args, **kwargs)

        est._initialize = paused_initialize
        self.thread = threading.Thread(target=est.fit, args=(X, y))
        self.est = est

    def __enter__(self):
        self.thread.start()
        assert self.checked.wait(60)
        return self

    def __exit__(self, *exc):
        self.go_on.set()
        self.thread.join(60)
        del self.est._initialize


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_during_a_refit_on_another_width_checks_x_against_the_network_it_uses(Estimator):
    X, y = small_problem(Estimator, n_samples=60, n_features=40)
    narrow = np.ascontiguousarray(X[:, :3])
    est = Estimator(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    predict = est.predict_proba if Estimator is nnbp.MLPClassifier else est.predict
    with _PausedRefit(est, narrow, y):
        # The 40-wide network is still the one fitted: a 3-wide X is refused by
        # name, whatever n_features_in_ says meanwhile, and never read past its end.
        for X_new in (narrow, narrow.astype(np.float32), narrow.tolist()):
            with pytest.raises(ValueError, match="X has 3 features, but"):
                predict(X_new)
    assert est.n_features_in_ == 3 and est.network_.layer_sizes[0] == 3
    assert predict(narrow).shape[0] == 60


def test_predict_during_a_refit_with_other_classes_reads_one_fitted_state():
    X, y = classification(n_samples=60, n_classes=3)
    est = nnbp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    est.fit(X, np.minimum(y, 1))     # binary: one logistic output
    before = est.predict(X), est.predict_proba(X), est.score(X, np.minimum(y, 1))
    with _PausedRefit(est, X, y):
        # classes_ are the new three already; the network and the classes
        # predict reads are the binary model's, together.
        assert_array_equal(est.predict(X), before[0])
        assert_array_equal(est.predict_proba(X), before[1])
        assert est.score(X, np.minimum(y, 1)) == before[2]
    assert est.predict_proba(X).shape == (60, 3)


REFIT_WHILE_PREDICTING = """
import json, threading, time, warnings
import numpy as np
import nnbp

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
wide, narrow = rng.standard_normal((2000, 300)), rng.standard_normal((2000, 3))
y = (wide[:, 0] > 0).astype(int)
est = nnbp.MLPClassifier(hidden_layer_sizes=(20,), max_iter=1, random_state=0).fit(wide, y)
stop = threading.Event()

def refit():
    while not stop.is_set():
        for X in (narrow, wide):
            est.fit(X, y)

thread = threading.Thread(target=refit, daemon=True)
thread.start()
outcomes = {"answers": 0, "refused": 0, "bad": []}
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    for method in (est.predict_proba, est.predict):
        try:
            answer = method(narrow)
        except ValueError as error:
            if "features" not in str(error):
                outcomes["bad"].append(repr(error))
            outcomes["refused"] += 1
            continue
        except Exception as error:
            outcomes["bad"].append(repr(error))
            continue
        if method is est.predict_proba and not (
                answer.shape == (2000, 2) and np.isfinite(answer).all()
                and np.allclose(answer.sum(axis=1), 1)):
            outcomes["bad"].append("not probabilities")
        outcomes["answers"] += 1
stop.set()
thread.join(60)
print(json.dumps(outcomes))
"""


def test_predicting_while_another_thread_refits_on_other_widths_is_memory_safe(tmp_path):
    # In a child process: reading past X's end may crash it. It imports the
    # nnbp this process imports (the checkout's top may hold one unbuilt).
    where = pathlib.Path(nnbp.__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", REFIT_WHILE_PREDICTING], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(where)})
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    assert not outcomes["bad"], outcomes["bad"][:3]
    assert outcomes["answers"] > 0 and outcomes["refused"] > 0


# ---------------------------------------------------------------- the parameters that fix the network


@pytest.mark.parametrize("hidden_layer_sizes", [(4.0,), (4, 2.5), (True,), ("4",), [[4]],
                                                (2**31,), (2**16, 2**16)])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_bad_hidden_layer_sizes_are_named_as_passed(Estimator, hidden_layer_sizes):
    X, y = small_problem(Estimator, n_samples=20)
    est = Estimator(hidden_layer_sizes=hidden_layer_sizes, max_iter=2)
    with pytest.raises((TypeError, ValueError), match="hidden_layer_sizes") as raised:
        est.fit(X, y)
    assert "layer_sizes must" not in str(raised.value).replace("hidden_layer_sizes", "")
    assert not check_is_fitted_or_false(est)


def check_is_fitted_or_false(est):
    try:
        check_is_fitted(est)
    except NotFittedError:
        return False
    return True


@pytest.mark.parametrize("hidden_layer_sizes", [(4,), [4, 3], np.array([4, 3]), 4,
                                                (np.int32(4),), ()])
def test_hidden_layer_sizes_as_scikit_learn_takes_them(hidden_layer_sizes):
    X, y = classification(n_samples=30)
    est = nnbp.MLPClassifier(hidden_layer_sizes=hidden_layer_sizes, max_iter=2).fit(X, y)
    sizes = list(np.atleast_1d(hidden_layer_sizes))
    assert list(est.network_.layer_sizes) == [X.shape[1], *sizes, 3]


# Each parameter that fixes the network's shape, output or dtype, with a
# value other than the fitted network's.
CHANGED_NETWORK_PARAMETERS = [
    (nnbp.MLPClassifier, dict(hidden_layer_sizes=(7,))),
    (nnbp.MLPClassifier, dict(hidden_layer_sizes=(5, 5))),
    (nnbp.MLPClassifier, dict(dtype="float32")),
    (nnbp.MLPRegressor, dict(hidden_layer_sizes=(7,))),
    (nnbp.MLPRegressor, dict(loss="poisson")),
    (nnbp.MLPRegressor, dict(dtype=np.float32)),
]


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
@pytest.mark.parametrize("Estimator, changed", CHANGED_NETWORK_PARAMETERS)
def test_continuing_with_a_changed_network_parameter_is_refused_by_name(Estimator, changed, how):
    X, y = small_problem(Estimator, n_samples=40)
    y = np.abs(y)   # poisson targets
    est = Estimator(hidden_layer_sizes=(5,), max_iter=3, random_state=0, solver="sgd",
                    warm_start=how == "warm_start")
    if how == "warm_start":
        est.fit(X, y)
    else:
        est.partial_fit(X, y, **({"classes": np.unique(y)} if is_classifier(est) else {}))
    fitted = est.network_, est.network_.params.copy(), est.n_iter_
    est.set_params(**changed)
    name = next(iter(changed))
    continue_fit = est.fit if how == "warm_start" else est.partial_fit
    with pytest.raises(ValueError, match=f"{name}=.*but the network .*fitted .*warm_start=False"):
        continue_fit(X, y)
    # Nothing changed: the network, its parameters and the fitted attributes.
    assert est.network_ is fitted[0] and est.n_iter_ == fitted[2]
    assert_array_equal(est.network_.params, fitted[1])
    # A fresh fit builds the network the parameters ask for.
    est.set_params(warm_start=False).fit(X, y)
    if name == "hidden_layer_sizes":
        assert est.network_.layer_sizes[1:-1] == tuple(changed[name])
    elif name == "loss":
        assert est.network_.output == "poisson" and est.out_activation_ == "exp"
    else:
        assert est.network_.dtype == np.dtype(changed[name])


@pytest.mark.parametrize("changed", [dict(activation="tanh"), dict(alpha=0.5),
                                     dict(hidden_layer_sizes=[5]), dict(dtype=None)])
def test_warm_start_goes_on_where_the_network_still_matches(changed, tmp_path):
    # activation and alpha are the network's to follow (as scikit-learn's
    # warm start follows them); [5] is (5,); dtype=None follows the network.
    X, y = classification(n_samples=40)
    est = nnbp.MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0,
                             warm_start=True, dtype="float64").fit(X, y)
    net = est.network_
    est.set_params(**changed).fit(X.astype(np.float32), y)
    assert est.network_ is net and est.n_iter_ == 3
    assert (net.activation, net.alpha) == (est.activation, est.alpha)
    est.save(tmp_path / "model.npz")
    loaded = nnbp.load(tmp_path / "model.npz")
    assert loaded.network_.activation == loaded.activation
    assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


# ---------------------------------------------------------------- early stopping's split


def test_early_stopping_fits_classes_too_small_to_stratify():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    # 60 rows of 10 classes: 6 held-out rows cannot hold every class.
    est = nnbp.MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=5,
                             random_state=0).fit(X[:60], y[:60])
    assert len(est.validation_scores_) == est.n_iter_ == 5
    # A class of one member.
    X, y = classification(n_samples=60, n_classes=3)
    y[0] = 3
    est.fit(X, y)
    assert_array_equal(est.classes_, [0, 1, 2, 3])
    assert len(est.validation_scores_) == est.n_iter_


def test_cross_val_score_with_a_rare_class_scores_every_fold():
    X, y = classification(n_samples=100, n_classes=3)
    y[:2] = 3   # two members: a training fold may hold one of them, or none
    params = dict(hidden_layer_sizes=(8,), early_stopping=True, max_iter=50,
                  learning_rate_init=0.01, random_state=0)
    with pytest.warns(UserWarning, match="least populated class"):
        # error_score=nan, where a fit fails: as scikit-learn's, none does.
        scores = cross_val_score(nnbp.MLPClassifier(**params), X, y, cv=5)
        sklearns = cross_val_score(neural_network.MLPClassifier(**params), X, y, cv=5)
    assert np.isfinite(sklearns).all()
    assert np.isfinite(scores).all()


def test_early_stopping_still_refuses_a_binary_class_of_one_member():
    # scikit-learn stratifies binary splits, and refuses this one: so does nnbp.
    X, y = classification(n_samples=40, n_classes=2)
    y[:] = 0
    y[0] = 1
    with pytest.raises(ValueError, match="The least populated class"):
        nnbp.MLPClassifier(early_stopping=True, max_iter=2).fit(X, y)


# ---------------------------------------------------------------- Ctrl-C while scoring


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_ctrl_c_while_early_stopping_scores_an_epoch_leaves_it_unrecorded(Estimator):
    # tests/test_interrupts.py sends real signals; Ctrl-C is a KeyboardInterrupt
    # raised wherever Python is, here in the third epoch's validation score.
    X, y = small_problem(Estimator, n_samples=100)
    est = Estimator(hidden_layer_sizes=(5,), early_stopping=True, max_iter=20, tol=0.0,
                    n_iter_no_change=20, random_state=0)
    score, calls = est._score, []

    def score_until_ctrl_c(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return score(*args)

    est._score = score_until_ctrl_c
    with pytest.warns(UserWarning, match="interrupted by user after 2 finished epochs"):
        est.fit(X, y)
    del est._score
    assert est.n_iter_ == len(est.loss_curve_) == len(est.validation_scores_) == 2
    assert est.best_validation_score_ == max(est.validation_scores_)
    # The parameters kept are those that scored best: the same run cut there.
    best = int(np.argmax(est.validation_scores_)) + 1
    cut = clone(est).set_params(max_iter=best).fit(X, y)
    assert_array_equal(est.network_.params, cut.network_.params)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_float32_x_on_a_float32_network_stays_on_the_plain_path(Estimator, monkeypatch):
    # Output dtypes follow scikit-learn's without costing float32 X a check or a copy.
    X, y = small_problem(Estimator)
    X = X.astype(np.float32)
    est = Estimator(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    expected = est.predict_proba(X) if Estimator is nnbp.MLPClassifier else est.predict(X)

    def no_validation(*args, **kwargs):
        raise AssertionError("validate_data called")

    monkeypatch.setattr(nnbp.estimators, "validate_data", no_validation)
    got = est.predict_proba(X) if Estimator is nnbp.MLPClassifier else est.predict(X)
    assert got.dtype == np.float32
    assert_array_equal(got, expected)


@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_a_classifier_whose_outputs_are_nan_predicts_no_class(target):
    # A NaN weight assigned after fit: the probabilities are NaN (the network
    # propagates it), and predict refuses to make a class of them, where argmax
    # gave the first class as if nothing were wrong; score (predict's) too.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = {"binary": rng.integers(0, 2, 60), "multiclass": rng.integers(0, 3, 60),
         "multilabel": rng.integers(0, 2, (60, 3))}[target]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = nnbp.MLPClassifier((5,), max_iter=5, random_state=0).fit(X, y)
    coefs = model.coefs_
    coefs[0][0, 0] = np.nan
    assert np.isnan(model.predict_proba(X)).all()
    with pytest.raises(ValueError, match=r"outputs are not finite \(NaN or inf\) for 60 of the "
                                         r"60 rows \(the first: row 0\).*coefs_"):
        model.predict(X)
    with pytest.raises(ValueError, match="outputs are not finite"):
        model.score(X, y)
