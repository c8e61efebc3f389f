"""nnbp: dense neural networks trained by backpropagation, compiled and verified."""
from nnbp.diagnostics import DiagnosticsRecorder, layer_diagnostics
from nnbp.gradcheck import (
    GradientReport,
    check_gradients,
    check_layer_gradients,
    check_loss_gradients,
)
from nnbp import io
from nnbp._version import __version__
from nnbp.network import ACTIVATIONS, INITS, OUTPUTS, Network
from nnbp.optim import SGD, Adam, minimize_lbfgs
from nnbp._show_versions import show_versions
from nnbp.training import DivergenceError, StochasticTrainer
__all__ = [
    "ACTIVATIONS",
    "INITS",
    "OUTPUTS",
    "Adam",
    "DiagnosticsRecorder",
    "DivergenceError",
    "GradientReport",
    "MLPClassifier",
    "MLPRegressor",
    "Network",
    "SGD",
    "StochasticTrainer",
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


def load(path):
    """The model saved at path: a Network, or a fitted MLPClassifier or MLPRegressor.

    nnbp.io.read checks the file against the format, executing nothing in it;
    then the model's class takes its state and checks it. A missing file
    raises FileNotFoundError; a file that is not a valid nnbp model file,
    nnbp.io.ModelFileError (a ValueError) naming the file and the problem.
    Loading an estimator needs scikit-learn.

    The loaded network's ``metadata`` is the saved metadata (the caller's and
    what save added); an estimator's is ``estimator.network_.metadata``. A
    network of the earlier ``nnbp train``, whose metadata kept the features'
    standardisation for ``nnbp predict``, loads with it folded into its first
    layer: as every model of ``nnbp train``, it takes raw rows (see nnbp.io).
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
