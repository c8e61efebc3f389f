"""nnbp: dense neural networks trained by backpropagation, compiled and verified."""
from nnbp.diagnostics import DiagnosticsRecorder, layer_diagnostics
from nnbp.gradcheck import (
    GradientReport,
    check_gradients,
    check_layer_gradients,
    check_loss_gradients,
)
from nnbp.network import ACTIVATIONS, INITS, OUTPUTS, Network
from nnbp.optim import SGD, Adam, minimize_lbfgs
from nnbp.io import load
from nnbp._versions import show_versions
from nnbp.training import DivergenceError, StochasticTrainer

__version__ = "0.1.0"
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


def __getattr__(name):
    # The estimators need scikit-learn, which nnbp itself does not: they are
    # imported on first use, so that `import nnbp` works without it.
    if name in ESTIMATORS:
        from nnbp import estimators
        return getattr(estimators, name)
    raise AttributeError(f"module 'nnbp' has no attribute {name!r}")
