"""
AdamW, gradient clipping and a cosine schedule, against PyTorch
===============================================================

Train a network on the handwritten digits with decoupled weight decay
(``nnbp.Adam(weight_decay=...)``, PyTorch's AdamW), each batch's gradient
clipped to a global norm (``torch.nn.utils.clip_grad_norm_``), and a learning
rate that warms up linearly and then falls along a cosine (PyTorch's
``LinearLR`` then ``CosineAnnealingLR``). PyTorch, where it is installed,
trains the same network from the same start on the same batches: the two loss
curves lie on each other.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

import nnbp
from nnbp import StochasticTrainer
from nnbp.datasets import load_digits

X, y = load_digits()
X = X / 16.0
batch, epochs, rate = 128, 15, 0.01
steps = epochs * math.ceil(len(X) / batch)
warmup = steps // 10

net = nnbp.Network([64, 64, 10], activation="tanh", output="softmax", alpha=0.0, seed=0)
start = [W.copy() for W in net.weights], [b.copy() for b in net.biases]
adamw = nnbp.Adam(rate, weight_decay=0.05, max_grad_norm=1.0, schedule="cosine",
                  warmup_steps=warmup, total_steps=steps)
trainer = StochasticTrainer(net, adamw, batch_size=batch, shuffle=False, tol=0.0,
                            n_iter_no_change=np.inf)
trainer.fit(X, y, max_epochs=epochs)
accuracy = np.mean(net.forward(X).argmax(axis=1) == y)
print(f"nnbp: {adamw.updates} updates, training loss {trainer.loss_curve[-1]:.4f}, "
      f"accuracy {accuracy:.1%}")

# %%
# The same in PyTorch, batch by batch: the rows in order, the loss the mean
# cross-entropy. Its AdamW adds eps to the corrected sqrt(v / (1 - b2^t)),
# nnbp (as scikit-learn) to sqrt(v): PyTorch's step with eps / sqrt(1 - b2^t)
# at step t is nnbp's. With eps left at 1e-8, the parameters whose gradient
# is tiny would move differently in the first steps, and the two runs drift
# apart by some 1e-3 of the parameters' scale.
try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: nnbp's curve alone")

torch_curve = None
if torch is not None:
    torch.manual_seed(0)
    layers = [torch.nn.Linear(64, 64, dtype=torch.float64),
              torch.nn.Linear(64, 10, dtype=torch.float64)]
    with torch.no_grad():
        for layer, W, b in zip(layers, *start):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    model = torch.nn.Sequential(layers[0], torch.nn.Tanh(), layers[1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=rate, weight_decay=0.05, eps=1e-8)
    schedule = torch.optim.lr_scheduler.SequentialLR(optimizer, [
        torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1),
                                          total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps - warmup),
    ], milestones=[warmup])
    inputs, labels = torch.from_numpy(X), torch.from_numpy(y)
    torch_curve = []
    for epoch in range(epochs):
        total = 0.0
        for first in range(0, len(X), batch):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(inputs[first:first + batch]),
                                                     labels[first:first + batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            t = optimizer.state[layers[0].weight].get("step", 0) + 1
            optimizer.param_groups[0]["eps"] = 1e-8 / math.sqrt(1 - 0.999 ** float(t))
            optimizer.step()
            schedule.step()
            total += loss.item() * len(labels[first:first + batch])
        torch_curve.append(total / len(X))
    ours = np.concatenate([W.ravel() for W in net.weights] + list(net.biases))
    theirs = np.concatenate([layer.weight.detach().numpy().ravel() for layer in layers]
                            + [layer.bias.detach().numpy() for layer in layers])
    print(f"PyTorch: training loss {torch_curve[-1]:.4f}; the parameters differ by "
          f"{np.abs(ours - theirs).max() / np.abs(theirs).max():.1e} of their largest")

# %%
# The loss of each epoch, and the learning rate of each update.
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.plot(np.arange(1, epochs + 1), trainer.loss_curve, marker="o", label="nnbp")
if torch_curve is not None:
    left.plot(np.arange(1, epochs + 1), torch_curve, marker=".", label="PyTorch")
left.set_yscale("log")
left.set_xlabel("epoch")
left.set_ylabel("training loss")
left.legend()
rates = [nnbp.reference.cosine_learning_rate(rate, t, warmup, steps) for t in range(steps)]
right.plot(rates)
right.set_xlabel("update")
right.set_ylabel("learning rate")
right.set_title(f"{warmup} updates of warm-up, then a cosine")
figure.tight_layout()
plt.show()
