"""nnbp.dask on a LocalCluster of 2 worker processes of 1 thread each, shared by the module.

The workers import nnbp as installed, as on any cluster. Lost workers have
their own cluster: tests/test_dask_lost_workers.py.
"""
import inspect
import pickle

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from sklearn.base import clone
from threadpoolctl import threadpool_limits
from sklearn.model_selection import train_test_split

import nnbp
from nnbp.dask import DaskMLPClassifier, DaskMLPRegressor, _ingest
from nnbp.datasets import load_digits
from support import fit_quietly, relative_error, two_worker_client

LOCAL = {DaskMLPClassifier: nnbp.MLPClassifier, DaskMLPRegressor: nnbp.MLPRegressor}

# Clusters of worker processes: seconds each, whatever the data (see pyproject.toml).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    with two_worker_client() as client:
        yield client


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return train_test_split(X / 16.0, y, random_state=0, stratify=y)


def as_dask(*arrays, chunks=300):
    """Dask arrays of the arrays, in partitions of `chunks` rows (a list: their sizes)."""
    rows = tuple(chunks) if isinstance(chunks, (list, tuple)) else chunks
    return [da.from_array(a, chunks=(rows,) + a.shape[1:]) for a in arrays]


def placed(client, X, y, rows=300):
    """X and y in partitions of `rows` rows, put on the two workers in turn.

    The shards, and so local SGD's result, depend on where the partitions are:
    placed, they are the same on every run. Scattered with hash=False: tests
    scatter equal data one after the other, and with Dask's key of equal data
    the previous test's release can forget this one's (dask/distributed#4612).
    """
    workers = sorted(client.scheduler_info()["workers"])
    parts = []
    for k, start in enumerate(range(0, len(X), rows)):
        futures = client.scatter([X[start:start + rows], y[start:start + rows]],
                                 workers=[workers[k % 2]], hash=False)
        parts.append([da.from_delayed(future, shape=array[start:start + rows].shape,
                                      dtype=array.dtype)
                      for future, array in zip(futures, (X, y))])
    return [da.concatenate(column) for column in zip(*parts)]


def regression_problem(rng, n=400, n_features=5, n_outputs=1):
    X = rng.normal(size=(n, n_features))
    y = np.tanh(X @ rng.normal(size=(n_features, n_outputs))) + 0.1 * rng.normal(size=(n, n_outputs))
    return X, y[:, 0] if n_outputs == 1 else y



# ---------------------------------------------------------------- the API

@pytest.mark.parametrize("dask_class", [DaskMLPClassifier, DaskMLPRegressor])
def test_the_parameters_are_the_local_ones_then_sync_every_and_client(dask_class):
    local = inspect.signature(LOCAL[dask_class].__init__).parameters
    ours = inspect.signature(dask_class.__init__).parameters
    assert list(ours)[:-2] == list(local)
    assert [(p.default, p.kind) for p in list(ours.values())[:-2]] == [
        (p.default, p.kind) for p in local.values()]
    assert [(name, p.kind) for name, p in list(ours.items())[-2:]] == [
        ("sync_every", inspect.Parameter.KEYWORD_ONLY), ("client", inspect.Parameter.KEYWORD_ONLY)]
    assert ours["client"].default is None
    model = dask_class(hidden_layer_sizes=(7,), alpha=0.5, sync_every=3)
    assert model.get_params() == {**LOCAL[dask_class](hidden_layer_sizes=(7,), alpha=0.5).get_params(),
                                  "sync_every": 3, "client": None}


def test_clone_shares_the_client_and_pickle_drops_it(client):
    model = DaskMLPClassifier(hidden_layer_sizes=(3,), client=client)
    twin = clone(model)
    assert twin.client is client and twin.get_params()["hidden_layer_sizes"] == (3,)
    assert pickle.loads(pickle.dumps(model)).client is None
    assert model.client is client
    assert model.client_ is client and DaskMLPClassifier().client_ is client


def test_bad_parameters_are_refused(client, digits):
    X, _, y, _ = digits
    Xd, yd = as_dask(X, y)
    with pytest.raises(ValueError, match="sync_every"):
        DaskMLPClassifier(sync_every=0).fit(Xd, yd)
    with pytest.raises(ValueError, match="client"):
        DaskMLPClassifier(client="tcp://scheduler:8786").fit(Xd, yd)


def test_partial_fit_is_not_offered():
    assert not hasattr(DaskMLPClassifier(), "partial_fit")
    assert not hasattr(DaskMLPRegressor(solver="sgd"), "partial_fit")


# ---------------------------------------------------------------- lbfgs and full batch

def test_lbfgs_equals_the_local_fit_of_the_concatenated_data(client, rng):
    """float64, 50 iterations: within 1e-10, only the order of summation differs."""
    X, y = regression_problem(rng, n=500, n_outputs=2)
    weight = rng.uniform(0, 2, size=len(X))
    weight[:20] = 0.0
    params = dict(hidden_layer_sizes=(16, 8), activation="tanh", solver="lbfgs", max_iter=50,
                  tol=0.0, alpha=0.01, random_state=0, dtype="float64")
    Xd, yd, wd = as_dask(X, y, weight, chunks=[100, 150, 50, 200])
    ours = fit_quietly(DaskMLPRegressor(**params), Xd, yd, sample_weight=wd)
    local = fit_quietly(nnbp.MLPRegressor(**params), X, y, sample_weight=weight)
    assert ours.n_iter_ == local.n_iter_ == 50
    assert relative_error(ours.network_.params, local.network_.params) < 1e-10
    assert relative_error(ours.loss_curve_, local.loss_curve_) < 1e-10


def test_lbfgs_classifier_equals_the_local_fit(client, digits):
    X, _, y, _ = digits
    params = dict(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=50, tol=0.0, alpha=1e-3,
                  random_state=0)
    ours = fit_quietly(DaskMLPClassifier(**params), *as_dask(X, y))
    local = fit_quietly(nnbp.MLPClassifier(**params), X, y)
    assert ours.n_iter_ == local.n_iter_ == 50
    assert relative_error(ours.network_.params, local.network_.params) < 1e-10
    assert np.array_equal(ours.classes_, local.classes_)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_full_batch_gradient_descent_equals_the_local_fit(client, rng, solver):
    """batch_size >= rows: one step of the optimizer per epoch, from the summed gradient."""
    X, y = regression_problem(rng, n=300)
    params = dict(hidden_layer_sizes=(8,), solver=solver, batch_size=300, max_iter=20,
                  learning_rate_init=0.05, alpha=0.1, random_state=0, dtype="float64")
    ours = fit_quietly(DaskMLPRegressor(**params), *as_dask(X, y, chunks=100))
    local = fit_quietly(nnbp.MLPRegressor(**params), X, y)
    assert ours.n_iter_ == local.n_iter_ == 20 and ours.t_ == local.t_
    assert relative_error(ours.network_.params, local.network_.params) < 1e-12
    assert relative_error(ours.loss_curve_, local.loss_curve_) < 1e-12


def test_a_worker_of_two_threads_computes_its_shard_with_both(client, rng):
    """One shard a worker, computed with as many BLAS threads as the worker has."""
    from threadpoolctl import threadpool_info

    from nnbp.dask import _all_the_workers_threads

    def blas_threads():
        with _all_the_workers_threads():
            return max(pool["num_threads"] for pool in threadpool_info()
                       if pool["user_api"] == "blas")

    X, y = regression_problem(rng, n=300)
    params = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=10, random_state=0)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as two_threads:
        assert two_threads.submit(blas_threads, pure=False).result() == 2
        ours = fit_quietly(DaskMLPRegressor(**params, client=two_threads),
                           *as_dask(X, y, chunks=100))
    local = fit_quietly(nnbp.MLPRegressor(**params), X, y)
    assert relative_error(ours.network_.params, local.network_.params) < 1e-10


# ---------------------------------------------------------------- sgd and adam: local SGD

def test_local_sgd_with_sync_every_1_is_minibatch_sgd_on_the_global_batch(client, rng):
    """Plain sgd, averaged after every step: each step is that of the union of the shards'
    batches, with the penalty of the global batch."""
    X, y = regression_problem(rng, n=200, n_features=4)
    # A partition on each worker: the shards are rows 0 to 99 and 100 to 199.
    Xd, yd = placed(client, X, y, rows=100)
    params = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=0.0, batch_size=40,
                  learning_rate_init=0.1, alpha=0.5, shuffle=False, max_iter=1, random_state=0)
    ours = fit_quietly(DaskMLPRegressor(**params, sync_every=1), Xd, yd)

    # By hand, from the same initial parameters: 5 steps, each on rows 20k to 20k+19 of
    # both shards together.
    reference = nnbp.MLPRegressor(**params)
    reference._random_state = np.random.RandomState(0)
    reference._initialize([4, 6, 1], np.float64)
    net = reference.network_
    shards = [np.arange(0, 100), np.arange(100, 200)]
    for step in range(5):
        batch = np.concatenate([rows[20 * step:20 * step + 20] for rows in shards])
        _, grad = net.loss_and_grad(X[batch], y[batch])
        net.params -= 0.1 * grad
    assert relative_error(ours.network_.params, net.params) < 1e-12


def test_sgd_on_dask_learns_the_digits_as_the_local_fit_does(client, digits):
    """At the same global batch: the loss curve of one process to within the noise of
    SGD, and the held-out accuracy to within half a point."""
    X, X_test, y, y_test = digits
    params = dict(hidden_layer_sizes=(64,), solver="sgd", learning_rate_init=0.1, max_iter=40,
                  random_state=0)
    ours = fit_quietly(DaskMLPClassifier(**params), *placed(client, X, y))
    local = fit_quietly(nnbp.MLPClassifier(**params), X, y)
    other_seed = fit_quietly(nnbp.MLPClassifier(**{**params, "random_state": 1}), X, y)
    assert len(ours.loss_curve_) == len(local.loss_curve_) == 40

    def deviation(curve):
        return np.max(np.abs(np.array(curve) / local.loss_curve_ - 1))

    assert deviation(ours.loss_curve_) <= deviation(other_seed.loss_curve_)
    accuracy = ours.score(*as_dask(X_test, y_test))
    assert abs(accuracy - local.score(X_test, y_test)) <= 0.005


def test_adam_with_early_stopping(client, digits):
    X, _, y, _ = digits
    model = fit_quietly(DaskMLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                          early_stopping=True, max_iter=200, random_state=0),
                        *as_dask(X, y))
    assert model.n_iter_ < 200           # stopped by the validation score
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_) > 0.9
    # Each partition holds out a tenth of its rows, rounded up: 4 x 30 + 15.
    assert model.t_ == model.n_iter_ * (len(X) - 135)


def test_sgd_that_diverges_stops_with_the_last_finite_parameters(client, rng):
    X, y = regression_problem(rng)
    model = DaskMLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e6,
                             max_iter=5, random_state=0)
    with pytest.raises(nnbp.DivergenceError, match="inf or nan"):
        model.fit(*as_dask(1e3 * X, y, chunks=100))
    assert np.isfinite(model.network_.params).all()


def test_a_callback_sees_each_epoch_and_can_stop(client, digits):
    X, _, y, _ = digits
    seen = []

    def callback(epoch, losses, network):
        seen.append((epoch, losses["loss"], network.params.copy()))
        return epoch == 3

    model = DaskMLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    model.fit(*as_dask(X, y), callback=callback)
    assert [epoch for epoch, _, _ in seen] == [1, 2, 3] and model.n_iter_ == 3
    assert np.array_equal(seen[-1][2], model.network_.params)


def test_warm_start_continues_and_checks_the_classes(client, digits):
    X, _, y, _ = digits
    Xd, yd = as_dask(X, y)
    model = fit_quietly(DaskMLPClassifier(hidden_layer_sizes=(8,), max_iter=3, warm_start=True,
                                          random_state=0), Xd, yd)
    first = model.network_.params.copy()
    fit_quietly(model, Xd, yd)
    assert model.n_iter_ == 3 and not np.array_equal(first, model.network_.params)
    with pytest.raises(ValueError, match="same classes"):
        model.fit(*as_dask(X[y < 5], y[y < 5]))


# ---------------------------------------------------------------- predicting and scoring

def test_predictions_are_lazy_partition_by_partition_and_those_of_to_local(client, digits):
    X, X_test, y, y_test = digits
    weight = np.linspace(0.5, 1.5, len(X_test))
    model = fit_quietly(DaskMLPClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=0),
                        *as_dask(X, y))
    local = model.to_local()
    assert type(local) is nnbp.MLPClassifier
    Xd, yd, wd = as_dask(X_test, y_test, weight, chunks=100)
    for method in ("predict", "predict_proba", "predict_log_proba"):
        lazy = getattr(model, method)(Xd)
        assert isinstance(lazy, da.Array) and lazy.chunks[0] == Xd.chunks[0]
        # Partition by partition: equal up to the rounding of products of other sizes.
        assert relative_error(lazy.compute(), getattr(local, method)(X_test)) < 1e-12, method
    # score is a number, as scikit-learn's scorers need (and dask-ml's ParallelPostFit gives).
    score = model.score(Xd, yd, sample_weight=wd)
    assert type(score) is float
    assert score == pytest.approx(local.score(X_test, y_test, sample_weight=weight), rel=1e-12)


def test_regressor_score_is_r2_of_all_the_partitions(client, rng):
    X, y = regression_problem(rng, n=300, n_outputs=2)
    weight = rng.uniform(0.1, 1, size=len(X))
    model = fit_quietly(DaskMLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
                        *as_dask(X, y, chunks=70))
    Xd, yd, wd = as_dask(X, y, weight, chunks=[1, 99, 0, 150, 50])
    local = model.to_local()
    assert np.array_equal(model.predict(Xd).compute(), local.predict(X))
    assert model.score(Xd, yd) == pytest.approx(local.score(X, y), rel=1e-12)
    assert model.score(Xd, yd, sample_weight=wd) == pytest.approx(
        local.score(X, y, sample_weight=weight), rel=1e-12)


def test_grid_search_over_a_dask_estimator(client, digits):
    from sklearn.model_selection import GridSearchCV

    X, X_test, y, y_test = digits
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=15, random_state=0)
    search = GridSearchCV(DaskMLPClassifier(**params), {"alpha": [1e-4, 1e-1]}, cv=2,
                          error_score="raise")
    fit_quietly(search, *as_dask(X, y))
    assert search.best_params_["alpha"] in (1e-4, 1e-1)
    assert all(0.5 < score <= 1 for score in search.cv_results_["mean_test_score"])
    assert type(search.score(*as_dask(X_test, y_test))) is float


def test_dataframes_with_their_column_names(client, rng):
    X, y = regression_problem(rng, n=200, n_features=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    Xd = dd.from_pandas(frame, npartitions=3)
    yd = dd.from_pandas(pd.Series(y > 0, name="label"), npartitions=3)
    model = fit_quietly(DaskMLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5,
                                          random_state=0), Xd, yd)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    assert model.classes_.tolist() == [False, True]
    predicted = model.predict(Xd)
    assert isinstance(predicted, da.Array)
    assert np.array_equal(predicted.compute(), model.to_local().predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        model.predict(Xd[["c", "b", "a"]])


def test_to_local_saves_and_loads_like_any_nnbp_estimator(client, digits, tmp_path):
    X, X_test, y, _ = digits
    model = fit_quietly(DaskMLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0),
                        *as_dask(X, y))
    local = model.to_local()
    local.save(tmp_path / "local.npz")
    model.save(tmp_path / "dask.npz")
    for path in ("local.npz", "dask.npz"):
        loaded = nnbp.load(tmp_path / path)
        assert type(loaded) is nnbp.MLPClassifier
        assert np.array_equal(loaded.predict_proba(X_test), local.predict_proba(X_test))
    # The copy is the model's own: refitting the Dask model leaves it as it was.
    before = local.network_.params.copy()
    fit_quietly(model.set_params(max_iter=1), *as_dask(X, y))
    assert np.array_equal(local.network_.params, before)
    # And it goes on training locally, where the Dask fit stopped.
    local.partial_fit(X, y)
    assert len(local.loss_curve_) == 6 and local.t_ == 6 * len(X)


# ---------------------------------------------------------------- what crosses the network

def test_only_parameters_and_gradients_cross_the_network(client, rng):
    """Per iteration: the parameters to the second worker, one gradient between the
    workers, one to the client; never a partition of the data."""
    X, y = regression_problem(rng, n=2000, n_features=50)
    model = DaskMLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=1)
    Xd, yd = as_dask(X, y, chunks=500)
    data = _ingest(model, client, Xd, yd, None, True, False)
    model._random_state = np.random.RandomState(0)
    model._initialize([50, 16, 1], np.float64)
    net = model.network_

    def transfers():
        return client.run(lambda dask_worker: list(dask_worker.transfer_outgoing_log))

    try:
        data.loss_and_grad(net, net.params)     # the workers' networks are made
        before = transfers()
        for _ in range(3):
            data.loss_and_grad(net, net.params)
        moved = [entry for worker, log in transfers().items()
                 for entry in log[len(before[worker]):]]
    finally:
        data.release()
    keys = [key for entry in moved for key in entry["keys"]]
    assert keys and not any("partition" in str(key) for key in keys), keys
    per_iteration = sum(entry["total"] for entry in moved) / 3
    assert per_iteration <= 3 * net.params.nbytes + 1024
    assert per_iteration >= net.params.nbytes


# ---------------------------------------------------------------- the benchmark
def test_the_benchmark_measures_on_the_cluster_and_reports(client):
    """nnbp bench --dask on a few rows: every figure there, and the model's sums right."""
    from nnbp_bench import cluster

    results = cluster.run(repeats=1, log=lambda message: None, rows=cluster.PARTITIONS * 64,
                          dtypes=(np.float64,), digits_seeds=1, digits_epochs=2, settle=0.0,
                          client=client)
    entry = results["iterations"][0]
    params_bytes = nnbp.Network((784, 256, 128, 10)).params.nbytes
    for workers, vectors in ((1, 2), (2, 4)):
        row = entry[f"workers_{workers}"]
        assert row["shards"] == workers and row["params_bytes"] == params_bytes
        assert 0 < row["compute_seconds"] < row["seconds"]
        # Out to each worker, back through the tree to the client: whole parameter vectors.
        assert vectors * params_bytes <= row["bytes"] < (vectors + 0.01) * params_bytes
    assert [row["sync_every"] for row in entry["rounds"]] == list(cluster.SYNC_INTERVALS)
    assert entry["tasks_per_second"] > 0
    assert results["digits"]["lbfgs"]["relative_difference"] < 1e-10
    assert len(results["digits"]["sgd"]["runs"][0]["loss_dask"]) == 2
    estimates = cluster.model(1e-6, 1e6, 0.01, 0.001, machines=(8,), rows=800)
    network = 2 * 3 * 1e6 / cluster.BANDWIDTH       # out and back, 3 hops of a tree of 8
    assert estimates == [pytest.approx(dict(
        machines=8, rows_per_machine=100, compute=1e-4, network=network,
        scheduler=0.01 + 15 * 0.001, total=1e-4 + network + 0.025))]
    text = cluster.markdown(results)
    assert "| float64 | 2 workers |" in text and "sync_every 256" in text


# ---------------------------------------------------------------- bad input

def test_x_and_y_partitioned_differently_are_refused(client, digits):
    X, _, y, _ = digits
    with pytest.raises(ValueError, match="partitioned differently: X has 5 partitions, y has 4"):
        DaskMLPClassifier().fit(*as_dask(X, chunks=300), *as_dask(y, chunks=400))
    with pytest.raises(ValueError, match="partition 0 holds 300 rows of X and 200 of y"):
        DaskMLPClassifier().fit(*as_dask(X, chunks=[300, 300, 747]),
                                *as_dask(y, chunks=[200, 400, 747]))
    weight = np.ones(len(X))
    with pytest.raises(ValueError, match="X and sample_weight are partitioned differently"):
        DaskMLPClassifier().fit(*as_dask(X, y), sample_weight=as_dask(weight, chunks=500)[0])


def test_unknown_chunk_sizes_are_checked_partition_by_partition(client, digits):
    X, _, y, _ = digits
    Xd, yd = as_dask(X, y, chunks=300)
    mask = da.from_array(np.arange(len(X)) % 7 != 0, chunks=300)
    unknown_X, unknown_y = Xd[mask], yd[mask]
    assert np.isnan(unknown_X.chunks[0][0])
    model = fit_quietly(DaskMLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5,
                                          random_state=0), unknown_X, unknown_y)
    local = fit_quietly(nnbp.MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=5,
                                           random_state=0), X[np.arange(len(X)) % 7 != 0],
                        y[np.arange(len(X)) % 7 != 0])
    assert relative_error(model.network_.params, local.network_.params) < 1e-10
    other_mask = da.from_array(np.arange(len(X)) % 5 != 0, chunks=300)
    with pytest.raises(ValueError, match=r"partition 0: X has 257 rows, y has 240 rows"):
        DaskMLPClassifier().fit(unknown_X, yd[other_mask])


def test_empty_partitions_are_left_out_and_all_empty_is_refused(client, rng):
    X, y = regression_problem(rng, n=200)
    params = dict(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=10, random_state=0)
    with_empty = fit_quietly(DaskMLPRegressor(**params),
                             *as_dask(X, y, chunks=[0, 120, 0, 80, 0]))
    local = fit_quietly(nnbp.MLPRegressor(**params), X, y)
    assert relative_error(with_empty.network_.params, local.network_.params) < 1e-10
    nothing = da.zeros((0, 5), chunks=((0, 0), (5,)))
    with pytest.raises(ValueError, match="X is empty: its 2 partitions have no rows"):
        DaskMLPRegressor().fit(nothing, da.zeros(0, chunks=((0, 0),)))


def test_a_partition_with_nan_is_named(client, digits):
    X, _, y, _ = digits
    X = X.copy()
    X[700, 3] = np.nan
    with pytest.raises(ValueError, match=r"partition 2 \(rows 600 to 899\): Input X contains NaN"):
        DaskMLPClassifier().fit(*as_dask(X, y))
    weight = np.ones(len(X))
    weight[1000] = -1
    with pytest.raises(ValueError, match=r"partition 3 \(rows 900 to 1199\): sample_weight must "
                                         "be non-negative"):
        DaskMLPClassifier().fit(*as_dask(np.nan_to_num(X), y), sample_weight=as_dask(weight)[0])


def test_sparse_partitions_are_refused_with_a_pointer(client):
    import scipy.sparse
    X = scipy.sparse.random(40, 5, density=0.5, format="csr", random_state=0)
    y = da.from_array(np.arange(40) % 2, chunks=20)
    with pytest.raises(TypeError, match=r"partition 0 \(rows 0 to 19\): X is sparse: the "
                                        "partitions must be dense"):
        DaskMLPClassifier().fit(da.from_array(X, chunks=(20, 5), asarray=False), y)
    assert not DaskMLPClassifier().__sklearn_tags__().input_tags.sparse


def test_object_columns_are_named(client):
    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "colour": ["red", "blue", "red", "red"],
                          "count": [1, 2, 3, 4]})
    X = dd.from_pandas(frame, npartitions=2)
    y = dd.from_pandas(pd.Series([0, 1, 0, 1]), npartitions=2)
    with pytest.raises(TypeError, match="X has columns that are not numbers: 'colour'"):
        DaskMLPClassifier().fit(X, y)
    with pytest.raises(TypeError, match="X must hold numbers, got dtype object"):
        DaskMLPClassifier().fit(da.from_array(frame.to_numpy(), chunks=2), y.to_dask_array())


def test_in_memory_data_are_refused_with_a_pointer(client, digits):
    X, _, y, _ = digits
    with pytest.raises(TypeError, match="X must be a dask array or a dask DataFrame"):
        DaskMLPClassifier().fit(X, y)
    with pytest.raises(TypeError, match="y must be a dask array"):
        DaskMLPClassifier().fit(as_dask(X)[0], list(y))


def test_a_closed_client_is_refused(client, digits):
    X, _, y, _ = digits
    closed = Client(client.cluster, set_as_default=False)
    closed.close()
    with pytest.raises(ValueError, match="the Dask client .* is closed: it must be running"):
        DaskMLPClassifier(client=closed).fit(*as_dask(X, y))


# ---------------------------------------------------------------- dask-ml

def test_nnbp_estimators_train_block_by_block_in_dask_ml_incremental(client, digits):
    from dask_ml.wrappers import Incremental

    X, X_test, y, y_test = digits
    Xd, yd = as_dask(X, y, chunks=300)
    params = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    incremental = Incremental(nnbp.MLPClassifier(**params), shuffle_blocks=False)
    incremental.fit(Xd, yd, classes=np.arange(10))
    # The same as partial_fit on each block in turn, in this process, on one
    # thread as Dask's workers run (their nannies set OMP_NUM_THREADS=1): the
    # same thread count, so the same bits.
    local = nnbp.MLPClassifier(**params)
    with threadpool_limits(1, user_api="openmp"):
        for start in range(0, len(X), 300):
            local.partial_fit(X[start:start + 300], y[start:start + 300],
                              classes=np.arange(10))
    assert np.array_equal(incremental.estimator_.network_.params, local.network_.params)
    assert incremental.score(*as_dask(X_test, y_test)) == local.score(X_test, y_test)
