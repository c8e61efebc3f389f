"""Saturation diagnostics, the recorder, and training callbacks (trainer and estimators).

layer_diagnostics against the pure-Python reference (gradient norms from its
gradient blocks, saturation from its pre-activations and phi'), on
hand-built saturated and dead layers, and on fresh networks; the on_epoch
callback's stop; the estimators' fit(callback=...) for sgd, adam and lbfgs,
through a Pipeline too.
"""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import nnbp
from nnbp import SGD, Adam, Network, StochasticTrainer, reference
from nnbp.diagnostics import SATURATION_THRESHOLD, DiagnosticsRecorder, layer_diagnostics
from nnbp.training import MAX_EPOCHS, STOPPED_BY_CALLBACK

from support import DTYPES, REFERENCE_TOLERANCE, make_targets, reference_loss_and_grad

ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu", "softplus")


def reference_layer_norms(net, X, y, sample_weight=None):
    """The norm of each layer's (W(l), b(l)) block of the reference gradient."""
    loss, grad = reference_loss_and_grad(net, X, y, sample_weight)
    squares = np.zeros(net.n_layers)
    for name, block in net.block_slices():
        squares[int(name[2:-1]) - 1] += np.sum(grad[block] ** 2)
    return loss, np.sqrt(squares)


def reference_saturation(net, X):
    """Per hidden layer: the fraction of units with phi' < 1e-3 on every row, by the reference."""
    x = np.asarray(X, np.float64).tolist()
    fractions = []
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        Z, x = reference.dense_forward(np.asarray(W, np.float64).tolist(),
                                       None if b is None else np.asarray(b, np.float64).tolist(),
                                       x, net.activation, net.negative_slope)
        slopes = np.array([[reference.activation_derivative(net.activation, z, net.negative_slope)
                            for z in row] for row in Z])
        fractions.append(np.mean(np.all(slopes < SATURATION_THRESHOLD, axis=0)))
    return fractions


def tiny_problem(rng, activation="tanh", output="softmax", dtype=np.float64, n=12,
                 sizes=(3, 5, 4, 2), **options):
    X = rng.standard_normal((n, sizes[0]))
    y = make_targets(output, n, sizes[-1], rng)
    net = Network(sizes, activation=activation, output=output, dtype=dtype, seed=3, **options)
    return net, X, y


# ---------------------------------------------------------------- layer_diagnostics

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["softmax", "logistic", "squared", "poisson"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_norms_and_loss_match_the_reference(activation, output, dtype, rng):
    net, X, y = tiny_problem(rng, activation, output, dtype, alpha=0.1)
    sample_weight = rng.uniform(0.5, 2.0, X.shape[0])
    diagnostics = layer_diagnostics(net, X, y, sample_weight)
    loss, norms = reference_layer_norms(net, X, y, sample_weight)
    assert len(diagnostics["gradient_norms"]) == net.n_layers
    assert all(isinstance(norm, float) for norm in diagnostics["gradient_norms"])
    tolerance = REFERENCE_TOLERANCE[dtype]
    np.testing.assert_allclose(diagnostics["gradient_norms"], norms, rtol=tolerance)
    assert diagnostics["loss"] == pytest.approx(loss, rel=tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_saturation_matches_the_reference(activation, dtype, rng):
    # Large weights and biases: many units saturate on some rows, some on all.
    net, X, y = tiny_problem(rng, activation, dtype=dtype, n=8, sizes=(3, 12, 10, 2))
    for W, b in zip(net.weights, net.biases):
        W[...] = rng.normal(0.0, 3.0, W.shape)
        b[...] = rng.choice([-12.0, 0.0, 12.0], b.shape)
    saturation = layer_diagnostics(net, X, y)["saturation"]
    assert len(saturation) == net.n_layers - 1
    assert saturation == pytest.approx(reference_saturation(net, X), abs=0)
    if activation in ("identity", "leaky_relu"):
        assert saturation == [0.0, 0.0]   # phi' >= negative_slope = 0.01 > 1e-3


def test_the_problem_above_has_partly_saturated_layers(rng):
    # So that the comparison above is not one of zeros only.
    net, X, y = tiny_problem(rng, "tanh", n=8, sizes=(3, 12, 10, 2))
    for W, b in zip(net.weights, net.biases):
        W[...] = rng.normal(0.0, 3.0, W.shape)
        b[...] = rng.choice([-12.0, 0.0, 12.0], b.shape)
    saturation = layer_diagnostics(net, X, y)["saturation"]
    assert all(0.0 < fraction < 1.0 for fraction in saturation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["tanh", "logistic", "softplus"])
def test_a_first_layer_pushed_far_from_zero_is_all_saturated(activation, dtype, rng):
    net, X, y = tiny_problem(rng, activation, dtype=dtype, n=30, sizes=(3, 6, 5, 2))
    net.weights[0][...] = 0.01
    # tanh and logistic saturate at either end; softplus only at the negative one.
    net.biases[0][...] = -20.0 if activation == "softplus" else [20, -20, 20, -20, 30, -30]
    diagnostics = layer_diagnostics(net, X, y)
    assert diagnostics["saturation"][0] == 1.0
    # Almost no gradient reaches the saturated layer's weights.
    assert diagnostics["gradient_norms"][0] < 1e-6 * diagnostics["gradient_norms"][-1]


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_relu_layer_with_very_negative_biases_is_all_dead(dtype, rng):
    net, X, y = tiny_problem(rng, "relu", dtype=dtype, n=30, sizes=(3, 6, 5, 2))
    net.biases[1][...] = -1e3
    diagnostics = layer_diagnostics(net, X, y)
    assert diagnostics["saturation"] == [0.0, 1.0]
    # Dead units pass back nothing: no gradient below them, and none into them.
    assert diagnostics["gradient_norms"][:2] == [0.0, 0.0]


@pytest.mark.parametrize("negative_slope, saturated", [(0.01, 0.0), (1e-4, 1.0)])
def test_leaky_relu_saturates_only_with_a_tiny_slope(negative_slope, saturated, rng):
    net, X, y = tiny_problem(rng, "leaky_relu", n=30, negative_slope=negative_slope)
    net.biases[0][...] = -1e3
    assert layer_diagnostics(net, X, y)["saturation"][0] == saturated


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_fresh_glorot_network_has_few_saturated_units(activation, dtype, rng):
    X = rng.standard_normal((500, 20))
    y = rng.integers(0, 3, 500)
    net = Network((20, 64, 32, 3), activation=activation, dtype=dtype, seed=0)
    diagnostics = layer_diagnostics(net, X, y)
    assert all(fraction < 0.05 for fraction in diagnostics["saturation"])
    assert all(norm > 0 for norm in diagnostics["gradient_norms"])


def test_a_unit_counts_as_saturated_only_if_saturated_on_every_row():
    # Unit 1: z = 10 x (saturated) except on the last row, where x = 0;
    # unit 2: z = 0 on every row, never saturated.
    net = Network((1, 2, 2), activation="tanh")
    net.weights[0][...] = [[10.0], [0.0]]
    net.biases[0][...] = 0.0
    X = np.array([[1.0], [-2.0], [3.0], [0.0]])
    y = np.array([0, 1, 0, 1])
    assert layer_diagnostics(net, X, y)["saturation"] == [0.0]
    assert layer_diagnostics(net, X, y, max_rows=3)["saturation"] == [0.5]


@pytest.mark.parametrize("dtype", DTYPES)
def test_only_the_first_max_rows_rows_count(dtype, rng):
    net, X, y = tiny_problem(rng, "relu", "squared", dtype, n=40)
    sample_weight = rng.uniform(0.5, 2.0, 40)
    assert (layer_diagnostics(net, X, y, sample_weight, max_rows=7)
            == layer_diagnostics(net, X[:7], y[:7], sample_weight[:7]))
    assert layer_diagnostics(net, X, y, max_rows=40) == layer_diagnostics(net, X, y, max_rows=1000)
    assert layer_diagnostics(net, X, y, max_rows=1)["loss"] == pytest.approx(
        float(net.loss(X[:1], y[:1])))


def test_a_network_without_hidden_layers_has_no_saturation(rng):
    net, X, y = tiny_problem(rng, sizes=(3, 2))
    diagnostics = layer_diagnostics(net, X, y)
    assert diagnostics["saturation"] == [] and len(diagnostics["gradient_norms"]) == 1


def test_networks_without_biases(rng):
    net, X, y = tiny_problem(rng, "tanh", bias=False)
    diagnostics = layer_diagnostics(net, X, y)
    _, norms = reference_layer_norms(net, X, y)
    np.testing.assert_allclose(diagnostics["gradient_norms"], norms, rtol=1e-10)
    assert diagnostics["saturation"] == reference_saturation(net, X)


def test_the_callers_arrays_and_the_network_are_not_modified(rng):
    net, X, y = tiny_problem(rng, "relu", "squared", n=20)
    sample_weight = rng.uniform(0.5, 2.0, 20)
    copies = [array.copy() for array in (X, y, sample_weight, net.params)]
    for array in (X, y, sample_weight):
        array.setflags(write=False)
    layer_diagnostics(net, X, y, sample_weight, max_rows=5)
    for array, copy in zip((X, y, sample_weight, net.params), copies):
        assert np.array_equal(array, copy)


@pytest.mark.parametrize("max_rows, error", [(0, ValueError), (-3, ValueError),
                                             (2.5, TypeError), (True, TypeError),
                                             ("10", TypeError)])
def test_bad_max_rows(max_rows, error, rng):
    net, X, y = tiny_problem(rng)
    with pytest.raises(error, match="max_rows"):
        layer_diagnostics(net, X, y, max_rows=max_rows)
    with pytest.raises(error, match="max_rows"):
        DiagnosticsRecorder(X, y, max_rows=max_rows)


def test_bad_data_is_named_by_the_network_checks(rng):
    net, X, y = tiny_problem(rng)
    with pytest.raises(ValueError, match="X has 2 features, but the network takes 3"):
        layer_diagnostics(net, X[:, :2], y)
    with pytest.raises(ValueError, match="y has 11 labels, but X has 12 examples"):
        layer_diagnostics(net, X, y[:11])
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        layer_diagnostics(net, X, y, np.ones(3))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        layer_diagnostics(net, X, y)


# ---------------------------------------------------------------- the recorder and the trainer

def trainer_for(net, optimizer=None, **options):
    return StochasticTrainer(net, optimizer or SGD(learning_rate=0.1), batch_size=5,
                             shuffle=False, tol=0.0, n_iter_no_change=np.inf, **options)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_recorder_records_each_epoch(dtype, rng):
    net, X, y = tiny_problem(rng, "tanh", dtype=dtype, n=30)
    recorder = DiagnosticsRecorder(X, y, max_rows=20)
    trainer = trainer_for(net, Adam(learning_rate=0.01))
    assert trainer.fit(X, y, max_epochs=4, on_epoch=recorder) == MAX_EPOCHS
    assert [record["epoch"] for record in recorder.history] == [1, 2, 3, 4]
    assert [record["loss"] for record in recorder.history] == trainer.loss_curve
    last = layer_diagnostics(net, X, y, max_rows=20)
    assert recorder.history[-1] == {
        "epoch": 4, "loss": trainer.loss_curve[-1], "gradient_norms": last["gradient_norms"],
        "saturation": last["saturation"], "sample_loss": last["loss"]}
    # The epochs go on counting across calls, as the trainer's loss curve does.
    trainer.fit(X, y, max_epochs=2, on_epoch=recorder)
    assert [record["epoch"] for record in recorder.history] == [1, 2, 3, 4, 5, 6]


def test_the_recorder_does_not_change_training(rng):
    net, X, y = tiny_problem(rng, "relu", n=30)
    twin = net.copy()
    trainer_for(net).fit(X, y, max_epochs=3, on_epoch=DiagnosticsRecorder(X, y))
    trainer_for(twin).fit(X, y, max_epochs=3)
    assert np.array_equal(net.params, twin.params)


def test_the_recorder_samples_again_for_another_network(rng):
    net, X, y = tiny_problem(rng, "relu", n=30)
    recorder = DiagnosticsRecorder(X, y)
    trainer_for(net).fit(X, y, max_epochs=1, on_epoch=recorder)
    wider = Network((3, 7, 2), activation="relu", dtype=np.float32, seed=1)
    trainer_for(wider).fit(X, y, max_epochs=1, on_epoch=recorder)
    assert [len(record["gradient_norms"]) for record in recorder.history] == [3, 2]


def test_on_epoch_returning_true_stops_the_trainer(rng):
    net, X, y = tiny_problem(rng, n=30)
    seen = []

    def stop_at_three(trainer):
        seen.append(trainer.n_iter)
        return trainer.n_iter == 3

    trainer = trainer_for(net)
    assert trainer.fit(X, y, max_epochs=10, on_epoch=stop_at_three) == STOPPED_BY_CALLBACK
    assert seen == [1, 2, 3] and trainer.n_iter == 3 and len(trainer.loss_curve) == 3


def test_on_epoch_that_raises_leaves_the_parameters_of_the_epoch_run(rng):
    net, X, y = tiny_problem(rng, n=30)
    twin = net.copy()

    def fail_at_two(trainer):
        if trainer.n_iter == 2:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        trainer_for(net).fit(X, y, max_epochs=10, on_epoch=fail_at_two)
    trainer_for(twin).fit(X, y, max_epochs=2)
    assert np.array_equal(net.params, twin.params)


def test_on_epoch_must_be_callable(rng):
    net, X, y = tiny_problem(rng)
    with pytest.raises(TypeError, match="on_epoch must be callable"):
        trainer_for(net).fit(X, y, max_epochs=1, on_epoch="stop")


# ---------------------------------------------------------------- estimators' callback

def classification(n=120):
    return make_classification(n_samples=n, n_features=6, n_informative=4, n_classes=3,
                               random_state=0)


def regression(n=120):
    X, y = make_regression(n_samples=n, n_features=5, noise=0.1, random_state=0)
    return X, y / np.std(y)


PROBLEMS = {nnbp.MLPClassifier: classification, nnbp.MLPRegressor: regression}


class Recorder:
    """A callback that remembers its calls, and returns True at stop_at."""

    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at

    def __call__(self, epoch, losses, network):
        self.calls.append((epoch, dict(losses), network))
        return epoch == self.stop_at


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("Estimator", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_the_callback_sees_each_epoch_and_its_loss(Estimator, solver):
    X, y = PROBLEMS[Estimator]()
    estimator = Estimator(hidden_layer_sizes=(8,), solver=solver, max_iter=6, random_state=0,
                          learning_rate_init=0.01)
    callback = Recorder()
    with pytest.warns(ConvergenceWarning):
        estimator.fit(X, y, callback=callback)
    epochs = [epoch for epoch, _, _ in callback.calls]
    assert epochs == list(range(1, estimator.n_iter_ + 1)) and estimator.n_iter_ == 6
    assert [losses["loss"] for _, losses, _ in callback.calls] == estimator.loss_curve_
    assert all(network is estimator.network_ for _, _, network in callback.calls)
    expected_keys = {"loss"} if solver == "lbfgs" else {"loss", "validation_score"}
    assert all(set(losses) == expected_keys for _, losses, _ in callback.calls)
    if solver != "lbfgs":
        assert all(losses["validation_score"] is None for _, losses, _ in callback.calls)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_network_the_callback_sees_holds_that_epochs_parameters(solver, dtype):
    X, y = PROBLEMS[nnbp.MLPRegressor]()
    estimator = nnbp.MLPRegressor(hidden_layer_sizes=(8,), solver=solver, max_iter=4,
                                  random_state=0, alpha=0.0, dtype=dtype)
    seen = []

    def record(epoch, losses, network):
        seen.append((losses["loss"], network.params.copy()))

    with pytest.warns(ConvergenceWarning):
        estimator.fit(X, y, callback=record)
    losses = [loss for loss, _ in seen]
    assert len({params.tobytes() for _, params in seen}) == len(seen)   # it moved each time
    if solver == "lbfgs":
        # lbfgs reports the loss at its iterate: the network's loss there.
        net = estimator.network_.copy()
        for loss, params in seen:
            net.params = params
            assert net.loss(X, y) == pytest.approx(loss, rel=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(seen[-1][1], estimator.network_.params)
    assert losses == estimator.loss_curve_


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("Estimator", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_returning_true_stops_training(Estimator, solver):
    X, y = PROBLEMS[Estimator]()
    estimator = Estimator(hidden_layer_sizes=(8,), solver=solver, max_iter=50, random_state=0)
    callback = Recorder(stop_at=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        estimator.fit(X, y, callback=callback)
    assert estimator.n_iter_ == 3 and len(estimator.loss_curve_) == 3
    assert [epoch for epoch, _, _ in callback.calls] == [1, 2, 3]
    # As if max_iter had been 3, less the warning.
    twin = Estimator(hidden_layer_sizes=(8,), solver=solver, max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning):
        twin.fit(X, y)
    assert np.array_equal(estimator.network_.params, twin.network_.params)
    assert estimator.loss_curve_ == twin.loss_curve_
    assert estimator.loss_ == twin.loss_


def test_the_callback_does_not_change_the_fit():
    X, y = classification()
    with pytest.warns(ConvergenceWarning):
        fitted = [nnbp.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
                  .fit(X, y, callback=callback) for callback in (None, Recorder())]
    assert np.array_equal(fitted[0].network_.params, fitted[1].network_.params)


def test_the_callback_sees_the_validation_scores_of_early_stopping():
    X, y = classification(300)
    estimator = nnbp.MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=8,
                                   random_state=0)
    callback = Recorder()
    with pytest.warns(ConvergenceWarning):
        estimator.fit(X, y, callback=callback)
    assert ([losses["validation_score"] for _, losses, _ in callback.calls]
            == estimator.validation_scores_)


def test_stopping_with_early_stopping_restores_the_best_parameters():
    # As at the end of max_iter epochs: the parameters that scored best.
    X, y = classification(300)
    fitted = []
    for max_iter, callback in ((30, Recorder(stop_at=6)), (6, None)):
        estimator = nnbp.MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True,
                                       max_iter=max_iter, random_state=0,
                                       learning_rate_init=0.05)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted.append(estimator.fit(X, y, callback=callback))
    stopped, twin = fitted
    assert stopped.n_iter_ == 6 and stopped.validation_scores_ == twin.validation_scores_
    assert np.array_equal(stopped.network_.params, twin.network_.params)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_a_callback_that_raises_propagates_and_leaves_the_last_parameters(solver):
    X, y = regression()

    def fail_at_three(epoch, losses, network):
        if epoch == 3:
            raise RuntimeError("callback failed")

    estimator = nnbp.MLPRegressor(hidden_layer_sizes=(8,), solver=solver, max_iter=50,
                                  random_state=0)
    with pytest.raises(RuntimeError, match="callback failed"):
        estimator.fit(X, y, callback=fail_at_three)
    twin = nnbp.MLPRegressor(hidden_layer_sizes=(8,), solver=solver, max_iter=50,
                             random_state=0)
    twin.fit(X, y, callback=Recorder(stop_at=3))
    assert np.array_equal(estimator.network_.params, twin.network_.params)
    assert estimator.loss_curve_ == twin.loss_curve_ and estimator.n_iter_ == 3


def test_warm_start_epochs_go_on_counting():
    X, y = regression()
    estimator = nnbp.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, warm_start=True,
                                  random_state=0)
    callback = Recorder()
    with pytest.warns(ConvergenceWarning):
        estimator.fit(X, y, callback=callback)
        estimator.fit(X, y, callback=callback)
    assert [epoch for epoch, _, _ in callback.calls] == [1, 2, 3, 4, 5, 6]
    assert [losses["loss"] for _, losses, _ in callback.calls] == estimator.loss_curve_


@pytest.mark.parametrize("Estimator", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_partial_fit_takes_the_callback(Estimator):
    X, y = PROBLEMS[Estimator]()
    estimator = Estimator(hidden_layer_sizes=(8,), random_state=0)
    callback = Recorder()
    extra = {"classes": np.unique(y)} if Estimator is nnbp.MLPClassifier else {}
    for _ in range(3):
        estimator.partial_fit(X, y, callback=callback, **extra)
        extra = {}
    assert [epoch for epoch, _, _ in callback.calls] == [1, 2, 3]
    assert [losses["loss"] for _, losses, _ in callback.calls] == estimator.loss_curve_


def test_a_pipeline_passes_the_callback_through():
    X, y = classification()
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("mlp", nnbp.MLPClassifier(hidden_layer_sizes=(8,), max_iter=50,
                                                    random_state=0))])
    callback = Recorder(stop_at=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        pipeline.fit(X, y, mlp__callback=callback)
    assert pipeline.named_steps["mlp"].n_iter_ == 4
    assert [epoch for epoch, _, _ in callback.calls] == [1, 2, 3, 4]


@pytest.mark.parametrize("Estimator", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_the_callback_is_a_fit_parameter_not_an_estimator_parameter(Estimator):
    estimator = Estimator(hidden_layer_sizes=(8,), max_iter=2)
    assert "callback" not in estimator.get_params()
    X, y = PROBLEMS[Estimator]()
    with pytest.warns(ConvergenceWarning):
        estimator.fit(X, y, callback=Recorder())
    assert clone(estimator).get_params() == estimator.get_params()


@pytest.mark.parametrize("Estimator", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_a_callback_must_be_callable(Estimator):
    X, y = PROBLEMS[Estimator]()
    with pytest.raises(TypeError, match="callback must be callable"):
        Estimator(hidden_layer_sizes=(8,), max_iter=2).fit(X, y, callback=True)


def test_the_recorder_with_an_estimator_network():
    # layer_diagnostics on the estimator's network from its callback: the CLI's way.
    X, y = classification()
    history = []

    def diagnose(epoch, losses, network):
        labels = np.searchsorted(estimator.classes_, y)
        history.append(layer_diagnostics(network, X, labels))

    estimator = nnbp.MLPClassifier(hidden_layer_sizes=(8, 6), max_iter=3, random_state=0,
                                   activation="tanh")
    with pytest.warns(ConvergenceWarning):
        estimator.fit(X, y, callback=diagnose)
    assert len(history) == 3
    assert all(len(record["saturation"]) == 2 for record in history)
