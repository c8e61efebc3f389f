"""Decoupled weight decay, clipping and the cosine schedule in nnbp.dask's solvers.

Local SGD runs the compiled epoch on each shard, so each shard decays, clips
its own batch's gradient (its share of the global batch), and follows the
schedule, all shards at the same update; the client counts the updates. The
full batch steps on the client, from the summed gradient.
"""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import nnbp  # noqa: E402
from nnbp import reference  # noqa: E402
from nnbp.dask import DaskMLPRegressor  # noqa: E402
from support import fit_quietly, relative_error, two_worker_client  # noqa: E402
from test_dask import as_dask, placed, regression_problem  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    with two_worker_client() as client:
        yield client



def initial_network(params, sizes):
    """The network a fit with params starts from (as tests/test_dask.py draws it)."""
    start = nnbp.MLPRegressor(**params)
    start._random_state = np.random.RandomState(0)
    start._initialize(sizes, np.float64)
    return start.network_


@pytest.mark.parametrize("clip", [False, True])
def test_local_sgd_decays_clips_and_follows_the_schedule_shard_by_shard(client, rng, clip):
    """Plain sgd averaged after every step: each shard steps from the same parameters,
    decayed by the scheduled rate and its own batch's gradient clipped; the client
    averages (the shards' batches weigh the same)."""
    X, y = regression_problem(rng, n=200, n_features=4)
    Xd, yd = placed(client, X, y, rows=100)       # shards: rows 0-99 and 100-199
    params = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=0.0, batch_size=40,
                  learning_rate_init=0.1, alpha=0.0, shuffle=False, max_iter=2, random_state=0,
                  weight_decay=0.3, learning_rate="cosine", warmup_fraction=0.2,
                  max_grad_norm=0.05 if clip else None, tol=0.0, n_iter_no_change=100)
    ours = fit_quietly(DaskMLPRegressor(**params, sync_every=1), Xd, yd)

    net = initial_network(params, [4, 6, 1])
    shards = [np.arange(0, 100), np.arange(100, 200)]
    total = 2 * 5                     # 2 epochs of 5 global batches of 40 rows
    longest = 0.0
    for t in range(total):
        step = t % 5
        rate = reference.cosine_learning_rate(0.1, t, int(0.2 * total), total)
        moved = []
        for rows in shards:
            batch = rows[20 * step:20 * step + 20]
            _, grad = net.loss_and_grad(X[batch], y[batch])
            longest = max(longest, np.linalg.norm(grad))
            if clip:
                grad = np.array(reference.clip_grad_norm(grad.tolist(), 0.05))
            moved.append(np.array(reference.sgd_step(net.params.tolist(), grad.tolist(),
                                                     [0.0] * net.n_params, rate, 0.0, False,
                                                     weight_decay=0.3)[0]))
        net.params = (moved[0] + moved[1]) / 2
    assert relative_error(ours.network_.params, net.params) < 1e-12
    assert ours._optimizer.updates == total
    assert longest > 0.05              # the clipping bites


def test_full_batch_adamw_clipped_on_a_cosine_schedule_equals_the_local_fit(client, rng):
    X, y = regression_problem(rng, n=300)
    params = dict(hidden_layer_sizes=(8,), solver="adam", batch_size=300, max_iter=12,
                  learning_rate_init=0.05, alpha=0.1, random_state=0, dtype="float64",
                  weight_decay=0.2, max_grad_norm=0.1, learning_rate="cosine",
                  warmup_fraction=0.25)
    ours = fit_quietly(DaskMLPRegressor(**params), *as_dask(X, y, chunks=100))
    local = fit_quietly(nnbp.MLPRegressor(**params), X, y)
    assert ours.n_iter_ == local.n_iter_ == 12 and ours.t_ == local.t_
    assert ours._optimizer.updates == local._optimizer.updates == 12
    assert relative_error(ours.network_.params, local.network_.params) < 1e-12
