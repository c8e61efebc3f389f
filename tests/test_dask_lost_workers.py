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
from distributed import Client
from sklearn.exceptions import ConvergenceWarning

import nnbp
from nnbp.dask import DaskMLPClassifier, DaskMLPRegressor, LostDataError
# The workers run these: they import them from support, which they find as
# this process does; not from this module, which pytest imports under a name
# they cannot import (a worker that cannot unpickle a task hangs the fit).
from support import first, partition, relative_error, second, two_worker_client

PARTITIONS, ROWS, FEATURES = 4, 150, 6

# Clusters of worker processes: seconds each, whatever the data (see pyproject.toml).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    with two_worker_client() as client:
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


def whole_data():
    parts = [partition(i, ROWS, FEATURES) for i in range(PARTITIONS)]
    return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])


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
        pair = client.submit(partition, i, ROWS, FEATURES, workers=[workers[i % 2]],
                             allow_other_workers=True, pure=False)
        futures.append([client.submit(part, pair, workers=[workers[i % 2]],
                                      allow_other_workers=True, pure=False)
                        for part in (first, second)])
    return collections(futures)


def scattered(client):
    """X and y scattered from this process's memory, half on each worker."""
    workers = sorted(client.scheduler_info()["workers"])
    return collections([client.scatter(list(partition(i, ROWS, FEATURES)),
                                       workers=[workers[i % 2]])
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


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_a_client_closed_in_the_middle_of_a_fit_is_named(solver, client):
    """Not a lost worker: the client that fit uses was closed, and the workers are fine."""
    own = Client(client.cluster, set_as_default=False)
    iterations = []

    def closer(epoch, losses, network):
        iterations.append(network.params.copy())
        if epoch == 2:
            own.close()

    params = dict(LBFGS, solver=solver, batch_size=50, sync_every=2, client=own)
    model = DaskMLPRegressor(**params)
    with pytest.raises(RuntimeError, match="the Dask client .* was closed in the middle of the "
                                           "fit") as caught:
        fit(model, *computed_from_a_graph(own), closer)
    assert not isinstance(caught.value, LostDataError)
    assert "worker" not in str(caught.value)
    # The network keeps the parameters of the last iteration that finished.
    assert np.array_equal(model.network_.params, iterations[-1])
    assert len(client.scheduler_info()["workers"]) == 2


def test_a_client_closed_by_another_thread_during_a_round_is_named(client):
    """Closed while the workers compute: Dask cancels the round's futures and the data's,
    which read as partitions lost with a worker."""
    import threading

    own = Client(client.cluster, set_as_default=False)
    X, y = computed_from_a_graph(own)
    params = dict(hidden_layer_sizes=(8,), solver="sgd", batch_size=20, sync_every=1,
                  max_iter=10_000, tol=0.0, n_iter_no_change=10_000, random_state=0, client=own)
    closing = threading.Timer(1.0, own.close)
    closing.start()
    try:
        with pytest.raises(RuntimeError, match="the Dask client .* was closed in the middle "
                                               "of the fit") as caught:
            fit(DaskMLPRegressor(**params), X, y)
    finally:
        closing.join()
    assert not isinstance(caught.value, LostDataError)
