"""Verifying gradients: finite differences (scipy) and the pure-Python reference.

The compiled gradient is compared block by block (W(l), b(l)) with

(a) central finite differences of the loss, taken with
    ``scipy.optimize.approx_fprime`` at steps +h and -h (their mean is the
    central difference, whose error is O(h^2) instead of O(h)). The loss is
    evaluated in float64 on a float64 twin of the network, whatever the
    network's dtype: scipy works in float64, and a float32 loss would drown
    the differences in its own rounding. The step is h = eps^(1/3) max(1, |p|),
    which balances rounding (eps/h) against truncation (h^2).
(b) the reference oracle (``nnbp.reference``), for networks small enough for
    its Python loops.

The error of a block is max |g - r| / max(max |r|, max |g|, noise / tolerance):
relative to the block's largest entry, except that differences within the
finite differences' own noise (eps^(2/3) max(1, |loss|)) are not counted.
Tolerances fit the dtype of the compiled gradient: a float32 gradient is
rounded at about 1e-7, a float64 one at about 1e-16.
"""
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
from scipy.optimize import approx_fprime

from nnbp import layers
from nnbp import reference as oracle
from nnbp._validation import check_float_dtype, check_real

#: Largest block error that passes, against finite differences and against the reference.
TOLERANCES = {
    np.dtype(np.float32): {"finite_difference": 1e-4, "reference": 1e-4},
    np.dtype(np.float64): {"finite_difference": 1e-6, "reference": 1e-10},
}

#: "auto" runs the reference when examples x parameters is at most this.
REFERENCE_BUDGET = 200_000

_EPS64 = np.finfo(np.float64).eps


@dataclass(frozen=True)
class BlockError:
    """Errors of one block of the gradient (W(l), b(l), or a layer's input)."""

    name: str
    size: int
    checked: int
    finite_difference: float
    reference: float | None


@dataclass
class GradientReport:
    """The outcome of a gradient check: per-block errors and a verdict."""

    subject: str
    dtype: str
    loss: float
    step: float
    tolerance: dict
    blocks: list = field(default_factory=list)
    loss_reference_error: float | None = None

    @property
    def finite_difference_error(self):
        """Largest block error against finite differences."""
        return max(block.finite_difference for block in self.blocks)

    @property
    def reference_error(self):
        """Largest block (or loss) error against the reference; None if it was not run."""
        errors = [block.reference for block in self.blocks if block.reference is not None]
        if self.loss_reference_error is not None:
            errors.append(self.loss_reference_error)
        return max(errors) if errors else None

    @property
    def passed(self):
        """True when every error is within its tolerance."""
        reference_error = self.reference_error
        return self.finite_difference_error <= self.tolerance["finite_difference"] and (
            reference_error is None or reference_error <= self.tolerance["reference"]
        )

    def __bool__(self):
        return self.passed

    def __str__(self):
        fd_tol, ref_tol = self.tolerance["finite_difference"], self.tolerance["reference"]
        lines = [
            f"gradient check of {self.subject}",
            f"  dtype {self.dtype}, loss {self.loss:.6g}, finite-difference step {self.step:.2g}",
            f"  {'block':<10}{'size':>8}{'differenced':>13}{'finite diff':>14}{'reference':>14}",
        ]
        for block in self.blocks:
            ref = "-" if block.reference is None else f"{block.reference:.2e}"
            lines.append(
                f"  {block.name:<10}{block.size:>8}{block.checked:>13}"
                f"{block.finite_difference:>14.2e}{ref:>14}"
            )
        if self.loss_reference_error is not None:
            lines.append(f"  {'loss':<10}{1:>8}{'':>13}{'':>14}{self.loss_reference_error:>14.2e}")
        ref = "not run" if self.reference_error is None else f"{self.reference_error:.2e}"
        lines.append(
            f"  largest: finite diff {self.finite_difference_error:.2e} (tolerance {fd_tol:.0e}),"
            f" reference {ref} (tolerance {ref_tol:.0e})"
        )
        lines.append(f"  {'PASSED' if self.passed else 'FAILED'}")
        return "\n".join(lines)


def block_error(computed, expected, noise=0.0, tolerance=1.0):
    """max |computed - expected| relative to the block's scale (see the module)."""
    computed = np.ravel(np.asarray(computed, dtype=np.float64))
    expected = np.ravel(np.asarray(expected, dtype=np.float64))
    difference = np.max(np.abs(computed - expected))
    scale = max(np.max(np.abs(expected)), np.max(np.abs(computed)), noise / tolerance)
    if scale == 0:
        return float(difference)
    return float(difference / scale)


def central_differences(function, x0, step, coordinates=None):
    """The partial derivatives of function at x0 along the given coordinates (all if None).

    Central differences with steps step * max(1, |x0_k|).
    """
    coordinates = np.arange(x0.size) if coordinates is None else coordinates
    x = x0.copy()

    def along_coordinates(values):
        x[coordinates] = values
        return function(x)

    start = x0[coordinates]
    h = step * np.maximum(1.0, np.abs(start))
    # approx_fprime takes forward differences; the mean of the ones at +h and
    # -h is (f(x + h) - f(x - h)) / 2h.
    return 0.5 * (approx_fprime(start, along_coordinates, h)
                  + approx_fprime(start, along_coordinates, -h))


def _sample_coordinates(blocks, sample, seed):
    """Indices into theta: all of them, or at most sample drawn at random from each block."""
    if sample is None:
        return None
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ValueError(f"sample must be None or a positive int, got {sample!r}")
    rng = np.random.default_rng(seed)
    chosen = [
        np.sort(rng.choice(np.arange(where.start, where.stop),
                           size=min(sample, where.stop - where.start), replace=False))
        for _, where, _ in blocks
    ]
    return np.concatenate(chosen)


def _verify(subject, dtype, loss, theta, function, blocks, reference_result, step, tolerance,
            coordinates=None):
    """The report comparing analytic blocks with finite differences and the reference.

    blocks: [(name, slice of theta, analytic gradient of that block)];
    reference_result: None, or (reference loss, [reference gradient per block]);
    coordinates: the indices of theta to difference (None: all).
    """
    dtype = check_float_dtype(dtype)
    tolerance = dict(TOLERANCES[dtype]) if tolerance is None else {
        "finite_difference": check_real("tolerance", tolerance, strictly_above=0),
        "reference": check_real("tolerance", tolerance, strictly_above=0),
    }
    step = _EPS64 ** (1 / 3) if step is None else check_real("step", step, strictly_above=0)
    coordinates = np.arange(theta.size) if coordinates is None else coordinates
    numeric = central_differences(function, theta, step, coordinates)
    noise = _EPS64 ** (2 / 3) * max(1.0, abs(loss))
    report = GradientReport(subject, dtype.name, float(loss), step, tolerance)
    for k, (name, where, analytic) in enumerate(blocks):
        in_block = (coordinates >= where.start) & (coordinates < where.stop)
        fd_error = block_error(np.ravel(analytic)[coordinates[in_block] - where.start],
                               numeric[in_block], noise, tolerance["finite_difference"])
        ref_error = None
        if reference_result is not None:
            ref_error = block_error(analytic, reference_result[1][k])
        report.blocks.append(
            BlockError(name, np.size(analytic), int(in_block.sum()), fd_error, ref_error))
    if reference_result is not None:
        report.loss_reference_error = block_error(loss, reference_result[0])
    return report


def _reference_mode(reference):
    """reference as given, if it is True, False or "auto"; else a ValueError."""
    if reference != "auto" and not isinstance(reference, bool):
        raise ValueError(f"reference must be True, False or 'auto', got {reference!r}")
    return reference


def _run_reference(reference, cost):
    """Whether to run the oracle, whose time grows with cost (examples x parameters)."""
    return cost <= REFERENCE_BUDGET if reference == "auto" else reference


def check_gradients(net, X, y, sample_weight=None, *, step=None, tolerance=None,
                    reference="auto", sample=None, seed=0):
    """Verify ``net.loss_and_grad`` on (X, y) by finite differences and the reference.

    Finite differences cost two loss evaluations per parameter: for a large
    network, ``sample=k`` differences at most k parameters of each block,
    drawn at random (from ``seed``). Returns a GradientReport;
    ``report.passed`` is the verdict and ``str(report)`` the per-block table.
    The network is not modified. X may be sparse, as for the network: the
    loss is differenced on the sparse path, and the reference gets X dense.
    """
    _reference_mode(reference)
    coordinates = _sample_coordinates(
        [(name, where, None) for name, where in net.block_slices()], sample, seed)
    loss, grad = net.loss_and_grad(X, y, sample_weight)
    # The twin sees exactly the numbers the network saw: X and the weights
    # rounded to its dtype, then widened (exactly) to float64.
    X_net, _, _, weights_net, _ = net._check_data(X, y, sample_weight)
    twin = net.copy(np.float64)
    X64, targets, labels, weights64, total = twin._check_data(X_net, y, weights_net)
    theta = twin.params.copy()

    def loss64(params):
        twin.params = params
        return twin._compiled_loss(X64, targets, labels, weights64, total, None)

    blocks = [(name, where, grad[where]) for name, where in net.block_slices()]
    reference_result = None
    if _run_reference(reference, X64.shape[0] * net.n_params):
        biases = None if not net.bias else [b.tolist() for b in twin.biases]
        ref_loss, dweights, dbiases = oracle.loss_and_grad(
            [W.tolist() for W in twin.weights], biases, _dense(X64).tolist(),
            (labels if labels is not None else targets).tolist(), net.activation, net.output,
            sample_weight=None if weights64 is None else weights64.tolist(),
            alpha=net.alpha, negative_slope=net.negative_slope,
        )
        reference_result = (ref_loss, [np.ravel(g) for g in dweights + (dbiases or [])])
    return _verify(repr(net), net.dtype, loss, theta, loss64, blocks, reference_result, step,
                   tolerance, coordinates)


def _dense(X):
    """X as a dense array (the reference's loops index it)."""
    return X.toarray() if scipy.sparse.issparse(X) else X


def check_layer_gradients(X, W, b=None, activation="relu", negative_slope=0.01, *, seed=0,
                          step=None, tolerance=None, reference="auto"):
    """Verify one dense layer's backward pass (dW, db, dX) for A = phi(X W^T + b).

    The scalar differentiated is sum(R * A) for a fixed random R (drawn from
    seed), so that dL/dA = R exercises every entry. dtype follows W. A sparse
    X (the first layer's kernels on CSR rows) is an input, not a variable:
    there is no dX to check.
    """
    _reference_mode(reference)
    Z, A = layers.dense_forward(X, W, b, activation, negative_slope)
    R = np.random.default_rng(seed).standard_normal(A.shape).astype(A.dtype)
    dW, db, dX = layers.dense_backward(X, W, Z, R, activation, negative_slope)
    sparse = dX is None
    if sparse:
        X_fixed = layers._layer_inputs(X, W, None)[0]
    shapes = [("W", dW)] + ([("b", db)] if b is not None else []) + (
        [] if sparse else [("X", dX)])
    sizes = np.cumsum([0] + [g.size for _, g in shapes])
    blocks = [(name, slice(sizes[k], sizes[k + 1]), g) for k, (name, g) in enumerate(shapes)]
    # Difference at the values the layer computed with: rounded to its dtype.
    inputs = [array for array in (W, b, None if sparse else X) if array is not None]
    theta = np.concatenate([np.asarray(array).astype(A.dtype).ravel() for array in inputs])
    theta = theta.astype(np.float64)
    R64 = R.astype(np.float64)

    def split(params):
        parts = {name: params[where].reshape(g.shape) for name, where, g in blocks}
        return (parts["W"], parts.get("b"),
                X_fixed.astype(np.float64) if sparse else parts["X"])

    def scalar(params):
        W_, b_, X_ = split(params)
        return float(np.sum(R64 * layers.dense_forward(X_, W_, b_, activation, negative_slope)[1]))

    loss = float(np.sum(R64 * A))
    reference_result = None
    if _run_reference(reference, Z.size * dW.shape[1]):
        W_, b_, X_ = split(theta)
        X_ = _dense(X_)
        Zr, Ar = oracle.dense_forward(W_.tolist(), None if b_ is None else b_.tolist(),
                                      X_.tolist(), activation, negative_slope)
        dWr, dbr, dXr = oracle.dense_backward(W_.tolist(), X_.tolist(), Zr, R64.tolist(),
                                              activation, negative_slope)
        grads = {"W": np.ravel(dWr), "b": np.ravel(dbr), "X": np.ravel(dXr)}
        ref_loss = sum(r * a for row_r, row_a in zip(R64.tolist(), Ar) for r, a in zip(row_r, row_a))
        reference_result = (ref_loss, [grads[name] for name, _, _ in blocks])
    subject = (f"dense layer {dW.shape[1]} -> {dW.shape[0]}, {activation}"
               + (", sparse input" if sparse else ""))
    return _verify(subject, A.dtype, loss, theta, scalar, blocks, reference_result, step, tolerance)


def check_loss_gradients(output, Z, y, sample_weight=None, *, step=None, tolerance=None,
                         reference="auto"):
    """Verify one output loss's gradient dL/dZ of the logits Z (dtype follows Z)."""
    _reference_mode(reference)
    loss, dZ = layers.output_loss(output, Z, y, sample_weight)
    Z64, targets, labels, weights64, _ = layers._loss_inputs(output, np.asarray(Z, np.float64),
                                                             y, sample_weight)
    theta = Z64.ravel().copy()

    def scalar(params):
        return layers.output_loss(output, params.reshape(dZ.shape), y, weights64)[0]

    reference_result = None
    if _run_reference(reference, dZ.size):
        ref_loss, ref_dZ = oracle.output_loss(
            output, Z64.tolist(), (labels if labels is not None else targets).tolist(),
            None if weights64 is None else weights64.tolist())
        reference_result = (ref_loss, [np.ravel(ref_dZ)])
    blocks = [("Z", slice(0, dZ.size), dZ)]
    return _verify(f"{output} loss on {dZ.shape[0]}x{dZ.shape[1]} logits", dZ.dtype, loss, theta,
                   scalar, blocks, reference_result, step, tolerance)
