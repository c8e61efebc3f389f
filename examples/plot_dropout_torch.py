"""
Dropout with weight decay on the digits, against PyTorch
========================================================

Train a network with two hidden layers on the handwritten digits, with
inverted dropout on its hidden layers (``dropout=``) and decoupled weight
decay (``nnbp.Adam(weight_decay=...)``, PyTorch's AdamW), beside the same
network trained without dropout. Dropout acts in training only: the training
loss is that of the thinned networks, and the accuracies are the whole
network's.

PyTorch, where it is installed, trains the same network from the same start
on the same batches, each hidden activation multiplied by the very factors
nnbp drew (``Network.dropout_masks`` gives them: a hash of the epoch's seed,
the batch, the layer, the row and the unit), so that the two loss curves lie
on each other. ``torch.nn.Dropout`` would draw masks of its own: the same
recipe, another draw.
"""

import matplotlib.pyplot as plt
import numpy as np

import nnbp
from nnbp import StochasticTrainer
from nnbp.datasets import load_digits

X, y = load_digits()
X = X / 16.0
order = np.random.default_rng(0).permutation(len(X))
train, test = order[:1300], order[1300:]
sizes, rates, batch, epochs = [64, 128, 64, 10], [0.3, 0.3], 100, 20
decay, rate = 0.05, 0.003


def fit(dropout):
    """The network and its trainer after the epochs, from the seed-0 start."""
    net = nnbp.Network(sizes, activation="relu", output="softmax", seed=0)
    trainer = StochasticTrainer(net, nnbp.Adam(rate, weight_decay=decay), batch_size=batch,
                                shuffle=False, random_state=np.random.RandomState(0),
                                tol=0.0, n_iter_no_change=np.inf, dropout=dropout)
    trainer.fit(X[train], y[train], max_epochs=epochs)
    return net, trainer


def accuracy(net, rows):
    return np.mean(net.forward(X[rows]).argmax(axis=1) == y[rows])


results = {"no dropout": fit(0.0), "dropout 0.3": fit(rates)}
for name, (net, trainer) in results.items():
    print(f"nnbp, {name}: training loss {trainer.loss_curve[-1]:.4f}, accuracy "
          f"{accuracy(net, train):.1%} on the training rows, {accuracy(net, test):.1%} on "
          "the held-out ones")

# %%
# The same in PyTorch, batch by batch, the rows in order. Each epoch's seed is
# the one nnbp drew from its random_state (the trainer's first draw of the
# epoch, as the shuffle is off), and batch k of the epoch is step k. PyTorch's
# AdamW adds eps to the corrected sqrt(v / (1 - b2^t)), nnbp (as
# scikit-learn) to sqrt(v): PyTorch's step with eps / sqrt(1 - b2^t) at step
# t is nnbp's.
try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: nnbp's curves alone")

torch_curve = None
if torch is not None:
    # Batches of 100 rows are too small for PyTorch's threads to pay.
    torch.set_num_threads(1)
    start = nnbp.Network(sizes, activation="relu", output="softmax", seed=0)
    layers = [torch.nn.Linear(m, k, dtype=torch.float64) for m, k in zip(sizes, sizes[1:])]
    with torch.no_grad():
        for layer, W, b in zip(layers, start.weights, start.biases):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    parameters = [p for layer in layers for p in layer.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=rate, weight_decay=decay)
    draws = np.random.RandomState(0)
    inputs, labels = torch.from_numpy(X[train]), torch.from_numpy(y[train])
    torch_curve = []
    for epoch in range(epochs):
        seed = int(draws.randint(np.iinfo(np.int64).max, dtype=np.int64))
        total = 0.0
        for step, first in enumerate(range(0, len(train), batch)):
            rows = slice(first, first + batch)
            masks = start.dropout_masks(len(labels[rows]), rates, seed=seed, step=step)
            h = inputs[rows]
            for layer, mask in zip(layers[:-1], masks):
                h = torch.relu(layer(h)) * torch.from_numpy(mask)
            loss = torch.nn.functional.cross_entropy(layers[-1](h), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            t = optimizer.state[layers[0].weight].get("step", 0) + 1
            optimizer.param_groups[0]["eps"] = 1e-8 / np.sqrt(1 - 0.999 ** float(t))
            optimizer.step()
            total += loss.item() * len(labels[rows])
        torch_curve.append(total / len(train))
    net = results["dropout 0.3"][0]
    ours = np.concatenate([W.ravel() for W in net.weights] + list(net.biases))
    theirs = np.concatenate([layer.weight.detach().numpy().ravel() for layer in layers]
                            + [layer.bias.detach().numpy() for layer in layers])
    print(f"PyTorch, dropout 0.3 with nnbp's masks: training loss {torch_curve[-1]:.4f}; the "
          f"parameters differ by {np.abs(ours - theirs).max() / np.abs(theirs).max():.1e} "
          "of their largest")

# %%
# The training loss of each epoch: with dropout it is the thinned networks'
# loss, higher than the whole network's.
figure, axes = plt.subplots(figsize=(6, 4))
for name, (net, trainer) in results.items():
    axes.plot(np.arange(1, epochs + 1), trainer.loss_curve, marker="o", label=f"nnbp, {name}")
if torch_curve is not None:
    axes.plot(np.arange(1, epochs + 1), torch_curve, marker=".",
              label="PyTorch, dropout 0.3 (nnbp's masks)")
axes.set_yscale("log")
axes.set_xlabel("epoch")
axes.set_ylabel("training loss")
axes.legend()
figure.tight_layout()
plt.show()
