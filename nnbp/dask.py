"""Data-parallel training on a Dask cluster: DaskMLPClassifier and DaskMLPRegressor.

They take the parameters of nnbp.MLPClassifier and MLPRegressor, plus
sync_every and client, and fit dask arrays or DataFrames partitioned by rows
where the partitions live: only parameters, gradients and optimizer state
cross the network. to_local() gives back the fitted local estimator.

How a fit runs, on Dask's distributed scheduler:

- **Ingest.** Each partition is checked, and its targets encoded, by a task
  on the worker that holds it; the results stay in the workers' memory as
  futures. They are grouped into shards, one per worker that holds data,
  whose tasks compute with as many BLAS threads as the worker has threads
  (as xgboost's and LightGBM's do). Every later task is a pure function of the parameters and a shard's
  partitions, asked of the shard's worker but allowed on any other, so that
  it never waits for a worker that is gone. A partition lost with its
  worker is recomputed from its graph, and the tasks that needed it rerun;
  data scattered from the client's memory cannot be recomputed, and the fit
  stops with LostDataError.
- **lbfgs, and full-batch sgd or adam** (batch_size at least the number of
  rows). Each iteration scatters the parameters (to one worker, from which
  the others fetch them: no broadcast), each shard sums its partitions'
  loss and gradient with the compiled core, a tree of additions on the
  workers sums the shards, and the client takes the step: scipy's L-BFGS-B,
  as nnbp.minimize_lbfgs does, or the optimizer's update. The fit is that
  of the concatenated data, up to the order of summation.
- **sgd and adam: local SGD.** In each round, every shard takes up to
  sync_every steps of the compiled epoch on its own rows, all from the same
  parameters and optimizer state, with a batch of its share of the global
  batch; the client then averages the parameters and the optimizer's state,
  weighted by the weight of the rows each shard used. The L2 penalty is
  scaled to each shard's share, so that with sync_every=1 and sgd each round
  is one step of minibatch sgd on the global batch. Averaging every step
  would cost a round trip per minibatch, many times the step itself.
  Decoupled weight decay and the cosine schedule (each shard at the same
  update, which the client counts) keep that; max_grad_norm clips each
  shard's own batch's gradient, before the averaging, not the global
  batch's, whose norm no shard knows without a round trip of its own.
  Dropout drops in each shard's epoch of a round, its masks' seed drawn from
  a generator seeded by (the epoch's dropout seed, the shard's number, the
  round's first step), the epoch's seed drawn from random_state after the
  order, as a local epoch draws it. The full batch, whose gradient the
  cluster sums outside the compiled epoch, refuses dropout, as lbfgs does.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
import os
import textwrap
import threading
import warnings
from numbers import Integral
from typing import Any, Callable, ClassVar, NamedTuple, Optional, Union

import numpy as np
import scipy.sparse

try:
    import dask
    import dask.array as da
    import distributed
    from dask.sizeof import sizeof
    from distributed import default_client
    from distributed.client import FutureCancelledError
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "nnbp.dask needs Dask's distributed scheduler: pip install 'nnbp[dask]'"
    ) from error
from sklearn.base import clone
from threadpoolctl import ThreadpoolController
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import unique_labels
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    check_X_y,
    column_or_1d,
    validate_data,
)

from nnbp import _core
from nnbp._validation import c_array, check_loss_data
from nnbp.estimators import MLPClassifier, MLPRegressor, class_targets, regression_targets
from nnbp.network import CheckedData, Network
from nnbp.optim import SGD, Adam, minimize_objective_lbfgs
from nnbp.training import Epoch, EpochRun, StochasticTrainer

__all__ = ["DaskMLPClassifier", "DaskMLPRegressor", "LostDataError"]

# Local steps between two averagings of sgd and adam (see the README's model).
SYNC_EVERY = 64
# The type of X, y and sample_weight: a dask Array, or a dask DataFrame or Series
# (Any: dask.dataframe needs pandas, which nnbp does not).
DaskCollection = Any
# A shard's loss and gradient are summed over blocks of this many rows, so
# that a worker's workspace stays that of a block, however large its partitions.
GRADIENT_BLOCK_ROWS = 8192
# Times an iteration is resubmitted after Dask lost its scattered parameters.
RETRIES = 3


class LostDataError(RuntimeError):
    """Training data were lost with a worker, and Dask cannot recompute them.

    Raised by the Dask estimators' fit when partitions scattered from the
    client's memory (``client.scatter``, or arrays made from in-memory data
    and persisted) are lost with a worker: they have no graph to compute
    them from again. Also when such data were gone before the fit began,
    which the message says apart: lost with a worker earlier, or forgotten
    by Dask (data scattered with ``hash=True``, the default, again right
    after the future of equal data was released: scatter with
    ``hash=False``). The message names the partitions; the network keeps
    the parameters it had reached. Partitions computed from a graph (such as
    ``dask.dataframe.read_parquet``) are recomputed instead, and the fit
    goes on.

    See Also
    --------
    DaskMLPClassifier : Raises it from fit.
    DaskMLPRegressor : Raises it from fit.

    Examples
    --------
    >>> from nnbp.dask import LostDataError
    >>> issubclass(LostDataError, RuntimeError)
    True
    """


# ---------------------------------------------------------------- tasks, on the workers

class _Rows(NamedTuple):
    """One partition's rows, checked, as the compiled core takes them."""

    X: np.ndarray                 # (n, n_features), C-contiguous, in the network's dtype
    y: np.ndarray                 # the targets as given, until they are encoded; then None
    targets: np.ndarray           # (n, n_outputs) in the network's dtype, or None (softmax)
    labels: np.ndarray            # (n,) int64 class indices (softmax), or None
    sample_weight: np.ndarray     # (n,) in the network's dtype, or None

    def take(self, rows):
        """The given rows (a slice: views; indices or a mask: copies)."""
        return _Rows(*(None if part is None else part[rows] for part in self))


class _Summary(NamedTuple):
    """What the client learns of a partition: its size, and a classifier's labels in it."""

    rows: int
    weight: float                 # the sum of its sample weights (its rows, without)
    labels: np.ndarray            # its distinct labels (all values, for 2-D y), or None


def _summarize(rows, where=None, classifier=False):
    """The _Summary of a partition; where names it in errors."""
    weight = (len(rows.X) if rows.sample_weight is None
              else float(rows.sample_weight.sum(dtype=np.float64)))
    labels = None
    if classifier and len(rows.y):
        try:
            # scikit-learn's checks of the labels (their type, mixed types) for 1-D
            # y; the values themselves for 2-D (multilabel) y.
            labels = unique_labels(rows.y) if rows.y.ndim == 1 else np.unique(rows.y)
        except (ValueError, TypeError) as error:
            raise type(error)(f"{where}: {error}") from None
    return _Summary(len(rows.X), weight, labels)


# Each worker thread's network, made once and reused, with its workspace, by every task.
_worker_networks: dict[int, Network] = {}
_worker_networks_lock = threading.Lock()


def _worker_network(config, alpha=0.0):
    """This thread's network of config (less its alpha), with the penalty alpha."""
    key = threading.get_ident()
    net = _worker_networks.get(key)
    if net is None or {**net.config(), "alpha": config["alpha"]} != config:
        net = Network(**config)
        with _worker_networks_lock:
            _worker_networks[key] = net
    net.alpha = alpha
    return net


_threadpools = None


def _all_the_workers_threads():
    """A context in which BLAS computes with as many threads as the worker has.

    Dask's nannies start workers with one BLAS thread, for tasks that run side
    by side; a fit runs one task at a time on each worker, its shard's.
    """
    global _threadpools
    if _threadpools is None:
        _threadpools = ThreadpoolController()
    return _threadpools.limit(limits=distributed.get_worker().state.nthreads)


def _forget_worker_networks():
    """Free the workspaces the tasks of a fit kept on this worker."""
    with _worker_networks_lock:
        _worker_networks.clear()


def _check_partition(where, X, y, sample_weight, dtype, classifier):
    """One partition's _Rows, checked as fit checks X, y and sample_weight."""
    try:
        if scipy.sparse.issparse(X):
            raise TypeError("X is sparse: the partitions must be dense (nnbp.MLPClassifier and "
                            "MLPRegressor take sparse X in memory)")
        lengths = {"X": len(X), "y": len(y)}
        if sample_weight is not None:
            lengths["sample_weight"] = len(sample_weight)
        if len(set(lengths.values())) > 1:
            raise ValueError(
                ", ".join(f"{name} has {count} rows" for name, count in lengths.items())
                + ": they must be partitioned alike")
        if not len(X):
            return _Rows(np.empty((0, np.shape(X)[1]), dtype=dtype), np.asarray(y), None, None,
                         None)
        X, y = check_X_y(X, y, dtype=dtype, order="C", multi_output=True,
                         y_numeric=not classifier)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()       # fit has warned of the column vector, once
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype)
            if sample_weight.min() < 0:
                raise ValueError(
                    f"sample_weight must be non-negative, got {sample_weight.min()}")
    except (ValueError, TypeError) as error:
        raise type(error)(f"{where}: {error}") from None
    return _Rows(c_array(X, dtype), y, None, None, sample_weight)


def _encode_partition(where, rows, encode, output, n_outputs):
    """The partition with its targets as the compiled core takes them."""
    try:
        targets, labels, _, _ = check_loss_data(output, encode(rows.y), None, len(rows.X),
                                                n_outputs, rows.X.dtype)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{where}: {error}") from None
    return _Rows(rows.X, None, targets, labels, rows.sample_weight)


def _held_out_rows(n_rows, fraction):
    """How many of a partition's rows early stopping holds out (train_test_split's count)."""
    if n_rows < 2:
        return 0
    return min(math.ceil(fraction * n_rows), n_rows - 1)


def _split_partition(rows, fraction, seed, stratify):
    """(training rows, held-out rows) of one partition, for early stopping."""
    n_rows = len(rows.X)
    held_out = _held_out_rows(n_rows, fraction)
    if not held_out:
        return rows, rows.take(slice(0, 0))
    strata = None
    if stratify:
        strata = rows.labels if rows.labels is not None else rows.targets[:, 0]
    indices = np.arange(n_rows)
    try:
        train, test = train_test_split(indices, test_size=held_out, random_state=seed,
                                       stratify=strata)
    except ValueError:
        # A class with one row in this partition, or fewer held-out rows than
        # classes: this partition is split without strata.
        train, test = train_test_split(indices, test_size=held_out, random_state=seed)
    return rows.take(np.sort(train)), rows.take(np.sort(test))


def _pick(pair, which):
    return pair[which]


def _blocks_of(rows):
    """The partition in blocks of GRADIENT_BLOCK_ROWS, less its rows of weight 0.

    Those are left out rather than multiplied by 0, as Network.loss leaves them out.
    """
    for start in range(0, len(rows.X), GRADIENT_BLOCK_ROWS):
        block = rows.take(slice(start, start + GRADIENT_BLOCK_ROWS))
        weight = block.sample_weight
        if weight is not None and not weight.all():
            block = block.take(weight != 0)
        if len(block.X):
            yield block


def _shard_loss_and_grad(params, config, weight_total, loss, *partitions):
    """(loss, gradient) of the network at params on the shard's rows, both summed over
    its rows and divided by weight_total, without the penalty.

    loss: a loss object (a regressor's robust loss), or None for the output's own.
    """
    net = _worker_network(config)
    grad, block_grad = np.zeros_like(params), np.empty_like(params)
    total = 0.0
    with _all_the_workers_threads():
        for rows in partitions:
            for block in _blocks_of(rows):
                data = CheckedData(block.X, block.targets, block.labels, block.sample_weight,
                                   weight_total)
                total += net.compiled_loss(data, block_grad, params=params, loss=loss)
                grad += block_grad
    return total, grad


def _gather_rows(partitions, rows):
    """The shard's given rows (indices into its partitions laid end to end), copied."""
    if len(partitions) == 1:
        return partitions[0].take(rows)
    offsets = np.cumsum([0] + [len(part.X) for part in partitions])
    owner = np.searchsorted(offsets, rows, side="right") - 1
    pieces = [part.take(rows[owner == p] - offsets[p]) for p, part in enumerate(partitions)]
    gathered = []
    for columns in zip(*pieces):
        if columns[0] is None:
            gathered.append(None)
            continue
        out = np.empty((len(rows),) + columns[0].shape[1:], dtype=columns[0].dtype)
        for p, column in enumerate(columns):
            out[owner == p] = column
        gathered.append(out)
    return _Rows(*gathered)


class _RoundSum(NamedTuple):
    """What the shards send back from a round of local steps, summed over them."""

    params: np.ndarray            # sum over the shards of weight x their parameters
    first: np.ndarray             # ... x the optimizer's first state vector, or None
    second: np.ndarray            # ... x its second (Adam's v), or None
    loss: float                   # sum over their batches of batch loss x batch rows
    weight: float                 # sum of the weights of the rows they used
    diverged: int                 # how many met a non-finite loss


def _local_steps(start, config, alpha, order_seed, n_rows, rows, batch_size, epoch_number,
                 loss, dropout, *partitions):
    """A shard's round of local steps: the compiled epoch over rows[0]:rows[1] of its order.

    start: [parameters, optimizer] at the round's start; alpha: the penalty of
    the shard's batches. The shard's order of its n_rows rows is drawn from
    order_seed (None: the rows as they are). loss: a loss object, or None for
    the output's own. dropout: None, or (the rates of the hidden layers, the
    round's key): the round's epoch draws its masks' seed from a generator
    seeded by the key, as a local epoch draws its own from random_state.
    """
    params, optimizer = start
    rates, draws = (None, None) if dropout is None else (dropout[0],
                                                         np.random.default_rng(dropout[1]))
    order = (np.arange(n_rows) if order_seed is None
             else np.random.default_rng(order_seed).permutation(n_rows))
    data = _gather_rows(partitions, order[rows[0]:rows[1]])
    net = _worker_network(config, alpha)
    net.params[...] = params
    optimizer = copy.deepcopy(optimizer)   # the scattered one is shared by this worker's tasks
    epoch = Epoch(net, CheckedData(data.X, data.targets, data.labels, data.sample_weight,
                                    len(data.X)), batch_size, shuffle=False, loss=loss,
                  dropout=rates)
    with _all_the_workers_threads():
        value = epoch.run(optimizer, draws, np.empty_like(params), np.empty_like(params),
                          epoch_number)
    if value is None:
        return _RoundSum(np.zeros_like(params), None, None, 0.0, 0.0, 1)
    weight = (len(data.X) if data.sample_weight is None
              else float(data.sample_weight.sum(dtype=np.float64)))
    first, second = optimizer.state()
    return _RoundSum(weight * net.params, None if first is None else weight * first,
                     None if second is None else weight * second, value * len(data.X),
                     weight, 0)


def _add(a, b):
    """a + b; tuples element by element, None counting as 0."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, tuple):
        sums = [_add(x, y) for x, y in zip(a, b)]
        return type(a)(*sums) if hasattr(a, "_fields") else tuple(sums)
    return a + b


def _validation_parts(params, config, classifier, *partitions):
    """The score's parts (see _combine_scores) of the network at params on held-out rows."""
    net = _worker_network(config)
    net.params[...] = params
    parts = []
    for rows in partitions:
        if not len(rows.X):
            continue
        with _all_the_workers_threads():
            predicted = net.forward(rows.X)
        if classifier:
            # The class of highest probability (softmax), or the probabilities
            # above 1/2 (logistic), as the label binarizer decodes them.
            right = (predicted.argmax(axis=1) == rows.labels if rows.labels is not None
                     else ((predicted > 0.5) == (rows.targets > 0.5)).all(axis=1))
            weight = (np.ones(len(right)) if rows.sample_weight is None
                      else rows.sample_weight.astype(np.float64))
            parts.append(_Accuracy(float(weight[right].sum()), float(weight.sum()),
                                   _non_finite(predicted)))
        else:
            parts.append(_r2_part(rows.targets, predicted, rows.sample_weight))
    return _merge_score_parts(parts)


# ---------------------------------------------------------------- scores from parts

class _Accuracy(NamedTuple):
    right: float                  # the weight of the rows predicted right
    weight: float                 # the weight of all the rows
    non_finite: bool              # some prediction was NaN or infinite


class _R2(NamedTuple):
    rows: int
    weight: float
    mean: np.ndarray              # the weighted mean of y, per output
    squares: np.ndarray           # sum w (y - mean)^2, per output
    residual: np.ndarray          # sum w (y - predicted)^2, per output
    non_finite: bool


def _non_finite(predicted):
    return bool(np.issubdtype(predicted.dtype, np.floating) and not np.isfinite(predicted).all())


def _r2_part(y, predicted, sample_weight):
    """_R2 of some rows: squares about their mean, not raw sums of squares, which cancel."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    predicted = np.asarray(predicted).reshape(len(y), -1)
    weight = (np.ones(len(y)) if sample_weight is None
              else np.asarray(sample_weight, dtype=np.float64))
    total = float(weight.sum())
    mean = weight @ y / total if total else np.zeros(y.shape[1])
    with np.errstate(invalid="ignore", over="ignore"):
        residual = weight @ (y - predicted) ** 2
    return _R2(len(y), total, mean, weight @ (y - mean) ** 2, residual, _non_finite(predicted))


def _merge_score_parts(parts):
    """The parts of several sets of rows as one (None if there are none)."""
    merged = None
    for part in parts:
        if part is None or merged is None:
            merged = merged if part is None else part
        elif isinstance(part, _Accuracy):
            merged = _Accuracy(merged.right + part.right, merged.weight + part.weight,
                               merged.non_finite or part.non_finite)
        else:
            # Chan, Golub and LeVeque's update of the squares about the mean.
            weight = merged.weight + part.weight
            delta = part.mean - merged.mean
            share = part.weight / weight if weight else 0.0
            merged = _R2(merged.rows + part.rows, weight, merged.mean + delta * share,
                         merged.squares + part.squares + delta ** 2 * merged.weight * share,
                         merged.residual + part.residual, merged.non_finite or part.non_finite)
    return merged


def _combine_scores(parts, non_finite="nan"):
    """Accuracy, or scikit-learn's r2_score averaged over the outputs, from parts.

    Non-finite predictions give NaN (non_finite="nan", as early stopping
    scores them) or a ValueError ("raise", as scikit-learn's score does).
    """
    merged = _merge_score_parts(parts)
    if merged is None:
        raise ValueError("there are no rows to score")
    if merged.non_finite:
        if non_finite == "raise":
            raise ValueError("the predictions contain NaN or infinity")
        return np.nan
    if isinstance(merged, _Accuracy):
        return merged.right / merged.weight
    if merged.rows < 2:
        warnings.warn("R^2 score is not well-defined with less than two samples.")
        return np.nan
    # scikit-learn's rule: 1 where y and the predictions are both constant, 0 where y only is.
    squares, residual = merged.squares, merged.residual
    scores = np.ones(len(squares))
    defined = (squares != 0) & (residual != 0)
    scores[defined] = 1 - residual[defined] / squares[defined]
    scores[(residual != 0) & (squares == 0)] = 0.0
    return float(scores.mean())


def _score_partition(model, X, y, sample_weight):
    """The parts of model.score(X, y, sample_weight) on one partition."""
    if not len(X):
        return None
    predicted = model.predict(X)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if isinstance(model, MLPClassifier):
        right = accuracy_score(y, predicted, normalize=False, sample_weight=sample_weight)
        total = len(predicted) if sample_weight is None else sample_weight.sum()
        return _Accuracy(float(right), float(total), _non_finite(predicted))
    return _r2_part(y, predicted, sample_weight)


def _predict_partition(model, method, trailing_shape, dtype, X):
    """model.method(X) on one partition; an empty partition gives an empty result."""
    if not len(X):
        return np.empty((0,) + trailing_shape, dtype=dtype)
    return getattr(model, method)(X)


# ---------------------------------------------------------------- the collections, on the client

def _partitions(name, value, ndims):
    """(the Delayed partitions of a dask array, DataFrame or Series, their rows or None)."""
    is_array = isinstance(value, da.Array)
    if is_array or hasattr(value, "npartitions") and hasattr(value, "divisions"):
        if value.ndim not in ndims:
            raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimensions, "
                             f"got {value.ndim}")
        if not is_array:
            return list(value.to_delayed()), None
        if value.ndim == 2 and value.numblocks[1] > 1:
            value = value.rechunk({1: -1})   # a partition is whole rows
        return list(value.to_delayed().ravel()), value.chunks[0]
    raise TypeError(
        f"{name} must be a dask array or a dask DataFrame or Series, partitioned by rows; got "
        f"{type(value).__name__}. In-memory data fit with nnbp.MLPClassifier or "
        "MLPRegressor, or become dask arrays with dask.array.from_array(X, chunks=...)"
    )


def _check_alike(partitions):
    """Raise unless the collections have the same partitions (their rows, where known).

    partitions: {name: (Delayed partitions, their rows or None)}, X first.
    """
    (_, (x_parts, x_rows)), *others = partitions.items()
    for name, (parts, rows) in others:
        if len(parts) != len(x_parts):
            raise ValueError(
                f"X and {name} are partitioned differently: X has {len(x_parts)} partitions, "
                f"{name} has {len(parts)}; rechunk (repartition) them alike")
        if x_rows is None or rows is None:
            continue
        for index, (a, b) in enumerate(zip(x_rows, rows)):
            if a != b and not (math.isnan(a) or math.isnan(b)):
                raise ValueError(
                    f"X and {name} are partitioned differently: partition {index} holds {a} "
                    f"rows of X and {b} of {name}; rechunk them alike")


def _describe_partition(rows, index):
    """'partition i', with its rows where the sizes of the partitions are known."""
    if rows is None or any(math.isnan(count) for count in rows[:index + 1]):
        return f"partition {index}"
    if not rows[index]:
        return f"partition {index} (empty)"
    first = int(sum(rows[:index]))
    return f"partition {index} (rows {first} to {first + int(rows[index]) - 1})"


def _check_numeric(X):
    """Raise unless X's values (a DataFrame's columns) are numbers."""
    if isinstance(X, da.Array):
        if X.dtype.kind not in "biuf":
            raise TypeError(f"X must hold numbers, got dtype {X.dtype}")
        return
    from pandas.api.types import is_numeric_dtype
    columns = X.dtypes.items() if hasattr(X, "columns") else [(X.name, X.dtype)]
    bad = [f"{name!r} ({dtype})" for name, dtype in columns if not is_numeric_dtype(dtype)]
    if bad:
        raise TypeError(f"X has columns that are not numbers: {', '.join(bad)}; encode them "
                        "as numbers first")


def _network_dtype(X, dtype):
    """The dtype fit trains in: the estimator's, or float32 for float32 X, else float64."""
    if dtype is not None:
        return np.dtype(dtype)
    dtypes = [X.dtype] if isinstance(X, da.Array) else list(X.dtypes)
    return np.dtype(np.float32 if all(d == np.float32 for d in dtypes) else np.float64)


def _empty_like(X):
    """An empty stand-in for X, with its columns, for scikit-learn's checks of the features."""
    if isinstance(X, da.Array):
        return np.empty((0, X.shape[1]), dtype=X.dtype)
    return X._meta


def _resolve_client(client):
    if client is None:
        try:
            client = default_client()
        except ValueError:
            raise ValueError("there is no Dask client: start one (distributed.Client(...)) "
                             "or pass client=") from None
    if client.status != "running":
        raise ValueError(f"the Dask client {client!r} is {client.status}: it must be running")
    return client


def _shown(descriptions):
    return ", ".join(descriptions[:5]) + (" and more" if len(descriptions) > 5 else "")


def _gone_before_the_fit_error(descriptions):
    return LostDataError(
        f"{_shown(descriptions)} of the training data were gone before the fit began: the "
        "scheduler no longer held the data scattered from the client's memory that they are "
        "made from, and cannot recompute them. Either a worker that held them was lost "
        "before, or Dask forgot them: client.scatter with hash=True, its default, gives "
        "equal data one key, and scattering data equal to data whose future was just "
        "released can leave the new future on the forgotten key (dask/distributed#4612). "
        "Scatter with hash=False, or keep the earlier future until the new one is made."
    )


def _lost_data_error(descriptions):
    shown = _shown(descriptions)
    return LostDataError(
        f"{shown} of the training data were lost with a worker, and Dask cannot recompute "
        "them: they were scattered from the client's memory, not computed from a graph. The "
        "network keeps the parameters it had reached. Build the collections from tasks that "
        "load the data (such as dask.dataframe.read_parquet, dask.array.from_zarr or "
        "from_delayed), so that Dask can recompute what a lost worker held."
    )


def _client_closed_error(client):
    return RuntimeError(
        f"the Dask client {client!r} was closed in the middle of the fit: Dask cancelled the "
        "fit's tasks and released its data with it. The network keeps the parameters it had "
        "reached: keep the client open until fit returns."
    )


def _wait_for(client, futures, describe, inputs=False):
    """Wait for futures; raise the first error of their tasks, by partition where lost.

    The results stay on the workers. inputs: the futures are the fit's first,
    the collections' own partitions, whose data a cancellation for "lost
    dependencies" says were gone before the fit began.
    """
    for index, future in enumerate(futures):
        error = future.exception()      # once the task has ended
        if future.status == "cancelled":
            gone_before = inputs and _cancelled_for(future) == "lost dependencies"
            client.cancel(futures)
            raise (_gone_before_the_fit_error if gone_before
                   else _lost_data_error)([describe(index)])
        if error is not None:
            client.cancel(futures)
            raise error


def _cancelled_for(future):
    """The reason Dask gave for cancelling a cancelled future.

    "lost dependencies": a task was submitted on data the scheduler no longer
    had (for the fit's first tasks: before the fit began).
    """
    try:
        future.result()         # raises at once, moving no data: the future is cancelled
    except FutureCancelledError as error:
        return error.reason
    return None


def _labels_surrogate(labels, y_ndim, n_columns):
    """Every distinct label of y, laid out as y is: ``classes_`` and the type of target of y."""
    try:
        values = np.concatenate(labels)
    except (TypeError, ValueError):
        # Different kinds (strings, numbers): scikit-learn names the mix.
        values = np.concatenate([part.astype(object) for part in labels])
    if y_ndim == 1:
        return values
    return np.repeat(np.unique(values)[:, None], n_columns, axis=1)


def _ingest(estimator, client, X, y, sample_weight, first_pass, incremental):
    """The training data of estimator.fit: checked, encoded, held by the workers."""
    classifier = isinstance(estimator, MLPClassifier)
    partitions = {"X": _partitions("X", X, (2,)), "y": _partitions("y", y, (1, 2))}
    if sample_weight is not None:
        partitions["sample_weight"] = _partitions("sample_weight", sample_weight, (1,))
    _check_alike(partitions)
    _check_numeric(X)
    dtype = _network_dtype(X, estimator.dtype)
    validate_data(estimator, _empty_like(X), reset=first_pass, skip_check_array=True)
    n_columns = y.shape[1] if y.ndim == 2 else 1
    if y.ndim == 2 and n_columns == 1:
        column_or_1d(np.empty((0, 1)), warn=True)   # scikit-learn's warning of a column y
    describe = functools.partial(_describe_partition, partitions["X"][1])

    # The partitions where Dask puts them (or where they are); then each is
    # checked there, and only its summary comes to the client.
    inputs = client.compute([part for parts, _ in partitions.values() for part in parts])
    n_partitions = len(partitions["X"][0])
    x_inputs, y_inputs = inputs[:n_partitions], inputs[n_partitions:2 * n_partitions]
    w_inputs = inputs[2 * n_partitions:] or [None] * n_partitions
    _wait_for(client, x_inputs, describe, inputs=True)
    holders = _holders(client, x_inputs)
    checked = [_submit_to(client, holders[i], _check_partition, describe(i), x_inputs[i],
                          y_inputs[i], w_inputs[i], dtype, classifier)
               for i in range(n_partitions)]
    del inputs, x_inputs, y_inputs, w_inputs
    summaries = [_submit_to(client, holders[i], _summarize, rows, describe(i), classifier)
                 for i, rows in enumerate(checked)]
    _wait_for(client, summaries, describe)
    summaries = client.gather(summaries)

    n_rows = sum(summary.rows for summary in summaries)
    if not n_rows:
        raise ValueError(f"X is empty: its {n_partitions} partitions have no rows")
    weight_total = float(sum(summary.weight for summary in summaries))
    if sample_weight is not None:
        if not weight_total > 0:
            raise ValueError("sample_weight sums to zero: at least one example must have weight")
        if not (np.isfinite(weight_total) and np.isfinite(1.0 / weight_total)):
            raise ValueError(f"sample_weight sums to {weight_total}, too "
                             f"{'large' if weight_total > 1 else 'small'} to divide by: "
                             "rescale the weights")
    if classifier:
        surrogate = _labels_surrogate([s.labels for s in summaries if s.rows],
                                      1 if n_columns == 1 else 2, n_columns)
        estimator._check_classes(surrogate, incremental)
        encode = functools.partial(class_targets, estimator._label_binarizer)
        example = encode(surrogate[:1])
        n_outputs = example.shape[1] if example.ndim == 2 else len(estimator.classes_)
    else:
        encode, n_outputs = regression_targets, n_columns

    # Empty partitions are left out: they add nothing to any sum.
    kept = [i for i, summary in enumerate(summaries) if summary.rows]
    encoded = [_submit_to(client, holders[i], _encode_partition, describe(i), checked[i],
                          encode, estimator._output(), n_outputs) for i in kept]
    del checked
    _wait_for(client, encoded, lambda k: describe(kept[k]))

    # One shard per worker holding data, of its partitions in order.
    by_worker = {}
    for i, future in zip(kept, encoded):
        by_worker.setdefault(holders[i], []).append((i, summaries[i].rows, future))
    shards = sorted((_Shard(worker, held) for worker, held in by_worker.items()),
                    key=lambda shard: shard.partitions[0][0])
    data = _ClusterData(client, shards, estimator.n_features_in_, dtype, weight_total,
                        estimator.sync_every, describe)
    data.n_outputs = n_outputs
    return data


def _holders(client, futures):
    """The worker that holds each future's result (None where Dask has not placed it)."""
    who_has = client.who_has(futures)
    return [(who_has.get(future.key) or (None,))[0] for future in futures]


def _submit_to(client, worker, function, *args):
    """client.submit(function, *args), on worker while it is there, else on any."""
    return client.submit(function, *args, workers=None if worker is None else [worker],
                         allow_other_workers=True, pure=False)


# ---------------------------------------------------------------- the training data

class _Shard(NamedTuple):
    """The partitions one worker holds, which one task at a time computes on."""

    worker: str                   # where they were put: their tasks go there while it lives
    partitions: list              # [(partition index, rows, future)], in order

    @property
    def rows(self):
        return sum(rows for _, rows, _ in self.partitions)

    @property
    def futures(self):
        return [future for _, _, future in self.partitions]


class _ClusterData:
    """The training rows in the workers' memory, checked and encoded, in shards.

    Its shape (rows, features) and dtype stand for those of X in nnbp's
    estimators and trainer.
    """

    def __init__(self, client, shards, n_features, dtype, weight_total, sync_every, describe):
        self.client, self.shards, self.dtype = client, shards, dtype
        self.shape = (sum(shard.rows for shard in shards), n_features)
        self.weight_total, self.sync_every, self.describe = weight_total, sync_every, describe
        self.derived = []            # the data split from this for early stopping

    def release(self):
        """Let Dask forget the rows, and the workers the workspaces the tasks kept."""
        for data in (self, *self.derived):
            data.shards = []
        if self.client.status == "running":
            self.client.run(_forget_worker_networks)

    def _on(self, shard, function, *args):
        """The future of function(*args, *the shard's partitions), run where they are."""
        return _submit_to(self.client, shard.worker, function, *args, *shard.futures)

    def _run(self, value, submit):
        """Scatter value, and submit(its future) the round's tasks: the result, once Dask has it.

        value goes to one of the shards' workers, and the others fetch it from
        there. If Dask lost it with a worker, the round is submitted again; if
        it lost training rows it cannot recompute, LostDataError.
        """
        workers = {shard.worker for shard in self.shards}
        for attempt in range(RETRIES + 1):
            try:
                # A retry lets Dask choose, in case the shards' workers are gone.
                there = sorted(workers & set(self.client.nthreads())) if not attempt else None
                scattered = self.client.scatter(value, hash=False, workers=there or None)
                return submit(scattered).result()
            except (FutureCancelledError, OSError, KeyError):
                # OSError and KeyError: scattering to a worker that has just died.
                # Partitions Dask will compute again are "lost"; those it cannot, cancelled.
                lost = [self.describe(index) for shard in self.shards
                        for index, _, future in shard.partitions
                        if future.status == "cancelled"]
                if lost:
                    raise _lost_data_error(lost) from None
                if attempt == RETRIES:
                    raise

    def _tree_sum(self, futures):
        """The future of the sum of the futures' results, added in pairs on the workers."""
        while len(futures) > 1:
            pairs = [futures[i:i + 2] for i in range(0, len(futures), 2)]
            futures = [self.client.submit(_add, *pair, pure=False) if len(pair) == 2
                       else pair[0] for pair in pairs]
        return futures[0]

    def loss_and_grad(self, net, params, loss=None):
        """The network's loss and gradient at params (its dtype) on all the rows.

        loss: a loss object (checked by net.check_loss), or None for the output's own.
        """
        config = net.config()

        def submit(scattered):
            return self._tree_sum([
                self._on(shard, _shard_loss_and_grad, scattered, config, self.weight_total,
                         loss)
                for shard in self.shards])

        value, grad = self._run(params, submit)
        # The penalty, once: not per shard.
        value += net.l2_penalty(params, self.weight_total, grad)
        return value, grad

    def local_round(self, net, optimizer, steps, shard_plans, global_batch, epoch_number,
                    loss=None, dropout=None):
        """A round of local steps from net.params and optimizer: their _RoundSum.

        steps: (first, last) step of the epoch; shard_plans: per shard, its
        (order seed, local batch); loss: a loss object, or None for the
        output's own; dropout: None, or (the rates of the hidden layers, the
        epoch's dropout seed). None if no shard has rows left.
        """
        config, jobs = net.config(), []
        for number, (shard, (seed, batch)) in enumerate(zip(self.shards, shard_plans)):
            rows = (steps[0] * batch, min(steps[1] * batch, shard.rows))
            if rows[0] < rows[1]:
                # The penalty of the shard's batches, scaled to their share of the global batch.
                alpha = net.alpha * batch / global_batch
                jobs.append((shard, (config, alpha, seed, shard.rows, rows, batch, epoch_number,
                                     loss, _round_dropout(dropout, number, steps[0]))))
        if not jobs:
            return None

        def submit(start):
            return self._tree_sum([self._on(shard, _local_steps, start, *arguments)
                                   for shard, arguments in jobs])

        return self._run([net.params, optimizer], submit)

    def split(self, fraction, random_state, stratify):
        """(training data, held-out data): each partition split, for early stopping."""
        halves = ([], [])
        for shard in self.shards:
            pieces = ([], [])
            for index, _, future in shard.partitions:
                seed = int(random_state.randint(np.iinfo(np.int32).max))
                pair = _submit_to(self.client, shard.worker, _split_partition, future,
                                  fraction, seed, stratify)
                for which, piece in enumerate(pieces):
                    piece.append((index, _submit_to(self.client, shard.worker, _pick, pair,
                                                    which)))
            for half, piece in zip(halves, pieces):
                half.append((shard.worker, piece))
        summaries = iter(self.client.gather([
            _submit_to(self.client, worker, _summarize, future)
            for half in halves for worker, piece in half for _, future in piece]))
        parts = []
        for half in halves:
            shards, weight_total = [], 0.0
            for worker, piece in half:
                entries = []
                for index, future in piece:
                    summary = next(summaries)
                    entries.append((index, summary.rows, future))
                    weight_total += summary.weight
                shards.append(_Shard(worker, entries))
            parts.append(_ClusterData(self.client, shards, self.shape[1], self.dtype,
                                      weight_total, self.sync_every, self.describe))
        self.derived += parts
        return tuple(parts)

    def score(self, net, classifier):
        """The early-stopping score of the network on these (held-out) rows."""
        config = net.config()
        params = net.params.copy()

        def submit(scattered):
            return self.client.submit(_merge_score_parts, [
                self._on(shard, _validation_parts, scattered, config, classifier)
                for shard in self.shards], pure=False)

        return _combine_scores([self._run(params, submit)])

    def epoch(self, net, batch_size, shuffle, loss=None, dropout=None):
        return _ClusterEpoch(self, net, batch_size, shuffle, loss, dropout)


def _round_dropout(dropout, shard_number, first_step):
    """A shard's dropout in a round: None, or (the rates, the round's key).

    dropout: None, or (the rates, the epoch's dropout seed). The key, (the
    epoch's seed, the shard's number, the round's first step), seeds the
    generator the shard's epoch of the round draws its masks' seed from: the
    same for the same random_state, wherever the shard runs, and different
    for each shard and round. A seed per round, since each round is an epoch
    of its own on the worker, whose batches are numbered from 0: one seed for
    all the rounds would give every round the masks of the first.
    """
    if dropout is None:
        return None
    rates, seed = dropout
    return rates, (seed, shard_number, first_step)


class _ClusterEpoch(EpochRun):
    """One epoch of sgd or adam over _ClusterData, as training.Epoch is one over arrays.

    With a batch of all the rows, one step of the optimizer on the client from
    the gradient of all the rows; else rounds of local steps on the shards,
    averaged after each.
    """

    def __init__(self, data, net, batch_size, shuffle, loss=None, dropout=None):
        self.X, self.net, self.batch_size, self.shuffle = data, net, batch_size, shuffle
        self.loss = loss             # a loss object, or None for the output's own
        self.dropout = dropout       # the rates of the hidden layers, or None
        self.steps = 0               # Adam's t after the epoch, as the compiled epoch gives it
        self.divergence = None

    @property
    def rows(self):
        return self.X.shape[0]

    def run(self, optimizer, random_state, grad, backup, epoch_number):
        """One epoch; returns its loss (see training.EpochRun.run)."""
        net = self.net
        np.copyto(backup, net.params)
        try:
            if self.batch_size >= self.X.shape[0]:
                loss = self._full_batch(optimizer, grad, epoch_number)
            else:
                loss = self._local_steps(optimizer, random_state, epoch_number)
        except KeyboardInterrupt:
            np.copyto(net.params, backup)     # back to the last finished epoch
            raise
        if loss is not None and not _core.all_finite(net.params):
            np.copyto(net.params, backup)
            self.divergence, loss = f"the parameters became inf or nan in epoch {epoch_number}", None
        self.steps = optimizer.steps
        return loss

    def _full_batch(self, optimizer, grad, epoch_number):
        loss, gradient = self.X.loss_and_grad(self.net, self.net.params, self.loss)
        if not np.isfinite(loss):
            self.divergence = (f"the training loss became inf or nan at batch 1 of epoch "
                               f"{epoch_number}")
            return None
        np.copyto(grad, gradient)
        optimizer.step(self.net.params, grad)
        return loss

    def _local_steps(self, optimizer, random_state, epoch_number):
        data, net = self.X, self.net
        n_steps = math.ceil(data.shape[0] / self.batch_size)
        seed = int(random_state.randint(np.iinfo(np.int32).max)) if self.shuffle else None
        dropout = None
        if self.dropout is not None:
            # Drawn after the order, as a local epoch draws it: without dropout, the
            # draws are those they were.
            dropout = (self.dropout,
                       int(random_state.randint(np.iinfo(np.int64).max, dtype=np.int64)))
        # Each shard's batch is its share of the global batch: all end the epoch together.
        plans = [(None if seed is None else (seed, s), max(1, math.ceil(shard.rows / n_steps)))
                 for s, shard in enumerate(data.shards)]
        global_batch = sum(batch for _, batch in plans)
        first, second = optimizer.state()
        loss = 0.0
        for step in range(0, n_steps, data.sync_every):
            steps = (step, min(step + data.sync_every, n_steps))
            total = data.local_round(net, optimizer, steps, plans, global_batch, epoch_number,
                                     self.loss, dropout)
            if total is None:
                continue
            if total.diverged:
                # The parameters stay those before the round, finite.
                self.divergence = (f"the training loss became inf or nan between batches "
                                   f"{steps[0] + 1} and {steps[1]} of epoch {epoch_number}")
                return None
            if total.weight:
                net.params[...] = total.params / total.weight
                for state, summed in ((first, total.first), (second, total.second)):
                    if state is not None:
                        state[...] = summed / total.weight
            if isinstance(optimizer, Adam):
                optimizer.t += steps[1] - steps[0]
            # The cosine schedule's count: the shards step in lockstep through the epoch.
            optimizer.updates += steps[1] - steps[0]
            loss += total.loss
        return loss / data.shape[0]


class _DaskTrainer(StochasticTrainer):
    """StochasticTrainer over _ClusterData: nnbp's stopping rules, the epochs on the cluster."""

    def _epoch(self, X, y, sample_weight, assume_finite=False):
        # Each partition was checked by its worker at ingest: assume_finite adds nothing.
        batch_size = min(self.batch_size, X.shape[0])
        dropout = self.net.check_dropout(self.dropout)
        if dropout is not None and batch_size == X.shape[0]:
            solver = "adam" if isinstance(self.optimizer, Adam) else "sgd"
            raise ValueError(
                f"dropout (rates {list(dropout)}) trains in nnbp.dask's local SGD, with a "
                f"batch_size below the {X.shape[0]} training rows; solver={solver!r} with a "
                "batch of all of them steps from the gradient the cluster sums across its "
                "shards, outside the compiled epoch that draws dropout's masks: set "
                f"batch_size below {X.shape[0]}, or dropout=0.0")
        return X.epoch(self.net, batch_size, self.shuffle, self.loss_object, dropout)


# ---------------------------------------------------------------- the estimators

def _with_dask_parameters(local_class: type[Any]) -> Callable[..., None]:
    """local_class's __init__, with the keyword-only sync_every and client after its own.

    Made from local_class's signature, so that the Dask estimators take its
    parameters as they are, now and after any change.
    """
    def __init__(self: Any, *args: Any, sync_every: int = SYNC_EVERY,
                 client: Optional[distributed.Client] = None, **kwargs: Any) -> None:
        local_class.__init__(self, *args, **kwargs)
        self.sync_every = sync_every
        self.client = client

    signature = inspect.signature(local_class.__init__)
    keyword = inspect.Parameter.KEYWORD_ONLY
    # The hints as strings, as local_class's are (from __future__ import annotations).
    __init__.__signature__ = signature.replace(parameters=[  # type: ignore[attr-defined]
        *signature.parameters.values(),
        inspect.Parameter("sync_every", keyword, default=SYNC_EVERY, annotation="int"),
        inspect.Parameter("client", keyword, default=None,
                          annotation="Optional[distributed.Client]")])
    return __init__


def _section(docstring: str, title: str, until: str) -> str:
    """The entries of a section of a numpydoc class docstring, up to the section until,
    indented by four spaces, as the Dask estimators' own entries are."""
    # Python 3.13 on strips a docstring's common indentation when it compiles it
    # (the Dask estimators' keep theirs: their placeholders stand at column 0).
    text = inspect.cleandoc(docstring)
    start = text.index(f"\n{title}\n{'-' * len(title)}\n") + len(title) * 2 + 3
    return textwrap.indent(text[start:text.index(f"\n{until}\n", start)].strip("\n"), "    ")


def _with_local_sections(local_class: type, docstring: str) -> str:
    """docstring, its {parameters} and {attributes} those of local_class's docstring.

    The Dask estimators take the local estimators' parameters, and set their
    fitted attributes: their docstrings show the local ones' entries, so
    that the two never drift apart.
    """
    local = local_class.__doc__
    if not docstring or not local:
        return docstring            # python -OO: no docstrings
    return (docstring
            .replace("{parameters}", _section(local, "Parameters", "Attributes"))
            .replace("{attributes}", _section(local, "Attributes", "See Also")))


_DASK_PARAMETER_CONSTRAINTS = {
    "sync_every": [Interval(Integral, 1, None, closed="left")],
    "client": [None, HasMethods(["submit", "scatter"])],
}


class _DaskMLP:
    """What DaskMLPClassifier and DaskMLPRegressor add to nnbp's estimators."""

    _trainer_class = _DaskTrainer
    # Set by the estimators' __init__ (_with_dask_parameters), and their class.
    client: Optional[distributed.Client]
    sync_every: int
    # MLPClassifier or MLPRegressor. Any: mypy reads type[Any].__new__ as type's own.
    _local_class: ClassVar[Any]

    @property
    def client_(self) -> distributed.Client:
        """The client fit uses: client, or the current default client.

        Raises ValueError if there is none, or if it is not running.
        """
        return _resolve_client(self.client)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False     # a partition is dense: a sparse one is refused
        return tags

    def _check_solver(self):
        # partial_fit is for data that come block by block: dask_ml.wrappers.Incremental
        # does that with nnbp's local estimators.
        raise AttributeError(
            f"{type(self).__name__} has no partial_fit: its fit trains on all the partitions "
            "at once. For training block by block, wrap nnbp.MLPClassifier or MLPRegressor in "
            "dask_ml.wrappers.Incremental")

    # ------------------------------------------------------------ fitting

    def _fit(self, X, y, sample_weight=None, incremental=False, callback=None):
        try:
            return super()._fit(X, y, sample_weight, incremental, callback)
        except Exception as error:
            client = self.__dict__.get("_fit_client")
            if client is not None and client.status != "running":
                # Dask then cancels every task and future (which reads as partitions lost
                # with a worker) and has no scheduler to ask: whatever it raised, the
                # cause is the closed client.
                raise _client_closed_error(client) from error
            raise
        finally:
            self.__dict__.pop("_fit_client", None)
            data = self.__dict__.pop("_training_data", None)
            if data is not None:
                data.release()

    def _fit_data(self, X, y, sample_weight, incremental, first_pass):
        client = self._fit_client = _resolve_client(self.client)
        data = self._training_data = _ingest(self, client, X, y, sample_weight, first_pass,
                                             incremental)
        return data, None, None, data.n_outputs

    def _minimize_lbfgs(self, X, targets, sample_weight, callback):
        net = self.network_
        loss_object = net.check_loss(self._training_loss())

        def loss_and_grad(x):
            loss, grad = X.loss_and_grad(net, x.astype(net.dtype, copy=False), loss_object)
            return loss, grad.astype(np.float64)

        return minimize_objective_lbfgs(net, loss_and_grad, max_iter=self.max_iter,
                                        max_fun=self.max_fun, tol=self.tol, callback=callback)

    def _split_validation(self, X, targets, sample_weight):
        classifier = isinstance(self, MLPClassifier)
        # Stratified as the local estimators stratify: single-label classification.
        stratify = classifier and (self._label_binarizer.y_type_ == "multiclass"
                                   or self.n_outputs_ == 1)
        train, held_out = X.split(self.validation_fraction, self._random_state, stratify)
        if held_out.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return train, None, None, lambda: held_out.score(self.network_, classifier)

    # ------------------------------------------------------------ predicting, lazily

    def _map_partitions(self, method, X):
        """model.method on each partition of X, as a lazy dask array (model: to_local())."""
        check_is_fitted(self)
        parts, rows = _partitions("X", X, (2,))
        _check_numeric(X)
        validate_data(self, _empty_like(X), reset=False, skip_check_array=True)
        local = self.to_local()
        # One row of zeros of X's type gives the shape and dtype of the result
        # (a float32 network's is float64 for float64 X, float32 for float32 X).
        row = _empty_like(X)
        row = (np.zeros((1, row.shape[1]), row.dtype) if isinstance(row, np.ndarray)
               else row.reindex([0], fill_value=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            example = getattr(local, method)(row)
        trailing, dtype = example.shape[1:], example.dtype
        model = dask.delayed(local)     # in the graph once, not once per partition
        predict = dask.delayed(_predict_partition, pure=True)
        blocks = [da.from_delayed(predict(model, method, trailing, dtype, part),
                                  shape=(rows[i] if rows is not None else np.nan,) + trailing,
                                  dtype=dtype)
                  for i, part in enumerate(parts)]
        return da.concatenate(blocks)

    def predict(self, X: DaskCollection) -> da.Array:
        """Predict each partition of X where it lives, lazily.

        Parameters
        ----------
        X : dask array of shape (n_samples, n_features), or dask DataFrame
            The rows, partitioned by rows.

        Returns
        -------
        dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
            The predictions of the fitted local model (to_local()), partition
            by partition: the classes, or the regression's values.
        """
        return self._map_partitions("predict", X)

    def score(self, X: DaskCollection, y: DaskCollection,
              sample_weight: Optional[DaskCollection] = None) -> float:
        """Score the fitted model on (X, y): accuracy, or R^2, as a number.

        As dask-ml's ParallelPostFit.score: each partition is scored where it
        lives, with the fitted local model; only the parts of the score come
        back. A number, not a lazy array: scikit-learn's model selection
        (GridSearchCV, cross_val_score) needs one.

        Parameters
        ----------
        X : dask array of shape (n_samples, n_features), or dask DataFrame
            The rows, partitioned by rows.
        y : dask array or dask Series, of shape (n_samples,) or (n_samples, n_outputs)
            The true classes or values, partitioned as X is.
        sample_weight : dask array or dask Series of shape (n_samples,) or None, \
default=None
            The rows' weights, partitioned as X is; None: all 1.

        Returns
        -------
        float
            The classifier's accuracy, or the regressor's R^2 averaged over
            the outputs (scikit-learn's r2_score).

        Raises
        ------
        ValueError
            If the collections are partitioned differently, or the
            predictions are not finite.
        """
        check_is_fitted(self)
        client = _resolve_client(self.client)
        partitions = {"X": _partitions("X", X, (2,)), "y": _partitions("y", y, (1, 2))}
        if sample_weight is not None:
            partitions["sample_weight"] = _partitions("sample_weight", sample_weight, (1,))
        _check_alike(partitions)
        _check_numeric(X)
        validate_data(self, _empty_like(X), reset=False, skip_check_array=True)
        model = dask.delayed(self.to_local())
        weights = (partitions["sample_weight"][0] if sample_weight is not None
                   else [None] * len(partitions["X"][0]))
        score = dask.delayed(_score_partition, pure=True)
        parts = [score(model, x_part, y_part, w_part) for x_part, y_part, w_part
                 in zip(partitions["X"][0], partitions["y"][0], weights)]
        return float(client.compute(dask.delayed(_combine_scores)(parts, "raise")).result())

    # ------------------------------------------------------------ the local estimator

    def to_local(self) -> Union[MLPClassifier, MLPRegressor]:
        """Give the fitted local estimator, which saves, loads and predicts in memory.

        Returns
        -------
        nnbp.MLPClassifier or nnbp.MLPRegressor
            A copy of the fitted state, without sync_every and client.
        """
        check_is_fitted(self)
        local = self._local_class.__new__(self._local_class)
        state = {name: value for name, value in self.__dict__.items()
                 if name not in _DASK_PARAMETER_CONSTRAINTS}
        local.__dict__.update(copy.deepcopy(state))
        if local.__dict__.get("_trainer") is not None:
            # _DaskTrainer holds nothing StochasticTrainer does not: only its epochs differ.
            local._trainer.__class__ = StochasticTrainer
        return local

    def save(self, path: Union[str, os.PathLike[str]],
             metadata: Optional[dict[str, Any]] = None) -> None:
        """Save to_local(): nnbp.load reads back the local estimator.

        Parameters
        ----------
        path : str or os.PathLike
            The file, as nnbp.MLPClassifier.save writes it.
        metadata : dict or None, default=None
            JSON data stored with the model, as nnbp.MLPClassifier.save takes it.
        """
        self.to_local().save(path, metadata)

    def __getstate__(self) -> dict[str, Any]:
        # A client cannot be pickled: the unpickled estimator uses the default client.
        return {**super().__getstate__(), "client": None}  # type: ignore[misc]

    def __sklearn_clone__(self):
        # The clone shares the client, which cannot be deep-copied.
        params = self.get_params(deep=False)
        client = params.pop("client")
        return type(self)(**{name: clone(value, safe=False) for name, value in params.items()},
                          client=client)


# The predict methods return lazy dask arrays where the local estimators' return
# ndarrays, by design (as dask-ml's wrappers do): mypy sees an incompatible override.
class DaskMLPClassifier(_DaskMLP, MLPClassifier):  # type: ignore[misc]
    """Multi-layer perceptron classifier trained on a Dask cluster, where the data live.

    nnbp.MLPClassifier, data-parallel: fit takes dask arrays, or dask
    DataFrames and Series, partitioned by rows alike, and trains where their
    partitions live (see Notes). predict, predict_proba and
    predict_log_proba return lazy dask arrays, partition by partition; score
    returns a number. to_local() gives the fitted nnbp.MLPClassifier, which
    saves, loads and predicts in memory.

    Needs Dask's distributed scheduler (``pip install 'nnbp[dask]'``).

    The parameters are nnbp.MLPClassifier's, with the same meaning, then
    sync_every and client.

    Parameters
    ----------
{parameters}

    sync_every : int, default=64
        For sgd and adam: the local steps each shard takes between two averagings
        of the parameters and of the optimizer's state (local SGD). 1
        averages every step: with sgd, then, each round is one step of
        minibatch sgd on the global batch, at the cost of a round trip
        through the scheduler per step.

    client : distributed.Client or None, default=None
        The cluster's client; None: the current default client, when fit,
        score or ``client_`` runs.

    Attributes
    ----------
{attributes}

    client_ : distributed.Client
        The client fit uses: client, or the current default client.

    See Also
    --------
    DaskMLPRegressor : The regressor, on a Dask cluster.
    nnbp.MLPClassifier : The same estimator, in memory.
    dask_ml.wrappers.Incremental : Training nnbp.MLPClassifier block by block
        (partial_fit), on Dask.

    Notes
    -----
    How the fit runs (see nnbp.dask, and the user guide's Dask page):

    - Each partition is checked, and its targets encoded, by a task on the
      worker that holds it, and stays there: only parameters, gradients and
      the optimizer's state cross the network. The partitions of each worker
      make a shard.
    - lbfgs, and sgd or adam with a batch of all the rows: each iteration
      sums the shards' losses and gradients on the workers, and the client
      takes the step. The result is the local fit of the concatenated rows,
      up to the order of summation.
    - sgd and adam: local SGD. Each shard takes up to sync_every steps on
      its own rows, with a batch of its share of batch_size, from the same
      parameters and optimizer state; the client then averages the
      parameters and the state, weighted by the rows each shard used. The
      result depends on the shards, so on where Dask put the partitions.
    - dropout drops in local SGD: each shard's round draws masks of its own,
      from the fit's random_state, the shard and the round, so that a fit is
      reproducible. lbfgs, and sgd or adam with a batch of all the rows,
      refuse it: their gradient is summed across the shards outside the
      compiled epoch that draws the masks.
    - early_stopping holds out validation_fraction of each partition
      (stratified where the partition allows it).
    - A worker lost in the middle of a fit is survived: Dask recomputes its
      partitions from their graph. Partitions scattered from the client's
      memory cannot be recomputed: the fit stops with LostDataError.

    Where it differs from the local estimator: X must be dense (a sparse
    partition is refused); there is no partial_fit (wrap the local estimator
    in dask_ml.wrappers.Incremental for that); predict and
    predict_proba return lazy dask arrays; the estimator clones sharing its
    client, and pickles without it.

    Examples
    --------
    >>> import warnings
    >>> import dask.array as da
    >>> from distributed import Client
    >>> from nnbp.dask import DaskMLPClassifier
    >>> from nnbp.datasets import load_digits
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=1,
    ...                 dashboard_address=":0")
    >>> X, y = load_digits()
    >>> X, y = da.from_array(X / 16, chunks=600), da.from_array(y, chunks=600)
    >>> clf = DaskMLPClassifier(hidden_layer_sizes=(32,), max_iter=30, random_state=0,
    ...                         client=client)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")   # 30 epochs do not converge
    ...     clf = clf.fit(X, y)
    >>> clf.predict_proba(X).shape, clf.predict(X[:5]).compute().shape
    ((1797, 10), (5,))
    >>> clf.score(X, y) > 0.9
    True
    >>> type(clf.to_local()).__name__
    'MLPClassifier'
    >>> client.close()
    """

    _local_class = MLPClassifier
    _parameter_constraints = {**MLPClassifier._parameter_constraints,
                              **_DASK_PARAMETER_CONSTRAINTS}
    __init__ = _with_dask_parameters(MLPClassifier)

    def predict_proba(self, X: DaskCollection) -> da.Array:  # type: ignore[override]
        """Give the probability of each class, for each partition of X where it lives, lazily.

        Parameters
        ----------
        X : dask array of shape (n_samples, n_features), or dask DataFrame
            The rows, partitioned by rows.

        Returns
        -------
        dask.array.Array of shape (n_samples, n_classes)
            The probabilities of the fitted local model (to_local()), in the
            order of ``classes_``.
        """
        return self._map_partitions("predict_proba", X)

    def predict_log_proba(self, X: DaskCollection) -> da.Array:  # type: ignore[override]
        """Give the logarithm of predict_proba(X), lazily.

        Parameters
        ----------
        X : dask array of shape (n_samples, n_features), or dask DataFrame
            The rows, partitioned by rows.

        Returns
        -------
        dask.array.Array of shape (n_samples, n_classes)
            The logarithm of the probabilities, partition by partition.
        """
        return self._map_partitions("predict_log_proba", X)


class DaskMLPRegressor(_DaskMLP, MLPRegressor):  # type: ignore[misc]
    """Multi-layer perceptron regressor trained on a Dask cluster, where the data live.

    nnbp.MLPRegressor, data-parallel: fit takes dask arrays, or dask
    DataFrames and Series, partitioned by rows alike, and trains where their
    partitions live (see Notes). predict returns a lazy dask array,
    partition by partition; score returns a number. to_local() gives the
    fitted nnbp.MLPRegressor, which saves, loads and predicts in memory.

    Needs Dask's distributed scheduler (``pip install 'nnbp[dask]'``).

    The parameters are nnbp.MLPRegressor's, with the same meaning, then
    sync_every and client.

    Parameters
    ----------
{parameters}

    sync_every : int, default=64
        For sgd and adam: the local steps each shard takes between two averagings
        of the parameters and of the optimizer's state (local SGD).

    client : distributed.Client or None, default=None
        The cluster's client; None: the current default client, when fit,
        score or ``client_`` runs.

    Attributes
    ----------
{attributes}

    client_ : distributed.Client
        The client fit uses: client, or the current default client.

    See Also
    --------
    DaskMLPClassifier : The classifier, on a Dask cluster.
    nnbp.MLPRegressor : The same estimator, in memory.

    Notes
    -----
    How the fit runs (see nnbp.dask, and the user guide's Dask page):

    - Each partition is checked, and its targets encoded, by a task on the
      worker that holds it, and stays there: only parameters, gradients and
      the optimizer's state cross the network. The partitions of each worker
      make a shard.
    - lbfgs, and sgd or adam with a batch of all the rows: each iteration
      sums the shards' losses and gradients on the workers, and the client
      takes the step. The result is the local fit of the concatenated rows,
      up to the order of summation.
    - sgd and adam: local SGD. Each shard takes up to sync_every steps on
      its own rows, with a batch of its share of batch_size, from the same
      parameters and optimizer state; the client then averages the
      parameters and the state, weighted by the rows each shard used. The
      result depends on the shards, so on where Dask put the partitions.
    - dropout drops in local SGD: each shard's round draws masks of its own,
      from the fit's random_state, the shard and the round, so that a fit is
      reproducible. lbfgs, and sgd or adam with a batch of all the rows,
      refuse it: their gradient is summed across the shards outside the
      compiled epoch that draws the masks.
    - early_stopping holds out validation_fraction of each partition
      (stratified where the partition allows it).
    - The robust losses (loss='huber', 'absolute_error', 'quantile') train
      in every solver as the squared error does: each shard's loss and
      gradient, and its local steps, are those of the loss object.
    - A worker lost in the middle of a fit is survived: Dask recomputes its
      partitions from their graph. Partitions scattered from the client's
      memory cannot be recomputed: the fit stops with LostDataError.

    Where it differs from the local estimator: X must be dense (a sparse
    partition is refused); there is no partial_fit (wrap the local estimator
    in dask_ml.wrappers.Incremental for that); predict and
    predict_proba return lazy dask arrays; the estimator clones sharing its
    client, and pickles without it.

    Examples
    --------
    >>> import warnings
    >>> import dask.array as da
    >>> from distributed import Client
    >>> from nnbp.dask import DaskMLPRegressor
    >>> from nnbp.datasets import load_digits
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=1,
    ...                 dashboard_address=":0")
    >>> X, _ = load_digits()
    >>> X = da.from_array(X / 16, chunks=600)
    >>> y = X[:, 10:14].sum(axis=1)
    >>> reg = DaskMLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01,
    ...                        max_iter=50, random_state=0, client=client)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")   # 50 epochs do not converge
    ...     reg = reg.fit(X, y)
    >>> reg.predict(X).shape
    (1797,)
    >>> reg.score(X, y) > 0.9
    True
    >>> client.close()
    """

    _local_class = MLPRegressor
    _parameter_constraints = {**MLPRegressor._parameter_constraints,
                              **_DASK_PARAMETER_CONSTRAINTS}
    __init__ = _with_dask_parameters(MLPRegressor)


# The local estimators' parameters and attributes, in the Dask ones' docstrings.
DaskMLPClassifier.__doc__ = _with_local_sections(MLPClassifier, DaskMLPClassifier.__doc__ or "")
DaskMLPRegressor.__doc__ = _with_local_sections(MLPRegressor, DaskMLPRegressor.__doc__ or "")


@sizeof.register(SGD)
@sizeof.register(Adam)
def _sizeof_optimizer(optimizer):
    # Dask weighs what it holds and moves by sizeof: an optimizer weighs its state vectors.
    return 64 + sum(state.nbytes for state in optimizer.state()
                    if state is not None)
