"""One dense layer, one activation, one output loss: the compiled kernels on their own.

These are the pieces that ``Network`` chains together, exposed for testing
and for ``check_layer_gradients`` / ``check_loss_gradients``. The dtype
follows the layer's weights (``W``) or the logits (``Z``): float32 stays
float32; anything else that is not float32 is computed in float64. A
layer's X may be a scipy sparse matrix: the first layer's kernels on CSR
rows then compute it, and it has no dX.
"""
import numpy as np
import scipy.sparse

from nnbp import _core
from nnbp._validation import (check_choice, check_loss_data, check_matrix, check_real,
                              check_sparse_matrix)

ACTIVATIONS = tuple(_core.ACTIVATIONS)
OUTPUTS = tuple(_core.OUTPUTS)


def _dtype_of(array):
    return np.float32 if np.asarray(array).dtype == np.float32 else np.float64


def activation(name, Z, negative_slope=0.01):
    """A = phi(Z), elementwise."""
    check_choice("activation", name, ACTIVATIONS)
    dtype = _dtype_of(Z)
    Z = check_matrix("Z", Z, dtype)
    A = np.empty_like(Z)
    _core.activation_forward(_core.ACTIVATIONS[name], check_real("negative_slope", negative_slope),
                             Z, A)
    return A


def activation_backward(name, Z, dA, negative_slope=0.01):
    """dA * phi'(Z), elementwise."""
    check_choice("activation", name, ACTIVATIONS)
    negative_slope = check_real("negative_slope", negative_slope)
    dtype = _dtype_of(Z)
    Z = check_matrix("Z", Z, dtype)
    D = check_matrix("dA", dA, dtype, Z.shape).copy()
    A = np.empty_like(Z)
    _core.activation_forward(_core.ACTIVATIONS[name], negative_slope, Z, A)
    _core.activation_backward(_core.ACTIVATIONS[name], negative_slope, Z, A, D)
    return D


def _layer_inputs(X, W, b):
    dtype = _dtype_of(W)
    W = check_matrix("W", W, dtype)
    X = check_sparse_matrix("X", X, dtype) if scipy.sparse.issparse(X) else check_matrix(
        "X", X, dtype)
    if X.shape[1] != W.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, but W has {W.shape[1]} columns")
    if b is not None:
        b = np.asarray(b)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},), got {b.shape}")
        b = check_matrix("b", b.reshape(1, -1), dtype).reshape(-1)
    return X, W, b


def dense_forward(X, W, b=None, activation="relu", negative_slope=0.01):
    """(Z, A) with Z = X W^T + b and A = phi(Z); W of shape (fan_out, fan_in)."""
    check_choice("activation", activation, ACTIVATIONS)
    X, W, b = _layer_inputs(X, W, b)
    Z = np.empty((X.shape[0], W.shape[0]), dtype=W.dtype)
    A = np.empty_like(Z)
    forward = _core.dense_forward if isinstance(X, np.ndarray) else _core.csr_layer_forward
    forward(X, W, b, _core.ACTIVATIONS[activation], check_real("negative_slope", negative_slope),
            Z, A)
    return Z, A


def dense_backward(X, W, Z, dA, activation="relu", negative_slope=0.01):
    """(dW, db, dX) from dA = dL/dA: D = dA * phi'(Z), dW = D^T X, db = sum_i D_i, dX = D W.

    dX is None for a sparse X.
    """
    check_choice("activation", activation, ACTIVATIONS)
    negative_slope = check_real("negative_slope", negative_slope)
    X, W, _ = _layer_inputs(X, W, None)
    shape = (X.shape[0], W.shape[0])
    Z = check_matrix("Z", Z, W.dtype, shape)
    D = check_matrix("dA", dA, W.dtype, shape).copy()
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


def _loss_inputs(output, Z, y, sample_weight):
    """(Z, targets, labels, sample_weight, weight_total), checked for the compiled core."""
    check_choice("output", output, OUTPUTS)
    Z = check_matrix("Z", Z, _dtype_of(Z))
    return (Z,) + check_loss_data(output, y, sample_weight, Z.shape[0], Z.shape[1], Z.dtype)


def output_function(output, Z):
    """f = phi_out(Z): Z itself, sigmoid(Z), the row-wise softmax of Z, or e^Z."""
    check_choice("output", output, OUTPUTS)
    F = check_matrix("Z", Z, _dtype_of(Z)).copy()
    _core.output_activation(_core.OUTPUTS[output], F)
    return F


def output_loss(output, Z, y, sample_weight=None):
    """(loss, dZ): the (weighted) mean loss of the logits Z, and dZ = s_i (f_i - t_i) / S."""
    Z, targets, labels, sample_weight, total = _loss_inputs(output, Z, y, sample_weight)
    dZ = np.empty_like(Z)
    loss = _core.output_loss(_core.OUTPUTS[output], Z, targets, labels, sample_weight,
                             1.0 / total, dZ)
    return loss / total, dZ
