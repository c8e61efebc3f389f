"""nnbp's own threads: an epoch on one thread against a team, and a whole fit against PyTorch.

- ``scaling``: one epoch of plain SGD at each batch size on 1 thread and on
  all of them (threadpoolctl's OpenMP limit), and their speed-up; a batch
  whose layers average fewer flops than PARALLEL_FLOPS stays on one thread
  (nnbp._threads), and its speed-up is 1 within noise.
- ``fit_against_torch``: MLPClassifier on 8,000 rows of 784 float32 features
  (10 classes; 256 and 128 hidden units; SGD with Nesterov momentum 0.9,
  batch 64, 10 epochs, no penalty) against PyTorch doing the same recipe
  (nn.Sequential of Linear and ReLU, cross-entropy, torch.optim.SGD, a
  DataLoader-free shuffled loop, as its users write it), with the held-out
  accuracy of each on 2,000 more rows.
"""
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import nnbp
from nnbp import _threads
from nnbp_bench.contenders import Nnbp, torch_available
from nnbp_bench.measure import median_seconds

FIT_ROWS, HELD_OUT, FIT_FEATURES, FIT_EPOCHS, FIT_BATCH = 8000, 2000, 784, 10, 64
FIT_LEARNING_RATE = 0.01


def scaling(workload, dtype, batches, repeats):
    """{batch: seconds on 1 thread, on all threads, and the speed-up} for an epoch."""
    X, y = workload.data(dtype)
    rows = []
    for batch in batches:
        seconds = {}
        for threads in (1, _threads.wanted_threads()):
            epoch = Nnbp(workload, dtype).epoch(X, y, batch)
            with threadpool_limits(threads, user_api="openmp"):
                seconds[threads] = median_seconds(epoch, repeats)
        threads = max(seconds)
        rows.append(dict(sizes=workload.label, dtype=np.dtype(dtype).name, batch=batch,
                         threads=threads, seconds_one=seconds[1], seconds_team=seconds[threads],
                         speedup=seconds[1] / seconds[threads]))
    return rows


def fit_data(seed=0):
    """A 10-class problem of FIT_FEATURES float32 features: noisy class centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, FIT_FEATURES))
    labels = rng.integers(0, 10, FIT_ROWS + HELD_OUT)
    X = (centres[labels] + 4.0 * rng.standard_normal((labels.size, FIT_FEATURES)))
    X = (X / np.sqrt(FIT_FEATURES)).astype(np.float32)
    return X[:FIT_ROWS], labels[:FIT_ROWS], X[FIT_ROWS:], labels[FIT_ROWS:]


def nnbp_fit(X, y):
    model = nnbp.MLPClassifier(hidden_layer_sizes=(256, 128), solver="sgd", momentum=0.9,
                               nesterovs_momentum=True, batch_size=FIT_BATCH,
                               learning_rate_init=FIT_LEARNING_RATE, alpha=0.0,
                               max_iter=FIT_EPOCHS, n_iter_no_change=FIT_EPOCHS + 1, tol=0.0,
                               random_state=0, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # max_iter reached: not converged
        return model.fit(X, y)


def torch_fit(X, y):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(FIT_FEATURES, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=FIT_LEARNING_RATE, momentum=0.9,
                                nesterov=True)
    loss = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)
    for _ in range(FIT_EPOCHS):
        order = torch.randperm(X_t.shape[0], generator=generator)
        for start in range(0, X_t.shape[0], FIT_BATCH):
            rows = order[start:start + FIT_BATCH]
            optimizer.zero_grad()
            loss(model(X_t[rows]), y_t[rows]).backward()
            optimizer.step()
    return model


def torch_accuracy(model, X, y):
    import torch

    with torch.inference_mode():
        return float((model(torch.from_numpy(X)).argmax(dim=1).numpy() == y).mean())


def fit_against_torch(repeats, log):
    """Seconds and held-out accuracy of each whole fit; None without PyTorch."""
    if not torch_available():
        return None
    X, y, X_held, y_held = fit_data()
    result = {}
    for name, fit, accuracy in (
            ("nnbp", nnbp_fit, lambda model: float(model.score(X_held, y_held))),
            ("PyTorch", torch_fit, lambda model: torch_accuracy(model, X_held, y_held))):
        fit(X, y)                                    # warm up
        times, model = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            model = fit(X, y)
            times.append(time.perf_counter() - start)
        result[name] = dict(seconds=float(np.median(times)), accuracy=accuracy(model))
        log(f"  fit against PyTorch, {name}: {result[name]['seconds']:.2f} s, held-out "
            f"accuracy {result[name]['accuracy']:.1%}")
    result["ratio"] = result["nnbp"]["seconds"] / result["PyTorch"]["seconds"]
    return result
