"""What training does to each layer: gradient norms and saturated units, epoch by epoch.

A layer learns slowly when its gradient is small, and its gradient is small
when its units saturate: backpropagation multiplies by phi'(z), and
phi'(z) ~ 0 for ``|z|`` large (logistic, tanh) or z <= 0 (relu). These
diagnostics measure both on a sample of the training rows:

- layer_diagnostics(net, X, y): the gradient norm of each layer, the
  fraction of saturated units of each hidden layer, and the loss;
- DiagnosticsRecorder: an on_epoch callback for StochasticTrainer.fit that
  records them after every epoch.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse

from nnbp import layers
from nnbp.network import Network
from nnbp.training import StochasticTrainer

__all__ = ["DEFAULT_MAX_ROWS", "SATURATION_THRESHOLD", "DiagnosticsRecorder",
           "layer_diagnostics"]

# A unit whose phi'(z) stays below this passes back less than a thousandth
# of the gradient that reaches it: it has (nearly) stopped learning.
SATURATION_THRESHOLD = 1e-3
#: The rows of a diagnostics' sample, by default.
DEFAULT_MAX_ROWS = 1024


def _check_max_rows(max_rows: object) -> int:
    if isinstance(max_rows, (bool, np.bool_)) or not isinstance(max_rows, numbers.Integral):
        raise TypeError(f"max_rows must be an int, got {max_rows!r}")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    return int(max_rows)


def _sample(net, X, y, sample_weight, max_rows):
    """The first max_rows rows of (X, y, sample_weight), checked by the network and copied."""
    data = net.check_data(X, y, sample_weight)
    rows = slice(0, max_rows)
    y = data.labels if data.targets is None else data.targets
    # Copies: the sample must not change with the caller's arrays, which the
    # checks may have passed through as they are.
    return (data.X[rows].copy(), y[rows].copy(),
            None if data.sample_weight is None else data.sample_weight[rows].copy())


def _diagnose(net, X, y, sample_weight):
    """layer_diagnostics on a checked sample."""
    loss, grad = net.loss_and_grad(X, y, sample_weight)
    # Squares summed in float64: a float32 gradient's squares may overflow.
    squares = []
    for layer in net.layer_slices():
        values = np.concatenate([grad[where] for where in layer if where is not None])
        values = values.astype(np.float64)
        squares.append(float(np.dot(values, values)))
    return {"gradient_norms": [float(np.sqrt(total)) for total in squares],
            "saturation": _hidden_saturation(net, X), "loss": float(loss)}


def _hidden_saturation(net, X):
    """The fraction of saturated units of each hidden layer on the rows of X (checked).

    A unit is saturated when phi'(z) < 1e-3 on every row: see layer_diagnostics.
    """
    saturation = []
    for Z, _ in net.hidden_activations(X):
        # phi' by the compiled kernels that training uses, so the conventions
        # (relu's kink at 0 takes the z <= 0 branch) are the same.
        slope = layers.activation_backward(net.activation, Z, np.ones_like(Z),
                                           net.negative_slope)
        saturated = np.all(slope < SATURATION_THRESHOLD, axis=0)
        saturation.append(float(np.count_nonzero(saturated)) / saturated.size)
    return saturation


def layer_diagnostics(net: Network, X: npt.ArrayLike | scipy.sparse.spmatrix, y: npt.ArrayLike,
                      sample_weight: npt.ArrayLike | None = None,
                      max_rows: int = DEFAULT_MAX_ROWS) -> dict[str, Any]:
    """Gradient norms, saturated units and loss of net on the first max_rows rows of (X, y).

    The sample is the first max_rows rows, so that it costs the same at
    every epoch; X, y and sample_weight are checked as Network.loss checks
    them, and never modified. The forward and backward passes run in the
    network's dtype (the norms' sums of squares in float64).

    Parameters
    ----------
    net : Network
        The network, at the parameters to diagnose; not modified.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The input rows, as ``net.loss`` takes them.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The targets, as ``net.loss`` takes them.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        The rows' weights, as ``net.loss`` takes them.
    max_rows : int, default=DEFAULT_MAX_ROWS
        The number of rows of the sample, from the first.

    Returns
    -------
    dict
        The diagnostics, described below.

    Raises
    ------
    TypeError
        If max_rows is not an int.
    ValueError
        If max_rows is below 1, or the network refuses the data.

    See Also
    --------
    DiagnosticsRecorder : These diagnostics after every epoch of training.
    nnbp.plotting.plot_training : Their plot.

    Notes
    -----
    The dict's entries:

    - "gradient_norms": L floats, ||(dL/dW(l), dL/db(l))||_2 for l = 1..L: the
      Euclidean norm of layer l's whole gradient block (weights and biases
      together), of the loss below;
    - "saturation": L-1 floats, for each hidden layer the fraction of its
      units that are saturated: phi'(z_u) < 1e-3 on every row of the sample.
      A unit saturated on every row learns (almost) nothing from these rows,
      as backpropagation multiplies its delta by phi'. For relu that is a
      dead unit, z <= 0 on every row; for logistic and tanh a unit stuck
      at ``|z|`` large (``|z|`` > ~6.9 and ~4.1); leaky_relu and softplus follow the
      same rule (leaky_relu's phi' never falls below its negative_slope, so
      its units saturate only when negative_slope < 1e-3); identity never
      saturates. A unit saturated on only some rows is not counted;
    - "loss": the network's loss (penalty included) on the sample, the loss
      whose gradient is measured.

    Examples
    --------
    >>> from nnbp import Network, layer_diagnostics
    >>> from nnbp.datasets import load_digits
    >>> X, y = load_digits()
    >>> net = Network([64, 16, 10], activation="relu", seed=0)
    >>> diagnostics = layer_diagnostics(net, X / 16, y)
    >>> sorted(diagnostics)
    ['gradient_norms', 'loss', 'saturation']
    >>> len(diagnostics["gradient_norms"]), len(diagnostics["saturation"])
    (2, 1)
    """
    max_rows = _check_max_rows(max_rows)
    return _diagnose(net, *_sample(net, X, y, sample_weight, max_rows))


class DiagnosticsRecorder:
    """An on_epoch callback for StochasticTrainer.fit: layer_diagnostics after each epoch.

    After ``trainer.fit(X, y, max_epochs=..., on_epoch=recorder)``,
    ``recorder.history`` holds one dict per epoch (see Attributes).
    The rows are checked and copied on the first call (by the network being
    trained); the recorder never stops training.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The rows to diagnose on (the training rows, or others).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Their targets.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Their weights.
    max_rows : int, default=DEFAULT_MAX_ROWS
        The number of rows of the sample, from the first.

    Attributes
    ----------
    max_rows : int
        The number of rows of the sample.
    history : list of dict
        One dict per epoch, described below.

    See Also
    --------
    layer_diagnostics : The diagnostics recorded.
    nnbp.plotting.plot_training : Their plot.

    Notes
    -----
    Each dict of ``history`` holds:

    - "epoch": the epoch's number in the trainer's history (1, 2, ...; it
      goes on counting across calls to fit, as trainer.loss_curve does);
    - "loss": the trainer's training loss of the epoch (trainer.loss);
    - "gradient_norms", "saturation": layer_diagnostics' results, measured
      on the first max_rows rows of (X, y) after the epoch;
    - "sample_loss": layer_diagnostics' "loss" on those rows.

    Examples
    --------
    >>> from nnbp import Adam, DiagnosticsRecorder, Network, StochasticTrainer
    >>> from nnbp.datasets import load_digits
    >>> X, y = load_digits()
    >>> X = X / 16
    >>> trainer = StochasticTrainer(Network([64, 16, 10], seed=0), Adam(), batch_size=64,
    ...                             random_state=0)
    >>> recorder = DiagnosticsRecorder(X, y)
    >>> trainer.fit(X, y, max_epochs=3, on_epoch=recorder)
    'max_epochs'
    >>> [record["epoch"] for record in recorder.history]
    [1, 2, 3]
    """

    def __init__(self, X: npt.ArrayLike | scipy.sparse.spmatrix, y: npt.ArrayLike,
                 sample_weight: npt.ArrayLike | None = None,
                 max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.max_rows = _check_max_rows(max_rows)
        self._data = (X, y, sample_weight)
        self._sample_for: tuple | None = None     # (network's shape, its sample)
        self.history: list[dict[str, Any]] = []

    def __call__(self, trainer: StochasticTrainer) -> None:
        net = trainer.net
        shape = (net.layer_sizes, net.dtype, net.output)
        if self._sample_for is None or self._sample_for[0] != shape:
            self._sample_for = (shape, _sample(net, *self._data, self.max_rows))
        diagnostics = _diagnose(net, *self._sample_for[1])
        self.history.append({
            "epoch": len(trainer.loss_curve),
            "loss": trainer.loss,
            "gradient_norms": diagnostics["gradient_norms"],
            "saturation": diagnostics["saturation"],
            "sample_loss": diagnostics["loss"],
        })
        # None: the recorder only watches; training goes on.
        return None
