"""Loss objects: any loss of a network's logits, by its value and its gradient.

In the spirit of scikit-learn's ``sklearn._loss``: a loss is a function of the
raw predictions (the logits z(L), before the output function) and the
targets, and gives its gradient with respect to the raw predictions. The
network backpropagates that gradient (``Network.vjp``), so any loss with a
gradient trains a network: ``Network.loss_and_grad``,
``nnbp.check_gradients``, ``StochasticTrainer`` and ``minimize_lbfgs`` take
one as ``loss=``.

A loss object defines ``loss_gradient(y_true, raw_prediction,
sample_weight)``, which returns the weighted mean of the rows' losses

    loss = (1/S) sum_i s_i loss_i(y_i, z_i),        S = sum_i s_i

and its gradient with respect to raw_prediction, (s_i/S) dloss_i/dz_i row by
row. The network adds its L2 penalty (alpha) to both. ``y_true`` is what the
network's checks make of y for its output: class indices for softmax, else
targets of shape (n, m_L); raw_prediction has shape (n, m_L), in the
network's dtype.

The built-in losses are the robust regression losses of scikit-learn's other
regressors, for the identity output (``output="squared"``), each of the
residual r = z - y and summed over the outputs:

=====================  =============================================  ===========================
loss                   loss(r)                                        dloss/dz
=====================  =============================================  ===========================
HuberLoss(delta)       r^2/2 for ``|r|`` <= delta, else                 r, else delta sign(r)
                       delta (``|r|`` - delta/2)
AbsoluteError()        ``|r|``                                          sign(r)
PinballLoss(quantile)  -q r for r < 0 (under-prediction),             -q, else 1 - q
                       (1 - q) r otherwise
=====================  =============================================  ===========================

They run in the compiled core (the kernel ``nnbp_regression_loss``): in a
network's loss, gradient and training epochs they cost what the squared
error costs. The pure-Python reference of each is
``nnbp.reference.regression_loss``.

Examples
--------
>>> import numpy as np
>>> from nnbp.losses import HuberLoss
>>> loss, gradient = HuberLoss(delta=1.0).loss_gradient(
...     np.array([[0.0], [0.0]]), np.array([[0.5], [3.0]]))
>>> float(loss), gradient.ravel().tolist()
(1.3125, [0.25, 0.5])
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from nnbp import _core
from nnbp._validation import check_matrix, check_real

__all__ = [
    "AbsoluteError",
    "FunctionLoss",
    "HuberLoss",
    "Loss",
    "PinballLoss",
    "REGRESSION_LOSSES",
    "as_loss",
]

#: The regressor's built-in losses by their scikit-learn names (MLPRegressor's loss=).
REGRESSION_LOSSES = ("huber", "absolute_error", "quantile")


class Loss:
    """A loss of the logits: the base of nnbp's loss objects.

    Subclass it and define ``loss_gradient``; ``output`` names the network
    output the loss is made for (None: any).

    Attributes
    ----------
    output : str or None
        The network output (``Network(output=...)``) whose logits the loss
        takes, or None for any.
    compiled : tuple of (str, float) or None
        For the built-in losses, the compiled core's name of the loss and its
        parameter; None for a loss computed in Python.

    See Also
    --------
    HuberLoss, AbsoluteError, PinballLoss : The built-in losses.
    nnbp.Network.vjp : The backward pass a loss's gradient goes through.

    Examples
    --------
    The mean squared error of the logits, written as a loss object:

    >>> import numpy as np
    >>> from nnbp.losses import Loss
    >>> class HalfSquaredError(Loss):
    ...     output = "squared"
    ...     def loss_gradient(self, y_true, raw_prediction, sample_weight=None):
    ...         s = np.ones(len(y_true)) if sample_weight is None else sample_weight
    ...         r = raw_prediction - y_true
    ...         S = float(s.sum())
    ...         return float(s @ (0.5 * r ** 2).sum(axis=1)) / S, s[:, None] * r / S
    >>> loss, gradient = HalfSquaredError().loss_gradient(np.zeros((2, 1)), np.ones((2, 1)))
    >>> loss, gradient.ravel().tolist()
    (0.5, [0.5, 0.5])
    """

    output: Optional[str] = None
    compiled: Optional[tuple[str, float]] = None

    def loss_gradient(self, y_true: np.ndarray, raw_prediction: np.ndarray,
                      sample_weight: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
        """Compute the weighted mean loss and its gradient with respect to raw_prediction.

        Parameters
        ----------
        y_true : ndarray
            The targets as the network checked them: class indices of shape
            (n,) for softmax, else of shape (n, m_L).
        raw_prediction : ndarray of shape (n, m_L)
            The logits z(L), in the network's dtype.
        sample_weight : ndarray of shape (n,) or None, default=None
            The rows' weights s_i; None: all 1.

        Returns
        -------
        loss : float
            (1/S) sum_i s_i loss_i, S = sum_i s_i.
        gradient : ndarray of shape (n, m_L)
            Its gradient with respect to raw_prediction: (s_i/S) dloss_i/dz_i.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no loss_gradient")

    def loss(self, y_true: np.ndarray, raw_prediction: np.ndarray,
             sample_weight: Optional[np.ndarray] = None) -> float:
        """Compute the weighted mean loss alone.

        Parameters
        ----------
        y_true : ndarray
            The targets, as loss_gradient takes them.
        raw_prediction : ndarray of shape (n, m_L)
            The logits z(L).
        sample_weight : ndarray of shape (n,) or None, default=None
            The rows' weights; None: all 1.

        Returns
        -------
        float
            (1/S) sum_i s_i loss_i.
        """
        return self.loss_gradient(y_true, raw_prediction, sample_weight)[0]


class FunctionLoss(Loss):
    """A loss object of a function (y_true, raw_prediction, sample_weight) -> (loss, gradient).

    What as_loss makes of a plain function, so that ``loss=`` takes one too.

    Parameters
    ----------
    function : callable
        Returns what Loss.loss_gradient returns.
    output : str or None, default=None
        The network output the function is made for; None: any.

    See Also
    --------
    Loss : What the function must compute.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp.losses import FunctionLoss
    >>> def half_squared_error(y_true, raw_prediction, sample_weight=None):
    ...     r = raw_prediction - y_true
    ...     return float((r ** 2).sum() / (2 * len(r))), r / len(r)
    >>> FunctionLoss(half_squared_error, output="squared").loss(np.zeros((1, 1)), np.ones((1, 1)))
    0.5
    """

    def __init__(self, function: Callable[..., tuple[float, np.ndarray]],
                 output: Optional[str] = None) -> None:
        if not callable(function):
            raise TypeError(f"FunctionLoss takes a function, got {function!r}")
        self.function, self.output = function, output

    def loss_gradient(self, y_true: np.ndarray, raw_prediction: np.ndarray,
                      sample_weight: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
        """Compute the function's loss and gradient (see Loss.loss_gradient).

        Parameters
        ----------
        y_true : ndarray
            The targets, as Loss.loss_gradient takes them.
        raw_prediction : ndarray of shape (n, m_L)
            The logits z(L).
        sample_weight : ndarray of shape (n,) or None, default=None
            The rows' weights; None: all 1.

        Returns
        -------
        loss : float
            The function's loss.
        gradient : ndarray of shape (n, m_L)
            The function's gradient.
        """
        return self.function(y_true, raw_prediction, sample_weight)

    def __repr__(self) -> str:
        return f"FunctionLoss({self.function!r})"


class _RegressionLoss(Loss):
    """A built-in robust loss of the identity output, computed by the compiled kernel."""

    output = "squared"
    name = ""

    @property
    def parameter(self) -> float:
        """The loss's parameter as the kernel takes it (0 for none)."""
        return 0.0

    @property
    def compiled(self) -> tuple[str, float]:  # type: ignore[override]
        """The compiled core's name of the loss, and its parameter."""
        return self.name, self.parameter

    def loss_gradient(self, y_true: np.ndarray, raw_prediction: np.ndarray,
                      sample_weight: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
        """Compute the weighted mean loss and its gradient, by the compiled kernel.

        Parameters
        ----------
        y_true : array_like of shape (n, m_L)
            The targets.
        raw_prediction : array_like of shape (n, m_L)
            The logits z(L), float32 or float64 (anything else: float64).
        sample_weight : array_like of shape (n,) or None, default=None
            The rows' non-negative weights; None: all 1.

        Returns
        -------
        loss : float
            (1/S) sum_i s_i loss_i.
        gradient : ndarray of shape (n, m_L)
            (s_i/S) dloss_i/dz_i, in raw_prediction's dtype.
        """
        Z, Y, weight, total = _loss_arrays(raw_prediction, y_true, sample_weight)
        gradient = np.empty_like(Z)
        value = _regression_loss(self.name, self.parameter, Z, Y, weight, 1.0 / total, gradient)
        return value / total, gradient

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class HuberLoss(_RegressionLoss):
    """Huber's loss of the residual r = z - y: quadratic near 0, linear beyond delta.

    loss(r) = r^2 / 2 for ``|r|`` <= delta, else delta (``|r|`` - delta / 2), summed
    over the outputs: torch.nn.HuberLoss's, and scikit-learn's HuberLoss
    (HistGradientBoostingRegressor's ``loss="huber"``) with a fixed delta.

    Parameters
    ----------
    delta : float, default=1.0
        The threshold, > 0, where the quadratic becomes linear.
        MLPRegressor calls it ``huber_delta``: ``epsilon`` (SGDRegressor's
        and HuberRegressor's name) is already Adam's there.

    See Also
    --------
    AbsoluteError : The limit as delta goes to 0 (scaled by delta).

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import HuberLoss, Network
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    >>> net = Network([3, 5, 1], activation="tanh", output="squared", seed=0)
    >>> loss, grad = net.loss_and_grad(X, y, loss=HuberLoss(delta=0.5))
    >>> grad.shape == net.params.shape
    True
    """

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = check_real("delta", delta, strictly_above=0.0,
                                maximum=float(np.finfo(np.float32).max))

    @property
    def parameter(self) -> float:
        """The threshold delta."""
        return self.delta

    def __repr__(self) -> str:
        return f"HuberLoss(delta={self.delta!r})"


class AbsoluteError(_RegressionLoss):
    """The absolute error ``|z - y|``, summed over the outputs: its minimiser is the median.

    Its gradient sign(z - y) is taken as 0 at z = y, as torch.nn.L1Loss's.

    See Also
    --------
    PinballLoss : Any quantile instead of the median (quantile=0.5 is half this loss).

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import AbsoluteError
    >>> AbsoluteError().loss(np.zeros((2, 1)), np.array([[1.0], [-3.0]]))
    2.0
    """

    name = "absolute_error"


class PinballLoss(_RegressionLoss):
    """The pinball (quantile) loss of r = z - y, summed over the outputs.

    loss(r) = -q r where r < 0 (the prediction under y), (1 - q) r where
    r >= 0: its minimiser is the q-quantile of y. scikit-learn's
    PinballLoss (``loss="quantile"`` of its regressors).

    Parameters
    ----------
    quantile : float, default=0.5
        The quantile q, in (0, 1).

    See Also
    --------
    AbsoluteError : Twice the pinball loss of the median.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import PinballLoss
    >>> loss, gradient = PinballLoss(0.9).loss_gradient(np.zeros((2, 1)),
    ...                                                 np.array([[1.0], [-1.0]]))
    >>> round(loss, 3), gradient.ravel().round(3).tolist()
    (0.5, [0.05, -0.45])
    """

    name = "quantile"

    def __init__(self, quantile: float = 0.5) -> None:
        self.quantile = check_real("quantile", quantile, strictly_above=0.0, maximum=1.0)
        if self.quantile == 1.0:
            raise ValueError("quantile must be in (0, 1), got 1.0")

    @property
    def parameter(self) -> float:
        """The quantile q."""
        return self.quantile

    def __repr__(self) -> str:
        return f"PinballLoss(quantile={self.quantile!r})"


def _loss_arrays(raw_prediction: npt.ArrayLike, y_true: npt.ArrayLike,
                 sample_weight: Optional[npt.ArrayLike]
                 ) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], float]:
    """Z, Y (Z's shape and dtype), the weights (or None) and their sum S, checked."""
    dtype = np.float32 if np.asarray(raw_prediction).dtype == np.float32 else np.float64
    Z = check_matrix("raw_prediction", raw_prediction, dtype)
    Y = check_matrix("y_true", np.reshape(y_true, Z.shape) if np.size(y_true) == Z.size
                     else y_true, dtype, shape=Z.shape)
    if sample_weight is None:
        return Z, Y, None, float(Z.shape[0])
    weight = np.ascontiguousarray(sample_weight, dtype=dtype)
    if weight.shape != (Z.shape[0],) or not np.all(weight >= 0) or not weight.sum() > 0:
        raise ValueError(f"sample_weight must be {Z.shape[0]} non-negative weights with a "
                         "positive sum")
    return Z, Y, weight, float(weight.sum(dtype=np.float64))


def _regression_loss(name: str, parameter: float, Z: np.ndarray, Y: np.ndarray,
                     sample_weight: Optional[np.ndarray], scale: float,
                     gradient: Optional[np.ndarray]) -> float:
    """sum_i s_i sum_k loss(Z - Y) of a built-in loss by the compiled kernel (the arrays
    unchecked: C-contiguous, of one dtype); gradient = scale s_i dloss/dz unless None."""
    return float(_core.regression_loss(_core.REGRESSION_LOSSES[name], parameter, Z, Y,
                                       sample_weight, scale, gradient))


def as_loss(loss: Any) -> Loss:
    """A loss object of loss: a Loss as it is, a function wrapped in a FunctionLoss.

    What the loss= arguments of nnbp's functions make of what they are
    given: an object with a loss_gradient method (such as a Loss), or a
    function that computes the same.

    Parameters
    ----------
    loss : Loss or callable
        A loss object, or a function (y_true, raw_prediction, sample_weight) ->
        (loss, gradient).

    Returns
    -------
    Loss
        The loss object.

    Raises
    ------
    TypeError
        If loss is neither.

    See Also
    --------
    Loss : What a loss computes.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp.losses import as_loss
    >>> def mean_absolute_error(y_true, raw_prediction, sample_weight=None):
    ...     r = raw_prediction - y_true
    ...     return float(np.abs(r).sum() / len(r)), np.sign(r) / len(r)
    >>> as_loss(mean_absolute_error).loss(np.zeros((2, 1)), np.array([[1.0], [-3.0]]))
    2.0
    """
    if isinstance(loss, Loss):
        return loss
    if callable(getattr(loss, "loss_gradient", None)):
        wrapped = FunctionLoss(loss.loss_gradient, getattr(loss, "output", None))
        return wrapped
    if callable(loss):
        return FunctionLoss(loss)
    raise TypeError(f"loss must be an nnbp.losses.Loss, an object with a loss_gradient "
                    f"method, or a function (y_true, raw_prediction, sample_weight) -> "
                    f"(loss, gradient); got {loss!r}")
