"""The model: a dense network and its one flat parameter vector.

Layout of ``Network.params`` (and of every gradient): the weight matrices
W(1), ..., W(L) in order, each row-major of shape (m_l, m_{l-1}) so that row i
holds the weights into unit i, then the bias vectors b(1), ..., b(L). All the
weights come first so that the L2 penalty and its gradient are one pass over
``params[:n_weights]``. ``weights[l]`` and ``biases[l]`` are views into it.

The internal interface, for nnbp's own modules (training, optim, gradcheck,
diagnostics, estimators, dask), not the public API: they reach the network's
compiled state through these names alone, never its private attributes.

- ``CheckedData`` and ``Network.check_data``: the data, checked once for the
  compiled core;
- ``Network.compiled_loss``: the loss (and gradient) of checked data;
- ``Network.forward_checked``: the forward pass of rows already checked;
- ``Network.compiled``, ``workspace_for`` and ``flops_per_layer``: the
  network as the compiled core takes it (nnbp._core.Model: its shape,
  codes, penalty, scratch and team), configured and locked for a call; the
  workspace of a batch; the work that decides a team of threads.

Examples
--------
>>> import numpy as np
>>> from nnbp.network import Network
>>> net = Network([4, 5, 3], activation="tanh", output="softmax", seed=0)
>>> net.n_params, [W.shape for W in net.weights]
(43, [(5, 4), (3, 5)])
"""
from __future__ import annotations

import copy
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional, Union

import numpy as np
import numpy.typing as npt
import scipy.sparse

from nnbp import _core, _threads, io, layers, losses
from nnbp._memory import allocate
from nnbp._validation import (
    MAX_DIMENSION,
    check_choice,
    check_dropout,
    check_features,
    check_float_dtype,
    check_layer_sizes,
    check_loss_data,
    check_matrix,
    check_out_alone,
    check_positive_int,
    check_real,
    check_vector,
)

__all__ = [
    "ACTIVATIONS",
    "CheckedData",
    "FORWARD_BLOCK_ROWS",
    "INITS",
    "Network",
    "OUTPUTS",
]

ACTIVATIONS = tuple(_core.ACTIVATIONS)
OUTPUTS = tuple(_core.OUTPUTS)
INITS = ("glorot", "normal", "he")
# forward() takes the rows of X in blocks of this many: its workspace stays
# small however large X is, and a block is still large enough for BLAS.
FORWARD_BLOCK_ROWS = 4096

# The types of the signatures: rows of X (an array, or a scipy sparse matrix or
# array), and the seeds a network's initialisation takes.
Features = Union[npt.ArrayLike, scipy.sparse.sparray, scipy.sparse.spmatrix]
Seed = Union[int, np.random.Generator, np.random.RandomState, None]


class CheckedData(NamedTuple):
    """Data checked once for the compiled core, in the network's dtype.

    For nnbp's own modules, not the public API: ``Network.check_data`` makes
    it, and the compiled passes (``Network.compiled_loss``, nnbp.training's
    epochs) take it unchecked. Exactly one of targets and labels is None:
    labels (int64 class indices) for the softmax output, targets (the
    network's dtype, one column per output) for the others.

    Parameters
    ----------
    X : ndarray or scipy.sparse.csr_matrix of shape (n, m_0)
        The rows: a C-contiguous array, or a CSR matrix, in the network's dtype.
    targets : ndarray of shape (n, m_L) or None
        The targets, in the network's dtype; None for the softmax output.
    labels : ndarray of shape (n,) or None
        The int64 class indices, for the softmax output; None for the others.
    sample_weight : ndarray of shape (n,) or None
        The rows' weights, in the network's dtype; None: all 1.
    total : float
        S = sum_i s_i, the sum of the weights (the int n without weights), by which
        the loss is divided.

    See Also
    --------
    Network.check_data : Makes it from X, y and sample_weight.
    Network.compiled_loss : The loss and gradient of checked data.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network
    >>> net = Network([2, 3, 2], output="softmax", seed=0)
    >>> data = net.check_data(np.zeros((4, 2)), [0, 1, 1, 0])
    >>> data.X.shape, data.labels, data.targets, data.total
    ((4, 2), array([0, 1, 1, 0]), None, 4)
    """

    X: Any                             # (n, m_0): a C-contiguous array, or a CSR matrix
    targets: Optional[np.ndarray]      # (n, m_L) in the network's dtype, or None
    labels: Optional[np.ndarray]       # (n,) int64 class indices, or None
    sample_weight: Optional[np.ndarray]  # (n,) in the network's dtype, or None
    total: float                       # S = sum_i s_i, or n without weights


# Every live network, for the after-fork hook below.
_networks: weakref.WeakSet[Network] = weakref.WeakSet()


def _new_locks_after_fork() -> None:
    """In a forked child, a fresh lock for every network.

    fork copies a lock in whatever state it is, but not the thread that held
    it: a network another thread was training when the process forked had a
    lock in the child that nobody would ever release.
    """
    for network in list(_networks):
        network._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)


def _generator(seed: Seed) -> np.random.Generator:
    """numpy's Generator of seed (None, an int >= 0 or a Generator), or an error naming seed."""
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as error:
        # numpy's own message ("expected non-negative integer") names no argument.
        raise type(error)(
            f"seed must be None, an int >= 0, a numpy Generator or RandomState, got {seed!r} "
            f"({error})"
        ) from None


# The compiled core's loss of a call without a loss object: the output's own.
_CANONICAL_LOSS = ("canonical", 0.0)


class _CompiledCall:
    """Network.compiled's context: the network's lock, then its team of threads, held
    while the configured model computes.

    A class rather than a generator: one-row predictions pay for every
    microsecond of it (contextlib's generator machinery cost 1.3 us a call).
    """

    __slots__ = ("network", "team", "loss")

    def __init__(self, network: "Network", team: Any,
                 loss: Optional[tuple[str, float]] = None) -> None:
        self.network, self.team, self.loss = network, team, loss

    def __enter__(self) -> _core.Model:
        network = self.network
        network._lock.acquire()
        try:
            threads = self.team.__enter__()
        except BaseException:
            network._lock.release()
            raise
        network._model.configure(network.bias, network.activation, network.negative_slope,
                                 network.output, network.alpha, threads)
        # A robust loss never outlives the call that asked for it; the others find
        # the canonical loss set, without paying for a call to set it (one-row
        # predictions pay for every fraction of a microsecond).
        if self.loss is not None or network._robust_loss_set:
            network._model.set_loss(*(self.loss or _CANONICAL_LOSS))
            network._robust_loss_set = self.loss is not None
        return network._model

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.team.__exit__(*exc_info)
        finally:
            self.network._lock.release()


class Network:
    """A dense network: z(l) = W(l) x(l-1) + b(l), x(l) = phi(z(l)), f = phi_out(z(L)).

    Its parameters are one flat vector, ``params``: the weight matrices
    W(1), ..., W(L), row-major (row i of W(l) holds the weights into unit i),
    then the biases b(1), ..., b(L); ``weights`` and ``biases`` are views of
    it. The forward pass, the loss and its gradient run compiled, in the
    network's dtype. The loss is the mean of the output's canonical loss
    over the rows (a weighted mean with sample weights), plus the L2 penalty
    alpha/(2n) sum_l ||W(l)||^2.

    Parameters
    ----------
    layer_sizes : sequence of int
        (m_0, m_1, ..., m_L): inputs, hidden widths, outputs; at least two
        entries, each at least 1.
    activation : {"relu", "identity", "logistic", "tanh", "leaky_relu", \
"softplus", "gelu", "silu"}, default="relu"
        Hidden activation phi. "gelu" is z Phi(z), Phi the standard normal
        CDF (exact, erf-based, as PyTorch's default); "silu" is z sigmoid(z).
    output : {"softmax", "squared", "logistic", "poisson"}, default="softmax"
        Output activation with its canonical loss: "squared" (identity, 1/2
        squared error), "logistic" (sigmoid, binary cross-entropy per output),
        "softmax" (softmax, cross-entropy of integer labels), "poisson" (exp,
        half Poisson deviance y log(y/f) - y + f per output, as scikit-learn's
        MLPRegressor(loss="poisson"); targets >= 0).
    dtype : {numpy.float64, numpy.float32} or str, default=numpy.float64
        The dtype of the parameters and of all the arithmetic.
    alpha : float, default=0.0
        L2 penalty alpha/(2n) * sum_l ||W(l)||^2 (biases are not penalised).
    bias : bool, default=True
        Whether the layers have biases.
    init : {"glorot", "normal", "he"}, default="glorot"
        "glorot" (scikit-learn's: uniform in +-sqrt(6/(fan_in+fan_out)), 2
        instead of 6 for the logistic activation, biases too), "normal"
        (W ~ N(0, sigma^2/fan_in), biases 0) or "he" (W ~ N(0, 2/fan_in),
        biases 0).
    sigma : float, default=1.0
        Scale of the "normal" initialisation.
    seed : int, numpy.random.Generator, numpy.random.RandomState or None, \
default=None
        Makes the initialisation reproducible; a RandomState draws as
        scikit-learn does (see initialize).
    negative_slope : float, default=0.01
        Slope of leaky_relu for z <= 0.

    Attributes
    ----------
    layer_sizes : tuple of int
        (m_0, ..., m_L), as checked.
    activation, output, init : str
        As given.
    dtype : numpy.dtype
        The dtype of the parameters.
    alpha, sigma, negative_slope : float
        As given; alpha, bias and negative_slope may be changed between calls.
    bias : bool
        Whether the layers have biases.
    metadata : dict
        JSON data about the model, which save writes and nnbp.load restores.

    Raises
    ------
    ValueError
        For layer sizes, choices or numbers out of range, or a network of
        more parameters than nnbp can index.
    TypeError
        For arguments of the wrong type (bias not a bool, a seed that is
        none of the above).

    See Also
    --------
    nnbp.StochasticTrainer : Trains a network by minibatch sgd or adam.
    nnbp.minimize_lbfgs : Trains a network by L-BFGS.
    nnbp.check_gradients : Verifies loss_and_grad by finite differences.
    nnbp.MLPClassifier : The scikit-learn estimator, whose ``network_`` this is.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    >>> net = Network([4, 5, 3], activation="tanh", output="softmax", seed=0)
    >>> net
    Network([4, 5, 3], activation='tanh', output='softmax', dtype=float64, alpha=0.0, bias=True)
    >>> net.forward(X).shape
    (20, 3)
    >>> round(net.loss(X, y), 2)
    1.15
    >>> loss, grad = net.loss_and_grad(X, y)
    >>> grad.shape == net.params.shape
    True
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu",
                 output: str = "softmax", dtype: npt.DTypeLike = np.float64,
                 alpha: float = 0.0, bias: bool = True, init: str = "glorot",
                 sigma: float = 1.0, seed: Seed = None,
                 negative_slope: float = 0.01) -> None:
        self.layer_sizes = check_layer_sizes(layer_sizes)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.output = check_choice("output", output, OUTPUTS)
        self.dtype = check_float_dtype(dtype)
        # alpha, sigma and negative_slope must be numbers of the dtype: a
        # float32 slope of 1e39 is inf, and inf * 0 made the outputs NaN.
        largest = float(np.finfo(self.dtype).max)
        self.alpha = check_real("alpha", alpha, minimum=0.0, maximum=largest)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bool(bias)
        self.init = check_choice("init", init, INITS)
        self.sigma = check_real("sigma", sigma, strictly_above=0.0, maximum=largest)
        self.negative_slope = check_real("negative_slope", negative_slope, minimum=-largest,
                                         maximum=largest)
        if self.n_params > MAX_DIMENSION:
            raise ValueError(
                f"layer_sizes {list(self.layer_sizes)} make a network of {self.n_params} "
                f"parameters, too large: at most {MAX_DIMENSION}"
            )
        # The network as the compiled core takes it; the lock is held while it computes.
        self._model = _core.Model(self.layer_sizes)
        self._model.workspace = np.empty(0, dtype=self.dtype)
        # Whether the model holds a robust loss (nnbp.losses), set by _CompiledCall.
        self._robust_loss_set = False
        self._lock = threading.Lock()
        _networks.add(self)
        # initialize() draws each weight matrix in float64 before copying it in.
        largest_draw = 8 * max(self._weight_sizes())
        self._params = allocate(self.n_params, self.dtype, f"a network of {self.n_params} "
                                "parameters", zeroed=True, extra_bytes=largest_draw)
        self._make_views()
        self.initialize(seed)
        # JSON data about the model that save() writes and nnbp.load() restores
        # (a loaded network's includes nnbp_version, saved and format_version).
        self.metadata: dict[str, Any] = {}

    # ------------------------------------------------------------ parameters

    @property
    def n_layers(self) -> int:
        """L, the number of layers with parameters."""
        return len(self.layer_sizes) - 1

    @property
    def n_weights(self) -> int:
        """Number of weights: params[:n_weights] holds W(1), ..., W(L)."""
        return sum(self._weight_sizes())

    def _weight_sizes(self) -> list[int]:
        sizes = self.layer_sizes
        return [sizes[l] * sizes[l - 1] for l in range(1, len(sizes))]

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        return self.n_weights + (sum(self.layer_sizes[1:]) if self.bias else 0)

    @property
    def params(self) -> np.ndarray:
        """The flat parameter vector; writing into it changes the weights and biases.

        Assigning to it copies the values in (a vector of n_params numbers);
        the vector itself, and the views weights and biases, stay.
        """
        return self._params

    @params.setter
    def params(self, values: npt.ArrayLike) -> None:
        self._params[...] = check_vector("params", values, self.dtype, self._params.size)

    @property
    def weights(self) -> tuple[np.ndarray, ...]:
        """(W(1), ..., W(L)): views of params, W(l) of shape (m_l, m_{l-1})."""
        return self._weights

    @property
    def biases(self) -> tuple[Any, ...]:
        """(b(1), ..., b(L)): views of params; None for each layer when bias=False."""
        # Any, not Optional[ndarray]: callers test net.bias once, not each b(l).
        return self._biases

    def _make_views(self) -> None:
        sizes = self.layer_sizes
        weights: list[np.ndarray] = []
        biases: list[Optional[np.ndarray]] = []
        offset = 0
        for l in range(1, len(sizes)):
            size = sizes[l] * sizes[l - 1]
            weights.append(self._params[offset:offset + size].reshape(sizes[l], sizes[l - 1]))
            offset += size
        for l in range(1, len(sizes)):
            if self.bias:
                biases.append(self._params[offset:offset + sizes[l]])
                offset += sizes[l]
            else:
                biases.append(None)
        self._weights, self._biases = tuple(weights), tuple(biases)

    def layer_slices(self) -> list[tuple[slice, Optional[slice]]]:
        """Where each layer's parameters lie in params, by layer index.

        Meant for nnbp's own modules (nnbp.onnx, nnbp.diagnostics), and for
        reading a gradient layer by layer.

        Returns
        -------
        list of (slice, slice or None)
            For layer l = 1..L at index l - 1: the slice of params holding
            W(l) (row-major) and the one holding b(l), None without biases.
        """
        sizes = self.layer_sizes
        weight_ends = np.cumsum([0] + self._weight_sizes())
        bias_ends = weight_ends[-1] + np.cumsum([0] + list(sizes[1:]))
        return [(slice(int(weight_ends[l]), int(weight_ends[l + 1])),
                 slice(int(bias_ends[l]), int(bias_ends[l + 1])) if self.bias else None)
                for l in range(self.n_layers)]

    def block_slices(self) -> list[tuple[str, slice]]:
        """Name each block of params, W(l) and b(l), with where it lies, in layout order.

        Meant for nnbp's own modules (nnbp.gradcheck reports its errors by
        block), and for reading a gradient block by block.

        Returns
        -------
        list of (str, slice)
            ("W(1)", its slice), ..., ("W(L)", ...), then ("b(1)", ...), ...,
            ("b(L)", ...) unless the network has no biases.

        See Also
        --------
        layer_slices : The same slices, by layer.

        Examples
        --------
        >>> from nnbp import Network
        >>> Network([4, 5, 3], seed=0).block_slices()[0]
        ('W(1)', slice(0, 20, None))
        """
        numbered = list(enumerate(self.layer_slices(), start=1))
        return ([(f"W({l})", weights) for l, (weights, _) in numbered]
                + [(f"b({l})", biases) for l, (_, biases) in numbered if biases is not None])

    def initialize(self, seed: Seed = None) -> Network:
        """Draw new initial parameters by the network's init scheme (see the class).

        Parameters
        ----------
        seed : int, numpy.random.Generator, numpy.random.RandomState or None, \
default=None
            None (fresh entropy), an int >= 0 or a numpy Generator; or a numpy
            RandomState, which draws as scikit-learn's MLP does, W(l).T then
            b(l) layer by layer (the estimators' initialisation:
            scikit-learn's initial parameters for the same random_state).

        Returns
        -------
        Network
            The network itself, its parameters drawn anew.

        Raises
        ------
        ValueError
            If sigma draws weights too large for the dtype.
        """
        rng: Union[np.random.Generator, np.random.RandomState]
        if isinstance(seed, np.random.RandomState):
            rng, transposed = seed, True
        else:
            rng, transposed = _generator(seed), False
        for W, b in zip(self._weights, self._biases):
            fan_out, fan_in = W.shape
            # scikit-learn draws W(l).T, of shape (fan_in, fan_out), in that order.
            into, shape = (W.T, (fan_in, fan_out)) if transposed else (W, W.shape)
            if self.init == "glorot":
                factor = 2.0 if self.activation == "logistic" else 6.0
                bound = np.sqrt(factor / (fan_in + fan_out))
                into[...] = rng.uniform(-bound, bound, size=shape)
                if b is not None:
                    b[...] = rng.uniform(-bound, bound, size=b.shape)
            else:
                scale = self.sigma if self.init == "normal" else np.sqrt(2.0)
                # A draw too large for the dtype becomes inf, refused below.
                with np.errstate(over="ignore"):
                    into[...] = rng.normal(0.0, scale / np.sqrt(fan_in), size=shape)
                if b is not None:
                    b[...] = 0.0
        if not _core.all_finite(self._params):
            raise ValueError(f"sigma={self.sigma} draws initial weights too large for "
                             f"{self.dtype.name}: choose a smaller sigma")
        return self

    # ------------------------------------------------------------ computing

    def compiled(self, flops: float, rows: int,
                 loss: Optional[tuple[str, float]] = None) -> "_CompiledCall":
        """The network as the compiled core takes it, for one call (for nnbp's own modules).

        Holds the network's lock (one compiled call on a network at a time),
        configures the model from the network's attributes, which may have
        changed since the last call, and gives it the team of threads that
        nnbp._threads decides for the work.

        Parameters
        ----------
        flops : float
            The work between two of a team's meetings (flops_per_layer); 0
            for a call that runs on one thread.
        rows : int
            Rows of the call's batch: a team has at most that many threads.
        loss : (str, float) or None, default=None
            A built-in loss object's ``compiled`` (nnbp.losses): the robust
            loss the call computes instead of the output's canonical one.

        Returns
        -------
        context manager
            Whose ``with`` gives the nnbp._core.Model, with its workspace as
            workspace_for last grew it.
        """
        return _CompiledCall(self, _threads.team(flops, rows), loss)

    def workspace_for(self, n_examples: int, copies: int = 1) -> np.ndarray:
        """The workspace for a batch of n rows (copies of it: one a thread); grown once, reused.

        For nnbp's own modules: the network's compiled model holds it, for its
        compiled passes.

        Parameters
        ----------
        n_examples : int
            Rows of the batch.
        copies : int
            Threads that each need one.

        Returns
        -------
        ndarray
            At least the size the compiled core needs, in the network's dtype.

        Raises
        ------
        MemoryError
            Naming the batch, if the system has not the memory.
        """
        size = copies * self._model.workspace_size(n_examples)
        if self._model.workspace.size < size:
            self._model.workspace = allocate(size, self.dtype,
                                             f"the workspace for a batch of {n_examples} rows"
                                             + (f" on {copies} threads" if copies > 1 else ""))
        return self._model.workspace

    def check_data(self, X: Features, y: npt.ArrayLike,
                   sample_weight: Optional[npt.ArrayLike] = None, *,
                   assume_finite: bool = False) -> CheckedData:
        """Check X, y and sample_weight for the compiled core.

        For nnbp's own modules: the data are checked once, then the compiled
        passes (compiled_loss, nnbp.training's epochs) take them unchecked.

        Parameters
        ----------
        X : array_like or scipy sparse matrix of shape (n, m_0)
            The rows; a sparse X is converted to CSR.
        y : array_like
            Class indices for the softmax output, else targets of shape (n, m_L) or (n,).
        sample_weight : array_like of shape (n,) or None, default=None
            Non-negative weights of the rows; None: all 1.
        assume_finite : bool, default=False
            Skip the pass over X's values where X is taken as it is: its
            caller has checked them (the estimators, through scikit-learn's
            validation). Named after scikit-learn's setting of the same role.

        Returns
        -------
        CheckedData
            In the network's dtype, copied only where the checks must convert.

        Raises
        ------
        ValueError, TypeError
            Naming the argument that does not fit the network.
        """
        X = check_features(X, self.layer_sizes[0], self.dtype, assume_finite)
        return CheckedData(X, *check_loss_data(self.output, y, sample_weight, X.shape[0],
                                               self.layer_sizes[-1], self.dtype))

    def _loss_data(self, X: Features, y: npt.ArrayLike,
                   sample_weight: Optional[npt.ArrayLike]) -> CheckedData:
        """check_data, less the examples of weight 0.

        They are left out rather than multiplied by 0: their loss or hidden
        values may overflow to inf (poisson's e^z), and 0 * inf is NaN.
        """
        data = self.check_data(X, y, sample_weight)
        weight = data.sample_weight
        if weight is not None and not weight.all():
            kept = weight != 0
            data = data._replace(
                X=data.X[kept], sample_weight=weight[kept],
                targets=None if data.targets is None else data.targets[kept],
                labels=None if data.labels is None else data.labels[kept])
        return data

    def forward(self, X: Features) -> np.ndarray:
        """Compute the network's outputs f(X).

        Parameters
        ----------
        X : array_like or scipy sparse matrix of shape (n, m_0)
            The rows: an array, or a scipy sparse matrix or array (taken as
            CSR; only the first layer reads it).

        Returns
        -------
        ndarray of shape (n, m_L)
            In the network's dtype: probabilities for the logistic and softmax
            outputs, e^z for poisson, z for squared.

        Raises
        ------
        ValueError, TypeError
            Naming X, for rows the network cannot take.

        See Also
        --------
        loss : The loss of the outputs against targets.

        Examples
        --------
        >>> import numpy as np
        >>> from nnbp import Network
        >>> net = Network([4, 5, 3], output="softmax", seed=0)
        >>> probabilities = net.forward(np.ones((2, 4)))
        >>> probabilities.shape, np.allclose(probabilities.sum(axis=1), 1)
        ((2, 3), True)
        """
        return self.forward_checked(check_features(X, self.layer_sizes[0], self.dtype))

    def hidden_activations(self, X: Features) -> list[tuple[np.ndarray, np.ndarray]]:
        """The hidden layers' values on the rows of X: (z(l), x(l) = phi(z(l))) for l = 1..L-1.

        Each layer is computed by the compiled layer kernels that the network's
        forward pass uses (nnbp.layers.dense_forward), in the network's dtype.

        Parameters
        ----------
        X : array_like or scipy sparse of shape (n, m_0)
            Checked as forward checks it.

        Returns
        -------
        list of (ndarray, ndarray)
            For hidden layer l at index l - 1: Z and A, each of shape (n, m_l).

        Raises
        ------
        ValueError, TypeError
            Naming X, for rows the network cannot take.
        """
        x = check_features(X, self.layer_sizes[0], self.dtype)
        values = []
        for W, b in zip(self._weights[:-1], self._biases[:-1]):
            Z, x = layers.dense_forward(x, W, b, self.activation, self.negative_slope)
            values.append((Z, x))
        return values

    def forward_checked(self, X: Any) -> np.ndarray:
        """Compute forward's outputs for rows that need no check.

        For nnbp's own modules (the estimators' predict): X is what
        check_data would give, and is not checked here.

        Parameters
        ----------
        X : ndarray or scipy.sparse.csr_matrix of shape (n, m_0)
            C-contiguous, aligned, finite, of the network's dtype: unchecked here.

        Returns
        -------
        ndarray of shape (n, m_L)
            The outputs f(X), as forward gives them.
        """
        out = np.empty((X.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        rows = X.shape[0]
        # A sparse X's rows go through on one thread (see _core.network_forward).
        flops = self.flops_per_layer(rows, backward=False) if isinstance(X, np.ndarray) else 0
        with self.compiled(flops, rows) as model:
            # Each thread takes its share of the rows, a block at a time.
            threads = min(model.threads, rows)     # as many as _core.network_forward takes
            block_rows = min(-(-rows // threads), FORWARD_BLOCK_ROWS)
            self.workspace_for(block_rows, threads)
            _core.network_forward(model, self._params, X, out, block_rows)
        return out

    def flops_per_layer(self, rows: int, backward: bool = True) -> float:
        """Count the flops of the matrix products of a pass, per layer.

        For nnbp's own modules: the work between two of a team's meetings,
        which decides whether a team of threads pays (nnbp._threads.team).

        Parameters
        ----------
        rows : int
            Rows of the batch.
        backward : bool, default=True
            Count the backward pass's products too.

        Returns
        -------
        float
            2 x rows x the products' multiply-adds, divided by the layers.
        """
        products = 3 * self.n_weights - self.layer_sizes[0] * self.layer_sizes[1] \
            if backward else self.n_weights
        return 2.0 * rows * products / (len(self.layer_sizes) - 1)

    def compiled_loss(self, data: CheckedData, grad: Optional[np.ndarray],
                      params: Optional[np.ndarray] = None,
                      loss: Optional[losses.Loss] = None,
                      dropout_masks: Optional[np.ndarray] = None) -> float:
        """The loss, and the gradient into grad unless it is None, of checked data.

        For nnbp's own modules: the compiled core trusts its input, so data
        must come from check_data and grad be a C-contiguous vector like params.

        Parameters
        ----------
        data : CheckedData
            From check_data (total may be another sum of weights: a shard's
            loss is divided by the whole cluster's).
        grad : ndarray or None
            Receives the gradient, in params' layout.
        params : ndarray or None
            A vector like self.params to evaluate at instead (scipy's iterate).
        loss : nnbp.losses.Loss or None
            A loss object, checked by check_loss, in place of the output's
            canonical loss.
        dropout_masks : ndarray or None
            From check_dropout_masks: each hidden layer's activations
            multiplied by these factors.

        Returns
        -------
        float
            The loss, penalty included.
        """
        if dropout_masks is not None:
            return self._masked_loss(data, grad, params, loss, dropout_masks)
        if loss is not None and loss.compiled is None:
            return self._loss_object_loss(data, grad, self._params if params is None
                                          else params, loss)
        rows = data.X.shape[0]
        flops = self.flops_per_layer(rows, grad is not None)
        with self.compiled(flops, rows, None if loss is None else loss.compiled) as model:
            self.workspace_for(rows)
            return _core.network_loss_grad(model, self._params if params is None else params,
                                           data, grad)

    def _masked_loss(self, data: CheckedData, grad: Optional[np.ndarray],
                     params: Optional[np.ndarray], loss: Optional[losses.Loss],
                     dropout_masks: np.ndarray) -> float:
        """compiled_loss with each hidden layer's activations multiplied by given factors
        (the model's dropout, for this call alone)."""
        if loss is not None and loss.compiled is None:
            raise ValueError(f"dropout masks take a compiled loss (the output's own, or a "
                             f"built-in one of nnbp.losses), not {loss!r}")
        rows = data.X.shape[0]
        flops = self.flops_per_layer(rows, grad is not None)
        with self.compiled(flops, rows, None if loss is None else loss.compiled) as model:
            model.set_dropout_masks(dropout_masks)
            try:
                self.workspace_for(rows)
                return _core.network_loss_grad(model, self._params if params is None
                                               else params, data, grad)
            finally:
                model.set_dropout(None, 0)

    def check_dropout(self, dropout: Union[float, Sequence[float]]
                      ) -> Optional[tuple[float, ...]]:
        """Check dropout's rates for this network's hidden layers.

        For nnbp's own modules (training, estimators): dropout= is checked once,
        at the boundary.

        Parameters
        ----------
        dropout : float or sequence of float
            One rate for every hidden layer, or one per hidden layer; each
            0 <= p < 1.

        Returns
        -------
        tuple of float or None
            One rate per hidden layer; None when every rate is 0.

        Raises
        ------
        ValueError
            For a rate out of [0, 1), a sequence of another length than the
            hidden layers, or a rate above 0 for a network without hidden layers.
        TypeError
            For a dropout that is neither a number nor a sequence of them.
        """
        return check_dropout(dropout, len(self.layer_sizes) - 2)

    def check_dropout_masks(self, masks: Sequence[npt.ArrayLike], rows: int) -> np.ndarray:
        """Given dropout factors as the compiled core takes them: one vector.

        For nnbp's own modules: loss and loss_and_grad's dropout_masks, checked.

        Parameters
        ----------
        masks : sequence of array_like
            One (rows, m_l) array per hidden layer l = 1..L-1, finite.
        rows : int
            The rows of the call's X.

        Returns
        -------
        ndarray
            The arrays one after the other, in the network's dtype.

        Raises
        ------
        ValueError, TypeError
            Naming the mask of the wrong number, shape or values.
        """
        hidden = self.layer_sizes[1:-1]
        if isinstance(masks, np.ndarray) or not isinstance(masks, Sequence) \
                or len(masks) != len(hidden):
            raise ValueError(f"dropout_masks must be a sequence of one array per hidden layer "
                             f"({len(hidden)}), got {type(masks).__name__}"
                             + (f" of {len(masks)}" if isinstance(masks, Sequence) else ""))
        checked = [check_matrix(f"dropout_masks[{k}]", mask, self.dtype, shape=(rows, width))
                   for k, (mask, width) in enumerate(zip(masks, hidden))]
        return np.ascontiguousarray(np.concatenate([mask.reshape(-1) for mask in checked]),
                                    dtype=self.dtype)

    def dropout_masks(self, rows: int, dropout: Union[float, Sequence[float]], seed: int,
                      step: int = 0) -> list[np.ndarray]:
        """The dropout factors that training draws for a batch: A(l) is multiplied by them.

        Inverted dropout keeps each hidden unit of each row with probability
        1 - p and scales what it keeps by 1 / (1 - p): the factor is
        1 / (1 - p) or 0. The draw is a counter-based hash of (seed, step,
        layer, row, unit): the same on any number of threads. Training draws
        each epoch's seed from its random_state, and step is the batch's
        number in the epoch (from 0).

        Parameters
        ----------
        rows : int
            The rows of the batch.
        dropout : float or sequence of float
            As check_dropout takes it.
        seed : int
            0 <= seed < 2**64.
        step : int, default=0
            The batch's number, 0 <= step < 2**64.

        Returns
        -------
        list of ndarray
            One (rows, m_l) array per hidden layer, in the network's dtype, to
            pass as loss_and_grad's dropout_masks.

        Raises
        ------
        ValueError, TypeError
            For bad rates (see check_dropout), rows, seed or step.

        See Also
        --------
        loss_and_grad : Takes them as dropout_masks.
        nnbp.reference.dropout_mask : The same factors, in plain Python.

        Examples
        --------
        >>> from nnbp import Network
        >>> net = Network([3, 4, 2], seed=0)
        >>> [mask.shape for mask in net.dropout_masks(5, 0.5, seed=1)]
        [(5, 4)]
        """
        rows = check_positive_int("rows", rows)
        for name, value in (("seed", seed), ("step", step)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or not 0 <= value < 2**64:
                raise ValueError(f"{name} must be an int of 0 .. 2**64 - 1, got {value!r}")
        rates = check_dropout(dropout, len(self.layer_sizes) - 2) \
            or (0.0,) * (len(self.layer_sizes) - 2)
        masks = []
        for layer, (rate, width) in enumerate(zip(rates, self.layer_sizes[1:-1]), start=1):
            mask = np.empty((rows, width), dtype=self.dtype)
            _core.dropout_mask(int(seed), int(step), layer, rate, mask)
            masks.append(mask)
        return masks

    def _loss_object_loss(self, data: CheckedData, grad: Optional[np.ndarray],
                          params: np.ndarray, loss: losses.Loss) -> float:
        """compiled_loss by a loss computed in Python: the logits, the loss object's
        value and gradient, then the backward pass of that gradient.

        Two compiled calls, each with the network's lock: the loss object runs
        between them, free to use the network (as it could not under the
        lock), at the cost of the forward pass made again by the second.
        """
        rows = data.X.shape[0]
        Z = np.empty((rows, self.layer_sizes[-1]), dtype=self.dtype)
        with self.compiled(self.flops_per_layer(rows, backward=False), rows) as model:
            self.workspace_for(rows)
            _core.network_logits(model, params, data.X, Z)
        y = data.targets if data.labels is None else data.labels
        if y is None:
            raise ValueError("checked data holds neither labels nor targets")
        value, G = loss.loss_gradient(y, Z, data.sample_weight)
        # The loss object divides by its own S = sum_i s_i; data.total may be
        # another (a shard's loss is divided by the whole cluster's).
        ratio = (rows if data.sample_weight is None
                 else float(data.sample_weight.sum(dtype=np.float64))) / data.total
        value = float(value) * ratio if ratio != 1 else float(value)
        if grad is not None:
            G = check_matrix(f"the gradient that {loss!r} returned", G, self.dtype,
                             shape=Z.shape)
            if ratio != 1:
                G = G * self.dtype.type(ratio)
            with self.compiled(self.flops_per_layer(rows), rows) as model:
                self.workspace_for(rows)
                _core.network_vjp(model, params, data.X, G, False, grad, None)
            self.l2_penalty(params, data.total, grad)
        if not self.alpha:
            return value
        # The penalty's sum in double, in the compiled loss's order: the same
        # loss as a built-in loss object's, to the last bit.
        return value + self.alpha / (2 * data.total) * _core.penalty_sum(self._model, params)

    def check_loss(self, loss: Any) -> Optional[losses.Loss]:
        """A loss object for this network's loss= arguments, or None for None.

        For nnbp's own modules (gradcheck, training, optim): loss= is checked
        once, at the boundary.

        Parameters
        ----------
        loss : nnbp.losses.Loss, callable or None
            A loss object, a function (y_true, raw_prediction, sample_weight)
            -> (loss, gradient) (nnbp.losses.as_loss), or None: the output's
            canonical loss.

        Returns
        -------
        nnbp.losses.Loss or None
            The loss object.

        Raises
        ------
        TypeError
            If loss is none of those.
        ValueError
            If the loss is made for another output than the network's.
        """
        if loss is None:
            return None
        loss = losses.as_loss(loss)
        if loss.output is not None and loss.output != self.output:
            raise ValueError(f"the loss {loss!r} takes the logits of the {loss.output!r} "
                             f"output, but the network's output is {self.output!r}")
        return loss

    def l2_penalty(self, params: np.ndarray, weight_total: float,
                   grad: Optional[np.ndarray] = None) -> float:
        """The L2 penalty alpha/(2S) sum_l ||W(l)||^2 at params, its gradient added into grad.

        The share of the loss that alpha adds, for a loss summed elsewhere
        without it (nnbp.dask's shards: the penalty is added once, not per
        shard). The compiled passes (loss, loss_and_grad, training) add the
        same penalty themselves.

        Parameters
        ----------
        params : ndarray
            A vector like self.params.
        weight_total : float
            S, the sum of the sample weights (or the rows) of the whole loss.
        grad : ndarray or None
            A vector like params: (alpha/S) W(l) is added to its weights.

        Returns
        -------
        float
            The penalty alpha/(2S) sum_l ||W(l)||^2 at params; 0 when alpha is 0.
        """
        if not self.alpha:
            return 0.0
        weights = params[:self.n_weights]
        scale = self.alpha / weight_total
        if grad is not None:
            grad[:self.n_weights] += self.dtype.type(scale) * weights
        return 0.5 * scale * float(np.dot(weights, weights))

    def loss(self, X: Features, y: npt.ArrayLike,
             sample_weight: Optional[npt.ArrayLike] = None, *,
             loss: Optional[Any] = None,
             dropout_masks: Optional[Sequence[npt.ArrayLike]] = None) -> float:
        """Compute the loss (1/S) sum_i s_i loss(y_i, f(x_i)) + alpha/(2S) sum_l ||W(l)||^2.

        S = sum_i s_i, the sum of the weights (n without them).

        Parameters
        ----------
        X : array_like or scipy sparse matrix of shape (n, m_0)
            The rows, as forward takes them.
        y : array_like
            Class indices of shape (n,) for the softmax output; else targets
            of shape (n, m_L), or (n,) for one output.
        sample_weight : array_like of shape (n,) or None, default=None
            Non-negative weights of the rows; None: all 1.
        loss : nnbp.losses.Loss, callable or None, default=None
            A loss of the logits in place of the output's canonical loss
            (see nnbp.losses): its weighted mean, plus the penalty.
        dropout_masks : sequence of array_like or None, default=None
            One (n, m_l) array per hidden layer: the loss of the network whose
            hidden activations A(l) are multiplied by them, as dropout does
            in training with the factors of dropout_masks(). None: no dropout.

        Returns
        -------
        float
            The loss, penalty included.

        Raises
        ------
        ValueError, TypeError
            Naming the argument that does not fit the network.

        See Also
        --------
        loss_and_grad : The loss and its gradient.
        """
        loss_object = self.check_loss(loss)
        data = self._loss_data(X, y, sample_weight)
        masks = None if dropout_masks is None else self.check_dropout_masks(
            dropout_masks, data.X.shape[0])
        return self.compiled_loss(data, None, loss=loss_object, dropout_masks=masks)

    def loss_and_grad(self, X: Features, y: npt.ArrayLike,
                      sample_weight: Optional[npt.ArrayLike] = None,
                      out: Optional[np.ndarray] = None, *,
                      loss: Optional[Any] = None,
                      dropout_masks: Optional[Sequence[npt.ArrayLike]] = None
                      ) -> tuple[float, np.ndarray]:
        """Compute the loss and its gradient with respect to params.

        Parameters
        ----------
        X : array_like or scipy sparse matrix of shape (n, m_0)
            The rows, as forward takes them.
        y : array_like
            Class indices of shape (n,) for the softmax output; else targets
            of shape (n, m_L), or (n,) for one output.
        sample_weight : array_like of shape (n,) or None, default=None
            Non-negative weights of the rows; None: all 1.
        out : ndarray or None, default=None
            A C-contiguous array of params' shape and dtype that receives the
            gradient; it must share no memory with params, X, y or
            sample_weight. None: a new array.
        loss : nnbp.losses.Loss, callable or None, default=None
            A loss of the logits in place of the output's canonical loss
            (see nnbp.losses). The built-in ones run compiled; another runs
            in Python between the forward pass and the backward pass of its
            gradient (Network.vjp), which then makes the forward pass again.
        dropout_masks : sequence of array_like or None, default=None
            One (n, m_l) array per hidden layer, as loss takes them: the loss
            and gradient of the network with its hidden activations
            multiplied by these fixed factors (dropout with a fixed mask,
            which finite differences can check). None: no dropout.

        Returns
        -------
        loss : float
            The loss, as loss gives it.
        grad : ndarray of shape (n_params,)
            The gradient, in params' layout (out, if given).

        Raises
        ------
        ValueError
            If out is not such an array, or shares memory (the message names
            with what), or for data that do not fit the network.

        See Also
        --------
        loss : The loss alone.
        nnbp.check_gradients : Verifies this gradient by finite differences.

        Examples
        --------
        >>> import numpy as np
        >>> from nnbp import Network
        >>> net = Network([3, 4, 1], output="squared", seed=0)
        >>> X, y = np.ones((5, 3)), np.zeros(5)
        >>> loss, grad = net.loss_and_grad(X, y)
        >>> grad.shape, net.n_params
        ((21,), 21)
        """
        loss_object = self.check_loss(loss)
        if out is None:
            out = allocate(self.n_params, self.dtype, "the gradient")
        elif (not isinstance(out, np.ndarray) or out.shape != self._params.shape
              or out.dtype != self.dtype or not out.flags.c_contiguous or not out.flags.writeable
              or not out.flags.aligned):
            raise ValueError(
                f"out must be a writeable C-contiguous {self.dtype} array of shape "
                f"{self._params.shape}, aligned as NumPy allocates it"
            )
        else:
            # The passes read the weights and the data while the gradient is written.
            check_out_alone("out", out, **{"the network's parameters": self._params},
                            X=X, y=y, sample_weight=sample_weight)
        data = self._loss_data(X, y, sample_weight)
        masks = None if dropout_masks is None else self.check_dropout_masks(
            dropout_masks, data.X.shape[0])
        return self.compiled_loss(data, out, loss=loss_object, dropout_masks=masks), out

    # ------------------------------------------------------------ any loss's gradient

    def logits(self, X: Features) -> np.ndarray:
        """Compute the logits z(L) of the rows of X: the outputs before phi_out.

        The raw outputs a loss object takes (nnbp.losses), on the compiled
        forward pass.

        Parameters
        ----------
        X : array_like or scipy sparse matrix of shape (n, m_0)
            The rows, as forward takes them.

        Returns
        -------
        ndarray of shape (n, m_L)
            The logits Z(L) = X(L-1) W(L)^T + b(L), in the network's dtype;
            forward(X) is phi_out of them.

        Raises
        ------
        ValueError, TypeError
            Naming X, for rows the network cannot take.

        See Also
        --------
        forward : The outputs, phi_out of the logits.
        vjp : The gradient of a loss of the logits.

        Examples
        --------
        >>> import numpy as np
        >>> from nnbp import Network
        >>> net = Network([4, 5, 3], output="softmax", seed=0)
        >>> X = np.ones((2, 4))
        >>> Z = net.logits(X)
        >>> np.allclose(np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True), net.forward(X))
        True
        """
        X = check_features(X, self.layer_sizes[0], self.dtype)
        rows = X.shape[0]
        out = np.empty((rows, self.layer_sizes[-1]), dtype=self.dtype)
        flops = self.flops_per_layer(rows, backward=False)
        with self.compiled(flops, rows) as model:
            self.workspace_for(rows)
            _core.network_logits(model, self._params, X, out)
        return out

    def vjp(self, X: Features, upstream: npt.ArrayLike, *, wrt: str = "output",
            input_gradient: bool = False) -> Union[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Backpropagate a loss's gradient: the vector-Jacobian product of the network.

        For any loss l(f(X)) of the network's outputs, given its gradient
        G = dl/dF with respect to the outputs F = forward(X) (wrt="output"), or
        G = dl/dZ with respect to the logits Z = logits(X) (wrt="logits"),
        returns

            dl/dparams = sum_i sum_k G[i, k] d(F or Z)[i, k]/dparams

        in the layout of params, by the compiled backward pass that
        loss_and_grad runs (with G in place of its fused f - y), and on request
        dl/dX = sum_k G[:, k] d(F or Z)[:, k]/dX. The L2 penalty (alpha) is no
        part of it: add (alpha/S) W(l) to a loss's gradient yourself.

        Both cost the same: with wrt="output", G goes back through phi_out's
        Jacobian first (J^T G, one elementwise pass over the outputs).

        Parameters
        ----------
        X : array_like or scipy sparse matrix of shape (n, m_0)
            The rows, as forward takes them.
        upstream : array_like of shape (n, m_L), or (n,) for one output
            G: the loss's gradient with respect to the outputs or the logits
            of the rows of X. Finite.
        wrt : {"output", "logits"}, default="output"
            What upstream is the gradient with respect to: the outputs
            f = phi_out(z(L)) (probabilities for softmax and logistic, e^z for
            poisson, z for squared), or the logits z(L).
        input_gradient : bool, default=False
            Also return dl/dX. Not for a sparse X.

        Returns
        -------
        grad : ndarray of shape (n_params,)
            The gradient dl/dparams, in params' layout and the network's dtype.
        grad_X : ndarray of shape (n, m_0)
            The gradient dl/dX, in the network's dtype; returned only with
            input_gradient.

        Raises
        ------
        ValueError, TypeError
            Naming the argument: wrt unknown, upstream not of shape (n, m_L)
            or not finite, input_gradient for a sparse X, or rows the
            network cannot take.

        See Also
        --------
        logits : The logits whose gradient wrt="logits" takes.
        loss_and_grad : The gradient of the network's own loss.
        nnbp.gradcheck.central_differences : A check of it by finite differences.

        Examples
        --------
        The gradient of the loss 1/2 sum f^2, then of its value dl/dF = F:

        >>> import numpy as np
        >>> from nnbp import Network
        >>> net = Network([3, 4, 2], activation="tanh", output="logistic", seed=0)
        >>> X = np.ones((5, 3))
        >>> grad, grad_X = net.vjp(X, net.forward(X), input_gradient=True)
        >>> grad.shape, grad_X.shape
        ((26,), (5, 3))
        """
        check_choice("wrt", wrt, ("output", "logits"))
        if not isinstance(input_gradient, (bool, np.bool_)):
            raise TypeError(f"input_gradient must be True or False, got {input_gradient!r}")
        X = check_features(X, self.layer_sizes[0], self.dtype)
        if input_gradient and not isinstance(X, np.ndarray):
            raise ValueError("input_gradient=True needs a dense X: the gradient with "
                             "respect to a sparse X is dense, and is not computed; "
                             "pass X.toarray()")
        G = self._upstream(upstream, X.shape[0])
        grad = allocate(self.n_params, self.dtype, "the gradient")
        grad_X = np.empty(X.shape, dtype=self.dtype) if input_gradient else None
        rows = X.shape[0]
        with self.compiled(self.flops_per_layer(rows), rows) as model:
            self.workspace_for(rows)
            _core.network_vjp(model, self._params, X, G, wrt == "output", grad, grad_X)
        if grad_X is None:
            return grad
        return grad, grad_X

    def _upstream(self, upstream: npt.ArrayLike, rows: int) -> np.ndarray:
        """upstream as vjp takes it: a finite C-contiguous (rows, m_L) array of the dtype."""
        width = self.layer_sizes[-1]
        if np.ndim(upstream) == 1 and width == 1:
            upstream = np.reshape(upstream, (-1, 1))
        return check_matrix("upstream", upstream, self.dtype, shape=(rows, width))

    # ------------------------------------------------------------ Python protocol

    def config(self) -> dict[str, Any]:
        """Give the constructor's arguments, less seed.

        Returns
        -------
        dict
            {argument: value}: ``Network(**net.config())`` is a network of the
            same shape, hyperparameters and dtype (its name), with new
            parameters.
        """
        return dict(layer_sizes=self.layer_sizes, activation=self.activation,
                    output=self.output, dtype=self.dtype.name, alpha=self.alpha,
                    bias=self.bias, init=self.init, sigma=self.sigma,
                    negative_slope=self.negative_slope)

    def copy(self, dtype: Optional[npt.DTypeLike] = None) -> Network:
        """Copy the network: its shape, parameters and metadata.

        Parameters
        ----------
        dtype : {numpy.float64, numpy.float32}, str or None, default=None
            The copy's dtype, to which the parameters are converted; None: the
            network's.

        Returns
        -------
        Network
            The copy, which shares no memory with the network.
        """
        config = self.config()
        if dtype is not None:
            config["dtype"] = dtype
        twin = Network(**config)
        twin.params = self._params
        twin.metadata = copy.deepcopy(self.metadata)
        return twin

    def save(self, path: Union[str, os.PathLike[str]],
             metadata: Optional[dict[str, Any]] = None) -> None:
        """Write the network to path, without pickle; nnbp.load(path) reads it back.

        Parameters
        ----------
        path : str or os.PathLike
            The file, written exactly as given, with no ".npz" appended. A
            save never destroys the previous file (see nnbp.io).
        metadata : dict or None, default=None
            JSON data (str, int, float, bool, None, and lists and dicts of
            them), such as {"classes": [...]}; None keeps self.metadata.

        See Also
        --------
        nnbp.load : Reads it back.
        nnbp.io : The format.
        """
        io.save(self, path, metadata)

    def __nnbp_saved_state__(self) -> io.SavedModel:
        """What nnbp.io.save writes of the network."""
        return io.SavedModel("Network", self.config(), self._params, self.metadata)

    @classmethod
    def __nnbp_from_saved_state__(cls, config: dict[str, Any], params: np.ndarray,
                                  metadata: dict[str, Any]) -> Network:
        """The network of a model file's config, parameters and metadata, as nnbp.io.read
        checked them; a TypeError or ValueError if Network refuses the config."""
        network = cls(**config)
        network.params = params
        network.metadata = metadata
        return network

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config(), "params": self._params.copy(),
                "metadata": copy.deepcopy(self.metadata)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        type(self).__init__(self, **state["config"])
        self.params = state["params"]
        self.metadata = state.get("metadata", {})   # absent from older pickles

    def __repr__(self) -> str:
        return (f"Network({list(self.layer_sizes)}, activation={self.activation!r}, "
                f"output={self.output!r}, dtype={self.dtype.name}, alpha={self.alpha}, "
                f"bias={self.bias})")
