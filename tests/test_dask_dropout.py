"""Dropout in nnbp.dask's local SGD.

Each shard's round of local steps is a compiled epoch of its own on its
worker, with dropout's masks drawn as a local epoch draws them: from a seed
that the round's generator gives, seeded by (the epoch's dropout seed, the
shard's number, the round's first step), the epoch's seed drawn from the fit's
random_state after the order of the rows. So a fit is reproducible, and the
masks differ from shard to shard and round to round: with sync_every=1, each
step is minibatch sgd with those masks, by hand and in torch.optim.SGD (skipped
without torch). lbfgs and the full batch (the cluster's summed gradient,
outside the compiled epoch) refuse dropout by name. On a LocalCluster of 2
worker processes, shared by the module.
"""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
from sklearn.base import clone  # noqa: E402

import nnbp  # noqa: E402
from nnbp.dask import DaskMLPClassifier, DaskMLPRegressor  # noqa: E402
from nnbp.datasets import load_digits  # noqa: E402
from support import REFERENCE_TOLERANCE, fit_quietly, relative_error, two_worker_client  # noqa: E402
from test_dask import placed, regression_problem  # noqa: E402

pytestmark = pytest.mark.slow

INT32_TOP, INT64_TOP = np.iinfo(np.int32).max, np.iinfo(np.int64).max
# The relative error of local SGD against the same steps by hand: float64 as
# tests/test_dask.py has it; float32 that of the compiled path against the reference.
BY_HAND_TOLERANCE = {np.float32: REFERENCE_TOLERANCE[np.float32], np.float64: 1e-12}


@pytest.fixture(scope="module")
def client():
    with two_worker_client() as client:
        yield client



def round_seed(epoch_seed, shard, first_step):
    """The seed of dropout's masks in a shard's round, as the Dask page documents it."""
    return int(np.random.default_rng((epoch_seed, shard, first_step)).integers(INT64_TOP))


def initial_network(params, n_features, dtype):
    """The network a fit with params starts from, and the fit's random_state after it."""
    start = nnbp.MLPRegressor(**params)
    random_state = start._random_state = np.random.RandomState(0)
    start._initialize([n_features, *params["hidden_layer_sizes"], 1], dtype)
    return start.network_, random_state


def rounds_masks(net, rates, epoch_seed, n_shards, step):
    """Each shard's masks in the round of one step (sync_every=1): that round is an epoch
    of one batch (20 rows) on its worker, whose batch is number 0."""
    return [net.dropout_masks(20, rates, round_seed(epoch_seed, s, step))
            for s in range(n_shards)]


def by_hand(params, X, y, shards, dtype, epochs):
    """Plain sgd with sync_every=1, step by step: each step that of the union of the
    shards' batches (20 rows each), each shard's rows dropped by its round's masks.

    Returns the parameters, and the masks' first layer of each shard at each step.
    """
    net, random_state = initial_network(params, X.shape[1], dtype)
    rates = params["dropout"]
    X = X.astype(dtype)
    drawn = []
    for _ in range(epochs):
        # The fit's draws in an epoch: the order's seed, then dropout's.
        order_seed = random_state.randint(INT32_TOP) if params["shuffle"] else None
        epoch_seed = (int(random_state.randint(INT64_TOP, dtype=np.int64))
                      if np.any(rates) else None)
        orders = [rows if order_seed is None
                  else rows[np.random.default_rng((order_seed, s)).permutation(len(rows))]
                  for s, rows in enumerate(shards)]
        for step in range(5):
            batches = [rows[20 * step:20 * step + 20] for rows in orders]
            masks = None
            if epoch_seed is not None:
                per_shard = rounds_masks(net, rates, epoch_seed, len(shards), step)
                masks = [np.concatenate(layer) for layer in zip(*per_shard)]
                drawn.append([shard_masks[0] for shard_masks in per_shard])
            batch = np.concatenate(batches)
            _, grad = net.loss_and_grad(X[batch], y[batch], dropout_masks=masks)
            net.params -= dtype(0.1) * grad
    return net.params, drawn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout, shuffle", [([0.3, 0.1], False), ([0.3, 0.1], True),
                                              (0.0, True)])
def test_local_sgd_with_sync_every_1_drops_as_minibatch_sgd_with_the_rounds_masks(
        client, rng, dtype, dropout, shuffle):
    """Plain sgd averaged after every step: each step is that of the union of the shards'
    batches, each shard's dropped by the masks of its round (none with dropout=0, whose
    fit draws only the orders, as before dropout)."""
    X, y = regression_problem(rng, n=200, n_features=4)
    Xd, yd = placed(client, X, y, rows=100)       # shards: rows 0-99 and 100-199
    params = dict(hidden_layer_sizes=(6, 5), solver="sgd", momentum=0.0, batch_size=40,
                  learning_rate_init=0.1, alpha=0.5, shuffle=shuffle, max_iter=2,
                  random_state=0, dtype=np.dtype(dtype).name, dropout=dropout, tol=0.0,
                  n_iter_no_change=100)
    ours = fit_quietly(DaskMLPRegressor(**params, sync_every=1), Xd, yd)
    expected, drawn = by_hand(params, X, y, [np.arange(0, 100), np.arange(100, 200)], dtype,
                              epochs=2)
    assert ours.n_iter_ == 2 and ours.network_.dtype == dtype
    assert relative_error(ours.network_.params, expected) < BY_HAND_TOLERANCE[dtype]
    if drawn:
        # The masks differ from shard to shard and from round to round (in an epoch
        # and across epochs), and each drops some units.
        firsts = [mask for step in drawn for mask in step]
        assert all((mask == 0).any() for mask in firsts)
        assert len({mask.tobytes() for mask in firsts}) == len(firsts) == 2 * 2 * 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_local_sgd_with_dropout_is_torchs_sgd_with_the_rounds_masks(client, rng, dtype):
    """torch.optim.SGD on the union of the shards' batches, each hidden activation times
    its shard's round's mask / (1 - p), written out as nn.Dropout computes in train mode."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: nnbp never needs it")
    X, y = regression_problem(rng, n=200, n_features=4)
    Xd, yd = placed(client, X, y, rows=100)       # shards: rows 0-99 and 100-199
    rates = (0.3, 0.1)
    params = dict(hidden_layer_sizes=(6, 5), solver="sgd", momentum=0.0, batch_size=40,
                  learning_rate_init=0.1, alpha=0.0, shuffle=False, max_iter=1,
                  random_state=0, dtype=np.dtype(dtype).name, dropout=list(rates))
    ours = fit_quietly(DaskMLPRegressor(**params, sync_every=1), Xd, yd)

    net, random_state = initial_network(params, 4, dtype)
    epoch_seed = int(random_state.randint(INT64_TOP, dtype=np.int64))
    weights = [torch.tensor(W, requires_grad=True) for W in net.weights]
    biases = [torch.tensor(b, requires_grad=True) for b in net.biases]
    sgd = torch.optim.SGD(weights + biases, lr=0.1)
    X, y = torch.tensor(X.astype(dtype)), torch.tensor(y.astype(dtype))
    for step in range(5):
        rows = np.concatenate([np.arange(20 * step, 20 * step + 20) + 100 * s for s in (0, 1)])
        masks = [np.concatenate(layer)
                 for layer in zip(*rounds_masks(net, rates, epoch_seed, 2, step))]
        h = X[rows]
        for l, (W, b) in enumerate(zip(weights, biases)):
            h = h @ W.T + b
            if l + 1 < len(weights):
                keep = torch.tensor((masks[l] != 0).astype(dtype))
                h = torch.relu(h) * keep / (1 - rates[l])
        # nnbp's squared error: half the squared error, averaged over the rows.
        loss = 0.5 * ((h[:, 0] - y[rows]) ** 2).mean()
        sgd.zero_grad()
        loss.backward()
        sgd.step()
    expected = np.concatenate([W.detach().numpy().ravel() for W in weights]
                              + [b.detach().numpy().ravel() for b in biases])
    assert relative_error(ours.network_.params, expected) < BY_HAND_TOLERANCE[dtype]


def digits_on_the_cluster(client):
    X, y = load_digits()
    return placed(client, X[:600] / 16.0, y[:600], rows=150)


def test_a_fit_with_dropout_is_reproducible_for_its_random_state(client):
    Xd, yd = digits_on_the_cluster(client)
    params = dict(hidden_layer_sizes=(32, 16), solver="adam", batch_size=40, max_iter=3,
                  learning_rate_init=0.01, sync_every=3, client=client)

    def fitted(**changes):
        options = {**params, "dropout": 0.3, "random_state": 0, **changes}
        return fit_quietly(DaskMLPClassifier(**options), Xd, yd).network_.params

    first = fitted()
    assert np.array_equal(fitted(), first)
    assert not np.array_equal(fitted(random_state=1), first)
    # The same initial parameters and orders without dropout: dropout changed the steps.
    assert not np.array_equal(fitted(dropout=0.0), first)


def test_a_classifier_learns_the_digits_with_dropout(client):
    Xd, yd = digits_on_the_cluster(client)
    X, y = load_digits()
    params = dict(hidden_layer_sizes=(64,), batch_size=40, max_iter=30, dropout=0.2,
                  random_state=0)
    model = fit_quietly(DaskMLPClassifier(**params, client=client), Xd, yd)
    local = fit_quietly(nnbp.MLPClassifier(**params), X[:600] / 16.0, y[:600])
    # Held-out digits: the network, which never drops at prediction, has learned them,
    # as the local fit at the same global batch has (both 91% here).
    held_out = X[600:1200] / 16.0, y[600:1200]
    accuracy = model.to_local().score(*held_out)
    assert accuracy > 0.85 and abs(accuracy - local.score(*held_out)) < 0.03


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_the_full_batch_refuses_dropout_by_solver(client, rng, solver):
    X, y = regression_problem(rng, n=200, n_features=4)
    Xd, yd = placed(client, X, y, rows=100)
    # batch_size="auto" is min(200, rows): all 200 rows, the cluster's summed gradient.
    model = DaskMLPRegressor(hidden_layer_sizes=(6,), solver=solver, dropout=0.2,
                             random_state=0, client=client)
    with pytest.raises(ValueError, match=rf"solver='{solver}' with a batch of all of them.*"
                                         r"batch_size below 200, or dropout=0\.0"):
        model.fit(Xd, yd)
    # A smaller batch trains in local SGD, with dropout.
    fit_quietly(model.set_params(batch_size=50, max_iter=2), Xd, yd)
    assert model.n_iter_ == 2


@pytest.mark.parametrize("dask_class", [DaskMLPClassifier, DaskMLPRegressor])
def test_lbfgs_and_bad_rates_are_refused_by_name(client, rng, dask_class):
    X, y = regression_problem(rng, n=200, n_features=4)
    Xd, yd = placed(client, X, (y > 0).astype(int) if dask_class is DaskMLPClassifier else y,
                    rows=100)
    with pytest.raises(ValueError, match="not solver='lbfgs', which is deterministic"):
        dask_class(hidden_layer_sizes=(6,), solver="lbfgs", dropout=0.2).fit(Xd, yd)
    for bad in (1.0, -0.5):
        with pytest.raises(ValueError, match="dropout"):
            dask_class(hidden_layer_sizes=(6,), dropout=bad).fit(Xd, yd)
    with pytest.raises(ValueError, match=r"one rate per hidden layer \(1\)"):
        dask_class(hidden_layer_sizes=(6,), dropout=[0.1, 0.2]).fit(Xd, yd)


@pytest.mark.parametrize("dask_class", [DaskMLPClassifier, DaskMLPRegressor])
def test_dropout_is_a_parameter_that_clones(client, dask_class):
    model = dask_class(hidden_layer_sizes=(6, 4), dropout=[0.25, 0.5], sync_every=2,
                       client=client)
    assert model.get_params()["dropout"] == [0.25, 0.5]
    twin = clone(model)
    assert twin.get_params()["dropout"] == [0.25, 0.5] and twin.client is client
    assert dask_class().get_params()["dropout"] == 0.0


def test_a_fit_with_dropout_saves_and_loads_as_the_local_estimator(client, rng, tmp_path):
    X, y = regression_problem(rng, n=200, n_features=4)
    Xd, yd = placed(client, X, y, rows=100)
    model = fit_quietly(DaskMLPRegressor(hidden_layer_sizes=(6,), batch_size=50, max_iter=3,
                                         dropout=0.3, random_state=0, client=client), Xd, yd)
    model.save(tmp_path / "model")
    loaded = nnbp.load(tmp_path / "model")
    assert type(loaded) is nnbp.MLPRegressor and loaded.get_params()["dropout"] == 0.3
    assert np.array_equal(loaded.predict(X), model.predict(Xd).compute())
