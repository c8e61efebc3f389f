"""Each kernel on its own: activations, one dense layer, each output loss.

Every one is compared with the reference oracle in float32 and float64, and
verified by finite differences through check_layer_gradients and
check_loss_gradients.
"""
import itertools
import math

import numpy as np
import pytest
from support import DTYPES, REFERENCE_TOLERANCE, make_targets, relative_error

import nnbp
from nnbp import layers, reference

# Values where the activations bend, saturate or would overflow if computed naively.
Z_POINTS = np.array([[-1e4, -100.0, -20.0, -3.0, -1.0, -1e-3, 0.0],
                     [1e-3, 0.5, 1.0, 3.0, 20.0, 100.0, 1e4]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", nnbp.ACTIVATIONS)
def test_activation_matches_reference(name, dtype, rng, isa):
    Z = np.vstack([Z_POINTS, rng.normal(size=(3, 7))]).astype(dtype)
    dA = rng.normal(size=Z.shape).astype(dtype)
    A = layers.activation(name, Z, negative_slope=0.2)
    D = layers.activation_backward(name, Z, dA, negative_slope=0.2)
    expected_A = [[reference.activation(name, z, 0.2) for z in row] for row in Z.tolist()]
    expected_D = [[d * reference.activation_derivative(name, z, 0.2) for z, d in zip(zr, dr)]
                  for zr, dr in zip(Z.tolist(), dA.tolist())]
    assert A.dtype == dtype and D.dtype == dtype
    assert np.all(np.isfinite(A)) and np.all(np.isfinite(D))
    # Elementwise: each entry to the dtype's relative tolerance. The logistic
    # and tanh derivatives come from A = phi(Z) (a(1-a), 1-a^2), which is exact
    # up to the rounding of A, eps |dA|: where a saturated unit's A rounds to 1,
    # the derivative is 0 rather than, say, 2e-9 (float32, z = 20).
    rtol = REFERENCE_TOLERANCE[dtype]
    np.testing.assert_allclose(A, expected_A, rtol=rtol, atol=1e-37)
    error = np.abs(D - np.array(expected_D))
    assert np.all(error <= rtol * np.abs(expected_D) + np.finfo(dtype).eps * np.abs(dA)), error


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", nnbp.ACTIVATIONS)
def test_dense_layer_matches_reference(name, dtype, bias, rng, isa):
    X = rng.normal(size=(5, 4)).astype(dtype)
    W = rng.normal(size=(3, 4)).astype(dtype)
    b = rng.normal(size=3).astype(dtype) if bias else None
    dA = rng.normal(size=(5, 3)).astype(dtype)
    Z, A = layers.dense_forward(X, W, b, name)
    dW, db, dX = layers.dense_backward(X, W, Z, dA, name)
    Zr, Ar = reference.dense_forward(W.tolist(), None if b is None else b.tolist(), X.tolist(),
                                     name)
    dWr, dbr, dXr = reference.dense_backward(W.tolist(), X.tolist(), Zr, dA.tolist(), name)
    tolerance = REFERENCE_TOLERANCE[dtype]
    for computed, expected in [(Z, Zr), (A, Ar), (dW, dWr), (db, dbr), (dX, dXr)]:
        assert computed.dtype == dtype
        assert relative_error(computed, expected) <= tolerance


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", nnbp.ACTIVATIONS)
def test_check_layer_gradients_passes(name, dtype, bias, rng, isa):
    X = rng.normal(size=(6, 4)).astype(dtype)
    W = rng.normal(size=(3, 4)).astype(dtype)
    b = rng.normal(size=3).astype(dtype) if bias else None
    report = nnbp.check_layer_gradients(X, W, b, name, negative_slope=0.1)
    assert report.passed, str(report)
    assert report.reference_error is not None
    assert [block.name for block in report.blocks] == (["W", "b", "X"] if bias else ["W", "X"])


LOSS_CASES = list(itertools.product(nnbp.OUTPUTS, DTYPES, [False, True]))


@pytest.mark.parametrize("output, dtype, weighted", LOSS_CASES)
def test_output_loss_matches_reference(output, dtype, weighted, rng, isa):
    n, m = 6, 3
    Z = (rng.normal(size=(n, m)) * 4).astype(dtype)
    Z[0] = [1e4, -1e4, 0.0]                  # extreme logits in the same batch
    if output == "poisson":
        # f = e^z itself: +1e4 overflows (test_poisson_overflow_is_honest), 20 does not.
        Z[0] = [20.0, -1e4, 0.0]
    y = make_targets(output, n, m, rng)
    sample_weight = rng.uniform(0.0, 2.0, size=n).astype(dtype) if weighted else None
    loss, dZ = layers.output_loss(output, Z, y, sample_weight)
    ref_loss, ref_dZ = reference.output_loss(
        output, Z.tolist(), y.tolist(), None if sample_weight is None else sample_weight.tolist())
    assert np.isfinite(loss) and np.all(np.isfinite(dZ)) and dZ.dtype == dtype
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(dZ, ref_dZ) <= REFERENCE_TOLERANCE[dtype]
    F = layers.output_function(output, Z)
    assert relative_error(F, reference.output_function(output, Z.tolist())) <= (
        REFERENCE_TOLERANCE[dtype])


@pytest.mark.parametrize("output, dtype, weighted", LOSS_CASES)
def test_check_loss_gradients_passes(output, dtype, weighted, rng, isa):
    n, m = 6, 3
    Z = (rng.normal(size=(n, m)) * 4).astype(dtype)
    y = make_targets(output, n, m, rng)
    sample_weight = rng.uniform(0.0, 2.0, size=n) if weighted else None
    report = nnbp.check_loss_gradients(output, Z, y, sample_weight)
    assert report.passed, str(report)
    assert report.reference_error is not None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_loss_equals_scikit_learns(weighted, dtype, rng, isa):
    """The loss of scikit-learn's MLPRegressor(loss="poisson"): y log(y/f) - y + f, f = e^z."""
    pytest.importorskip("sklearn")
    from sklearn.neural_network._base import poisson_loss

    n, m = 40, 3
    Z = (rng.normal(size=(n, m)) * 2).astype(dtype)
    y = make_targets("poisson", n, m, rng)
    sample_weight = rng.uniform(0.0, 2.0, size=n).astype(dtype) if weighted else None
    loss, dZ = layers.output_loss("poisson", Z, y, sample_weight)
    F = np.exp(Z.astype(np.float64))
    assert relative_error(loss, poisson_loss(y, F, sample_weight=sample_weight)) <= (
        REFERENCE_TOLERANCE[dtype])
    s = np.ones(n) if sample_weight is None else sample_weight.astype(np.float64)
    assert relative_error(dZ, s[:, None] * (F - y) / s.sum()) <= REFERENCE_TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_zero_targets(dtype, rng, isa):
    """y = 0 (0 log 0 = 0): the loss is the mean of sum_k e^z_k and dZ = e^Z / n."""
    Z = (rng.normal(size=(5, 3)) * 4).astype(dtype)
    Z[0] = [-1e4, -100.0, 0.0]               # f = 0 to the dtype's precision, and f = 1
    y = np.zeros(Z.shape)
    loss, dZ = layers.output_loss("poisson", Z, y)
    F = np.exp(Z.astype(np.float64))
    assert relative_error(loss, F.sum() / 5) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(dZ, F / 5) <= REFERENCE_TOLERANCE[dtype]
    ref_loss, ref_dZ = reference.output_loss("poisson", Z.tolist(), y.tolist())
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(dZ, ref_dZ) <= REFERENCE_TOLERANCE[dtype]
    assert nnbp.check_loss_gradients("poisson", Z, y).passed


@pytest.mark.parametrize("dtype", DTYPES)
def test_poisson_overflow_is_honest(dtype, isa):
    """e^z past the dtype's range is inf, and so are the output, the loss and dZ."""
    for z in (100.0, 1e4) if dtype == np.float32 else (1e3, 1e4):
        Z = np.array([[z, 0.0]], dtype=dtype)
        loss, dZ = layers.output_loss("poisson", Z, [[2.0, 1.0]])
        assert loss == np.inf and dZ[0, 0] == np.inf and dZ[0, 1] == 0.0
        assert layers.output_function("poisson", Z).tolist() == [[np.inf, 1.0]]
    # e^100 fits in a double: only a float32 network overflows there.
    loss64, _ = layers.output_loss("poisson", np.array([[100.0]]), [[2.0]])
    assert loss64 == pytest.approx(np.exp(100.0) - 2.0 * 100.0 + 2.0 * np.log(2.0) - 2.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_probabilities_are_probabilities(dtype, rng, isa):
    Z = (rng.normal(size=(50, 4)) * 30).astype(dtype)
    softmax = layers.output_function("softmax", Z)
    sigmoid = layers.output_function("logistic", Z)
    np.testing.assert_allclose(softmax.sum(axis=1), 1.0, rtol=4 * np.finfo(dtype).eps)
    assert np.all((sigmoid >= 0) & (sigmoid <= 1)) and np.all(softmax >= 0)
    assert np.array_equal(layers.output_function("squared", Z), Z)


# ---------------------------------------------------------------- NaN and infinity
#
# The compiled core takes no NaN or infinity from the user (the boundary
# refuses them), but it makes them: a weight that became NaN, or a logit that
# overflowed. Every kernel must then pass them on as the mathematics says
# (the reference says it), never turn them into finite numbers. The kernels
# are called directly: the layers' functions refuse such input by name.

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -1.5, 30.0, -30.0, 1e4, -1e4]


def _special_grid(dtype, columns=71):
    """Every special z beside every special d, laid along rows long enough (71:
    several vectors and a tail) that both the vector loops and their tails
    see each value."""
    pairs = list(itertools.product(SPECIAL, SPECIAL))
    rows = -(-len(pairs) // columns)
    pairs += [(1.0, 1.0)] * (rows * columns - len(pairs))
    Z = np.array([z for z, _ in pairs], dtype=dtype).reshape(rows, columns)
    D = np.array([d for _, d in pairs], dtype=dtype).reshape(rows, columns)
    return Z, D


def _assert_same_specials(computed, expected, dtype):
    """NaN where expected is NaN, the same infinities, finite values to tolerance."""
    expected = np.asarray(expected, dtype=np.float64)
    computed = np.asarray(computed, dtype=np.float64)
    assert np.array_equal(np.isnan(computed), np.isnan(expected)), (computed, expected)
    assert np.array_equal(np.isinf(computed) & (computed > 0), np.isinf(expected) & (expected > 0))
    assert np.array_equal(np.isinf(computed) & (computed < 0), np.isinf(expected) & (expected < 0))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(computed[finite], expected[finite],
                               rtol=REFERENCE_TOLERANCE[dtype], atol=1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", nnbp.ACTIVATIONS)
def test_activations_propagate_nan_and_infinity(name, dtype, isa):
    # relu turned NaN into 0, tanh into 1: a network with a NaN weight gave
    # finite outputs, loss and gradient.
    from nnbp import _core
    code, slope = _core.ACTIVATIONS[name], 0.2
    Z, D = _special_grid(dtype)
    A = np.empty_like(Z)
    _core.activation_forward(code, slope, Z, A)
    backward = D.copy()
    _core.activation_backward(code, slope, Z, A, backward)
    expected_A = [[reference.activation(name, z, slope) for z in row] for row in Z.tolist()]
    expected_D = [[reference.activation_backward(name, z, d, slope) for z, d in zip(zr, dr)]
                  for zr, dr in zip(Z.tolist(), D.tolist())]
    if name in ("logistic", "tanh"):
        # These derivatives come from A rounded to the dtype (a(1-a), 1-a^2):
        # where a saturated unit's A rounds to 1, phi' is 0, and inf * 0 NaN.
        a = np.array(expected_A).astype(dtype).astype(np.float64)
        with np.errstate(invalid="ignore"):
            expected_D = D.astype(np.float64) * (a * (1 - a) if name == "logistic"
                                                 else 1 - a * a)
    if name in ("gelu", "silu"):
        # phi'(z) rounded to the dtype, then times d: gelu'(-30) = -4.4e-195
        # is 0 in float32, and inf * 0 NaN there.
        slopes = np.array([[reference.activation_derivative(name, z) for z in row]
                           for row in Z.tolist()]).astype(dtype).astype(np.float64)
        with np.errstate(invalid="ignore"):
            expected_D = D.astype(np.float64) * slopes
    _assert_same_specials(A, expected_A, dtype)
    _assert_same_specials(backward, expected_D, dtype)
    assert np.isnan(A[np.isnan(Z)]).all()
    if name != "identity":                  # identity' = 1, even at NaN
        assert np.isnan(backward[np.isnan(Z)]).all()
    # A NaN d comes back NaN, but where relu is off (z <= 0: 0, whatever d).
    passes = np.isnan(D) & ~((Z <= 0) & (name == "relu"))
    assert np.isnan(backward[passes]).all()


def test_the_reference_says_what_nan_and_infinity_give():
    nan, inf = float("nan"), float("inf")
    for name in nnbp.ACTIVATIONS:
        assert math.isnan(reference.activation(name, nan))
        if name != "identity":
            assert math.isnan(reference.activation_derivative(name, nan))
    assert reference.activation("relu", -inf) == 0.0 and reference.activation("relu", inf) == inf
    assert reference.activation("tanh", inf) == 1.0 and reference.activation("tanh", -inf) == -1.0
    assert reference.activation("logistic", -inf) == 0.0
    assert reference.activation("softplus", inf) == inf
    assert reference.activation("softplus", -inf) == 0.0
    assert reference.activation("leaky_relu", -inf, 0.2) == -inf
    assert reference.activation_derivative("relu", inf) == 1.0
    assert reference.activation_derivative("relu", -inf) == 0.0
    # Backward: d * phi'(z) as IEEE multiplies, but relu passes 0 back where
    # it is off, whatever d.
    assert math.isnan(reference.activation_backward("relu", nan, 1.0))
    assert reference.activation_backward("relu", -1.0, nan) == 0.0
    assert reference.activation_backward("relu", 2.0, inf) == inf
    assert math.isnan(reference.activation_backward("tanh", 1.0, nan))
    assert math.isnan(reference.activation_backward("leaky_relu", nan, 1.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_output_kernels_propagate_nan(output, dtype, isa):
    # A NaN logit makes its row's output, loss and gradient NaN (the softmax's
    # whole row); the other rows are untouched.
    from nnbp import _core
    rng = np.random.default_rng(5)
    n, m = 4, 19
    Z = rng.normal(size=(n, m)).astype(dtype)
    Z[1, 0] = Z[2, m - 1] = Z[3, 7] = np.nan
    y = make_targets(output, n, m, rng)
    targets = None if output == "softmax" else np.ascontiguousarray(y, dtype=dtype)
    labels = np.ascontiguousarray(y, dtype=np.int64) if output == "softmax" else None
    F = Z.copy()
    _core.output_activation(_core.OUTPUTS[output], F)
    dZ = np.empty_like(Z)
    loss = _core.output_loss(_core.OUTPUTS[output], Z, targets, labels, None, 1.0, dZ)
    _assert_same_specials(F, reference.output_function(output, Z.tolist()), dtype)
    assert math.isnan(loss)
    for i in range(1, n):
        row_loss, row_dZ = reference.output_loss(output, Z[i:i + 1].tolist(), y[i:i + 1].tolist())
        assert math.isnan(row_loss)
        _assert_same_specials(dZ[i], row_dZ[0], dtype)
    ref_loss, ref_dZ = reference.output_loss(output, Z[:1].tolist(), y[:1].tolist())
    _assert_same_specials(dZ[0], ref_dZ[0], dtype)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", nnbp.ACTIVATIONS)
def test_a_nan_weight_makes_the_network_nan(name, dtype, sparse):
    # Before, a relu network with a NaN weight predicted, and reported a loss
    # and a gradient, as if nothing were wrong.
    import scipy.sparse
    rng = np.random.default_rng(6)
    net = nnbp.Network([5, 8, 3], activation=name, output="softmax", dtype=dtype, seed=0)
    X = rng.normal(size=(6, 5))
    if sparse:
        X = scipy.sparse.csr_matrix(X)
    y = rng.integers(0, 3, 6)
    net.weights[0][:, 2] = np.nan          # every hidden unit reads feature 2
    assert np.isnan(net.forward(X)).all()
    loss, grad = net.loss_and_grad(X, y)
    assert math.isnan(loss) and math.isnan(net.loss(X, y))
    assert np.isnan(grad[net.block_slices()[0][1]]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_a_row_of_weight_zero_contributes_nothing_to_the_loss_kernel(output, dtype, rng, isa):
    # s * loss was 0 * inf = NaN for a row whose loss overflowed: now the row
    # is left out, as the reference leaves it out.
    n, m = 5, 3
    Z = rng.normal(size=(n, m)).astype(dtype)
    y = make_targets(output, n, m, rng)
    weights = rng.uniform(0.5, 2.0, n).astype(dtype)
    weights[2] = 0.0
    Z[2] = np.finfo(dtype).max / 2           # its loss overflows: (z - y)^2, e^z, ...
    loss, dZ = layers.output_loss(output, Z, y, weights)
    kept = np.arange(n) != 2
    loss_kept, dZ_kept = layers.output_loss(output, Z[kept], y[kept], weights[kept])
    assert np.isfinite(loss) and np.isfinite(dZ).all()
    assert loss == loss_kept and np.array_equal(dZ[kept], dZ_kept) and not dZ[2].any()
    ref_loss, ref_dZ = reference.output_loss(output, Z.tolist(), y.tolist(), weights.tolist())
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]


INFINITE_LOGITS = [[np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0], [np.inf, -np.inf, 0.0],
                   [-np.inf, -np.inf, -np.inf], [np.nan, np.inf, 0.0]]


def _targets_for(output, label):
    """Every kind of target beside infinite logits: each class, or all 0, 1 or 1/2."""
    if output == "softmax":
        return np.full(len(INFINITE_LOGITS), label, dtype=np.int64)
    value = (0.0, 1.0, 0.5)[label] if output == "logistic" else (0.0, 1.0, 3.0)[label]
    return np.full((len(INFINITE_LOGITS), 3), value)


@pytest.mark.parametrize("label", [0, 1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_output_kernels_take_infinite_logits_to_their_limits(output, dtype, label, isa):
    # An overflowed logit: the output, loss and gradient are the limits the
    # reference gives (a sure right answer's loss is 0, a sure wrong one's
    # inf), not a NaN made of inf - inf.
    from nnbp import _core
    Z = np.array(INFINITE_LOGITS, dtype=dtype)
    y = _targets_for(output, label)
    F = Z.copy()
    _core.output_activation(_core.OUTPUTS[output], F)
    _assert_same_specials(F, reference.output_function(output, Z.tolist()), dtype)
    for i in range(len(INFINITE_LOGITS)):
        targets = None if output == "softmax" else y[i:i + 1].astype(dtype)
        labels = y[i:i + 1] if output == "softmax" else None
        dZ = np.empty((1, 3), dtype)
        loss = _core.output_loss(_core.OUTPUTS[output], Z[i:i + 1], targets, labels, None, 1.0,
                                 dZ)
        ref_loss, ref_dZ = reference.output_loss(output, Z[i:i + 1].tolist(), y[i:i + 1].tolist())
        _assert_same_specials([loss], [ref_loss], dtype)
        _assert_same_specials(dZ[0], ref_dZ[0], dtype)


def test_the_reference_takes_infinite_logits_to_their_limits():
    inf = math.inf
    assert reference.output_loss("logistic", [[inf, -inf]], [[1.0, 0.0]]) == (0.0, [[0.0, 0.0]])
    assert reference.output_loss("logistic", [[inf]], [[0.5]])[0] == inf
    assert reference.output_loss("poisson", [[inf]], [[2.0]])[0] == inf
    assert reference.output_function("softmax", [[inf, 0.0]]) == [[1.0, 0.0]]
    assert reference.output_loss("softmax", [[inf, 0.0]], [0]) == (0.0, [[0.0, 0.0]])
    assert reference.output_loss("softmax", [[inf, 0.0]], [1])[0] == inf
    assert math.isnan(reference.output_loss("softmax", [[math.nan, 0.0]], [1])[0])
