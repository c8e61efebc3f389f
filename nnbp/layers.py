"""One dense layer, one activation, one output loss: the compiled kernels on their own.

These are the pieces that ``Network`` chains together, exposed for testing
and for ``check_layer_gradients`` / ``check_loss_gradients``. The dtype
follows the layer's weights (``W``) or the logits (``Z``): float32 stays
float32; anything else that is not float32 is computed in float64. A
layer's X may be a scipy sparse matrix: the first layer's kernels on CSR
rows then compute it, and it has no dX.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse

from nnbp import _core
from nnbp._validation import (check_choice, check_loss_data, check_matrix, check_real,
                              check_sparse_matrix)

__all__ = [
    "ACTIVATIONS",
    "OUTPUTS",
    "activation",
    "activation_backward",
    "dense_backward",
    "dense_forward",
    "output_function",
    "output_loss",
]

#: The hidden activations, by name.
ACTIVATIONS = tuple(_core.ACTIVATIONS)
#: The outputs, each with its canonical loss, by name.
OUTPUTS = tuple(_core.OUTPUTS)


def _matrix(name: str, values: object, dtype: npt.DTypeLike,
            shape: tuple[int, ...] | None = None) -> np.ndarray:
    """check_matrix's array, with its type: nnbp._validation has no type hints."""
    return check_matrix(name, values, dtype, shape)


def _dtype_of(array: npt.ArrayLike) -> type[np.floating]:
    return np.float32 if np.asarray(array).dtype == np.float32 else np.float64


def activation(name: str, Z: npt.ArrayLike, negative_slope: float = 0.01) -> np.ndarray:
    """The activation A = phi(Z), elementwise, by the compiled kernels.

    The kernels that training runs, with their conventions: relu's and
    leaky_relu's kink at z = 0 takes the z <= 0 branch; logistic,
    softplus and silu are computed without overflow for any z; gelu's Phi(z)
    is (1 + erf(z / sqrt 2)) / 2 down to z = -2 sqrt 2, and erfc(-z / sqrt 2) / 2
    below, where 1 + erf would cancel: relatively accurate in the lower tail
    too (about 4 eps z^2 in float64; within an ulp in float32).

    Parameters
    ----------
    name : str
        The activation, one of ACTIVATIONS.
    Z : array-like of shape (n_samples, n_units)
        The units' inputs, float32 or float64 (anything else: float64).
    negative_slope : float, default=0.01
        The slope of leaky_relu for z < 0.

    Returns
    -------
    ndarray of shape (n_samples, n_units)
        The activations phi(Z), of Z's dtype.

    See Also
    --------
    activation_backward : The activation's backward pass.
    nnbp.reference.activation : The pure-Python reference, for one scalar.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import layers
    >>> layers.activation("relu", np.array([[-1.0, 0.0, 2.0]]))
    array([[0., 0., 2.]])
    """
    check_choice("activation", name, ACTIVATIONS)
    dtype = _dtype_of(Z)
    Z = _matrix("Z", Z, dtype)
    A = np.empty_like(Z)
    _core.activation_forward(_core.ACTIVATIONS[name], check_real("negative_slope", negative_slope),
                             Z, A)
    return A


def activation_backward(name: str, Z: npt.ArrayLike, dA: npt.ArrayLike,
                        negative_slope: float = 0.01) -> np.ndarray:
    """The activation's backward pass dA * phi'(Z), elementwise, by the compiled kernels.

    The gradient that flows back through the activation: given dA =
    dloss/dA at A = phi(Z), dloss/dZ.

    Parameters
    ----------
    name : str
        The activation, one of ACTIVATIONS.
    Z : array-like of shape (n_samples, n_units)
        The units' inputs, float32 or float64 (anything else: float64).
    dA : array-like of shape (n_samples, n_units)
        The gradient with respect to the units' outputs; not modified.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z < 0.

    Returns
    -------
    ndarray of shape (n_samples, n_units)
        The gradient dA * phi'(Z), of Z's dtype.

    See Also
    --------
    activation : The activation's forward pass.
    nnbp.reference.activation_backward : The pure-Python reference, for one scalar.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import layers
    >>> Z = np.array([[-1.0, 0.0, 2.0]])
    >>> layers.activation_backward("relu", Z, np.ones_like(Z))
    array([[0., 0., 1.]])
    """
    check_choice("activation", name, ACTIVATIONS)
    negative_slope = check_real("negative_slope", negative_slope)
    dtype = _dtype_of(Z)
    Z = _matrix("Z", Z, dtype)
    D = _matrix("dA", dA, dtype, Z.shape).copy()
    A = np.empty_like(Z)
    _core.activation_forward(_core.ACTIVATIONS[name], negative_slope, Z, A)
    _core.activation_backward(_core.ACTIVATIONS[name], negative_slope, Z, A, D)
    return D


def _layer_inputs(X: object, W: npt.ArrayLike, b: npt.ArrayLike | None
                  ) -> tuple[np.ndarray | scipy.sparse.csr_matrix, np.ndarray, np.ndarray | None]:
    """(X, W, b) checked, in W's dtype (float32 or float64)."""
    dtype = _dtype_of(W)
    W = _matrix("W", W, dtype)
    X = check_sparse_matrix("X", X, dtype) if scipy.sparse.issparse(X) else _matrix(
        "X", X, dtype)
    if X.shape[1] != W.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, but W has {W.shape[1]} columns")
    if b is not None:
        b = np.asarray(b)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},), got {b.shape}")
        b = _matrix("b", b.reshape(1, -1), dtype).reshape(-1)
    return X, W, b


def dense_forward(X: npt.ArrayLike | scipy.sparse.spmatrix, W: npt.ArrayLike,
                  b: npt.ArrayLike | None = None, activation: str = "relu",
                  negative_slope: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """One dense layer's forward pass: Z = X W^T + b and A = phi(Z).

    Row i of X is an example, row u of W a unit: Z[i, u] = sum_j X[i, j]
    W[u, j] + b[u]. The computation runs in W's dtype, by the compiled core's
    BLAS products and kernels (CSR kernels for a sparse X).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, fan_in)
        The layer's input rows.
    W : array-like of shape (fan_out, fan_in)
        The weights, float32 or float64 (anything else: float64).
    b : array-like of shape (fan_out,) or None, default=None
        The biases; None: none.
    activation : str, default="relu"
        The activation phi, one of ACTIVATIONS.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z < 0.

    Returns
    -------
    Z : ndarray of shape (n_samples, fan_out)
        The units' inputs, of W's dtype.
    A : ndarray of shape (n_samples, fan_out)
        Their outputs, phi(Z).

    Raises
    ------
    ValueError
        If the shapes do not agree, or an input is not finite.

    See Also
    --------
    dense_backward : The layer's backward pass.
    nnbp.reference.dense_forward : The pure-Python reference.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import layers
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> W = np.array([[0.5, -0.5], [1.0, 0.0], [0.0, 1.0]])
    >>> Z, A = layers.dense_forward(X, W, np.array([0.0, 0.0, -3.0]), "relu")
    >>> A
    array([[0., 1., 0.],
           [0., 3., 1.]])
    """
    check_choice("activation", activation, ACTIVATIONS)
    X, W, b = _layer_inputs(X, W, b)
    Z = np.empty((X.shape[0], W.shape[0]), dtype=W.dtype)
    A = np.empty_like(Z)
    forward = _core.dense_forward if isinstance(X, np.ndarray) else _core.csr_layer_forward
    forward(X, W, b, _core.ACTIVATIONS[activation], check_real("negative_slope", negative_slope),
            Z, A)
    return Z, A


def dense_backward(X: npt.ArrayLike | scipy.sparse.spmatrix, W: npt.ArrayLike,
                   Z: npt.ArrayLike, dA: npt.ArrayLike, activation: str = "relu",
                   negative_slope: float = 0.01
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One dense layer's backward pass: the gradients of W, b and X from dA = dL/dA.

    D = dA * phi'(Z) elementwise, then dW = D^T X, db = the column sums of D,
    and dX = D W: the three products of backpropagation, in W's dtype.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, fan_in)
        The layer's input rows.
    W : array-like of shape (fan_out, fan_in)
        The weights, float32 or float64 (anything else: float64).
    Z : array-like of shape (n_samples, fan_out)
        The units' inputs, as ``dense_forward`` gave them.
    dA : array-like of shape (n_samples, fan_out)
        The gradient with respect to the units' outputs; not modified.
    activation : str, default="relu"
        The activation phi, one of ACTIVATIONS.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z < 0.

    Returns
    -------
    dW : ndarray of shape (fan_out, fan_in)
        The gradient of the weights.
    db : ndarray of shape (fan_out,)
        The gradient of the biases.
    dX : ndarray of shape (n_samples, fan_in) or None
        The gradient of the input rows; None for a sparse X.

    See Also
    --------
    dense_forward : The layer's forward pass.
    nnbp.check_layer_gradients : This backward pass checked by finite differences.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import layers
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> W = np.array([[0.5, -0.5], [1.0, 0.0], [0.0, 1.0]])
    >>> Z, A = layers.dense_forward(X, W, np.array([0.0, 0.0, -3.0]), "relu")
    >>> dW, db, dX = layers.dense_backward(X, W, Z, np.ones_like(A), "relu")
    >>> db
    array([0., 2., 1.])
    """
    check_choice("activation", activation, ACTIVATIONS)
    negative_slope = check_real("negative_slope", negative_slope)
    X, W, _ = _layer_inputs(X, W, None)
    shape = (X.shape[0], W.shape[0])
    Z = _matrix("Z", Z, W.dtype, shape)
    D = _matrix("dA", dA, W.dtype, shape).copy()
    A = np.empty_like(Z)
    _core.activation_forward(_core.ACTIVATIONS[activation], negative_slope, Z, A)
    dW, db = np.empty_like(W), np.empty(W.shape[0], W.dtype)
    if not isinstance(X, np.ndarray):
        _core.csr_layer_backward(X, Z, A, _core.ACTIVATIONS[activation], negative_slope, D, dW,
                                 db)
        return dW, db, None
    dX = np.empty_like(X)
    _core.dense_backward(X, W, Z, A, _core.ACTIVATIONS[activation], negative_slope, D, dW, db, dX)
    return dW, db, dX


def _loss_inputs(output: str, Z: npt.ArrayLike, y: npt.ArrayLike,
                 sample_weight: npt.ArrayLike | None) -> tuple:
    """(Z, targets, labels, sample_weight, weight_total), checked for the compiled core."""
    check_choice("output", output, OUTPUTS)
    Z = _matrix("Z", Z, _dtype_of(Z))
    return (Z,) + check_loss_data(output, y, sample_weight, Z.shape[0], Z.shape[1], Z.dtype)


def output_function(output: str, Z: npt.ArrayLike) -> np.ndarray:
    """The network's output f = phi_out(Z) from the logits Z.

    Z itself (squared), sigmoid(Z) (logistic), the softmax of each row
    (softmax) or e^Z (poisson), by the compiled kernels.

    Parameters
    ----------
    output : str
        The output, one of OUTPUTS.
    Z : array-like of shape (n_samples, n_outputs)
        The logits, float32 or float64 (anything else: float64); not modified.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
        The outputs phi_out(Z), of Z's dtype.

    See Also
    --------
    output_loss : The output's canonical loss.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import layers
    >>> layers.output_function("softmax", np.array([[0.0, np.log(3.0)]])).round(3)
    array([[0.25, 0.75]])
    """
    check_choice("output", output, OUTPUTS)
    F = _matrix("Z", Z, _dtype_of(Z)).copy()
    _core.output_activation(_core.OUTPUTS[output], F)
    return F


def output_loss(output: str, Z: npt.ArrayLike, y: npt.ArrayLike,
                sample_weight: npt.ArrayLike | None = None) -> tuple[float, np.ndarray]:
    """The output's canonical loss of the logits Z, and its gradient dZ.

    The loss is the (weighted) mean (1/S) sum_i s_i loss(y_i, f(Z_i)), S =
    sum_i s_i, computed from Z (log-sum-exp, softplus: no logit gives inf or
    NaN); its gradient is dZ_i = s_i (f_i - t_i) / S, t_i the target (one-hot
    for softmax). No penalty is added.

    Parameters
    ----------
    output : str
        The output and its loss, one of OUTPUTS.
    Z : array-like of shape (n_samples, n_outputs)
        The logits, float32 or float64 (anything else: float64).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets: class indices for softmax, else one per output.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        The rows' weights s_i; None: all 1.

    Returns
    -------
    loss : float
        The mean loss.
    dZ : ndarray of shape (n_samples, n_outputs)
        Its gradient with respect to Z, of Z's dtype.

    See Also
    --------
    output_function : The output's activation.
    nnbp.check_loss_gradients : This gradient checked by finite differences.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import layers
    >>> loss, dZ = layers.output_loss("softmax", np.array([[0.0, 0.0]]), [1])
    >>> round(loss, 4), dZ
    (0.6931, array([[ 0.5, -0.5]]))
    """
    Z, targets, labels, sample_weight, total = _loss_inputs(output, Z, y, sample_weight)
    dZ = np.empty_like(Z)
    loss = _core.output_loss(_core.OUTPUTS[output], Z, targets, labels, sample_weight,
                             1.0 / total, dZ)
    return loss / total, dZ
