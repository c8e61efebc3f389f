"""The epoch loop of the stochastic solvers, and when it stops: scikit-learn's rules.

Each epoch runs compiled (nnbp._core.train_epoch): shuffle, gather each
batch, forward, backward and update, with no Python per batch. Between
epochs, in Python, the loop records the loss and decides whether to stop:

- the training loss (or, with a validation score, that score) has not
  improved by tol for more than n_iter_no_change epochs in a row: stop, or
  with the adaptive schedule divide the learning rate by 5 and go on;
- max_epochs is reached;
- the on_epoch callback returns True;
- Ctrl-C (KeyboardInterrupt), which the compiled epoch lets in between
  batches: the epoch it interrupts is undone;
- the loss becomes inf or nan: DivergenceError, or, with a validation score
  that has a best, the end of training with the best parameters (as
  scikit-learn does since its issue #29504).

The loss of an epoch is the mean over its batches, each weighted by its
number of rows, of the batch loss at the parameters it was computed at, as
scikit-learn's ``loss_curve_`` records it.

For nnbp's own modules (nnbp.dask), not the public API: ``EpochRun``, the
interface through which StochasticTrainer runs its epochs, and ``Epoch``, one
compiled pass over checked data, which implements it (as nnbp.dask's epoch
over a cluster does).

Examples
--------
>>> import numpy as np
>>> from nnbp import Adam, Network
>>> from nnbp.training import StochasticTrainer
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((50, 3))
>>> y = X @ [1.0, -2.0, 0.5]
>>> net = Network([3, 8, 1], activation="tanh", output="squared", seed=0)
>>> trainer = StochasticTrainer(net, Adam(learning_rate=0.01), batch_size=10,
...                             random_state=0)
>>> ended = trainer.fit(X, y, max_epochs=300)
>>> len(trainer.loss_curve) == trainer.n_iter, float(trainer.loss_curve[-1]) < 0.01
(True, True)
"""
from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, Optional, Protocol, Union, cast, runtime_checkable

import numpy as np

from nnbp import _core
from nnbp._memory import allocate
from nnbp._validation import check_positive_int, check_random_state
from nnbp.losses import Loss
from nnbp.network import CheckedData, Features, Network

__all__ = [
    "DIVERGED",
    "DIVERGENCE_ADVICE",
    "DivergenceError",
    "Epoch",
    "EpochRun",
    "INTERRUPTED",
    "MAX_EPOCHS",
    "STOPPED",
    "STOPPED_BY_CALLBACK",
    "StochasticOptimizer",
    "StochasticTrainer",
]

STOPPED = "stopped"            # no improvement: the optimizer chose to stop
MAX_EPOCHS = "max_epochs"      # ran out of epochs before that
INTERRUPTED = "interrupted"    # Ctrl-C (KeyboardInterrupt)
STOPPED_BY_CALLBACK = "stopped_by_callback"   # on_epoch returned True
DIVERGED = "diverged"          # the loss became inf or nan; the best validated parameters kept

DIVERGENCE_ADVICE = ("Lower the learning rate, or scale the inputs (and the targets of a "
                     "regression).")

# The types of the signatures: what draws the orders of an epoch's rows, and the
# seeds a trainer takes (an int seeds a RandomState, as scikit-learn's do).
RandomDraws = Union[np.random.RandomState, np.random.Generator, None]
TrainerSeed = Union[int, np.random.RandomState, np.random.Generator, None]


class DivergenceError(ValueError):
    """The training loss became inf or nan.

    Raised by StochasticTrainer.fit, minimize_lbfgs and the estimators' fit;
    the network keeps its last finite parameters. A ValueError, whose message
    (from the estimators) begins with scikit-learn's for the same failure.

    See Also
    --------
    StochasticTrainer.fit : Raises it, or returns DIVERGED with a best model.
    nnbp.minimize_lbfgs : Raises it too.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import SGD, DivergenceError, Network, StochasticTrainer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = 1e3 * (X @ [1.0, -2.0, 0.5])
    >>> net = Network([3, 8, 1], output="squared", seed=0)
    >>> trainer = StochasticTrainer(net, SGD(learning_rate=10.0), batch_size=10,
    ...                             random_state=0)
    >>> try:
    ...     trainer.fit(X, y, max_epochs=10)
    ... except DivergenceError as error:
    ...     print(str(error)[:28])
    the training loss became inf
    """


@runtime_checkable
class StochasticOptimizer(Protocol):
    """What StochasticTrainer and Epoch ask of an optimizer: nnbp.optim's SGD and Adam.

    A protocol (PEP 544), for the type hints: nnbp.optim imports this module,
    so this module names the interface it uses rather than the classes.

    Attributes
    ----------
    learning_rate : float
        The current learning rate, as the schedule has changed it.
    updates : int
        The updates made since start, which the cosine schedule counts.

    See Also
    --------
    nnbp.optim.SGD : Stochastic gradient descent with momentum.
    nnbp.optim.Adam : The Adam optimizer.

    Examples
    --------
    >>> from nnbp import SGD, Adam
    >>> from nnbp.training import StochasticOptimizer
    >>> isinstance(SGD(), StochasticOptimizer), isinstance(Adam(), StochasticOptimizer)
    (True, True)
    """

    learning_rate: float
    updates: int

    def __init__(self) -> None:
        # Declared, as typing's own __init__(*args, **kwargs) would be the signature
        # the docs show; a protocol is not instantiated, as typing's refuses too.
        raise TypeError("StochasticOptimizer is a protocol: use nnbp.optim.SGD or Adam")

    def start(self, params: np.ndarray) -> Any:
        """Start afresh for a parameter vector like params.

        Parameters
        ----------
        params : ndarray
            The network's parameters.

        Returns
        -------
        object
            The optimizer itself.
        """

    def compiled(self) -> Any:
        """Give the optimizer as the compiled core takes it.

        Returns
        -------
        nnbp._core.Optimizer
            Its hyperparameters and state, which the core updates in place.
        """

    def epoch_done(self, steps: int, examples_seen: int) -> None:
        """Follow the schedule after an epoch.

        Parameters
        ----------
        steps : int
            The step count the epoch left.
        examples_seen : int
            The examples seen in all so far.
        """

    def plateau(self) -> bool:
        """Decide, now that the loss has stopped improving, whether to stop.

        Returns
        -------
        bool
            True to stop, False to go on (with a lower learning rate).
        """


class EpochRun(abc.ABC):
    """One epoch of the stochastic solvers, as StochasticTrainer runs it.

    For nnbp's own modules, not the public API: Epoch runs one over arrays,
    nnbp.dask one over a cluster's partitions. A subclass defines run and rows.

    Attributes
    ----------
    steps : int
        The optimizer's step count (Adam's t) that the last run left.
    divergence : str or None
        What became inf or nan, and where, when run returned None.

    See Also
    --------
    Epoch : The epoch over arrays.

    Examples
    --------
    >>> from nnbp.training import Epoch, EpochRun
    >>> issubclass(Epoch, EpochRun)
    True
    """

    steps: int = 0
    divergence: Optional[str] = None

    @property
    @abc.abstractmethod
    def rows(self) -> int:
        """The rows one run passes over."""

    @abc.abstractmethod
    def run(self, optimizer: StochasticOptimizer, random_state: RandomDraws,
            grad: np.ndarray, backup: np.ndarray, epoch_number: int) -> Optional[float]:
        """Run one epoch: the network's parameters updated in place.

        Parameters
        ----------
        optimizer : nnbp.optim.SGD or nnbp.optim.Adam
            Takes the steps, from its current state.
        random_state : numpy.random.RandomState, numpy.random.Generator or None
            Draws the order of the rows, where the epoch shuffles.
        grad, backup : ndarray
            Scratch vectors like the network's params.
        epoch_number : int
            For the message of a divergence.

        Returns
        -------
        float or None
            The mean over the batches, each weighted by its rows, of the batch
            loss; None if the loss or the parameters became inf or nan, with
            the last finite parameters kept and divergence saying what.
        """


class StochasticTrainer:
    """Trains a Network by minibatch sgd or adam; keeps its history across calls.

    Each epoch runs compiled; between epochs the trainer records the loss
    and applies scikit-learn's stopping rules (see the module's docstring).
    It is the estimators' trainer for solver="sgd" and "adam", usable
    without scikit-learn.

    Parameters
    ----------
    net : nnbp.Network
        The network to train, in place.
    optimizer : nnbp.optim.SGD or nnbp.optim.Adam
        Takes the steps; started afresh for net's parameters here.
    batch_size : int
        Rows per batch, clipped to n (1: per example; n: full batch).
    shuffle : bool, default=True
        Draw a new order of the rows each epoch.
    random_state : int, numpy.random.RandomState, numpy.random.Generator or None, \
default=None
        Draws the orders; a RandomState draws scikit-learn's, and an int seeds
        one (as scikit-learn's check_random_state does). None: a fresh
        Generator.
    tol : float, default=1e-4
        The improvement of the loss (or validation score) that counts.
    n_iter_no_change : int or float, default=10
        Stop after more than this many epochs in a row without an
        improvement of tol (inf: never).
    verbose : bool, default=False
        Print the loss of each epoch, as scikit-learn does.
    loss : nnbp.losses.Loss, callable or None, default=None
        A loss of the logits in place of the output's canonical loss, as
        Network.loss_and_grad takes it. The built-in losses train in the
        compiled epoch; another is computed in Python batch by batch, each
        batch's gradient backpropagated (Network.vjp) and stepped by the
        optimizer (its step).
    dropout : float or sequence of float, default=0.0
        Inverted dropout on the hidden layers, in training only: each hidden
        activation is kept with probability 1 - p and scaled by 1 / (1 - p),
        else set to 0, and the backward pass goes through the same mask. One
        rate p for every hidden layer, or one per hidden layer; 0 <= p < 1.
        The masks are drawn from random_state (one seed an epoch, after the
        order of the rows): the same fit on any number of threads. 0: none,
        the path without dropout. Not with a loss computed in Python.

    Attributes
    ----------
    loss_curve : list of float
        The loss of each epoch, across calls of fit.
    loss : float or None
        The last epoch's loss.
    best_loss : float or None
        The lowest loss; None while a validation score is watched.
    loss_object : nnbp.losses.Loss or None
        The loss object trained on; None: the output's canonical loss.
    validation_scores : list of float or None
        The validation score of each epoch, when fit was given one.
    best_validation_score : float or None
        The best of them.
    n_iter : int
        The epochs of the last fit.
    t : int
        The rows seen in all, across calls.
    divergence : str or None
        What became inf or nan, and where, after fit returned DIVERGED.

    Raises
    ------
    ValueError
        For a batch_size below 1, or a bad random_state.
    MemoryError
        Naming the trainer, if its scratch vectors do not fit in memory.

    See Also
    --------
    nnbp.minimize_lbfgs : Training by L-BFGS.
    nnbp.MLPClassifier : The estimator that trains with it.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import SGD, Network, StochasticTrainer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> net = Network([3, 8, 1], activation="tanh", output="squared", seed=0)
    >>> trainer = StochasticTrainer(net, SGD(learning_rate=0.01), batch_size=10,
    ...                             random_state=0)
    >>> trainer.fit(X, y, max_epochs=5)
    'max_epochs'
    >>> trainer.n_iter, trainer.t
    (5, 250)
    """

    def __init__(self, net: Network, optimizer: StochasticOptimizer, *, batch_size: int,
                 shuffle: bool = True, random_state: TrainerSeed = None, tol: float = 1e-4,
                 n_iter_no_change: Union[int, float] = 10, verbose: bool = False,
                 loss: Any = None, dropout: Union[float, Sequence[float]] = 0.0) -> None:
        self.net = net
        self.loss_object = net.check_loss(loss)
        self.dropout = dropout
        _check_dropout_loss(net.check_dropout(dropout), self.loss_object)
        self.optimizer = optimizer
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.shuffle = shuffle
        self.random_state = check_random_state(random_state)
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.verbose = verbose
        self.loss_curve: list[Any] = []
        self.loss: Any = None
        self.best_loss: Any = np.inf
        # These three are None together, or set together by a fit with a
        # validation score (a list, a float, an array): Any, since mypy cannot
        # follow that.
        self.validation_scores: Any = None
        self.best_validation_score: Any = None
        self.no_improvement_count = 0
        self.t = 0
        self.n_iter = 0
        # kept only while a validation score is watched
        self.best_params: Any = None
        # after DIVERGED: what became inf or nan, and where
        self.divergence: Optional[str] = None
        self._backup, self._grad = _scratch_vectors(net)
        optimizer.start(net.params)

    def __getstate__(self) -> dict[str, Any]:
        # The scratch vectors are refilled before every use: not worth pickling.
        state = self.__dict__.copy()
        del state["_backup"], state["_grad"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._backup, self._grad = _scratch_vectors(self.net)

    def fit(self, X: Features, y: Any, sample_weight: Optional[Any] = None, *,
            max_epochs: int, validation_score: Optional[Callable[[], float]] = None,
            incremental: bool = False, restart_optimizer: bool = True,
            on_epoch: Optional[Callable[[StochasticTrainer], Optional[bool]]] = None,
            assume_finite: bool = False) -> str:
        """Train for up to max_epochs epochs (one if incremental); return why it ended.

        Ctrl-C (KeyboardInterrupt), even in the middle of an epoch, stops
        training with the parameters of the last finished epoch (or the best
        ones, with a validation score) and returns INTERRUPTED.

        Parameters
        ----------
        X : array_like or scipy sparse matrix of shape (n, m_0)
            The rows, as Network.loss takes them.
        y : array_like
            The targets, as Network.loss takes them.
        sample_weight : array_like of shape (n,) or None, default=None
            Non-negative weights of the rows; None: all 1.
        max_epochs : int
            At most this many epochs.
        validation_score : callable or None, default=None
            A function of no arguments that scores the network on held-out
            data (higher is better). With it, the stopping rule watches that
            score instead of the training loss, and the parameters that
            scored best are restored at the end.
        incremental : bool, default=False
            Run one epoch only (the estimators' partial_fit).
        restart_optimizer : bool, default=True
            Start the optimizer afresh (its learning rate, its state).
        on_epoch : callable or None, default=None
            Called as on_epoch(trainer) after each epoch has been recorded;
            if it returns True, training stops there. If it raises, the
            exception propagates and the network keeps the parameters of the
            epoch just run.
        assume_finite : bool, default=False
            X's values are known finite: Network.check_data skips its pass over
            them (the estimators' validation has made it).

        Returns
        -------
        str
            STOPPED, MAX_EPOCHS, INTERRUPTED or STOPPED_BY_CALLBACK; or
            DIVERGED, when the loss became inf or nan after a validation
            score had scored a best: the best parameters are restored,
            divergence says what diverged, and the diverged epoch is
            recorded with loss and validation score nan.

        Raises
        ------
        DivergenceError
            If the loss becomes inf or nan (without a best validated model):
            the network keeps its last finite parameters.
        TypeError
            If on_epoch is not callable.
        """
        if on_epoch is not None and not callable(on_epoch):
            raise TypeError(f"on_epoch must be callable, got {on_epoch!r}")
        net, optimizer = self.net, self.optimizer
        epoch = self._epoch(X, y, sample_weight, assume_finite)
        if restart_optimizer:
            optimizer.start(net.params)
        if validation_score is not None and self.validation_scores is None:
            self.validation_scores, self.best_validation_score = [], -np.inf
            self.best_loss = None
            self.best_params = net.params.copy()
        self.n_iter = 0
        self.divergence = None
        try:
            ended = self._epochs(epoch, max_epochs, validation_score, incremental, on_epoch)
        except KeyboardInterrupt:
            ended = INTERRUPTED
        if validation_score is not None:
            net.params[...] = self.best_params
        return ended

    def _epoch(self, X: Any, y: Any, sample_weight: Any,
               assume_finite: bool = False) -> EpochRun:
        """The epoch to run, over the data checked."""
        data = self.net.check_data(X, y, sample_weight, assume_finite=assume_finite)
        # Checked again here: batch_size is a public attribute, which may have
        # changed since the constructor checked it.
        batch_size = check_positive_int("batch_size", self.batch_size)
        # And dropout, a public attribute too.
        return Epoch(self.net, data, min(batch_size, data.X.shape[0]), self.shuffle,
                     self.loss_object, dropout=self.net.check_dropout(self.dropout))

    def _epochs(self, epoch: EpochRun, max_epochs: int,
                validation_score: Optional[Callable[[], float]], incremental: bool,
                on_epoch: Optional[Callable[[StochasticTrainer], Optional[bool]]]) -> str:
        """Up to max_epochs epochs, and the reason they ended."""
        optimizer = self.optimizer
        for _ in range(max_epochs):
            loss = epoch.run(optimizer, self.random_state, self._grad, self._backup,
                             self.n_iter + 1)
            if loss is None:
                if validation_score is None or self.best_validation_score == -np.inf:
                    raise DivergenceError(f"{epoch.divergence}; the network keeps its last "
                                          f"finite parameters. {DIVERGENCE_ADVICE}")
                # There is a best model to return: scikit-learn's way (its issue
                # #29504), the epoch recorded as scoring nan; fit restores the best.
                self.divergence = epoch.divergence
                self.n_iter += 1
                self.loss = np.float64(np.nan)
                self.loss_curve.append(self.loss)
                self.validation_scores.append(np.nan)
                return DIVERGED
            # Scored before anything of the epoch is recorded, and recorded in
            # one run of statements: a Ctrl-C while scoring leaves the epoch
            # unrecorded, as one inside it does, and n_iter, loss_curve and
            # validation_scores agree (fit then restores the best parameters).
            score = None if validation_score is None else validation_score()
            self.loss = np.float64(loss)   # numpy's float, as scikit-learn's loss_curve_ holds
            self.n_iter += 1
            self.t += epoch.rows
            self.loss_curve.append(self.loss)
            if score is not None:
                self.validation_scores.append(score)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter, self.loss))
            self._count_no_improvement(score)
            optimizer.epoch_done(epoch.steps, self.t)
            if on_epoch is not None and on_epoch(self):
                return STOPPED_BY_CALLBACK
            if self.no_improvement_count > self.n_iter_no_change:
                watched = ("Validation score" if validation_score is not None
                           else "Training loss")
                message = (f"{watched} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                if optimizer.plateau():
                    if self.verbose:
                        print(message + " Stopping.")
                    return STOPPED
                if self.verbose:
                    print(message + f" Setting learning rate to {optimizer.learning_rate:f}")
                self.no_improvement_count = 0
            if incremental:
                break
        return MAX_EPOCHS

    def _count_no_improvement(self, score: Optional[float]) -> None:
        """Count the epoch just recorded: by its validation score, or (None) its loss."""
        if score is not None:
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score + self.tol:
                self.no_improvement_count += 1
            else:
                self.no_improvement_count = 0
            if score > self.best_validation_score:
                self.best_validation_score = score
                self.best_params[...] = self.net.params
        elif self.best_loss is None:
            # The first epoch watched by its loss after epochs watched by a
            # validation score (partial_fit after a fit with early stopping):
            # the watch starts here, where scikit-learn raises a TypeError.
            self.best_loss, self.no_improvement_count = self.loss, 0
        else:
            if self.loss > self.best_loss - self.tol:
                self.no_improvement_count += 1
            else:
                self.no_improvement_count = 0
            if self.loss < self.best_loss:
                self.best_loss = self.loss


def _check_dropout_loss(rates: Optional[tuple[float, ...]], loss: Optional[Loss]) -> None:
    """Refuse dropout with a loss computed in Python, whose two compiled passes (the
    logits, then the backward pass of its gradient) would not share the masks."""
    if rates is not None and loss is not None and loss.compiled is None:
        raise ValueError(f"dropout trains with a compiled loss (the output's own, or a "
                         f"built-in one of nnbp.losses), not {loss!r}")


def _dropout_seed(random_state: RandomDraws) -> int:
    """An epoch's seed of dropout's masks, 0 .. 2**63 - 1, drawn from random_state."""
    if random_state is None:
        raise ValueError("dropout draws its masks from a random_state, and none was given")
    top = np.iinfo(np.int64).max
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(top))
    return int(random_state.randint(top, dtype=np.int64))


def _batch_of(data: CheckedData, rows: Any) -> CheckedData:
    """The rows of checked data (a slice, or indices) as checked data of their own."""
    def taken(values: Any) -> Any:
        return None if values is None else values[rows]
    weight = taken(data.sample_weight)
    X = data.X[rows]
    return CheckedData(X, taken(data.targets), taken(data.labels), weight,
                       X.shape[0] if weight is None else float(weight.sum(dtype=np.float64)))


def _scratch_vectors(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The epoch's backup of the parameters, and the gradient."""
    what = f"training a network of {net.n_params} parameters"
    # The first is checked for room for both: they are needed together.
    backup = allocate(net.n_params, net.dtype, what, extra_bytes=net.params.nbytes)
    return backup, allocate(net.n_params, net.dtype, what)


class Epoch(EpochRun):
    """One pass over checked data, with the buffers it needs allocated once.

    For nnbp's own modules, not the public API: StochasticTrainer runs one
    over arrays, nnbp.dask one over each shard's rows.

    Parameters
    ----------
    net : nnbp.Network
        The network, whose parameters each run updates in place.
    data : nnbp.network.CheckedData
        From net.check_data.
    batch_size : int
        Rows per batch, at most the rows of data.
    shuffle : bool
        Draw a new order of the rows each run (else the rows as they are).
    loss : nnbp.losses.Loss or None, default=None
        A loss object, checked by Network.check_loss; None: the output's own.
    dropout : tuple of float or None, default=None
        Dropout's rate of each hidden layer, checked by Network.check_dropout;
        None: no dropout. Each run draws its masks' seed from its random_state.

    See Also
    --------
    EpochRun : The interface it implements.
    StochasticTrainer : Runs the epochs, and decides when to stop.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import SGD, Network
    >>> from nnbp.training import Epoch
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> net = Network([3, 8, 1], activation="tanh", output="squared", seed=0)
    >>> epoch = Epoch(net, net.check_data(X, y), batch_size=10, shuffle=False)
    >>> sgd = SGD(learning_rate=0.01).start(net.params)
    >>> grad, backup = np.empty_like(net.params), np.empty_like(net.params)
    >>> loss = epoch.run(sgd, None, grad, backup, epoch_number=1)
    >>> epoch.rows, loss > 0, epoch.divergence
    (50, True, None)
    """

    def __init__(self, net: Network, data: CheckedData, batch_size: int,
                 shuffle: bool, loss: Optional[Loss] = None, *,
                 dropout: Optional[tuple[float, ...]] = None) -> None:
        # data.total is not used: each batch's loss is its own mean.
        self.net, self.data, self.batch_size, self.steps = net, data, batch_size, 0
        self.loss = loss
        _check_dropout_loss(dropout, loss)
        self.dropout = dropout
        self.dropout_seed = 0
        n = data.X.shape[0]
        # Four int64 arrays with shuffle, else four Nones: Any, as mypy cannot follow that.
        self.order: Any = None
        self.next_order: Any = None
        self.draw: Any = None
        self.identity: Any = None
        if shuffle:
            # The order composes a new permutation each epoch, as scikit-learn's
            # does; the buffers make it allocation-free.
            self.order = np.arange(n, dtype=np.int64)
            self.identity, self.next_order, self.draw = (np.arange(n, dtype=np.int64),
                                                         np.empty(n, np.int64),
                                                         np.empty(n, np.int64))
        net.workspace_for(batch_size)

    @property
    def rows(self) -> int:
        """The rows one run passes over: those of data."""
        return self.data.X.shape[0]

    def run(self, optimizer: StochasticOptimizer, random_state: RandomDraws,
            grad: np.ndarray, backup: np.ndarray, epoch_number: int) -> Optional[float]:
        """Run one epoch over the data: the network's parameters updated in place.

        Parameters
        ----------
        optimizer : nnbp.optim.SGD or nnbp.optim.Adam
            Takes the steps, from its current state.
        random_state : numpy.random.RandomState, numpy.random.Generator or None
            Draws the order of the rows; None only without shuffle.
        grad, backup : ndarray
            Scratch vectors like the network's params.
        epoch_number : int
            For the message of a divergence.

        Returns
        -------
        float or None
            The epoch's loss, or None if it diverged (see EpochRun.run).
        """
        net = self.net
        if self.order is not None:
            np.copyto(self.draw, self.identity)
            # A shuffling epoch is always given its draws (cast: mypy cannot know).
            cast("np.random.RandomState | np.random.Generator", random_state).shuffle(self.draw)
            np.take(self.order, self.draw, out=self.next_order)
            self.order, self.next_order = self.next_order, self.order
        if self.dropout is not None:
            # After the order: without dropout, the draws are those they were.
            self.dropout_seed = _dropout_seed(random_state)
        compiled = optimizer.compiled()
        np.copyto(backup, net.params)
        try:
            if self.loss is not None and self.loss.compiled is None:
                accumulated, failed = self._python_loss_batches(compiled, grad)
            else:
                accumulated, failed = self._compiled_batches(compiled, grad)
            # The updates the cosine schedule counts (every kind of optimizer).
            optimizer.updates = compiled.updates
            finite = _core.all_finite(net.params)
        except KeyboardInterrupt:
            # Ctrl-C part-way through: back to the parameters this epoch began
            # with, those of the last finished one.
            np.copyto(net.params, backup)
            raise
        if failed < 0 and finite:
            return accumulated / self.rows
        # Keep the last finite parameters: those that gave the bad loss if
        # they are finite, else those the epoch began with.
        if not finite:
            np.copyto(net.params, backup)
        what = (f"the training loss became inf or nan at batch {failed + 1} of "
                if failed >= 0 else "the parameters became inf or nan in ")
        self.divergence = f"{what}epoch {epoch_number}"
        return None

    def _compiled_batches(self, compiled: Any, grad: np.ndarray) -> tuple[float, int]:
        """The epoch's batches in the compiled core (_core.train_epoch), with the
        canonical loss or a built-in one: (sum of batch loss x rows, failed batch or -1)."""
        net = self.net
        # A sparse X's epoch runs on one thread (see _core.train_epoch).
        flops = net.flops_per_layer(self.batch_size) if isinstance(self.data.X, np.ndarray) \
            else 0
        loss = None if self.loss is None else self.loss.compiled
        with net.compiled(flops, self.batch_size, loss) as model:
            if self.dropout is not None:
                model.set_dropout(self.dropout, self.dropout_seed)
            try:
                net.workspace_for(self.batch_size)
                accumulated, failed = _core.train_epoch(model, compiled, net.params, grad,
                                                        self.data, self.order,
                                                        self.batch_size)
            finally:
                if self.dropout is not None:
                    model.set_dropout(None, 0)
        self.steps = compiled.steps
        return accumulated, failed

    def _python_loss_batches(self, compiled: Any, grad: np.ndarray) -> tuple[float, int]:
        """The epoch's batches with a loss computed in Python: each batch's loss and
        gradient (Network.compiled_loss), then the compiled optimizer's update
        (_core.update, the compiled epoch's update_block), as the compiled epoch
        takes them: a batch of weight 0 is skipped, and a non-finite loss stops
        the epoch before its step."""
        net, data, accumulated = self.net, self.data, 0.0
        for number, start in enumerate(range(0, self.rows, self.batch_size)):
            rows = (slice(start, start + self.batch_size) if self.order is None
                    else self.order[start:start + self.batch_size])
            batch = _batch_of(data, rows)
            if batch.total == 0:
                continue
            value = net.compiled_loss(batch, grad, loss=self.loss)
            if not np.isfinite(value):
                return accumulated, number
            accumulated += value * batch.X.shape[0]
            _core.update(compiled, net.params, grad)
        self.steps = compiled.steps
        return accumulated, -1
