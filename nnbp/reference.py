"""The correctness oracle: a dense network, straight from the equations.

Plain Python (lists, floats, ``math``), one example and one unit at a time,
so that every line can be checked against the mathematics (the
documentation's page on the network and its mathematics).
It is slow on purpose and only meant for tiny networks. It shares no code
with the rest of nnbp: the fast path is checked against it, never the
other way round.

Notation (layers l = 1..L, widths m_0 = d, ..., m_L):

    x(0) = x
    z(l) = W(l) x(l-1) + b(l)        W(l): m_l rows (row u = unit u) of m_{l-1}
    x(l) = phi(z(l))                 l = 1..L-1   (hidden activation)
    f    = phi_out(z(L))             fixed by the output's canonical loss

    L(W) = (1/S) sum_i s_i loss_i + alpha/(2S) sum_l ||W(l)||_F^2,  S = sum_i s_i

    (an example of weight s_i = 0 is left out of the sums, even where its
    loss is infinite)

    delta(L)_i = s_i (f_i - target_i) / S
    dW(l)      = sum_i delta(l)_i x(l-1)_i^T + (alpha/S) W(l)
    db(l)      = sum_i delta(l)_i
    delta(l-1) = (W(l)^T delta(l)) * phi'(z(l-1))

With dropout (training only), hidden layer l's output is multiplied by a
mask r(l) of factors, 1/(1 - p) for a kept unit and 0 for a dropped one
(inverted dropout), and the gradient flows back through the same factors:

    x(l)       = phi(z(l)) * r(l)                                l = 1..L-1
    delta(l-1) = (W(l)^T delta(l)) * r(l-1) * phi'(z(l-1))

Conventions: ``weights`` is a list of L matrices, each a list of m_l rows of
m_{l-1} floats; ``biases`` is a list of L lists of m_l floats, or None (no
biases: zeros, and None for their gradient); ``X`` is a list of n examples of
m_0 floats. Inputs are copied to Python floats first (so float32 inputs are
computed in double precision); every result is plain nested lists of floats.

Examples
--------
A network of one hidden relu unit and a squared output, f(x) = 2 relu(x_1 -
x_2) + 0.5:

>>> from nnbp import reference
>>> weights, biases = [[[1.0, -1.0]], [[2.0]]], [[0.0], [0.5]]
>>> reference.forward(weights, biases, [[2.0, 1.0]], "relu", "squared")
[[2.5]]
"""
import math

__all__ = [
    "ACTIVATIONS",
    "OUTPUTS",
    "REGRESSION_LOSSES",
    "activation",
    "activation_backward",
    "activation_derivative",
    "adam_step",
    "clip_grad_norm",
    "cosine_learning_rate",
    "dense_backward",
    "dropout_key",
    "dropout_mask",
    "dense_forward",
    "forward",
    "loss",
    "loss_and_grad",
    "logits",
    "output_function",
    "output_loss",
    "regression_loss",
    "sgd_step",
    "vjp",
]

#: The hidden activations, by name.
ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu", "softplus", "gelu",
               "silu")
#: The outputs, each with its canonical loss, by name.
OUTPUTS = ("squared", "logistic", "softmax", "poisson")

# The types of the conventions below, for type hints: nothing but math is
# imported, so that the oracle shares nothing with the code it checks.
Vector = list[float]
Matrix = list[list[float]]
Weights = list[Matrix]
Biases = list[Vector] | None
Targets = list


# ---------------------------------------------------------------- primitives

def _sigmoid(z):
    """sigmoid(z) = 1 / (1 + e^-z), never evaluating e^t for t > 0."""
    # math.exp raises OverflowError past ~709, so exponentiate -|z| only.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _softplus(z):
    """softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^-``|z|``)."""
    # The naive form overflows for large z (e^z), and rounds log(1 + tiny)
    # to 0 for very negative z; this one is exact-ish for every finite z.
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _normal_cdf(z):
    """Phi(z) = (1 + erf(z / sqrt 2)) / 2 = erfc(-z / sqrt 2) / 2, the standard normal CDF."""
    # As erfc: 1 + erf(z / sqrt 2) cancels for z << 0 (Phi(-10) = 7.6e-24
    # is lost beside 1); erfc(-z / sqrt 2) keeps it.
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _normal_pdf(z):
    """phi(z) = e^(-z^2 / 2) / sqrt(2 pi), the standard normal density."""
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _times(z, factor):
    """z * factor, with the limit 0 where the factor is 0 and z infinite (not NaN)."""
    return 0.0 if factor == 0.0 and math.isinf(z) else z * factor


def _exp(z):
    """e^z, or inf where it overflows a double (z > ~709.78)."""
    # math.exp raises OverflowError there; the poisson output and loss are
    # then honestly infinite, as in the compiled kernels.
    try:
        return math.exp(z)
    except OverflowError:
        return math.inf


def _softmax_loss(z, label):
    """-log f_label = logsumexp(z) - z_label = log sum_k e^{z_k - max(z)} - (z_label - max(z))."""
    # Subtracting the max keeps every exponent <= 0: no overflow, and the
    # largest term is exactly 1, so the sum is >= 1 and its log is finite.
    # The max is taken out of both terms, not added back to the log first:
    # max(z) + log(...) rounds at the magnitude of z, and loses a loss that
    # is small beside it (z = (1e15, 1e15) gave 0.75, not log 2).
    top = max(z)
    return math.log(sum(_shifted_exp(zk, top) for zk in z)) - _shifted(z[label], top)


def _shifted(zk, top):
    """zk - top, with the max's own 0 also where the max is +inf: the limit
    (inf - inf would be NaN)."""
    return 0.0 if zk == top else zk - top


def _shifted_exp(zk, top):
    """e^(zk - top): 1 for the max itself, also where it is +inf (one logit of
    +inf makes the softmax one-hot, its limit)."""
    return math.exp(_shifted(zk, top))


def _logistic_loss(z, t):
    """softplus(z) - t z, the binary cross-entropy of a logit z against t in [0, 1].

    At z = +-inf its limit: 0 for a sure right answer (z = inf, t = 1; z =
    -inf, t = 0), else inf; inf - inf and 0 * inf would be NaN.
    """
    if z == math.inf:
        return 0.0 if t == 1 else math.inf
    if z == -math.inf:
        return 0.0 if t == 0 else math.inf
    return _softplus(z) - t * z


def _unknown(kind, name, valid):
    return ValueError("unknown %s %r; valid: %s" % (kind, name, ", ".join(valid)))


# --------------------------------------------------------------- activations

def _phi_and_dphi(name, z, negative_slope):
    """(phi(z), phi'(z)) for one scalar z: the function and its derivative
    side by side. At the kink z = 0 of relu / leaky_relu, phi' takes the
    z <= 0 branch. NaN gives NaN, for both (identity' = 1 whatever z);
    z = +-inf gives the limits (relu(-inf) = 0, tanh(inf) = 1, ...)."""
    z = float(z)
    if name == "identity":
        return z, 1.0
    if name == "logistic":
        s = _sigmoid(z)
        return s, s * (1.0 - s)
    if name == "tanh":
        t = math.tanh(z)
        return t, 1.0 - t * t
    if math.isnan(z) and name in ("relu", "leaky_relu"):
        # Neither branch below: phi(NaN) and phi'(NaN) are NaN. (The other
        # activations' formulas give NaN by themselves.)
        return z, z
    if name == "relu":
        return (z, 1.0) if z > 0 else (0.0, 0.0)
    if name == "leaky_relu":
        return (z, 1.0) if z > 0 else (negative_slope * z, float(negative_slope))
    if name == "softplus":
        return _softplus(z), _sigmoid(z)
    if name == "gelu":
        # gelu(z) = z Phi(z); gelu'(z) = Phi(z) + z phi(z).
        return _times(z, _normal_cdf(z)), _normal_cdf(z) + _times(z, _normal_pdf(z))
    if name == "silu":
        # silu(z) = z sigma(z); silu'(z) = sigma(z) + z sigma(z) (1 - sigma(z)).
        s = _sigmoid(z)
        return _times(z, s), s + _times(z, s * (1.0 - s))
    raise _unknown("activation", name, ACTIVATIONS)


def activation(name: str, z: float, negative_slope: float = 0.01) -> float:
    """The activation x = phi(z) of one scalar z.

    In plain Python: NaN gives NaN, and z = +-inf the limits (relu(-inf) = 0,
    tanh(inf) = 1, ...).

    Parameters
    ----------
    name : str
        The activation, one of ACTIVATIONS.
    z : float
        The unit's input.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.

    Returns
    -------
    float
        The unit's output phi(z).

    Raises
    ------
    ValueError
        If name is not an activation.

    See Also
    --------
    activation_derivative : The derivative phi'(z).
    nnbp.layers.activation : The compiled kernels, on a matrix.

    Examples
    --------
    >>> from nnbp import reference
    >>> reference.activation("relu", -1.0), reference.activation("leaky_relu", -1.0)
    (0.0, -0.01)
    """
    return _phi_and_dphi(name, z, negative_slope)[0]


def activation_derivative(name: str, z: float, negative_slope: float = 0.01) -> float:
    """The derivative phi'(z) of the activation at one scalar z.

    At the kink z = 0 of relu and leaky_relu, phi' takes the z <= 0 branch.

    Parameters
    ----------
    name : str
        The activation, one of ACTIVATIONS.
    z : float
        The unit's input.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.

    Returns
    -------
    float
        The derivative phi'(z).

    Raises
    ------
    ValueError
        If name is not an activation.

    See Also
    --------
    activation : The activation phi(z).
    activation_backward : The gradient that flows back through it.

    Examples
    --------
    >>> from nnbp import reference
    >>> reference.activation_derivative("logistic", 0.0)
    0.25
    >>> reference.activation_derivative("relu", 0.0)
    0.0
    """
    return _phi_and_dphi(name, z, negative_slope)[1]


def activation_backward(name: str, z: float, d: float, negative_slope: float = 0.01) -> float:
    """The gradient d * phi'(z) that flows back through one unit.

    For one scalar z and the derivative d = dloss/dx flowing back.

    As IEEE multiplies (NaN or inf times 0 is NaN), except that relu passes
    back exactly 0 where z <= 0, whatever d: the unit is off, and nothing
    flows through it (PyTorch's and JAX's rule). relu at z = NaN passes NaN.

    Parameters
    ----------
    name : str
        The activation, one of ACTIVATIONS.
    z : float
        The unit's input.
    d : float
        The derivative dloss/dx at the unit's output x = phi(z).
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.

    Returns
    -------
    float
        The gradient dloss/dz.

    Raises
    ------
    ValueError
        If name is not an activation.

    See Also
    --------
    activation_derivative : The derivative phi'(z).
    nnbp.layers.activation_backward : The compiled kernels, on a matrix.

    Examples
    --------
    >>> from nnbp import reference
    >>> reference.activation_backward("relu", -1.0, float("inf"))
    0.0
    >>> reference.activation_backward("tanh", 0.0, 2.0)
    2.0
    """
    if name == "relu" and float(z) <= 0:
        return 0.0
    return float(d) * activation_derivative(name, z, negative_slope)


# The batch functions take a parameter named ``activation``; these aliases
# keep the scalar functions reachable inside them.
_phi = activation
_backward_through = activation_backward


# ---------------------------------------------- output layer, one example

def _output_example(output, z):
    """f = phi_out(z) for one example's logits z = z(L)."""
    if output == "squared":
        return list(z)                                  # f = z
    if output == "logistic":
        return [_sigmoid(zk) for zk in z]               # f_k = sigmoid(z_k)
    if output == "softmax":
        # f_k = e^{z_k} / sum_j e^{z_j}; shifting z by max(z) changes nothing
        # but keeps every e^t <= 1 (no overflow) and the sum >= 1.
        top = max(z)
        e = [_shifted_exp(zk, top) for zk in z]
        total = sum(e)
        return [ek / total for ek in e]
    if output == "poisson":
        return [_exp(zk) for zk in z]                   # f_k = e^{z_k}
    raise _unknown("output", output, OUTPUTS)


def _loss_example(output, z, y_i):
    """(loss_i, dloss_i/dz) for one example, from its logits z = z(L).

    squared:  loss = 1/2 sum_k (z_k - y_k)^2
    logistic: loss = sum_k -[y_k log f_k + (1-y_k) log(1-f_k)]
                   = sum_k softplus(z_k) - y_k z_k
    softmax:  loss = -log f_y = logsumexp(z) - z_y
    poisson:  loss = sum_k y_k log(y_k / f_k) - y_k + f_k
                   = sum_k y_k (log y_k - z_k) - y_k + e^{z_k}
    and in every case dloss/dz = f - target (target = onehot(y) for softmax).
    """
    f = _output_example(output, z)
    m = len(z)
    if output == "squared":
        target = _target_vector(y_i, m, output)
        loss_i = 0.5 * sum((z[k] - target[k]) ** 2 for k in range(m))
    elif output == "logistic":
        target = _target_vector(y_i, m, output)
        # Not log(f): f rounds to exactly 1 for z > ~37 (log(1-f) = -inf)
        # and to 0 below ~-745. log f = -softplus(-z), log(1-f) = -softplus(z).
        loss_i = sum(_logistic_loss(z[k], target[k]) for k in range(m))
    elif output == "poisson":
        target = _target_vector(y_i, m, output)
        loss_i = 0.0
        for k in range(m):
            y_k = target[k]
            # log(y/f) = log y - z, from the logit: f = e^z rounds to 0
            # below z ~ -745, and y/0 would divide by zero.
            # 0 log 0 = 0 (the limit of y log y as y -> 0; scikit-learn's
            # xlogy): at y = 0 the term is 0, and log 0 (it raises) is
            # never evaluated.
            y_log_y_over_f = y_k * (math.log(y_k) - z[k]) if y_k > 0 else 0.0
            # At z = inf, f = inf outgrows y z: the loss is inf (-inf + inf
            # would be NaN).
            loss_i += math.inf if z[k] == math.inf else y_log_y_over_f - y_k + f[k]
    else:  # softmax (_output_example has rejected unknown outputs)
        label = _label(y_i, m)
        target = [1.0 if k == label else 0.0 for k in range(m)]
        loss_i = _softmax_loss(z, label)
    dz = [f[k] - target[k] for k in range(m)]
    return loss_i, dz


# ---------------------------------------------- whole network, one example

def _forward_example(weights, biases, x, activation, negative_slope, masks=None):
    """x(0) = x;  z(l) = W(l) x(l-1) + b(l);  x(l) = phi(z(l)) for l < L;
    with dropout's masks (masks[l - 1] = r(l), this example's), x(l) = phi(z(l)) * r(l).

    Returns (zs, xs) with zs[l] = z(l) for l = 1..L (zs[0] is None: the input
    has no logits) and xs[l] = x(l) for l = 0..L-1 (x(L) = f is the output
    layer's business).
    """
    L = len(weights)
    zs = [None]
    xs = [list(x)]
    for l in range(1, L + 1):
        W = weights[l - 1]
        x_prev = xs[l - 1]
        z = []
        for u in range(len(W)):
            b_u = 0.0 if biases is None else biases[l - 1][u]
            z.append(sum(W[u][j] * x_prev[j] for j in range(len(x_prev))) + b_u)
        zs.append(z)
        if l < L and masks is not None:
            r = masks[l - 1]
            xs.append([_phi(activation, z[u], negative_slope) * r[u] for u in range(len(z))])
        elif l < L:
            xs.append([_phi(activation, z_u, negative_slope) for z_u in z])
    return zs, xs


def _backward_example(weights, zs, xs, dz, scale, activation, negative_slope,
                      dweights, dbiases, masks=None):
    """Add one example's gradient, times scale = s_i / S, into dweights and
    dbiases (dbiases may be None):

        delta(L)   = scale * dloss_i/dz(L)
        dW(l)     += delta(l) x(l-1)^T
        db(l)     += delta(l)
        delta(l-1) = (W(l)^T delta(l)) * phi'(z(l-1))      l = L..2

    (the product as activation_backward takes it); with dropout's masks (this
    example's r(l) at masks[l - 1]), W(l)^T delta(l) is multiplied by r(l-1)
    first. Returns delta(1).
    """
    L = len(weights)
    delta = [scale * dz_k for dz_k in dz]
    for l in range(L, 0, -1):
        W = weights[l - 1]
        x_prev = xs[l - 1]
        for u in range(len(W)):
            for j in range(len(x_prev)):
                dweights[l - 1][u][j] += delta[u] * x_prev[j]
            if dbiases is not None:
                dbiases[l - 1][u] += delta[u]
        if l > 1:
            r = [1.0] * len(x_prev) if masks is None else masks[l - 2]
            delta = [_backward_through(activation, zs[l - 1][j],
                                       sum(W[u][j] * delta[u] for u in range(len(W))) * r[j],
                                       negative_slope)
                     for j in range(len(x_prev))]
    return delta


# ------------------------------------------------------------ one layer

def dense_forward(W: Matrix, b: Vector | None, X: Matrix, activation: str,
                  negative_slope: float = 0.01) -> tuple[list[list[float]], list[list[float]]]:
    """One dense layer's forward pass on a batch, one example and one unit at a time.

    Z[i][u] = sum_j W[u][j] X[i][j] + b[u] and A[i][u] = phi(Z[i][u]).

    Parameters
    ----------
    W : list of lists of float, shape (fan_out, fan_in)
        The weights, row u for unit u.
    b : list of float of length fan_out, or None
        The biases; None: none.
    X : list of lists of float, shape (n_samples, fan_in)
        The input rows.
    activation : str
        The activation phi, one of ACTIVATIONS.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.

    Returns
    -------
    Z : list of lists of float
        The units' inputs, n_samples lists of fan_out.
    A : list of lists of float
        Their outputs, phi(Z).

    Raises
    ------
    ValueError
        If the shapes do not agree or the activation is unknown.

    See Also
    --------
    dense_backward : The layer's backward pass.
    nnbp.layers.dense_forward : The compiled layer.

    Examples
    --------
    >>> from nnbp import reference
    >>> W, b = [[0.5, -0.5], [1.0, 0.0], [0.0, 1.0]], [0.0, 0.0, -3.0]
    >>> Z, A = reference.dense_forward(W, b, [[1.0, 2.0], [3.0, 4.0]], "relu")
    >>> A
    [[0.0, 1.0, 0.0], [0.0, 3.0, 1.0]]
    """
    W = _matrix(W, "W")
    X = _matrix(X, "X", columns=len(W[0]))
    b = None if b is None else _vector(b, "b", len(W))
    _check_name(activation, ACTIVATIONS, "activation")
    Z, A = [], []
    for x in X:
        z = [sum(W[u][j] * x[j] for j in range(len(x)))
             + (0.0 if b is None else b[u]) for u in range(len(W))]
        Z.append(z)
        A.append([_phi(activation, z_u, negative_slope) for z_u in z])
    return Z, A


def dense_backward(W: Matrix, X: Matrix, Z: Matrix, dA: Matrix, activation: str,
                   negative_slope: float = 0.01
                   ) -> tuple[list[list[float]], list[float], list[list[float]]]:
    """One dense layer's backward pass on a batch, given dA = dloss/dA.

    ::

        D  = dA * phi'(Z)        elementwise
        dW = D^T X               dW[u][j] = sum_i D[i][u] X[i][j]
        db = column sums of D    db[u]    = sum_i D[i][u]
        dX = D W                 dX[i][j] = sum_u D[i][u] W[u][j]

    Parameters
    ----------
    W : list of lists of float, shape (fan_out, fan_in)
        The weights, row u for unit u.
    X : list of lists of float, shape (n_samples, fan_in)
        The input rows.
    Z : list of lists of float, shape (n_samples, fan_out)
        The units' inputs, as ``dense_forward`` gave them.
    dA : list of lists of float, shape (n_samples, fan_out)
        The gradient with respect to the units' outputs.
    activation : str
        The activation phi, one of ACTIVATIONS.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.

    Returns
    -------
    dW : list of lists of float
        The gradient of the weights, fan_out lists of fan_in.
    db : list of float
        The gradient of the biases, fan_out floats.
    dX : list of lists of float
        The gradient of the input rows, n_samples lists of fan_in.

    Raises
    ------
    ValueError
        If the shapes do not agree or the activation is unknown.

    See Also
    --------
    dense_forward : The layer's forward pass.
    nnbp.layers.dense_backward : The compiled layer.

    Examples
    --------
    >>> from nnbp import reference
    >>> W, X = [[1.0, -1.0]], [[2.0, 1.0], [1.0, 3.0]]
    >>> Z, A = reference.dense_forward(W, None, X, "relu")
    >>> reference.dense_backward(W, X, Z, [[1.0], [1.0]], "relu")
    ([[2.0, 1.0]], [1.0], [[1.0, -1.0], [0.0, 0.0]])
    """
    W = _matrix(W, "W")
    m, m_prev = len(W), len(W[0])
    X = _matrix(X, "X", columns=m_prev)
    n = len(X)
    Z = _matrix(Z, "Z", rows=n, columns=m)
    dA = _matrix(dA, "dA", rows=n, columns=m)
    _check_name(activation, ACTIVATIONS, "activation")
    D = [[_backward_through(activation, Z[i][u], dA[i][u], negative_slope) for u in range(m)]
         for i in range(n)]
    dW = [[sum(D[i][u] * X[i][j] for i in range(n)) for j in range(m_prev)]
          for u in range(m)]
    db = [sum(D[i][u] for i in range(n)) for u in range(m)]
    dX = [[sum(D[i][u] * W[u][j] for u in range(m)) for j in range(m_prev)]
          for i in range(n)]
    return dW, db, dX


# ------------------------------------------------------------ output layer

def output_function(output: str, Z: Matrix) -> list[list[float]]:
    """The network's output F[i] = phi_out(Z[i]) of each example's logits.

    Z itself for squared, sigmoid(Z) for logistic, softmax(Z[i]) for
    softmax, e^Z for poisson.

    Parameters
    ----------
    output : str
        The output, one of OUTPUTS.
    Z : list of lists of float, shape (n_samples, n_outputs)
        The logits.

    Returns
    -------
    list of lists of float
        The outputs, n_samples lists of n_outputs.

    Raises
    ------
    ValueError
        If the output is unknown or Z is not rectangular.

    See Also
    --------
    output_loss : The output's canonical loss.
    nnbp.layers.output_function : The compiled kernels.

    Examples
    --------
    >>> from nnbp import reference
    >>> reference.output_function("softmax", [[0.0, 0.0]])
    [[0.5, 0.5]]
    """
    _check_name(output, OUTPUTS, "output")
    Z = _matrix(Z, "Z")
    return [_output_example(output, z) for z in Z]


def output_loss(output: str, Z: Matrix, y: Targets, sample_weight: Vector | None = None
                ) -> tuple[float, list[list[float]]]:
    """The output's canonical loss of the logits Z, and its gradient dZ.

    ::

        loss  = (1/S) sum_i s_i loss_i(Z[i], y[i])
        dZ[i] = s_i (f_i - target_i) / S

    Parameters
    ----------
    output : str
        The output and its loss, one of OUTPUTS.
    Z : list of lists of float, shape (n_samples, n_outputs)
        The logits.
    y : list
        The targets: a class label 0..n_outputs-1 per example for softmax,
        else a row of n_outputs targets.
    sample_weight : list of float or None, default=None
        The examples' weights s_i; None: all 1.

    Returns
    -------
    loss : float
        The (weighted) mean loss.
    dZ : list of lists of float
        Its gradient with respect to Z.

    Raises
    ------
    ValueError
        If the output is unknown, a shape does not agree, or a target or
        weight is invalid.

    See Also
    --------
    output_function : The output's activation.
    nnbp.layers.output_loss : The compiled kernels.

    Examples
    --------
    >>> from nnbp import reference
    >>> loss, dZ = reference.output_loss("softmax", [[0.0, 0.0]], [1])
    >>> round(loss, 4), dZ
    (0.6931, [[0.5, -0.5]])
    """
    _check_name(output, OUTPUTS, "output")
    Z = _matrix(Z, "Z")
    n = len(Z)
    _check_len(y, n, "y")
    s, S = _sample_weights(sample_weight, n)
    total = 0.0
    dZ = []
    for i in range(n):
        if s[i] == 0.0:
            # Left out, not multiplied by 0: its loss may be inf (e^z overflows),
            # and Python's float arithmetic may raise OverflowError computing it.
            dZ.append([0.0] * len(Z[i]))
            continue
        loss_i, dz_i = _loss_example(output, Z[i], y[i])
        total += s[i] * loss_i
        dZ.append([s[i] * dz_ik / S for dz_ik in dz_i])
    return total / S, dZ


# ------------------------------------------------------------ whole network

def forward(weights: Weights, biases: Biases, X: Matrix, activation: str, output: str,
            negative_slope: float = 0.01) -> list[list[float]]:
    """The network's output F[i] = f(X[i]) = phi_out(z(L)) for every example.

    The layers of the module's equations, one example at a time.

    Parameters
    ----------
    weights : list of matrices
        The weights W(1), ..., W(L): W(l) has m_l rows (one per unit) of m_{l-1}
        floats.
    biases : list of lists of float, or None
        The biases b(1), ..., b(L), of m_l floats each; None: no biases.
    X : list of lists of float, shape (n_samples, m_0)
        The input rows.
    activation : str
        The hidden activation, one of ACTIVATIONS.
    output : str
        The output, one of OUTPUTS.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.

    Returns
    -------
    list of lists of float
        The outputs, n_samples lists of m_L.

    Raises
    ------
    ValueError
        If the shapes do not agree or a name is unknown.

    See Also
    --------
    loss : The network's loss.

    Examples
    --------
    >>> from nnbp import reference
    >>> weights, biases = [[[1.0, -1.0]], [[2.0]]], [[0.0], [0.5]]
    >>> reference.forward(weights, biases, [[1.0, 2.0], [2.0, 1.0]], "relu", "squared")
    [[0.5], [2.5]]
    """
    weights, biases, X = _network(weights, biases, X, activation, output)
    L = len(weights)
    F = []
    for x in X:
        zs, _ = _forward_example(weights, biases, x, activation, negative_slope)
        F.append(_output_example(output, zs[L]))
    return F


def loss(weights: Weights, biases: Biases, X: Matrix, y: Targets, activation: str,
         output: str, sample_weight: Vector | None = None, alpha: float = 0.0,
         negative_slope: float = 0.01, dropout_masks: list[Matrix] | None = None) -> float:
    """The network's loss L(W) = (1/S) sum_i s_i loss_i + alpha/(2S) sum_l ||W(l)||_F^2.

    The (weighted) mean of the output's canonical loss over the examples,
    plus the L2 penalty on the weights (not the biases), in scikit-learn's
    form.

    Parameters
    ----------
    weights : list of matrices
        The weights W(1), ..., W(L): W(l) has m_l rows (one per unit) of m_{l-1}
        floats.
    biases : list of lists of float, or None
        The biases b(1), ..., b(L), of m_l floats each; None: no biases.
    X : list of lists of float, shape (n_samples, m_0)
        The input rows.
    y : list
        The targets: a class label per example for softmax, else a row of
        m_L targets.
    activation : str
        The hidden activation, one of ACTIVATIONS.
    output : str
        The output and its loss, one of OUTPUTS.
    sample_weight : list of float or None, default=None
        The examples' weights s_i; None: all 1.
    alpha : float, default=0.0
        The L2 penalty's strength.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.
    dropout_masks : list of matrices or None, default=None
        Dropout's factors r(l) of each hidden layer l = 1..L-1, each n rows of
        m_l (see dropout_mask): x(l) = phi(z(l)) * r(l). None: no dropout.

    Returns
    -------
    float
        The loss.

    Raises
    ------
    ValueError
        If the shapes do not agree, a name is unknown, or a target or weight
        is invalid.

    See Also
    --------
    loss_and_grad : The loss and its gradient.

    Examples
    --------
    >>> from nnbp import reference
    >>> weights, biases = [[[1.0, -1.0]], [[2.0]]], [[0.0], [0.5]]
    >>> reference.loss(weights, biases, [[2.0, 1.0]], [[2.0]], "relu", "squared")
    0.125
    """
    weights, biases, X = _network(weights, biases, X, activation, output)
    n, L = len(X), len(weights)
    _check_len(y, n, "y")
    s, S = _sample_weights(sample_weight, n)
    masks = _dropout_masks(dropout_masks, weights, n)
    total = 0.0
    for i in range(n):
        if s[i] == 0.0:
            # Left out before anything is computed: 0 * inf would be NaN, and
            # Python's float arithmetic may raise OverflowError on its way.
            continue
        zs, _ = _forward_example(weights, biases, X[i], activation, negative_slope,
                                 _example_masks(masks, i))
        loss_i, _ = _loss_example(output, zs[L], y[i])
        total += s[i] * loss_i
    return total / S + alpha / (2.0 * S) * _sum_of_squares(weights)


def loss_and_grad(weights: Weights, biases: Biases, X: Matrix, y: Targets, activation: str,
                  output: str, sample_weight: Vector | None = None, alpha: float = 0.0,
                  negative_slope: float = 0.01, dropout_masks: list[Matrix] | None = None
                  ) -> tuple[float, list[list[list[float]]], list[list[float]] | None]:
    """The network's loss and its gradient, by backpropagation one example at a time.

    ::

        dW(l) = sum_i delta(l)_i x(l-1)_i^T + (alpha/S) W(l)
        db(l) = sum_i delta(l)_i

    Parameters
    ----------
    weights : list of matrices
        The weights W(1), ..., W(L): W(l) has m_l rows (one per unit) of m_{l-1}
        floats.
    biases : list of lists of float, or None
        The biases b(1), ..., b(L), of m_l floats each; None: no biases.
    X : list of lists of float, shape (n_samples, m_0)
        The input rows.
    y : list
        The targets: a class label per example for softmax, else a row of
        m_L targets.
    activation : str
        The hidden activation, one of ACTIVATIONS.
    output : str
        The output and its loss, one of OUTPUTS.
    sample_weight : list of float or None, default=None
        The examples' weights s_i; None: all 1.
    alpha : float, default=0.0
        The L2 penalty's strength.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.
    dropout_masks : list of matrices or None, default=None
        Dropout's factors r(l), as loss takes them; the gradient flows back
        through the same factors.

    Returns
    -------
    loss : float
        The loss, as ``loss`` computes it.
    dweights : list of lists of lists of float
        Its gradient with respect to each W(l), in the nested shape of weights.
    dbiases : list of lists of float or None
        Its gradient with respect to each b(l); None when biases is None.

    Raises
    ------
    ValueError
        If the shapes do not agree, a name is unknown, or a target or weight
        is invalid.

    See Also
    --------
    loss : The loss alone.
    nnbp.check_gradients : The compiled gradient checked against this one.

    Examples
    --------
    >>> from nnbp import reference
    >>> weights, biases = [[[1.0, -1.0]], [[2.0]]], [[0.0], [0.5]]
    >>> reference.loss_and_grad(weights, biases, [[2.0, 1.0]], [[2.0]], "relu", "squared")
    (0.125, [[[2.0, 1.0]], [[0.5]]], [[1.0], [0.5]])
    """
    weights, biases, X = _network(weights, biases, X, activation, output)
    n, L = len(X), len(weights)
    _check_len(y, n, "y")
    s, S = _sample_weights(sample_weight, n)
    masks = _dropout_masks(dropout_masks, weights, n)
    dweights = [[[0.0] * len(W[0]) for _ in W] for W in weights]
    dbiases = None if biases is None else [[0.0] * len(W) for W in weights]
    total = 0.0
    for i in range(n):
        if s[i] == 0.0:
            continue    # left out, before anything is computed (as in loss)
        r_i = _example_masks(masks, i)
        zs, xs = _forward_example(weights, biases, X[i], activation, negative_slope, r_i)
        loss_i, dz_i = _loss_example(output, zs[L], y[i])
        total += s[i] * loss_i
        _backward_example(weights, zs, xs, dz_i, s[i] / S, activation,
                          negative_slope, dweights, dbiases, r_i)
    # The L2 penalty alpha/(2S) ||W||^2 has gradient (alpha/S) W; biases are free.
    for l in range(L):
        for u in range(len(weights[l])):
            for j in range(len(weights[l][u])):
                dweights[l][u][j] += alpha / S * weights[l][u][j]
    total = total / S + alpha / (2.0 * S) * _sum_of_squares(weights)
    return total, dweights, dbiases


def _output_backward_example(output, z, g):
    """J^T g for one example: the gradient with respect to its logits z of a
    gradient g with respect to its outputs f = phi_out(z).

    squared:  f_k = z_k                  df_k/dz_j = [k = j]
    logistic: f_k = sigmoid(z_k)         df_k/dz_j = [k = j] f_k (1 - f_k)
    softmax:  f_k = e^{z_k} / sum e^z    df_k/dz_j = f_k ([k = j] - f_j)
    poisson:  f_k = e^{z_k}              df_k/dz_j = [k = j] f_k
    """
    f = _output_example(output, z)
    m = len(z)
    if output == "squared":
        return list(g)
    if output == "logistic":
        return [g[k] * f[k] * (1.0 - f[k]) for k in range(m)]
    if output == "poisson":
        return [g[k] * f[k] for k in range(m)]
    # softmax: sum_k g_k f_k ([k = j] - f_j) = f_j (g_j - sum_k g_k f_k)
    g_dot_f = sum(g[k] * f[k] for k in range(m))
    return [f[j] * (g[j] - g_dot_f) for j in range(m)]


def vjp(weights: Weights, biases: Biases, X: Matrix, upstream: Matrix, activation: str,
        output: str, wrt: str = "output", negative_slope: float = 0.01
        ) -> tuple[list[list[list[float]]], list[list[float]] | None, list[list[float]]]:
    """The vector-Jacobian product: backpropagation of a loss's given gradient.

    For a loss l of the outputs, with upstream[i] = dl/df_i (wrt="output") or
    dl/dz(L)_i (wrt="logits"), one example at a time::

        delta(L)_i = J_i^T upstream[i]   (wrt="output"; J_i = df_i/dz(L)_i)
                   = upstream[i]         (wrt="logits")
        dW(l)      = sum_i delta(l)_i x(l-1)_i^T
        db(l)      = sum_i delta(l)_i
        delta(l-1) = (W(l)^T delta(l)) * phi'(z(l-1))
        dx_i       = W(1)^T delta(1)_i

    No penalty and no weights: the network's Jacobian alone.

    Parameters
    ----------
    weights : list of matrices
        The weights W(1), ..., W(L), as loss_and_grad takes them.
    biases : list of lists of float, or None
        The biases b(1), ..., b(L); None: no biases.
    X : list of lists of float, shape (n_samples, m_0)
        The input rows.
    upstream : list of lists of float, shape (n_samples, m_L)
        The loss's gradient with respect to each example's outputs or logits.
    activation : str
        The hidden activation, one of ACTIVATIONS.
    output : str
        The output, one of OUTPUTS (its loss plays no part).
    wrt : {"output", "logits"}, default="output"
        What upstream is the gradient with respect to.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.

    Returns
    -------
    dweights : list of lists of lists of float
        The gradient dl/dW(l), in the nested shape of weights.
    dbiases : list of lists of float or None
        The gradient dl/db(l); None when biases is None.
    dX : list of lists of float
        The gradient dl/dX, n_samples rows of m_0.

    Raises
    ------
    ValueError
        If the shapes do not agree or a name is unknown.

    See Also
    --------
    nnbp.Network.vjp : The compiled product, checked against this one.

    Examples
    --------
    f(x) = 2 relu(x_1 - x_2) + 0.5 at x = (2, 1), and dl/df = 1:

    >>> from nnbp import reference
    >>> weights, biases = [[[1.0, -1.0]], [[2.0]]], [[0.0], [0.5]]
    >>> reference.vjp(weights, biases, [[2.0, 1.0]], [[1.0]], "relu", "squared")
    ([[[4.0, 2.0]], [[1.0]]], [[2.0], [1.0]], [[2.0, -2.0]])
    """
    weights, biases, X = _network(weights, biases, X, activation, output)
    _check_name(wrt, ("output", "logits"), "wrt")
    n, L = len(X), len(weights)
    upstream = _matrix(upstream, "upstream", rows=n, columns=len(weights[-1]))
    dweights = [[[0.0] * len(W[0]) for _ in W] for W in weights]
    dbiases = None if biases is None else [[0.0] * len(W) for W in weights]
    dX = []
    W1 = weights[0]
    for i in range(n):
        zs, xs = _forward_example(weights, biases, X[i], activation, negative_slope)
        dz = (_output_backward_example(output, zs[L], upstream[i]) if wrt == "output"
              else upstream[i])
        delta_1 = _backward_example(weights, zs, xs, dz, 1.0, activation, negative_slope,
                                    dweights, dbiases)
        dX.append([sum(W1[u][j] * delta_1[u] for u in range(len(W1)))
                   for j in range(len(X[i]))])
    return dweights, dbiases, dX


#: The robust losses of the identity output (nnbp.losses), by scikit-learn's names.
REGRESSION_LOSSES = ("huber", "absolute_error", "quantile")


def _regression_loss_example(name, r, parameter):
    """(loss, dloss/dz) of one residual r = z - y.

    huber:          r^2 / 2             if |r| <= delta,  else delta (|r| - delta / 2)
                    dloss/dz = r        if |r| <= delta,  else delta sign(r)
    absolute_error: |r|,                dloss/dz = sign(r)  (0 at r = 0)
    quantile:       -q r  if r < 0,     else (1 - q) r
                    dloss/dz = -q       if r < 0,         else 1 - q
    """
    if name == "huber":
        delta = parameter
        if abs(r) <= delta:
            return 0.5 * r * r, r
        return delta * (abs(r) - 0.5 * delta), math.copysign(delta, r)
    if name == "absolute_error":
        return abs(r), (r > 0) - (r < 0)
    q = parameter  # quantile
    if r < 0:
        return -q * r, -q
    return (1.0 - q) * r, 1.0 - q


def regression_loss(name: str, Z: Matrix, y: Matrix, parameter: float = 1.0,
                    sample_weight: Vector | None = None) -> tuple[float, list[list[float]]]:
    """A robust loss of the logits Z of the identity output, and its gradient dZ.

    ::

        loss  = (1/S) sum_i s_i sum_k loss(Z[i][k] - y[i][k])
        dZ[i] = s_i dloss/dz (Z[i] - y[i]) / S

    Parameters
    ----------
    name : str
        The loss, one of REGRESSION_LOSSES.
    Z : list of lists of float, shape (n_samples, n_outputs)
        The logits (the outputs themselves: the output is the identity).
    y : list of lists of float, shape (n_samples, n_outputs)
        The targets.
    parameter : float, default=1.0
        Huber's delta, or the quantile q (the absolute error has none).
    sample_weight : list of float or None, default=None
        The examples' weights s_i; None: all 1.

    Returns
    -------
    loss : float
        The (weighted) mean loss.
    dZ : list of lists of float
        Its gradient with respect to Z.

    Raises
    ------
    ValueError
        If the loss is unknown, or a shape or a weight is invalid.

    See Also
    --------
    nnbp.losses : The loss objects, computed by the compiled kernel.

    Examples
    --------
    >>> from nnbp import reference
    >>> reference.regression_loss("huber", [[0.5], [3.0]], [[0.0], [0.0]], parameter=1.0)
    (1.3125, [[0.25], [0.5]])
    """
    _check_name(name, REGRESSION_LOSSES, "regression loss")
    Z = _matrix(Z, "Z")
    n = len(Z)
    y = _matrix(y, "y", rows=n, columns=len(Z[0]))
    s, S = _sample_weights(sample_weight, n)
    total = 0.0
    dZ = []
    for i in range(n):
        dz_i = []
        for k in range(len(Z[i])):
            loss_ik, dz_ik = _regression_loss_example(name, Z[i][k] - y[i][k], parameter)
            total += s[i] * loss_ik
            dz_i.append(s[i] * dz_ik / S)
        dZ.append(dz_i)
    return total / S, dZ


def logits(weights: Weights, biases: Biases, X: Matrix, activation: str,
           negative_slope: float = 0.01) -> list[list[float]]:
    """The logits z(L) of each example: the network's outputs before phi_out.

    x(0) = x, z(l) = W(l) x(l-1) + b(l), x(l) = phi(z(l)) for l < L, one
    example at a time, as forward computes them, without phi_out.

    Parameters
    ----------
    weights : list of matrices
        The weights W(1), ..., W(L), as forward takes them.
    biases : list of lists of float, or None
        The biases b(1), ..., b(L); None: no biases.
    X : list of lists of float, shape (n_samples, m_0)
        The input rows.
    activation : str
        The hidden activation, one of ACTIVATIONS.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z <= 0.

    Returns
    -------
    list of lists of float
        The logits z(L) of each example, n_samples lists of m_L.

    See Also
    --------
    forward : The outputs, phi_out of the logits.

    Examples
    --------
    >>> from nnbp import reference
    >>> reference.logits([[[1.0, -1.0]], [[2.0]]], [[0.0], [0.5]], [[2.0, 1.0]], "relu")
    [[2.5]]
    """
    weights, biases, X = _network(weights, biases, X, activation, "squared")
    L = len(weights)
    return [_forward_example(weights, biases, x, activation, negative_slope)[0][L] for x in X]


def _sum_of_squares(weights):
    """sum_l ||W(l)||_F^2."""
    return sum(w * w for W in weights for row in W for w in row)


# ------------------------------------------------------------ dropout's masks
# A counter-based hash: each factor a function of (seed, step, layer, row,
# unit) alone, so that a mask does not depend on the thread that draws it.
# Python's integers, reduced modulo 2^64, are the C kernels' uint64_t.

_MASK64 = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15       # 2^64 / phi: splitmix64's increment


def _mix64(z):
    """The finaliser of splitmix64 (Steele, Lea and Flood, 2014): a bijection of 2^64."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def dropout_key(seed: int, step: int, layer: int) -> int:
    """The key of hidden layer l's masks at step t: mix(mix(seed + G (t + 1)) + G l).

    mix is splitmix64's finaliser and G = 0x9E3779B97F4A7C15 its increment
    (2^64 / phi): seed + G (t + 1) is the (t + 1)-th state of a splitmix64
    stream of the seed, and the layer's key another stream's state from it.

    Parameters
    ----------
    seed : int
        0 <= seed < 2**64: the epoch's seed (drawn from the fit's random_state).
    step : int
        The batch's number in the epoch, from 0.
    layer : int
        The hidden layer l, from 1.

    Returns
    -------
    int
        The key, 0 <= key < 2**64.

    See Also
    --------
    dropout_mask : The factors drawn from the key.

    Examples
    --------
    >>> from nnbp import reference
    >>> 0 <= reference.dropout_key(0, 0, 1) < 2**64
    True
    """
    return _mix64((_mix64((seed + _GOLDEN * (step + 1)) & _MASK64) + _GOLDEN * layer)
                  & _MASK64)


def dropout_mask(seed: int, step: int, layer: int, rows: int, units: int,
                 rate: float) -> Matrix:
    """Inverted dropout's factors r(l) of one hidden layer for a batch of rows.

    ::

        h    = mix(key + G (2^32 i + u))      key = dropout_key(seed, step, l)
        u_iu = floor(h / 2^11) / 2^53         uniform on [0, 1), in steps of 2^-53
        r_iu = 1 / (1 - p) if u_iu >= p else 0

    so that a unit is kept with probability 1 - p, and E[r_iu] = 1.

    Parameters
    ----------
    seed, step, layer : int
        As dropout_key takes them.
    rows, units : int
        The batch's rows i and the layer's units u.
    rate : float
        The dropout rate p, 0 <= p < 1.

    Returns
    -------
    list of lists of float
        The factors: rows rows of units each, 0.0 or 1 / (1 - p).

    See Also
    --------
    nnbp.Network.dropout_masks : The compiled kernels' same factors, in an array.

    Examples
    --------
    >>> from nnbp import reference
    >>> sorted(set(sum(reference.dropout_mask(0, 0, 1, 4, 5, 0.5), [])))
    [0.0, 2.0]
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"the dropout rate must be in [0, 1), got {rate!r}")
    key = dropout_key(seed, step, layer)
    # u >= p, with u = (h >> 11) / 2^53 and p 2^53 exact: h >> 11 >= ceil(p 2^53).
    threshold = math.ceil(rate * 2.0**53)
    scale = 1.0 / (1.0 - rate)
    return [[scale if _mix64((key + _GOLDEN * ((i << 32) + u)) & _MASK64) >> 11 >= threshold
             else 0.0 for u in range(units)] for i in range(rows)]


def _dropout_masks(masks, weights, n):
    """The masks as lists of floats (None: no dropout), checked: n rows of m_l each."""
    if masks is None:
        return None
    _check_len(masks, len(weights) - 1, "dropout_masks")
    return [_matrix(r, f"dropout_masks[{l}]", n, len(weights[l]))
            for l, r in enumerate(masks)]


def _example_masks(masks, i):
    """Example i's factors r(l) of each hidden layer, or None."""
    return None if masks is None else [r[i] for r in masks]


# ------------------------------------------------------------ optimizer steps
# One update of a flat list of parameters p from its gradient g, as the
# solvers make it (scikit-learn's formulas). They return new lists.

def sgd_step(p: Vector, g: Vector, velocity: Vector, learning_rate: float, momentum: float,
             nesterov: bool, weight_decay: float = 0.0) -> tuple[list[float], list[float]]:
    """One step of stochastic gradient descent with momentum, scikit-learn's formulas.

    v = mu v - eta g; then p = p + v, or with Nesterov's momentum p = p + mu v
    - eta g (v the new velocity). With decoupled weight decay lambda, p = (1 -
    eta lambda) p first (g was taken at the p before it).

    Parameters
    ----------
    p : list of float
        The parameters.
    g : list of float
        Their gradient.
    velocity : list of float
        The velocity v before the step.
    learning_rate : float
        The step size eta.
    momentum : float
        The momentum mu.
    nesterov : bool
        Whether to take Nesterov's step.
    weight_decay : float, default=0.0
        The decoupled weight decay lambda.

    Returns
    -------
    p : list of float
        The parameters after the step.
    v : list of float
        The velocity after the step.

    See Also
    --------
    adam_step : Adam's step.
    nnbp.SGD : The compiled optimizer.

    Examples
    --------
    >>> from nnbp import reference
    >>> p, v = reference.sgd_step([1.0, 2.0], [0.5, -0.5], [0.0, 0.0], 0.1, 0.9, False)
    >>> [round(x, 6) for x in p], [round(x, 6) for x in v]
    ([0.95, 2.05], [-0.05, 0.05])
    """
    p = _decayed(p, learning_rate, weight_decay)
    v = [momentum * v_k - learning_rate * g_k for v_k, g_k in zip(velocity, g)]
    if nesterov:
        step = [momentum * v_k - learning_rate * g_k for v_k, g_k in zip(v, g)]
    else:
        step = v
    return [p_k + s_k for p_k, s_k in zip(p, step)], v


def adam_step(p: Vector, g: Vector, m: Vector, v: Vector, t: int, learning_rate: float,
              beta_1: float, beta_2: float, epsilon: float, weight_decay: float = 0.0
              ) -> tuple[list[float], list[float], list[float]]:
    """One step of Adam, the step number t = 1, 2, ..., in scikit-learn's form.

    With decoupled weight decay lambda (AdamW), p = (1 - eta lambda) p first,
    by eta itself, not eta_t; g was taken at the p before it::

        m = b1 m + (1 - b1) g
        v = b2 v + (1 - b2) g^2
        p = p - eta_t m / (sqrt(v) + eps),   eta_t = eta sqrt(1 - b2^t) / (1 - b1^t)

    Parameters
    ----------
    p : list of float
        The parameters.
    g : list of float
        Their gradient.
    m : list of float
        The first moment before the step.
    v : list of float
        The second moment before the step.
    t : int
        The step's number, from 1.
    learning_rate : float
        The step size eta.
    beta_1 : float
        The first moment's decay b1.
    beta_2 : float
        The second moment's decay b2.
    epsilon : float
        The denominator's floor eps.
    weight_decay : float, default=0.0
        The decoupled weight decay lambda.

    Returns
    -------
    p : list of float
        The parameters after the step.
    m : list of float
        The first moment after it.
    v : list of float
        The second moment after it.

    See Also
    --------
    sgd_step : A step of stochastic gradient descent.
    nnbp.Adam : The compiled optimizer.

    Examples
    --------
    >>> from nnbp import reference
    >>> p, m, v = reference.adam_step([1.0, 2.0], [0.5, -0.5], [0.0, 0.0], [0.0, 0.0], 1,
    ...                               0.1, 0.9, 0.999, 1e-8)
    >>> [round(x, 6) for x in p]
    [0.9, 2.1]
    """
    p = _decayed(p, learning_rate, weight_decay)
    m = [beta_1 * m_k + (1 - beta_1) * g_k for m_k, g_k in zip(m, g)]
    v = [beta_2 * v_k + (1 - beta_2) * (g_k * g_k) for v_k, g_k in zip(v, g)]
    eta_t = learning_rate * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    p = [p_k + -eta_t * m_k / (math.sqrt(v_k) + epsilon) for p_k, m_k, v_k in zip(p, m, v)]
    return p, m, v


def _decayed(p, learning_rate, weight_decay):
    """Decoupled weight decay (Loshchilov and Hutter): p = (1 - eta lambda) p."""
    return [(1 - learning_rate * weight_decay) * p_k for p_k in p]


def clip_grad_norm(g: Vector, max_norm: float) -> list[float]:
    """The gradient clipped to a largest global norm, as torch's ``clip_grad_norm_`` does.

    ::

        ||g|| = sqrt(sum_k g_k^2)           over all the parameters at once
        g = min(1, max_norm / (||g|| + 1e-6)) g

    The 1e-6 keeps the division finite for a zero gradient.

    Parameters
    ----------
    g : list of float
        The gradient of all the parameters, flat.
    max_norm : float
        The largest norm, > 0.

    Returns
    -------
    list of float
        The clipped gradient: g itself (a copy) if its norm is at most max_norm.

    See Also
    --------
    sgd_step, adam_step : The steps that take the clipped gradient.
    nnbp.SGD : The compiled optimizers' max_grad_norm.

    Examples
    --------
    >>> from nnbp import reference
    >>> [round(x, 6) for x in reference.clip_grad_norm([3.0, 4.0], 1.0)]
    [0.6, 0.8]
    """
    norm = math.sqrt(sum(g_k * g_k for g_k in g))
    coefficient = min(1.0, max_norm / (norm + 1e-6))
    return [coefficient * g_k for g_k in g]


def cosine_learning_rate(base: float, t: int, warmup: int, horizon: int) -> float:
    """The learning rate of update t = 0, 1, ... on a cosine schedule with linear warm-up.

    ::

        eta_t = eta (t + 1) / (W + 1)                              t < W
        eta_t = eta (1 + cos(pi (t - W) / (T - W))) / 2       W <= t < T
        eta_t = 0                                                  t >= T

    W updates warm up, T updates in all. It is torch's LinearLR(start_factor=1 /
    (W + 1), total_iters=W) followed by CosineAnnealingLR(T_max=T - W) (a
    SequentialLR with milestones=[W]), held at 0 after T.

    Parameters
    ----------
    base : float
        The learning rate eta at the top of the schedule.
    t : int
        The update's number, from 0.
    warmup : int
        W, the warm-up's updates, 0 <= W <= T.
    horizon : int
        T, the schedule's updates, >= 1.

    Returns
    -------
    float
        The learning rate eta_t of update t.

    See Also
    --------
    sgd_step, adam_step : The steps that take eta_t as their learning rate.
    nnbp.SGD : The compiled optimizers' schedule="cosine".

    Examples
    --------
    >>> from nnbp import reference
    >>> [reference.cosine_learning_rate(1.0, t, 1, 3) for t in range(4)]
    [0.5, 1.0, 0.5, 0.0]
    """
    if t < warmup:
        return base * (t + 1) / (warmup + 1)
    if t >= horizon:
        return 0.0
    return base * (1 + math.cos(math.pi * (t - warmup) / (horizon - warmup))) / 2


# ------------------------------------------------------------ input checks
# A wrong shape must raise, not be silently truncated by a loop bound.

def _check_name(name, valid, kind):
    if name not in valid:
        raise _unknown(kind, name, valid)


def _check_len(seq, n, what):
    if len(seq) != n:
        raise ValueError("%s has %d entries, expected %d" % (what, len(seq), n))


def _vector(v, what, n):
    _check_len(v, n, what)
    return [float(a) for a in v]


def _matrix(M, what, rows=None, columns=None):
    """Copy M to a list of rows of Python floats; check it is rectangular."""
    M = [[float(a) for a in row] for row in M]
    if rows is not None:
        _check_len(M, rows, what)
    if columns is None:
        if not M or not M[0]:
            raise ValueError("%s is empty" % what)
        columns = len(M[0])
    for i, row in enumerate(M):
        _check_len(row, columns, "%s[%d]" % (what, i))
    return M


def _network(weights, biases, X, activation, output):
    """Copy and check: W(l) is m_l x m_{l-1}, b(l) has m_l entries, every
    example has m_0 entries, and the names are known."""
    _check_name(activation, ACTIVATIONS, "activation")
    _check_name(output, OUTPUTS, "output")
    if len(weights) == 0:
        raise ValueError("weights: a network needs at least one layer")
    Ws = [_matrix(weights[0], "weights[0]")]
    for l in range(1, len(weights)):
        Ws.append(_matrix(weights[l], "weights[%d]" % l, columns=len(Ws[l - 1])))
        if not Ws[l]:
            raise ValueError("weights[%d] has no rows (units)" % l)
    bs = None
    if biases is not None:
        _check_len(biases, len(Ws), "biases")
        bs = [_vector(biases[l], "biases[%d]" % l, len(Ws[l])) for l in range(len(Ws))]
    X = _matrix(X, "X", columns=len(Ws[0][0]))
    return Ws, bs, X


def _sample_weights(sample_weight, n):
    """(s, S): s_i = 1 when sample_weight is None; S = sum_i s_i > 0."""
    if sample_weight is None:
        s = [1.0] * n
    else:
        s = _vector(sample_weight, "sample_weight", n)
        if any(not s_i >= 0.0 for s_i in s):  # also catches nan
            raise ValueError("sample_weight must be non-negative")
    S = sum(s)
    if not S > 0.0:
        raise ValueError("the sample weights sum to %r; need a positive sum "
                         "(and at least one example)" % S)
    return s, S


def _target_vector(y_i, m, output):
    """y_i as m floats; in [0, 1] for the logistic output, >= 0 for poisson."""
    t = _vector(y_i, "a target row of y", m)
    if output == "logistic" and any(not 0.0 <= t_k <= 1.0 for t_k in t):
        raise ValueError("logistic targets must lie in [0, 1], got %r" % (t,))
    if output == "poisson" and any(not 0.0 <= t_k for t_k in t):
        raise ValueError("poisson targets must be non-negative, got %r" % (t,))
    return t


def _label(y_i, m):
    """A class label: an integer in 0..m-1 (any int-like, e.g. numpy.int64)."""
    k = int(y_i)
    if k != y_i or not 0 <= k < m:
        raise ValueError("class label %r is not an integer in 0..%d" % (y_i, m - 1))
    return k
