"""Sparse X: the first layer's kernels on CSR rows, and sparse input through every interface.

The kernels (nnbp.layers on a sparse X) against the reference and finite
differences in both dtypes, and against their claim to sum in scipy's order;
the network, its gradient check, the trainer and L-BFGS against the same
computations on the densified matrix; plain sgd's update of the batch's
columns alone against the update of every column; the checks at the
boundary; and memory that grows with the nonzeros. The estimators against
scikit-learn on sparse data: tests/test_estimators_follow_sklearn.py.
"""
import itertools
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from support import (
    DTYPES,
    REFERENCE_TOLERANCE,
    make_targets,
    reference_loss_and_grad,
    relative_error,
)

import nnbp
from nnbp import layers, reference
from nnbp_bench.child import search_path
from nnbp_bench.measure import peak_resident_bytes

INDEX_DTYPES = [np.int32, np.int64]
# Sparse against dense: the same sums in another order (BLAS's), so round-off.
ROUND_OFF = {np.float32: 1e-5, np.float64: 1e-12}
N_OUTPUTS = {"softmax": 3, "logistic": 2, "squared": 2, "poisson": 2}


def csr(rng, n, m, density=0.3, *, dtype=np.float64, index_dtype=np.int32, quirks=True,
        container=sp.csr_matrix):
    """An n x m CSR matrix with a row of no entries; with quirks, each row's columns in
    reverse order, an explicit zero, and a column repeated in a row (its entries add up)."""
    X = sp.random(n, m, density=density, format="csr", dtype=np.float64, random_state=rng,
                  data_rvs=lambda size: rng.normal(size=size))
    data, indices, indptr = X.data, X.indices, X.indptr.copy()
    if quirks:
        rows = [(data[indptr[i]:indptr[i + 1]][::-1], indices[indptr[i]:indptr[i + 1]][::-1])
                for i in range(n)]
        # row 1: a zero stored at a column that row lacks; row 2: its first column twice
        absent = np.setdiff1d(np.arange(m), rows[1][1])[0]
        rows[1] = (np.append(rows[1][0], 0.0), np.append(rows[1][1], absent))
        if rows[2][0].size:
            half = rows[2][0][0] / 2
            rows[2] = (np.concatenate([[half], rows[2][0][1:], [half]]),
                       np.append(rows[2][1], rows[2][1][0]))
        rows[0] = (np.empty(0), np.empty(0, int))
        data = np.concatenate([r[0] for r in rows])
        indices = np.concatenate([r[1] for r in rows])
        indptr = np.concatenate([[0], np.cumsum([r[0].size for r in rows])])
    X = container((data.astype(dtype), indices, indptr), shape=(n, m))
    # As a user may set them: scipy's constructor narrows indices to int32 where they fit.
    X.indices, X.indptr = indices.astype(index_dtype), indptr.astype(index_dtype)
    assert X.indices.dtype == index_dtype
    return X


# ---------------------------------------------------------------- the kernels


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_sparse_layer_matches_reference(activation, dtype, index_dtype, rng):
    X = csr(rng, 6, 9, dtype=dtype, index_dtype=index_dtype)
    W = rng.normal(size=(5, 9)).astype(dtype)
    b = rng.normal(size=5).astype(dtype)
    dA = rng.normal(size=(6, 5)).astype(dtype)
    Z, A = layers.dense_forward(X, W, b, activation)
    dW, db, dX = layers.dense_backward(X, W, Z, dA, activation)
    assert dX is None   # the input needs none
    dense = X.toarray().tolist()
    Zr, Ar = reference.dense_forward(W.tolist(), b.tolist(), dense, activation)
    dWr, dbr, _ = reference.dense_backward(W.tolist(), dense, Zr, dA.tolist(), activation)
    for computed, expected in [(Z, Zr), (A, Ar), (dW, dWr), (db, dbr)]:
        assert computed.dtype == dtype
        assert relative_error(computed, expected) <= REFERENCE_TOLERANCE[dtype]
    assert not dW[:, ~np.isin(np.arange(9), X.indices)].any()   # columns of no entry


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_sparse_layer_gradients_by_finite_differences(activation, dtype, bias, rng):
    X = csr(rng, 7, 8, dtype=dtype)
    W = rng.normal(size=(4, 8)).astype(dtype)
    b = rng.normal(size=4) if bias else None
    report = nnbp.check_layer_gradients(X, W, b, activation)
    assert report.passed, report
    assert [block.name for block in report.blocks] == (["W", "b"] if bias else ["W"])
    assert report.reference_error is not None and "sparse input" in report.subject


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_kernels_sum_in_scipys_order(dtype, index_dtype, rng):
    # X W^T: each row's entries in their stored order, from 0; D^T X: each
    # column's entries row by row, each row's in stored order, from 0. The
    # orders of scipy's csr_matvecs and csc_matvecs, to the bit.
    X = csr(rng, 9, 11, density=0.5, dtype=dtype, index_dtype=index_dtype)
    W = rng.normal(size=(6, 11)).astype(dtype)
    D = rng.normal(size=(9, 6)).astype(dtype)
    Z, _ = layers.dense_forward(X, W, None, "identity")
    dW, _, _ = layers.dense_backward(X, W, Z, D, "identity")
    expected_Z, expected_dW = np.zeros_like(Z), np.zeros_like(dW)
    for r in range(9):
        for p in range(X.indptr[r], X.indptr[r + 1]):
            k, x = X.indices[p], X.data[p]
            for i in range(6):
                expected_Z[r, i] += x * W[i, k]     # numpy scalars: rounded to dtype
                expected_dW[i, k] += x * D[r, i]
    np.testing.assert_array_equal(Z, expected_Z)
    np.testing.assert_array_equal(dW, expected_dW)


# ---------------------------------------------------------------- the network


def make_case(activation, output, dtype, hidden, weighted, n=12, m=10, seed=0):
    rng = np.random.default_rng(seed)
    net = nnbp.Network([m, *hidden, N_OUTPUTS[output]], activation=activation, output=output,
                       dtype=dtype, alpha=0.3, seed=seed)
    for b in net.biases:
        b[...] = rng.uniform(-0.5, 0.5, size=b.shape)
    X = csr(rng, n, m, dtype=dtype)
    y = make_targets(output, n, N_OUTPUTS[output], rng)
    weights = rng.uniform(0.1, 2.0, n) if weighted else None
    if weighted:
        weights[[1, 5]] = 0.0   # rows left out of the loss
    return net, X, y, weights


@pytest.mark.parametrize("activation, output, dtype, hidden, weighted", list(itertools.product(
    nnbp.ACTIVATIONS, nnbp.OUTPUTS, DTYPES, [(), (5,), (5, 4)], [False, True])))
def test_network_on_sparse_X_is_the_network_on_dense_X(activation, output, dtype, hidden,
                                                        weighted):
    net, X, y, weights = make_case(activation, output, dtype, hidden, weighted)
    dense = X.toarray()
    tolerance = ROUND_OFF[dtype]
    assert relative_error(net.forward(X), net.forward(dense)) <= tolerance
    loss, grad = net.loss_and_grad(X, y, weights)
    dense_loss, dense_grad = net.loss_and_grad(dense, y, weights)
    assert grad.dtype == net.dtype
    assert relative_error(loss, dense_loss) <= tolerance
    assert relative_error(net.loss(X, y, weights), dense_loss) <= tolerance
    for name, where in net.block_slices():
        assert relative_error(grad[where], dense_grad[where]) <= tolerance, name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_network_on_sparse_X_matches_reference(output, dtype):
    net, X, y, weights = make_case("tanh", output, dtype, (5,), True)
    ref_loss, ref_grad = reference_loss_and_grad(net, X.toarray(), y, weights.astype(dtype))
    loss, grad = net.loss_and_grad(X, y, weights)
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(grad, ref_grad) <= REFERENCE_TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_check_gradients_on_sparse_X(output, dtype):
    net, X, y, weights = make_case("softplus", output, dtype, (5,), True)
    report = nnbp.check_gradients(net, X, y, weights)
    assert report.passed, report
    assert report.reference_error is not None


FORMATS = {
    "csr_array": lambda X: sp.csr_array(X),
    "csc_matrix": lambda X: X.tocsc(),
    "csc_array": lambda X: sp.csc_array(X),
    "coo_matrix": lambda X: X.tocoo(),
    "coo_array": lambda X: sp.coo_array(X),
    "lil_matrix": lambda X: X.tolil(),
    "dok_array": lambda X: sp.dok_array(X),
    "bsr_matrix": lambda X: X.tobsr(),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", FORMATS)
def test_every_sparse_format(kind, dtype, rng):
    net, X, y, _ = make_case("relu", "softmax", dtype, (5,), False)
    other = FORMATS[kind](csr(rng, 12, 10, quirks=False, dtype=np.float64))
    dense = other.toarray()
    assert relative_error(net.forward(other), net.forward(dense)) <= ROUND_OFF[dtype]
    assert relative_error(net.loss_and_grad(other, y)[1],
                          net.loss_and_grad(dense, y)[1]) <= ROUND_OFF[dtype]


def arrays_of(X):
    return [getattr(X, name).copy() for name in ("data", "indices", "indptr", "row", "col")
            if hasattr(X, name)]


@pytest.mark.parametrize("kind", ["csr", "coo"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_callers_matrix_is_left_as_it_was(dtype, kind, rng):
    # float64 data into a float32 network, unsorted columns, a repeated one,
    # an explicit zero: converted or taken as they are, never changed in place.
    X = csr(rng, 20, 10, dtype=np.float64)
    X = X if kind == "csr" else X.tocoo()
    before = arrays_of(X)
    net = nnbp.Network([10, 4, 3], dtype=dtype, seed=0)
    y = rng.integers(0, 3, 20)
    net.forward(X)
    net.loss_and_grad(X, y)
    nnbp.StochasticTrainer(net, nnbp.SGD(0.1, momentum=0.0), batch_size=4).fit(X, y,
                                                                              max_epochs=1)
    for a, b in zip(arrays_of(X), before):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def test_a_ready_csr_matrix_is_not_copied(rng):
    from nnbp._validation import check_features
    X = csr(rng, 5, 8, index_dtype=np.int64)
    assert check_features(X, 8, np.float64) is X
    converted = check_features(X, 8, np.float32)
    assert converted.data.dtype == np.float32 and converted.format == "csr"


BAD_INPUT = {
    "NaN": (lambda X: X.data.__setitem__(3, np.nan), ValueError,
            r"X contains NaN at index \(\d+, \d+\)"),
    "infinity": (lambda X: X.data.__setitem__(0, np.inf), ValueError, "X contains infinity"),
    "a column out of range": (lambda X: X.indices.__setitem__(2, 10), ValueError,
                              r"column indices must lie in 0\.\.9"),
    "a negative column": (lambda X: X.indices.__setitem__(2, -1), ValueError,
                          r"column indices must lie in 0\.\.9"),
    "indptr falling": (lambda X: X.indptr.__setitem__(3, X.indptr[4] + 1), ValueError,
                       "indptr must rise from 0"),
}


@pytest.mark.parametrize("problem", BAD_INPUT)
def test_bad_sparse_input_is_refused_by_name(problem, rng):
    spoil, error, message = BAD_INPUT[problem]
    X = csr(rng, 8, 10, density=0.5, quirks=False)
    spoil(X)
    net = nnbp.Network([10, 3, 2], seed=0)
    for call in (lambda: net.forward(X), lambda: net.loss(X, np.zeros(8, int))):
        with pytest.raises(error, match=message):
            call()


def test_sparse_shapes_are_checked(rng):
    net = nnbp.Network([10, 3, 2], seed=0)
    with pytest.raises(ValueError, match="X has 9 features, but the network takes 10"):
        net.forward(csr(rng, 4, 9))
    with pytest.raises(ValueError, match="X is empty: it has 0 examples"):
        net.forward(sp.csr_matrix((0, 10)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        net.forward(sp.coo_array(np.ones(10)))
    with pytest.raises(TypeError, match="X must hold real numbers"):
        net.forward(sp.csr_matrix(np.ones((2, 10), dtype=complex)))
    with pytest.raises(ValueError, match="too large for float32"):
        nnbp.Network([10, 3, 2], dtype=np.float32).forward(sp.csr_matrix(np.full((2, 10), 1e300)))


# ---------------------------------------------------------------- training


OPTIMIZERS = {
    "sgd": lambda: nnbp.SGD(0.05, momentum=0.0),
    "nesterov": lambda: nnbp.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: nnbp.Adam(0.01),
}


def train(X, y, optimizer, batch_size, weights=None, dtype=np.float64, alpha=0.0, epochs=4,
          shuffle=True):
    net = nnbp.Network([X.shape[1], 6, 3], activation="tanh", dtype=dtype, alpha=alpha, seed=0)
    trainer = nnbp.StochasticTrainer(net, OPTIMIZERS[optimizer](), batch_size=batch_size,
                                     shuffle=shuffle, random_state=np.random.RandomState(0),
                                     tol=0.0, n_iter_no_change=np.inf)
    trainer.fit(X, y, weights, max_epochs=epochs)
    return net, trainer


@pytest.mark.parametrize("optimizer, batch_size, weighted, alpha, shuffle", [
    ("sgd", 7, False, 0.0, True), ("sgd", 1, False, 0.0, True), ("sgd", 40, True, 0.0, False),
    ("sgd", 7, True, 0.3, True), ("nesterov", 7, False, 0.0, True),
    ("adam", 7, True, 0.1, True), ("adam", 1, False, 0.0, False)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_training_on_sparse_X_is_training_on_dense_X(optimizer, batch_size, weighted, alpha,
                                                      shuffle, dtype, rng):
    X = csr(rng, 40, 15, dtype=dtype)
    y = rng.integers(0, 3, 40)
    weights = rng.uniform(0.2, 2.0, 40) if weighted else None
    sparse_net, sparse_run = train(X, y, optimizer, batch_size, weights, dtype, alpha,
                                   shuffle=shuffle)
    dense_net, dense_run = train(X.toarray(), y, optimizer, batch_size, weights, dtype, alpha,
                                 shuffle=shuffle)
    assert relative_error(sparse_net.params, dense_net.params) <= 100 * ROUND_OFF[dtype]
    np.testing.assert_allclose(sparse_run.loss_curve, dense_run.loss_curve,
                               rtol=100 * ROUND_OFF[dtype])
    assert relative_error(sparse_net.params, sparse_net.copy().initialize(0).params) > 1e-3


@pytest.mark.parametrize("batch_size", [1, 6, 50])
@pytest.mark.parametrize("dtype", DTYPES)
def test_plain_sgd_steps_the_batchs_columns_alone_exactly(dtype, batch_size, rng):
    # The compiled epoch steps only the batch's columns of W(1); a full
    # gradient and an update of every parameter, batch by batch in the same
    # order, give the same bits; and a feature in no row leaves its column
    # as it was, to the bit.
    dense = sp.random(50, 30, density=0.1, random_state=rng).toarray()
    dense[:5, 3] = 1.0
    dense[:, 7] = 0.0
    X = sp.csr_matrix(dense, dtype=dtype)
    X.data[X.indices == 3] = 0.0    # explicit zeros: entries, but no gradient
    y = rng.integers(0, 3, 50)
    start = nnbp.Network([30, 6, 3], activation="tanh", dtype=dtype, seed=0).params.copy()
    compiled, _ = train(X, y, "sgd", batch_size, dtype=dtype, epochs=3)
    by_hand = nnbp.Network([30, 6, 3], activation="tanh", dtype=dtype, seed=0)
    orders, order = np.random.RandomState(0), np.arange(50)
    for _ in range(3):
        draw = np.arange(50)
        orders.shuffle(draw)
        order = order[draw]
        for first in range(0, 50, batch_size):
            rows = order[first:first + batch_size]
            _, grad = by_hand.loss_and_grad(X[rows], y[rows])
            by_hand.params -= dtype(0.05) * grad
    np.testing.assert_array_equal(compiled.params, by_hand.params)
    W1, W1_start = compiled.weights[0], start[:180].reshape(6, 30)
    never = ~np.isin(np.arange(30), X.indices[X.data != 0])
    assert never[3] and never[7] and never.sum() >= 2
    assert W1[:, never].tobytes() == W1_start[:, never].tobytes()
    assert (W1[:, ~never] != W1_start[:, ~never]).any(axis=0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_lbfgs_on_sparse_X_is_lbfgs_on_dense_X(dtype, rng):
    X = csr(rng, 30, 12, dtype=dtype)
    y = rng.integers(0, 3, 30)
    nets = [nnbp.Network([12, 5, 3], activation="tanh", dtype=dtype, alpha=0.1, seed=0)
            for _ in range(2)]
    results = [nnbp.minimize_lbfgs(net, data, y, max_iter=10)
               for net, data in zip(nets, [X, X.toarray()])]
    assert results[0].nit == results[1].nit
    assert relative_error(nets[0].params, nets[1].params) <= 1e4 * ROUND_OFF[dtype]


@pytest.mark.skipif(peak_resident_bytes() is None, reason="needs Linux's /proc/self/status")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's shadow memory is resident memory too")
def test_training_memory_grows_with_the_nonzeros(tmp_path):
    # 40,000 rows of a million features: dense, 320 GB, and a batch of 32
    # rows 256 MB. Sparse, 1.2 MB of entries; the network, 8 MB of
    # parameters. The peak resident memory of a process that imports nnbp
    # (80 MB), makes the data and trains, stays far below a batch's dense copy.
    script = textwrap.dedent("""
        import numpy as np, scipy.sparse as sp
        import nnbp
        from nnbp_bench.measure import peak_resident_bytes
        rng = np.random.default_rng(0)
        n, m = 40_000, 1_000_000
        X = sp.random(n, m, density=2.5e-6, format="csr", random_state=rng)
        y = rng.integers(0, 2, n)
        net = nnbp.Network([m, 1, 2], seed=0)
        for optimizer in (nnbp.SGD(0.1, momentum=0.0), nnbp.SGD(0.1, momentum=0.9)):
            nnbp.StochasticTrainer(net, optimizer, batch_size=32).fit(X, y, max_epochs=1)
        net.forward(X)
        net.loss_and_grad(X, y)
        print(peak_resident_bytes())
    """)
    # cwd: not the checkout, whose nnbp/ would shadow the installed package; the
    # benchmark's measure from bench/, through PYTHONPATH.
    peak = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, cwd=tmp_path,
                              env=dict(os.environ, PYTHONPATH=search_path())).stdout)
    assert peak < 200e6, f"peak resident memory {peak / 1e6:.0f} MB"


# ---------------------------------------------------------------- the estimators


def sklearn_available():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not sklearn_available(), reason="the estimators need scikit-learn")


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("Estimator", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_estimators_on_sparse_X_are_the_estimators_on_dense_X(Estimator, solver, rng):
    X = csr(rng, 60, 20, quirks=False)
    y = rng.integers(0, 3, 60) if Estimator is nnbp.MLPClassifier else rng.normal(size=60)
    params = dict(hidden_layer_sizes=(5,), solver=solver, max_iter=10, random_state=0,
                  batch_size=8, early_stopping=solver != "lbfgs")
    from sklearn.exceptions import ConvergenceWarning
    predict = "predict_proba" if Estimator is nnbp.MLPClassifier else "predict"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = Estimator(**params).fit(X.toarray(), y)
        for kind in ["csr_array", "csc_matrix", "coo_array"]:
            sparse = Estimator(**params).fit(FORMATS[kind](X), y)
            assert sparse.n_iter_ == dense.n_iter_
            for a, b in zip(sparse.coefs_, dense.coefs_):
                assert relative_error(a, b) <= 1e-10
            for data in (X, X.toarray(), FORMATS[kind](X)):
                assert relative_error(getattr(sparse, predict)(data),
                                      getattr(dense, predict)(X.toarray())) <= 1e-10
    assert sparse.__sklearn_tags__().input_tags.sparse
