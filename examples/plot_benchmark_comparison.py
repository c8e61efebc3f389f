"""
nnbp against scikit-learn and PyTorch
=====================================

The benchmark in ``bench/`` times, in one run and on the same data, the matrix
products of backpropagation alone (the floor), PyTorch on the CPU,
scikit-learn's MLP and nnbp, and writes every figure to JSON. This example plots
its committed results (``bench/results.json``) without running anything: the
machine it ran on is printed first. The :doc:`../benchmarks` page has every
table.
"""

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

# The examples sit beside bench/ in a checkout; sphinx-gallery runs them from their
# folder, without a __file__.
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
BENCH = HERE.parent / "bench"
results = json.loads((BENCH / "results.json").read_text())
versions = results["machine"]["versions"]
blas = versions["blas"][-1]
print(f"{versions['processor']}, {versions['platform']}; OpenBLAS {blas['version']} "
      f"({blas['architecture']}), {blas['threads']} threads; PyTorch {results['machine']['torch']}, "
      f"scikit-learn {results['machine']['sklearn']}")

# %%
# One epoch of plain SGD on each workload, float32: how many times faster nnbp
# is than PyTorch and than scikit-learn (above 1: nnbp is faster).
rows = [row for row in results["epoch"] if row["dtype"] == "float32"]
labels = [f"{row['sizes']}\nbatch {row['batch']}" for row in rows]


def speedup(row, peer, ours):
    return row["times"][peer]["seconds"] / row["times"][ours]["seconds"]


figure, ax = plt.subplots(figsize=(10, 4))
x = np.arange(len(rows))
ax.bar(x - 0.2, [speedup(row, "PyTorch", "nnbp") for row in rows], width=0.4,
       label="PyTorch / nnbp")
ax.bar(x + 0.2, [speedup(row, "scikit-learn", "nnbp estimator") for row in rows], width=0.4,
       label="scikit-learn / nnbp's estimator")
ax.axhline(1, color="black", linewidth=0.8)
ax.set_xticks(x, labels, fontsize="x-small")
ax.set_yscale("log")
ax.set_ylabel("times faster (epoch, float32)")
ax.legend()
figure.tight_layout()

# %%
# Whole fits: scikit-learn's ``MLPClassifier`` against nnbp's at equal
# hyperparameters, and PyTorch's own training recipe against nnbp's estimator.
fits = results["fits"]
torch_fit = results["torch_fit"]
names = [f"{fit['data']}\n{fit['solver']}, batch {fit['batch']}" for fit in fits]
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=[3, 1])
y = np.arange(len(fits))
left.barh(y - 0.2, [fit["seconds"]["scikit-learn"] for fit in fits], height=0.4,
          label="scikit-learn")
left.barh(y + 0.2, [fit["seconds"]["nnbp"] for fit in fits], height=0.4, label="nnbp")
left.set_yticks(y, names, fontsize="x-small")
left.invert_yaxis()
left.set_xlabel("seconds")
left.legend()
right.bar(["nnbp", "PyTorch"], [torch_fit["nnbp"]["seconds"], torch_fit["PyTorch"]["seconds"]],
          color=["tab:orange", "tab:green"])
right.set_ylabel("seconds, whole fit")
right.set_title(f"held-out accuracy: nnbp {torch_fit['nnbp']['accuracy']:.1%}, "
                f"PyTorch {torch_fit['PyTorch']['accuracy']:.1%}", fontsize="small")
figure.tight_layout()
print(f"whole fit against PyTorch: {torch_fit['ratio']:.2f} of its time")
