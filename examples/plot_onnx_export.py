"""
An ONNX export checked in onnxruntime
=====================================

:func:`nnbp.onnx.to_onnx` writes a fitted estimator (or a :class:`nnbp.Network`)
as an ONNX graph, and ``import nnbp.onnx`` registers nnbp's estimators with
skl2onnx, so that a whole scikit-learn pipeline converts as scikit-learn's own
MLP would. Here both graphs run in onnxruntime, and their outputs are compared
with nnbp's, in float64 and float32.
"""

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime
import skl2onnx
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nnbp
import nnbp.onnx
from nnbp.datasets import load_digits

X, y = load_digits()
model = make_pipeline(StandardScaler(),
                      nnbp.MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0))
model.fit(X, y)


def run(graph, inputs):
    """The graph's outputs in onnxruntime."""
    session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {"X": inputs})


# %%
# The whole pipeline, scaler included, through skl2onnx, in float64.
graph = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
labels, probabilities = run(graph, X)
assert np.array_equal(labels, model.predict(X))
error64 = np.abs(probabilities - model.predict_proba(X)) / model.predict_proba(X)
print(f"pipeline, float64: labels equal, largest relative difference {error64.max():.1e}")

# %%
# The estimator alone, in float32, by nnbp's own converter.
scaler, mlp = model
X32 = scaler.transform(X).astype(np.float32)
graph = nnbp.onnx.to_onnx(mlp, dtype=np.float32, zipmap=False)
print("outputs:", [output.name for output in graph.graph.output])
labels32, probabilities32 = run(graph, X32)
reference = mlp.network_.copy(np.float32).forward(X32)
error32 = np.abs(probabilities32 - reference) / reference
print(f"estimator, float32: {np.mean(labels32 == mlp.predict(X32)):.2%} of labels equal, "
      f"largest relative difference {error32.max():.1e}")

# %%
# The relative differences of every probability: float64's are round-off in the
# last digits, float32's near its precision, 1.2e-7.
figure, ax = plt.subplots(figsize=(7, 3.5))
for name, errors in (("float64", error64), ("float32", error32)):
    positive = errors[errors > 0].ravel()
    ax.hist(np.log10(positive), bins=40, alpha=0.7, label=f"{name} ({positive.size} nonzero)")
ax.set_xlabel("log10 of the relative difference from nnbp")
ax.set_ylabel("probabilities")
ax.legend()
figure.tight_layout()
