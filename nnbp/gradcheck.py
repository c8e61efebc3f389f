"""Verifying gradients: finite differences (scipy) and the pure-Python reference.

The compiled gradient is compared block by block (W(l), b(l)) with

(a) central finite differences of the loss, taken with
    ``scipy.optimize.approx_fprime`` at steps +h and -h (their mean is the
    central difference, whose error is O(h^2) instead of O(h)). The loss is
    evaluated in float64 on a float64 twin of the network, whatever the
    network's dtype: scipy works in float64, and a float32 loss would drown
    the differences in its own rounding. The step is h = eps^(1/3) max(1, ``|p|``),
    which balances rounding (eps/h) against truncation (h^2).
(b) the reference oracle (``nnbp.reference``), for networks small enough for
    its Python loops.

The error of a block is max ``|g - r|`` / max(max ``|r|``, max ``|g|``, noise / tolerance):
relative to the block's largest entry, except that differences within the
finite differences' own noise (eps^(2/3) max(1, ``|loss|``)) are not counted.
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
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import numpy as np
import numpy.typing as npt
import scipy.sparse
from scipy.optimize import approx_fprime

from nnbp import layers
from nnbp import reference as oracle
from nnbp.network import Network
from nnbp._validation import (check_float_dtype, check_loss_data, check_matrix, check_real,
                              check_sparse_matrix)

__all__ = [
    "BlockError",
    "DEFAULT_SAMPLE",
    "GradientReport",
    "KINKED_ACTIVATIONS",
    "REFERENCE_BUDGET",
    "TOLERANCES",
    "block_error",
    "central_differences",
    "check_gradients",
    "check_layer_gradients",
    "check_loss_gradients",
]

#: Whether a check compares with the pure-Python reference too: always, never, or
#: when it is cheap enough (REFERENCE_BUDGET).
ReferenceMode = bool | Literal["auto"]

#: The largest block error that passes, against finite differences and against the reference.
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

    Of the block's ``size`` parameters, ``checked`` were differenced: those at
    ``indices``. Of them, ``at_kinks`` had a step that moves a relu or
    leaky_relu unit across its kink, and ``too_curved`` a difference whose
    truncation error explains its disagreement; neither counts in
    ``finite_difference``, the error of the others.

    Parameters
    ----------
    name : str
        The block: ``"W(1)"``, ``"b(2)"``, ``"X"``, ...
    size : int
        Its number of parameters.
    checked : int
        How many of them were differenced.
    finite_difference : float
        The block's error against the finite differences that can judge it
        (see ``block_error``); 0.0 if none can.
    reference : float or None
        The block's error against the pure-Python reference; None if it was
        not run.
    indices : tuple of int, default=()
        The differenced parameters' flat indices within the block.
    at_kinks : int, default=0
        Differenced parameters whose step crosses a unit's kink at z = 0.
    too_curved : int, default=0
        Differenced parameters whose difference's truncation error is as
        large as its disagreement with the gradient.

    See Also
    --------
    GradientReport : The report that holds one BlockError per block.

    Examples
    --------
    >>> from nnbp.gradcheck import BlockError
    >>> block = BlockError("W(1)", size=20, checked=20, finite_difference=3e-10,
    ...                    reference=None, at_kinks=2)
    >>> block.trusted
    18
    """

    name: str
    size: int
    checked: int
    finite_difference: float
    reference: float | None
    indices: tuple[int, ...] = field(default=(), repr=False)
    at_kinks: int = 0
    too_curved: int = 0

    @property
    def trusted(self) -> int:
        """The number of differenced parameters whose finite differences were compared."""
        return self.checked - self.at_kinks - self.too_curved


@dataclass
class GradientReport:
    """The outcome of a gradient check: per-block errors and a verdict.

    ``check_gradients``, ``check_layer_gradients`` and
    ``check_loss_gradients`` return one. It is true when the check passed,
    and ``str(report)`` is its per-block table.

    Parameters
    ----------
    subject : str
        What was checked (the network's repr, a layer, a loss).
    dtype : str
        The dtype of the gradient checked, ``"float32"`` or ``"float64"``.
    loss : float
        The scalar differentiated, at the parameters checked.
    step : float
        The relative finite-difference step.
    tolerance : dict
        The largest errors that pass: ``{"finite_difference": ...,
        "reference": ...}``.
    blocks : list of BlockError, default=[]
        The errors of each block of the gradient.
    loss_reference_error : float or None, default=None
        The loss's error against the reference; None if it was not run.
    sample : int or None, default=None
        The most parameters of each block that were differenced; None: all.
    seed : int or None, default=None
        The seed that drew the sample.

    See Also
    --------
    check_gradients : Check a network's gradient.
    BlockError : The errors of one block.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network, check_gradients
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    >>> report = check_gradients(Network([4, 5, 3], activation="tanh", seed=0), X, y)
    >>> bool(report), [block.name for block in report.blocks]
    (True, ['W(1)', 'W(2)', 'b(1)', 'b(2)'])
    >>> print(str(report).splitlines()[-1])
      PASSED
    """

    subject: str
    dtype: str
    loss: float
    step: float
    tolerance: dict[str, float]
    blocks: list[BlockError] = field(default_factory=list)
    loss_reference_error: float | None = None
    sample: int | None = None
    seed: int | None = None

    @property
    def finite_difference_error(self) -> float:
        """The largest block error against finite differences."""
        return max(block.finite_difference for block in self.blocks)

    @property
    def reference_error(self) -> float | None:
        """The largest block (or loss) error against the reference; None if it was not run."""
        errors = [block.reference for block in self.blocks if block.reference is not None]
        if self.loss_reference_error is not None:
            errors.append(self.loss_reference_error)
        return max(errors) if errors else None

    @property
    def passed(self) -> bool:
        """Whether every error is within its tolerance."""
        reference_error = self.reference_error
        return self.finite_difference_error <= self.tolerance["finite_difference"] and (
            reference_error is None or reference_error <= self.tolerance["reference"]
        )

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
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


def block_error(computed: npt.ArrayLike, expected: npt.ArrayLike, noise: float = 0.0,
                tolerance: float = 1.0) -> float:
    """The largest difference between two blocks, relative to the blocks' scale.

    max ``|computed - expected|`` / max(max ``|expected|``, max ``|computed|``, noise /
    tolerance): relative to the block's largest entry, except that
    differences within ``noise`` (a finite difference's own) are not counted.
    Both blocks are compared in float64.

    Parameters
    ----------
    computed : array_like
        The gradient checked.
    expected : array_like
        What it should be, of the same size.
    noise : float, default=0.0
        The absolute error of ``expected`` that is not the gradient's.
    tolerance : float, default=1.0
        The tolerance the error will be compared with: the scale is at least
        ``noise / tolerance``, so that noise alone always passes.

    Returns
    -------
    float
        The relative error; the absolute one where both blocks are zero.

    See Also
    --------
    check_gradients : Where the errors of a network's blocks come from.

    Examples
    --------
    >>> from nnbp.gradcheck import block_error
    >>> round(block_error([1.0, 2.0], [1.0, 2.1]), 4)
    0.0476
    """
    computed = np.ravel(np.asarray(computed, dtype=np.float64))
    expected = np.ravel(np.asarray(expected, dtype=np.float64))
    difference = np.max(np.abs(computed - expected))
    scale = max(np.max(np.abs(expected)), np.max(np.abs(computed)), noise / tolerance)
    if scale == 0:
        return float(difference)
    return float(difference / scale)


def _steps(start, step):
    """The finite-difference step of each coordinate at start: step * max(1, ``|start|``)."""
    return step * np.maximum(1.0, np.abs(start))


def central_differences(function: Callable[[np.ndarray], float], x0: np.ndarray, step: float,
                        coordinates: npt.ArrayLike | None = None) -> np.ndarray:
    """The partial derivatives of any scalar function, by central finite differences.

    (f(x + h e_k) - f(x - h e_k)) / 2h for each coordinate k, with the step
    h = step * max(1, ``|x0_k|``): relative to the coordinate, absolute near 0.
    The error is O(h^2), against O(h) for a forward difference; step =
    eps^(1/3) (about 6e-6 in float64) balances it against rounding. This is
    the function nnbp's gradient checks use, built on
    ``scipy.optimize.approx_fprime`` (whose forward differences at +h and -h
    it averages); it works for any function of a float64 vector.

    Parameters
    ----------
    function : callable
        ``function(x)``, a float, for a float64 vector x of x0's size. It may
        be called with the same array object, modified, each time: it must
        not keep it.
    x0 : ndarray of shape (n,)
        The point, float64. It is not modified.
    step : float
        The relative step.
    coordinates : array_like of int or None, default=None
        The indices of the partial derivatives to take; None: all of them.

    Returns
    -------
    ndarray of shape (len(coordinates),)
        The partial derivatives, in the order of ``coordinates``.

    See Also
    --------
    check_gradients : A network's gradient checked with these differences.
    scipy.optimize.approx_fprime : Forward differences.
    scipy.optimize.check_grad : A gradient checked by forward differences.

    Examples
    --------
    The gradient of f(x) = sum(x^3), which is 3 x^2:

    >>> import numpy as np
    >>> from nnbp.gradcheck import central_differences
    >>> def f(x):
    ...     return float(np.sum(x ** 3))
    >>> x0 = np.array([1.0, 2.0, -0.5])
    >>> np.round(central_differences(f, x0, step=1e-5), 6)
    array([ 3.  , 12.  ,  0.75])
    >>> np.round(central_differences(f, x0, step=1e-5, coordinates=[1]), 6)
    array([12.])
    """
    coordinates = np.arange(x0.size) if coordinates is None else np.asarray(coordinates)
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


def _y_of(labels: Optional[np.ndarray], targets: Optional[np.ndarray]) -> np.ndarray:
    """The labels, or else the targets: checked data holds exactly one of them."""
    y = labels if labels is not None else targets
    if y is None:
        raise ValueError("checked data holds neither labels nor targets")
    return y


def _run_reference(reference, cost):
    """Whether to run the oracle, whose time grows with cost (examples x parameters)."""
    return cost <= REFERENCE_BUDGET if reference == "auto" else reference


def check_gradients(net: Network, X: npt.ArrayLike | scipy.sparse.spmatrix,
                    y: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None, *,
                    step: float | None = None, tolerance: float | None = None,
                    reference: ReferenceMode = "auto", sample: int | None = DEFAULT_SAMPLE,
                    seed: int = 0, loss: Any = None) -> GradientReport:
    """Verify ``net.loss_and_grad`` on (X, y) by finite differences and the reference.

    The network is not modified. X may be sparse, as for the network: the
    loss is differenced on the sparse path, and the reference gets X dense.
    The loss is differenced in float64, on a float64 twin of the network,
    whatever the network's dtype (see the module's docstring).

    Parameters
    ----------
    net : Network
        The network, at the parameters to check.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The input rows, as ``net.loss_and_grad`` takes them.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets, as ``net.loss_and_grad`` takes them.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        The rows' weights, as ``net.loss_and_grad`` takes them.
    step : float or None, default=None
        The relative finite-difference step (None: eps^(1/3)).
    tolerance : float or None, default=None
        The largest block error that passes (None: the dtype's, TOLERANCES).
    reference : bool or "auto", default="auto"
        Whether to compare with the pure-Python reference too ("auto": when
        examples x parameters is at most REFERENCE_BUDGET).
    sample : int or None, default=DEFAULT_SAMPLE
        Finite differences cost two loss evaluations per parameter: at most
        this many parameters of each block are differenced, drawn at random
        (as ``nnbp gradcheck`` does); None differences all.
        The report says which (``report.blocks[k].indices``).
    seed : int, default=0
        Draws the sample.
    loss : nnbp.losses.Loss, callable or None, default=None
        A loss of the logits in place of the output's canonical loss, as
        ``net.loss_and_grad`` takes it. The reference then computes the
        logits and backpropagates the loss's gradient one example at a time
        (``nnbp.reference.vjp``), the loss's value and gradient taken from
        ``nnbp.reference.regression_loss`` for the built-in losses and from
        the loss object itself for the others.

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

    See Also
    --------
    check_layer_gradients : Check one dense layer's backward pass.
    check_loss_gradients : Check one output loss's gradient.
    central_differences : The finite differences, for any function.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network, check_gradients
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    >>> net = Network([4, 5, 3], activation="tanh", output="softmax", seed=0)
    >>> report = check_gradients(net, X, y)
    >>> report.passed, report.finite_difference_error < 1e-6
    (True, True)
    """
    _reference_mode(reference)
    coordinates = _sample_coordinates(
        [(name, where, None) for name, where in net.block_slices()], sample, seed)
    loss_object = net.check_loss(loss)
    # Without a loss object, called as before: a Network subclass may not take loss=.
    loss_value, grad = (net.loss_and_grad(X, y, sample_weight) if loss_object is None
                        else net.loss_and_grad(X, y, sample_weight, loss=loss_object))
    # The twin sees exactly the numbers the network saw: X and the weights
    # rounded to its dtype, then widened (exactly) to float64.
    checked = net.check_data(X, y, sample_weight)
    twin = net.copy(np.float64)
    data64 = twin.check_data(checked.X, y, checked.sample_weight)
    X64, targets, labels, weights64 = data64.X, data64.targets, data64.labels, data64.sample_weight
    theta = twin.params.copy()

    def loss64(params):
        twin.params = params
        return twin.compiled_loss(data64, None, loss=loss_object)

    blocks = [(name, where, grad[where]) for name, where in net.block_slices()]
    reference_result = None
    if _run_reference(reference, X64.shape[0] * net.n_params) and loss_object is not None:
        reference_result = _reference_of_loss(twin, data64, loss_object)
    elif _run_reference(reference, X64.shape[0] * net.n_params):
        biases = None if not net.bias else [b.tolist() for b in twin.biases]
        ref_loss, dweights, dbiases = oracle.loss_and_grad(
            [W.tolist() for W in twin.weights], biases, _dense(X64).tolist(),
            _y_of(labels, targets).tolist(), net.activation, net.output,
            sample_weight=None if weights64 is None else weights64.tolist(),
            alpha=net.alpha, negative_slope=net.negative_slope,
        )
        reference_result = (ref_loss, [np.ravel(g) for g in dweights + (dbiases or [])])
    subject = repr(net) if loss_object is None else f"{net!r} with the loss {loss_object!r}"
    problem = _Problem(subject, net.dtype, loss_value, theta, loss64, blocks,
                       reference_result, _hidden_branches(twin, X64))
    report = _verify(problem, step, tolerance, coordinates)
    report.sample, report.seed = sample, seed
    return report


def _reference_of_loss(twin, data, loss):
    """The oracle's (loss, [gradient per block]) of a loss object: its logits, the loss's
    value and gradient there (the oracle's own for a built-in loss), backpropagated."""
    weights = [W.tolist() for W in twin.weights]
    biases = None if not twin.bias else [b.tolist() for b in twin.biases]
    X = _dense(data.X).tolist()
    Z = oracle.logits(weights, biases, X, twin.activation, twin.negative_slope)
    weight = None if data.sample_weight is None else data.sample_weight.tolist()
    if loss.compiled is not None:
        name, parameter = loss.compiled
        value, G = oracle.regression_loss(name, Z, data.targets.tolist(), parameter, weight)
    else:
        value, G = loss.loss_gradient(_y_of(data.labels, data.targets), np.array(Z),
                                      data.sample_weight)
        G = np.asarray(G, dtype=np.float64).tolist()
    dweights, dbiases, _ = oracle.vjp(weights, biases, X, G, twin.activation, twin.output,
                                      wrt="logits", negative_slope=twin.negative_slope)
    # The L2 penalty alpha/(2S) sum_l ||W(l)||^2, and its gradient (alpha/S) W(l).
    S = float(len(X) if weight is None else sum(weight))
    squares = sum(w * w for W in weights for row in W for w in row)
    value = float(value) + twin.alpha / (2 * S) * squares
    dweights = [[[g + twin.alpha / S * w for g, w in zip(g_row, w_row)]
                 for g_row, w_row in zip(dW, W)] for dW, W in zip(dweights, weights)]
    return value, [np.ravel(g) for g in dweights + (dbiases or [])]


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


def check_layer_gradients(X: npt.ArrayLike | scipy.sparse.spmatrix, W: npt.ArrayLike,
                          b: npt.ArrayLike | None = None, activation: str = "relu",
                          negative_slope: float = 0.01, *, seed: int = 0,
                          step: float | None = None, tolerance: float | None = None,
                          reference: ReferenceMode = "auto") -> GradientReport:
    """Verify one dense layer's backward pass (dW, db, dX) for A = phi(X W^T + b).

    The scalar differentiated is sum(R * A) for a fixed random R (drawn from
    seed), so that dL/dA = R exercises every entry. The dtype follows W. A
    sparse X (the first layer's kernels on CSR rows) is an input, not a
    variable: there is no dX to check.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, fan_in)
        The layer's input rows.
    W : array-like of shape (fan_out, fan_in)
        The layer's weights, float32 or float64 (anything else: float64).
    b : array-like of shape (fan_out,) or None, default=None
        The layer's biases; None: no biases.
    activation : str, default="relu"
        The activation phi, one of ``nnbp.layers.ACTIVATIONS``.
    negative_slope : float, default=0.01
        The slope of leaky_relu for z < 0.
    seed : int, default=0
        Draws R.
    step : float or None, default=None
        The relative finite-difference step (None: eps^(1/3)).
    tolerance : float or None, default=None
        The largest block error that passes (None: the dtype's, TOLERANCES).
    reference : bool or "auto", default="auto"
        Whether to compare with the pure-Python reference too ("auto": when
        it is cheap, REFERENCE_BUDGET).

    Returns
    -------
    GradientReport
        Blocks ``W``, ``b`` (with biases) and ``X`` (for a dense X).

    See Also
    --------
    check_gradients : Check a whole network's gradient.
    nnbp.layers.dense_backward : The backward pass checked.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import check_layer_gradients
    >>> rng = np.random.default_rng(0)
    >>> X, W = rng.standard_normal((6, 3)), rng.standard_normal((2, 3))
    >>> report = check_layer_gradients(X, W, np.zeros(2), activation="tanh")
    >>> report.passed, [block.name for block in report.blocks]
    (True, ['W', 'b', 'X'])
    """
    _reference_mode(reference)
    Z, A = layers.dense_forward(X, W, b, activation, negative_slope)
    R = np.random.default_rng(seed).standard_normal(A.shape).astype(A.dtype)
    dW, db, dX = layers.dense_backward(X, W, Z, R, activation, negative_slope)
    sparse = dX is None
    if sparse:
        X_fixed = check_sparse_matrix("X", X, A.dtype)   # the rows the layer read
    shapes: list[tuple[str, np.ndarray]] = [("W", dW)] + (
        [("b", db)] if b is not None else []) + ([] if dX is None else [("X", dX)])
    sizes = np.cumsum([0] + [g.size for _, g in shapes], dtype=np.int64)
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


def check_loss_gradients(output: str, Z: npt.ArrayLike, y: npt.ArrayLike,
                         sample_weight: npt.ArrayLike | None = None, *,
                         step: float | None = None, tolerance: float | None = None,
                         reference: ReferenceMode = "auto") -> GradientReport:
    """Verify one output loss's gradient dL/dZ of the logits Z (the dtype follows Z).

    The scalar differentiated is the loss itself, the (weighted) mean over the
    rows, of the output's canonical loss (``nnbp.layers.output_loss``).

    Parameters
    ----------
    output : str
        The output and its canonical loss, one of ``nnbp.layers.OUTPUTS``.
    Z : array-like of shape (n_samples, n_outputs)
        The logits, float32 or float64 (anything else: float64).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets: class indices for softmax, else one target per output.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        The rows' weights; None: all 1.
    step : float or None, default=None
        The relative finite-difference step (None: eps^(1/3)).
    tolerance : float or None, default=None
        The largest block error that passes (None: the dtype's, TOLERANCES).
    reference : bool or "auto", default="auto"
        Whether to compare with the pure-Python reference too ("auto": when
        it is cheap, REFERENCE_BUDGET).

    Returns
    -------
    GradientReport
        One block, ``Z``.

    See Also
    --------
    check_gradients : Check a whole network's gradient.
    nnbp.layers.output_loss : The loss and gradient checked.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import check_loss_gradients
    >>> Z = np.random.default_rng(0).standard_normal((5, 3))
    >>> check_loss_gradients("softmax", Z, [0, 1, 2, 1, 0]).passed
    True
    """
    _reference_mode(reference)
    loss, dZ = layers.output_loss(output, Z, y, sample_weight)
    Z64 = check_matrix("Z", np.asarray(Z, np.float64), np.float64)
    n_rows, n_outputs = Z64.shape
    targets, labels, weights64, _ = check_loss_data(output, y, sample_weight, n_rows, n_outputs,
                                                    np.float64)
    theta = Z64.ravel().copy()

    def scalar(params):
        return layers.output_loss(output, params.reshape(dZ.shape), y, weights64)[0]

    reference_result = None
    if _run_reference(reference, dZ.size):
        ref_loss, ref_dZ = oracle.output_loss(
            output, Z64.tolist(), _y_of(labels, targets).tolist(),
            None if weights64 is None else weights64.tolist())
        reference_result = (ref_loss, [np.ravel(ref_dZ)])
    blocks = [("Z", slice(0, dZ.size), dZ)]
    problem = _Problem(f"{output} loss on {dZ.shape[0]}x{dZ.shape[1]} logits", dZ.dtype, loss,
                       theta, scalar, blocks, reference_result)
    return _verify(problem, step, tolerance)
