"""The optimizers' compiled updates against the reference, and the solvers end to end."""
import numpy as np
import pytest

import nnbp
from nnbp import SGD, Adam, Network, minimize_lbfgs, reference
from nnbp import _core

from support import DTYPES

# The compiled update does the reference's operations in the same order: in
# float64 the two agree to the last bit. In float32 each of its three or four
# operations rounds to float32, the reference's to double: a few float32 ulps.
UPDATE_TOLERANCE = {np.float32: 4 * np.finfo(np.float32).eps, np.float64: 0.0}


def assert_close(computed, expected, dtype):
    expected = np.asarray(expected)
    np.testing.assert_allclose(computed, expected, rtol=UPDATE_TOLERANCE[dtype],
                               atol=UPDATE_TOLERANCE[dtype] * np.abs(expected).max())


def draw(rng, dtype, size=37):
    """params, grad and a velocity/moment, of mixed sign and scale."""
    return [(rng.standard_normal(size) * 10.0 ** rng.integers(-3, 3, size)).astype(dtype)
            for _ in range(3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_step_matches_reference(dtype, momentum, nesterov, rng, isa):
    params, grad, velocity = draw(rng, dtype)
    optimizer = SGD(learning_rate=0.05, momentum=momentum, nesterov=nesterov).start(params)
    if momentum:
        optimizer.velocity[...] = velocity
    else:
        velocity = np.zeros_like(velocity)
    expected_p, expected_v = reference.sgd_step(
        params.astype(float).tolist(), grad.astype(float).tolist(),
        velocity.astype(float).tolist(), float(dtype(0.05)), float(dtype(momentum)), nesterov)
    optimizer.step(params, grad)
    assert_close(params, expected_p, dtype)
    if momentum:
        assert_close(optimizer.velocity, expected_v, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_steps_match_reference(dtype, rng, isa):
    params, _, _ = draw(rng, dtype)
    optimizer = Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7).start(params)
    p = params.astype(float).tolist()
    m = [0.0] * params.size
    v = [0.0] * params.size
    for t in range(1, 4):
        grad = draw(rng, dtype)[1]
        p, m, v = reference.adam_step(p, grad.astype(float).tolist(), m, v, t, 0.01, 0.8,
                                      0.99, 1e-7)
        optimizer.step(params, grad)
        assert_close(params, p, dtype)
        assert_close(optimizer.m, m, dtype)
        assert_close(optimizer.v, v, dtype)
        # Rebase on the compiled values so float32 rounding does not accumulate.
        p, m, v = (x.astype(float).tolist() for x in (params, optimizer.m, optimizer.v))
    assert optimizer.t == 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_updates_bitwise_equal_across_instruction_sets(dtype, rng):
    from conftest import available_instruction_sets
    isas = available_instruction_sets()
    if len(isas) < 2:
        pytest.skip("one instruction set only: nothing to compare")
    params, grad, _ = draw(rng, dtype, size=1001)
    results = []
    previous = _core.kernel_isa()
    try:
        for isa in isas:
            _core.kernel_isa(isa)
            p_sgd, p_adam = params.copy(), params.copy()
            SGD(0.1, 0.9, True).start(p_sgd).step(p_sgd, grad)
            adam = Adam(0.01).start(p_adam)
            adam.step(p_adam, grad)
            adam.step(p_adam, grad)
            results.append((p_sgd, p_adam))
    finally:
        _core.kernel_isa(previous)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("make", [lambda: SGD(learning_rate=0), lambda: SGD(learning_rate=-1),
                                  lambda: SGD(momentum=1.5), lambda: SGD(schedule="cosine"),
                                  lambda: Adam(learning_rate=0), lambda: Adam(beta_1=1.0),
                                  lambda: Adam(epsilon=0)])
def test_bad_hyperparameters_are_refused(make):
    with pytest.raises(ValueError, match="learning_rate|momentum|schedule|beta_1|epsilon"):
        make()


def test_unknown_schedule_lists_the_valid_ones():
    with pytest.raises(ValueError, match="constant, invscaling, adaptive"):
        SGD(schedule="step")


def test_step_refuses_parameters_and_gradients_it_cannot_update(rng):
    params = np.zeros(5)
    with pytest.raises(ValueError, match="grad must be a C-contiguous float64 vector of shape"):
        SGD().step(params, np.zeros(4))
    with pytest.raises(ValueError, match="grad must be a C-contiguous float64 vector of shape"):
        Adam().step(params, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="params must be a writeable C-contiguous"):
        SGD().step(np.zeros((5, 2))[:, 0], np.zeros(5))
    with pytest.raises(ValueError, match="params must be a writeable C-contiguous"):
        Adam().step([0.0] * 5, np.zeros(5))
    # Misaligned: a float64 vector at an odd byte offset of a buffer.
    odd = np.zeros(5 * 8 + 1, np.uint8)[1:].view(np.float64)
    with pytest.raises(ValueError, match="params must be a writeable C-contiguous"):
        SGD().step(odd, np.zeros(5))
    with pytest.raises(ValueError, match="grad must be a C-contiguous float64 vector of shape"):
        Adam().step(params, odd)


def test_invscaling_and_adaptive_schedules():
    sgd = SGD(learning_rate=0.1, schedule="invscaling", power_t=0.5).start(np.zeros(2))
    sgd.epoch_done(steps=10, examples_seen=99)
    assert sgd.learning_rate == 0.1 / 100 ** 0.5
    adaptive = SGD(learning_rate=1e-5, schedule="adaptive").start(np.zeros(2))
    assert adaptive.plateau() is False and adaptive.learning_rate == pytest.approx(2e-6)
    assert adaptive.plateau() is False and adaptive.learning_rate == pytest.approx(4e-7)
    assert adaptive.plateau() is True
    assert SGD(schedule="constant").plateau() is True


@pytest.mark.parametrize("dtype", DTYPES)
def test_lbfgs_reaches_a_stationary_point(dtype, rng):
    X = rng.standard_normal((60, 3))
    y = (X @ [1.0, -2.0, 0.5] > 0).astype(int)
    net = Network([3, 5, 2], activation="tanh", dtype=dtype, alpha=1e-2, seed=0)
    start = net.loss(X, y)
    iterations = []
    result = minimize_lbfgs(net, X, y, max_iter=500, tol=1e-6,
                            callback=lambda k, loss: iterations.append(loss))
    loss, grad = net.loss_and_grad(X, y)
    assert loss < start and loss == pytest.approx(result.fun, rel=1e-6)
    assert len(iterations) == result.nit and iterations[-1] == pytest.approx(result.fun)
    # The iterate is the network's parameters, and its gradient is ~0 there.
    assert np.array_equal(net.params, result.x.astype(dtype))
    assert np.abs(grad).max() < (1e-5 if dtype == np.float64 else 1e-3)


def test_lbfgs_that_ends_non_finite_raises_and_keeps_the_start(rng):
    # Targets of 1e200 square to inf: the loss is inf from the start. (A
    # float32 network cannot get there: its losses add up in double.)
    X = rng.standard_normal((20, 3))
    y = rng.standard_normal(20) * 1e200
    net = Network([3, 4, 1], output="squared", seed=0)
    start = net.params.copy()
    with pytest.raises(nnbp.DivergenceError,
                       match="L-BFGS produced a non-finite loss or parameters at iteration 0;"):
        minimize_lbfgs(net, X, y)
    assert np.array_equal(net.params, start)


def test_lbfgs_memory_is_checked_beforehand(monkeypatch, rng):
    """As a network's, a workspace's and a trainer's: a clear MemoryError, not NumPy's
    'Unable to allocate' from inside scipy."""
    from nnbp import _memory

    net = Network([256, 256, 2], seed=0)     # 66306 parameters: L-BFGS keeps some 30 copies
    X, y = rng.standard_normal((4, 256)), rng.integers(0, 2, size=4)
    start = net.params.copy()
    monkeypatch.setattr(_memory, "available_bytes", lambda: 8 * 2**20)
    with pytest.raises(MemoryError, match=r"^L-BFGS on a network of 66306 parameters needs "
                                          r"\d+\.\d MiB of memory, but only 8\.0 MiB is "
                                          r"available$"):
        minimize_lbfgs(net, X, y)
    assert np.array_equal(net.params, start)
    with pytest.raises(MemoryError, match=r"^L-BFGS on a network of 66049 parameters needs"):
        nnbp.MLPClassifier(hidden_layer_sizes=(256,), solver="lbfgs").fit(X, y)


def test_lbfgs_that_cannot_allocate_says_so(monkeypatch, rng):
    """Where the memory available is unknown, or others took it meanwhile."""
    from nnbp import _memory, optim

    def unable(*args, **kwargs):
        raise MemoryError("Unable to allocate 13.2 GiB for an array with shape (1771, 1000000)")

    monkeypatch.setattr(_memory, "available_bytes", lambda: None)
    monkeypatch.setattr(optim.scipy.optimize, "minimize", unable)
    net = Network([3, 4, 2], seed=0)
    start = net.params.copy()
    with pytest.raises(MemoryError, match=r"^L-BFGS on a network of 26 parameters needs "
                                          r"\d+\.\d MiB of memory, which the system could not "
                                          "allocate"):
        minimize_lbfgs(net, rng.standard_normal((5, 3)), rng.integers(0, 2, size=5))
    assert np.array_equal(net.params, start)


@pytest.mark.parametrize("make", [lambda: SGD(0.1, momentum=0.9), lambda: SGD(0.1, momentum=0.0),
                                  lambda: Adam(0.1)])
def test_step_refuses_a_grad_that_shares_memory_with_params(make):
    # The update writes params while it reads grad: a grad overlapping them
    # would be read after it was written.
    buffer = np.arange(12, dtype=np.float64)
    params, grad = buffer[2:10], buffer[:8]
    before = buffer.copy()
    with pytest.raises(ValueError, match="params must not share memory with grad"):
        make().step(params, grad)
    with pytest.raises(ValueError, match="params must not share memory with grad"):
        make().step(params, params)
    assert np.array_equal(buffer, before)


def test_the_compiled_optimizer_refuses_missing_state():
    """The core's optimizer would take sgd's missing velocity for plain gradient
    descent, and would write Adam's moments through a null pointer."""
    with pytest.raises(ValueError, match="velocity"):
        _core.Optimizer.sgd(0.1, 0.9, True, None)
    with pytest.raises(ValueError, match="moments"):
        _core.Optimizer.adam(0.1, 0.9, 0.999, 1e-8, 0, (np.zeros(3), None))
    assert _core.Optimizer.sgd(0.1, 0.0, False, None).steps == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_optimizer_counts_adams_steps_and_corrects_its_rate(dtype):
    params, grad = np.ones(4, dtype), np.full(4, 0.5, dtype)
    compiled = _core.Optimizer.adam(0.01, 0.9, 0.999, 1e-8, 0, (np.zeros(4, dtype),
                                                                np.zeros(4, dtype)))
    rates = [_core.update(compiled, params, grad) for _ in range(3)]
    assert compiled.steps == 3
    assert rates == [_core.adam_learning_rate(0.01, 0.9, 0.999, t) for t in (1, 2, 3)]
