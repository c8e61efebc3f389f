"""Threads: the compiled paths release the GIL; shared models stay correct.

- While a compiled epoch, loss and gradient, or forward pass runs, another
  Python thread keeps running: it would stop dead if the call held the GIL.
- Eight threads predicting with one fitted model get exactly what one does.
- A second fit of an estimator that is being fitted is refused with a
  RuntimeError; fits of different estimators in different threads are safe.
"""
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import nnbp

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402


class Counter(threading.Thread):
    """A Python thread that counts as fast as it can until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.count, self.running = 0, True

    def run(self):
        while self.running:
            self.count += 1

    def rate_while(self, work):
        """Counts per second while work() runs in the calling thread."""
        start_count, start = self.count, time.perf_counter()
        work()
        return (self.count - start_count) / (time.perf_counter() - start)


def compiled_calls(dtype):
    """Each compiled path, as a call that takes a fraction of a second."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 256)).astype(dtype)
    y = rng.integers(0, 10, 4000)
    net = nnbp.Network([256, 512, 10], output="softmax", dtype=dtype, seed=0)
    grad = np.empty_like(net.params)
    trainer = nnbp.StochasticTrainer(net, nnbp.SGD(learning_rate=1e-3), batch_size=8,
                                     random_state=np.random.RandomState(0))
    big_X = np.repeat(X, 20, axis=0)
    return {
        "epoch": lambda: trainer.fit(X, y, max_epochs=1),
        "loss_and_grad": lambda: [net.loss_and_grad(X, y, out=grad) for _ in range(8)],
        "forward": lambda: net.forward(big_X),
    }


@pytest.mark.parametrize("path", ["epoch", "loss_and_grad", "forward"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_calls_let_other_python_threads_run(path, dtype):
    work = compiled_calls(dtype)[path]
    counter = Counter()
    with threadpool_limits(1):
        work()                                   # warm-up: workspaces, caches
        counter.start()
        try:
            alone = counter.rate_while(lambda: time.sleep(0.2))
            beside_compiled_work = counter.rate_while(work)
        finally:
            counter.running = False
            counter.join()
    # Holding the GIL, the call would leave the counter only the few
    # milliseconds of Python around it (under 2% of its time); released, the
    # counter runs about as fast as alone, or at worst at the share of a
    # core that a busy machine leaves it.
    assert beside_compiled_work > 0.15 * alone, (beside_compiled_work, alone)


def fitted_classifier():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 6))
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return nnbp.MLPClassifier((32, 16), max_iter=30, random_state=0).fit(X, y), X, y


def test_eight_threads_predicting_with_one_model_get_what_one_thread_gets():
    est, X, _ = fitted_classifier()
    # Blocks of rows of several sizes: BLAS may round a block of 43 rows
    # differently from the same rows within 300, so each is compared with
    # the same call made by one thread.
    parts = [X[k::7] for k in range(7)] + [X]

    def predict(k):
        part = parts[k % len(parts)]
        return est.predict_proba(part), est.predict(part), est.network_.forward(part)

    one_thread = [predict(k) for k in range(len(parts))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        eight_threads = list(pool.map(predict, range(200)))
    for k, results in enumerate(eight_threads):
        for result, expected in zip(results, one_thread[k % len(parts)]):
            np.testing.assert_array_equal(result, expected)


def test_a_second_fit_of_an_estimator_being_fitted_is_refused():
    _, X, y = fitted_classifier()
    inside, release = threading.Event(), threading.Event()

    def wait_in_the_first_epoch(epoch, losses, network):
        inside.set()
        release.wait(timeout=60)

    est = nnbp.MLPClassifier((16,), max_iter=3, random_state=0)
    first = {}

    def first_fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            first["fitted"] = est.fit(X, y, callback=wait_in_the_first_epoch)

    thread = threading.Thread(target=first_fit)
    thread.start()
    try:
        assert inside.wait(timeout=60)
        for second in (lambda: est.fit(X, y), lambda: est.partial_fit(X, y)):
            est.set_params(solver="adam")
            with pytest.raises(RuntimeError, match="MLPClassifier is being fitted already"):
                second()
    finally:
        release.set()
        thread.join()
    assert first["fitted"] is est and est.n_iter_ == 3
    # Once the first fit is over, fitting again is allowed.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)


def test_a_callback_fitting_its_own_estimator_is_refused():
    _, X, y = fitted_classifier()
    est = nnbp.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(RuntimeError, match="by a callback of its own fit"):
            est.fit(X, y.astype(float), callback=lambda *_: est.fit(X, y.astype(float)))
        est.fit(X, y.astype(float))          # the refused fit left nothing locked


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_fits_of_different_estimators_in_threads_equal_fits_one_after_the_other(solver):
    _, X, y = fitted_classifier()
    models = [nnbp.MLPClassifier((24,), solver=solver, max_iter=20, random_state=seed)
              for seed in range(4)]
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one_after_the_other = [clone(model).fit(X, y) for model in models]
        with ThreadPoolExecutor(max_workers=4) as pool:
            together = list(pool.map(lambda model: model.fit(X, y), models))
    for alone, beside in zip(one_after_the_other, together):
        np.testing.assert_array_equal(alone.network_.params, beside.network_.params)
        assert alone.loss_curve_ == beside.loss_curve_
