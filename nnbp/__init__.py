"""nnbp: dense neural networks trained by backpropagation, compiled and verified."""
from nnbp.network import ACTIVATIONS, INITS, OUTPUTS, Network

__version__ = "0.1.0"
__all__ = ["ACTIVATIONS", "INITS", "OUTPUTS", "Network", "__version__"]
