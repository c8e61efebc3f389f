"""The compiled epoch loop against the same steps taken one by one in Python."""
import numpy as np
import pytest

from nnbp import SGD, Adam, DivergenceError, Network, StochasticTrainer
from nnbp.training import DIVERGED, MAX_EPOCHS, STOPPED

from support import DTYPES, make_targets


def problem(rng, output="softmax", n=23, sizes=(4, 6, 3), dtype=np.float64, weights=False):
    X = rng.standard_normal((n, sizes[0]))
    y = make_targets(output, n, sizes[-1], rng)
    sample_weight = rng.uniform(0.5, 2.0, n) if weights else None
    net = Network(sizes, activation="tanh", output=output, dtype=dtype, alpha=0.01, seed=1)
    return net, X, y, sample_weight


def train(net, optimizer, X, y, sample_weight=None, epochs=3, **options):
    trainer = StochasticTrainer(net, optimizer, tol=0.0, n_iter_no_change=np.inf, **options)
    ended = trainer.fit(X, y, sample_weight, max_epochs=epochs)
    return trainer, ended


def step_by_step(net, optimizer, X, y, sample_weight, batch_size, epochs, orders=None):
    """The loop in Python: loss_and_grad of each batch, then optimizer.step."""
    optimizer.start(net.params)
    grad = np.empty_like(net.params)
    curve = []
    for epoch in range(epochs):
        order = np.arange(X.shape[0]) if orders is None else orders[epoch]
        accumulated = 0.0
        for start in range(0, X.shape[0], batch_size):
            rows = order[start:start + batch_size]
            weights = None if sample_weight is None else sample_weight[rows]
            loss, _ = net.loss_and_grad(X[rows], y[rows], weights, out=grad)
            accumulated += loss * rows.size
            optimizer.step(net.params, grad)
        optimizer.epoch_done(getattr(optimizer, "t", 0), X.shape[0] * (epoch + 1))
        curve.append(accumulated / X.shape[0])
    return curve


OPTIMIZERS = {
    "gd": lambda: SGD(learning_rate=0.3, momentum=0.0),
    "momentum": lambda: SGD(learning_rate=0.1, momentum=0.9, nesterov=False),
    "nesterov": lambda: SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    "invscaling": lambda: SGD(learning_rate=0.1, schedule="invscaling", power_t=0.25),
    "adam": lambda: Adam(learning_rate=0.01),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("output", ["softmax", "logistic", "squared"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("batch_size", [1, 5, 23])
def test_compiled_epochs_equal_python_steps(optimizer, batch_size, output, weights, dtype,
                                            rng):
    # The same arithmetic on the same operands in the same order: bitwise equal.
    net, X, y, sample_weight = problem(rng, output, dtype=dtype, weights=weights)
    twin = net.copy()
    trainer, ended = train(net, OPTIMIZERS[optimizer](), X, y, sample_weight,
                           batch_size=batch_size, shuffle=False)
    curve = step_by_step(twin, OPTIMIZERS[optimizer](), X, y, sample_weight, batch_size, 3)
    assert ended == MAX_EPOCHS and trainer.n_iter == 3 and trainer.t == 3 * X.shape[0]
    if weights and dtype == np.float64:
        # The batch's weight total S: the compiled epoch adds the weights in
        # order, numpy (behind loss_and_grad) pairwise; they may differ in the
        # last bit, and so may the steps after.
        np.testing.assert_allclose(net.params, twin.params, rtol=0,
                                   atol=4 * np.finfo(dtype).eps * np.abs(twin.params).max())
        np.testing.assert_allclose(trainer.loss_curve, curve, rtol=4 * np.finfo(dtype).eps)
    else:
        assert np.array_equal(net.params, twin.params)
        assert trainer.loss_curve == curve


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_batch_gradient_descent_is_the_lecture_update(dtype, rng):
    net, X, y, _ = problem(rng, dtype=dtype)
    twin = net.copy()
    train(net, SGD(learning_rate=0.5, momentum=0.0), X, y, epochs=5, batch_size=X.shape[0],
          shuffle=False)
    for _ in range(5):
        _, grad = twin.loss_and_grad(X, y)
        twin.params -= dtype(0.5) * grad            # W <- W - eta dL/dW
    assert np.array_equal(net.params, twin.params)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_shuffled_epochs_follow_the_drawn_orders(batch_size, rng):
    # Each epoch composes a new permutation with the last order, drawn as
    # scikit-learn draws it: RandomState.shuffle of 0..n-1.
    net, X, y, sample_weight = problem(rng, weights=True)
    twin = net.copy()
    train(net, OPTIMIZERS["nesterov"](), X, y, sample_weight, batch_size=batch_size,
          shuffle=True, random_state=np.random.RandomState(7))
    draws, orders, order = np.random.RandomState(7), [], np.arange(X.shape[0])
    for _ in range(3):
        permutation = np.arange(X.shape[0])
        draws.shuffle(permutation)
        order = order[permutation]
        orders.append(order)
    step_by_step(twin, OPTIMIZERS["nesterov"](), X, y, sample_weight, batch_size, 3, orders)
    assert np.array_equal(net.params, twin.params)


def test_same_seed_same_bits_and_other_seed_other_bits(rng):
    net, X, y, _ = problem(rng)
    results = []
    for seed in (3, 3, 4):
        twin = net.copy()
        train(twin, Adam(0.01), X, y, batch_size=4, random_state=np.random.default_rng(seed))
        results.append(twin.params)
    assert np.array_equal(results[0], results[1])
    assert not np.array_equal(results[0], results[2])


def test_a_batch_without_weight_is_skipped(rng):
    net, X, y, _ = problem(rng, n=8)
    weights = np.array([0.0] * 4 + [1.0] * 4)
    twin = net.copy()
    trainer, _ = train(net, SGD(0.1, momentum=0.0), X, y, weights, epochs=1, batch_size=4,
                       shuffle=False)
    loss, grad = twin.loss_and_grad(X[4:], y[4:])
    twin.params -= 0.1 * grad
    assert np.array_equal(net.params, twin.params)
    # The epoch's loss weights each batch by its rows; the skipped one adds 0.
    assert trainer.loss_curve == [pytest.approx(loss * 4 / 8, rel=1e-15)]


def test_stops_after_n_iter_no_change_epochs_without_improvement(rng):
    net, X, y, _ = problem(rng)
    # tol larger than any improvement: every epoch after the first counts.
    trainer = StochasticTrainer(net, SGD(1e-4), batch_size=8, tol=10.0, n_iter_no_change=2)
    assert trainer.fit(X, y, max_epochs=50) == STOPPED
    assert trainer.n_iter == 4 and len(trainer.loss_curve) == 4


def test_adaptive_schedule_divides_the_rate_before_stopping(rng):
    net, X, y, _ = problem(rng)
    optimizer = SGD(1e-3, schedule="adaptive")
    trainer = StochasticTrainer(net, optimizer, batch_size=8, tol=10.0, n_iter_no_change=1)
    assert trainer.fit(X, y, max_epochs=100) == STOPPED
    # 1e-3 / 5^k <= 1e-6 first at k = 5; each division takes n_iter_no_change + 1
    # epochs, after the first epoch that set the best loss.
    assert optimizer.learning_rate == pytest.approx(1e-3 / 5 ** 5)
    assert trainer.n_iter == 1 + 2 * 6


def test_validation_score_restores_the_best_parameters(rng):
    net, X, y, _ = problem(rng)
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.8, 0.4])
    snapshots = []

    def validation_score():
        snapshots.append(net.params.copy())
        return next(scores)

    trainer = StochasticTrainer(net, SGD(0.1), batch_size=8, tol=0.0, n_iter_no_change=3)
    assert trainer.fit(X, y, max_epochs=6, validation_score=validation_score) == STOPPED
    # 0.9 is the best; 0.7, 0.6, 0.8, 0.4 make 4 > n_iter_no_change epochs without it.
    assert trainer.validation_scores == [0.5, 0.9, 0.7, 0.6, 0.8, 0.4]
    assert trainer.best_validation_score == 0.9 and trainer.best_loss is None
    assert np.array_equal(net.params, snapshots[1])


def test_divergence_with_a_validation_score_restores_the_best_parameters(rng):
    net, X, y, _ = problem(rng, output="squared", sizes=(4, 6, 1))
    scores = iter([0.5, 0.9, 0.7])
    snapshots = []

    def validation_score():
        snapshots.append(net.params.copy())
        return next(scores)

    def on_epoch(trainer):
        if trainer.n_iter == 3:
            net.params[...] = 1e200  # the next epoch's squared error overflows

    trainer = StochasticTrainer(net, SGD(0.1), batch_size=8, tol=0.0, n_iter_no_change=10)
    ended = trainer.fit(X, y, max_epochs=10, validation_score=validation_score,
                        on_epoch=on_epoch)
    assert ended == DIVERGED
    assert trainer.divergence == "the training loss became inf or nan at batch 1 of epoch 4"
    # The diverged epoch is recorded, scoring nan, as scikit-learn records it.
    assert trainer.n_iter == len(trainer.loss_curve) == len(trainer.validation_scores) == 4
    assert np.isnan(trainer.loss) and np.isnan(trainer.loss_curve[-1])
    assert trainer.validation_scores[:3] == [0.5, 0.9, 0.7]
    assert np.isnan(trainer.validation_scores[3])
    assert trainer.best_validation_score == 0.9
    assert np.array_equal(net.params, snapshots[1])
    # Diverging before any score, there is no best: DivergenceError, as without one.
    net.params[...] = 1e200
    trainer = StochasticTrainer(net, SGD(0.1), batch_size=8)
    with pytest.raises(DivergenceError, match="at batch 1 of epoch 1; the network keeps"):
        trainer.fit(X, y, max_epochs=10, validation_score=validation_score)


@pytest.mark.parametrize("dtype", DTYPES)
def test_divergence_stops_with_the_epoch_and_finite_parameters(dtype, rng):
    X = rng.standard_normal((40, 3)) * 100
    y = rng.standard_normal((40, 1)) * 1e4
    net = Network([3, 8, 1], activation="relu", output="squared", dtype=dtype, seed=0)
    trainer = StochasticTrainer(net, SGD(1e3, momentum=0.9), batch_size=4)
    with pytest.raises(DivergenceError, match=r"inf or nan (at batch \d+ of|in) "
                                              r"epoch \d+; the network keeps its last finite"):
        trainer.fit(X, y, max_epochs=100)
    assert np.isfinite(net.params).all()
    assert isinstance(DivergenceError("x"), ValueError)


# ---------------------------------------------------------------- off the happy path

@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "4", None, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_a_batch_size_that_cannot_make_progress_is_refused_by_name(batch_size, sparse, shuffle,
                                                                   rng):
    # -1 crashed the compiled epoch (unshuffled) or failed in NumPy (shuffled);
    # 0 looped forever on sparse X and raised a misleading DivergenceError on
    # dense X.
    import scipy.sparse
    net, X, y, _ = problem(rng)
    if sparse:
        X = scipy.sparse.csr_matrix(X)
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        StochasticTrainer(net, SGD(0.1), batch_size=batch_size,
                          shuffle=shuffle).fit(X, y, max_epochs=1)


def test_the_compiled_epoch_refuses_a_batch_size_below_one(rng):
    # The compiled loop's own guard, below the Python boundary: a batch of 0
    # rows never advances (it looped forever on sparse X, uninterruptibly).
    net, X, y, _ = problem(rng, n=8)
    trainer = StochasticTrainer(net, SGD(0.1), batch_size=4, shuffle=False)
    epoch = trainer._epoch(X, y, None)
    for bad in (0, -1):
        epoch.batch_size = bad
        with pytest.raises(ValueError, match="batch_size"):
            epoch.run(trainer.optimizer, trainer.random_state, trainer._grad, trainer._backup, 1)


@pytest.mark.parametrize("random_state", [0, 7, np.int64(7)])
def test_random_state_may_be_an_int_as_in_scikit_learn(random_state, rng):
    # An int seeds a RandomState, as sklearn.utils.check_random_state does: the
    # same orders as RandomState(int) itself.
    net, X, y, _ = problem(rng)
    twin = net.copy()
    train(net, Adam(0.01), X, y, batch_size=4, random_state=random_state)
    train(twin, Adam(0.01), X, y, batch_size=4,
          random_state=np.random.RandomState(int(random_state)))
    assert np.array_equal(net.params, twin.params)


@pytest.mark.parametrize("random_state", [None, np.random.default_rng(3),
                                          np.random.RandomState(3)])
def test_random_state_may_be_none_a_generator_or_a_randomstate(random_state, rng):
    net, X, y, _ = problem(rng)
    trainer, ended = train(net, Adam(0.01), X, y, batch_size=4, random_state=random_state)
    assert ended == MAX_EPOCHS and np.isfinite(net.params).all()


@pytest.mark.parametrize("random_state", ["0", 1.5, -1, 2**70, True, object()])
def test_a_bad_random_state_is_refused_by_name(random_state, rng):
    net, *_ = problem(rng)
    with pytest.raises((TypeError, ValueError), match="random_state"):
        StochasticTrainer(net, SGD(0.1), batch_size=4, random_state=random_state)


ZERO_WEIGHT_OUTLIERS = [
    # (output, dtype, what the weight-0 row holds): a y of 1e300 (its squared
    # error overflows), and an x whose e^z overflows the poisson output.
    ("squared", np.float64, "y"),
    ("poisson", np.float64, "x"),
    ("poisson", np.float32, "x"),
    # an x that overflows a hidden layer: 0 x inf in the weights' gradient
    ("squared", np.float64, "hidden"),
]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("batch_size", [1, 4, 12])
@pytest.mark.parametrize("output, dtype, outlier", ZERO_WEIGHT_OUTLIERS)
def test_a_row_of_weight_zero_contributes_nothing_to_training(output, dtype, outlier,
                                                              batch_size, sparse, rng):
    # Training kept such rows and raised DivergenceError: 0 x inf is NaN. A row
    # of weight 0 now changes nothing, whatever its values: training equals
    # training with the same row holding ordinary values.
    import scipy.sparse
    n = 12
    X = rng.standard_normal((n, 3))
    y = rng.poisson(2.0, (n, 1)).astype(float) if output == "poisson" \
        else rng.standard_normal((n, 1))
    weights = rng.uniform(0.5, 2.0, n)
    weights[5] = 0.0
    net = Network([3, 4, 1] if outlier == "hidden" else [3, 1], activation="relu",
                  output=output, dtype=dtype, seed=0)
    X_bad, y_bad = X.copy(), y.copy()
    if outlier == "y":
        y_bad[5] = 1e300
    elif outlier == "x":
        # z = W x is far past where e^z overflows
        X_bad[5] = 1e4 * np.sign(net.weights[0][0])
    else:
        # the first hidden unit's z = W x overflows to inf, and relu keeps it
        X_bad[5] = 1.5e308 * np.sign(net.weights[0][0])
    twin = net.copy()
    if sparse:
        X, X_bad = scipy.sparse.csr_matrix(X), scipy.sparse.csr_matrix(X_bad)
    options = dict(batch_size=batch_size, epochs=2)
    trainer, _ = train(net, SGD(0.01), X_bad, y_bad, weights,
                       random_state=np.random.RandomState(0), **options)
    twin_trainer, _ = train(twin, SGD(0.01), X, y, weights,
                            random_state=np.random.RandomState(0), **options)
    assert np.isfinite(net.params).all()
    assert np.array_equal(net.params, twin.params)
    assert trainer.loss_curve == twin_trainer.loss_curve


def test_the_trainer_runs_any_epoch_of_the_declared_interface(rng):
    """StochasticTrainer runs its epochs through training.EpochRun alone: an epoch of
    another kind (nnbp.dask's, over a cluster) needs only its rows, run, steps and
    divergence."""
    from nnbp.training import Epoch, EpochRun

    net = Network([3, 2], output="squared", seed=0)
    X, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))

    class Recorded(EpochRun):
        def __init__(self, inner):
            self.inner, self.runs = inner, 0

        @property
        def rows(self):
            return self.inner.rows

        @property
        def steps(self):
            return self.inner.steps

        @property
        def divergence(self):
            return self.inner.divergence

        def run(self, *arguments):
            self.runs += 1
            return self.inner.run(*arguments)

    class RecordingTrainer(StochasticTrainer):
        def _epoch(self, X, y, sample_weight, assume_finite=False):
            self.recorded = Recorded(super()._epoch(X, y, sample_weight, assume_finite))
            return self.recorded

    trainer = RecordingTrainer(net, SGD(0.1, momentum=0.0), batch_size=4, shuffle=False)
    assert trainer.fit(X, y, max_epochs=3, restart_optimizer=False) == MAX_EPOCHS
    assert trainer.recorded.runs == 3 and trainer.t == 3 * 8
    assert isinstance(trainer.recorded.inner, Epoch) and isinstance(trainer.recorded.inner,
                                                                    EpochRun)
    with pytest.raises(TypeError):
        EpochRun()    # abstract: an epoch implements run and rows
