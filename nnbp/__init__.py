"""nnbp: dense neural networks trained by backpropagation, compiled and verified.

The public API is ``__all__``, below, and the public modules' own
(``nnbp.io``, ``nnbp.onnx``, ``nnbp.gradcheck``, ...: each lists its own in
``__all__``). MLPClassifier and MLPRegressor need scikit-learn, which nnbp
itself does not: they are imported on first use.

Examples
--------
>>> import numpy as np
>>> from nnbp import Adam, Network, StochasticTrainer
>>> from nnbp.datasets import load_digits
>>> X, y = load_digits()
>>> X /= 16
>>> net = Network([64, 32, 10], activation="relu", output="softmax", seed=0)
>>> trainer = StochasticTrainer(net, Adam(learning_rate=0.01), batch_size=32, random_state=0)
>>> trainer.fit(X, y, max_epochs=10)
'max_epochs'
>>> bool(np.mean(np.argmax(net.forward(X), axis=1) == y) > 0.9)
True
"""
import os
from typing import Any

from nnbp.diagnostics import DiagnosticsRecorder, layer_diagnostics
from nnbp.gradcheck import (
    GradientReport,
    central_differences,
    check_gradients,
    check_layer_gradients,
    check_loss_gradients,
)
from nnbp import io
from nnbp.losses import AbsoluteError, HuberLoss, Loss, PinballLoss
from nnbp._version import __version__
from nnbp.network import ACTIVATIONS, INITS, OUTPUTS, Network
from nnbp.optim import SGD, Adam, minimize_lbfgs
from nnbp._show_versions import show_versions
from nnbp.training import DivergenceError, StochasticTrainer
__all__ = [
    "ACTIVATIONS",
    "INITS",
    "OUTPUTS",
    "AbsoluteError",
    "Adam",
    "DiagnosticsRecorder",
    "DivergenceError",
    "GradientReport",
    "HuberLoss",
    "Loss",
    "MLPClassifier",
    "MLPRegressor",
    "Network",
    "PinballLoss",
    "SGD",
    "StochasticTrainer",
    "central_differences",
    "check_gradients",
    "check_layer_gradients",
    "check_loss_gradients",
    "layer_diagnostics",
    "load",
    "minimize_lbfgs",
    "show_versions",
    "__version__",
]

ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def load(path: str | os.PathLike[str]) -> Any:
    """The model saved at path: a Network, or a fitted MLPClassifier or MLPRegressor.

    ``nnbp.io.read`` checks the file against the format, executing nothing in
    it; then the model's class takes its state and checks it. Loading an
    estimator needs scikit-learn.

    The loaded network's ``metadata`` is the saved metadata (the caller's and
    what save added); an estimator's is ``estimator.network_.metadata``. A
    network of the earlier ``nnbp train``, whose metadata kept the features'
    standardisation for ``nnbp predict``, loads with it folded into its first
    layer: as every model of ``nnbp train``, it takes raw rows (see nnbp.io).

    Parameters
    ----------
    path : str or os.PathLike
        The model file, as ``nnbp.io.save`` or a model's ``save`` wrote it.

    Returns
    -------
    Network, MLPClassifier or MLPRegressor
        The model, as it was saved.

    Raises
    ------
    FileNotFoundError
        If there is no file at path.
    nnbp.io.ModelFileError
        If the file is not a valid nnbp model file (a ValueError), naming the
        file and the problem.

    See Also
    --------
    nnbp.io.save : Save a model.

    Examples
    --------
    >>> import os, tempfile
    >>> import nnbp
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.npz")
    ...     nnbp.io.save(nnbp.Network([4, 3], seed=0), path)
    ...     net = nnbp.load(path)
    >>> net.layer_sizes
    (4, 3)
    """
    return io.load(path, _model_classes)


def _model_classes(kind):
    """(the network's class, the estimator's class or None) of a model file of kind."""
    if kind == "Network":
        return Network, None
    from nnbp import estimators   # needs scikit-learn
    return Network, getattr(estimators, kind)


def __getattr__(name):
    # The estimators need scikit-learn, which nnbp itself does not: they are
    # imported on first use, so that `import nnbp` works without it.
    if name in ESTIMATORS:
        from nnbp import estimators
        return getattr(estimators, name)
    raise AttributeError(f"module 'nnbp' has no attribute {name!r}")
