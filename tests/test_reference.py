"""The reference (nnbp.reference) checked against values worked out by hand.

Every expected value below is written as literal arithmetic, with the
working in comments; none is computed by calling the reference. Exact
binary fractions are chosen where possible, and log(3) where a sigmoid is
needed: sigmoid(log 3) = 3/4, sigmoid(-log 3) = 1/4, sigmoid' = 3/16;
log(2) where an exponential is: e^(log 2) = 2.
"""

import ast
import math
import random

import pytest

from nnbp import reference

LOG2 = math.log(2.0)
LOG3 = math.log(3.0)
REL = 1e-12


def approx(expected):
    return pytest.approx(expected, rel=REL, abs=1e-15)


def assert_grads(got, expected):
    """Nested lists compared entry by entry (pytest.approx needs flat lists)."""
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(e, list):
            assert_grads(g, e)
        else:
            assert g == approx(e)


# The 2-2-1 network used by most cases below:
#   W1 = [[1, -1], [0.5, 1]],  b1 = [0.5, -1]
#   W2 = [[2, -1]],            b2 = [0.5]
W1 = [[1.0, -1.0], [0.5, 1.0]]
B1 = [0.5, -1.0]
W2 = [[2.0, -1.0]]
B2 = [0.5]
# Two examples and their hidden pre-activations z1 = W1 x + b1:
#   x = [1, 2]: z1 = [1 - 2 + 0.5, 0.5 + 2 - 1] = [-0.5, 1.5]
#   x = [1, 0]: z1 = [1 - 0 + 0.5, 0.5 + 0 - 1] = [ 1.5, -0.5]
X2 = [[1.0, 2.0], [1.0, 0.0]]


# ------------------------------------------------- 2-2-1, relu, squared

def test_relu_squared_by_hand():
    # relu: x1 = [0, 1.5] and [1.5, 0]; relu'(z1) = [0, 1] and [1, 0].
    # z2 = 2*x1[0] - x1[1] + 0.5:  ex1: 0 - 1.5 + 0.5 = -1;  ex2: 3 - 0 + 0.5 = 3.5
    # targets y = 1 and 2: residuals f - y = -2 and 1.5
    # losses 1/2*4 = 2 and 1/2*2.25 = 1.125; mean (2 + 1.125)/2 = 1.5625
    # delta2 = residual / n = [-1, 0.75]
    # dW2 = -1*[0, 1.5] + 0.75*[1.5, 0] = [1.125, -1.5];  db2 = -1 + 0.75 = -0.25
    # delta1 = W2^T delta2 * relu'(z1):
    #   ex1: [2*-1, -1*-1] * [0, 1] = [0, 1];  ex2: [2*0.75, -1*0.75] * [1, 0] = [1.5, 0]
    # dW1 = [0, 1]^T [1, 2] + [1.5, 0]^T [1, 0] = [[1.5, 0], [1, 2]];  db1 = [1.5, 1]
    y = [[1.0], [2.0]]
    loss, dW, db = reference.loss_and_grad([W1, W2], [B1, B2], X2, y, "relu", "squared")
    assert loss == approx(1.5625)
    assert_grads(dW, [[[1.5, 0.0], [1.0, 2.0]], [[1.125, -1.5]]])
    assert_grads(db, [[1.5, 1.0], [-0.25]])
    assert reference.loss([W1, W2], [B1, B2], X2, y, "relu", "squared") == approx(1.5625)
    assert_grads(reference.forward([W1, W2], [B1, B2], X2, "relu", "squared"),
                 [[-1.0], [3.5]])


def test_relu_squared_sample_weights_and_alpha_by_hand():
    # Same network and data, s = [3, 1] (S = 4), alpha = 0.5.
    # data term: (3*2 + 1*1.125)/4 = 7.125/4 = 1.78125
    # penalty: ||W1||^2 = 1 + 1 + 0.25 + 1 = 3.25, ||W2||^2 = 4 + 1 = 5; sum 8.25
    #          alpha/(2S) * 8.25 = 0.5/8 * 8.25 = 0.515625;  total 2.296875
    # delta2 = s_i (f - y)/S = [3*-2/4, 1*1.5/4] = [-1.5, 0.375]
    # dW2 = -1.5*[0, 1.5] + 0.375*[1.5, 0] + (alpha/S) W2
    #     = [0.5625, -2.25] + 0.125*[2, -1] = [0.8125, -2.375];   db2 = -1.125
    # delta1: ex1 [2*-1.5, -1*-1.5]*[0, 1] = [0, 1.5];  ex2 [2*0.375, -0.375]*[1, 0] = [0.75, 0]
    # dW1 = [[0.75, 0], [1.5, 3]] + 0.125*[[1, -1], [0.5, 1]] = [[0.875, -0.125], [1.5625, 3.125]]
    # db1 = [0.75, 1.5]  (no penalty on biases)
    y = [[1.0], [2.0]]
    loss, dW, db = reference.loss_and_grad([W1, W2], [B1, B2], X2, y, "relu", "squared",
                                           sample_weight=[3.0, 1.0], alpha=0.5)
    assert loss == approx(2.296875)
    assert_grads(dW, [[[0.875, -0.125], [1.5625, 3.125]], [[0.8125, -2.375]]])
    assert_grads(db, [[0.75, 1.5], [-1.125]])
    assert reference.loss([W1, W2], [B1, B2], X2, y, "relu", "squared",
                          sample_weight=[3.0, 1.0], alpha=0.5) == approx(2.296875)


def test_zero_sample_weight_drops_the_example():
    # s = [1, 0]: only example 1 counts, S = 1.  loss = 2, delta2 = -2
    # dW2 = -2*[0, 1.5] = [0, -3];  db2 = -2
    # delta1 = [2*-2, -1*-2] * [0, 1] = [0, 2];  dW1 = [[0, 0], [2, 4]];  db1 = [0, 2]
    loss, dW, db = reference.loss_and_grad([W1, W2], [B1, B2], X2, [[1.0], [2.0]],
                                           "relu", "squared", sample_weight=[1.0, 0.0])
    assert loss == approx(2.0)
    assert_grads(dW, [[[0.0, 0.0], [2.0, 4.0]], [[0.0, -3.0]]])
    assert_grads(db, [[0.0, 2.0], [-2.0]])


def test_no_biases_by_hand():
    # biases None: x = [1, 2], z1 = [1 - 2, 0.5 + 2] = [-1, 2.5], x1 = [0, 2.5]
    # z2 = 0 - 2.5 = -2.5; y = -2: residual -0.5, loss 1/2*0.25 = 0.125
    # dW2 = -0.5*[0, 2.5] = [0, -1.25]
    # delta1 = [2*-0.5, -1*-0.5] * [0, 1] = [0, 0.5];  dW1 = [[0, 0], [0.5, 1]]
    loss, dW, db = reference.loss_and_grad([W1, W2], None, [[1.0, 2.0]], [[-2.0]],
                                           "relu", "squared")
    assert loss == approx(0.125)
    assert_grads(dW, [[[0.0, 0.0], [0.5, 1.0]], [[0.0, -1.25]]])
    assert db is None


# ------------------------------------------------- 2-2-1, logistic, squared

def test_logistic_hidden_squared_by_hand():
    # W1 = [[1, 2], [-1, 2]], b1 = [0.5, 0.5], x = [log 3, -0.25]:
    #   z1 = [log3 - 0.5 + 0.5, -log3 - 0.5 + 0.5] = [log 3, -log 3]
    #   x1 = sigmoid(z1) = [3/4, 1/4];  sigmoid'(z1) = [3/16, 3/16]
    # W2 = [[2, -1]], b2 = [0.5]: z2 = 1.5 - 0.25 + 0.5 = 1.75; y = 1: residual 0.75
    # loss = 1/2 * 0.5625 = 0.28125
    # dW2 = 0.75*[0.75, 0.25] = [0.5625, 0.1875];  db2 = 0.75
    # delta1 = [2*0.75, -1*0.75] * [3/16, 3/16] = [0.28125, -0.140625]
    # dW1 = delta1 x^T = [[0.28125*log3, 0.28125*-0.25], [-0.140625*log3, -0.140625*-0.25]]
    w1 = [[1.0, 2.0], [-1.0, 2.0]]
    b1 = [0.5, 0.5]
    x = [[LOG3, -0.25]]
    loss, dW, db = reference.loss_and_grad([w1, W2], [b1, B2], x, [[1.0]],
                                           "logistic", "squared")
    assert loss == approx(0.28125)
    assert_grads(dW, [[[0.28125 * LOG3, -0.0703125], [-0.140625 * LOG3, 0.03515625]],
                      [[0.5625, 0.1875]]])
    assert_grads(db, [[0.28125, -0.140625], [0.75]])


# ------------------------------------------------- 2-2-1, logistic output

def test_relu_logistic_output_by_hand():
    # x = [1, 2]: z1 = [-0.5, 1.5], x1 = [0, 1.5] (first layer as above)
    # W2 = [[-2, 2]], b2 = [log3 - 3]: z2 = 0 + 3 + log3 - 3 = log 3, f = 3/4
    # y = 1: loss = -log(3/4) = log(4/3);  f - y = -0.25
    # dW2 = -0.25*[0, 1.5] = [0, -0.375];  db2 = -0.25
    # delta1 = [-2*-0.25, 2*-0.25] * [0, 1] = [0, -0.5]
    # dW1 = [0, -0.5]^T [1, 2] = [[0, 0], [-0.5, -1]];  db1 = [0, -0.5]
    w2 = [[-2.0, 2.0]]
    b2 = [LOG3 - 3.0]
    loss, dW, db = reference.loss_and_grad([W1, w2], [B1, b2], [[1.0, 2.0]], [[1.0]],
                                           "relu", "logistic")
    assert loss == approx(math.log(4.0 / 3.0))
    assert_grads(dW, [[[0.0, 0.0], [-0.5, -1.0]], [[0.0, -0.375]]])
    assert_grads(db, [[0.0, -0.5], [-0.25]])
    assert_grads(reference.forward([W1, w2], [B1, b2], [[1.0, 2.0]], "relu", "logistic"),
                 [[0.75]])
    # A soft target y = 1/2 at the same logit: -(1/2 log 3/4 + 1/2 log 1/4)
    # = log 4 - 1/2 log 3;  f - y = 0.25
    loss, dW, db = reference.loss_and_grad([W1, w2], [B1, b2], [[1.0, 2.0]], [[0.5]],
                                           "relu", "logistic")
    assert loss == approx(math.log(4.0) - 0.5 * LOG3)
    assert db[1] == [approx(0.25)]


# ------------------------------------------------- 2-2-1, poisson output

def test_relu_poisson_output_by_hand():
    # x = [1, 2]: z1 = [-0.5, 1.5], x1 = [0, 1.5], relu' = [0, 1] (first layer as above)
    # W2 = [[-2, 2]], b2 = [log2 - 3]: z2 = 0 + 3 + log2 - 3 = log 2, f = e^z2 = 2
    # y = 1: loss = y log(y/f) - y + f = log(1/2) - 1 + 2 = 1 - log 2;  f - y = 1
    # dW2 = 1*[0, 1.5] = [0, 1.5];  db2 = 1
    # delta1 = [-2*1, 2*1] * [0, 1] = [0, 2]
    # dW1 = [0, 2]^T [1, 2] = [[0, 0], [2, 4]];  db1 = [0, 2]
    w2 = [[-2.0, 2.0]]
    b2 = [LOG2 - 3.0]
    loss, dW, db = reference.loss_and_grad([W1, w2], [B1, b2], [[1.0, 2.0]], [[1.0]],
                                           "relu", "poisson")
    assert loss == approx(1.0 - LOG2)
    assert_grads(dW, [[[0.0, 0.0], [2.0, 4.0]], [[0.0, 1.5]]])
    assert_grads(db, [[0.0, 2.0], [1.0]])
    assert_grads(reference.forward([W1, w2], [B1, b2], [[1.0, 2.0]], "relu", "poisson"),
                 [[2.0]])
    # y = 0 at the same logit: 0 log 0 = 0, so loss = 0 - 0 + f = 2;  f - y = 2
    loss, dW, db = reference.loss_and_grad([W1, w2], [B1, b2], [[1.0, 2.0]], [[0.0]],
                                           "relu", "poisson")
    assert loss == approx(2.0)
    assert db[1] == [approx(2.0)]


# ------------------------------------------------- 2-2-2, softmax

def test_relu_softmax_by_hand():
    # x = [1, 2]: z1 = [-0.5, 1.5], x1 = [0, 1.5], relu' = [0, 1]
    # W2 = [[1, 0], [-1, 1]], b2 = [0, log3 - 1.5]: z2 = [0, 1.5 + log3 - 1.5] = [0, log 3]
    # f = [1, 3]/4 = [0.25, 0.75]; y = 0: loss = -log(1/4) = log 4
    # f - onehot(0) = [-0.75, 0.75]
    # dW2 = [-0.75, 0.75]^T [0, 1.5] = [[0, -1.125], [0, 1.125]];  db2 = [-0.75, 0.75]
    # W2^T delta2 = [1*-0.75 + -1*0.75, 0*-0.75 + 1*0.75] = [-1.5, 0.75]; * [0, 1] = [0, 0.75]
    # dW1 = [0, 0.75]^T [1, 2] = [[0, 0], [0.75, 1.5]];  db1 = [0, 0.75]
    w2 = [[1.0, 0.0], [-1.0, 1.0]]
    b2 = [0.0, LOG3 - 1.5]
    loss, dW, db = reference.loss_and_grad([W1, w2], [B1, b2], [[1.0, 2.0]], [0],
                                           "relu", "softmax")
    assert loss == approx(math.log(4.0))
    assert_grads(dW, [[[0.0, 0.0], [0.75, 1.5]], [[0.0, -1.125], [0.0, 1.125]]])
    assert_grads(db, [[0.0, 0.75], [-0.75, 0.75]])
    assert_grads(reference.forward([W1, w2], [B1, b2], [[1.0, 2.0]], "relu", "softmax"),
                 [[0.25, 0.75]])


def test_softmax_two_examples_by_hand():
    # Same network; x = [1, 2] twice, labels 0 and 1 (f = [1/4, 3/4] both times).
    # losses log 4 and log(4/3): mean (log 4 + log(4/3))/2
    # delta2 = ([-0.75, 0.75] + [0.25, -0.25]) / 2 summed over examples = [-0.25, 0.25]
    # dW2 = [-0.25, 0.25]^T [0, 1.5] = [[0, -0.375], [0, 0.375]];  db2 = [-0.25, 0.25]
    # W2^T delta2 = [-0.25 - 0.25, 0.25] = [-0.5, 0.25]; * [0, 1] = [0, 0.25]
    # dW1 = [[0, 0], [0.25, 0.5]];  db1 = [0, 0.25]
    w2 = [[1.0, 0.0], [-1.0, 1.0]]
    b2 = [0.0, LOG3 - 1.5]
    X = [[1.0, 2.0], [1.0, 2.0]]
    loss, dW, db = reference.loss_and_grad([W1, w2], [B1, b2], X, [0, 1], "relu", "softmax")
    assert loss == approx((math.log(4.0) + math.log(4.0 / 3.0)) / 2.0)
    assert_grads(dW, [[[0.0, 0.0], [0.25, 0.5]], [[0.0, -0.375], [0.0, 0.375]]])
    assert_grads(db, [[0.0, 0.25], [-0.25, 0.25]])


# ------------------------------------------------- one layer

def test_dense_forward_backward_by_hand():
    # Z = X W1^T + b1 for X = [[1, 2], [1, 0]]: [[-0.5, 1.5], [1.5, -0.5]]
    # relu: A = [[0, 1.5], [1.5, 0]]
    Z, A = reference.dense_forward(W1, B1, X2, "relu")
    assert_grads(Z, [[-0.5, 1.5], [1.5, -0.5]])
    assert_grads(A, [[0.0, 1.5], [1.5, 0.0]])
    # no bias: Z = [[1 - 2, 0.5 + 2], [1, 0.5]]
    Z0, A0 = reference.dense_forward(W1, None, X2, "identity")
    assert_grads(Z0, [[-1.0, 2.5], [1.0, 0.5]])
    assert_grads(A0, Z0)
    # dA = [[1, 2], [3, 4]], relu'(Z) = [[0, 1], [1, 0]]: D = [[0, 2], [3, 0]]
    # dW = D^T X: row 0 = 0*[1, 2] + 3*[1, 0] = [3, 0]; row 1 = 2*[1, 2] + 0 = [2, 4]
    # db = [0 + 3, 2 + 0] = [3, 2]
    # dX = D W1: row 0 = 2*[0.5, 1] = [1, 2]; row 1 = 3*[1, -1] = [3, -3]
    dW, db, dX = reference.dense_backward(W1, X2, Z, [[1.0, 2.0], [3.0, 4.0]], "relu")
    assert_grads(dW, [[3.0, 0.0], [2.0, 4.0]])
    assert_grads(db, [3.0, 2.0])
    assert_grads(dX, [[1.0, 2.0], [3.0, -3.0]])


# ------------------------------------------------- activations

def test_activation_values():
    assert reference.activation("identity", -1.25) == -1.25
    assert reference.activation("logistic", 0.0) == 0.5
    assert reference.activation("logistic", LOG3) == approx(0.75)
    assert reference.activation("logistic", -LOG3) == approx(0.25)
    assert reference.activation("tanh", math.log(2.0)) == approx(0.6)  # (4 - 1)/(4 + 1)
    assert reference.activation("relu", -3.0) == 0.0
    assert reference.activation("relu", 3.0) == 3.0
    assert reference.activation("leaky_relu", -2.0) == approx(-0.02)
    assert reference.activation("leaky_relu", -2.0, negative_slope=0.25) == -0.5
    assert reference.activation("leaky_relu", 2.0, negative_slope=0.25) == 2.0
    assert reference.activation("softplus", 0.0) == approx(math.log(2.0))
    assert reference.activation("softplus", LOG3) == approx(math.log(4.0))  # log(1 + 3)


def test_activation_derivative_values_and_kinks():
    assert reference.activation_derivative("identity", 7.0) == 1.0
    assert reference.activation_derivative("logistic", LOG3) == approx(3.0 / 16.0)
    assert reference.activation_derivative("tanh", math.log(2.0)) == approx(1.0 - 0.36)
    assert reference.activation_derivative("softplus", LOG3) == approx(0.75)
    # At the kink z = 0 the z <= 0 branch is taken.
    assert reference.activation_derivative("relu", 0.0) == 0.0
    assert reference.activation_derivative("relu", 1e-300) == 1.0
    assert reference.activation_derivative("leaky_relu", 0.0) == 0.01
    assert reference.activation_derivative("leaky_relu", 0.0, negative_slope=0.25) == 0.25
    assert reference.activation_derivative("leaky_relu", -5.0, negative_slope=0.25) == 0.25


@pytest.mark.parametrize("name", reference.ACTIVATIONS)
@pytest.mark.parametrize("z", [-3.7, -1.3, -0.2, 0.3, 1.1, 4.2])
def test_activation_derivative_central_difference(name, z):
    h = 1e-6
    for slope in (0.01, 0.3):
        numeric = (reference.activation(name, z + h, slope)
                   - reference.activation(name, z - h, slope)) / (2.0 * h)
        # Truncation error ~h^2 |phi'''| ~ 1e-12; rounding ~ eps |phi| / h ~ 1e-9.
        assert reference.activation_derivative(name, z, slope) == pytest.approx(
            numeric, rel=1e-8, abs=1e-9)


@pytest.mark.parametrize("z", [-1e4, -800.0, 800.0, 1e4])
def test_activations_finite_at_large_z(z):
    # math.exp(800) raises OverflowError: the stable forms must never call it.
    assert reference.activation("logistic", z) == (1.0 if z > 0 else 0.0)
    assert reference.activation("softplus", z) == (z if z > 0 else 0.0)
    assert reference.activation_derivative("logistic", z) == 0.0
    assert reference.activation_derivative("softplus", z) == (1.0 if z > 0 else 0.0)
    assert reference.activation("tanh", z) == (1.0 if z > 0 else -1.0)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="softplus"):
        reference.activation("sigmoid", 0.0)
    with pytest.raises(ValueError, match="leaky_relu"):
        reference.activation_derivative("swish", 0.0)
    with pytest.raises(ValueError, match="softmax"):
        reference.output_loss("hinge", [[0.0]], [[1.0]])
    with pytest.raises(ValueError, match="squared"):
        reference.output_function("hinge", [[0.0]])
    with pytest.raises(ValueError, match="tanh"):
        reference.forward([W1, W2], [B1, B2], X2, "sigmoid", "squared")


# ------------------------------------------------- output losses

OUTPUT_CASES = [
    # (output, Z, y)
    ("squared", [[0.3, -1.2], [2.0, 0.7], [-0.4, 0.1]], [[1.0, -1.0], [0.5, 0.5], [0.0, 2.0]]),
    ("logistic", [[0.3, -1.2], [2.0, 0.7], [-0.4, 0.1]], [[1.0, 0.0], [0.25, 1.0], [0.0, 0.5]]),
    ("softmax", [[0.3, -1.2, 0.5], [2.0, 0.7, -1.0], [-0.4, 0.1, 0.0]], [2, 0, 1]),
    ("poisson", [[0.3, -1.2], [2.0, 0.7], [-0.4, 0.1]], [[1.0, 0.0], [2.5, 3.0], [0.0, 0.5]]),
]


@pytest.mark.parametrize("output,Z,y", OUTPUT_CASES)
@pytest.mark.parametrize("sample_weight", [None, [0.5, 2.0, 1.0]])
def test_output_loss_gradient_central_difference(output, Z, y, sample_weight):
    h = 1e-6
    _, dZ = reference.output_loss(output, Z, y, sample_weight)
    for i in range(len(Z)):
        for k in range(len(Z[i])):
            plus = [row[:] for row in Z]
            minus = [row[:] for row in Z]
            plus[i][k] += h
            minus[i][k] -= h
            numeric = (reference.output_loss(output, plus, y, sample_weight)[0]
                       - reference.output_loss(output, minus, y, sample_weight)[0]) / (2 * h)
            assert dZ[i][k] == pytest.approx(numeric, rel=1e-7, abs=1e-9)


def test_output_loss_values_by_hand():
    # squared: Z = [[1, 2]], y = [[0, 4]]: 1/2 (1 + 4) = 2.5;  dZ = [1, -2]
    loss, dZ = reference.output_loss("squared", [[1.0, 2.0]], [[0.0, 4.0]])
    assert loss == 2.5
    assert_grads(dZ, [[1.0, -2.0]])
    # logistic: z = [log 3, -log 3], y = [1, 1]: -log(3/4) - log(1/4) = log(16/3)
    # dZ = [3/4 - 1, 1/4 - 1] = [-0.25, -0.75]
    loss, dZ = reference.output_loss("logistic", [[LOG3, -LOG3]], [[1.0, 1.0]])
    assert loss == approx(math.log(16.0 / 3.0))
    assert_grads(dZ, [[-0.25, -0.75]])
    # softmax, weighted: rows z = [0, log 3] with labels 1 and 0, s = [3, 1] (S = 4)
    # losses -log(3/4) and -log(1/4): (3 log(4/3) + log 4) / 4
    # dZ = [3*[0.25, -0.25], 1*[-0.75, 0.75]] / 4 = [[0.1875, -0.1875], [-0.1875, 0.1875]]
    loss, dZ = reference.output_loss("softmax", [[0.0, LOG3], [0.0, LOG3]], [1, 0],
                                     sample_weight=[3.0, 1.0])
    assert loss == approx((3.0 * math.log(4.0 / 3.0) + math.log(4.0)) / 4.0)
    assert_grads(dZ, [[0.1875, -0.1875], [-0.1875, 0.1875]])
    assert_grads(reference.output_function("softmax", [[0.0, LOG3]]), [[0.25, 0.75]])
    assert_grads(reference.output_function("logistic", [[LOG3, 0.0]]), [[0.75, 0.5]])
    assert reference.output_function("squared", [[1.5, -2.0]]) == [[1.5, -2.0]]


def test_poisson_loss_values_by_hand():
    # loss = sum_k y_k log(y_k/f_k) - y_k + f_k with f = e^z;  dZ = f - y
    # row 1: z = [log 2, 0, log 3], f = [2, 1, 3], y = [1, 4, 0]
    #   1 log(1/2) - 1 + 2 = 1 - log 2
    #   4 log(4/1) - 4 + 1 = 8 log 2 - 3
    #   0 log(0/3) - 0 + 3 = 3                  (0 log 0 = 0)
    #   sum: 1 + 7 log 2;   dZ = [2 - 1, 1 - 4, 3 - 0] = [1, -3, 3]
    loss, dZ = reference.output_loss("poisson", [[LOG2, 0.0, LOG3]], [[1.0, 4.0, 0.0]])
    assert loss == approx(1.0 + 7.0 * LOG2)
    assert_grads(dZ, [[1.0, -3.0, 3.0]])
    # weighted: row 2: z = [0, 0, 0], f = [1, 1, 1], y = [2, 0, 1]
    #   2 log 2 - 2 + 1 = 2 log 2 - 1;   0 - 0 + 1 = 1;   1 log 1 - 1 + 1 = 0
    #   sum: 2 log 2;   dZ = [-1, 1, 0]
    # s = [1, 3] (S = 4): loss = (1 + 7 log 2 + 3 * 2 log 2) / 4 = (1 + 13 log 2) / 4
    # dZ = [1*[1, -3, 3], 3*[-1, 1, 0]] / 4 = [[0.25, -0.75, 0.75], [-0.75, 0.75, 0]]
    loss, dZ = reference.output_loss("poisson", [[LOG2, 0.0, LOG3], [0.0, 0.0, 0.0]],
                                     [[1.0, 4.0, 0.0], [2.0, 0.0, 1.0]],
                                     sample_weight=[1.0, 3.0])
    assert loss == approx((1.0 + 13.0 * LOG2) / 4.0)
    assert_grads(dZ, [[0.25, -0.75, 0.75], [-0.75, 0.75, 0.0]])
    assert_grads(reference.output_function("poisson", [[LOG2, 0.0, -LOG2]]), [[2.0, 1.0, 0.5]])


def test_poisson_zero_targets():
    # y = 0 everywhere: every y log(y/f) is 0 log 0 = 0, so loss = sum_k f_k and dZ = f.
    # z = [0, log 2, log 3]: loss = 1 + 2 + 3 = 6;  dZ = [1, 2, 3]
    loss, dZ = reference.output_loss("poisson", [[0.0, LOG2, LOG3]], [[0.0, 0.0, 0.0]])
    assert loss == approx(6.0)
    assert_grads(dZ, [[1.0, 2.0, 3.0]])
    # f = e^-1e4 rounds to 0: the loss is exactly 0, and nothing computes log 0.
    loss, dZ = reference.output_loss("poisson", [[-1e4, -800.0]], [[0.0, 0.0]])
    assert loss == 0.0 and dZ == [[0.0, 0.0]]


def test_poisson_loss_at_huge_logits():
    # z = -1e4, y = 2: f = e^-1e4 = 0 in double, but log(y/f) = log 2 + 1e4 comes from
    # the logit: 2 (log 2 + 1e4) - 2 + 0.  dZ = 0 - 2 = -2
    loss, dZ = reference.output_loss("poisson", [[-1e4]], [[2.0]])
    assert loss == approx(2.0 * (LOG2 + 1e4) - 2.0)
    assert dZ == [[-2.0]]
    # z = 1e4: e^z overflows a double; the output and the loss are honestly infinite.
    loss, dZ = reference.output_loss("poisson", [[1e4]], [[2.0]])
    assert loss == math.inf and dZ == [[math.inf]]
    assert reference.output_function("poisson", [[1e4, -1e4]]) == [[math.inf, 0.0]]


def test_poisson_loss_equals_scikit_learns():
    # scikit-learn's MLPRegressor(loss="poisson"): the weighted mean over examples
    # of sum_k xlogy(y, y/f) - y + f, with f = e^z given as y_pred.
    pytest.importorskip("sklearn")
    import numpy as np
    from sklearn.neural_network._base import poisson_loss

    rng = random.Random(7)
    Z = [[rng.uniform(-3.0, 3.0) for _ in range(3)] for _ in range(20)]
    y = [[float(rng.randint(0, 4)) if k < 2 else rng.uniform(0.0, 5.0) for k in range(3)]
         for _ in range(20)]
    y[0][0] = 0.0
    s = [rng.uniform(0.0, 2.0) for _ in range(20)]
    f = np.exp(np.array(Z))
    assert reference.output_loss("poisson", Z, y)[0] == approx(poisson_loss(np.array(y), f))
    assert reference.output_loss("poisson", Z, y, s)[0] == approx(
        poisson_loss(np.array(y), f, sample_weight=np.array(s)))


def test_logistic_loss_at_huge_logits():
    # loss_k = softplus(z) - y z, exactly: softplus(1e4) = 1e4 and softplus(-1e4) = 0
    # (to double precision: the remainders are e^-1e4).
    #   z = 1e4, y = 1: 0;   z = -1e4, y = 0: 0;   z = 1e4, y = 0: 1e4;   z = -1e4, y = 1: 1e4
    loss, dZ = reference.output_loss("logistic", [[1e4, -1e4, 1e4, -1e4]],
                                     [[1.0, 0.0, 0.0, 1.0]])
    assert loss == 2e4
    assert dZ == [[0.0, 0.0, 1.0, -1.0]]
    assert reference.output_function("logistic", [[1e4, -1e4]]) == [[1.0, 0.0]]


def test_softmax_loss_at_huge_logits():
    # logsumexp([1e4, 0, -1e4]) = 1e4 + log(1 + e^-1e4 + e^-2e4) = 1e4 in double precision
    # label 2: 1e4 - (-1e4) = 2e4;  label 0: 1e4 - 1e4 = 0
    Z = [[1e4, 0.0, -1e4], [1e4, 0.0, -1e4]]
    loss, dZ = reference.output_loss("softmax", Z, [2, 0])
    assert loss == (2e4 + 0.0) / 2
    # f = [1, 0, 0] (to double precision): dZ = (f - onehot) / 2
    assert dZ == [[0.5, 0.0, -0.5], [0.0, 0.0, 0.0]]
    assert reference.output_function("softmax", Z[:1]) == [[1.0, 0.0, 0.0]]


def test_network_losses_finite_at_huge_logits():
    # A 1-layer network whose logits are +-1e4: z = 1e4 * x
    W = [[[1e4, 0.0], [0.0, -1e4]]]
    loss, dW, db = reference.loss_and_grad(W, [[0.0, 0.0]], [[1.0, 1.0]], [1], "relu",
                                           "softmax")
    # z = [1e4, -1e4], label 1: logsumexp = 1e4, loss = 1e4 + 1e4 = 2e4
    # f - onehot = [1, -1]: dW = [[1, 1], [-1, -1]], db = [1, -1]
    assert loss == 2e4
    assert dW == [[[1.0, 1.0], [-1.0, -1.0]]]
    assert db == [[1.0, -1.0]]
    loss = reference.loss(W, None, [[1.0, 1.0]], [[0.0, 1.0]], "relu", "logistic")
    # softplus(1e4) - 0 + softplus(-1e4) - 1*(-1e4) = 1e4 + 1e4
    assert loss == 2e4


# ------------------------------------------------- whole network, numerically

def _random_network(rng, widths):
    weights = [[[rng.uniform(-1.0, 1.0) for _ in range(widths[l - 1])]
                for _ in range(widths[l])] for l in range(1, len(widths))]
    biases = [[rng.uniform(-0.5, 0.5) for _ in range(widths[l])]
              for l in range(1, len(widths))]
    return weights, biases


@pytest.mark.parametrize("activation", reference.ACTIVATIONS)
@pytest.mark.parametrize("output", reference.OUTPUTS)
def test_loss_and_grad_central_difference(activation, output):
    # A 3-4-3-2 network (two hidden layers), weighted, with L2: every entry
    # of the gradient against a central difference of loss().
    # str hashes are salted per process: seed from the characters instead.
    rng = random.Random(sum(map(ord, activation + output)))
    weights, biases = _random_network(rng, [3, 4, 3, 2])
    X = [[rng.uniform(-2.0, 2.0) for _ in range(3)] for _ in range(5)]
    if output == "softmax":
        y = [0, 1, 1, 0, 1]
    elif output == "logistic":
        y = [[rng.random(), float(rng.random() < 0.5)] for _ in range(5)]
    elif output == "poisson":
        y = [[float(rng.randint(0, 3)), rng.uniform(0.0, 2.0)] for _ in range(5)]
        y[0][0] = 0.0
    else:
        y = [[rng.uniform(-1.0, 1.0) for _ in range(2)] for _ in range(5)]
    kw = dict(sample_weight=[1.0, 0.5, 2.0, 0.0, 1.5], alpha=0.3, negative_slope=0.1)
    value, dW, db = reference.loss_and_grad(weights, biases, X, y, activation, output, **kw)
    assert value == pytest.approx(reference.loss(weights, biases, X, y, activation,
                                                 output, **kw), rel=1e-14)
    h = 1e-6

    def numeric(params, index):
        old = params[index]
        params[index] = old + h
        up = reference.loss(weights, biases, X, y, activation, output, **kw)
        params[index] = old - h
        down = reference.loss(weights, biases, X, y, activation, output, **kw)
        params[index] = old
        return (up - down) / (2 * h)

    for l in range(len(weights)):
        for u in range(len(weights[l])):
            for j in range(len(weights[l][u])):
                assert dW[l][u][j] == pytest.approx(numeric(weights[l][u], j),
                                                    rel=1e-6, abs=1e-8)
            assert db[l][u] == pytest.approx(numeric(biases[l], u), rel=1e-6, abs=1e-8)


def test_sample_weights_scale_free_and_default_is_ones():
    y = [[1.0], [2.0]]
    args = ([W1, W2], [B1, B2], X2, y, "tanh", "squared")
    plain = reference.loss_and_grad(*args, alpha=0.2)
    ones = reference.loss_and_grad(*args, sample_weight=[1.0, 1.0], alpha=0.2)
    # s and 2.5 s give the same data term and gradient (alpha = 0 here: the
    # penalty alpha/(2S) ||W||^2 does change with S).
    a = reference.loss_and_grad(*args, sample_weight=[0.5, 2.0])
    b = reference.loss_and_grad(*args, sample_weight=[1.25, 5.0])
    assert plain == ones
    assert a[0] == pytest.approx(b[0], rel=1e-14)
    assert_grads(a[1], b[1])
    assert_grads(a[2], b[2])
    assert a[0] != pytest.approx(plain[0])  # the weights do change the loss


# ------------------------------------------------- input checks

def test_bad_inputs_raise():
    with pytest.raises(ValueError):   # X rows must have m_0 = 2 entries
        reference.forward([W1, W2], [B1, B2], [[1.0, 2.0, 3.0]], "relu", "squared")
    with pytest.raises(ValueError):   # W2 must have m_1 = 2 columns
        reference.forward([W1, [[1.0]]], None, X2, "relu", "squared")
    with pytest.raises(ValueError):   # b1 must have m_1 = 2 entries
        reference.forward([W1, W2], [[0.0], B2], X2, "relu", "squared")
    with pytest.raises(ValueError):   # label out of range
        reference.loss([W1, W2], [B1, B2], X2, [0, 1], "relu", "softmax")
    with pytest.raises(ValueError):   # negative label would index from the end
        reference.output_loss("softmax", [[0.0, 1.0]], [-1])
    with pytest.raises(ValueError):   # logistic targets live in [0, 1]
        reference.output_loss("logistic", [[0.0]], [[2.0]])
    with pytest.raises(ValueError, match="poisson targets must be non-negative"):
        reference.output_loss("poisson", [[0.0, 0.0]], [[1.0, -0.5]])
    with pytest.raises(ValueError, match="poisson targets must be non-negative"):
        reference.loss([W1, W2], [B1, B2], X2, [[1.0], [-1e-300]], "relu", "poisson")
    with pytest.raises(ValueError):   # y has one row per example
        reference.loss([W1, W2], [B1, B2], X2, [[1.0]], "relu", "squared")
    with pytest.raises(ValueError):   # weights sum to zero
        reference.output_loss("squared", [[0.0]], [[1.0]], sample_weight=[0.0])
    with pytest.raises(ValueError):
        reference.output_loss("squared", [[0.0], [1.0]], [[1.0], [1.0]],
                              sample_weight=[2.0, -1.0])


def test_module_imports_only_math():
    # The oracle must share no code with the package and use no numpy.
    with open(reference.__file__) as source:
        tree = ast.parse(source.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"math"}


# ---------------------------------------------------------------- optimizer steps

def test_sgd_step_by_hand():
    # v = 0.9 * 0.2 - 0.1 * 0.5 = 0.13; p = 1 + 0.13
    p, v = reference.sgd_step([1.0], [0.5], [0.2], 0.1, 0.9, nesterov=False)
    assert p == [approx(1.13)] and v == [approx(0.13)]
    # Nesterov: p = 1 + (0.9 * 0.13 - 0.1 * 0.5) = 1.067, same velocity
    p, v = reference.sgd_step([1.0], [0.5], [0.2], 0.1, 0.9, nesterov=True)
    assert p == [approx(1.067)] and v == [approx(0.13)]
    # momentum 0 is gradient descent: p = 1 - 0.1 * 0.5
    p, _ = reference.sgd_step([1.0], [0.5], [0.0], 0.1, 0.0, nesterov=False)
    assert p == [approx(0.95)]


def test_adam_first_step_by_hand():
    # t = 1 from m = v = 0: m = 0.1 g, v = 0.001 g^2, eta_1 = eta sqrt(0.001) / 0.1,
    # so with eps = 0 the step is eta_1 * 0.1 g / (sqrt(0.001) |g|) = eta sign(g).
    p, m, v = reference.adam_step([1.0, 1.0], [0.5, -4.0], [0.0, 0.0], [0.0, 0.0], 1,
                                  0.1, 0.9, 0.999, 0.0)
    assert p == [approx(0.9), approx(1.1)]
    assert m == [approx(0.05), approx(-0.4)]
    assert v == [approx(0.00025), approx(0.016)]


def test_a_row_of_weight_zero_is_left_out_before_it_is_computed():
    # Its squared error (z - 1e300)^2 raised OverflowError in Python's floats.
    # z = 0.5 x1 - 0.25 x2 + 0.1: row 0 z = 0.1, r = -0.2, loss 0.02; row 2
    # z = 1.35, r = 1.55, loss 1.20125; S = 3.
    weights, biases = [[[0.5, -0.25]]], [[0.1]]
    X, y = [[1.0, 2.0], [0.5, -1.0], [3.0, 1.0]], [[0.3], [1e300], [-0.2]]
    sample_weight = [1.0, 0.0, 2.0]
    loss = reference.loss(weights, biases, X, y, "relu", "squared", sample_weight)
    assert loss == pytest.approx((0.02 + 2 * 1.20125) / 3, rel=REL)
    total, dweights, dbiases = reference.loss_and_grad(weights, biases, X, y, "relu", "squared",
                                                       sample_weight)
    assert total == pytest.approx(loss, rel=REL)
    # delta_0 = -0.2 / 3, delta_2 = 2 * 1.55 / 3; dW = delta_0 (1, 2) + delta_2 (3, 1)
    assert dweights[0][0] == pytest.approx([9.1 / 3, 2.7 / 3], rel=REL)
    assert dbiases[0] == pytest.approx([2.9 / 3], rel=REL)
    out_loss, dZ = reference.output_loss("squared", [[0.0], [0.0], [0.0]], y, sample_weight)
    # rows 0 and 2: (0.3^2 / 2 + 2 * 0.2^2 / 2) / 3
    assert out_loss == pytest.approx((0.045 + 0.04) / 3, rel=REL) and dZ[1] == [0.0]
