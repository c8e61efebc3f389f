"""
The digits quickstart
=====================

Train :class:`nnbp.MLPClassifier` on the handwritten digits bundled with nnbp
(1,797 images of 8 x 8 pixels), in a scikit-learn pipeline, and look at its loss
curve and at the digits it gets wrong.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

import nnbp
from nnbp.datasets import load_digits

X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)

# %%
# The estimator takes scikit-learn's parameters, and fits in a fraction of a second.
model = make_pipeline(MinMaxScaler(), nnbp.MLPClassifier(hidden_layer_sizes=(64,),
                                                         learning_rate_init=0.01,
                                                         max_iter=200, random_state=0))
model.fit(X_train, y_train)
mlp = model[-1]
print(f"{mlp.n_iter_} epochs, held-out accuracy {model.score(X_test, y_test):.1%}")

# %%
# The loss of each epoch, as scikit-learn records it in ``loss_curve_``, and the
# confusion matrix of the held-out digits.
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.plot(np.arange(1, mlp.n_iter_ + 1), mlp.loss_curve_, marker=".")
left.set_yscale("log")
left.set_xlabel("epoch")
left.set_ylabel("training loss")
ConfusionMatrixDisplay.from_estimator(model, X_test, y_test, ax=right, colorbar=False)
right.set_title("held-out digits")
figure.tight_layout()

# %%
# The digits it gets wrong, with what it predicted.
predicted = model.predict(X_test)
wrong = np.flatnonzero(predicted != y_test)[:8]
figure, axes = plt.subplots(1, max(len(wrong), 1), figsize=(10, 1.8), squeeze=False)
for ax, row in zip(axes[0], wrong):
    ax.imshow(X_test[row].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{y_test[row]} as {predicted[row]}", fontsize="small")
for ax in axes[0]:
    ax.axis("off")
