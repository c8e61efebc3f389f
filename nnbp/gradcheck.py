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

A difference that disagrees with the gradient is not always a wrong gradient:
it is not to be trusted where its step moves a relu or leaky_relu unit across
its kink at z = 0 (the loss is not differentiable there, and the difference
averages the slopes of both sides), or where the loss is too curved for the
step (its truncation error, estimated from the differences at h and h/2, is
as large as the disagreement). Such parameters are counted in the report, per
block and per reason, and left out of the finite-difference error: the
verdict rests on the reference and on the differences that can be trusted.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
from scipy.optimize import approx_fprime

from nnbp import layers
from nnbp import reference as oracle
from nnbp._validation import (check_float_dtype, check_loss_data, check_matrix, check_real,
                              check_sparse_matrix)

#: Largest block error that passes, against finite differences and against the reference.
TOLERANCES = {
    np.dtype(np.float32): {"finite_difference": 1e-4, "reference": 1e-4},
    np.dtype(np.float64): {"finite_difference": 1e-6, "reference": 1e-10},
}

#: "auto" runs the reference when examples x parameters is at most this.
REFERENCE_BUDGET = 200_000

#: Parameters of each block that check_gradients (and ``nnbp gradcheck``) differences by
#: default, drawn at random: two loss evaluations each, so a large network is checked in
#: seconds. None differences them all.
DEFAULT_SAMPLE = 200

#: Activations with a kink at z = 0, where a finite difference across it means nothing.
KINKED_ACTIVATIONS = ("relu", "leaky_relu")

_EPS64 = np.finfo(np.float64).eps


@dataclass(frozen=True)
class BlockError:
    """Errors of one block of the gradient (W(l), b(l), or a layer's input).

    checked parameters of the block's size were differenced: those at
    indices (flat, within the block). Of them, at_kinks had a step that
    moves a relu or leaky_relu unit across its kink, and too_curved a
    difference whose truncation error explains its disagreement; neither
    counts in finite_difference, the error of the others.
    """

    name: str
    size: int
    checked: int
    finite_difference: float
    reference: float | None
    indices: tuple = field(default=(), repr=False)
    at_kinks: int = 0
    too_curved: int = 0

    @property
    def trusted(self):
        """The differenced parameters whose finite differences were compared."""
        return self.checked - self.at_kinks - self.too_curved


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
    sample: int | None = None
    seed: int | None = None

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
            fd = f"{block.finite_difference:.2e}" if block.trusted else "-"
            lines.append(
                f"  {block.name:<10}{block.size:>8}{block.checked:>13}{fd:>14}{ref:>14}"
            )
        if self.loss_reference_error is not None:
            lines.append(f"  {'loss':<10}{1:>8}{'':>13}{'':>14}{self.loss_reference_error:>14.2e}")
        ref = "not run" if self.reference_error is None else f"{self.reference_error:.2e}"
        lines.append(
            f"  largest: finite diff {self.finite_difference_error:.2e} (tolerance {fd_tol:.0e}),"
            f" reference {ref} (tolerance {ref_tol:.0e})"
        )
        lines += self._notes()
        lines.append(f"  {'PASSED' if self.passed else 'FAILED'}")
        return "\n".join(lines)

    def _notes(self):
        """Lines on what was sampled and which differences were not trusted, where it applies."""
        notes = []
        if any(block.checked < block.size for block in self.blocks):
            notes.append(f"  differenced: at most {self.sample} parameters of each block, drawn "
                         f"at random (seed {self.seed}); report.blocks[k].indices lists them")
        reasons = (("at_kinks", "their step moves a hidden unit across its kink at z = 0"),
                   ("too_curved", "the loss is too curved for the step (the differences at "
                                  "steps h and h/2 differ as much as from the gradient)"))
        for attribute, why in reasons:
            counts = [(block.name, getattr(block, attribute)) for block in self.blocks
                      if getattr(block, attribute)]
            if counts:
                where = ", ".join(f"{count} in {name}" for name, count in counts)
                notes.append(f"  not judged by finite differences: {where}: {why}")
        if any(block.trusted < block.checked for block in self.blocks):
            notes.append("  those are judged by the reference" if self.reference_error is not None
                         else "  the reference was not run: those are not verified "
                              "(reference=True runs it)")
        return notes


def block_error(computed, expected, noise=0.0, tolerance=1.0):
    """max |computed - expected| relative to the block's scale (see the module)."""
    computed = np.ravel(np.asarray(computed, dtype=np.float64))
    expected = np.ravel(np.asarray(expected, dtype=np.float64))
    difference = np.max(np.abs(computed - expected))
    scale = max(np.max(np.abs(expected)), np.max(np.abs(computed)), noise / tolerance)
    if scale == 0:
        return float(difference)
    return float(difference / scale)


def _steps(start, step):
    """The finite-difference step of each coordinate at start: step * max(1, |start|)."""
    return step * np.maximum(1.0, np.abs(start))


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
    h = _steps(start, step)
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


@dataclass
class _Problem:
    """What _verify compares: a gradient, block by block, with a function's differences.

    blocks: [(name, slice of theta, analytic gradient of that block)], covering theta;
    function: the float64 scalar of a parameter vector, whose gradient at theta
    the blocks hold; reference_result: None, or (reference loss, [reference
    gradient per block]); branches: None, or a function of a parameter vector
    giving, for each unit with a kink at z = 0 and each row, whether z > 0.
    """

    subject: str
    dtype: object
    loss: float
    theta: np.ndarray
    function: Callable
    blocks: list
    reference_result: tuple | None = None
    branches: Callable | None = None

    def analytic(self):
        """The analytic gradient as one float64 vector in theta's layout."""
        flat = np.empty(self.theta.size)
        for _, where, gradient in self.blocks:
            flat[where] = np.ravel(gradient)
        return flat


def _crosses_a_kink(problem, coordinates, step):
    """For each coordinate: whether its steps +h or -h move a unit across its kink."""
    start = problem.branches(problem.theta)
    params = problem.theta.copy()
    crossed = np.zeros(coordinates.size, dtype=bool)
    for i, (k, h) in enumerate(zip(coordinates, _steps(problem.theta[coordinates], step))):
        for moved in (problem.theta[k] + h, problem.theta[k] - h):
            params[k] = moved
            crossed[i] |= not np.array_equal(problem.branches(params), start)
        params[k] = problem.theta[k]
    return crossed


def _distrust(problem, coordinates, numeric, analytic, step):
    """Why each finite difference that disagrees with the gradient cannot judge it.

    Returns one reason per coordinate: "kink", "curved", or "" where the
    disagreement stands (a wrong gradient).
    """
    reasons = np.full(coordinates.size, "", dtype=object)
    if problem.branches is not None and coordinates.size:
        reasons[_crosses_a_kink(problem, coordinates, step)] = "kink"
    rest = np.flatnonzero(reasons == "")
    if rest.size:
        half = central_differences(problem.function, problem.theta, step / 2, coordinates[rest])
        # A central difference errs by c h^2 + O(h^4), so D(h) - D(h/2) = (3/4) c h^2:
        # D(h)'s truncation error is about (4/3) |D(h) - D(h/2)|. A disagreement up to
        # twice that (the estimate's own margin) is the step's, not the gradient's.
        truncation = 4 / 3 * np.abs(numeric[rest] - half)
        explained = np.abs(analytic[rest] - numeric[rest]) <= 2 * truncation
        reasons[rest[explained]] = "curved"
    return reasons


def _suspects(blocks, coordinates, analytic, numeric, smallest_scale, tolerance):
    """Which differences disagree with the gradient beyond the tolerance.

    Relative to the analytic block's scale (at least smallest_scale), which is
    at most block_error's: a difference that is not a suspect passes there too.
    """
    suspect = np.zeros(coordinates.size, dtype=bool)
    for _, where, _ in blocks:
        in_block = (coordinates >= where.start) & (coordinates < where.stop)
        if in_block.any():
            scale = max(np.max(np.abs(analytic[in_block])), smallest_scale)
            suspect[in_block] = np.abs(analytic[in_block] - numeric[in_block]) > tolerance * scale
    return suspect


def _verify(problem, step, tolerance, coordinates=None):
    """The report comparing the problem's analytic blocks with finite differences and the
    reference; coordinates: the indices of theta to difference (None: all)."""
    dtype = check_float_dtype(problem.dtype)
    tolerance = dict(TOLERANCES[dtype]) if tolerance is None else {
        "finite_difference": check_real("tolerance", tolerance, strictly_above=0),
        "reference": check_real("tolerance", tolerance, strictly_above=0),
    }
    step = _EPS64 ** (1 / 3) if step is None else check_real("step", step, strictly_above=0)
    coordinates = np.arange(problem.theta.size) if coordinates is None else coordinates
    numeric = central_differences(problem.function, problem.theta, step, coordinates)
    analytic = problem.analytic()[coordinates]
    noise = _EPS64 ** (2 / 3) * max(1.0, abs(problem.loss))
    fd_tolerance = tolerance["finite_difference"]
    suspect = _suspects(problem.blocks, coordinates, analytic, numeric, noise / fd_tolerance,
                        fd_tolerance)
    reasons = np.full(coordinates.size, "", dtype=object)
    reasons[suspect] = _distrust(problem, coordinates[suspect], numeric[suspect],
                                 analytic[suspect], step)
    report = GradientReport(problem.subject, dtype.name, float(problem.loss), step, tolerance)
    for k, (name, where, gradient) in enumerate(problem.blocks):
        in_block = (coordinates >= where.start) & (coordinates < where.stop)
        trusted = in_block & (reasons == "")
        fd_error = (block_error(analytic[trusted], numeric[trusted], noise, fd_tolerance)
                    if trusted.any() else 0.0)
        ref_error = None
        if problem.reference_result is not None:
            ref_error = block_error(gradient, problem.reference_result[1][k])
        report.blocks.append(BlockError(
            name, np.size(gradient), int(in_block.sum()), fd_error, ref_error,
            indices=tuple((coordinates[in_block] - where.start).tolist()),
            at_kinks=int(np.count_nonzero(in_block & (reasons == "kink"))),
            too_curved=int(np.count_nonzero(in_block & (reasons == "curved")))))
    if problem.reference_result is not None:
        report.loss_reference_error = block_error(problem.loss, problem.reference_result[0])
    return report


def _reference_mode(reference):
    """reference as given, if it is True, False or "auto"; else a ValueError."""
    if reference != "auto" and not isinstance(reference, bool):
        raise ValueError(f"reference must be True, False or 'auto', got {reference!r}")
    return reference


def _run_reference(reference, cost):
    """Whether to run the oracle, whose time grows with cost (examples x parameters)."""
    return cost <= REFERENCE_BUDGET if reference == "auto" else reference


def check_gradients(net, X, y, sample_weight=None, *, step: float | None = None,
                    tolerance: float | None = None, reference="auto",
                    sample: int | None = DEFAULT_SAMPLE, seed: int = 0) -> "GradientReport":
    """Verify ``net.loss_and_grad`` on (X, y) by finite differences and the reference.

    The network is not modified. X may be sparse, as for the network: the
    loss is differenced on the sparse path, and the reference gets X dense.

    Parameters
    ----------
    net : nnbp.Network
    X, y, sample_weight
        The data, as ``net.loss_and_grad`` takes them.
    step : float or None
        The relative finite-difference step (None: eps^(1/3)).
    tolerance : float or None
        The largest block error that passes (None: the dtype's, TOLERANCES).
    reference : True, False or "auto"
        Whether to compare with the pure-Python reference too ("auto": when
        examples x parameters is at most REFERENCE_BUDGET).
    sample : int or None
        Finite differences cost two loss evaluations per parameter: at most
        this many parameters of each block are differenced, drawn at random
        (default DEFAULT_SAMPLE, as ``nnbp gradcheck``); None differences all.
        The report says which (``report.blocks[k].indices``).
    seed : int
        Draws the sample.

    Returns
    -------
    GradientReport
        ``report.passed`` is the verdict and ``str(report)`` the per-block
        table; differences that cannot judge the gradient (units at a kink,
        a loss too curved for the step) are counted apart and left out.

    Raises
    ------
    ValueError
        For a bad ``reference`` or ``sample``, or data the network refuses.
    """
    _reference_mode(reference)
    coordinates = _sample_coordinates(
        [(name, where, None) for name, where in net.block_slices()], sample, seed)
    loss, grad = net.loss_and_grad(X, y, sample_weight)
    # The twin sees exactly the numbers the network saw: X and the weights
    # rounded to its dtype, then widened (exactly) to float64.
    checked = net.check_data(X, y, sample_weight)
    twin = net.copy(np.float64)
    data64 = twin.check_data(checked.X, y, checked.sample_weight)
    X64, targets, labels, weights64 = data64.X, data64.targets, data64.labels, data64.sample_weight
    theta = twin.params.copy()

    def loss64(params):
        twin.params = params
        return twin.compiled_loss(data64, None)

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
    problem = _Problem(repr(net), net.dtype, loss, theta, loss64, blocks, reference_result,
                       _hidden_branches(twin, X64))
    report = _verify(problem, step, tolerance, coordinates)
    report.sample, report.seed = sample, seed
    return report


def _hidden_branches(twin, X):
    """None, or for hidden units with a kink: params -> whether z > 0, for each unit and row.

    twin: the float64 network the loss is differenced on (its params are set).
    """
    if twin.activation not in KINKED_ACTIVATIONS or twin.n_layers < 2:
        return None

    def branches(params):
        twin.params = params
        return np.concatenate([np.ravel(Z > 0) for Z, _ in twin.hidden_activations(X)])

    return branches


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
        X_fixed = check_sparse_matrix("X", X, A.dtype)   # the rows the layer read
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
    branches = None
    if activation in KINKED_ACTIVATIONS:
        def branches(params):
            W_, b_, X_ = split(params)
            return np.ravel(layers.dense_forward(X_, W_, b_, activation, negative_slope)[0] > 0)

    problem = _Problem(subject, A.dtype, loss, theta, scalar, blocks, reference_result, branches)
    return _verify(problem, step, tolerance)


def check_loss_gradients(output, Z, y, sample_weight=None, *, step=None, tolerance=None,
                         reference="auto"):
    """Verify one output loss's gradient dL/dZ of the logits Z (dtype follows Z)."""
    _reference_mode(reference)
    loss, dZ = layers.output_loss(output, Z, y, sample_weight)
    Z64 = check_matrix("Z", np.asarray(Z, np.float64), np.float64)
    targets, labels, weights64, _ = check_loss_data(output, y, sample_weight, *Z64.shape,
                                                    np.float64)
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
    problem = _Problem(f"{output} loss on {dZ.shape[0]}x{dZ.shape[1]} logits", dZ.dtype, loss,
                       theta, scalar, blocks, reference_result)
    return _verify(problem, step, tolerance)
