"""MLPRegressor's robust losses: loss="huber" (huber_delta=), "absolute_error",
"quantile" (quantile=): scikit-learn's checks, the parameters, model files and
the command line.
"""
import json
import zipfile

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from test_cli import run

import nnbp
from nnbp import HuberLoss, PinballLoss, StochasticTrainer

ROBUST = [dict(loss="huber", huber_delta=0.5), dict(loss="absolute_error"),
          dict(loss="quantile", quantile=0.8), dict(loss="huber", solver="lbfgs"),
          dict(loss="quantile", solver="sgd")]


@parametrize_with_checks([nnbp.MLPRegressor(max_iter=100, random_state=0, **options)
                          for options in ROBUST])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def problem(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ [1.0, -2.0, 0.5] + rng.standard_t(1.5, size=n)


def test_the_parameters_are_in_get_params_and_clone_and_validated():
    regressor = nnbp.MLPRegressor(loss="huber", huber_delta=0.3, quantile=0.7)
    params = clone(regressor).get_params()
    assert (params["loss"], params["huber_delta"], params["quantile"]) == ("huber", 0.3, 0.7)
    defaults = nnbp.MLPRegressor().get_params()
    assert (defaults["huber_delta"], defaults["quantile"]) == (1.0, 0.5)
    X, y = problem()
    for bad in (dict(huber_delta=0.0), dict(quantile=1.0), dict(quantile=0.0),
                dict(loss="pinball")):
        name = next(iter(bad))
        with pytest.raises(InvalidParameterError, match=name):
            nnbp.MLPRegressor(**bad).fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_the_regressor_trains_what_the_trainer_and_lbfgs_train_with_the_loss(solver):
    """Bitwise: the estimator's network is the one its solver trains with the loss."""
    X, y = problem()
    regressor = nnbp.MLPRegressor(loss="huber", huber_delta=0.5, hidden_layer_sizes=(6,),
                                  solver=solver, max_iter=30, random_state=0, tol=0.0,
                                  n_iter_no_change=1000, shuffle=False, batch_size=40)
    with pytest.warns(Warning):     # 30 epochs do not converge
        regressor.fit(X, y)
    twin = nnbp.MLPRegressor(hidden_layer_sizes=(6,), solver=solver, max_iter=1,
                             random_state=0)
    # The same initial network: the estimator's own draw, before any training.
    twin._random_state = np.random.RandomState(0)
    twin._initialize([3, 6, 1], np.dtype(np.float64))
    net = twin.network_
    loss = HuberLoss(0.5)
    if solver == "lbfgs":
        nnbp.minimize_lbfgs(net, X, y, max_iter=30, loss=loss)
    else:
        optimizer = (nnbp.Adam(learning_rate=0.001) if solver == "adam"
                     else nnbp.SGD(learning_rate=0.001, momentum=0.9))
        StochasticTrainer(net, optimizer, batch_size=40, shuffle=False, tol=0.0,
                          n_iter_no_change=np.inf, loss=loss).fit(X, y, max_epochs=30)
    assert np.array_equal(regressor.network_.params, net.params)
    if solver == "lbfgs":
        # L-BFGS's loss_ is the loss at its result.
        assert regressor.loss_ == net.loss(X, y, loss=loss)


def test_the_quantile_loss_predicts_the_quantile():
    X, y = problem(n=400)
    for q in (0.2, 0.8):
        regressor = nnbp.MLPRegressor(loss="quantile", quantile=q, hidden_layer_sizes=(),
                                      solver="lbfgs", max_iter=500, random_state=0)
        regressor.fit(X, y)
        below = np.mean(y < regressor.predict(X))
        assert abs(below - q) <= 0.02


def test_switching_between_the_squared_error_and_a_robust_loss_keeps_the_network():
    X, y = problem()
    regressor = nnbp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, warm_start=True,
                                  random_state=0)
    with pytest.warns(Warning):
        regressor.fit(X, y)
        regressor.set_params(loss="absolute_error").fit(X, y)
    # The warm start goes on with the loss asked for, each time.
    with pytest.warns(Warning):
        regressor.set_params(loss="huber", huber_delta=0.3).fit(X, y)
    assert repr(regressor._trainer.loss_object) == repr(HuberLoss(0.3))
    with pytest.warns(Warning):
        regressor.set_params(loss="squared_error").fit(X, y)
    assert regressor._trainer.loss_object is None
    regressor.set_params(loss="poisson")
    with pytest.raises(ValueError, match="loss"):
        regressor.fit(X, np.abs(y))


def saved_params(path):
    with zipfile.ZipFile(path) as archive:
        raw = np.load(archive.open("estimator.npy"), allow_pickle=False)
    return json.loads(str(raw))["params"]


def test_model_files_hold_the_new_parameters_only_where_they_are_used(tmp_path):
    """A model of the squared error saves what the nnbp before these losses saved, so
    that it loads there; one that uses them holds what that nnbp refuses by name."""
    X, y = problem()
    for options, held in [({}, set()), (dict(loss="huber", huber_delta=0.5), {"huber_delta"}),
                          (dict(loss="quantile", quantile=0.8), {"quantile"}),
                          (dict(loss="absolute_error"), set())]:
        regressor = nnbp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0,
                                      **options)
        with pytest.warns(Warning):
            regressor.fit(X, y)
        path = tmp_path / "model.npz"
        regressor.save(path)
        params = saved_params(path)
        assert {"huber_delta", "quantile"} & set(params) == held
        loaded = nnbp.load(path)
        assert loaded.get_params() == regressor.get_params()
        assert np.array_equal(loaded.predict(X), regressor.predict(X))


def test_the_command_line_trains_with_a_robust_loss(tmp_path):
    X, y = problem(n=200)
    table = tmp_path / "data.csv"
    np.savetxt(table, np.c_[X, y], delimiter=",", header="a,b,c,y", comments="")
    done = run("train", "data.csv", "--target", "y", "--loss", "quantile", "--quantile", "0.9",
               "--solver", "lbfgs", "--epochs", "200", "--hidden", "", "--quiet",
               "--validation-fraction", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    net = nnbp.load(tmp_path / "model.npz")
    assert net.metadata["loss"] == repr(PinballLoss(0.9))
    below = np.mean(y < net.forward(X).ravel())
    assert abs(below - 0.9) <= 0.02
    refused = run("train", "data.csv", "--target", "y", "--output", "poisson", "--loss",
                  "huber", cwd=tmp_path)
    assert refused.returncode != 0 and "--loss huber is a loss of a regression" in refused.stderr
