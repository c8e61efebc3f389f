"""nnbp: dense neural networks trained by backpropagation, compiled and verified."""
from nnbp.gradcheck import (
    GradientReport,
    check_gradients,
    check_layer_gradients,
    check_loss_gradients,
)
from nnbp.network import ACTIVATIONS, INITS, OUTPUTS, Network

__version__ = "0.1.0"
__all__ = [
    "ACTIVATIONS",
    "INITS",
    "OUTPUTS",
    "GradientReport",
    "Network",
    "check_gradients",
    "check_layer_gradients",
    "check_loss_gradients",
    "__version__",
]
