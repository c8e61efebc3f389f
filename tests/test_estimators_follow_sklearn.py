"""nnbp.MLPClassifier / nnbp.MLPRegressor follow scikit-learn's own estimators.

The claim under test: from identical initial parameters, with the same
hyperparameters, nnbp's sgd, adam and lbfgs follow scikit-learn's
MLPClassifier / MLPRegressor to float64 round-off; the default init
("glorot") draws scikit-learn's initial parameters for the same integer
random_state, and shuffling (and the early-stopping split) draws its orders.

Every comparison fits both libraries here, on small standardised problems,
and compares parameters, losses, loss curves, iteration counts, validation
scores, predictions and the warnings each raised.

Tolerances (relative: max |ours - theirs| / max |theirs| per block):

RTOL = 1e-12 in float64. Both libraries do the same operations but not in
the same order (scikit-learn: numpy/BLAS matrix products; nnbp: its compiled
kernels), so single results differ by a few ulps (~1e-16). Training feeds
these back. Measured over this file: sgd and adam agree to <= 1e-14
(runs of <= 40 epochs), L-BFGS to <= 8e-14 (15 iterations); 1e-12 leaves
a margin >= 10x, while a real difference in the method (another batch
order, other weights, ...) moves the parameters by far more (test_shuffle
and test_sample_weight check that such changes move them by > 1e-3). Runs
are kept short because round-off is amplified where the dynamics are
unstable or ill-conditioned: sgd with batch_size=1 at lr 0.05 (see
test_batch_size) grows it ~100x per epoch; L-BFGS on "regression" by
gradual amplification as the gradient shrinks (2e-15 at 15 iterations,
3e-14 at 30, 5e-10 at 60, 8e-2 at 100, no single step where they part).
On well-behaved problems sgd and adam stay at 3e-15 even after 300 epochs.
L-BFGS on classifiers parts abruptly at the first line-search trial point
whose outputs saturate on the wrong side (see
test_loss_with_saturated_outputs_is_exact_where_sklearn_clips): on "multiclass"
its 25th function evaluation, in iteration ~22; hence 15 iterations here.
The other tolerances (RTOL_LBFGS_LOGISTIC, RTOL32) are justified where
they are defined. The same comparisons on sparse X close the file.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("sklearn")

import sklearn  # noqa: E402
from sklearn import neural_network as sk  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from support import relative_error  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402  (a scikit-learn dependency)

import nnbp  # noqa: E402

SKLEARN_VERSION = tuple(int(part) for part in sklearn.__version__.split(".")[:2])

RTOL = 1e-12  # see the module docstring
# L-BFGS on logistic outputs (binary, multilabel): scikit-learn evaluates the
# binary log-loss from the rounded probability p = sigmoid(z), and log(1 - p)
# for p near 1 carries a relative error ~eps / (1 - p); nnbp evaluates
# softplus(z) - y z from the logit, accurate to round-off. A line-search trial
# point with saturated outputs (on "binary": the 5th evaluation, |z| up to 44)
# then gets function values that differ by 3e-12 relative (scikit-learn's is
# the inexact one: against a 50-digit evaluation, 2.7e-12 vs nnbp's 3e-16).
# The line search interpolates those values, so its step differs by ~1e-12,
# and L-BFGS carries that on: measured <= 7e-10 after 15 iterations (margin
# 15x). The gradients (y_pred - y in both) are unaffected; sgd and adam,
# which use only gradients for their steps, stay at RTOL. Where a trial
# point saturates on the WRONG side, the difference is no longer round-off
# but scikit-learn's clipping (test_loss_with_saturated_outputs_is_exact_...).
RTOL_LBFGS_LOGISTIC = 1e-8
SOLVERS = ("sgd", "adam", "lbfgs")
STOCHASTIC = ("sgd", "adam")
N = 60  # samples per problem: every fit below takes milliseconds


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """One BLAS / OpenMP thread for this module's fits.

    The products here are tiny and gain nothing from threads; with two
    threads, scipy's L-BFGS-B measured ~3 ms per call contending for them
    (20x slower), and one thread makes scikit-learn's products sum in the
    same order on every machine.
    """
    with threadpool_limits(limits=1):
        yield


def standardise(A):
    return (A - A.mean(axis=0)) / A.std(axis=0)


def _problems():
    X_bin, y_bin = make_classification(n_samples=N, n_features=5, n_informative=3,
                                       n_redundant=0, n_classes=2, random_state=0)
    X_mc, y_mc = make_classification(n_samples=N, n_features=5, n_informative=3,
                                     n_redundant=0, n_classes=3, n_clusters_per_class=1,
                                     random_state=1)
    X_ml, Y_ml = make_multilabel_classification(n_samples=N, n_features=5, n_classes=3,
                                                random_state=2)
    X_r, y_r = make_regression(n_samples=N, n_features=5, n_informative=4, noise=5.0,
                               random_state=3)
    X_r2, Y_r2 = make_regression(n_samples=N, n_features=5, n_informative=4, n_targets=3,
                                 noise=5.0, random_state=4)
    # name: (kind, X, y, n_outputs, extra parameters)
    return {
        "binary": ("classifier", standardise(X_bin), y_bin, 1, dict(activation="relu")),
        # string labels: the classes_ mapping must agree too
        "multiclass": ("classifier", standardise(X_mc), np.array(["a", "b", "c"])[y_mc], 3,
                       dict(activation="tanh")),
        "multilabel": ("classifier", standardise(X_ml), Y_ml, 3, dict(activation="logistic")),
        "regression": ("regressor", standardise(X_r), standardise(y_r), 1,
                       dict(activation="relu")),
        # alpha=0: nnbp's loss_ is the squared error summed over the outputs,
        # scikit-learn's the mean; only the data terms scale by n_outputs
        # (the L2 penalty is the same in both), so the exact relation
        # loss_ == n_outputs * sklearn's loss_ needs alpha=0.
        "regression_multi": ("regressor", standardise(X_r2), standardise(Y_r2), 3,
                             dict(activation="tanh", alpha=0.0)),
    }


PROBLEMS = _problems()
CLASSES = {"classifier": (nnbp.MLPClassifier, sk.MLPClassifier),
           "regressor": (nnbp.MLPRegressor, sk.MLPRegressor)}
# Per solver: a learning rate that makes progress in 20 epochs; batches of
# 16 rows (60 = 3 * 16 + 12: the last batch is short); few enough epochs or
# iterations for round-off not to be amplified (module docstring).
SOLVER_PARAMS = {
    "sgd": dict(solver="sgd", learning_rate_init=0.05, batch_size=16, max_iter=20),
    "adam": dict(solver="adam", learning_rate_init=0.01, batch_size=16, max_iter=20),
    "lbfgs": dict(solver="lbfgs", max_iter=15),
}


def make_both(problem, **params):
    """nnbp's and scikit-learn's estimator for `problem`, with the same parameters."""
    kind, _, _, _, extra = PROBLEMS[problem]
    params = {"hidden_layer_sizes": (6, 4), "random_state": 0, "shuffle": False,
              **extra, **params}
    ours, theirs = CLASSES[kind]
    return ours(**params), theirs(**params)


def recorded_warnings(call, *args, **kwargs):
    """Run call(*args, **kwargs); return its warnings as (category, message) pairs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(*args, **kwargs)
    return [(w.category, str(w.message)) for w in caught]


def fit_both(problem, *, X=None, y=None, sample_weight=None, **params):
    """Fit both estimators of `problem` on the same data.

    Returns (ours, theirs, warnings): both raised exactly the same warnings
    (ConvergenceWarning, batch-size clipping, ...), asserted here, and
    `warnings` is that list.
    """
    _, X0, y0, _, _ = PROBLEMS[problem]
    X = X0 if X is None else X
    y = y0 if y is None else y
    ours, theirs = make_both(problem, **params)
    weights = {} if sample_weight is None else {"sample_weight": sample_weight}
    ours_warned = recorded_warnings(ours.fit, X, y, **weights)
    theirs_warned = recorded_warnings(theirs.fit, X, y, **weights)
    assert ours_warned == theirs_warned
    return ours, theirs, theirs_warned


def assert_close(ours, theirs, rtol, what):
    error = relative_error(ours, theirs)
    assert error <= rtol, f"{what}: relative difference {error:.3g} > {rtol:g}"


def assert_same_fit(ours, theirs, rtol=RTOL, *, X=None, loss_scale=1.0, history_from=0):
    """Same fitted state: parameters, losses, curves, counters, scores, predictions.

    loss_scale: nnbp's loss_ is loss_scale times scikit-learn's (n_outputs
    for multi-output regression with alpha=0); None skips the losses.
    history_from: compare loss_curve_ from that entry on and skip best_loss_
    (for warm starts whose first fit began at different parameters).
    """
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert ours.n_outputs_ == theirs.n_outputs_
    assert ours.n_layers_ == theirs.n_layers_
    assert ours.out_activation_ == theirs.out_activation_
    for name in ("coefs_", "intercepts_"):
        mine, reference = getattr(ours, name), getattr(theirs, name)
        assert len(mine) == len(reference)
        for layer, (a, b) in enumerate(zip(mine, reference)):
            assert a.shape == b.shape and a.dtype == b.dtype, (name, layer, a.dtype, b.dtype)
            assert_close(a, b, rtol, f"{name}[{layer}]")
    if loss_scale is not None:
        assert_close(ours.loss_, loss_scale * theirs.loss_, rtol, "loss_")
    if theirs.solver in STOCHASTIC:
        assert len(ours.loss_curve_) == len(theirs.loss_curve_)
        # The state scikit-learn keeps under these names, which its own tests read.
        assert ours._no_improvement_count == theirs._no_improvement_count
        assert_close(ours._optimizer.learning_rate, theirs._optimizer.learning_rate, rtol,
                     "_optimizer.learning_rate")
        if loss_scale is not None:
            np.testing.assert_allclose(
                ours.loss_curve_[history_from:],
                loss_scale * np.asarray(theirs.loss_curve_[history_from:]), rtol=rtol, atol=0)
            if history_from == 0:
                if theirs.best_loss_ is None:  # early stopping
                    assert ours.best_loss_ is None
                else:
                    assert_close(ours.best_loss_, loss_scale * theirs.best_loss_, rtol,
                                 "best_loss_")
        if theirs.validation_scores_ is None:
            assert ours.validation_scores_ is None and ours.best_validation_score_ is None
        else:
            # accuracy (a fraction of the held-out rows): equal; R^2: round-off
            np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                                       rtol=rtol, atol=0)
            assert_close(ours.best_validation_score_, theirs.best_validation_score_, rtol,
                         "best_validation_score_")
    else:
        # scikit-learn's lbfgs keeps no curve; nnbp's has one loss per iteration
        assert len(ours.loss_curve_) == ours.n_iter_
    if X is not None:
        if hasattr(theirs, "classes_"):
            np.testing.assert_array_equal(ours.classes_, theirs.classes_)
            np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
            assert_close(ours.predict_proba(X), theirs.predict_proba(X), rtol, "predict_proba")
        else:
            assert_close(ours.predict(X), theirs.predict(X), rtol, "predict")


def rtol_for(problem, solver):
    """RTOL, or RTOL_LBFGS_LOGISTIC for L-BFGS on logistic outputs (see there)."""
    if solver == "lbfgs" and problem in ("binary", "multilabel"):
        return RTOL_LBFGS_LOGISTIC
    return RTOL


def X_of(problem):
    return PROBLEMS[problem][1]


def scale_of(problem, params=None):
    """loss_scale for assert_same_fit: n_outputs for multi-output regression
    (alpha=0 only, see PROBLEMS), None with a penalty there, else 1."""
    kind, _, _, n_outputs, extra = PROBLEMS[problem]
    if kind == "classifier" or n_outputs == 1:
        return 1.0
    alpha = {**extra, **(params or {})}.get("alpha", 1e-4)
    return float(n_outputs) if alpha == 0 else None


# ---------------------------------------------------------------- the starting point


@pytest.mark.parametrize("activation", ["relu", "logistic"])  # glorot's factor: 6 or 2
@pytest.mark.parametrize("random_state", [0, 12345])
def test_glorot_init_is_sklearns_initial_parameters(activation, random_state):
    # One epoch of plain sgd with learning rate 1e-300 leaves every parameter
    # exactly where it started (|lr * grad| < 1e-290 is far below half an ulp
    # of parameters ~0.1), so the fitted parameters ARE the initial ones. Both
    # must equal the test's own draw of Glorot's uniform initialisation from
    # RandomState(random_state), in scikit-learn's order (W then b, by layer).
    X = X_of("multiclass")
    ours, theirs, _ = fit_both("multiclass", solver="sgd", learning_rate_init=1e-300,
                               momentum=0.0, max_iter=1, activation=activation,
                               random_state=random_state)
    draws = np.random.RandomState(random_state)
    layer_units = [X.shape[1], 6, 4, 3]
    factor = 2.0 if activation == "logistic" else 6.0
    for layer, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
        bound = np.sqrt(factor / (fan_in + fan_out))
        W = draws.uniform(-bound, bound, (fan_in, fan_out))
        b = draws.uniform(-bound, bound, fan_out)
        for estimator in (ours, theirs):
            np.testing.assert_array_equal(estimator.coefs_[layer], W)
            np.testing.assert_array_equal(estimator.intercepts_[layer], b)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_same_trajectory_from_the_same_explicit_start(problem, solver):
    # Not relying on the shared initialisation at all: first fits start from
    # different parameters (nnbp: init="normal", another random_state), then
    # both get the same explicit arrays drawn here, and warm_start=True fits
    # again from them. n_iter_no_change is out of reach so that the first
    # fits' (different) loss histories cannot decide when the second stops.
    params = dict(SOLVER_PARAMS[solver], warm_start=True)
    if solver in STOCHASTIC:
        params["n_iter_no_change"] = 1000
    kind, X, y, _, extra = PROBLEMS[problem]
    Ours, Theirs = CLASSES[kind]
    common = {"hidden_layer_sizes": (6, 4), "shuffle": False, **extra, **params}
    ours = Ours(**{**common, "random_state": 1, "init": "normal", "max_iter": 1})
    theirs = Theirs(**{**common, "random_state": 2, "max_iter": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch: not converged
        ours.fit(X, y)
        theirs.fit(X, y)

    rng = np.random.default_rng(2026)
    coefs = [rng.uniform(-0.5, 0.5, W.shape) for W in theirs.coefs_]
    intercepts = [rng.uniform(-0.5, 0.5, b.shape) for b in theirs.intercepts_]
    assert relative_error(ours.coefs_[0], coefs[0]) > 0.1  # really overwritten below
    ours.coefs_, ours.intercepts_ = coefs, intercepts  # the setters copy the values in
    theirs.coefs_ = [W.copy() for W in coefs]
    theirs.intercepts_ = [b.copy() for b in intercepts]
    for a, b in zip(ours.coefs_ + ours.intercepts_, coefs + intercepts):
        np.testing.assert_array_equal(a, b)

    ours.set_params(max_iter=params.get("max_iter", 15))
    theirs.set_params(max_iter=params.get("max_iter", 15))
    ours_warned = recorded_warnings(ours.fit, X, y)
    assert ours_warned == recorded_warnings(theirs.fit, X, y)
    assert_same_fit(ours, theirs, X=X, history_from=1)


# ---------------------------------------------------------------- each solver, each problem


def solver_cases(problems):
    """(problem, solver) pairs; multi-output lbfgs has its own tests (below)."""
    return [(problem, solver) for problem in problems for solver in SOLVERS
            if (problem, solver) != ("regression_multi", "lbfgs")]


@pytest.mark.parametrize("problem, solver", solver_cases(PROBLEMS))
def test_solver_follows_sklearn(problem, solver):
    ours, theirs, _ = fit_both(problem, **SOLVER_PARAMS[solver])
    assert_same_fit(ours, theirs, rtol_for(problem, solver), X=X_of(problem),
                    loss_scale=scale_of(problem))


# Multi-output regression by L-BFGS. scikit-learn hands scipy its REPORTED
# loss, the squared error averaged over the outputs, with the gradient of the
# SUM (deltas = y_pred - y, no 1 / n_outputs): an inconsistent (loss,
# gradient) pair. nnbp hands scipy the summed loss and its gradient. Only the
# line search sees the difference (its sufficient-decrease test and its
# interpolation use the function values), so whether the runs part depends
# on the run: on "regression_multi", 15 iterations, tanh, relu and identity
# hidden units still agree to 8e-15; logistic ones part (scipy evaluates 21
# trial points for nnbp, 24 for scikit-learn; parameters differ by up to 1.7
# relative).


def test_multi_output_lbfgs_hands_scipy_a_consistent_loss_and_gradient():
    # Where nnbp departs from scikit-learn on purpose: scikit-learn's lbfgs
    # gives scipy the squared error averaged over the outputs with the
    # gradient of their sum, so on several outputs its line search sees a
    # loss that does not belong to the gradient, and may take other steps
    # (on this problem with logistic units they part by up to 1.7). nnbp's
    # loss_ is the summed loss, whose gradient it follows; check it there.
    ours, _, _ = fit_both("regression_multi", **SOLVER_PARAMS["lbfgs"], activation="logistic")
    _, X, y, _, _ = PROBLEMS["regression_multi"]
    assert ours.loss_ == pytest.approx(ours.network_.loss(X, y), rel=1e-12)
    assert nnbp.check_gradients(ours.network_, X[:10], y[:10]).passed


def test_multi_output_lbfgs_is_sklearns_with_a_summed_loss(monkeypatch):
    # The diagnosis of the test above: give scikit-learn's lbfgs the loss its
    # gradient belongs to (the squared error summed over the outputs) and it
    # follows nnbp to round-off (measured 7e-14).
    import sklearn.neural_network._multilayer_perceptron as sklearn_mlp

    def summed_squared_loss(y_true, y_pred, sample_weight=None):
        return 0.5 * np.average((y_true - y_pred) ** 2, weights=sample_weight, axis=0).sum()

    monkeypatch.setitem(sklearn_mlp.LOSS_FUNCTIONS, "squared_error", summed_squared_loss)
    ours, theirs, _ = fit_both("regression_multi", **SOLVER_PARAMS["lbfgs"],
                               activation="logistic")
    assert_same_fit(ours, theirs, X=X_of("regression_multi"))


def test_multi_output_loss_is_n_outputs_times_sklearns():
    # The relation assert_same_fit uses above, made explicit on one run:
    # identical parameters, loss_ (and every epoch's loss) n_outputs times
    # scikit-learn's, because nnbp sums the squared error over the outputs
    # where scikit-learn averages it (alpha=0, see PROBLEMS).
    ours, theirs, _ = fit_both("regression_multi", **SOLVER_PARAMS["adam"])
    assert_same_fit(ours, theirs, loss_scale=None)
    assert ours.loss_ == pytest.approx(3 * theirs.loss_, rel=RTOL)
    assert ours.loss_ != pytest.approx(theirs.loss_, rel=0.1)


# ---------------------------------------------------------------- variants


# scikit-learn clips the predicted probabilities to [eps, 1 - eps] before the
# log, so a row's log-loss is at most -log(eps) = 36.04 (float64); nnbp's
# loss, from the logits, is exact. Where an output saturates on the wrong
# side (logit beyond ~36.7 against its label) the loss VALUES differ beyond
# round-off - the gradients do not (y_pred - y in both).
@pytest.mark.parametrize("problem", ["binary", "multiclass", "multilabel"])
def test_loss_with_saturated_outputs_is_exact_where_sklearn_clips(problem):
    # Parameters ~30 times too large make logits of hundreds, wrong for
    # many rows; one epoch with learning rate 1e-300 leaves them unchanged
    # (see test_glorot_init_is_sklearns_initial_parameters), so loss_ is the
    # loss AT those parameters in both. Measured loss_, nnbp (exact cross-
    # entropy) vs scikit-learn (each wrong output clipped at 36.04): binary
    # 18407 vs 18.1, multiclass 42.3 vs 16.2, multilabel 25.8 vs 24.0.
    _, X, y, _, _ = PROBLEMS[problem]
    ours, theirs = make_both(problem, solver="sgd", learning_rate_init=1e-300, momentum=0.0,
                             max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
        rng = np.random.default_rng(9)
        coefs = [rng.normal(scale=30.0, size=W.shape) for W in theirs.coefs_]
        intercepts = [rng.normal(size=b.shape) for b in theirs.intercepts_]  # not 0: stay put
        ours.coefs_, ours.intercepts_ = coefs, intercepts
        theirs.coefs_ = [W.copy() for W in coefs]
        theirs.intercepts_ = [b.copy() for b in intercepts]
        ours.fit(X, y)
        theirs.fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, coefs + intercepts):
        np.testing.assert_array_equal(a, b)  # the parameters did not move
    # nnbp's loss_ is the exact loss the oracle computes from the same
    # parameters; scikit-learn's is smaller, its wrong outputs clipped.
    from nnbp import reference
    net = ours.network_
    if net.output == "softmax":
        targets = np.searchsorted(ours.classes_, y).tolist()
    else:
        targets = ours._label_binarizer.transform(y).reshape(len(y), -1).tolist()
    exact = reference.loss([W.tolist() for W in net.weights],
                                [b.tolist() for b in net.biases], X.tolist(), targets,
                                net.activation, net.output, alpha=net.alpha)
    assert ours.loss_ == pytest.approx(exact, rel=1e-12)
    assert theirs.loss_ < exact


SAMPLE_WEIGHT_CASES = [
    # Not ("binary", "lbfgs"): with these weights, L-BFGS's 6th function
    # evaluation is a line-search trial point with wrong-side saturated
    # outputs, where scikit-learn's clipped loss is 9.45 and nnbp's exact one
    # 13.82 (at the same parameters, to 1.5e-14; see
    # test_loss_with_saturated_outputs_is_exact_where_sklearn_clips), so the
    # line searches take different steps.
    (problem, solver)
    for problem in ("binary", "multiclass", "multilabel", "regression") for solver in SOLVERS
    if (problem, solver) != ("binary", "lbfgs")]


@pytest.mark.parametrize("problem, solver", SAMPLE_WEIGHT_CASES)
def test_sample_weight(problem, solver):
    weights = np.random.default_rng(5).uniform(0.2, 3.0, N)
    ours, theirs, _ = fit_both(problem, sample_weight=weights, **SOLVER_PARAMS[solver])
    assert_same_fit(ours, theirs, rtol_for(problem, solver), X=X_of(problem))
    # the weights matter: unweighted runs end elsewhere
    unweighted, _, _ = fit_both(problem, **SOLVER_PARAMS[solver])
    assert relative_error(unweighted.coefs_[0], ours.coefs_[0]) > 1e-3


@pytest.mark.parametrize("problem, solver", solver_cases(
    ["multiclass", "multilabel", "regression", "regression_multi"]))
def test_l2_penalty(problem, solver):
    params = dict(SOLVER_PARAMS[solver], alpha=0.3)
    ours, theirs, _ = fit_both(problem, **params)
    # multi-output with alpha > 0: parameters only (scale_of gives None: the
    # data term scales by n_outputs, the penalty does not)
    assert_same_fit(ours, theirs, rtol_for(problem, solver), X=X_of(problem),
                    loss_scale=scale_of(problem, params))


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True),
                                                (0.5, True)])
@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_sgd_momentum(problem, momentum, nesterov):
    ours, theirs, _ = fit_both(problem, **SOLVER_PARAMS["sgd"], momentum=momentum,
                               nesterovs_momentum=nesterov)
    assert_same_fit(ours, theirs, X=X_of(problem))


@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_sgd_invscaling(problem):
    # lr = 0.5 / (t + 1) ** 0.5 after each epoch, t the rows seen so far
    params = dict(SOLVER_PARAMS["sgd"], learning_rate="invscaling", learning_rate_init=0.5)
    ours, theirs, _ = fit_both(problem, **params)
    assert_same_fit(ours, theirs, X=X_of(problem))
    assert theirs._optimizer.learning_rate == pytest.approx(0.5 / (theirs.t_ + 1) ** 0.5)


@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_sgd_adaptive(problem):
    # tol=0.05 with n_iter_no_change=2: the loss soon stops improving by 0.05,
    # and each time it fails 3 epochs in a row the learning rate is divided by
    # 5, until it is <= 1e-6 (0.05 / 5**7 = 6.4e-7: 7 divisions), when the
    # stochastic solver stops - long before max_iter. Agreement of every
    # epoch's loss and of n_iter_ shows the divisions happen at the same
    # epochs, and the stop at the same one.
    params = dict(SOLVER_PARAMS["sgd"], learning_rate="adaptive", tol=0.05,
                  n_iter_no_change=2, max_iter=200)
    ours, theirs, warned = fit_both(problem, **params)
    assert_same_fit(ours, theirs, X=X_of(problem))
    assert theirs._optimizer.learning_rate <= 1e-6  # it was divided, down to the floor
    assert ours.n_iter_ < 200 and warned == []  # stopped by the schedule, no warning


@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("batch_size", [1, N, 10 * N])  # per row; full batch; clipped to N
@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_batch_size(problem, batch_size, solver):
    # batch_size=1 is 60 updates per epoch, 16 times as many as elsewhere:
    # with the same learning rate sgd is unstable there (the loss rises, the
    # weights grow) and round-off grows ~100x per epoch (measured 1e-15,
    # 2e-13, 2e-8, 2e-4 after epochs 1, 3, 5, 7): chaos, not a difference
    # in method. A tenth of the learning rate trains stably, and after 8
    # epochs (480 updates) the two still agree to 1e-15.
    params = dict(SOLVER_PARAMS[solver], batch_size=batch_size)
    if batch_size == 1:
        params.update(max_iter=8, learning_rate_init=params["learning_rate_init"] / 10)
    ours, theirs, warned = fit_both(problem, **params)
    assert_same_fit(ours, theirs, X=X_of(problem))
    clipped = [message for category, message in warned if "It is going to be clipped" in message]
    assert len(clipped) == (1 if batch_size > N else 0)  # and identical in both (fit_both)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("problem, weighted", [("binary", False), ("binary", True),
                                               ("regression", False),
                                               ("regression_multi", False)])
def test_early_stopping(problem, weighted, solver, shuffle):
    # Binary problems only among the classifiers: scikit-learn stratifies the
    # validation split of binary problems only, nnbp of every single-label
    # problem where a stratified split exists, so multiclass splits differ by
    # design (where none exists, they agree: see
    # test_early_stopping_without_a_stratified_split_is_sklearns). Larger learning rates
    # and tol=0.01 with n_iter_no_change=3 stop every run early (asserted:
    # after 5 to 17 epochs), and the parameters compared are the restored
    # best ones. The split and then the shuffles draw from the same
    # RandomState(0) in both.
    params = dict(SOLVER_PARAMS[solver], early_stopping=True, validation_fraction=0.25,
                  tol=0.01, n_iter_no_change=3, max_iter=40, shuffle=shuffle,
                  learning_rate_init={"sgd": 0.1, "adam": 0.05}[solver])
    weights = np.random.default_rng(6).uniform(0.2, 3.0, N) if weighted else None
    ours, theirs, _ = fit_both(problem, sample_weight=weights, **params)
    assert_same_fit(ours, theirs, X=X_of(problem), loss_scale=scale_of(problem))
    assert len(theirs.validation_scores_) == theirs.n_iter_ < 40  # stopped early
    assert theirs.best_validation_score_ == max(theirs.validation_scores_)
    # The restored parameters are those of the best epoch: the same run cut
    # at that epoch ends there (its best so far is its last).
    best = int(np.argmax(theirs.validation_scores_)) + 1  # first maximum
    if best < theirs.n_iter_:
        _, at_best, _ = fit_both(problem, sample_weight=weights, **dict(params, max_iter=best))
        for a, b in zip(ours.coefs_ + ours.intercepts_, at_best.coefs_ + at_best.intercepts_):
            assert_close(a, b, RTOL, "restored best parameters")


def one_member_class():
    """The multiclass problem with its first row's class made a fourth, of one member."""
    y = PROBLEMS["multiclass"][2].copy()
    y[0] = "d"
    return y


@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("case, y, validation_fraction", [
    ("one_member_class", one_member_class(), 0.25),
    # 2 held-out rows for 3 classes
    ("fewer_held_out_rows_than_classes", PROBLEMS["multiclass"][2], 0.03),
])
def test_early_stopping_without_a_stratified_split_is_sklearns(case, y, validation_fraction,
                                                               solver):
    if SKLEARN_VERSION < (1, 8):
        pytest.skip("scikit-learn 1.7 (Python 3.10's newest) fails here: its early "
                    "stopping's score calls numpy.isnan on string labels (a TypeError)")
    # nnbp stratifies a multiclass problem's split where it can; where no
    # stratified split exists it makes scikit-learn's (which never stratifies
    # multiclass problems), from the same draws: the fits are the same.
    params = dict(SOLVER_PARAMS[solver], early_stopping=True,
                  validation_fraction=validation_fraction, max_iter=10)
    ours, theirs, _ = fit_both("multiclass", y=y, **params)
    assert_same_fit(ours, theirs, X=X_of("multiclass"))
    assert len(ours.validation_scores_) == ours.n_iter_ == 10


@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("problem", ["binary", "multiclass", "multilabel", "regression",
                                     "regression_multi"])
def test_shuffle(problem, solver):
    params = dict(SOLVER_PARAMS[solver], shuffle=True, random_state=7)
    ours, theirs, _ = fit_both(problem, **params)
    assert_same_fit(ours, theirs, X=X_of(problem), loss_scale=scale_of(problem))
    # the shuffling matters: an unshuffled run ends elsewhere
    unshuffled, _, _ = fit_both(problem, **dict(params, shuffle=False))
    assert relative_error(unshuffled.coefs_[0], ours.coefs_[0]) > 1e-3


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("problem", ["multiclass", "multilabel", "regression"])
def test_partial_fit_sequence(problem, solver, shuffle):
    # Six calls on three chunks, twice over; with the multiclass rows sorted by
    # label each chunk holds one class only (20 rows each), so classes=
    # matters. The
    # state (optimizer, t_, loss_curve_) carries over between calls.
    _, X, y, _, _ = PROBLEMS[problem]
    ours, theirs = make_both(problem, **SOLVER_PARAMS[solver], shuffle=shuffle)
    rows = np.argsort(y, kind="stable") if problem == "multiclass" else np.arange(N)
    chunks = np.array_split(rows, 3)
    classes = {"classes": np.unique(y)} if problem == "multiclass" else {}
    if problem == "multilabel":
        classes = {"classes": np.arange(y.shape[1])}
    for call, chunk in enumerate(chunks * 2):
        ours_warned = recorded_warnings(ours.partial_fit, X[chunk], y[chunk], **classes)
        assert ours_warned == recorded_warnings(theirs.partial_fit, X[chunk], y[chunk],
                                                **classes) == []
        assert_same_fit(ours, theirs, X=X)
        assert ours.n_iter_ == 1 and len(ours.loss_curve_) == call + 1


@pytest.mark.skipif("poisson" not in nnbp.OUTPUTS,
                    reason="nnbp has no poisson output yet (nnbp.OUTPUTS)")
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_poisson_regression(n_outputs, solver):
    # Counts with a log-linear mean (up to 59); exp output in both.
    # scikit-learn's poisson loss sums over the outputs (no 1/n_outputs), so
    # loss_ agrees directly, with its constant xlogy(y, y) - y term included.
    # sgd at this problem's usual 0.05 oscillates (epoch losses 5.9, 7.4,
    # 4.6, 3.6, 5.1, ...) and amplifies round-off to 6e-11 in 20 epochs:
    # 0.01 trains smoothly and agrees to 1e-15.
    rng = np.random.default_rng(8)
    X = X_of("regression")
    y = rng.poisson(np.exp(0.4 * X @ rng.normal(size=(X.shape[1], n_outputs)))).astype(float)
    y = y[:, 0] if n_outputs == 1 else y
    params = dict(SOLVER_PARAMS[solver], activation="tanh")
    if solver == "sgd":
        params["learning_rate_init"] = 0.01
    ours, theirs, _ = fit_both("regression", X=X, y=y, loss="poisson", **params)
    assert_same_fit(ours, theirs, X=X)


# ---------------------------------------------------------------- float32

# float32: RTOL scaled by the ratio of the unit round-offs, 1e-12 * eps32 /
# eps64 = 1e-12 * 2**29 = 5.4e-4 (same amplification budget, float32 ulps),
# rounded down to 1e-4: measured <= 7e-7 (sgd, adam, 10 epochs) and 3e-6
# (lbfgs, 15 iterations). Not bit-identical because scikit-learn is mixed-precision there:
# float32 forward pass, but y_pred - y with integer/float64 targets promotes
# the deltas, gradients and optimizer state to float64, while nnbp stays in
# float32 throughout.
RTOL32 = 1e-4


@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_float32_keeps_float32_and_follows_sklearn(problem, solver):
    X = X_of(problem).astype(np.float32)
    ours, theirs, _ = fit_both(problem, X=X, **dict(SOLVER_PARAMS[solver], max_iter=10))
    for estimator in (ours, theirs):  # assert_same_fit checks the dtypes agree
        assert {a.dtype for a in estimator.coefs_ + estimator.intercepts_} == {
            np.dtype(np.float32)}
    assert_same_fit(ours, theirs, RTOL32, X=X)


def test_float32_lbfgs_keeps_float32():
    # scikit-learn's lbfgs ends with float64 parameters even from float32 X
    # (it unpacks scipy's float64 iterate); nnbp keeps its float32 network
    # and rounds the iterate into it, so only the values are compared, at
    # float32 accuracy (RTOL32, above).
    X = X_of("multiclass").astype(np.float32)
    ours, theirs, _ = fit_both("multiclass", X=X, **SOLVER_PARAMS["lbfgs"])
    assert {a.dtype for a in ours.coefs_ + ours.intercepts_} == {np.dtype(np.float32)}
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_close(a, b, RTOL32, "lbfgs float32 parameters")


@pytest.mark.parametrize("solver", SOLVERS)
def test_dtype_float64_on_float32_X_is_sklearn_in_float64(solver):
    # dtype="float64" converts float32 X exactly, so nnbp follows
    # scikit-learn fitted on X.astype(float64), to float64 round-off.
    _, X, y, _, extra = PROBLEMS["multiclass"]
    X32 = X.astype(np.float32)
    params = {"hidden_layer_sizes": (6, 4), "random_state": 0, "shuffle": False, **extra,
              **SOLVER_PARAMS[solver]}
    ours = nnbp.MLPClassifier(**params, dtype="float64")
    theirs = sk.MLPClassifier(**params)
    assert recorded_warnings(ours.fit, X32, y) == recorded_warnings(
        theirs.fit, X32.astype(np.float64), y)
    assert_same_fit(ours, theirs, X=X32.astype(np.float64))


X_DTYPES = (np.float16, np.float32, np.float64, np.int8, np.uint8, np.int16, np.int32,
            np.int64, np.bool_)


@pytest.mark.parametrize("fitted_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression"])
def test_output_dtype_is_sklearns_for_every_dtype_of_X(problem, fitted_dtype):
    # scikit-learn's outputs have numpy's type of X's values times the
    # weights: float64 from a float32 model on float64 (or int32) X. nnbp
    # computes in its network's dtype and returns that type.
    X = X_of(problem).astype(fitted_dtype)
    ours, theirs, _ = fit_both(problem, X=X, **dict(SOLVER_PARAMS["adam"], max_iter=3))
    method = "predict_proba" if PROBLEMS[problem][0] == "classifier" else "predict"
    X_test = X_of(problem)[:10]
    rtol = RTOL32 if fitted_dtype == np.float32 else RTOL
    for X_dtype in X_DTYPES:
        for container in (np.asarray, sp.csr_matrix, list):
            if container is sp.csr_matrix and X_dtype == np.float16:
                continue   # scipy has no float16 sparse matrices
            X_in = X_test.astype(X_dtype)
            X_in = X_in.tolist() if container is list else container(X_in)
            expected = getattr(theirs, method)(X_in)
            got = getattr(ours, method)(X_in)
            what = f"{method} of {np.dtype(X_dtype).name} X in a {container.__name__}"
            assert got.dtype == expected.dtype, what
            assert_close(got, expected, 100 * rtol if X_dtype == np.float16 else rtol, what)


# ---------------------------------------------------------------- stopping decisions


@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_tol_stopping_epoch(problem, solver):
    # tol=0.01, n_iter_no_change=2: the training loss stops improving by 0.01
    # after 10 to 31 epochs; both stop at the same epoch, without a warning.
    params = dict(SOLVER_PARAMS[solver], tol=0.01, n_iter_no_change=2, max_iter=100)
    ours, theirs, warned = fit_both(problem, **params)
    assert_same_fit(ours, theirs, X=X_of(problem))
    assert theirs.n_iter_ < 100 and warned == []
    # max_iter exactly the stopping epoch: scikit-learn checks the stopping
    # rule before the max_iter warning, so neither warns.
    stop = theirs.n_iter_
    ours, theirs, warned = fit_both(problem, **dict(params, max_iter=stop))
    assert theirs.n_iter_ == ours.n_iter_ == stop and warned == []
    # one epoch fewer: max_iter reached first, both warn (once, same text)
    ours, theirs, warned = fit_both(problem, **dict(params, max_iter=stop - 1))
    assert theirs.n_iter_ == ours.n_iter_ == stop - 1
    assert [category for category, _ in warned] == [ConvergenceWarning]


@pytest.mark.parametrize("max_iter, warns", [(5, True), (500, False)])
def test_lbfgs_convergence_warning(max_iter, warns):
    # tol=1e-2 on the gradient: 500 iterations converge (after 29),
    # 5 do not and both warn with scikit-learn's lbfgs message. A converging
    # run is longer than the 15 iterations elsewhere; only its count and the
    # warning are compared, plus the final loss, to the accuracy tol gives.
    ours, theirs, warned = fit_both("binary", solver="lbfgs", tol=1e-2, max_iter=max_iter)
    assert ours.n_iter_ == theirs.n_iter_
    assert ([category for category, _ in warned] == [ConvergenceWarning]) is warns
    if warns:
        assert_same_fit(ours, theirs, rtol_for("binary", "lbfgs"), X=X_of("binary"))
    else:
        assert theirs.n_iter_ < max_iter
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)


def test_adaptive_max_iter_warns_like_sklearn():
    # Adaptive schedule cut short by max_iter while still dividing the rate:
    # both warn; the same run long enough stops on the schedule, neither warns.
    params = dict(SOLVER_PARAMS["sgd"], learning_rate="adaptive", tol=0.05,
                  n_iter_no_change=2)
    _, theirs, warned = fit_both("multiclass", **dict(params, max_iter=200))
    stop = theirs.n_iter_
    assert warned == [] and stop < 200
    ours, theirs, warned = fit_both("multiclass", **dict(params, max_iter=stop - 4))
    assert_same_fit(ours, theirs)
    assert [category for category, _ in warned] == [ConvergenceWarning]


# ---------------------------------------------------------------- sparse X
#
# Each problem's X with 70% of its entries zeroed, as a CSR matrix (or a
# CSC or COO one, which both libraries convert), fitted by both. nnbp's
# first layer then runs its CSR kernels, which sum X W^T and D^T X in
# scipy's order; the rest is as for dense X, to the same RTOL.


def sparse_X(problem, container=sp.csr_matrix):
    X = X_of(problem).copy()
    X[np.random.default_rng(9).random(X.shape) < 0.7] = 0.0
    return container(X)


SPARSE_PROBLEMS = ["binary", "multiclass", "multilabel", "regression"]


@pytest.mark.parametrize("problem, solver", solver_cases(SPARSE_PROBLEMS))
def test_sparse_solver_follows_sklearn(problem, solver):
    X = sparse_X(problem)
    ours, theirs, _ = fit_both(problem, X=X, **SOLVER_PARAMS[solver])
    assert_same_fit(ours, theirs, rtol_for(problem, solver), X=X)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_sparse_plain_sgd_follows_sklearn(problem, shuffle):
    # No momentum, no penalty: nnbp steps only the batch's columns of W(1).
    X = sparse_X(problem)
    ours, theirs, _ = fit_both(problem, X=X, **SOLVER_PARAMS["sgd"], momentum=0.0, alpha=0.0,
                               shuffle=shuffle)
    assert_same_fit(ours, theirs, X=X)


@pytest.mark.parametrize("container", [sp.csr_array, sp.csc_matrix, sp.csc_array,
                                       sp.coo_matrix, sp.coo_array])
def test_sparse_formats_follow_sklearn(container):
    X = sparse_X("multiclass", container)
    ours, theirs, _ = fit_both("multiclass", X=X, **SOLVER_PARAMS["adam"], shuffle=True)
    assert_same_fit(ours, theirs, X=X)


@pytest.mark.parametrize("problem, solver", [("multiclass", "sgd"), ("multiclass", "adam"),
                                             ("regression", "lbfgs")])
def test_sparse_sample_weight(problem, solver):
    X = sparse_X(problem)
    weights = np.random.default_rng(5).uniform(0.2, 3.0, N)
    weights[::7] = 0.0
    ours, theirs, _ = fit_both(problem, X=X, sample_weight=weights, **SOLVER_PARAMS[solver])
    assert_same_fit(ours, theirs, X=X)


@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("problem, weighted", [("binary", True), ("regression", False)])
def test_sparse_early_stopping(problem, weighted, solver):
    X = sparse_X(problem)
    params = dict(SOLVER_PARAMS[solver], early_stopping=True, validation_fraction=0.25,
                  tol=0.01, n_iter_no_change=3, max_iter=40, shuffle=True,
                  learning_rate_init={"sgd": 0.1, "adam": 0.05}[solver])
    weights = np.random.default_rng(6).uniform(0.2, 3.0, N) if weighted else None
    ours, theirs, _ = fit_both(problem, X=X, sample_weight=weights, **params)
    assert_same_fit(ours, theirs, X=X)
    assert len(theirs.validation_scores_) == theirs.n_iter_ < 40  # stopped early


@pytest.mark.parametrize("solver", STOCHASTIC)
def test_sparse_partial_fit_sequence(solver):
    X, y = sparse_X("multiclass"), PROBLEMS["multiclass"][2]
    ours, theirs = make_both("multiclass", **SOLVER_PARAMS[solver], shuffle=True)
    for chunk in np.array_split(np.argsort(y, kind="stable"), 3) * 2:
        for estimator in (ours, theirs):
            estimator.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
        assert_same_fit(ours, theirs, X=X)


@pytest.mark.parametrize("solver", STOCHASTIC)
def test_sparse_batch_size_one(solver):
    # See test_batch_size for the learning rate.
    X = sparse_X("multiclass")
    params = dict(SOLVER_PARAMS[solver], batch_size=1, max_iter=8)
    params["learning_rate_init"] /= 10
    ours, theirs, _ = fit_both("multiclass", X=X, **params)
    assert_same_fit(ours, theirs, X=X)


@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_float32_follows_sklearn(solver):
    X = sparse_X("multiclass").astype(np.float32)
    ours, theirs, _ = fit_both("multiclass", X=X, **dict(SOLVER_PARAMS[solver], max_iter=10))
    assert {a.dtype for a in ours.coefs_ + ours.intercepts_} == {np.dtype(np.float32)}
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_close(a, b, RTOL32, "float32 parameters")
