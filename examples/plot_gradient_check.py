"""
A gradient-check report
=======================

:func:`nnbp.check_gradients` compares a network's compiled gradient, block by
block, with central finite differences and with the pure-Python reference
(:mod:`nnbp.reference`). Here it checks a network of each hidden activation,
then shows how far the same comparison finds a gradient that is slightly wrong.
"""

import matplotlib.pyplot as plt
import numpy as np

import nnbp
from nnbp.gradcheck import central_differences

rng = np.random.default_rng(0)
X = rng.normal(size=(20, 5))
y = rng.integers(0, 3, size=20)

# %%
# One report in full: the largest relative error of each block against finite
# differences and against the reference, and the verdict.
net = nnbp.Network([5, 8, 6, 3], activation="tanh", output="softmax", seed=0)
report = nnbp.check_gradients(net, X, y)
print(report)
assert report.passed

# %%
# Every hidden activation, in float64 and float32: the errors against finite
# differences and their tolerances (dashed). float32 gradients are rounded at
# about 1e-7, so their tolerance is wider.
errors = {}
for dtype in (np.float64, np.float32):
    for activation in nnbp.ACTIVATIONS:
        net = nnbp.Network([5, 8, 6, 3], activation=activation, output="softmax",
                           dtype=dtype, seed=0)
        report = nnbp.check_gradients(net, X, y)
        assert report.passed, report
        errors[np.dtype(dtype).name, activation] = (report.finite_difference_error,
                                                    report.tolerance["finite_difference"])

figure, ax = plt.subplots(figsize=(8, 3.5))
for offset, dtype in ((-0.2, "float64"), (0.2, "float32")):
    values = [errors[dtype, activation][0] for activation in nnbp.ACTIVATIONS]
    bars = ax.bar(np.arange(len(values)) + offset, values, width=0.4, label=dtype)
    ax.axhline(errors[dtype, nnbp.ACTIVATIONS[0]][1], linestyle="--",
               color=bars.patches[0].get_facecolor())
ax.set_xticks(np.arange(len(nnbp.ACTIVATIONS)), nnbp.ACTIVATIONS)
ax.set_yscale("log")
ax.set_ylabel("largest relative error")
ax.legend()
figure.tight_layout()

# %%
# A wrong gradient: the true one with its first bias block scaled by 1.001.
# ``central_differences`` works on any function of a flat vector; here, the
# loss as a function of the parameters.
net = nnbp.Network([5, 8, 3], activation="tanh", output="softmax", seed=0)
loss, grad = net.loss_and_grad(X, y)
wrong = grad.copy()
wrong[dict(net.block_slices())["b(1)"]] *= 1.001


def loss_of(params):
    twin = net.copy()
    twin.params[:] = params
    return twin.loss(X, y)


numeric = central_differences(loss_of, net.params.copy(), np.finfo(float).eps ** (1 / 3))
for name, gradient in (("compiled", grad), ("scaled by 1.001", wrong)):
    error = np.abs(gradient - numeric).max() / np.abs(numeric).max()
    print(f"{name:>16}: largest relative error {error:.1e}")
