"""Shared helpers: problems of every output kind, the relative error the tests use,
the Dask tests' cluster and the comparisons with torch autograd."""
import contextlib
import sys
import warnings

import numpy as np
import pytest

from nnbp import reference

DTYPES = [np.float32, np.float64]
# Largest relative error of the compiled path against the reference, by dtype.
REFERENCE_TOLERANCE = {np.float32: 1e-4, np.float64: 1e-10}


def relative_error(computed, expected):
    """max |computed - expected| / max |expected|: the error relative to the block's scale."""
    computed = np.asarray(computed, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert computed.shape == expected.shape, (computed.shape, expected.shape)
    scale = np.max(np.abs(expected))
    difference = np.max(np.abs(computed - expected))
    return difference / scale if scale > 0 else difference


def make_targets(output, n, n_outputs, rng):
    """Targets of the right kind: labels, 0/1 matrix, counts or real values."""
    if output == "softmax":
        return rng.integers(0, n_outputs, size=n)
    if output == "logistic":
        return rng.integers(0, 2, size=(n, n_outputs)).astype(np.float64)
    if output == "poisson":
        counts = rng.poisson(1.5, size=(n, n_outputs)).astype(np.float64)
        counts[0, 0] = 0.0   # always a zero count: the 0 log 0 = 0 case
        return counts
    return rng.normal(size=(n, n_outputs))


def reference_loss_and_grad(net, X, y, sample_weight=None):
    """The oracle's loss and gradient for net, flattened into params' layout."""
    weights = [np.asarray(W, np.float64).tolist() for W in net.weights]
    biases = [np.asarray(b, np.float64).tolist() for b in net.biases] if net.bias else None
    y = np.asarray(y)
    if net.output != "softmax" and y.ndim == 1:
        y = y.reshape(-1, 1)
    loss, dweights, dbiases = reference.loss_and_grad(
        weights, biases, np.asarray(X, np.float64).tolist(), y.tolist(), net.activation,
        net.output, sample_weight=None if sample_weight is None else list(sample_weight),
        alpha=net.alpha, negative_slope=net.negative_slope,
    )
    flat = [np.ravel(g) for g in dweights] + [np.ravel(g) for g in (dbiases or [])]
    return loss, np.concatenate(flat)


def reference_forward(net, X):
    weights = [np.asarray(W, np.float64).tolist() for W in net.weights]
    biases = [np.asarray(b, np.float64).tolist() for b in net.biases] if net.bias else None
    return np.array(reference.forward(weights, biases, np.asarray(X, np.float64).tolist(),
                                      net.activation, net.output,
                                      negative_slope=net.negative_slope))


def forget_attribute_names():
    """Empty CPython's attribute cache, which holds a reference to each name it caches.

    C code such as datetime's looks a method up by a name string made anew
    for each call (tzinfo.utcoffset, for the save date), and so does
    threadpoolctl (each BLAS function it calls), and the cache's 4096 slots
    keep such names alive until the slot is reused: bounded, but it grows
    over hundreds of calls, and none of it is the caller's.
    """
    getattr(sys, "_clear_internal_caches", sys._clear_type_cache)()   # the new name from 3.13


# ---------------------------------------------------------------- tasks for Dask's workers


def partition(index, rows, features):
    """Rows of a regression problem; the same for the same index, wherever it is made."""
    rng = np.random.default_rng(index)
    X = rng.normal(size=(rows, features))
    return X, np.sin(X.sum(axis=1)) + 0.1 * rng.normal(size=rows)


def first(pair):
    return pair[0]


def second(pair):
    return pair[1]


@contextlib.contextmanager
def two_worker_client():
    """A Client of a LocalCluster of 2 worker processes of 1 thread each, closed after."""
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def fit_quietly(model, *args, **kwargs):
    """model.fit(*args, **kwargs), without its ConvergenceWarning."""
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def torch_softmax_loss_and_grad(torch, net, X, y, hidden):
    """torch autograd's cross-entropy and its gradient, in nnbp's layout of the parameters,
    of net's weights on (X, y); hidden(l, z) makes hidden layer l's output from its z."""
    weights = [torch.tensor(W, requires_grad=True) for W in net.weights]
    biases = [torch.tensor(b, requires_grad=True) for b in net.biases]
    h = torch.tensor(X)
    for l, (W, b) in enumerate(zip(weights, biases)):
        h = h @ W.T + b
        if l + 1 < len(weights):
            h = hidden(l, h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    loss.backward()
    return loss.item(), np.concatenate([W.grad.numpy().ravel() for W in weights]
                                       + [b.grad.numpy().ravel() for b in biases])


def assert_as_torch(loss, grad, torch_loss, torch_grad, dtype):
    """nnbp's loss and gradient equal torch's to float32's or float64's rounding."""
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    assert loss == pytest.approx(torch_loss, rel=rtol)
    np.testing.assert_allclose(grad, torch_grad, rtol=0, atol=rtol * np.abs(torch_grad).max())
