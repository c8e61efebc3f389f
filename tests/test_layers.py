"""Each kernel on its own: activations, one dense layer, each output loss.

Every one is compared with the reference oracle in float32 and float64, and
verified by finite differences through check_layer_gradients and
check_loss_gradients.
"""
import itertools

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
