"""
Dask on a LocalCluster
======================

:class:`nnbp.dask.DaskMLPClassifier` trains where the data's partitions live:
only parameters and gradients cross between the workers and the client. Here
a small LocalCluster of two workers (threads of this process, to keep the
example quick; a real cluster's workers are processes on other machines) fits
the digits with L-BFGS, which on the cluster is L-BFGS on the concatenated
rows, and then with sgd, whose local steps are averaged every ``sync_every``.
"""

import warnings

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from dask.distributed import Client, LocalCluster
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import nnbp
from nnbp.dask import DaskMLPClassifier
from nnbp.datasets import load_digits

# The iterations are capped to keep the example quick: the fits stop before they converge.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits()
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, random_state=0, stratify=y)
lbfgs = dict(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=40, random_state=0)
sgd = dict(hidden_layer_sizes=(32,), solver="sgd", learning_rate_init=0.1, batch_size=200,
           max_iter=30, sync_every=4, random_state=0)

cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                       dashboard_address=None)
client = Client(cluster)
X_dask = da.from_array(X_train, chunks=(350, 64))     # 4 partitions of rows
y_dask = da.from_array(y_train, chunks=350)

# %%
# L-BFGS on the cluster, against the same fit in this process.
on_dask = DaskMLPClassifier(**lbfgs).fit(X_dask, y_dask).to_local()
alone = nnbp.MLPClassifier(**lbfgs).fit(X_train, y_train)
difference = np.abs(on_dask.network_.params - alone.network_.params).max()
print(f"L-BFGS: parameters within {difference / np.abs(alone.network_.params).max():.1e} "
      f"(relative) of one process's; held-out accuracy {on_dask.score(X_test, y_test):.1%}")

# %%
# Local SGD: each worker takes ``sync_every`` steps on its own rows, then the
# client averages the parameters. Predictions come back as lazy dask arrays.
model = DaskMLPClassifier(**sgd).fit(X_dask, y_dask)
predicted = model.predict(da.from_array(X_test, chunks=150))
print(f"predict gives a {type(predicted).__name__}; "
      f"held-out accuracy {np.mean(predicted.compute() == y_test):.1%}")
local_sgd = {key: value for key, value in sgd.items() if key != "sync_every"}
one_process = nnbp.MLPClassifier(**local_sgd).fit(X_train, y_train)

client.close()
cluster.close()

# %%
# The loss curves: L-BFGS's iterations on the cluster and alone coincide; local
# SGD follows one process's minibatch SGD at the same global batch.
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.plot(on_dask.loss_curve_, label="2 workers")
left.plot(alone.loss_curve_, linestyle="--", label="one process")
left.set_title("L-BFGS")
right.plot(model.to_local().loss_curve_, label="2 workers, local SGD")
right.plot(one_process.loss_curve_, linestyle="--", label="one process")
right.set_title("sgd")
for ax in (left, right):
    ax.set_yscale("log")
    ax.set_xlabel("iteration" if ax is left else "epoch")
    ax.set_ylabel("training loss")
    ax.legend()
figure.tight_layout()
