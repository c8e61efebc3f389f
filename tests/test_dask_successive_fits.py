"""Successive fits on one cluster, as a user in a notebook makes them.

One LocalCluster, shared by the module, and fit after fit on it: on the same
data scattered again (a cell run again), on fresh data, refits of one
estimator, and a warm start. Each fit must find its data where it put it, and
give what the same fit gives alone.
"""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
import dask.array as da  # noqa: E402
from sklearn.base import clone  # noqa: E402

from nnbp.dask import DaskMLPRegressor, LostDataError  # noqa: E402
from support import fit_quietly, relative_error, two_worker_client  # noqa: E402
from test_dask import as_dask, placed, regression_problem  # noqa: E402

pytestmark = pytest.mark.slow

LBFGS = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=10, random_state=0)
LOCAL_SGD = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=0.0, batch_size=40,
                 learning_rate_init=0.1, shuffle=False, max_iter=2, random_state=0)


@pytest.fixture(scope="module")
def client():
    with two_worker_client() as client:
        yield client



def fit_on_scattered(client, X, y, params):
    """A fit on X and y scattered from memory for it: the futures die with the call, as
    a test's do when it returns, or a notebook's when its variables are reassigned."""
    Xd, yd = placed(client, X, y, rows=100)
    return fit_quietly(DaskMLPRegressor(**params, sync_every=1), Xd, yd).network_.params


@pytest.mark.parametrize("params", [LBFGS, LOCAL_SGD], ids=["lbfgs", "local_sgd"])
def test_the_same_data_scattered_again_fit_after_fit(client, params):
    X, y = regression_problem(np.random.default_rng(1), n=200, n_features=4)
    first = fit_on_scattered(client, X, y, params)
    for _ in range(3):
        assert np.array_equal(fit_on_scattered(client, X, y, params), first)


def test_fresh_data_fit_after_fit(client):
    results = {}
    for seed in range(4):
        X, y = regression_problem(np.random.default_rng(seed), n=200, n_features=4)
        results[seed] = fit_on_scattered(client, X, y, LOCAL_SGD)
    # And the first again, after the others.
    X, y = regression_problem(np.random.default_rng(0), n=200, n_features=4)
    assert np.array_equal(fit_on_scattered(client, X, y, LOCAL_SGD), results[0])
    assert not np.array_equal(results[1], results[0])


def test_refits_of_one_estimator_and_of_its_clones(client):
    X, y = regression_problem(np.random.default_rng(3), n=200, n_features=4)
    Xd, yd = placed(client, X, y, rows=100)
    model = DaskMLPRegressor(**LBFGS)
    first = fit_quietly(model, Xd, yd).network_.params.copy()
    for _ in range(2):
        assert np.array_equal(fit_quietly(model, Xd, yd).network_.params, first)
        assert np.array_equal(fit_quietly(clone(model), Xd, yd).network_.params, first)
    # From memory, by a graph: the same rows, the same fit (up to the order of summation
    # in its shards, which differ).
    from_graph = fit_quietly(clone(model), *as_dask(X, y, chunks=100)).network_.params
    assert relative_error(from_graph, first) < 1e-10


def test_a_warm_start_goes_on_after_other_fits(client):
    """The Dask estimators have no partial_fit (dask_ml's Incremental gives one to the
    local estimators): warm_start is how a fit goes on from the last."""
    X, y = regression_problem(np.random.default_rng(4), n=200, n_features=4)
    Xd, yd = placed(client, X, y, rows=100)
    model = fit_quietly(DaskMLPRegressor(**LOCAL_SGD, warm_start=True, sync_every=1), Xd, yd)
    after_one = model.network_.params.copy()
    fit_on_scattered(client, X, y, LOCAL_SGD)           # another fit in between
    fit_quietly(model, Xd, yd)
    twice = fit_quietly(DaskMLPRegressor(**{**LOCAL_SGD, "max_iter": 4}, sync_every=1), Xd, yd)
    assert not np.array_equal(model.network_.params, after_one)
    # Two warm fits of 2 epochs are one of 4, at a constant learning rate without shuffling.
    assert np.array_equal(model.network_.params, twice.network_.params)


def test_data_released_before_the_fit_are_named_as_such(client):
    """Partitions whose scattered data Dask forgot before the fit (here cancelled; the
    same happens to equal data scattered again with hash=True right after the earlier
    future was released, dask/distributed#4612) are not said lost with a worker."""
    X, y = regression_problem(np.random.default_rng(5), n=100, n_features=4)
    futures = client.scatter([X, y], hash=False)
    Xd, yd = (da.from_delayed(future, shape=array.shape, dtype=array.dtype)
              for future, array in zip(futures, (X, y)))
    client.cancel(futures[0])
    with pytest.raises(LostDataError, match=r"partition 0 \(rows 0 to 99\) of the training data "
                                            r"were gone before the fit began") as error:
        DaskMLPRegressor(**LBFGS).fit(Xd, yd)
    assert "hash=False" in str(error.value) and "lost with a worker" not in str(error.value)
