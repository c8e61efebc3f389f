"""The compiled network against the reference oracle and finite differences.

Every activation x output x dtype x depth x sample weights x alpha: the
forward pass, the loss and the gradient equal the reference's, and
check_gradients passes.
"""
import itertools

import numpy as np
import pytest
from support import (
    DTYPES,
    REFERENCE_TOLERANCE,
    make_targets,
    reference_forward,
    reference_loss_and_grad,
    relative_error,
)

import nnbp

HIDDEN = {0: [], 1: [5], 3: [5, 4, 3]}
N_OUTPUTS = {"softmax": 3, "logistic": 2, "squared": 2, "poisson": 2}
CASES = list(itertools.product(nnbp.ACTIVATIONS, nnbp.OUTPUTS, DTYPES, sorted(HIDDEN),
                               [False, True], [0.0, 0.3]))


def case_id(case):
    activation, output, dtype, depth, weighted, alpha = case
    return (f"{activation}-{output}-{np.dtype(dtype).name}-{depth}hidden"
            + ("-weighted" if weighted else "") + (f"-alpha{alpha}" if alpha else ""))


def make_case(activation, output, dtype, depth, weighted, alpha, n=6, n_inputs=3, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [n_inputs] + HIDDEN[depth] + [N_OUTPUTS[output]]
    net = nnbp.Network(sizes, activation=activation, output=output, dtype=dtype, alpha=alpha,
                       seed=seed)
    # Non-zero biases, so that a bias bug cannot hide behind zeros.
    for b in net.biases:
        b[...] = rng.uniform(-0.5, 0.5, size=b.shape)
    X = rng.normal(size=(n, n_inputs))
    y = make_targets(output, n, N_OUTPUTS[output], rng)
    sample_weight = rng.uniform(0.1, 2.0, size=n) if weighted else None
    return net, X, y, sample_weight


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_reference(case, isa):
    net, X, y, sample_weight = make_case(*case)
    tolerance = REFERENCE_TOLERANCE[case[2]]
    # The reference sees exactly the numbers the network holds.
    X_net = X.astype(net.dtype)
    sw_net = None if sample_weight is None else sample_weight.astype(net.dtype)
    ref_loss, ref_grad = reference_loss_and_grad(net, X_net, y, sw_net)

    loss, grad = net.loss_and_grad(X, y, sample_weight)
    assert grad.dtype == net.dtype and grad.shape == net.params.shape
    assert relative_error(loss, ref_loss) <= tolerance
    assert relative_error(net.loss(X, y, sample_weight), ref_loss) <= tolerance
    for name, where in net.block_slices():
        assert relative_error(grad[where], ref_grad[where]) <= tolerance, name
    assert relative_error(net.forward(X), reference_forward(net, X_net)) <= tolerance


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_gradients_passes(case, isa):
    net, X, y, sample_weight = make_case(*case)
    before = net.params.copy()
    report = nnbp.check_gradients(net, X, y, sample_weight, reference=True)
    assert report.passed, str(report)
    assert report.reference_error is not None
    assert np.array_equal(net.params, before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", [output for output in nnbp.OUTPUTS if output != "poisson"])
def test_extreme_logits_stay_finite(output, dtype, rng, isa):
    """Logits of +-1e4: the loss is computed from them, so nothing overflows.

    Not poisson: its output e^z itself overflows (test_poisson_extreme_logits).
    """
    n_outputs = N_OUTPUTS[output]
    net = nnbp.Network([2, n_outputs], activation="identity", output=output, dtype=dtype)
    net.weights[0][...] = 0.0
    net.biases[0][...] = 1e4 * np.where(np.arange(n_outputs) % 2 == 0, 1.0, -1.0)
    X = rng.normal(size=(4, 2))
    # Targets that disagree with the logits, so the losses are huge but finite.
    if output == "softmax":
        y = np.full(4, 1)
    elif output == "logistic":
        y = np.tile(np.arange(n_outputs) % 2, (4, 1)).astype(float)
    else:
        y = np.zeros((4, n_outputs))
    loss, grad = net.loss_and_grad(X, y)
    ref_loss, ref_grad = reference_loss_and_grad(net, X.astype(dtype), y)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert np.all(np.isfinite(net.forward(X)))
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(grad, ref_grad) <= REFERENCE_TOLERANCE[dtype]
    if output == "softmax":
        # z = (1e4, -1e4, 1e4): logsumexp(z) - z_1 = (1e4 + log 2) - (-1e4)
        assert loss == pytest.approx(2e4 + np.log(2), rel=1e-6)
    elif output == "logistic":
        assert loss == pytest.approx(2e4, rel=1e-6)   # softplus(1e4) - 0 + softplus(-1e4) + 1e4


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_extreme_logits(dtype, rng, isa):
    """Logits of -1e4 give f = 0 and a finite loss; +1e4 overflow, and the loss says so."""
    net = nnbp.Network([2, 2], activation="identity", output="poisson", dtype=dtype)
    net.weights[0][...] = 0.0
    net.biases[0][...] = -1e4
    X = rng.normal(size=(4, 2))
    y = np.tile([0.0, 3.0], (4, 1))
    loss, grad = net.loss_and_grad(X, y)
    ref_loss, ref_grad = reference_loss_and_grad(net, X.astype(dtype), y)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert np.all(net.forward(X) == 0.0)
    # per example: y = 0 gives 0 log 0 - 0 + e^-1e4 = 0; y = 3 gives 3 (log 3 + 1e4) - 3 + 0
    assert loss == pytest.approx(3.0 * (np.log(3.0) + 1e4) - 3.0, rel=1e-6)
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(grad, ref_grad) <= REFERENCE_TOLERANCE[dtype]
    net.biases[0][...] = [1e4, 0.0]
    assert net.loss(X, y) == np.inf
    assert np.all(net.forward(X)[:, 0] == np.inf) and np.all(net.forward(X)[:, 1] == 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_zero_targets(dtype, rng):
    """y = 0 everywhere: the loss is the mean of sum_k e^z_k, its gradient e^z / n."""
    net = nnbp.Network([3, 5, 2], activation="tanh", output="poisson", dtype=dtype, seed=9)
    X, y = rng.normal(size=(6, 3)), np.zeros((6, 2))
    loss, grad = net.loss_and_grad(X, y)
    ref_loss, ref_grad = reference_loss_and_grad(net, X.astype(dtype), y)
    assert loss == pytest.approx(net.forward(X).astype(np.float64).sum() / 6, rel=1e-6)
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(grad, ref_grad) <= REFERENCE_TOLERANCE[dtype]
    assert nnbp.check_gradients(net, X, y, reference=True).passed


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_loss_equals_scikit_learns(weighted, dtype, rng):
    """net.loss is scikit-learn's poisson_loss (MLPRegressor(loss="poisson")) of net.forward."""
    pytest.importorskip("sklearn")
    from sklearn.neural_network._base import poisson_loss

    net = nnbp.Network([4, 6, 3], activation="relu", output="poisson", dtype=dtype, seed=10)
    X = rng.normal(size=(30, 4))
    y = make_targets("poisson", 30, 3, rng)
    sample_weight = rng.uniform(0.0, 2.0, size=30) if weighted else None
    sw_net = None if sample_weight is None else sample_weight.astype(dtype)
    expected = poisson_loss(y, net.forward(X).astype(np.float64), sample_weight=sw_net)
    assert relative_error(net.loss(X, y, sample_weight), expected) <= (
        REFERENCE_TOLERANCE[dtype])


EDGE_SHAPES = {
    "one-example": ([3, 4, 3], 1),
    "one-feature": ([1, 4, 3], 5),
    "width-1-layers": ([1, 1, 1, 1], 4),
    "width-1-hidden": ([4, 1, 3], 5),
    "one-output": ([2, 1], 3),
}
# Softmax over one output is the constant 1: test_softmax_single_class_network has it.
EDGE_CASES = [(shape, output) for shape, output in itertools.product(EDGE_SHAPES, nnbp.OUTPUTS)
              if not (output == "softmax" and EDGE_SHAPES[shape][0][-1] == 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, output", EDGE_CASES)
def test_edge_shapes(shape, output, dtype, rng):
    sizes, n = EDGE_SHAPES[shape]
    net = nnbp.Network(sizes, activation="tanh", output=output, dtype=dtype, seed=1)
    X = rng.normal(size=(n, sizes[0]))
    y = make_targets(output, n, sizes[-1], rng)
    loss, grad = net.loss_and_grad(X, y)
    ref_loss, ref_grad = reference_loss_and_grad(net, X.astype(dtype), y)
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(grad, ref_grad) <= REFERENCE_TOLERANCE[dtype]
    assert nnbp.check_gradients(net, X, y).passed


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_single_class_network(dtype, rng):
    """One output unit with softmax: f = 1, the loss is 0 and so is the gradient."""
    net = nnbp.Network([3, 4, 1], output="softmax", dtype=dtype, seed=2)
    X = rng.normal(size=(5, 3))
    loss, grad = net.loss_and_grad(X, np.zeros(5, dtype=int))
    assert loss == 0.0 and np.all(grad == 0.0)
    assert np.all(net.forward(X) == 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_bias(dtype, rng):
    net = nnbp.Network([3, 4, 2], activation="softplus", output="squared", dtype=dtype,
                       bias=False, seed=3)
    assert net.biases == (None, None) and net.n_params == 3 * 4 + 4 * 2
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    loss, grad = net.loss_and_grad(X, y)
    ref_loss, ref_grad = reference_loss_and_grad(net, X.astype(dtype), y)
    assert relative_error(grad, ref_grad) <= REFERENCE_TOLERANCE[dtype]
    assert nnbp.check_gradients(net, X, y).passed


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu_slope_is_used(dtype, rng):
    X = rng.normal(size=(6, 3))
    y = rng.integers(0, 2, size=6)
    losses = []
    for slope in (0.01, 0.3):
        net = nnbp.Network([3, 8, 2], activation="leaky_relu", dtype=dtype, seed=4,
                           negative_slope=slope)
        loss, grad = net.loss_and_grad(X, y)
        ref_loss, ref_grad = reference_loss_and_grad(net, X.astype(dtype), y)
        assert relative_error(grad, ref_grad) <= REFERENCE_TOLERANCE[dtype]
        losses.append(loss)
    assert losses[0] != losses[1]


def test_float32_and_float64_agree(rng):
    X, y = rng.normal(size=(20, 5)), rng.integers(0, 4, size=20)
    net64 = nnbp.Network([5, 16, 8, 4], activation="tanh", seed=5)
    net32 = net64.copy(np.float32)
    loss64, grad64 = net64.loss_and_grad(X, y)
    loss32, grad32 = net32.loss_and_grad(X, y)
    assert grad32.dtype == np.float32
    assert relative_error(loss32, loss64) < 1e-5
    assert relative_error(grad32, grad64) < 1e-4


def test_gradient_into_out(rng):
    net = nnbp.Network([3, 4, 2], seed=6)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5)
    out = np.full(net.n_params, np.nan)
    loss, grad = net.loss_and_grad(X, y, out=out)
    assert grad is out
    assert np.array_equal(out, net.loss_and_grad(X, y)[1])
    with pytest.raises(ValueError, match="out must be"):
        net.loss_and_grad(X, y, out=np.empty(net.n_params, dtype=np.float32))


def test_larger_batches_reuse_and_grow_the_workspace(rng):
    """Batch sizes up and down give the same answers as a fresh network."""
    net = nnbp.Network([6, 10, 3], activation="relu", seed=7)
    for n in (5, 50, 3, 50):
        X, y = rng.normal(size=(n, 6)), rng.integers(0, 3, size=n)
        fresh = net.copy()
        assert np.array_equal(net.loss_and_grad(X, y)[1], fresh.loss_and_grad(X, y)[1])
        assert np.array_equal(net.forward(X), fresh.forward(X))


@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_forward_in_blocks_equals_forward_at_once(output, rng, monkeypatch):
    """forward() goes through X a block of rows at a time: the blocks must not show."""
    from nnbp import network

    net = nnbp.Network([5, 7, 4], activation="tanh", output=output, seed=8)
    X = rng.normal(size=(103, 5))
    whole = net.forward(X)
    monkeypatch.setattr(network, "FORWARD_BLOCK_ROWS", 10)
    blocked = nnbp.Network(**net.config())
    blocked.params = net.params
    # Equal up to rounding, not bitwise: BLAS may sum a product of 10 rows in
    # another order than one of 103 (OpenBLAS's Nehalem kernels do).
    scale = np.abs(whole).max()
    np.testing.assert_allclose(blocked.forward(X), whole, rtol=0,
                               atol=64 * np.finfo(whole.dtype).eps * scale)
    # A block's workspace for each thread that takes a share of the rows.
    assert blocked.workspace_for(1).size in [
        threads * nnbp.network._core.workspace_size(blocked.layer_sizes, 10)
        for threads in range(1, nnbp._threads.wanted_threads() + 1)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_l2_penalty_matches_the_reference_for_every_length_around_the_kernels_blocks(dtype, rng):
    # The penalty kernel runs in blocks of 16 with a scalar tail: every
    # remainder, and a few whole blocks, against the oracle and finite differences.
    for n_weights in range(1, 50):
        net = nnbp.Network([n_weights, 1], output="squared", dtype=dtype, alpha=0.7,
                           bias=False, seed=n_weights)
        X, y = rng.normal(size=(2, n_weights)), rng.normal(size=2)
        loss, grad = net.loss_and_grad(X, y)
        expected_loss, expected_grad = reference_loss_and_grad(net, X, y)
        assert relative_error(loss, expected_loss) < REFERENCE_TOLERANCE[dtype]
        assert relative_error(grad, expected_grad) < REFERENCE_TOLERANCE[dtype]
        assert nnbp.check_gradients(net, X, y).passed


# ---------------------------------------------------------------- off the happy path

def _aliases(net, X, y, w):
    """(what, out, X, y, sample_weight): out a view of one of the inputs' memory."""
    size = net.n_params
    buffer = np.zeros(size + X.size + y.size + w.size)
    yield "X", buffer[:size], buffer[size - 3:size - 3 + X.size].reshape(X.shape), y, w
    big_y = np.zeros((max(y.size, size),))
    yield "y", big_y[:size], X, big_y[:y.size], w
    big_w = np.ones(max(w.size, size))
    yield "sample_weight", big_w[:size], X, y, big_w[:w.size]


@pytest.mark.parametrize("which", ["X", "y", "sample_weight"])
def test_out_sharing_memory_with_an_input_is_refused(which, rng):
    # out a view of X gave a gradient wrong by up to 0.49: the backward pass
    # writes the gradient while it still reads X.
    net = nnbp.Network([4, 5, 1], activation="tanh", output="squared", seed=2)
    X, y, w = rng.normal(size=(6, 4)), rng.normal(size=6), rng.uniform(0.5, 2, 6)
    for what, out, X_in, y_in, w_in in _aliases(net, X, y, w):
        if what != which:
            continue
        X_in[...], y_in[...], w_in[...] = X, y, w
        X_before = X_in.copy()
        with pytest.raises(ValueError, match=f"out must not share memory with {which}"):
            net.loss_and_grad(X_in, y_in, w_in, out=out)
        assert np.array_equal(X_in, X_before)


def test_out_sharing_memory_with_a_sparse_X_is_refused(rng):
    import scipy.sparse
    net = nnbp.Network([4, 3, 2], seed=2)
    X = scipy.sparse.random(5, 4, density=0.5, format="csr", random_state=1)
    data = np.zeros(max(X.data.size, net.n_params))
    data[:X.data.size] = X.data
    X.data = data[:X.data.size]             # the constructor would copy it
    assert np.shares_memory(X.data, data)
    with pytest.raises(ValueError, match="out must not share memory with X"):
        net.loss_and_grad(X, rng.integers(0, 2, 5), out=data[:net.n_params])


@pytest.mark.parametrize("dtype, name, value", [
    (np.float32, "sigma", 1e39),                 # not a float32: inf
    (np.float32, "negative_slope", 1e39),
    (np.float32, "negative_slope", -1e39),
    (np.float32, "sigma", 3e38),                 # a float32, but its draws overflow
    (np.float64, "sigma", 1.7e308),
    (np.float32, "alpha", 1e39),                 # its penalty's gradient: inf * w
])
def test_a_hyperparameter_that_overflows_the_dtype_is_refused(dtype, name, value):
    # sigma=1e39 made a float32 network's parameters inf; negative_slope=1e39
    # made its outputs NaN.
    options = {"sigma": {"init": "normal"}, "negative_slope": {"activation": "leaky_relu"},
               "alpha": {}}[name]
    with pytest.raises(ValueError, match=name):
        nnbp.Network([3, 4, 2], dtype=dtype, seed=0, **{name: value}, **options)


@pytest.mark.parametrize("name, value", [("sigma", 1e30), ("negative_slope", 1e30),
                                         ("negative_slope", -1e30)])
def test_a_large_hyperparameter_within_float32_is_taken(name, value):
    net = nnbp.Network([3, 4, 2], dtype=np.float32, init="normal", seed=0, **{name: value})
    assert getattr(net, name) == value


def test_check_data_returns_the_named_checked_data(rng):
    """The network's check of (X, y, sample_weight) is a CheckedData, read by field name."""
    from nnbp.network import CheckedData

    net = nnbp.Network([4, 3, 2], output="squared")
    X, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    weights = np.arange(1.0, 7.0)
    data = net.check_data(X, y, weights)
    assert isinstance(data, CheckedData)
    assert data._fields == ("X", "targets", "labels", "sample_weight", "total")
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.targets, y)
    assert data.labels is None
    np.testing.assert_array_equal(data.sample_weight, weights)
    assert data.total == weights.sum()
    softmax = nnbp.Network([4, 3], output="softmax").check_data(X, np.arange(6) % 3)
    assert softmax.targets is None and softmax.labels.dtype == np.int64
    assert softmax.sample_weight is None and softmax.total == 6


@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_a_random_state_draws_scikit_learns_glorot_parameters(activation):
    """seed=RandomState: scikit-learn's draws in its order, W(l).T then b(l), layer by
    layer: the one home of the estimators' initialisation."""
    net = nnbp.Network([5, 4, 3], activation=activation, seed=np.random.RandomState(7))
    draws = np.random.RandomState(7)
    factor = 2.0 if activation == "logistic" else 6.0
    for W, b in zip(net.weights, net.biases):
        fan_out, fan_in = W.shape
        bound = np.sqrt(factor / (fan_in + fan_out))
        np.testing.assert_array_equal(W.T, draws.uniform(-bound, bound, (fan_in, fan_out)))
        np.testing.assert_array_equal(b, draws.uniform(-bound, bound, fan_out))


@pytest.mark.parametrize("dtype", DTYPES)
def test_hidden_activations_lead_to_the_forward_pass(dtype, rng):
    net = nnbp.Network([4, 5, 3, 2], activation="tanh", output="softmax", dtype=dtype, seed=0)
    X = rng.standard_normal((6, 4))
    layers = net.hidden_activations(X)
    assert len(layers) == 2
    x = X.astype(dtype)
    for (Z, A), W, b in zip(layers, net.weights, net.biases):
        assert Z.dtype == A.dtype == dtype and Z.shape == (6, W.shape[0])
        np.testing.assert_allclose(Z, x @ W.T + b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(A, np.tanh(Z), rtol=1e-5, atol=1e-6)
        x = A
    logits = x @ net.weights[-1].T + net.biases[-1]
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.forward(X), probabilities, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="X"):
        net.hidden_activations(X[:, :3])


@pytest.mark.parametrize("bias", [True, False])
def test_layer_slices_hold_each_layers_weights_and_biases(bias):
    net = nnbp.Network([4, 5, 3], bias=bias, seed=0)
    slices = net.layer_slices()
    assert len(slices) == net.n_layers
    for (weights, biases), W, b in zip(slices, net.weights, net.biases):
        np.testing.assert_array_equal(net.params[weights], W.ravel())
        if bias:
            np.testing.assert_array_equal(net.params[biases], b)
        else:
            assert biases is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_l2_penalty_is_the_losss_penalty(dtype, rng):
    """Network.l2_penalty: alpha/(2S) sum_l ||W(l)||^2 and its gradient, the share of
    the loss that alpha adds (nnbp.dask adds it once to the shards' summed loss)."""
    net = nnbp.Network([4, 5, 3], output="squared", dtype=dtype, alpha=0.7, seed=0)
    plain = net.copy()
    plain.alpha = 0.0
    X, y, weights = rng.standard_normal((6, 4)), rng.standard_normal((6, 3)), rng.random(6)
    loss, grad = net.loss_and_grad(X, y, weights)
    plain_loss, plain_grad = plain.loss_and_grad(X, y, weights)
    penalty_grad = np.zeros_like(net.params)
    total = float(weights.astype(dtype).sum(dtype=np.float64))
    penalty = net.l2_penalty(net.params, total, penalty_grad)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert penalty == pytest.approx(loss - plain_loss, rel=rtol * 10)
    np.testing.assert_allclose(penalty_grad, grad - plain_grad, rtol=rtol * 10, atol=rtol)
    assert not penalty_grad[net.n_weights:].any()
    untouched = net.params.copy()
    assert net.l2_penalty(untouched, total) == penalty
    np.testing.assert_array_equal(untouched, net.params)
