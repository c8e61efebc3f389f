"""scikit-learn estimators: nnbp.MLPClassifier and nnbp.MLPRegressor.

Drop-in for scikit-learn's classes of the same names: the same parameters,
defaults, fitted attributes and methods, and the same arithmetic: from the
same initial parameters, with shuffle=False, they follow scikit-learn's sgd,
adam and lbfgs to float64 round-off. The default init ("glorot") draws
scikit-learn's initial parameters for the same random_state, and shuffling
draws its orders, so even shuffled runs follow it. The network, its loss,
gradient and updates are nnbp's compiled ones (nnbp.Network).

nnbp's own parameters, after scikit-learn's: dtype (float32 or float64;
None follows X as scikit-learn does), the activations leaky_relu and
softplus, and init.

X may be sparse, as in scikit-learn: a scipy sparse matrix or array of any
format, converted to CSR once (CSC, COO, ...), on which the first layer's
products run without densifying it.

Needs scikit-learn (pip install 'nnbp[sklearn]'); the rest of nnbp does not.

For nnbp's own modules (nnbp.dask), not the public API: class_targets and
regression_targets, y as the estimators' networks take it.
"""
from __future__ import annotations

import functools
import math
import os
import threading
import warnings
import weakref
from numbers import Integral, Real
from typing import Any, Callable, NamedTuple, Optional, Sequence, TypeVar, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "nnbp.MLPClassifier and nnbp.MLPRegressor need scikit-learn: "
        "pip install 'nnbp[sklearn]'"
    ) from error
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.model_selection._split import _validate_shuffle_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, InvalidParameterError, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from nnbp import _core, _estimator_state, io
from nnbp._estimator_state import OUT_ACTIVATION_NAMES
from nnbp._validation import MAX_DIMENSION, check_dropout
from nnbp.losses import AbsoluteError, HuberLoss, Loss, PinballLoss
from nnbp.network import ACTIVATIONS, INITS, Network
from nnbp.optim import SGD, Adam, minimize_lbfgs
from nnbp.training import (DIVERGED, DIVERGENCE_ADVICE, INTERRUPTED, MAX_EPOCHS, DivergenceError,
                           StochasticTrainer)

STOCHASTIC_SOLVERS = ("sgd", "adam")
# The sparse format the network takes; validate_data converts the others to it.
SPARSE_FORMAT = "csr"
# scikit-learn's message for a fit that diverged, which its users match on.
NON_FINITE_PARAMETERS = ("Solver produced non-finite parameter weights. The input data may "
                         "contain large values and need to be preprocessed.")
# The regressor's loss parameter that gives each of its network's outputs.
REGRESSION_LOSSES = {"squared": "squared_error", "poisson": "poisson"}
# The regressor's robust losses (nnbp.losses), on the identity output of squared_error.
ROBUST_LOSSES = ("huber", "absolute_error", "quantile")

# The types of the public signatures. A fit returns the estimator fitted, of
# its own class (MLPClassifier, MLPRegressor, or a subclass such as nnbp.dask's).
# class_targets and regression_targets are nnbp.dask's, not the public API's.
__all__ = ["MLPClassifier", "MLPRegressor", "NonFiniteOutputError"]

_MLP = TypeVar("_MLP", bound="_BaseMLP")
# callback(epoch, losses, network) of fit and partial_fit: True stops training.
_FitCallback = Callable[[int, dict[str, Any], Network], Optional[bool]]
_RandomState = Union[int, np.random.RandomState, None]


# The estimators being fitted now, by any thread. A second fit of one of
# them is refused: two fits would interleave their writes to its network,
# optimizer and fitted attributes.
_FITTING: weakref.WeakSet[_BaseMLP] = weakref.WeakSet()
_FITTING_LOCK = threading.Lock()


def _one_fit_at_a_time(method):
    """Refuse a fit or partial_fit of an estimator that is being fitted already."""
    @functools.wraps(method)
    def fit_alone(self, *args, **kwargs):
        with _FITTING_LOCK:
            if self in _FITTING:
                raise RuntimeError(
                    f"this {type(self).__name__} is being fitted already (in another thread, "
                    "or by a callback of its own fit): fit a copy of it "
                    "(sklearn.base.clone) instead"
                )
            _FITTING.add(self)
        try:
            return method(self, *args, **kwargs)
        finally:
            with _FITTING_LOCK:
                _FITTING.discard(self)
    return fit_alone


class _FittedState(NamedTuple):
    """What predict, predict_proba and score read of a fitted estimator, taken together.

    Taken whole each time ``network_`` is set, and replaced in one assignment: a
    method that reads it once answers from one fit, even while another
    thread refits the estimator (on data of another width, or other classes).
    """

    network: Network
    # The classifier's label binarizer (its classes_); None for the regressor.
    label_binarizer: Optional[LabelBinarizer]
    # Whether the fit saw feature names (then X goes through validate_data's checks).
    has_feature_names: bool


def _store_parameters(estimator, arguments):
    """Each argument of __init__ as an attribute of the same name, unchanged (scikit-learn's rule)."""
    for name, value in arguments.items():
        if name != "self":
            setattr(estimator, name, value)


def _check_hidden_layer_sizes(estimator: "_BaseMLP") -> tuple:
    """The hidden_layer_sizes parameter as a tuple of ints (one int is one layer).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor

    Returns
    -------
    tuple of int
        The sizes, each between 1 and 2**31 - 1.

    Raises
    ------
    InvalidParameterError
        (a ValueError and a TypeError) naming hidden_layer_sizes, for a size
        that is not an int, or is out of range.
    """
    value = estimator.hidden_layer_sizes
    sizes = list(value) if hasattr(value, "__iter__") else [value]
    for size in sizes:
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, Integral):
            raise InvalidParameterError(
                f"The 'hidden_layer_sizes' parameter of {type(estimator).__name__} must hold "
                f"ints, got {size!r} in {value!r}"
            )
    if any(size <= 0 for size in sizes):
        raise InvalidParameterError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    if any(size > MAX_DIMENSION for size in sizes):
        raise InvalidParameterError(
            f"hidden_layer_sizes must be at most {MAX_DIMENSION}, got {sizes}."
        )
    return tuple(int(size) for size in sizes)


def _check_network_size(layer_units: list) -> None:
    """Refuse, naming hidden_layer_sizes, a network of more parameters than nnbp indexes.

    Parameters
    ----------
    layer_units : list of int
        The inputs, hidden_layer_sizes' layers and the outputs.

    Raises
    ------
    ValueError
        If its weights and biases number more than 2**31 - 1.
    """
    n_params = sum((fan_in + 1) * fan_out
                   for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]))
    if n_params > MAX_DIMENSION:
        raise ValueError(
            f"hidden_layer_sizes={tuple(layer_units[1:-1])} make, with {layer_units[0]} "
            f"features and {layer_units[-1]} outputs, a network of {n_params} parameters: "
            f"at most {MAX_DIMENSION}"
        )


def _write_blocks(name, views, values):
    """Copy values into views of a network's blocks, once every shape is checked."""
    shapes = [view.shape for view in views]
    given = [np.shape(value) for value in values]
    if given != shapes:
        raise ValueError(f"{name} must have the shapes {shapes}, got {given}")
    for view, value in zip(views, values):
        view[...] = value


class _BlockViews(list):
    """``coefs_`` or ``intercepts_`` of a fitted estimator: views into its network's parameters.

    Assigning one (estimator.coefs_[l] = W) writes into the network, as
    replacing the array does in scikit-learn.
    """

    def __init__(self, name, views):
        super().__init__(views)
        self.name = name

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            raise TypeError(f"assign {self.name} whole, or one at a time ({self.name}[l] = ...)")
        view = list.__getitem__(self, index)
        _write_blocks(f"{self.name}[{index}]", [view], [value])


def class_targets(label_binarizer: LabelBinarizer, y: ArrayLike) -> np.ndarray:
    """A classifier's y as its network takes it (for nnbp's own modules: nnbp.dask).

    Parameters
    ----------
    label_binarizer : sklearn.preprocessing.LabelBinarizer
        The classifier's, fitted.
    y : array-like of shape (n_samples,) or (n_samples, n_classes)
        Labels among its classes, or a multilabel indicator matrix.

    Returns
    -------
    ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Class indices, int64 (multiclass: softmax), or 0/1 columns, float64
        (binary, multilabel).
    """
    if label_binarizer.y_type_ == "multiclass":
        return np.searchsorted(label_binarizer.classes_, y).astype(np.int64)
    return label_binarizer.transform(y).astype(np.float64)


def regression_targets(y: np.ndarray) -> np.ndarray:
    """A regressor's y as its network takes it (for nnbp's own modules: nnbp.dask).

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        The targets, validated.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
        The targets as float64, one column per output.
    """
    return np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share; not for direct use."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", "cosine"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [None, StrOptions({"float32", "float64"}),
                  Options(type, {np.float32, np.float64}),
                  Options(np.dtype, {np.dtype(np.float32), np.dtype(np.float64)})],
        "init": [StrOptions(set(INITS))],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [None, Interval(Real, 0, None, closed="neither")],
        "warmup_fraction": [Interval(Real, 0, 1, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
    }

    # ------------------------------------------------------------ parameters as views

    def __sklearn_is_fitted__(self):
        return "network_" in self.__dict__

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "network_":
            # A fit, a load or a copy sets network_ once the rest of the fitted
            # state is in place: the state predict reads is taken then.
            super().__setattr__("_fitted_state", self._take_fitted_state())

    def _take_fitted_state(self):
        return _FittedState(self.__dict__["network_"], self.__dict__.get("_label_binarizer"),
                            "feature_names_in_" in self.__dict__)

    def _fitted(self):
        """The fitted state predict and the other methods read: one fit's, whole.

        Raises NotFittedError before the first fit.
        """
        check_is_fitted(self)
        state = self.__dict__.get("_fitted_state")
        if state is None:   # unpickled from a version without it
            state = self._fitted_state = self._take_fitted_state()
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrices: views of the network's weights, one per layer.

        Element ``l`` is ``W(l+1).T``, of shape (fan_in, fan_out), as in
        scikit-learn. Write into them, assign the list, or assign one
        (``coefs_[l] = W``): each writes into the network. Before the first
        fit, assigning ``coefs_`` and ``intercepts_`` gives the initial parameters
        (scikit-learn's way): a partial_fit, or a fit with warm_start=True,
        starts from them.

        Raises
        ------
        AttributeError
            Before a fit, unless ``coefs_`` was assigned.
        """
        return self._blocks("coefs_")

    @coefs_.setter
    def coefs_(self, values: Sequence[ArrayLike]) -> None:
        self._assign_blocks("coefs_", values)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vectors: views of the network's biases, as ``coefs_`` are of its weights.

        Element ``l`` is ``b(l+1)``, of shape (fan_out,). Written and assigned
        as ``coefs_`` are.

        Raises
        ------
        AttributeError
            Before a fit, unless ``intercepts_`` was assigned.
        """
        return self._blocks("intercepts_")

    @intercepts_.setter
    def intercepts_(self, values: Sequence[ArrayLike]) -> None:
        self._assign_blocks("intercepts_", values)

    def _blocks(self, name):
        if "network_" in self.__dict__:
            net = self.network_
            views = [W.T for W in net.weights] if name == "coefs_" else list(net.biases)
            return _BlockViews(name, views)
        assigned = self.__dict__.get("_assigned_before_fit", {})
        if name in assigned:
            # The very list: coefs_[l] = W fills it in, as in scikit-learn.
            return assigned[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r} before it is "
                             "fitted (or assigned)")

    def _assign_blocks(self, name, values):
        if "network_" in self.__dict__:
            _write_blocks(name, self._blocks(name), list(values))
        else:
            self.__dict__.setdefault("_assigned_before_fit", {})[name] = list(values)

    def _write_assigned_parameters(self, net):
        """Copy ``coefs_`` and ``intercepts_`` assigned before the first fit into net, checked."""
        assigned = self.__dict__["_assigned_before_fit"]
        missing = sorted({"coefs_", "intercepts_"} - set(assigned))
        if missing:
            raise ValueError(f"{missing[0]} must be assigned too: the initial parameters are "
                             "coefs_ and intercepts_ together")
        _write_blocks("coefs_", [W.T for W in net.weights], assigned["coefs_"])
        _write_blocks("intercepts_", list(net.biases), assigned["intercepts_"])
        if not np.isfinite(net.params).all():
            raise ValueError("the coefs_ and intercepts_ assigned before fitting hold NaN or "
                             "infinity")

    @property
    def _optimizer(self):
        """The optimizer of sgd or adam (nnbp.SGD or nnbp.Adam) that the next epoch uses.

        scikit-learn's name: its learning_rate is the current rate, after the
        schedule's changes. Each fit starts a new one, as scikit-learn's does;
        partial_fit goes on with it.
        """
        trainer = self.__dict__.get("_trainer")
        if trainer is None:
            raise AttributeError(f"{type(self).__name__} has no optimizer before a fit with "
                                 "solver 'sgd' or 'adam'")
        return trainer.optimizer

    # ------------------------------------------------------------ saving

    def save(self, path: Union[str, os.PathLike[str]],
             metadata: Optional[dict[str, Any]] = None) -> None:
        """Write the fitted estimator to a model file, without pickle.

        ``nnbp.load(path)`` reads it back. The file holds the network, the
        parameters (``get_params()``: hidden_layer_sizes comes back as a tuple
        and dtype as its name) and the fitted state that predict,
        predict_proba and score use. The optimizer's state (momentum, Adam's
        moments) is not saved: partial_fit or a warm_start fit of the loaded
        estimator continue from its parameters with a fresh optimizer.

        Parameters
        ----------
        path : str or os.PathLike
            The file, written exactly as given (no ".npz" is appended). An
            existing file is replaced atomically: a save that fails leaves it
            as it was.
        metadata : dict, default=None
            JSON data about the model (str, int, float, bool, None, and lists
            and dicts of them, with str keys). None keeps
            ``network_.metadata``. save adds ``nnbp_version``, ``saved`` and
            ``format_version``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        TypeError
            If a parameter is not JSON data: random_state must be an int or
            None. Nothing is written then.
        ValueError
            If a parameter that fixes the network (hidden_layer_sizes, dtype,
            loss) was changed after the fit, or if the fitted state would not
            load back as it is (NaN weights, class labels that NumPy's strings
            cannot hold). Nothing is written then.

        See Also
        --------
        nnbp.load : Read a model file back.
        nnbp.io.save : The function this method calls, for any nnbp model.

        Examples
        --------
        >>> import os, tempfile
        >>> import nnbp
        >>> from nnbp.datasets import load_digits
        >>> X, y = load_digits()
        >>> clf = nnbp.MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs",
        ...                          random_state=0).fit(X / 16, y)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "digits.npz")
        ...     clf.save(path)
        ...     loaded = nnbp.load(path)
        >>> bool((loaded.predict(X / 16) == clf.predict(X / 16)).all())
        True
        """
        io.save(self, path, metadata)

    def __nnbp_saved_state__(self):
        """What nnbp.io.save writes of the estimator (nnbp._estimator_state.saved_state)."""
        check_is_fitted(self)
        return _estimator_state.saved_state(self, type(self)._kind, self._saved_extra(),
                                            self._saved_arrays())

    # What a subclass adds to the fitted state: the names, their values, arrays.
    _SAVED_EXTRA: tuple[str, ...] = ()

    def _saved_extra(self):
        return {}

    def _saved_arrays(self):
        return {}

    @classmethod
    def __nnbp_from_saved_state__(cls, network, state, arrays):
        """The fitted estimator of a model file's network and estimator state (nnbp.load).

        Raises a ValueError or TypeError naming what is wrong or inconsistent.
        """
        params, fitted = _estimator_state.saved_parameters(cls.__name__, state,
                                                           cls._get_param_names())
        estimator = cls(**params)
        estimator._validate_params()   # InvalidParameterError is a ValueError
        attributes = _estimator_state.fitted_attributes(fitted, network, cls._SAVED_EXTRA)
        for attribute, value in attributes.items():
            setattr(estimator, attribute, value)
        estimator._restore_extra(fitted, arrays)
        estimator._trainer = None
        estimator.network_ = network
        # A file must not contradict itself: set_params after fit, then save,
        # would pair the new hidden_layer_sizes (dtype, loss) with the old
        # network. save reads its file back through here, so it refuses too.
        mismatch = estimator._mismatched_network_parameter(_check_hidden_layer_sizes(estimator))
        if mismatch:
            name, asked, fitted = mismatch
            raise ValueError(f"the parameter {name} is {asked!r}, but the network is of "
                             f"{name} {fitted!r}: it was set after the fit")
        return estimator

    # ------------------------------------------------------------ fitting

    def _fit(self, X, y, sample_weight=None, incremental=False, callback=None):
        if callback is not None and not callable(callback):
            raise TypeError(
                f"callback must be callable as callback(epoch, losses, network), got {callback!r}"
            )
        hidden_layer_sizes = _check_hidden_layer_sizes(self)
        self._training_loss()   # refused here, before any work, where it cannot be trained
        self._dropout_rates(hidden_layer_sizes)     # so is dropout
        fresh = not self.warm_start and not incremental
        first_pass = "network_" not in self.__dict__ or fresh
        if not first_pass:
            self._check_network_matches(hidden_layer_sizes, incremental)
        X, targets, sample_weight, n_outputs = self._fit_data(X, y, sample_weight, incremental,
                                                              first_pass)
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            _check_network_size([X.shape[1], *hidden_layer_sizes, n_outputs])
            self._initialize([X.shape[1], *hidden_layer_sizes, n_outputs], X.dtype,
                             from_assigned=not fresh and "_assigned_before_fit" in self.__dict__)
        elif n_outputs != self.network_.layer_sizes[-1]:
            raise ValueError(
                f"y has {n_outputs} outputs, but the network was fitted with "
                f"{self.network_.layer_sizes[-1]}: fit again with warm_start=False"
            )
        net = self.network_
        net.alpha, net.activation = float(self.alpha), self.activation
        try:
            if self.solver in STOCHASTIC_SOLVERS:
                self._fit_stochastic(X, targets, sample_weight, incremental, callback)
            else:
                self._fit_lbfgs(X, targets, sample_weight, callback)
        except DivergenceError as error:
            # scikit-learn's words first, which its users match on; then nnbp's.
            detail = str(error)
            raise DivergenceError(f"{NON_FINITE_PARAMETERS} {detail[:1].upper()}{detail[1:]}"
                                  ) from None
        return self

    def _check_network_matches(self, hidden_layer_sizes, incremental):
        """Refuse to go on training a network that the parameters no longer describe.

        A warm start or partial_fit after set_params changed hidden_layer_sizes,
        dtype or (regressor) loss would train, and save, the old network with
        the new parameters. activation and alpha are the network's to follow.
        """
        mismatch = self._mismatched_network_parameter(hidden_layer_sizes)
        if mismatch:
            name, asked, fitted = mismatch
            how = "partial_fit" if incremental else "warm_start=True"
            raise ValueError(
                f"{name}={asked!r}, but the network was fitted with {name}={fitted!r}: "
                f"{how} goes on training the fitted network. Fit with "
                f"warm_start=False for a new one, or set {name} back."
            )

    def _mismatched_network_parameter(self, hidden_layer_sizes):
        """(name, the parameter's value, the network's) of the first parameter fixing the
        network that no longer describes ``network_``, or None."""
        for name, (asked, fitted) in self._network_parameters(hidden_layer_sizes).items():
            if asked != fitted:
                return name, asked, fitted
        return None

    def _network_parameters(self, hidden_layer_sizes):
        """{name: (the parameter's value, the fitted network's)} of the parameters fixing it."""
        net = self.network_
        dtype = net.dtype.name if self.dtype is None else np.dtype(self.dtype).name
        return {"hidden_layer_sizes": (hidden_layer_sizes, net.layer_sizes[1:-1]),
                "dtype": (dtype, net.dtype.name)}

    def _fit_data(self, X, y, sample_weight, incremental, first_pass):
        """(X, targets, sample_weight, n_outputs): the data fit trains on, checked."""
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        targets = self._targets(y)
        n_outputs = targets.shape[1] if targets.ndim == 2 else len(self.classes_)
        return X, targets, sample_weight, n_outputs

    def _initialize(self, layer_units, dtype, from_assigned=False):
        """A new network: drawn, or (from_assigned) the ``coefs_`` and ``intercepts_`` assigned."""
        output = self._output()
        dtype = dtype if self.dtype is None else np.dtype(self.dtype)
        if from_assigned:
            seed = 0     # drawn over by the parameters assigned
        elif self.init == "glorot":
            # The network draws scikit-learn's initial parameters from its RandomState.
            seed = self._random_state
        else:
            seed = self._random_state.randint(np.iinfo(np.int32).max)
        net = Network(layer_units, activation=self.activation, output=output, dtype=dtype,
                      alpha=self.alpha, init=self.init, seed=seed)
        if from_assigned:
            self._write_assigned_parameters(net)
        self.network_ = net
        self.__dict__.pop("_assigned_before_fit", None)
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = layer_units[-1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = OUT_ACTIVATION_NAMES[output]
        self._trainer = None
        for attribute in ("loss_curve_", "best_loss_", "validation_scores_",
                          "best_validation_score_", "loss_", "_no_improvement_count"):
            self.__dict__.pop(attribute, None)

    _trainer_class = StochasticTrainer

    def _make_optimizer(self, batches_per_epoch=None):
        # scikit-learn's optimizers but for the options beyond its own, which stay
        # off (and the path bitwise scikit-learn's) at their defaults. The cosine
        # schedule needs the updates of an epoch (ceil(n / batch_size)).
        if self.learning_rate == "cosine" and batches_per_epoch is None:
            raise ValueError("the cosine schedule needs the number of batches per epoch")
        extras = {}
        if self.weight_decay:
            extras["weight_decay"] = self.weight_decay
        if self.max_grad_norm is not None:
            extras["max_grad_norm"] = self.max_grad_norm
        if self.learning_rate == "cosine":
            # The schedule spans max_iter epochs (sgd and adam alike).
            total = self.max_iter * batches_per_epoch
            extras.update(schedule="cosine", total_steps=total,
                          warmup_steps=int(self.warmup_fraction * total))
        if self.solver == "sgd":
            if self.learning_rate != "cosine":
                extras.update(schedule=self.learning_rate, power_t=self.power_t)
            return SGD(self.learning_rate_init, self.momentum, self.nesterovs_momentum,
                       **extras)
        return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon, **extras)

    def _fit_stochastic(self, X, targets, sample_weight, incremental, callback):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        net = self.network_
        validation_score = None
        if self.early_stopping:
            X, targets, sample_weight, validation_score = self._split_validation(
                X, targets, sample_weight)
        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        trainer = self._trainer
        loss = self._training_loss()
        dropout = self._dropout_rates(net.layer_sizes[1:-1])
        dropout = 0.0 if dropout is None else dropout
        if trainer is None:
            trainer = self._trainer = self._trainer_class(
                net, self._make_optimizer(math.ceil(n_samples / batch_size)),
                batch_size=batch_size, shuffle=self.shuffle,
                random_state=self._random_state, tol=self.tol,
                n_iter_no_change=self.n_iter_no_change, verbose=self.verbose,
                loss=loss, dropout=dropout)
        elif not incremental:
            trainer.optimizer = self._make_optimizer(math.ceil(n_samples / batch_size))
        # The loss and dropout may have changed since the trainer was made (warm_start).
        trainer.loss_object, trainer.dropout = loss, dropout
        trainer.batch_size, trainer.shuffle = batch_size, self.shuffle
        trainer.random_state, trainer.verbose = self._random_state, self.verbose
        trainer.tol, trainer.n_iter_no_change = self.tol, self.n_iter_no_change
        on_epoch = None
        if callback is not None:
            def on_epoch(trainer):
                # The epoch's number is its place in loss_curve_, 1 first.
                score = trainer.validation_scores[-1] if self.early_stopping else None
                return callback(len(trainer.loss_curve),
                                {"loss": trainer.loss, "validation_score": score}, net)
        try:
            # scikit-learn's validation has checked X's values (_validate_X_y).
            ended = trainer.fit(X, targets, sample_weight, max_epochs=self.max_iter,
                                validation_score=validation_score, incremental=incremental,
                                restart_optimizer=not incremental, on_epoch=on_epoch,
                                assume_finite=True)
        finally:
            self._record(trainer)
        if ended == INTERRUPTED:
            kept = ("the best validation score" if self.early_stopping
                    else "the last finished epoch")
            warnings.warn(f"Training interrupted by user after {trainer.n_iter} finished "
                          f"epochs; the network keeps the parameters of {kept}.")
        elif ended == DIVERGED:
            warnings.warn(
                f"Training diverged: {trainer.divergence}. The network keeps the parameters "
                "that scored best on the validation set (early_stopping), scoring "
                f"{trainer.best_validation_score:.6g}. {DIVERGENCE_ADVICE}", ConvergenceWarning)
        elif ended == MAX_EPOCHS and not incremental:
            warnings.warn(
                "Stochastic Optimizer: Maximum iterations (%d) reached and the optimization "
                "hasn't converged yet." % self.max_iter, ConvergenceWarning)

    def _record(self, trainer):
        self.n_iter_, self.t_ = trainer.n_iter, trainer.t
        self.loss_curve_ = trainer.loss_curve
        if trainer.loss is not None:
            self.loss_ = trainer.loss
        self.best_loss_ = trainer.best_loss
        self.validation_scores_ = trainer.validation_scores
        self.best_validation_score_ = trainer.best_validation_score
        # scikit-learn's name: the epochs in a row without improvement, at the end.
        self._no_improvement_count = trainer.no_improvement_count

    def _split_validation(self, X, targets, sample_weight):
        """Training part of (X, targets, weights), and a score of the held-out part."""
        stratify = self._stratify_by(targets)
        train, held_out = train_test_split(
            np.arange(X.shape[0]), random_state=self._random_state,
            test_size=self.validation_fraction, stratify=stratify)
        if held_out.size < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        X_val, y_val = X[held_out], self._decode(targets[held_out])
        weight_val = None if sample_weight is None else sample_weight[held_out]
        weight_train = None if sample_weight is None else sample_weight[train]

        def validation_score():
            return self._score(X_val, y_val, weight_val)

        return X[train], targets[train], weight_train, validation_score

    def _fit_lbfgs(self, X, targets, sample_weight, callback):
        self.loss_curve_ = []
        stopped_by_callback = False
        callback_error = None

        def record(iteration, loss):
            nonlocal stopped_by_callback, callback_error
            loss = np.float64(loss)   # numpy's float, as scikit-learn's loss_
            self.loss_curve_.append(loss)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (iteration, loss))
            if callback is None:
                return
            try:
                stopped_by_callback = bool(callback(iteration, {"loss": loss}, self.network_))
            except Exception as error:
                # Raised again once scipy has ended at this iterate, so that
                # the network holds it, as after an epoch of sgd or adam.
                callback_error = error
            if stopped_by_callback or callback_error is not None:
                raise StopIteration   # scipy >= 1.11 ends the minimization there

        result = self._minimize_lbfgs(X, targets, sample_weight, callback=record)
        if result.interrupted:
            warnings.warn(f"Training interrupted by user after {result.nit} finished "
                          "iterations; the network keeps the parameters of the last one.")
        if stopped_by_callback or callback_error is not None or result.interrupted:
            # Not a failure to converge: no ConvergenceWarning.
            self.n_iter_ = min(result.nit, self.max_iter)
        else:
            self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = np.float64(result.fun)
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)
        if callback_error is not None:
            raise callback_error

    def _minimize_lbfgs(self, X, targets, sample_weight, callback):
        return minimize_lbfgs(self.network_, X, targets, sample_weight, max_iter=self.max_iter,
                              max_fun=self.max_fun, tol=self.tol, callback=callback,
                              loss=self._training_loss())

    def _training_loss(self) -> Optional[Loss]:
        """The loss object training takes, None for the output's canonical loss."""
        return None

    def _dropout_rates(self, hidden_layer_sizes):
        """Dropout's rate of each hidden layer, checked; None without dropout. Refused,
        with a clear error, by lbfgs (a deterministic solver: dropout's noise would
        break its line searches)."""
        rates = check_dropout(self.dropout, len(hidden_layer_sizes))
        if rates is None:
            return None
        if self.solver not in STOCHASTIC_SOLVERS:
            raise ValueError(f"dropout={self.dropout!r} trains with the stochastic solvers "
                             f"('sgd', 'adam'), not solver={self.solver!r}, which is "
                             "deterministic: set dropout=0.0, or another solver")
        return rates

    @_one_fit_at_a_time
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self: _MLP, X: ArrayLike, y: ArrayLike, sample_weight: Optional[ArrayLike] = None,
            callback: Optional[_FitCallback] = None) -> _MLP:
        """Fit the model to data matrix X and target(s) y.

        As scikit-learn's fit: a new network each time, unless
        ``warm_start=True``, which goes on training the fitted one. nnbp adds
        the callback.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. A scipy sparse matrix or array of any format is
            converted to CSR once; the first layer's products run on it
            without densifying it. With ``dtype=None``, float32 X trains a
            float32 network and any other X a float64 one.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values: class labels, or a multilabel indicator
            matrix, for MLPClassifier; real numbers for MLPRegressor.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples: the loss is their weighted mean, as in
            scikit-learn. None weighs every sample equally.
        callback : callable, default=None
            ``callback(epoch, losses, network)``, run after each epoch of sgd
            and adam, and after each iteration of lbfgs. ``epoch`` is the
            epoch's (iteration's) place in ``loss_curve_``, 1 for the first;
            ``losses`` is ``{"loss": its training loss, "validation_score":
            the early-stopping score, or None}`` (``{"loss": ...}`` for
            lbfgs); ``network`` is ``network_``. If it returns True, training
            stops there, with no ConvergenceWarning: ``n_iter_`` and ``loss_curve_``
            count the epochs run (with early_stopping, the best parameters
            are restored as at any other end). If it raises, the exception
            propagates and the network keeps the parameters of the last epoch
            (iteration) run.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            If X, y or sample_weight are invalid (shapes, NaN or infinity,
            labels), or a parameter is (sklearn's InvalidParameterError).
        nnbp.DivergenceError
            A ValueError, if the training loss becomes inf or NaN: the
            network keeps its last finite parameters. With early_stopping,
            once a validation score was recorded, training stops instead with
            a ConvergenceWarning and the parameters that scored best.
        RuntimeError
            If the estimator is being fitted already, in another thread or
            by a callback of its own fit.
        TypeError
            If callback is not callable.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         callback=callback)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is "
                "not stochastic."
            )
        return True

    # ------------------------------------------------------------ predicting

    def _forward(self, state, X, check_input=True):
        """The network of state (a _FittedState) on X; X is checked against that network."""
        network = state.network
        if not check_input:
            return network.forward(X)
        if _is_plain_input(X, state):
            # validate_data would change nothing and find nothing wrong: it
            # costs 4 times the network's own one-row forward pass.
            return network.forward_checked(X)
        # validate_data checks against n_features_in_, which a refit in another
        # thread may have changed already: network.forward checks X again
        # against the network it runs. X keeps its dtype here ("numeric").
        X = validate_data(self, X, reset=False, accept_sparse=SPARSE_FORMAT)
        out = network.forward(X)
        # scikit-learn's output has numpy's type of X's values times the
        # weights (float64 from a float32 network on float64 or int32 X):
        # the network computes in its dtype, and the answer takes that type.
        return out.astype(np.result_type(X.dtype, out.dtype), copy=False)

    def _score_with_function(self, X, y, sample_weight, score_function):
        try:
            y_pred = self._predict(self._fitted(), X, check_input=False)
        except NonFiniteOutputError:
            return np.nan
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def _validate_X_y(self, X, y, reset, **options):
        X, y = validate_data(self, X, y, multi_output=True, reset=reset,
                             accept_sparse=SPARSE_FORMAT,
                             dtype=(np.float64, np.float32) if self.dtype is None
                             else np.dtype(self.dtype), **options)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y


class NonFiniteOutputError(ValueError):
    """A classifier's network gave NaN or inf outputs, from which no class can be told.

    MLPClassifier.predict raises it where scikit-learn's would give such a
    row the first class: the network's parameters are not finite (a
    diverged fit, or ``coefs_`` and ``intercepts_`` assigned so), or the row
    overflows its hidden units. The message counts the rows and names the
    first. A ValueError, as scikit-learn's errors about the data are.

    See Also
    --------
    MLPClassifier.predict : The method that raises it.
    nnbp.DivergenceError : Raised by fit when the training loss diverges.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import MLPClassifier
    >>> from nnbp.estimators import NonFiniteOutputError
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    >>> clf = MLPClassifier(hidden_layer_sizes=(3,), solver="lbfgs",
    ...                     random_state=0).fit(X, [0, 1, 1, 0])
    >>> clf.coefs_[0][0, 0] = np.nan
    >>> try:
    ...     clf.predict(X)
    ... except NonFiniteOutputError as error:
    ...     print(str(error).split(" for ")[0])
    the network's outputs are not finite (NaN or inf)
    """


def _check_finite_outputs(outputs):
    """outputs, unless a row of them is not finite: argmax would make a class of NaN.

    A NaN weight (a diverged fit, or one assigned through ``coefs_``) or rows that
    overflow the hidden units make NaN probabilities, and predict would give
    them the first class as if nothing were wrong.
    """
    if _core.all_finite(outputs.reshape(-1)):
        return outputs
    rows = np.flatnonzero(~np.isfinite(outputs).all(axis=1))
    raise NonFiniteOutputError(
        f"the network's outputs are not finite (NaN or inf) for {rows.size} of the "
        f"{outputs.shape[0]} rows (the first: row {rows[0]}), so they have no class: its "
        "parameters (coefs_, intercepts_) are not finite, or these rows overflow it"
    )


def _is_plain_input(X, state):
    """Whether X is finite, C-contiguous, of the network's dtype and width, without names."""
    network = state.network
    return (type(X) is np.ndarray and X.ndim == 2 and X.dtype == network.dtype
            and X.shape[1] == network.layer_sizes[0] and X.shape[0] > 0
            and X.flags.c_contiguous and X.flags.aligned
            and not state.has_feature_names and _core.all_finite(X.reshape(-1)))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's MLPClassifier, compiled.

    This model optimizes the log-loss function using LBFGS or stochastic
    gradient descent, as scikit-learn's MLPClassifier does, with the same
    parameters, defaults, fitted attributes and methods. Its network, loss,
    gradient and updates are nnbp's compiled ones (nnbp.Network): from the
    same initial parameters, it follows scikit-learn's sgd, adam and lbfgs
    to float64 round-off. Binary and multilabel problems have logistic
    outputs with the binary cross-entropy, multiclass ones a softmax with
    the cross-entropy.

    Needs scikit-learn (``pip install 'nnbp[sklearn]'``).

    Parameters
    ----------
    hidden_layer_sizes : int or array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of units in the ith hidden layer; an
        int is one hidden layer. Each is between 1 and 2**31 - 1, and the
        network's weights and biases number at most 2**31 - 1.

    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', 'softplus', \
'gelu', 'silu'}, default='relu'
        Activation function for the hidden layers.

        - 'identity', no-op activation, useful to implement linear
          bottleneck, returns f(x) = x
        - 'logistic', the logistic sigmoid function, returns
          f(x) = 1 / (1 + exp(-x))
        - 'tanh', the hyperbolic tan function, returns f(x) = tanh(x)
        - 'relu', the rectified linear unit function, returns
          f(x) = max(0, x)
        - 'leaky_relu' (nnbp's own), returns f(x) = x for x > 0 and
          0.01 x otherwise
        - 'softplus' (nnbp's own), returns f(x) = log(1 + exp(x))
        - 'gelu' (nnbp's own), the Gaussian error linear unit, returns
          f(x) = x Phi(x) = x (1 + erf(x / sqrt(2))) / 2 (exact, as PyTorch's
          default)
        - 'silu' (nnbp's own), the sigmoid linear unit, returns
          f(x) = x / (1 + exp(-x))

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The solver for weight optimization, as in scikit-learn.

        - 'lbfgs' is an optimizer in the family of quasi-Newton methods
          (scipy.optimize's L-BFGS-B).
        - 'sgd' refers to stochastic gradient descent.
        - 'adam' refers to a stochastic gradient-based optimizer proposed
          by Kingma, Diederik, and Jimmy Ba.

        The default solver 'adam' works well on relatively large datasets
        (thousands of training samples or more) in terms of both training
        time and validation score. For small datasets, 'lbfgs' can converge
        faster and perform better.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, on the weights only (not the
        biases). The term is divided by the sample size when added to the
        loss: alpha / (2 n) times the sum of the squared weights, as in
        scikit-learn.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for the stochastic solvers. If the solver is
        'lbfgs', the estimator does not use minibatches. When set to 'auto',
        ``batch_size=min(200, n_samples)``; a larger int is clipped to
        n_samples, with a warning.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for weight updates, as in scikit-learn.

        - 'constant' is a constant learning rate given by
          'learning_rate_init'.
        - 'invscaling' gradually decreases the learning rate at each time
          step 't' using an inverse scaling exponent of 'power_t':
          effective_learning_rate = learning_rate_init / pow(t, power_t).
        - 'adaptive' keeps the learning rate constant to
          'learning_rate_init' as long as training loss keeps decreasing.
          Each time two consecutive epochs fail to decrease training loss by
          at least tol, or fail to increase validation score by at least tol
          if 'early_stopping' is on, the current learning rate is divided
          by 5.
        - 'cosine' (nnbp's own) follows a cosine from 'learning_rate_init'
          down to 0 over max_iter epochs, update by update, after a linear
          warm-up over the first 'warmup_fraction' of them (see
          :class:`nnbp.SGD`). Unlike the others, it applies to
          ``solver='adam'`` too, before Adam's bias correction. Each
          partial_fit is an epoch of it: after max_iter of them the rate
          stays 0.

        Only used when ``solver='sgd'``, but for 'cosine'.

    learning_rate_init : float, default=0.001
        The initial learning rate used. It controls the step-size in
        updating the weights. Only used when solver='sgd' or 'adam'.

    power_t : float, default=0.5
        The exponent for inverse scaling learning rate. It is used in
        updating effective learning rate when the learning_rate is set to
        'invscaling'. Only used when solver='sgd'.

    max_iter : int, default=200
        Maximum number of iterations. The solver iterates until convergence
        (determined by 'tol') or this number of iterations. For stochastic
        solvers ('sgd', 'adam'), this is the number of epochs (how many
        times each data point is used), not the number of gradient steps.

    shuffle : bool, default=True
        Whether to shuffle samples in each iteration. Only used when
        solver='sgd' or 'adam'. The orders are drawn as scikit-learn draws
        them, from random_state.

    random_state : int, RandomState instance or None, default=None
        Determines random number generation for weights and bias
        initialization, the train-validation split if early stopping is
        used, and batch sampling when solver='sgd' or 'adam'. Pass an int
        for reproducible results across multiple function calls. With
        ``init='glorot'``, the initial parameters are the ones scikit-learn
        draws from the same random_state. A model file (save) holds an int
        or None only.

    tol : float, default=1e-4
        Tolerance for the optimization. When the loss or score is not
        improving by at least ``tol`` for ``n_iter_no_change`` consecutive
        iterations, unless ``learning_rate`` is set to 'adaptive',
        convergence is considered to be reached and training stops.

    verbose : bool, default=False
        Whether to print progress messages (the loss of each iteration) to
        stdout.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous call to fit as
        initialization, otherwise, just erase the previous solution. The
        network that is reused keeps its hidden_layer_sizes and dtype:
        changing either with set_params, then fitting with warm_start=True,
        raises a ValueError.

    momentum : float, default=0.9
        Momentum for gradient descent update. Should be between 0 and 1.
        Only used when solver='sgd'.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum. Only used when solver='sgd' and
        momentum > 0.

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it sets aside
        ``validation_fraction`` of training data as validation and
        terminates training when validation score is not improving by at
        least ``tol`` for ``n_iter_no_change`` consecutive epochs; the
        network then gets the parameters that scored best.
        The split is stratified, except in a multilabel setting and, for a
        multiclass problem, where no stratified split exists. If early stopping is False, then the
        training stops when the training loss does not improve by more than
        ``tol`` for ``n_iter_no_change`` consecutive passes over the training
        set.
        Only effective when solver='sgd' or 'adam'; partial_fit refuses it.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping. Must be between 0 and 1. Only used if early_stopping
        is True.

    beta_1 : float, default=0.9
        Exponential decay rate for estimates of first moment vector in adam,
        should be in [0, 1). Only used when solver='adam'.

    beta_2 : float, default=0.999
        Exponential decay rate for estimates of second moment vector in
        adam, should be in [0, 1). Only used when solver='adam'.

    epsilon : float, default=1e-8
        Value for numerical stability in adam. Only used when
        solver='adam'.

    n_iter_no_change : int, default=10
        Maximum number of epochs to not meet ``tol`` improvement. Only
        effective when solver='sgd' or 'adam'.

    max_fun : int, default=15000
        Only used when solver='lbfgs'. Maximum number of loss function
        calls. The solver iterates until convergence (determined by 'tol'),
        number of iterations reaches max_iter, or this number of loss
        function calls. The number of loss function calls is greater than
        or equal to the number of iterations.

    dtype : {None, 'float32', 'float64'} or numpy float dtype, default=None
        nnbp's own: the dtype of the network's parameters and of all its
        arithmetic. None follows X, as scikit-learn does: float32 X trains a
        float32 network, any other X a float64 one. 'float32' halves the
        network's memory; fit converts X to it once. The outputs (the
        classifier's predict_proba, the regressor's predict) have numpy's
        type of X's values times the weights: float64 for float64 X, as in
        scikit-learn.

    init : {'glorot', 'normal', 'he'}, default='glorot'
        nnbp's own: the initialization of the parameters.

        - 'glorot' is scikit-learn's: weights and biases uniform in
          +-sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for the logistic
          activation), drawn as scikit-learn draws them from random_state.
        - 'normal' draws weights from N(0, 1 / fan_in), biases 0.
        - 'he' draws weights from N(0, 2 / fan_in), biases 0: suited to
          'relu' and 'leaky_relu'.

    weight_decay : float, default=0.0
        Decoupled weight decay (nnbp's own), >= 0. Each update first shrinks
        every parameter (the biases too), p = (1 - lr wd) p, lr the current
        learning rate: with ``solver='adam'`` this is AdamW
        (torch.optim.AdamW), with 'sgd' SGDW. It is apart from alpha, the L2
        penalty in the loss (which is torch's SGD weight_decay, coupled to
        the gradient). 0 keeps scikit-learn's path. Only used when
        solver='sgd' or 'adam'.

    max_grad_norm : float or None, default=None
        Clip each minibatch's gradient to this global norm (nnbp's own), > 0:
        g = min(1, max_grad_norm / (||g|| + 1e-6)) g over all the parameters
        at once, as ``torch.nn.utils.clip_grad_norm_``. None: no clipping. Only
        used when solver='sgd' or 'adam'.

    warmup_fraction : float, default=0.0
        The warm-up of ``learning_rate='cosine'`` (nnbp's own): the fraction
        of the schedule's updates, in [0, 1), over which the learning rate
        first rises linearly to 'learning_rate_init'.

    dropout : float or array-like of float, default=0.0
        Inverted dropout on the hidden layers (nnbp's own), in training
        only: each hidden activation is kept with probability 1 - p and
        scaled by 1 / (1 - p), else set to 0, and the gradient flows back
        through the same mask (torch.nn.Dropout in train mode). One rate p
        in [0, 1) for every hidden layer, or one per hidden layer. The masks
        are drawn from random_state: a fit is the same on any number of
        threads. predict, predict_proba, score and the validation score of
        early stopping never drop. 0 keeps scikit-learn's path. Only used
        when solver='sgd' or 'adam': lbfgs refuses it (a deterministic
        solver). The Dask estimators take it in local SGD, not with a batch
        of all the rows.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the order of predict_proba's columns. For a
        multilabel problem, the indices of y's columns.

    loss_ : float
        The current loss computed with the loss function: the last
        iteration's training loss, with the L2 term.

    best_loss_ : float or None
        The minimum loss reached by the solver throughout fitting. If
        ``early_stopping=True``, this attribute is set to None: refer to the
        ``best_validation_score_`` fitted attribute instead.

    loss_curve_ : list of shape (``n_iter_``,)
        The ith element in the list represents the loss at the ith
        iteration. For lbfgs too (nnbp's own: scikit-learn records no
        ``loss_curve_`` for lbfgs).

    validation_scores_ : list of shape (``n_iter_``,) or None
        The score at each iteration on a held-out validation set. The score
        reported is the accuracy score. Only available if ``early_stopping=True``,
        otherwise the attribute is set to None.

    best_validation_score_ : float or None
        The best validation score (i.e. accuracy score) that triggered the early
        stopping. Only available if ``early_stopping=True``, otherwise the
        attribute is set to None.

    t_ : int
        The number of training samples seen by the solver during fitting
        (0 for lbfgs).

    coefs_ : list of shape (n_layers - 1,)
        The ith element in the list represents the weight matrix
        corresponding to layer i, of shape (fan_in, fan_out). These are
        views of ``network_``'s parameters: writing into them, or assigning
        them, changes the network.

    intercepts_ : list of shape (n_layers - 1,)
        The ith element in the list represents the bias vector corresponding
        to layer i + 1; views of ``network_``'s parameters, as ``coefs_`` are.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit. Defined only when X has feature
        names that are all strings.

    n_iter_ : int
        The number of iterations the solver has run (epochs for sgd and
        adam).

    n_layers_ : int
        Number of layers, the input and output layers included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function: 'logistic' (binary and multilabel
        problems) or 'softmax' (multiclass).

    network_ : nnbp.Network
        nnbp's own: the fitted network, which holds the parameters (``coefs_``
        and ``intercepts_`` are views into it) and computes the forward and
        backward passes. It can be trained, checked (nnbp.check_gradients)
        or saved on its own.

    See Also
    --------
    MLPRegressor : Multi-layer perceptron regressor.
    sklearn.neural_network.MLPClassifier : The scikit-learn estimator that this
        class follows.
    nnbp.Network : The network itself, to train without scikit-learn.
    nnbp.dask.DaskMLPClassifier : Data-parallel training on a Dask cluster.

    Notes
    -----
    MLPClassifier trains iteratively since at each time step the partial
    derivatives of the loss function with respect to the model parameters
    are computed to update the parameters. It can also have a
    regularization term added to the loss function that shrinks model
    parameters to prevent overfitting. It works with dense arrays and
    scipy sparse matrices and arrays of floating point values.

    Where nnbp differs from scikit-learn:

    - The parameters dtype and init, and the activations 'leaky_relu',
      'softplus', 'gelu' and 'silu', are nnbp's own; the fitted network is ``network_``.
    - ``coefs_`` and ``intercepts_`` are views of the network's parameters, not
      copies: writing into them changes the model.
    - fit and partial_fit take a callback, run after each epoch
      (iteration), which can stop training.
    - With lbfgs, ``loss_curve_`` and ``best_loss_`` are recorded too.
    - The early-stopping split is stratified for multiclass problems too,
      where each class has at least two members.
    - predict refuses outputs that are NaN or infinite (of a network whose
      parameters diverged, or were set so): it raises NonFiniteOutputError,
      a ValueError, where scikit-learn would give the first class.
    - A loss that becomes inf or NaN raises nnbp.DivergenceError, a
      ValueError whose message begins with scikit-learn's.
    - A second fit of an estimator that is being fitted (in another thread)
      raises a RuntimeError; fit a copy (sklearn.base.clone) instead.
    - save writes a model file without pickle, which nnbp.load reads back;
      pickle works too.

    References
    ----------
    Hinton, Geoffrey E. "Connectionist learning procedures." Artificial
    intelligence 40.1 (1989): 185-234.

    Glorot, Xavier, and Yoshua Bengio. "Understanding the difficulty of
    training deep feedforward neural networks." International Conference
    on Artificial Intelligence and Statistics. 2010.

    He, Kaiming, et al. (2015). "Delving deep into rectifiers: Surpassing
    human-level performance on imagenet classification." arXiv:1502.01852.

    Kingma, Diederik, and Jimmy Ba (2014). "Adam: A method for stochastic
    optimization." arXiv:1412.6980.

    Examples
    --------
    >>> from nnbp import MLPClassifier
    >>> from nnbp.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> X, y = load_digits()
    >>> X_train, X_test, y_train, y_test = train_test_split(X / 16, y,
    ...                                                     random_state=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=1000,
    ...                     random_state=0).fit(X_train, y_train)
    >>> clf.predict(X_test[:5])
    array([2, 8, 2, 6, 6])
    >>> clf.predict_proba(X_test[:5]).shape
    (5, 10)
    >>> round(clf.score(X_test, y_test), 2)
    0.97

    A float32 network, trained on the same data:

    >>> clf32 = MLPClassifier(hidden_layer_sizes=(64,), max_iter=1000,
    ...                       random_state=0, dtype="float32")
    >>> clf32.fit(X_train, y_train).coefs_[0].dtype
    dtype('float32')
    """

    def __init__(self, hidden_layer_sizes: Union[int, Sequence[int]] = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: Union[int, str] = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: _RandomState = None, tol: float = 1e-4,
                 verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: Union[int, float] = 10,
                 max_fun: int = 15000, dtype: Optional[DTypeLike] = None,
                 init: str = "glorot", weight_decay: float = 0.0,
                 max_grad_norm: Optional[float] = None, warmup_fraction: float = 0.0,
                 dropout: Union[float, Sequence[float]] = 0.0) -> None:
        _store_parameters(self, locals())

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_X_y(X, y, reset)
        self._check_classes(y, incremental)
        return X, y

    def _check_classes(self, y, incremental):
        """Fit the label binarizer to y's classes, or check them against ``classes_``."""
        if "classes_" not in self.__dict__ or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )

    def _output(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _targets(self, y):
        return class_targets(self._label_binarizer, y)

    def _stratify_by(self, targets):
        # Stratify single-label problems (scikit-learn does only binary ones).
        if self._label_binarizer.y_type_ == "multiclass":
            # Where no stratified split exists, scikit-learn's split: it
            # stratifies no multiclass problem.
            return targets if self._can_stratify(targets) else None
        # Binary: by the column of booleans scikit-learn stratifies by, so that a class
        # too small to split is named as in its message (['True'] or ['False']).
        return targets.astype(bool) if targets.shape[1] == 1 else None

    def _can_stratify(self, labels):
        """Whether the validation split can be stratified by labels (class indices).

        train_test_split refuses where a class has one member, or where the
        training or the held-out part has fewer rows than there are classes.
        """
        n_train, n_test = _validate_shuffle_split(labels.shape[0], self.validation_fraction,
                                                  None)
        counts = np.bincount(labels)
        counts = counts[counts > 0]
        return counts.min() >= 2 and min(n_train, n_test) >= counts.size

    def _decode(self, targets):
        if targets.ndim == 1:
            return self.classes_[targets]
        return self._label_binarizer.inverse_transform(targets)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes, as ``classes_`` names them; for a multilabel
            problem, the indicator matrix of the labels predicted.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X is invalid: not of ``n_features_in_`` columns, or holding NaN or
            infinity.
        NonFiniteOutputError
            A ValueError, if the network's outputs for a row are NaN or
            infinite, so that it has no class.
        """
        return self._predict(self._fitted(), X)

    def _predict(self, state, X, check_input=True):
        y_pred = _check_finite_outputs(self._forward(state, X, check_input=check_input))
        if y_pred.shape[1] == 1:
            y_pred = y_pred.ravel()
        return state.label_binarizer.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    @available_if(lambda estimator: estimator._check_solver())
    @_one_fit_at_a_time
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self: _MLP, X: ArrayLike, y: ArrayLike,
                    sample_weight: Optional[ArrayLike] = None,
                    classes: Optional[ArrayLike] = None,
                    callback: Optional[_FitCallback] = None) -> _MLP:
        """Update the model with a single iteration over the given data.

        One epoch of the solver, going on from the fitted network (and
        optimizer) if there is one, as scikit-learn's partial_fit. Only
        available for the stochastic solvers, 'sgd' and 'adam'.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The target values: class labels, or a multilabel indicator
            matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples, as in fit.
        classes : array-like of shape (n_classes,), default=None
            Classes across all calls to partial_fit. Can be obtained via
            ``np.unique(y_all)``, where y_all is the target vector of the
            entire dataset. This argument is required for the first call to
            partial_fit and can be omitted in the subsequent calls. Note
            that y doesn't need to contain all labels in ``classes``.
        callback : callable, default=None
            ``callback(epoch, losses, network)``, run after the epoch, as in
            fit.

        Returns
        -------
        self : object
            The trained estimator.

        Raises
        ------
        ValueError
            If classes is missing on the first call, y holds a class not in
            ``classes_``, ``early_stopping=True``, or X, y or sample_weight are
            invalid.
        AttributeError
            If the solver is 'lbfgs' (the method is not available).
        nnbp.DivergenceError
            A ValueError, if the training loss becomes inf or NaN.
        RuntimeError
            If the estimator is being fitted already, in another thread or
            by a callback of its own fit.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         callback=callback)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of the sample for each class in the
            model, where classes are ordered as they are in ``classes_``. For a
            multilabel problem, each label's probability, independently of
            the others.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X is invalid: not of ``n_features_in_`` columns, or holding NaN or
            infinity.
        """
        y_pred = self._forward(self._fitted(), X)
        if y_pred.shape[1] == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    # ------------------------------------------------------------ saving

    _kind = "MLPClassifier"
    _SAVED_EXTRA = _estimator_state.CLASSIFIER_EXTRA
    TARGET_TYPES = _estimator_state.TARGET_TYPES

    def _saved_extra(self):
        return _estimator_state.classifier_extra(self._label_binarizer)

    def _saved_arrays(self):
        return {"classes": _estimator_state.classes_to_save(self.classes_)}

    def _restore_extra(self, fitted, arrays):
        binarizer = _estimator_state.restored_label_binarizer(fitted, arrays,
                                                              self.out_activation_,
                                                              self.n_outputs_)
        self._label_binarizer, self.classes_ = binarizer, binarizer.classes_

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Return the log of probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The predicted log-probability of the sample for each class in
            the model, where classes are ordered as they are in ``classes_``.
            Equivalent to ``np.log(predict_proba(X))``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X is invalid: not of ``n_features_in_`` columns, or holding NaN or
            infinity.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's MLPRegressor, compiled.

    This model optimizes the squared error (or the Poisson deviance) using
    LBFGS or stochastic gradient descent, as scikit-learn's MLPRegressor
    does, with the same parameters, defaults, fitted attributes and methods.
    Its network, loss, gradient and updates are nnbp's compiled ones
    (nnbp.Network): from the same initial parameters, it follows
    scikit-learn's sgd, adam and lbfgs to float64 round-off.

    Needs scikit-learn (``pip install 'nnbp[sklearn]'``).

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'huber', 'absolute_error', 'quantile'}, \
default='squared_error'
        The loss function to use when training the weights, as in
        scikit-learn: 'squared_error' has an identity output with half the
        squared error; 'poisson' an exponential output with the half Poisson
        deviance, for targets >= 0. Fixed by the network: changing it
        between 'poisson' and the others, then fitting with
        warm_start=True, raises a ValueError. The robust losses of
        scikit-learn's other regressors train the identity output too, in
        the compiled core (nnbp.losses): 'huber' (quadratic within
        huber_delta of the target, linear beyond), 'absolute_error', and
        'quantile' (the pinball loss of quantile=, whose fit predicts that
        quantile). nnbp's additions; DaskMLPRegressor takes them too.

    hidden_layer_sizes : int or array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of units in the ith hidden layer; an
        int is one hidden layer. Each is between 1 and 2**31 - 1, and the
        network's weights and biases number at most 2**31 - 1.

    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', 'softplus', \
'gelu', 'silu'}, default='relu'
        Activation function for the hidden layers.

        - 'identity', no-op activation, useful to implement linear
          bottleneck, returns f(x) = x
        - 'logistic', the logistic sigmoid function, returns
          f(x) = 1 / (1 + exp(-x))
        - 'tanh', the hyperbolic tan function, returns f(x) = tanh(x)
        - 'relu', the rectified linear unit function, returns
          f(x) = max(0, x)
        - 'leaky_relu' (nnbp's own), returns f(x) = x for x > 0 and
          0.01 x otherwise
        - 'softplus' (nnbp's own), returns f(x) = log(1 + exp(x))
        - 'gelu' (nnbp's own), the Gaussian error linear unit, returns
          f(x) = x Phi(x) = x (1 + erf(x / sqrt(2))) / 2 (exact, as PyTorch's
          default)
        - 'silu' (nnbp's own), the sigmoid linear unit, returns
          f(x) = x / (1 + exp(-x))

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The solver for weight optimization, as in scikit-learn.

        - 'lbfgs' is an optimizer in the family of quasi-Newton methods
          (scipy.optimize's L-BFGS-B).
        - 'sgd' refers to stochastic gradient descent.
        - 'adam' refers to a stochastic gradient-based optimizer proposed
          by Kingma, Diederik, and Jimmy Ba.

        The default solver 'adam' works well on relatively large datasets
        (thousands of training samples or more) in terms of both training
        time and validation score. For small datasets, 'lbfgs' can converge
        faster and perform better.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, on the weights only (not the
        biases). The term is divided by the sample size when added to the
        loss: alpha / (2 n) times the sum of the squared weights, as in
        scikit-learn.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for the stochastic solvers. If the solver is
        'lbfgs', the estimator does not use minibatches. When set to 'auto',
        ``batch_size=min(200, n_samples)``; a larger int is clipped to
        n_samples, with a warning.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for weight updates, as in scikit-learn.

        - 'constant' is a constant learning rate given by
          'learning_rate_init'.
        - 'invscaling' gradually decreases the learning rate at each time
          step 't' using an inverse scaling exponent of 'power_t':
          effective_learning_rate = learning_rate_init / pow(t, power_t).
        - 'adaptive' keeps the learning rate constant to
          'learning_rate_init' as long as training loss keeps decreasing.
          Each time two consecutive epochs fail to decrease training loss by
          at least tol, or fail to increase validation score by at least tol
          if 'early_stopping' is on, the current learning rate is divided
          by 5.
        - 'cosine' (nnbp's own) follows a cosine from 'learning_rate_init'
          down to 0 over max_iter epochs, update by update, after a linear
          warm-up over the first 'warmup_fraction' of them (see
          :class:`nnbp.SGD`). Unlike the others, it applies to
          ``solver='adam'`` too, before Adam's bias correction. Each
          partial_fit is an epoch of it: after max_iter of them the rate
          stays 0.

        Only used when ``solver='sgd'``, but for 'cosine'.

    learning_rate_init : float, default=0.001
        The initial learning rate used. It controls the step-size in
        updating the weights. Only used when solver='sgd' or 'adam'.

    power_t : float, default=0.5
        The exponent for inverse scaling learning rate. It is used in
        updating effective learning rate when the learning_rate is set to
        'invscaling'. Only used when solver='sgd'.

    max_iter : int, default=200
        Maximum number of iterations. The solver iterates until convergence
        (determined by 'tol') or this number of iterations. For stochastic
        solvers ('sgd', 'adam'), this is the number of epochs (how many
        times each data point is used), not the number of gradient steps.

    shuffle : bool, default=True
        Whether to shuffle samples in each iteration. Only used when
        solver='sgd' or 'adam'. The orders are drawn as scikit-learn draws
        them, from random_state.

    random_state : int, RandomState instance or None, default=None
        Determines random number generation for weights and bias
        initialization, the train-validation split if early stopping is
        used, and batch sampling when solver='sgd' or 'adam'. Pass an int
        for reproducible results across multiple function calls. With
        ``init='glorot'``, the initial parameters are the ones scikit-learn
        draws from the same random_state. A model file (save) holds an int
        or None only.

    tol : float, default=1e-4
        Tolerance for the optimization. When the loss or score is not
        improving by at least ``tol`` for ``n_iter_no_change`` consecutive
        iterations, unless ``learning_rate`` is set to 'adaptive',
        convergence is considered to be reached and training stops.

    verbose : bool, default=False
        Whether to print progress messages (the loss of each iteration) to
        stdout.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous call to fit as
        initialization, otherwise, just erase the previous solution. The
        network that is reused keeps its hidden_layer_sizes and dtype:
        changing either with set_params, then fitting with warm_start=True,
        raises a ValueError.

    momentum : float, default=0.9
        Momentum for gradient descent update. Should be between 0 and 1.
        Only used when solver='sgd'.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum. Only used when solver='sgd' and
        momentum > 0.

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it sets aside
        ``validation_fraction`` of training data as validation and
        terminates training when validation score is not improving by at
        least ``tol`` for ``n_iter_no_change`` consecutive epochs; the
        network then gets the parameters that scored best.
        If early stopping is False, then the training stops when the training
        loss does not improve by more than ``tol`` for ``n_iter_no_change``
        consecutive passes over the training set.
        Only effective when solver='sgd' or 'adam'; partial_fit refuses it.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping. Must be between 0 and 1. Only used if early_stopping
        is True.

    beta_1 : float, default=0.9
        Exponential decay rate for estimates of first moment vector in adam,
        should be in [0, 1). Only used when solver='adam'.

    beta_2 : float, default=0.999
        Exponential decay rate for estimates of second moment vector in
        adam, should be in [0, 1). Only used when solver='adam'.

    epsilon : float, default=1e-8
        Value for numerical stability in adam. Only used when
        solver='adam'.

    n_iter_no_change : int, default=10
        Maximum number of epochs to not meet ``tol`` improvement. Only
        effective when solver='sgd' or 'adam'.

    max_fun : int, default=15000
        Only used when solver='lbfgs'. Maximum number of loss function
        calls. The solver iterates until convergence (determined by 'tol'),
        number of iterations reaches max_iter, or this number of loss
        function calls. The number of loss function calls is greater than
        or equal to the number of iterations.

    dtype : {None, 'float32', 'float64'} or numpy float dtype, default=None
        nnbp's own: the dtype of the network's parameters and of all its
        arithmetic. None follows X, as scikit-learn does: float32 X trains a
        float32 network, any other X a float64 one. 'float32' halves the
        network's memory; fit converts X to it once. The outputs (the
        classifier's predict_proba, the regressor's predict) have numpy's
        type of X's values times the weights: float64 for float64 X, as in
        scikit-learn.

    init : {'glorot', 'normal', 'he'}, default='glorot'
        nnbp's own: the initialization of the parameters.

        - 'glorot' is scikit-learn's: weights and biases uniform in
          +-sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for the logistic
          activation), drawn as scikit-learn draws them from random_state.
        - 'normal' draws weights from N(0, 1 / fan_in), biases 0.
        - 'he' draws weights from N(0, 2 / fan_in), biases 0: suited to
          'relu' and 'leaky_relu'.

    huber_delta : float, default=1.0
        The threshold of loss='huber', > 0 (nnbp's own; nnbp.HuberLoss's
        delta, torch.nn.HuberLoss's). Not ``epsilon``, scikit-learn's name for
        it in SGDRegressor and HuberRegressor: here epsilon is Adam's.

    quantile : float, default=0.5
        The quantile of loss='quantile', in (0, 1) (nnbp's own), as in
        scikit-learn's other regressors.

    weight_decay : float, default=0.0
        Decoupled weight decay (nnbp's own), >= 0. Each update first shrinks
        every parameter (the biases too), p = (1 - lr wd) p, lr the current
        learning rate: with ``solver='adam'`` this is AdamW
        (torch.optim.AdamW), with 'sgd' SGDW. It is apart from alpha, the L2
        penalty in the loss (which is torch's SGD weight_decay, coupled to
        the gradient). 0 keeps scikit-learn's path. Only used when
        solver='sgd' or 'adam'.

    max_grad_norm : float or None, default=None
        Clip each minibatch's gradient to this global norm (nnbp's own), > 0:
        g = min(1, max_grad_norm / (||g|| + 1e-6)) g over all the parameters
        at once, as ``torch.nn.utils.clip_grad_norm_``. None: no clipping. Only
        used when solver='sgd' or 'adam'.

    warmup_fraction : float, default=0.0
        The warm-up of ``learning_rate='cosine'`` (nnbp's own): the fraction
        of the schedule's updates, in [0, 1), over which the learning rate
        first rises linearly to 'learning_rate_init'.

    dropout : float or array-like of float, default=0.0
        Inverted dropout on the hidden layers (nnbp's own), in training
        only: each hidden activation is kept with probability 1 - p and
        scaled by 1 / (1 - p), else set to 0, and the gradient flows back
        through the same mask (torch.nn.Dropout in train mode). One rate p
        in [0, 1) for every hidden layer, or one per hidden layer. The masks
        are drawn from random_state: a fit is the same on any number of
        threads. predict, predict_proba, score and the validation score of
        early stopping never drop. 0 keeps scikit-learn's path. Only used
        when solver='sgd' or 'adam': lbfgs refuses it (a deterministic
        solver). The Dask estimators take it in local SGD, not with a batch
        of all the rows.

    Attributes
    ----------
    loss_ : float
        The current loss computed with the loss function: the last
        iteration's training loss, with the L2 term.

    best_loss_ : float or None
        The minimum loss reached by the solver throughout fitting. If
        ``early_stopping=True``, this attribute is set to None: refer to the
        ``best_validation_score_`` fitted attribute instead.

    loss_curve_ : list of shape (``n_iter_``,)
        The ith element in the list represents the loss at the ith
        iteration. For lbfgs too (nnbp's own: scikit-learn records no
        ``loss_curve_`` for lbfgs).

    validation_scores_ : list of shape (``n_iter_``,) or None
        The score at each iteration on a held-out validation set. The score
        reported is the R2 score. Only available if ``early_stopping=True``,
        otherwise the attribute is set to None.

    best_validation_score_ : float or None
        The best validation score (i.e. R2 score) that triggered the early
        stopping. Only available if ``early_stopping=True``, otherwise the
        attribute is set to None.

    t_ : int
        The number of training samples seen by the solver during fitting
        (0 for lbfgs).

    coefs_ : list of shape (n_layers - 1,)
        The ith element in the list represents the weight matrix
        corresponding to layer i, of shape (fan_in, fan_out). These are
        views of ``network_``'s parameters: writing into them, or assigning
        them, changes the network.

    intercepts_ : list of shape (n_layers - 1,)
        The ith element in the list represents the bias vector corresponding
        to layer i + 1; views of ``network_``'s parameters, as ``coefs_`` are.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit. Defined only when X has feature
        names that are all strings.

    n_iter_ : int
        The number of iterations the solver has run (epochs for sgd and
        adam).

    n_layers_ : int
        Number of layers, the input and output layers included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function: 'identity' (squared_error) or
        'exp' (poisson).

    network_ : nnbp.Network
        nnbp's own: the fitted network, which holds the parameters (``coefs_``
        and ``intercepts_`` are views into it) and computes the forward and
        backward passes. It can be trained, checked (nnbp.check_gradients)
        or saved on its own.

    See Also
    --------
    MLPClassifier : Multi-layer perceptron classifier.
    sklearn.neural_network.MLPRegressor : The scikit-learn estimator that this
        class follows.
    nnbp.Network : The network itself, to train without scikit-learn.
    nnbp.dask.DaskMLPRegressor : Data-parallel training on a Dask cluster.

    Notes
    -----
    MLPRegressor trains iteratively since at each time step the partial
    derivatives of the loss function with respect to the model parameters
    are computed to update the parameters. It can also have a
    regularization term added to the loss function that shrinks model
    parameters to prevent overfitting. It works with dense arrays and
    scipy sparse matrices and arrays of floating point values.

    Where nnbp differs from scikit-learn:

    - The parameters dtype and init, and the activations 'leaky_relu',
      'softplus', 'gelu' and 'silu', are nnbp's own; the fitted network is ``network_``.
    - ``coefs_`` and ``intercepts_`` are views of the network's parameters, not
      copies: writing into them changes the model.
    - fit and partial_fit take a callback, run after each epoch
      (iteration), which can stop training.
    - With lbfgs, ``loss_curve_`` and ``best_loss_`` are recorded too.
    - With several outputs, ``loss_`` is the squared error summed over them,
      the loss whose gradient both libraries follow; scikit-learn reports
      its mean over the outputs.
    - A loss that becomes inf or NaN raises nnbp.DivergenceError, a
      ValueError whose message begins with scikit-learn's.
    - A second fit of an estimator that is being fitted (in another thread)
      raises a RuntimeError; fit a copy (sklearn.base.clone) instead.
    - save writes a model file without pickle, which nnbp.load reads back;
      pickle works too.

    References
    ----------
    Hinton, Geoffrey E. "Connectionist learning procedures." Artificial
    intelligence 40.1 (1989): 185-234.

    Glorot, Xavier, and Yoshua Bengio. "Understanding the difficulty of
    training deep feedforward neural networks." International Conference
    on Artificial Intelligence and Statistics. 2010.

    He, Kaiming, et al. (2015). "Delving deep into rectifiers: Surpassing
    human-level performance on imagenet classification." arXiv:1502.01852.

    Kingma, Diederik, and Jimmy Ba (2014). "Adam: A method for stochastic
    optimization." arXiv:1412.6980.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import MLPRegressor
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.model_selection import train_test_split
    >>> X, y = make_regression(n_samples=200, n_features=20, random_state=1)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y,
    ...                                                     random_state=1)
    >>> regr = MLPRegressor(random_state=1, max_iter=2000, tol=0.1)
    >>> regr.fit(X_train, y_train).predict(X_test[:2]).shape
    (2,)
    >>> round(regr.score(X_test, y_test), 2)
    0.98

    From the same random_state, scikit-learn's MLPRegressor trains the same
    network, to round-off:

    >>> from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
    >>> sk_regr = SklearnMLPRegressor(random_state=1, max_iter=2000, tol=0.1)
    >>> sk_regr = sk_regr.fit(X_train, y_train)
    >>> bool(np.allclose(regr.predict(X_test), sk_regr.predict(X_test)))
    True
    """

    _parameter_constraints = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", *ROBUST_LOSSES})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(self, loss: str = "squared_error",
                 hidden_layer_sizes: Union[int, Sequence[int]] = (100,),
                 activation: str = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: Union[int, str] = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: _RandomState = None, tol: float = 1e-4,
                 verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: Union[int, float] = 10,
                 max_fun: int = 15000, dtype: Optional[DTypeLike] = None,
                 init: str = "glorot", huber_delta: float = 1.0,
                 quantile: float = 0.5, weight_decay: float = 0.0,
                 max_grad_norm: Optional[float] = None, warmup_fraction: float = 0.0,
                 dropout: Union[float, Sequence[float]] = 0.0) -> None:
        _store_parameters(self, locals())

    def _validate_input(self, X, y, incremental, reset):
        return self._validate_X_y(X, y, reset, y_numeric=True)

    def _output(self):
        return "poisson" if self.loss == "poisson" else "squared"

    def _training_loss(self) -> Optional[Loss]:
        if self.loss not in ROBUST_LOSSES:
            return None
        if self.loss == "huber":
            return HuberLoss(self.huber_delta)
        if self.loss == "quantile":
            return PinballLoss(self.quantile)
        return AbsoluteError()

    def _network_parameters(self, hidden_layer_sizes):
        # The robust losses train the network of squared_error: switching between
        # them changes the training, not the network.
        fitted = REGRESSION_LOSSES[self.network_.output]
        same_network = self._output() == self.network_.output
        return {**super()._network_parameters(hidden_layer_sizes),
                "loss": (self.loss, self.loss if same_network else fitted)}

    def _targets(self, y):
        return regression_targets(y)

    def _stratify_by(self, targets):
        return None

    def _decode(self, targets):
        return targets[:, 0] if targets.shape[1] == 1 else targets

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values: one column per output, raveled for a
            single output. Of numpy's type of X's values times the weights
            (float64 for float64 X).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            If X is invalid: not of ``n_features_in_`` columns, or holding NaN or
            infinity.
        """
        return self._predict(self._fitted(), X)

    def _predict(self, state, X, check_input=True):
        y_pred = self._forward(state, X, check_input=check_input)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)

    _kind = "MLPRegressor"

    def _restore_extra(self, fitted, arrays):
        _estimator_state.check_regressor_output(self.out_activation_)

    @available_if(lambda estimator: estimator._check_solver())
    @_one_fit_at_a_time
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self: _MLP, X: ArrayLike, y: ArrayLike,
                    sample_weight: Optional[ArrayLike] = None,
                    callback: Optional[_FitCallback] = None) -> _MLP:
        """Update the model with a single iteration over the given data.

        One epoch of the solver, going on from the fitted network (and
        optimizer) if there is one, as scikit-learn's partial_fit. Only
        available for the stochastic solvers, 'sgd' and 'adam'.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples, as in fit.
        callback : callable, default=None
            ``callback(epoch, losses, network)``, run after the epoch, as in
            fit.

        Returns
        -------
        self : object
            The trained estimator.

        Raises
        ------
        ValueError
            If ``early_stopping=True``, y has another number of outputs than
            the fitted network, or X, y or sample_weight are invalid.
        AttributeError
            If the solver is 'lbfgs' (the method is not available).
        nnbp.DivergenceError
            A ValueError, if the training loss becomes inf or NaN.
        RuntimeError
            If the estimator is being fitted already, in another thread or
            by a callback of its own fit.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         callback=callback)
