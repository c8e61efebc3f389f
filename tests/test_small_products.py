"""nnbp's own products for one row, and the fused one-example step.

A batch of one row takes its products from nnbp's loops (csrc/kernels_impl.h,
"small products") instead of BLAS: Z = X W^T, dW = D^T X and dX = D W, each
sum in a fixed order. Like every kernel they are checked against the
reference and by finite differences, in float32 and float64, under each
instruction set; and against BLAS's gemm within round-off, and bitwise
across instruction sets. ``_core.small_product_rows(k)`` sends batches of
up to k rows through them, so the tests also reach the loops' several-row
case (k = 0: BLAS for every batch).

Batch-1 training steps each layer in one pass over its weights, without
forming the gradient; tests/test_training.py shows that the compiled epoch
takes bitwise the steps of loss_and_grad and optimizer.step, which form it.
The tests here add the lecture's rule without a penalty, the penalty's
running sum, and a step whose loss is not finite.
"""
import contextlib
import re

import numpy as np
import pytest
from conftest import available_instruction_sets
from support import DTYPES, REFERENCE_TOLERANCE, relative_error
from test_network import make_case
from test_training import OPTIMIZERS, step_by_step, train

import nnbp
from nnbp import _core, layers, reference

# Widths around the loops' blocks: 16 floats or 8 doubles a line of partial
# sums, 2, 4 or 8 rows of W at once, and a zero-padded tail.
FAN_INS = [1, 7, 8, 16, 17, 33, 70]
FAN_OUTS = [1, 3, 9, 17]


@contextlib.contextmanager
def small_rows(rows):
    """Batches of up to `rows` rows take the small products (0: none do)."""
    previous = _core.small_product_rows()
    _core.small_product_rows(rows)
    try:
        yield
    finally:
        _core.small_product_rows(previous)


def sum_bound(X, W, dtype):
    """A bound on the rounding error of X W^T summed in any order: k eps sum |terms|."""
    magnitudes = np.abs(X).astype(np.float64) @ np.abs(W).astype(np.float64).T
    return 2 * W.shape[1] * np.finfo(dtype).eps * magnitudes


def layer_problem(rng, n, fan_in, fan_out, dtype, bias=True):
    X = rng.normal(size=(n, fan_in)).astype(dtype)
    # z of unit scale: saturated logistic and tanh units keep only absolute
    # precision in float32 (their derivatives come from a = phi(z)).
    W = (rng.normal(size=(fan_out, fan_in)) / np.sqrt(fan_in)).astype(dtype)
    b = rng.normal(size=fan_out).astype(dtype) if bias else None
    dA = rng.normal(size=(n, fan_out)).astype(dtype)
    return X, W, b, dA


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 2, 5])
@pytest.mark.parametrize("name", nnbp.ACTIVATIONS)
def test_layer_matches_reference(name, rows, dtype, rng, isa):
    for fan_in in FAN_INS:
        for fan_out in FAN_OUTS:
            X, W, b, dA = layer_problem(rng, rows, fan_in, fan_out, dtype)
            with small_rows(rows):
                Z, A = layers.dense_forward(X, W, b, name)
                dW, db, dX = layers.dense_backward(X, W, Z, dA, name)
            Zr, Ar = reference.dense_forward(W.tolist(), b.tolist(), X.tolist(), name)
            dWr, dbr, dXr = reference.dense_backward(W.tolist(), X.tolist(), Zr, dA.tolist(),
                                                     name)
            for computed, expected in [(Z, Zr), (A, Ar), (dW, dWr), (db, dbr), (dX, dXr)]:
                assert computed.dtype == dtype
                assert relative_error(computed, expected) <= REFERENCE_TOLERANCE[dtype], \
                    (fan_in, fan_out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", nnbp.ACTIVATIONS)
def test_one_row_layer_passes_check_layer_gradients(name, bias, dtype, rng, isa):
    X, W, b, _ = layer_problem(rng, 1, 17, 9, dtype, bias)
    report = nnbp.check_layer_gradients(X, W, b, name, negative_slope=0.1)
    assert report.passed, str(report)
    assert report.reference_error is not None


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_products_equal_gemm_within_round_off(dtype, rng, isa):
    for rows in (1, 2, 3):
        for fan_in in FAN_INS:
            X, W, b, dA = layer_problem(rng, rows, fan_in, 9, dtype)
            results = []
            for small in (rows, 0):
                with small_rows(small):
                    Z, _ = layers.dense_forward(X, W, b, "identity")
                    results.append((Z,) + layers.dense_backward(X, W, Z, dA, "identity"))
            (Z, dW, db, dX), (Z_blas, dW_blas, db_blas, dX_blas) = results
            assert np.all(np.abs(Z - Z_blas) <= sum_bound(X, W, dtype) + np.abs(b) * 4e-16)
            assert np.all(np.abs(dW - dW_blas) <= sum_bound(dA.T, X.T, dtype))
            assert np.array_equal(db, db_blas)
            assert np.all(np.abs(dX - dX_blas) <= sum_bound(dA, W.T, dtype))
            if rows == 1:
                # One term a sum: dW = d x^T is exact in any order.
                assert np.array_equal(dW, dW_blas)


def test_small_products_are_bitwise_equal_across_instruction_sets(rng):
    isas = available_instruction_sets()
    if len(isas) < 2:
        pytest.skip("this processor runs only the baseline kernels")
    problems = [layer_problem(rng, rows, fan_in, 17, dtype)
                for dtype in DTYPES for rows in (1, 3) for fan_in in FAN_INS]
    previous, results = _core.kernel_isa(), []
    try:
        for isa in isas:
            _core.kernel_isa(isa)
            values = []
            with small_rows(3):
                for X, W, b, dA in problems:
                    Z, A = layers.dense_forward(X, W, b, "tanh")
                    values += [Z, A, *layers.dense_backward(X, W, Z, dA, "tanh")]
            values += [batch_one_training(optimizer, dtype, alpha)
                       for optimizer in ("gd", "nesterov", "adam")
                       for dtype in DTYPES for alpha in (0.0, 0.1)]
            results.append(values)
    finally:
        _core.kernel_isa(previous)
    for other in results[1:]:
        for first, value in zip(results[0], other):
            assert np.array_equal(first.view(np.uint8), value.view(np.uint8))


def batch_one_training(optimizer, dtype, alpha, seed=0):
    """The parameters after two batch-1 epochs of a 70-33-17-3 network."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 70))
    y = rng.integers(0, 3, size=20)
    net = nnbp.Network([70, 33, 17, 3], activation="tanh", dtype=dtype, alpha=alpha, seed=seed)
    train(net, OPTIMIZERS[optimizer](), X, y, epochs=2, batch_size=1, shuffle=False)
    return net.params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_one_row_network_matches_reference_and_finite_differences(activation, output, dtype,
                                                                   isa):
    net, X, y, _ = make_case(activation, output, dtype, 3, False, 0.3, n=1)
    ref_loss, ref_grad = reference_loss_and_grad_of(net, X, y)
    loss, grad = net.loss_and_grad(X, y)
    assert relative_error(loss, ref_loss) <= REFERENCE_TOLERANCE[dtype]
    for name, where in net.block_slices():
        assert relative_error(grad[where], ref_grad[where]) <= REFERENCE_TOLERANCE[dtype], name
    report = nnbp.check_gradients(net, X, y, reference=True)
    assert report.passed, str(report)


def reference_loss_and_grad_of(net, X, y):
    from support import reference_loss_and_grad
    return reference_loss_and_grad(net, X.astype(net.dtype), y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "nesterov", "adam"])
def test_batch_one_epochs_without_a_penalty_equal_python_steps(optimizer, dtype, rng):
    # The lecture's W <- W - eta d x^T, fused, against loss_and_grad then the
    # optimizer's step: the same arithmetic, bitwise.
    X = rng.standard_normal((23, 4))
    y = rng.integers(0, 3, size=23)
    net = nnbp.Network([4, 6, 3], activation="relu", dtype=dtype, alpha=0.0, seed=1)
    twin = net.copy()
    trainer, _ = train(net, OPTIMIZERS[optimizer](), X, y, batch_size=1, shuffle=False)
    curve = step_by_step(twin, OPTIMIZERS[optimizer](), X, y, None, 1, 3)
    assert np.array_equal(net.params, twin.params)
    assert trainer.loss_curve == curve


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_running_penalty_is_the_penalty_of_the_weights(dtype, rng):
    # Each batch-1 step sums the squares of the weights it writes, for the
    # next step's loss: the loss curve equals that of the losses computed
    # afresh at each step, to the last bit.
    X = rng.standard_normal((30, 37))
    y = rng.integers(0, 2, size=(30, 5)).astype(float)
    net = nnbp.Network([37, 19, 5], activation="softplus", output="logistic", dtype=dtype,
                       alpha=2.0, seed=3)
    twin = net.copy()
    trainer, _ = train(net, OPTIMIZERS["nesterov"](), X, y, batch_size=1, shuffle=False)
    curve = step_by_step(twin, OPTIMIZERS["nesterov"](), X, y, None, 1, 3)
    assert trainer.loss_curve == curve
    assert np.array_equal(net.params, twin.params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_batch_one_step_with_a_loss_that_is_not_finite_is_not_taken(dtype, rng):
    X = rng.standard_normal((12, 3)) * 100
    y = rng.standard_normal((12, 1)) * 1e4
    net = nnbp.Network([3, 8, 1], activation="relu", output="squared", dtype=dtype, seed=0)
    optimizer = nnbp.SGD(1e3, momentum=0.9)
    trainer = nnbp.StochasticTrainer(net, optimizer, batch_size=1, shuffle=False)
    with pytest.raises(nnbp.DivergenceError, match=r"at batch (\d+) of epoch \d+") as raised:
        trainer.fit(X, y, max_epochs=100)
    assert np.isfinite(net.params).all()
    # The parameters are those that gave the non-finite loss: it is not finite there.
    batch = int(re.search(r"at batch (\d+)", str(raised.value)).group(1)) - 1
    assert not np.isfinite(net.loss(X[batch:batch + 1], y[batch:batch + 1]))
