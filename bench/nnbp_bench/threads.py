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
- ``fits_against_torch``: the issue's larger recipes, TORCH_CASES: 60,000 rows
  of the same kind of data, 784-800-10 and 784-500-150-10, Adam at
  scikit-learn's defaults (learning rate 0.001, L2 alpha 0.0001), batch 128;
  PyTorch with scikit-learn's initial bounds (uniform in +-sqrt(6 / (fan_in +
  fan_out)), biases too) and its L2 penalty (alpha / 2 ||W||^2 over the
  batch's rows, weights only), so both train the same model the same way.
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


# (hidden layers, rows, held-out rows, epochs) of fits_against_torch, Adam at batch 128.
TORCH_CASES = [((800,), 60000, 10000, 5), ((500, 150), 60000, 10000, 5)]
TORCH_BATCH, ALPHA = 128, 1e-4


def fit_data(seed=0, rows=FIT_ROWS, held_out=HELD_OUT):
    """A 10-class problem of FIT_FEATURES float32 features: noisy class centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, FIT_FEATURES))
    labels = rng.integers(0, 10, rows + held_out)
    X = (centres[labels] + 4.0 * rng.standard_normal((labels.size, FIT_FEATURES)))
    X = (X / np.sqrt(FIT_FEATURES)).astype(np.float32)
    return X[:rows], labels[:rows], X[rows:], labels[rows:]


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
    return torch_train(model, optimizer, (X, y), FIT_EPOCHS, FIT_BATCH)


def torch_train(model, optimizer, data, epochs, batch, penalty=lambda rows: 0.0):
    """model trained by optimizer on data = (X, y) with cross-entropy plus penalty(rows),
    in shuffled batches, as PyTorch's users write the loop."""
    import torch

    loss = torch.nn.CrossEntropyLoss()
    X_t, y_t = (torch.from_numpy(array) for array in data)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(X_t.shape[0], generator=generator)
        for start in range(0, X_t.shape[0], batch):
            rows = order[start:start + batch]
            optimizer.zero_grad()
            (loss(model(X_t[rows]), y_t[rows]) + penalty(rows.numel())).backward()
            optimizer.step()
    return model


def torch_accuracy(model, X, y):
    import torch

    with torch.inference_mode():
        return float((model(torch.from_numpy(X)).argmax(dim=1).numpy() == y).mean())


def timed_and_scored(fit, data, repeats):
    """{"seconds": the median of repeats fits after one to warm up, "accuracy": held out}."""
    X, y, X_held, y_held = data
    fit(X, y)
    times, model = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        model = fit(X, y)
        times.append(time.perf_counter() - start)
    accuracy = (float(model.score(X_held, y_held)) if hasattr(model, "score")
                else torch_accuracy(model, X_held, y_held))
    return dict(seconds=float(np.median(times)), accuracy=accuracy)


def fit_against_torch(repeats, log):
    """Seconds and held-out accuracy of each whole fit; None without PyTorch."""
    if not torch_available():
        return None
    X, y, X_held, y_held = fit_data()
    result = {}
    for name, fit in (("nnbp", nnbp_fit), ("PyTorch", torch_fit)):
        result[name] = timed_and_scored(fit, (X, y, X_held, y_held), repeats)
        log(f"  fit against PyTorch, {name}: {result[name]['seconds']:.2f} s, held-out "
            f"accuracy {result[name]['accuracy']:.1%}")
    result["ratio"] = result["nnbp"]["seconds"] / result["PyTorch"]["seconds"]
    return result


def nnbp_adam_fit(hidden, epochs):
    """MLPClassifier with Adam at scikit-learn's defaults, batch TORCH_BATCH, `epochs` epochs."""
    def fit(X, y):
        model = nnbp.MLPClassifier(hidden_layer_sizes=hidden, solver="adam",
                                   batch_size=TORCH_BATCH, alpha=ALPHA, max_iter=epochs,
                                   n_iter_no_change=epochs + 1, tol=0.0, random_state=0,
                                   dtype="float32")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")             # max_iter reached: not converged
            return model.fit(X, y)
    return fit


def torch_adam_fit(hidden, epochs):
    """PyTorch's same recipe: scikit-learn's initial bounds and L2 penalty, Adam, batch 128."""
    def fit(X, y):
        import torch

        torch.manual_seed(0)
        sizes, layers = [FIT_FEATURES, *hidden, 10], []
        for fan_in, fan_out in zip(sizes, sizes[1:]):
            linear = torch.nn.Linear(fan_in, fan_out)
            bound = np.sqrt(6.0 / (fan_in + fan_out))      # scikit-learn's Glorot bound
            torch.nn.init.uniform_(linear.weight, -bound, bound)
            torch.nn.init.uniform_(linear.bias, -bound, bound)
            layers += [linear, torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1])
        weights = [layer.weight for layer in layers[::2]]
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)

        def penalty(rows):
            # scikit-learn's L2: alpha / (2 n) sum ||W||^2 on a batch of n rows.
            return sum((W * W).sum() for W in weights) * (ALPHA / (2 * rows))
        return torch_train(model, optimizer, (X, y), epochs, TORCH_BATCH, penalty)
    return fit


def fits_against_torch(repeats, log, cases=TORCH_CASES):
    """A row per case: each library's seconds and held-out accuracy; [] without PyTorch."""
    if not torch_available():
        return []
    rows = []
    for hidden, n_rows, held_out, epochs in cases:
        X, y, X_held, y_held = fit_data(rows=n_rows, held_out=held_out)
        row = dict(sizes="-".join(map(str, (FIT_FEATURES, *hidden, 10))), rows=n_rows,
                   epochs=epochs, batch=TORCH_BATCH)
        for name, fit in (("nnbp", nnbp_adam_fit(hidden, epochs)),
                          ("PyTorch", torch_adam_fit(hidden, epochs))):
            row[name] = timed_and_scored(fit, (X, y, X_held, y_held), repeats)
        row["ratio"] = row["nnbp"]["seconds"] / row["PyTorch"]["seconds"]
        rows.append(row)
        log(f"  fit against PyTorch, {row['sizes']} on {n_rows} rows: nnbp "
            f"{row['nnbp']['seconds']:.2f} s ({row['nnbp']['accuracy']:.1%}), PyTorch "
            f"{row['PyTorch']['seconds']:.2f} s ({row['PyTorch']['accuracy']:.1%})")
    return rows
