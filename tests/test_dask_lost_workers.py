"""nnbp.dask when a worker process is killed in the middle of a fit.

The fit either finishes with the model a fit without the failure gives
(Dask recomputes the lost partitions from their graph), or stops with
LostDataError (partitions scattered from memory cannot be recomputed). The
tests kill workers: they have their own cluster, of 2 worker processes of 1
thread each, restarted by their nannies.
"""
import os
import signal
import time
import warnings

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning

import nnbp
from nnbp.dask import DaskMLPClassifier, DaskMLPRegressor, LostDataError
from support import relative_error

PARTITIONS, ROWS, FEATURES = 4, 150, 6


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


KILLED = []       # the addresses of the workers the tests killed


def wait_for_replacements(client, timeout=60):
    """Until the killed workers are gone and their nannies' new ones are up."""
    deadline = time.monotonic() + timeout
    while True:
        workers = set(client.scheduler_info()["workers"])
        if len(workers) == 2 and not workers & set(KILLED):
            return workers
        assert time.monotonic() < deadline, f"the workers are not back: {workers}"
        time.sleep(0.1)


@pytest.fixture(autouse=True)
def two_workers(client):
    """Each test starts with both workers up, none of them killed."""
    wait_for_replacements(client)
    yield


def partition(index):
    """Rows of a regression problem; the same for the same index, wherever it is made."""
    rng = np.random.default_rng(index)
    X = rng.normal(size=(ROWS, FEATURES))
    return X, np.sin(X.sum(axis=1)) + 0.1 * rng.normal(size=ROWS)


def whole_data():
    parts = [partition(i) for i in range(PARTITIONS)]
    return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])


def first(pair):
    return pair[0]


def second(pair):
    return pair[1]


def collections(futures):
    X = da.concatenate([da.from_delayed(f, shape=(ROWS, FEATURES), dtype=float)
                        for f, _ in futures])
    y = da.concatenate([da.from_delayed(f, shape=(ROWS,), dtype=float) for _, f in futures])
    return X, y


def computed_from_a_graph(client):
    """X and y made by tasks, half on each worker: Dask can make them again anywhere."""
    workers = sorted(client.scheduler_info()["workers"])
    futures = []
    for i in range(PARTITIONS):
        pair = client.submit(partition, i, workers=[workers[i % 2]], allow_other_workers=True,
                             pure=False)
        futures.append([client.submit(part, pair, workers=[workers[i % 2]],
                                      allow_other_workers=True, pure=False)
                        for part in (first, second)])
    return collections(futures)


def scattered(client):
    """X and y scattered from this process's memory, half on each worker."""
    workers = sorted(client.scheduler_info()["workers"])
    return collections([client.scatter(list(partition(i)), workers=[workers[i % 2]])
                        for i in range(PARTITIONS)])


def killer(client, at):
    """A fit callback that kills the process of a worker after epoch (iteration) `at`."""
    def callback(epoch, losses, network):
        if epoch == at:
            pids = client.run(os.getpid)
            victim = sorted(pids)[1]
            KILLED.append(victim)
            os.kill(pids[victim], signal.SIGKILL)
    return callback


def fit(model, X, y, callback=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, callback=callback)


LBFGS = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=15, tol=0.0, random_state=0)


def test_lbfgs_finishes_as_without_the_failure_when_the_data_have_a_graph(client):
    model = fit(DaskMLPRegressor(**LBFGS), *computed_from_a_graph(client), killer(client, 3))
    assert KILLED[-1] not in wait_for_replacements(client)
    undisturbed = fit(DaskMLPRegressor(**LBFGS), *computed_from_a_graph(client))
    assert model.n_iter_ == undisturbed.n_iter_ == 15
    # The same partitions in the same shards, summed in the same order: the same bits.
    assert np.array_equal(model.network_.params, undisturbed.network_.params)
    local = fit(nnbp.MLPRegressor(**LBFGS), *whole_data())
    assert relative_error(model.network_.params, local.network_.params) < 1e-10


def test_local_sgd_finishes_as_without_the_failure_when_the_data_have_a_graph(client):
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.05,
                  batch_size=20, max_iter=6, sync_every=4, random_state=0)
    X, y = computed_from_a_graph(client)
    model = fit(DaskMLPRegressor(**params), X, y, killer(client, 2))
    assert KILLED[-1] not in wait_for_replacements(client)
    undisturbed = fit(DaskMLPRegressor(**params), *computed_from_a_graph(client))
    assert np.array_equal(model.network_.params, undisturbed.network_.params)
    assert model.loss_curve_ == undisturbed.loss_curve_


def test_scattered_data_lost_with_a_worker_stop_the_fit_with_a_clear_error(client):
    iterations = []

    def callback(epoch, losses, network):
        iterations.append(network.params.copy())
        killer(client, 3)(epoch, losses, network)

    X, y = scattered(client)
    model = DaskMLPClassifier(**LBFGS)
    with pytest.raises(LostDataError, match=r"partition [13] .* were lost with a worker, and "
                                            "Dask cannot recompute them: they were scattered"):
        fit(model, X, y > 0, callback)
    # The network keeps the parameters of the last iteration that finished.
    assert len(iterations) >= 3
    assert np.array_equal(model.network_.params, iterations[-1])
