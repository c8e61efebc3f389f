"""Network.vjp, the backward pass of any loss's gradient, and Network.logits.

Every activation x output x dtype x depth, with respect to the outputs and
to the logits: the gradient and the input gradient equal the reference's
(nnbp.reference.vjp), central finite differences of <G, f(X)> in float32
and float64, and torch autograd's for random upstream gradients; sparse X
gives the dense X's gradient; the canonical loss's own gradient, passed as
upstream, gives loss_and_grad's to the last bit.
"""
import itertools

import numpy as np
import pytest
import scipy.sparse
from support import DTYPES, REFERENCE_TOLERANCE, make_targets, relative_error

from threadpoolctl import threadpool_limits

import nnbp
from nnbp import _core, _threads, reference
from nnbp.gradcheck import TOLERANCES, block_error, central_differences

HIDDEN = {0: [], 1: [5], 3: [5, 4, 3]}
N_OUTPUTS = {"softmax": 3, "logistic": 2, "squared": 2, "poisson": 2}
WRT = ("output", "logits")
CASES = list(itertools.product(nnbp.ACTIVATIONS, nnbp.OUTPUTS, DTYPES, sorted(HIDDEN), WRT))
# Activations without a kink: a finite difference of them means what it says.
SMOOTH = [name for name in nnbp.ACTIVATIONS if name not in ("relu", "leaky_relu")]


def case_id(case):
    activation, output, dtype, depth, wrt = case
    return f"{activation}-{output}-{np.dtype(dtype).name}-{depth}hidden-{wrt}"


def make_case(activation, output, dtype, depth, n=6, n_inputs=3, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    sizes = [n_inputs] + HIDDEN[depth] + [N_OUTPUTS[output]]
    net = nnbp.Network(sizes, activation=activation, output=output, dtype=dtype, seed=seed,
                       bias=bias)
    for b in net.biases if bias else ():
        b[...] = rng.uniform(-0.5, 0.5, size=b.shape)
    X = rng.normal(size=(n, n_inputs)).astype(dtype)
    upstream = rng.normal(size=(n, N_OUTPUTS[output])).astype(dtype)
    return net, X, upstream


def reference_vjp(net, X, upstream, wrt):
    """The oracle's (gradient in params' layout, input gradient)."""
    weights = [np.asarray(W, np.float64).tolist() for W in net.weights]
    biases = [np.asarray(b, np.float64).tolist() for b in net.biases] if net.bias else None
    dweights, dbiases, dX = reference.vjp(
        weights, biases, np.asarray(X, np.float64).tolist(),
        np.asarray(upstream, np.float64).tolist(), net.activation, net.output, wrt=wrt,
        negative_slope=net.negative_slope)
    flat = [np.ravel(g) for g in dweights] + [np.ravel(g) for g in (dbiases or [])]
    return np.concatenate(flat), np.array(dX)


def scalar_of(net, X, upstream, wrt):
    """<G, f(X)> or <G, z(L)(X)> in float64, whose gradient vjp gives."""
    values = net.forward(X) if wrt == "output" else net.logits(X)
    return float(np.sum(np.asarray(upstream, np.float64) * values))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_reference(case):
    net, X, upstream = make_case(*case[:4])
    wrt = case[4]
    tolerance = REFERENCE_TOLERANCE[case[2]]
    expected, expected_X = reference_vjp(net, X, upstream, wrt)
    grad, grad_X = net.vjp(X, upstream, wrt=wrt, input_gradient=True)
    assert grad.dtype == net.dtype and grad.shape == net.params.shape
    assert grad_X.dtype == net.dtype and grad_X.shape == X.shape
    for name, where in net.block_slices():
        assert relative_error(grad[where], expected[where]) <= tolerance, name
    assert relative_error(grad_X, expected_X) <= tolerance
    # Without the input gradient: the same gradient, bitwise.
    assert np.array_equal(net.vjp(X, upstream, wrt=wrt), grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_every_instruction_set_matches_reference(output, dtype, isa):
    net, X, upstream = make_case("tanh", output, dtype, 1)
    tolerance = REFERENCE_TOLERANCE[dtype]
    for wrt in WRT:
        expected, expected_X = reference_vjp(net, X, upstream, wrt)
        grad, grad_X = net.vjp(X, upstream, wrt=wrt, input_gradient=True)
        assert relative_error(grad, expected) <= tolerance
        assert relative_error(grad_X, expected_X) <= tolerance


def test_without_biases_matches_reference():
    net, X, upstream = make_case("tanh", "softmax", np.float64, 1, bias=False)
    expected, expected_X = reference_vjp(net, X, upstream, "output")
    grad, grad_X = net.vjp(X, upstream, input_gradient=True)
    assert grad.shape == (net.n_weights,)
    assert relative_error(grad, expected) <= REFERENCE_TOLERANCE[np.float64]
    assert relative_error(grad_X, expected_X) <= REFERENCE_TOLERANCE[np.float64]


@pytest.mark.parametrize("wrt", WRT)
@pytest.mark.parametrize("depth", sorted(HIDDEN))
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("activation", SMOOTH)
@pytest.mark.parametrize("dtype", DTYPES)
def test_finite_differences(dtype, activation, output, depth, wrt):
    """The gradient and the input gradient against central differences of <G, f>,
    taken on a float64 twin (a float32 function would drown them in its rounding)."""
    net, X, upstream = make_case(activation, output, dtype, depth)
    tolerance = TOLERANCES[np.dtype(dtype)]["finite_difference"]
    grad, grad_X = net.vjp(X, upstream, wrt=wrt, input_gradient=True)
    twin = net.copy(np.float64)
    X64 = X.astype(np.float64)

    def of_params(params):
        twin.params = params
        return scalar_of(twin, X64, upstream, wrt)

    numeric = central_differences(of_params, twin.params.copy(), step=6e-6)
    for name, where in net.block_slices():
        assert block_error(grad[where], numeric[where]) <= tolerance, name
    twin.params = net.params.astype(np.float64)
    numeric_X = central_differences(
        lambda x: scalar_of(twin, x.reshape(X.shape), upstream, wrt), X64.ravel(), step=6e-6)
    assert block_error(grad_X, numeric_X) <= tolerance


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_the_canonical_loss_gradient_gives_loss_and_grad_bitwise(output, dtype, rng):
    """dloss/dz(L) = (f - target) / n as upstream: loss_and_grad's own backward pass."""
    net, X, _ = make_case("tanh", output, dtype, 3)
    y = make_targets(output, X.shape[0], N_OUTPUTS[output], rng)
    target = np.eye(N_OUTPUTS[output])[y] if output == "softmax" else y
    F = net.forward(X)
    if output == "squared":
        F = net.logits(X)      # the kernel forms z - y from the logits
    # As the kernel does: the scale 1/n rounded to the dtype, times (f - t) in the dtype.
    upstream = net.dtype.type(1 / X.shape[0]) * (F - target.astype(net.dtype))
    _, expected = net.loss_and_grad(X, y)
    grad = net.vjp(X, upstream, wrt="logits")
    if output in ("squared", "poisson"):
        assert np.array_equal(grad, expected)
    else:
        # sigmoid and softmax: NumPy's exp and the kernels' differ in their last bits.
        assert relative_error(grad, expected) <= REFERENCE_TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_sparse_X_gives_the_dense_gradient(output, dtype, rng):
    net, X, upstream = make_case("relu", output, dtype, 1, n=9, n_inputs=7)
    X[rng.random(X.shape) < 0.6] = 0
    for wrt in WRT:
        dense = net.vjp(X, upstream, wrt=wrt)
        for sparse in (scipy.sparse.csr_matrix(X), scipy.sparse.csc_array(X)):
            assert relative_error(net.vjp(sparse, upstream, wrt=wrt), dense) \
                <= REFERENCE_TOLERANCE[dtype]


def test_logits_are_the_outputs_before_phi_out(rng):
    for output in nnbp.OUTPUTS:
        net, X, _ = make_case("tanh", output, np.float64, 1)
        Z = net.logits(X)
        F = net.forward(X)
        expected = reference.output_function(output, Z.tolist())
        assert relative_error(F, expected) <= REFERENCE_TOLERANCE[np.float64]
        # The sparse kernel sums X W^T in its own order.
        assert relative_error(net.logits(scipy.sparse.csr_matrix(X)), Z) \
            <= REFERENCE_TOLERANCE[np.float64]


def test_bad_input_is_refused_naming_it():
    net, X, upstream = make_case("tanh", "softmax", np.float64, 1)
    with pytest.raises(ValueError, match="wrt"):
        net.vjp(X, upstream, wrt="loss")
    with pytest.raises(ValueError, match=r"upstream must have shape \(6, 3\)"):
        net.vjp(X, upstream[:, :2])
    with pytest.raises(ValueError, match=r"upstream must have shape \(6, 3\)"):
        net.vjp(X, upstream[:5])
    bad = upstream.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="upstream"):
        net.vjp(X, bad)
    with pytest.raises(ValueError, match="dense X"):
        net.vjp(scipy.sparse.csr_matrix(X), upstream, input_gradient=True)
    with pytest.raises(TypeError, match="input_gradient"):
        net.vjp(X, upstream, input_gradient="yes")
    with pytest.raises(ValueError, match="X has 2 features"):
        net.vjp(X[:, :2], upstream)


def test_one_output_takes_a_vector_upstream():
    net, X, upstream = make_case("tanh", "squared", np.float64, 1)
    net = nnbp.Network([3, 5, 1], activation="tanh", output="squared", seed=0)
    G = np.linspace(-1, 1, X.shape[0])
    assert np.array_equal(net.vjp(X, G), net.vjp(X, G.reshape(-1, 1)))


def test_vjp_leaves_the_network_and_its_arguments_as_they_were():
    net, X, upstream = make_case("tanh", "softmax", np.float32, 3)
    params, X_before, G_before = net.params.copy(), X.copy(), upstream.copy()
    net.vjp(X, upstream, input_gradient=True)
    assert np.array_equal(net.params, params)
    assert np.array_equal(X, X_before) and np.array_equal(upstream, G_before)


def test_alpha_is_no_part_of_the_product():
    net, X, upstream = make_case("tanh", "squared", np.float64, 1)
    penalised = nnbp.Network(**dict(net.config(), alpha=5.0))
    penalised.params = net.params
    assert np.array_equal(penalised.vjp(X, upstream), net.vjp(X, upstream))


@pytest.mark.skipif(not _core.openmp_enabled(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_teams_of_threads_match_the_reference_and_are_reproducible(output, dtype,
                                                                   monkeypatch):
    """Teams of 1 to 7 threads (more than a layer's units: some have none), forced on a
    small network as tests/test_parallel.py forces them."""
    monkeypatch.setattr(_threads, "PARALLEL_FLOPS", 0)
    monkeypatch.setattr(_threads, "PARALLEL_ROWS", float("inf"))
    net, X, upstream = make_case("tanh", output, dtype, 3, n=11, n_inputs=7)
    tolerance = REFERENCE_TOLERANCE[dtype]
    for wrt in WRT:
        expected, expected_X = reference_vjp(net, X, upstream, wrt)
        for n in (1, 2, 3, 7):
            _core.largest_team(reset=True)
            monkeypatch.setenv("OMP_NUM_THREADS", str(n))
            with threadpool_limits(n, user_api="openmp"):
                grad, grad_X = net.vjp(X, upstream, wrt=wrt, input_gradient=True)
                again, again_X = net.vjp(X, upstream, wrt=wrt, input_gradient=True)
            assert _core.largest_team() == n
            assert np.array_equal(again, grad) and np.array_equal(again_X, grad_X)
            assert relative_error(grad, expected) <= tolerance
            assert relative_error(grad_X, expected_X) <= tolerance


# ---------------------------------------------------------------- against torch

TORCH_ACTIVATIONS = {"identity": lambda t, z: z, "logistic": lambda t, z: t.sigmoid(z),
                     "tanh": lambda t, z: t.tanh(z), "relu": lambda t, z: t.relu(z),
                     "leaky_relu": lambda t, z: t.nn.functional.leaky_relu(z, 0.01),
                     "softplus": lambda t, z: t.nn.functional.softplus(z)}
TORCH_OUTPUTS = {"squared": lambda t, z: z, "logistic": lambda t, z: t.sigmoid(z),
                 "softmax": lambda t, z: t.softmax(z, dim=1), "poisson": lambda t, z: t.exp(z)}


def torch_vjp(torch, net, X, upstream, wrt):
    """torch autograd's gradients of <G, f> (or <G, z(L)>): params' layout, and X's."""
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    weights = [torch.tensor(W, dtype=dtype, requires_grad=True) for W in net.weights]
    biases = [torch.tensor(b, dtype=dtype, requires_grad=True) for b in net.biases]
    x = torch.tensor(X, dtype=dtype, requires_grad=True)
    a = x
    for l, (W, b) in enumerate(zip(weights, biases), start=1):
        z = torch.nn.functional.linear(a, W, b)
        a = TORCH_ACTIVATIONS[net.activation](torch, z) if l < len(weights) else z
    values = TORCH_OUTPUTS[net.output](torch, a) if wrt == "output" else a
    values.backward(torch.tensor(upstream, dtype=dtype))
    flat = [W.grad.numpy().ravel() for W in weights] + [b.grad.numpy() for b in biases]
    return np.concatenate(flat), x.grad.numpy()


@pytest.mark.parametrize("wrt", WRT)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch_autograd(dtype, activation, output, wrt):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    sizes = [5, 8, 6, N_OUTPUTS[output]]
    net = nnbp.Network(sizes, activation=activation, output=output, dtype=dtype, seed=3)
    for b in net.biases:
        b[...] = rng.uniform(-0.5, 0.5, size=b.shape)
    X = rng.normal(size=(40, 5)).astype(dtype)
    upstream = rng.normal(size=(40, N_OUTPUTS[output])).astype(dtype)
    expected, expected_X = torch_vjp(torch, net, X, upstream, wrt)
    grad, grad_X = net.vjp(X, upstream, wrt=wrt, input_gradient=True)
    # Both compute in the dtype, in their own orders: their roundings differ.
    tolerance = REFERENCE_TOLERANCE[dtype]
    for name, where in net.block_slices():
        assert relative_error(grad[where], expected[where]) <= tolerance, name
    assert relative_error(grad_X, expected_X) <= tolerance
