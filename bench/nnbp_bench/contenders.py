"""What the benchmark times: nnbp, its floor, and its peers, on the same work.

Each contender makes zero-argument callables that do one unit of work:
``epoch`` (one epoch of plain SGD, learning rate LEARNING_RATE, no momentum,
no penalty, batches in the data's order), ``gradient`` (one loss and
gradient on all the rows) and ``predict_one`` (the outputs for one row).
A contender that cannot do a unit returns None.

Peers get their best BLAS threading: each is timed on one thread and on all
of them, and keeps the faster (``threadings``). nnbp chooses for itself.
"""
import contextlib

import numpy as np
from threadpoolctl import threadpool_limits

import nnbp
from nnbp_bench.workloads import LEARNING_RATE


def numpy_threadings():
    """Contexts under which NumPy's (and SciPy's) BLAS runs on 1 thread, and on its default."""
    return {"1 thread": lambda: threadpool_limits(limits=1, user_api="blas"),
            "all threads": contextlib.nullcontext}


def nnbp_threadings():
    """nnbp's one setting: BLAS's threads as they are, which nnbp leaves to BLAS."""
    return {"its own choice": contextlib.nullcontext}


class GemmsAlone:
    """The floor: the matrix products of backpropagation alone, in a NumPy loop.

    Per batch: Z(l) = X(l-1) W(l)^T forward, then dW(l) = D(l)^T X(l-1) and
    dX(l-1) = D(l) W(l) backward, into preallocated arrays, with fixed
    deltas. No bias, activation, loss or update: what a training step
    cannot do without.
    """

    name = "GEMMs alone"
    threadings = staticmethod(numpy_threadings)

    def __init__(self, workload, dtype):
        self.workload, self.dtype = workload, dtype
        rng = np.random.default_rng(1)
        sizes = workload.sizes
        self.weights = [0.1 * rng.standard_normal((b, a)).astype(dtype)
                        for a, b in zip(sizes, sizes[1:])]

    def epoch(self, X, y, batch):
        weights, n = self.weights, X.shape[0]
        outputs = [np.empty((batch, W.shape[0]), self.dtype) for W in weights]
        deltas = [np.ones((batch, W.shape[0]), self.dtype) for W in weights]
        input_grads = [np.empty((batch, W.shape[1]), self.dtype) for W in weights]
        weight_grads = [np.empty_like(W) for W in weights]
        starts = range(0, n, batch)

        def run():
            for start in starts:
                inputs = [X[start:start + batch]]
                rows = inputs[0].shape[0]
                for W, Z in zip(weights, outputs):
                    inputs.append(np.matmul(inputs[-1], W.T, out=Z[:rows]))
                for l in range(len(weights) - 1, -1, -1):
                    D = deltas[l][:rows]
                    np.matmul(D.T, inputs[l], out=weight_grads[l])
                    if l > 0:
                        np.matmul(D, weights[l], out=input_grads[l][:rows])
        return run

    def gradient(self, X, y):
        return self.epoch(X, y, X.shape[0])

    def predict_one(self, x, X, y):
        weights = self.weights

        def run():
            inputs = x
            for W in weights:
                inputs = inputs @ W.T
            return inputs
        return run


class NumpyMLP(GemmsAlone):
    """A plain NumPy MLP: relu hidden layers, the canonical loss, a gradient step per batch."""

    name = "NumPy MLP"

    def __init__(self, workload, dtype):
        super().__init__(workload, dtype)
        self.biases = [np.zeros(W.shape[0], dtype) for W in self.weights]

    def loss_and_gradients(self, X, y):
        weights, biases = self.weights, self.biases
        n, L = X.shape[0], len(weights)
        inputs = [X]
        for l, (W, b) in enumerate(zip(weights, biases)):
            Z = inputs[-1] @ W.T + b
            inputs.append(np.maximum(Z, 0) if l < L - 1 else Z)
        Z = inputs.pop()
        if self.workload.output == "softmax":
            Z = Z - Z.max(axis=1, keepdims=True)      # max-subtracted: exp cannot overflow
            log_norm = np.log(np.exp(Z).sum(axis=1, keepdims=True))
            rows = np.arange(n)
            loss = -(Z[rows, y] - log_norm[:, 0]).mean()
            D = np.exp(Z - log_norm)
            D[rows, y] -= 1
        else:
            D = Z - y
            loss = 0.5 * np.mean(np.sum(D * D, axis=1))
        D /= n
        grads = [None] * L
        for l in range(L - 1, -1, -1):
            grads[l] = (D.T @ inputs[l], D.sum(axis=0))
            if l > 0:
                D = (D @ weights[l]) * (inputs[l] > 0)
        return loss, grads

    def epoch(self, X, y, batch):
        starts = range(0, X.shape[0], batch)

        def run():
            for start in starts:
                _, grads = self.loss_and_gradients(X[start:start + batch], y[start:start + batch])
                for W, b, (dW, db) in zip(self.weights, self.biases, grads):
                    W -= self.dtype(LEARNING_RATE) * dW
                    b -= self.dtype(LEARNING_RATE) * db
        return run

    def gradient(self, X, y):
        return lambda: self.loss_and_gradients(X, y)

    def predict_one(self, x, X, y):
        weights, biases = self.weights, self.biases

        def run():
            inputs = x
            for l, (W, b) in enumerate(zip(weights, biases)):
                inputs = inputs @ W.T + b
                if l < len(weights) - 1:
                    inputs = np.maximum(inputs, 0)
            return inputs
        return run


class Nnbp:
    """nnbp's Network with StochasticTrainer: what a user of nnbp without scikit-learn writes."""

    name = "nnbp"

    threadings = staticmethod(nnbp_threadings)

    def __init__(self, workload, dtype):
        self.workload, self.dtype = workload, dtype
        self.net = nnbp.Network(workload.sizes, activation="relu", output=workload.output,
                                dtype=dtype, seed=0)

    def epoch(self, X, y, batch):
        trainer = nnbp.StochasticTrainer(
            self.net, nnbp.SGD(learning_rate=LEARNING_RATE, momentum=0.0),
            batch_size=batch, shuffle=False)
        return lambda: trainer.fit(X, y, max_epochs=1)

    def gradient(self, X, y):
        grad = np.empty_like(self.net.params)
        return lambda: self.net.loss_and_grad(X, y, out=grad)

    def predict_one(self, x, X, y):
        return lambda: self.net.forward(x)


def sklearn_options(workload, batch):
    """The estimator's class name and its options for plain SGD on the workload."""
    kind = "MLPClassifier" if workload.output == "softmax" else "MLPRegressor"
    return kind, dict(hidden_layer_sizes=workload.sizes[1:-1], activation="relu",
                      solver="sgd", learning_rate_init=LEARNING_RATE, momentum=0.0,
                      alpha=0.0, batch_size=batch, shuffle=False, random_state=0)


def estimator_targets(y):
    """y as the estimators take it: one output as a vector, as scikit-learn wants."""
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


class _Estimator:
    """An MLP estimator's partial_fit (one epoch) and predict_proba or predict of one row."""

    threadings = staticmethod(numpy_threadings)
    module = None

    def __init__(self, workload, dtype):
        self.workload, self.dtype = workload, dtype

    def fitted(self, X, y, batch):
        kind, options = sklearn_options(self.workload, batch)
        estimator = getattr(self.module(), kind)(**options)
        y = estimator_targets(y)
        if kind == "MLPClassifier":
            estimator.partial_fit(X, y, classes=np.arange(self.workload.sizes[-1]))
        else:
            estimator.partial_fit(X, y)
        return estimator

    def epoch(self, X, y, batch):
        estimator, y = self.fitted(X, y, batch), estimator_targets(y)
        return lambda: estimator.partial_fit(X, y)

    def gradient(self, X, y):
        return None

    def predict_one(self, x, X, y):
        estimator = self.fitted(X, y, 256)
        if hasattr(estimator, "predict_proba"):
            return lambda: estimator.predict_proba(x)
        return lambda: estimator.predict(x)


class NnbpEstimator(_Estimator):
    """nnbp.MLPClassifier / MLPRegressor: the scikit-learn drop-in, at equal hyperparameters."""

    name = "nnbp estimator"

    threadings = staticmethod(nnbp_threadings)

    @staticmethod
    def module():
        return nnbp


class SklearnMLP(_Estimator):
    """scikit-learn's MLPClassifier / MLPRegressor."""

    name = "scikit-learn"

    @staticmethod
    def module():
        from sklearn import neural_network
        return neural_network


class Torch:
    """PyTorch on the CPU: nn.Sequential of Linear and ReLU, torch.optim.SGD, as its users write it."""

    name = "PyTorch"

    def __init__(self, workload, dtype):
        import torch
        self.torch, self.workload = torch, workload
        torch.manual_seed(0)
        sizes, layers = workload.sizes, []
        for l, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if l < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers).to(getattr(torch, np.dtype(dtype).name))
        if workload.output == "softmax":
            self.loss = torch.nn.CrossEntropyLoss()
        else:
            mse = torch.nn.MSELoss()
            self.loss = lambda output, target: 0.5 * mse(output, target)

    def threadings(self):
        torch = self.torch
        every = torch.get_num_threads()

        @contextlib.contextmanager
        def threads(count):
            torch.set_num_threads(count)
            try:
                yield
            finally:
                torch.set_num_threads(every)
        return {"1 thread": lambda: threads(1), "all threads": lambda: threads(every)}

    def tensors(self, X, y):
        return self.torch.from_numpy(X), self.torch.from_numpy(y)

    def epoch(self, X, y, batch):
        X, y = self.tensors(X, y)
        batches = [(X[start:start + batch], y[start:start + batch])
                   for start in range(0, X.shape[0], batch)]
        optimizer = self.torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        model, loss = self.model, self.loss

        def run():
            for inputs, targets in batches:
                optimizer.zero_grad()
                loss(model(inputs), targets).backward()
                optimizer.step()
        return run

    def gradient(self, X, y):
        X, y = self.tensors(X, y)
        model, loss = self.model, self.loss

        def run():
            model.zero_grad()
            value = loss(model(X), y)
            value.backward()
            return value
        return run

    def predict_one(self, x, X, y):
        x = self.torch.from_numpy(x)
        model, torch = self.model, self.torch

        def run():
            with torch.inference_mode():
                return model(x)
        return run


def torch_available():
    try:
        import torch   # noqa: F401
    except ImportError:
        return False
    return True


def sklearn_available():
    try:
        import sklearn   # noqa: F401
    except ImportError:
        return False
    return True
