"""The robust regression losses (huber, absolute_error, quantile) in DaskMLPRegressor.

Each shard sums its rows' loss and gradient with the loss object, in the
compiled core, and local SGD runs the compiled epoch with it: the cluster
trains what nnbp.MLPRegressor trains on the concatenated rows, up to the order
of summation (lbfgs and full batch), or minibatch sgd on the global batch
(sync_every=1).
"""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
from sklearn.base import clone  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

import nnbp  # noqa: E402
from nnbp import reference  # noqa: E402
from nnbp.dask import DaskMLPRegressor, _ingest  # noqa: E402
from nnbp.gradcheck import central_differences  # noqa: E402
from nnbp.losses import AbsoluteError, HuberLoss, PinballLoss  # noqa: E402
from support import DTYPES, REFERENCE_TOLERANCE, fit_quietly, relative_error, two_worker_client  # noqa: E402
from test_dask import as_dask, placed  # noqa: E402

pytestmark = pytest.mark.slow

# The estimator's options of each loss, and its loss object.
LOSSES = [(dict(loss="huber", huber_delta=0.5), HuberLoss(0.5)),
          (dict(loss="absolute_error"), AbsoluteError()),
          (dict(loss="quantile", quantile=0.8), PinballLoss(0.8))]
LOSS_IDS = ["huber", "absolute_error", "quantile"]


@pytest.fixture(scope="module")
def client():
    with two_worker_client() as client:
        yield client


def heavy_tailed_problem(rng, n=300, n_features=4):
    """A regression with outliers (Student's t noise, 1.5 degrees of freedom): the
    robust losses' case, and residuals on both sides of every kink."""
    X = rng.normal(size=(n, n_features))
    y = np.tanh(X @ rng.normal(size=n_features)) + 0.3 * rng.standard_t(1.5, size=n)
    return X, y



def initial_network(params, sizes, dtype=np.float64):
    """The network a fit with params starts from (the estimator's own draw)."""
    start = nnbp.MLPRegressor(**params)
    start._random_state = np.random.RandomState(0)
    start._initialize(sizes, np.dtype(dtype))
    return start.network_


def cluster_data(client, X, y, weight, dtype):
    """The rows as a fit holds them on the workers (they must be released); weight: the
    rows' weights, or None."""
    model = DaskMLPRegressor(hidden_layer_sizes=(5,), dtype=dtype)
    Xd, yd = as_dask(X, y, chunks=[20, 35, 5])
    wd = None if weight is None else as_dask(weight, chunks=[20, 35, 5])[0]
    return _ingest(model, client, Xd, yd, wd, True, False)


def reference_loss_and_grad(net, X, y, weight, loss):
    """The oracle's loss and gradient of a built-in loss: its logits, the loss's value
    and gradient there, backpropagated one example at a time (no penalty: alpha=0)."""
    weights = [np.asarray(W, np.float64).tolist() for W in net.weights]
    biases = [np.asarray(b, np.float64).tolist() for b in net.biases]
    rows = np.asarray(X, np.float64).tolist()
    Z = reference.logits(weights, biases, rows, net.activation)
    name, parameter = loss.compiled
    value, G = reference.regression_loss(name, Z, np.asarray(y)[:, None].tolist(), parameter,
                                         list(weight))
    dweights, dbiases, _ = reference.vjp(weights, biases, rows, G, net.activation, net.output,
                                         wrt="logits")
    return value, np.concatenate([np.ravel(g) for g in dweights + dbiases])


# ---------------------------------------------------------------- the shards' sums

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options, loss", LOSSES, ids=LOSS_IDS)
def test_the_clusters_loss_and_gradient_are_the_references(client, rng, dtype, options, loss):
    """Summed over the shards (partitions of 20, 35 and 5 rows, weighted): the oracle's."""
    X, y = heavy_tailed_problem(rng, n=60, n_features=3)
    weight = rng.uniform(0.5, 2.0, size=60)
    net = nnbp.Network([3, 5, 1], activation="tanh", output="squared", dtype=dtype, seed=0)
    data = cluster_data(client, X, y, weight, dtype)
    try:
        value, grad = data.loss_and_grad(net, net.params, loss)
    finally:
        data.release()
    expected_value, expected_grad = reference_loss_and_grad(net, X, y, weight, loss)
    assert grad.dtype == dtype
    assert relative_error(grad, expected_grad) < REFERENCE_TOLERANCE[dtype]
    assert relative_error(value, expected_value) < REFERENCE_TOLERANCE[dtype]
    # And what the network computes in memory, in its dtype.
    local_value, local_grad = net.loss_and_grad(X, y, weight, loss=loss)
    assert relative_error(grad, local_grad) < REFERENCE_TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, loss", [("huber", HuberLoss(0.5)), ("l1", AbsoluteError())])
def test_the_clusters_loss_and_gradient_are_torchs(client, rng, dtype, name, loss):
    """torch.nn.HuberLoss and L1Loss (the mean over the rows of one output), by autograd
    through the same network; torch has no pinball loss."""
    torch = pytest.importorskip("torch")
    X, y = heavy_tailed_problem(rng, n=60, n_features=3)
    net = nnbp.Network([3, 5, 1], activation="tanh", output="squared", dtype=dtype, seed=0)
    data = cluster_data(client, X, y, None, dtype)
    try:
        value, grad = data.loss_and_grad(net, net.params, loss)
    finally:
        data.release()
    blocks = {block: torch.tensor(net.params[where], requires_grad=True)
              for block, where in net.block_slices()}
    W1, W2 = blocks["W(1)"].reshape(5, 3), blocks["W(2)"].reshape(1, 5)
    inputs = torch.tensor(X.astype(dtype))
    Z = torch.tanh(inputs @ W1.T + blocks["b(1)"]) @ W2.T + blocks["b(2)"]
    criterion = torch.nn.HuberLoss(delta=0.5) if name == "huber" else torch.nn.L1Loss()
    expected = criterion(Z, torch.tensor(y.astype(dtype))[:, None])
    expected.backward()
    expected_grad = np.empty_like(grad)
    for block, where in net.block_slices():
        expected_grad[where] = blocks[block].grad.numpy()
    assert relative_error(value, expected.item()) < REFERENCE_TOLERANCE[dtype]
    assert relative_error(grad, expected_grad) < REFERENCE_TOLERANCE[dtype]


@pytest.mark.parametrize("options, loss", LOSSES, ids=LOSS_IDS)
def test_the_clusters_gradient_is_that_of_its_loss_by_finite_differences(client, rng, options,
                                                                          loss):
    """float64, with the penalty: central differences of the cluster's own loss (tanh
    units and residuals far from 0 at this step: no kink is crossed)."""
    X, y = heavy_tailed_problem(rng, n=60, n_features=3)
    weight = rng.uniform(0.5, 2.0, size=60)
    net = nnbp.Network([3, 5, 1], activation="tanh", output="squared", alpha=0.3, seed=0)
    data = cluster_data(client, X, y, weight, np.float64)
    coordinates = np.arange(0, net.n_params, 2)       # half of them: a round trip each

    def loss_at(params):
        return data.loss_and_grad(net, params, loss)[0]

    try:
        _, grad = data.loss_and_grad(net, net.params, loss)
        numeric = central_differences(loss_at, net.params.copy(), 6e-6, coordinates)
    finally:
        data.release()
    # The steps move no residual across a kink (0; Huber's gradient is continuous).
    assert np.min(np.abs(net.forward(X).ravel() - y)) > 1e-3
    assert relative_error(grad[coordinates], numeric) < 1e-6


# ---------------------------------------------------------------- fits against the local ones

@pytest.mark.parametrize("options, loss", LOSSES, ids=LOSS_IDS)
def test_lbfgs_with_a_robust_loss_equals_the_local_fit(client, rng, options, loss):
    """float64, 30 iterations: within 1e-10, only the order of summation differs (as the
    squared error's, in test_dask.py)."""
    X, y = heavy_tailed_problem(rng)
    weight = rng.uniform(0, 2, size=len(X))
    params = dict(hidden_layer_sizes=(8,), activation="tanh", solver="lbfgs", max_iter=30,
                  tol=0.0, alpha=0.01, random_state=0, dtype="float64", **options)
    Xd, yd, wd = as_dask(X, y, weight, chunks=[100, 150, 50])
    ours = fit_quietly(DaskMLPRegressor(**params), Xd, yd, sample_weight=wd)
    local = fit_quietly(nnbp.MLPRegressor(**params), X, y, sample_weight=weight)
    assert ours.n_iter_ == local.n_iter_ == 30
    assert relative_error(ours.network_.params, local.network_.params) < 1e-10
    assert relative_error(ours.loss_curve_, local.loss_curve_) < 1e-10
    # The loss trained is the robust one: not the squared error's fit.
    squared = fit_quietly(nnbp.MLPRegressor(**{**params, "loss": "squared_error"}), X, y,
                          sample_weight=weight)
    assert relative_error(ours.network_.params, squared.network_.params) > 1e-3


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_full_batch_descent_with_the_huber_loss_equals_the_local_fit(client, rng, solver):
    X, y = heavy_tailed_problem(rng)
    params = dict(hidden_layer_sizes=(8,), solver=solver, batch_size=300, max_iter=20,
                  learning_rate_init=0.05, alpha=0.1, random_state=0, dtype="float64",
                  loss="huber", huber_delta=0.5)
    ours = fit_quietly(DaskMLPRegressor(**params), *as_dask(X, y, chunks=100))
    local = fit_quietly(nnbp.MLPRegressor(**params), X, y)
    assert ours.n_iter_ == local.n_iter_ == 20 and ours.t_ == local.t_
    assert relative_error(ours.network_.params, local.network_.params) < 1e-12
    assert relative_error(ours.loss_curve_, local.loss_curve_) < 1e-12


@pytest.mark.parametrize("options, loss", LOSSES, ids=LOSS_IDS)
def test_local_sgd_with_sync_every_1_is_minibatch_sgd_of_the_loss(client, rng, options, loss):
    """Plain sgd averaged after every step: each step is that of the union of the shards'
    batches, with the robust loss and the penalty of the global batch."""
    X, y = heavy_tailed_problem(rng, n=200, n_features=4)
    Xd, yd = placed(client, X, y, rows=100)       # shards: rows 0-99 and 100-199
    params = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=0.0, batch_size=40,
                  learning_rate_init=0.1, alpha=0.5, shuffle=False, max_iter=1, random_state=0,
                  **options)
    ours = fit_quietly(DaskMLPRegressor(**params, sync_every=1), Xd, yd)

    net = initial_network(params, [4, 6, 1])
    shards = [np.arange(0, 100), np.arange(100, 200)]
    for step in range(5):
        batch = np.concatenate([rows[20 * step:20 * step + 20] for rows in shards])
        _, grad = net.loss_and_grad(X[batch], y[batch], loss=loss)
        net.params -= 0.1 * grad
    assert relative_error(ours.network_.params, net.params) < 1e-12


def test_local_adam_with_the_quantile_loss_fits_the_quantile(client, rng):
    """Adam's local SGD, averaged every 4 steps, with quantile=0.8: about 80% of the
    targets below the prediction, as the local fit has them."""
    X, y = heavy_tailed_problem(rng, n=600)
    params = dict(hidden_layer_sizes=(), solver="adam", learning_rate_init=0.05,
                  batch_size=50, max_iter=60, random_state=0, loss="quantile", quantile=0.8)
    ours = fit_quietly(DaskMLPRegressor(**params, sync_every=4), *placed(client, X, y, rows=150))
    local = fit_quietly(nnbp.MLPRegressor(**params), X, y)
    below = np.mean(y < ours.predict(as_dask(X)[0]).compute())
    local_below = np.mean(y < local.predict(X))
    assert abs(below - 0.8) <= 0.03 and abs(local_below - 0.8) <= 0.03


# ---------------------------------------------------------------- parameters and files

def test_the_loss_parameters_are_the_local_ones_and_validated_alike(client, rng):
    model = DaskMLPRegressor(loss="quantile", quantile=0.7, huber_delta=0.2, sync_every=3)
    params = clone(model).get_params()
    assert (params["loss"], params["quantile"], params["huber_delta"]) == ("quantile", 0.7, 0.2)
    Xd, yd = as_dask(*heavy_tailed_problem(rng, n=40), chunks=20)
    for bad in (dict(huber_delta=0.0), dict(huber_delta=-1.0), dict(quantile=0.0),
                dict(quantile=1.0), dict(loss="pinball")):
        name = next(iter(bad))
        with pytest.raises(InvalidParameterError, match=name):
            DaskMLPRegressor(**bad).fit(Xd, yd)
        with pytest.raises(InvalidParameterError, match=name):
            nnbp.MLPRegressor(**bad).fit(np.zeros((4, 2)), np.zeros(4))


def test_a_robust_fit_saves_and_loads_as_the_local_estimator(client, rng, tmp_path):
    X, y = heavy_tailed_problem(rng, n=120)
    model = fit_quietly(DaskMLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=10,
                                         loss="huber", huber_delta=0.3, random_state=0),
                        *as_dask(X, y, chunks=60))
    model.save(tmp_path / "model.npz")
    loaded = nnbp.load(tmp_path / "model.npz")
    assert type(loaded) is nnbp.MLPRegressor
    assert loaded.get_params() == model.to_local().get_params()
    assert (loaded.loss, loaded.huber_delta) == ("huber", 0.3)
    assert np.array_equal(loaded.predict(X), model.to_local().predict(X))
