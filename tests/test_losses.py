"""Loss objects (nnbp.losses): the built-in robust losses and losses written in Python.

The kernel of each built-in loss against the reference (nnbp.reference.
regression_loss) and central finite differences away from its kinks, in
float32 and float64 at every instruction set, and against torch's HuberLoss
and L1Loss; a network's loss and gradient with a loss object against the
reference's backpropagation of it and finite differences (check_gradients);
a loss computed in Python gives the compiled path's results to the last bit,
in loss_and_grad and in training; bad losses are refused, naming them.
"""
import numpy as np
import pytest
import scipy.sparse
from support import DTYPES, REFERENCE_TOLERANCE, relative_error

import nnbp
from nnbp import reference
from nnbp.gradcheck import TOLERANCES, block_error, central_differences
from nnbp.losses import AbsoluteError, FunctionLoss, HuberLoss, Loss, PinballLoss

LOSSES = [HuberLoss(0.7), HuberLoss(2.5), AbsoluteError(), PinballLoss(0.2), PinballLoss(0.9)]
# Where each loss has a kink: residuals closer than this are moved off it, so that
# a finite difference of step ~1e-5 x |z| never straddles one.
KINK_MARGIN = 0.05


def loss_id(loss):
    return repr(loss)


def kinks(loss):
    """The residuals r = z - y where the loss's derivative jumps."""
    return [-loss.delta, loss.delta] if isinstance(loss, HuberLoss) else [0.0]


def away_from_kinks(loss, Z, Y):
    """Z moved so that no residual lies within KINK_MARGIN of a kink."""
    Z = Z.copy()
    for kink in kinks(loss):
        near = np.abs(Z - Y - kink) < KINK_MARGIN
        Z[near] = Y[near] + kink + np.where(Z[near] - Y[near] >= kink, 1, -1) * 2 * KINK_MARGIN
    return Z


def problem(loss, dtype, n=40, m=3, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.normal(size=(n, m)) * 2
    Z = away_from_kinks(loss, rng.normal(size=(n, m)) * 2, Y)
    weight = rng.uniform(0.1, 2.0, size=n)
    weight[3] = 0.0
    return Z.astype(dtype), Y.astype(dtype), weight.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_the_kernel_matches_the_reference(loss, dtype, isa):
    Z, Y, weight = problem(loss, dtype)
    for sample_weight in (None, weight):
        value, gradient = loss.loss_gradient(Y, Z, sample_weight)
        assert gradient.dtype == dtype and gradient.shape == Z.shape
        expected, expected_gradient = reference.regression_loss(
            loss.compiled[0], Z.tolist(), Y.tolist(), loss.compiled[1],
            None if sample_weight is None else sample_weight.tolist())
        assert relative_error(value, expected) <= REFERENCE_TOLERANCE[dtype]
        assert relative_error(gradient, expected_gradient) <= REFERENCE_TOLERANCE[dtype]
        assert value == loss.loss(Y, Z, sample_weight)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_the_gradient_matches_finite_differences_away_from_the_kinks(loss, dtype):
    """Differenced in float64, whatever the gradient's dtype (as check_gradients does)."""
    Z, Y, weight = problem(loss, dtype)
    _, gradient = loss.loss_gradient(Y, Z, weight)
    Y64, weight64 = Y.astype(np.float64), weight.astype(np.float64)

    def value(z):
        return loss.loss(Y64, z.reshape(Z.shape), weight64)

    numeric = central_differences(value, Z.astype(np.float64).ravel(), step=6e-6)
    assert block_error(gradient, numeric) <= TOLERANCES[np.dtype(dtype)]["finite_difference"]


def test_the_losses_take_their_values_at_and_around_the_kinks():
    """The one-sided conventions, as scikit-learn's and torch's: sign(0) = 0, 1 - q at r = 0."""
    Y = np.zeros((5, 1))
    Z = np.array([[-3.0], [-1.0], [0.0], [1.0], [3.0]])
    _, gradient = HuberLoss(1.0).loss_gradient(Y, Z)
    assert np.array_equal(gradient.ravel() * 5, [-1.0, -1.0, 0.0, 1.0, 1.0])
    value, gradient = AbsoluteError().loss_gradient(Y, Z)
    assert value == pytest.approx(8 / 5) and np.array_equal(gradient.ravel() * 5,
                                                            [-1, -1, 0, 1, 1])
    value, gradient = PinballLoss(0.25).loss_gradient(Y, Z)
    assert value == pytest.approx((0.25 * 4 + 0.75 * 4) / 5)
    assert np.allclose(gradient.ravel() * 5, [-0.25, -0.25, 0.75, 0.75, 0.75])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", [HuberLoss(0.7), HuberLoss(2.5), AbsoluteError()], ids=loss_id)
def test_matches_torch(loss, dtype):
    torch = pytest.importorskip("torch")
    Z, Y, _ = problem(loss, dtype)
    z = torch.tensor(Z, requires_grad=True)
    module = (torch.nn.HuberLoss(delta=loss.delta, reduction="sum")
              if isinstance(loss, HuberLoss) else torch.nn.L1Loss(reduction="sum"))
    # nnbp sums over the outputs and averages over the rows.
    expected = module(z, torch.tensor(Y)) / Z.shape[0]
    expected.backward()
    value, gradient = loss.loss_gradient(Y, Z)
    assert relative_error(value, expected.item()) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(gradient, z.grad.numpy()) <= REFERENCE_TOLERANCE[dtype]


def network_problem(dtype, n=30, seed=0, alpha=0.3, activation="tanh"):
    rng = np.random.default_rng(seed)
    net = nnbp.Network([4, 6, 5, 2], activation=activation, output="squared", dtype=dtype,
                       alpha=alpha, seed=seed)
    X = rng.normal(size=(n, 4))
    y = rng.normal(size=(n, 2)) * 2
    weight = rng.uniform(0.1, 2.0, size=n)
    return net, X, y, weight


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_a_network_with_the_loss_passes_check_gradients(loss, dtype):
    net, X, y, weight = network_problem(dtype)
    report = nnbp.check_gradients(net, X, y, weight, loss=loss, reference=True, sample=None)
    assert report.passed, str(report)
    assert report.reference_error <= REFERENCE_TOLERANCE[dtype]
    assert "with the loss" in str(report)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_a_loss_in_python_gives_the_compiled_loss_bitwise(loss, dtype):
    """The same loss, computed by its object between the forward pass and the
    backward pass of its gradient, as a loss written in Python is."""
    net, X, y, weight = network_problem(dtype)
    in_python = FunctionLoss(loss.loss_gradient, "squared")
    assert in_python.compiled is None
    for sample_weight in (None, weight):
        value, grad = net.loss_and_grad(X, y, sample_weight, loss=loss)
        value_python, grad_python = net.loss_and_grad(X, y, sample_weight, loss=in_python)
        assert value == value_python and np.array_equal(grad, grad_python)
        assert net.loss(X, y, sample_weight, loss=loss) == value


def test_sparse_X_gives_the_dense_loss_and_gradient():
    net, X, y, weight = network_problem(np.float64, activation="relu")
    X[np.random.default_rng(1).random(X.shape) < 0.5] = 0
    for loss in (HuberLoss(0.7), FunctionLoss(HuberLoss(0.7).loss_gradient)):
        value, grad = net.loss_and_grad(X, y, weight, loss=loss)
        value_sparse, grad_sparse = net.loss_and_grad(scipy.sparse.csr_matrix(X), y, weight,
                                                      loss=loss)
        assert relative_error(value_sparse, value) <= REFERENCE_TOLERANCE[np.float64]
        assert relative_error(grad_sparse, grad) <= REFERENCE_TOLERANCE[np.float64]


def test_the_canonical_loss_is_back_after_a_call_with_a_loss_object():
    net, X, y, weight = network_problem(np.float64)
    before = net.loss_and_grad(X, y, weight)
    net.loss_and_grad(X, y, weight, loss=HuberLoss(0.1))
    after = net.loss_and_grad(X, y, weight)
    assert after[0] == before[0] and np.array_equal(after[1], before[1])


class SoftmaxBrier(Loss):
    """A loss written in Python for the softmax output: 1/2 ||softmax(z) - onehot(y)||^2."""

    output = "softmax"

    def __init__(self, factor=1.0):
        self.factor = factor       # 1 for the true gradient; another to break it

    def loss_gradient(self, y_true, raw_prediction, sample_weight=None):
        s = np.ones(len(y_true)) if sample_weight is None else sample_weight
        e = np.exp(raw_prediction - raw_prediction.max(axis=1, keepdims=True))
        f = e / e.sum(axis=1, keepdims=True)
        r = f - np.eye(raw_prediction.shape[1])[y_true]
        losses = 0.5 * (r ** 2).sum(axis=1)
        # d/dz of 1/2 ||f - t||^2 = J^T r, J = diag(f) - f f^T
        dz = f * (r - (r * f).sum(axis=1, keepdims=True))
        S = s.sum()
        return float(s @ losses) / S, self.factor * s[:, None] * dz / S


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_loss_in_python_is_checked_and_a_wrong_gradient_fails(dtype):
    rng = np.random.default_rng(2)
    net = nnbp.Network([4, 6, 3], activation="softplus", output="softmax", dtype=dtype,
                       alpha=0.1, seed=0)
    X, y = rng.normal(size=(25, 4)), rng.integers(0, 3, size=25)
    report = nnbp.check_gradients(net, X, y, loss=SoftmaxBrier(), reference=True)
    assert report.passed, str(report)
    wrong = nnbp.check_gradients(net, X, y, loss=SoftmaxBrier(factor=1.5), reference=True)
    assert not wrong.passed
    # A plain function is a loss too.
    function = nnbp.check_gradients(net, X, y, loss=SoftmaxBrier().loss_gradient)
    assert function.passed, str(function)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_training_with_a_loss_in_python_takes_the_compiled_steps(dtype, optimizer):
    """The Python batches (each loss and gradient, then the compiled update) and
    the compiled epoch take the same steps, to the last bit.

    Batches of 7 rows: a batch's S = sum_i s_i is summed in order by the
    compiled epoch, and by NumPy (pairwise) for the Python batches, which is
    in order too below 8 numbers (from 8 on, NumPy's sum unrolls into 8
    partial sums: S, and so the steps, may then differ in their last bits).
    """
    results = []
    for loss in (HuberLoss(0.5), FunctionLoss(HuberLoss(0.5).loss_gradient)):
        net, X, y, weight = network_problem(dtype, n=50)
        make = (lambda: nnbp.SGD(learning_rate=0.01, momentum=0.9)) if optimizer == "sgd" \
            else (lambda: nnbp.Adam(learning_rate=0.01))
        trainer = nnbp.StochasticTrainer(net, make(), batch_size=7, random_state=0, loss=loss)
        trainer.fit(X, y, weight, max_epochs=3)
        results.append((trainer.loss_curve, net.params.copy()))
    assert results[0][0] == results[1][0]
    assert np.array_equal(results[0][1], results[1][1])


def test_minimize_lbfgs_with_the_pinball_loss_fits_the_quantile():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = X @ [1.0, -1.0] + rng.normal(size=300)
    for q in (0.1, 0.9):
        net = nnbp.Network([2, 1], output="squared", seed=0)   # a linear model
        result = nnbp.minimize_lbfgs(net, X, y, loss=PinballLoss(q), max_iter=500)
        assert result.fun == pytest.approx(net.loss(X, y, loss=PinballLoss(q)))
        below = np.mean(y < net.forward(X).ravel())
        # The q-quantile has a fraction q of the targets below it (to a row or two).
        assert abs(below - q) <= 2 / len(y)


def test_bad_losses_are_refused_naming_the_problem():
    net, X, y, _ = network_problem(np.float64)
    with pytest.raises(ValueError, match="delta"):
        HuberLoss(0.0)
    with pytest.raises(ValueError, match="quantile"):
        PinballLoss(1.0)
    with pytest.raises(ValueError, match="quantile"):
        PinballLoss(-0.1)
    with pytest.raises(TypeError, match="loss must be"):
        net.loss_and_grad(X, y, loss="huber")
    classifier = nnbp.Network([4, 3], output="softmax", seed=0)
    with pytest.raises(ValueError, match="'squared' output, but the network's output is "
                                         "'softmax'"):
        classifier.loss(X, np.zeros(len(X), int), loss=HuberLoss())
    with pytest.raises(ValueError, match="the gradient that FunctionLoss"):
        net.loss_and_grad(X, y, loss=lambda y_true, z, s: (0.0, np.zeros((len(X), 1))))
    with pytest.raises(ValueError, match="the gradient that FunctionLoss"):
        net.loss_and_grad(X, y, loss=lambda y_true, z, s: (0.0, np.full(z.shape, np.nan)))
