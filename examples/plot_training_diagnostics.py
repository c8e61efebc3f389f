"""
Loss curves and saturation diagnostics
======================================

Train one network with :class:`nnbp.StochasticTrainer`, without scikit-learn,
and record after every epoch each layer's gradient norm and the fraction of
its hidden units that are saturated (:class:`nnbp.DiagnosticsRecorder`).
A logistic network started with large weights shows what the lecture warns
of: its units saturate, their gradients vanish, and the loss stalls.
"""

import io

import matplotlib.pyplot as plt
import numpy as np

import nnbp
from nnbp.datasets import load_digits
from nnbp.plotting import plot_training

X, y = load_digits()
X = X / 16


def train(sigma):
    """A logistic network whose initial weights have deviation sigma / sqrt(fan_in)."""
    net = nnbp.Network([64, 64, 32, 10], activation="logistic", output="softmax",
                       init="normal", sigma=sigma, seed=0)
    trainer = nnbp.StochasticTrainer(net, nnbp.SGD(learning_rate=0.05), batch_size=32,
                                     random_state=0)
    recorder = nnbp.DiagnosticsRecorder(X, y)
    trainer.fit(X, y, max_epochs=30, on_epoch=recorder)
    return trainer, recorder


# %%
# A sensible start (sigma = 1) and a saturating one (sigma = 64).
runs = {sigma: train(sigma) for sigma in (1.0, 64.0)}
for sigma, (trainer, recorder) in runs.items():
    last = recorder.history[-1]
    print(f"sigma {sigma:>4}: loss {trainer.loss_curve[-1]:.3f}, saturated units "
          + ", ".join(f"{fraction:.0%}" for fraction in last["saturation"]))

# %%
# :func:`nnbp.plotting.plot_training` draws the loss, the gradient norms and the
# saturated fraction of each hidden layer into a PNG; here, of the saturating run.
trainer, recorder = runs[64.0]
png = io.BytesIO()
plot_training(trainer.loss_curve, recorder.history, png, title="sigma = 64")
png.seek(0)
figure, ax = plt.subplots(figsize=(6, 8))
ax.imshow(plt.imread(png))
ax.axis("off")

# %%
# The two runs side by side: the saturating network learns far more slowly.
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
for sigma, (trainer, recorder) in runs.items():
    epochs = [record["epoch"] for record in recorder.history]
    left.plot(epochs, trainer.loss_curve, label=f"sigma {sigma:g}")
    right.plot(epochs, [record["saturation"][1] for record in recorder.history],
               label=f"sigma {sigma:g}")
left.set_yscale("log")
left.set_xlabel("epoch")
left.set_ylabel("training loss")
right.set_xlabel("epoch")
right.set_ylabel("saturated units, hidden layer 2")
right.set_ylim(-0.03, 1.03)
left.legend()
figure.tight_layout()
