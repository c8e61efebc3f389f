"""Export to ONNX: every exported model run in onnxruntime and compared with nnbp.

Labels must be equal; probabilities and values within 1e-5 (float32) and
1e-12 (float64), relative. What relative means:

- probabilities, and poisson's rates e^z, are compared element by element:
  each is a quotient of exponentials, as accurate as the logits' absolute
  error; values below the dtype's smallest normal number are compared
  absolutely (a subnormal number has fewer significant digits);
- the values of a squared (identity) output are sums: two summation orders
  differ by rounding relative to the magnitude of what they add up,
  sum_j |w_j a_j| + |b|, which is the scale they are compared at. An output
  near 0 by cancellation has no relative accuracy in either.

The tests on extreme logits use networks whose products and sums are exact
(small integers times powers of two), so that the logits are the same in both
whatever the summation order, and what is compared is how each computes
sigmoid, softplus, softmax and exp where they overflow or underflow.
"""
import subprocess
import sys
import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
import skl2onnx
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nnbp
import nnbp.onnx
from nnbp import layers

DTYPES = [np.float32, np.float64]
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
MANY_ROWS = 9000   # more than Network.forward's blocks of 4096 rows


def run(model, X):
    """{output name: value} of model (an onnx.ModelProto), run on X by onnxruntime."""
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    values = session.run(None, {session.get_inputs()[0].name: X})
    return dict(zip([output.name for output in session.get_outputs()], values))


def assert_elementwise_close(actual, expected, dtype):
    dtype = np.dtype(dtype)
    assert actual.dtype == dtype and actual.shape == expected.shape
    actual, expected = actual.astype(np.float64), expected.astype(np.float64)
    assert np.array_equal(np.isfinite(actual), np.isfinite(expected))
    finite = np.isfinite(expected)
    assert np.array_equal(actual[~finite], expected[~finite])
    error = np.abs(actual - expected)[finite]
    bound = np.maximum(RTOL[dtype] * np.abs(expected[finite]), np.finfo(dtype).tiny)
    worst = np.argmax(error / bound)
    assert error[worst] <= bound[worst], (actual[finite][worst], expected[finite][worst])


def last_layer_magnitude(net, X):
    """sum_j |W(L)_kj a_j| + |b(L)_k| for each row and output: the scale of f's values."""
    A = np.asarray(X, dtype=net.dtype)
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        A = layers.dense_forward(A, W, b, net.activation, net.negative_slope)[1]
    magnitude = np.abs(A).astype(np.float64) @ np.abs(net.weights[-1].T).astype(np.float64)
    return magnitude + (0 if net.biases[-1] is None else np.abs(net.biases[-1]))


def assert_outputs_close(actual, net, X):
    """actual against net.forward(X), at the scale each output's kind has (see above)."""
    expected = net.forward(X)
    if net.output != "squared":
        return assert_elementwise_close(actual, expected, net.dtype)
    assert actual.dtype == net.dtype and actual.shape == expected.shape
    error = np.abs(actual.astype(np.float64) - expected)
    assert np.all(error <= RTOL[net.dtype] * last_layer_magnitude(net, X))


# ---------------------------------------------------------------- networks

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_every_activation_and_output_on_one_row_and_many(activation, output, dtype, rng):
    net = nnbp.Network([6, 9, 7, 3], activation=activation, output=output, dtype=dtype,
                       seed=rng.integers(1000), negative_slope=0.07)
    net.params += 0.2 * rng.standard_normal(net.n_params)   # biases too, and larger weights
    model = nnbp.onnx.to_onnx(net)
    X = rng.normal(scale=2.0, size=(MANY_ROWS, 6)).astype(dtype)
    for rows in (X[:1], X):
        (name, values), = run(model, rows).items()
        assert name == "output"
        assert_outputs_close(values, net, rows)


FUNCTION_ARGUMENTS = np.concatenate([
    [0.0, 1e-30, -1e-30, 1e-8, -1e-8, 0.5, -0.5],
    np.linspace(-120, 120, 481), np.linspace(-750, 750, 301),
    [-1e4, 1e4, -3e38, 3e38, 17.5, -17.5, 36.8, -36.8, 40.0, -40.0, 87.0, -87.0, 708.0, -708.0],
])


def argument_column(dtype, output=None):
    z = FUNCTION_ARGUMENTS.astype(dtype)
    if output == "poisson":
        # e^z within range in both: nnbp's exp overflows from 88.37 (float32) and 709.08
        # (float64), 0.4 and 0.7 before the last finite values (a limit pinned in
        # tests/test_properties.py); onnxruntime's from 88.72 and 709.78.
        z = z[z < (88.3 if dtype == np.float32 else 709.0)]
    return z.reshape(-1, 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_each_activation_at_extreme_arguments(activation, dtype):
    """f(z) = phi(z) exactly: one unit, weights 1, biases 0, an identity output."""
    net = nnbp.Network([1, 1, 1], activation=activation, output="squared", dtype=dtype,
                       negative_slope=0.01)
    net.params = [1.0, 1.0, 0.0, 0.0]
    z = argument_column(dtype)
    with np.errstate(over="ignore"):
        computed = run(nnbp.onnx.to_onnx(net), z)["output"]
        assert_elementwise_close(computed, net.forward(z), dtype)
    # And against the true values: softplus neither overflows (log(1 + e^z) would from
    # z = 89 in float32) nor loses small values (log(1 + e^z) is 0 below z = -37 in
    # float64, where softplus(z) = e^z).
    if activation == "softplus":
        true = np.logaddexp(0.0, z.astype(np.float64))
        assert_elementwise_close(computed, true.astype(dtype), dtype)
        assert np.all(computed[FUNCTION_ARGUMENTS == -40.0] > 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["logistic", "poisson", "softmax"])
def test_each_output_at_extreme_logits(output, dtype):
    """f(z) of logits z given exactly: an identity weight matrix, biases 0."""
    z = argument_column(dtype, output)
    if output == "softmax":
        # Rows of three logits: the argument, 0, and its negative; and equal ones.
        z = np.hstack([z, np.zeros_like(z), -z])
        z = np.vstack([z, np.full((1, 3), -1e4, dtype), np.full((1, 3), 3e38, dtype)])
    net = nnbp.Network([z.shape[1], z.shape[1]], output=output, dtype=dtype)
    net.params = np.concatenate([np.eye(z.shape[1]).ravel(), np.zeros(z.shape[1])])
    computed = run(nnbp.onnx.to_onnx(net), z)["output"]
    assert_elementwise_close(computed, net.forward(z), dtype)
    if output == "logistic":
        # onnxruntime's own Sigmoid gives 0 at -18 (float32) and -40 (float64).
        assert np.all(computed[FUNCTION_ARGUMENTS == -40.0] > 0)


def exact_network(activation, output, dtype, rng, X):
    """A network whose every product and sum is exact on X (integers), with extreme logits.

    The hidden pre-activations are 64 times odd integers: |z| >= 64, where
    tanh is +-1, logistic 1 or e^z, softplus z or e^z, exactly or (e^z) far
    below what the next layer's integers can hold. The logits are odd
    integers times a power of two, scaled to reach 2048 or more (for
    poisson: half of e^z's range, 80 in float32 and 700 in float64).
    """
    net = nnbp.Network([X.shape[1], 6, 5], activation=activation, output=output, dtype=dtype,
                       negative_slope=0.25)
    W1, W2 = net.weights
    b1, b2 = net.biases
    W1[...] = 64 * 2 * rng.integers(-2, 3, W1.shape)
    b1[...] = 64 * (2 * rng.integers(-4, 4, b1.shape) + 1)
    W2[...] = 2 * rng.integers(-3, 4, W2.shape)
    b2[...] = 2 * rng.integers(-4, 4, b2.shape) + 1
    logits = nnbp.Network(net.layer_sizes, activation=activation, output="squared",
                          dtype=dtype, negative_slope=0.25)
    logits.params = net.params
    largest = np.abs(logits.forward(X)).max()
    target = {np.float32: 80.0, np.float64: 700.0}[dtype] if output == "poisson" else 4096.0
    scale = 2.0 ** np.floor(np.log2(target / largest))
    W2 *= scale
    b2 *= scale
    logits.params = net.params
    assert target / 2 < np.abs(logits.forward(X)).max() <= target
    return net


def grid(n_features):
    """Every row of integers in [-4, 4]: 9^4 = 6561 rows."""
    axes = np.meshgrid(*[np.arange(-4.0, 5.0)] * n_features, indexing="ij")
    return np.column_stack([axis.ravel() for axis in axes])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_extreme_logits_through_a_network(activation, output, dtype, rng):
    X = grid(4).astype(dtype)
    net = exact_network(activation, output, dtype, rng, X)
    model = nnbp.onnx.to_onnx(net)
    for rows in (X[:1], X):
        assert_elementwise_close(run(model, rows)["output"], net.forward(rows), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_network_in_the_other_dtype_computes_as_its_copy_in_it(dtype, rng):
    net = nnbp.Network([5, 8, 3], activation="tanh", output="softmax", dtype=dtype, seed=3)
    other = np.float64 if dtype == np.float32 else np.float32
    X = rng.normal(size=(50, 5)).astype(other)
    computed = run(nnbp.onnx.to_onnx(net, dtype=other), X)["output"]
    assert_elementwise_close(computed, net.copy(dtype=other).forward(X), other)


def test_a_network_without_biases(rng):
    net = nnbp.Network([5, 8, 3], activation="relu", output="squared", bias=False, seed=4)
    X = rng.normal(size=(40, 5))
    assert_outputs_close(run(nnbp.onnx.to_onnx(net), X)["output"], net, X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("leaky_slope", [0.01, -0.3, 1.7])
def test_leaky_relu_keeps_its_slope(leaky_slope, dtype, rng):
    """In float64 not the float32 rounding of LeakyRelu's alpha; any slope, not just (0, 1)."""
    net = nnbp.Network([1, 1, 1], activation="leaky_relu", output="squared", dtype=dtype,
                       negative_slope=leaky_slope)
    net.params = [1.0, 1.0, 0.0, 0.0]
    z = np.array([[-3.0], [-1e-3], [0.0], [2.5]], dtype=dtype)
    computed = run(nnbp.onnx.to_onnx(net), z)["output"]
    assert np.array_equal(computed, net.forward(z))
    assert computed[0, 0] == dtype(leaky_slope) * dtype(-3.0)
