"""
A loss of your own: checked by finite differences, then trained
================================================================

Backpropagation needs nothing of a loss but its gradient with respect to the
network's logits. Here a log-cosh loss, written in NumPy as an
:class:`nnbp.Loss`, is checked by :func:`nnbp.check_gradients` (finite
differences, and the pure-Python reference backpropagating its gradient), then
trained on data with heavy-tailed noise, beside the squared error and the
built-in :class:`nnbp.HuberLoss`, which runs compiled.
"""

import matplotlib.pyplot as plt
import numpy as np

import nnbp


class LogCosh(nnbp.Loss):
    """log(cosh(z - y)): quadratic near 0, linear far out, smooth everywhere."""

    output = "squared"

    def loss_gradient(self, y_true, raw_prediction, sample_weight=None):
        s = np.ones(len(y_true)) if sample_weight is None else sample_weight
        r = raw_prediction - y_true
        # log cosh r = |r| + log1p(e^{-2|r|}) - log 2: cosh overflows, this does not.
        losses = (np.abs(r) + np.log1p(np.exp(-2 * np.abs(r))) - np.log(2)).sum(axis=1)
        S = float(s.sum())
        return float(s @ losses) / S, s[:, None] * np.tanh(r) / S


rng = np.random.default_rng(0)
X = rng.uniform(-3, 3, size=(400, 1))
y = np.sin(X[:, 0]) + 0.3 * rng.standard_t(1.2, size=400)    # outliers

# %%
# The check: the loss's gradient, backpropagated by the compiled core, against
# finite differences of the whole loss and against the reference.
net = nnbp.Network([1, 16, 1], activation="tanh", output="squared", seed=0)
report = nnbp.check_gradients(net, X[:30], y[:30], loss=LogCosh(), reference=True)
print(report)
assert report.passed

# %%
# Training: the squared error follows the outliers; log-cosh and Huber do not.
grid = np.linspace(-3, 3, 200).reshape(-1, 1)
figure, ax = plt.subplots(figsize=(7, 4))
ax.scatter(X[:, 0], y, s=6, color="0.7", label="data")
ax.plot(grid, np.sin(grid), "k--", label="sin(x)")
for name, loss in (("squared error", None), ("log-cosh (Python)", LogCosh()),
                   ("Huber (compiled)", nnbp.HuberLoss(delta=0.5))):
    net = nnbp.Network([1, 16, 1], activation="tanh", output="squared", seed=0)
    trainer = nnbp.StochasticTrainer(net, nnbp.Adam(learning_rate=0.01), batch_size=32,
                                     random_state=0, loss=loss)
    trainer.fit(X, y, max_epochs=200)
    error = np.mean(np.abs(net.forward(grid).ravel() - np.sin(grid[:, 0])))
    print(f"{name}: mean distance to sin(x) {error:.3f}")
    ax.plot(grid, net.forward(grid), label=name)
ax.set_ylim(-3, 3)
ax.legend()
plt.show()
