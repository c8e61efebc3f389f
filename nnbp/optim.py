"""Optimizers on the flat parameter vector: gd, sgd (momentum, Nesterov), adam, lbfgs.

The stochastic ones hold their state (velocity; Adam's moments) as flat
vectors in the layout of ``Network.params`` and update it in one compiled
pass (csrc/kernels_impl.h), with scikit-learn's arithmetic operation for
operation. Their learning-rate schedules are scikit-learn's:

- "constant": the learning rate stays as given;
- "invscaling": after each epoch, lr = learning_rate / (t + 1) ** power_t,
  t the number of examples seen;
- "adaptive": divided by 5 each time the loss stops improving (see
  nnbp.training), until it falls below 1e-6.

Both also take, beyond scikit-learn's:

- "cosine": at update t = 0, 1, ..., lr = learning_rate (t + 1) / (W + 1)
  for the W warm-up updates, then learning_rate (1 + cos(pi (t - W) / (T -
  W))) / 2 until the T-th update, then 0 (nnbp.reference.cosine_learning_rate;
  torch's LinearLR then CosineAnnealingLR). It moves at every update, inside
  the compiled epoch. Adam's bias correction applies on top of it. sgd's
  velocity, v = mu v - lr g (scikit-learn's), carries the rates of earlier
  updates, where torch's SGD scales its momentum buffer by the current rate:
  on a changing schedule the two differ.
- weight_decay: decoupled weight decay, p = (1 - lr wd) p before each update,
  lr the scheduled learning rate (torch's AdamW; for sgd, SGDW). It decays
  every parameter, the biases too, as torch's optimizers do by default, and
  is apart from the estimators' alpha, the L2 penalty in the loss.
- max_grad_norm: each batch's gradient g, the whole flat vector, is scaled by
  min(1, max_grad_norm / (||g|| + 1e-6)) before its update (torch's
  ``clip_grad_norm_``).

L-BFGS is scipy.optimize.minimize(method="L-BFGS-B", jac=True) on the
network's own loss_and_grad.

The optimizers' ``compiled`` and ``state`` are for nnbp's own modules
(nnbp.training's epochs, nnbp.dask's averaging), not the public API.

Examples
--------
>>> import numpy as np
>>> from nnbp import Network
>>> from nnbp.optim import SGD
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((50, 3))
>>> y = X @ [1.0, -2.0, 0.5]
>>> net = Network([3, 8, 1], activation="tanh", output="squared", seed=0)
>>> loss, grad = net.loss_and_grad(X, y)
>>> SGD(learning_rate=0.01).start(net.params).step(net.params, grad)
>>> net.loss(X, y) < loss
True
"""
from __future__ import annotations

from collections.abc import Callable
from numbers import Integral
from typing import Any, Optional, TypeGuard

import numpy as np
import numpy.typing as npt
import scipy.optimize

from nnbp import _core, _threads
from nnbp._memory import allocate, check_available
from nnbp._validation import check_choice, check_out_alone, check_real
from nnbp.network import Features, Network
from nnbp.training import DivergenceError

__all__ = [
    "ADAM_SCHEDULES",
    "Adam",
    "LBFGS_CORRECTIONS",
    "SCHEDULES",
    "SGD",
    "SMALLEST_ADAPTIVE_RATE",
    "minimize_lbfgs",
    "minimize_objective_lbfgs",
]

SCHEDULES = ("constant", "invscaling", "adaptive", "cosine")
# Adam's schedules: its step size is corrected at every step, and scikit-learn
# gives it no schedule; the cosine one is torch's custom with AdamW.
ADAM_SCHEDULES = ("constant", "cosine")
# The adaptive schedule stops once the learning rate is this small.
SMALLEST_ADAPTIVE_RATE = 1e-6


class SGD:
    """Stochastic gradient descent with momentum: v = mu v - lr g; p += v.

    With nesterov=True, p += mu v - lr g with the new v: the step looks ahead
    along the updated velocity. momentum=0 is plain gradient descent, p -= lr g; full
    batch (batch_size = n) it is the lecture's W <- W - eta dL/dW. The update
    is scikit-learn's SGDOptimizer's, in one compiled pass over the flat
    parameter vector.

    Parameters
    ----------
    learning_rate : float, default=0.1
        The initial learning rate lr, > 0.
    momentum : float, default=0.9
        The momentum mu, in [0, 1]; 0 keeps no velocity.
    nesterov : bool, default=True
        Whether to take Nesterov's look-ahead step.
    schedule : {"constant", "invscaling", "adaptive", "cosine"}, default="constant"
        The learning-rate schedule (see the module's docstring).
    power_t : float, default=0.5
        The exponent of the "invscaling" schedule, >= 0.
    weight_decay : float, default=0.0
        Decoupled weight decay, >= 0: p = (1 - lr wd) p before each update
        (SGDW; torch's SGD couples its weight_decay to the gradient, which
        is the estimators' alpha here). 0: none.
    max_grad_norm : float or None, default=None
        Clip each batch's gradient to this global norm, > 0 (torch's
        ``clip_grad_norm_``). None: no clipping.
    warmup_steps : int, default=0
        The cosine schedule's linear warm-up, in updates, 0 <= warmup_steps
        <= total_steps.
    total_steps : int or None, default=None
        The cosine schedule's updates in all, >= 1; required by it.

    Attributes
    ----------
    learning_rate_init : float
        The learning rate given.
    learning_rate : float
        The current learning rate, as the schedule has changed it.
    velocity : ndarray or None
        v, in the layout of the parameters; None before start, or with
        momentum 0.
    updates : int
        The updates made since start, which the cosine schedule counts.
    name : str
        "sgd", the estimators' solver.

    Raises
    ------
    ValueError
        For a number out of its range, or an unknown schedule.

    See Also
    --------
    Adam : The Adam optimizer.
    nnbp.StochasticTrainer : Trains a network with either.

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
    >>> trainer.fit(X, y, max_epochs=100) in ("stopped", "max_epochs")
    True
    >>> net.loss(X, y) < 0.1
    True
    """

    name = "sgd"
    # Set by _check_extras, as SGD and Adam share them.
    weight_decay: float
    max_grad_norm: Optional[float]
    warmup_steps: int
    total_steps: Optional[int]

    def __init__(self, learning_rate: float = 0.1, momentum: float = 0.9,
                 nesterov: bool = True, schedule: str = "constant",
                 power_t: float = 0.5, weight_decay: float = 0.0,
                 max_grad_norm: Optional[float] = None, warmup_steps: int = 0,
                 total_steps: Optional[int] = None) -> None:
        self.learning_rate_init = check_real("learning_rate", learning_rate,
                                             strictly_above=0.0)
        self.momentum = check_real("momentum", momentum, minimum=0.0, maximum=1.0)
        self.nesterov = bool(nesterov)
        self.schedule = check_choice("schedule", schedule, SCHEDULES)
        self.power_t = check_real("power_t", power_t, minimum=0.0)
        _check_extras(self, weight_decay, max_grad_norm, warmup_steps, total_steps)
        self.learning_rate = self.learning_rate_init
        self.velocity: Optional[np.ndarray] = None
        self.updates = 0

    def start(self, params: np.ndarray) -> SGD:
        """Start afresh: the initial learning rate, and a zero velocity for params.

        Parameters
        ----------
        params : ndarray
            A parameter vector, such as Network.params: the velocity takes
            its shape and dtype (refilled with zeros if it has them already).

        Returns
        -------
        SGD
            The optimizer itself.
        """
        self.learning_rate = self.learning_rate_init
        self.velocity = _zeroed_state(self.velocity, params) if self.momentum != 0 else None
        self.updates = 0
        return self

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Update params in place from its gradient, one step.

        Parameters
        ----------
        params : ndarray
            A writeable C-contiguous float32 or float64 vector, such as
            Network.params; a velocity of another shape or dtype starts afresh.
        grad : ndarray
            The gradient at params: a C-contiguous vector like it, which
            shares no memory with it.

        Raises
        ------
        ValueError
            If params or grad is not such a vector.
        """
        _check_step(params, grad)
        if self.momentum != 0 and not _is_state_for(self.velocity, params):
            self.start(params)
        compiled = self.compiled()
        _core.update(compiled, params, grad)
        self.updates = compiled.updates
        self._follow_cosine()

    def compiled(self) -> _core.Optimizer:
        """Give the optimizer as the compiled core takes it.

        For nnbp's own modules (nnbp.training's epochs).

        Returns
        -------
        nnbp._core.Optimizer
            The hyperparameters at the current learning rate, and the
            velocity, which the core updates in place.
        """
        # The cosine schedule is formed from the initial rate, at every update.
        rate = self.learning_rate_init if self.schedule == "cosine" else self.learning_rate
        return _with_extras(self, _core.Optimizer.sgd(rate, self.momentum, self.nesterov,
                                                      self.velocity))

    def state(self) -> tuple[Optional[np.ndarray], None]:
        """Give the state vectors, which nnbp.dask averages across a cluster.

        For nnbp's own modules.

        Returns
        -------
        tuple of (ndarray or None, None)
            (velocity, None): the velocity is None with momentum 0.
        """
        return self.velocity, None

    @property
    def steps(self) -> int:
        """Updates counted for a bias correction: sgd has none, 0."""
        return 0

    def epoch_done(self, steps: int, examples_seen: int) -> None:
        """Follow the schedule after an epoch: "invscaling" lowers the learning rate.

        Parameters
        ----------
        steps : int
            The updates of the epoch (unused by sgd).
        examples_seen : int
            The examples seen in all so far, t.
        """
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (examples_seen + 1) ** self.power_t
        self._follow_cosine()

    def _follow_cosine(self) -> None:
        """With the cosine schedule, learning_rate: the next update's."""
        if self.schedule == "cosine":
            self.learning_rate = _core.cosine_learning_rate(
                self.learning_rate_init, self.updates, self.warmup_steps, self.total_steps)

    def plateau(self) -> bool:
        """Decide, now that the loss has stopped improving, whether to stop.

        Returns
        -------
        bool
            False (go on) with the "adaptive" schedule, the learning rate
            divided by 5, until it falls to 1e-6; True (stop) otherwise.
        """
        if self.schedule != "adaptive" or self.learning_rate <= SMALLEST_ADAPTIVE_RATE:
            return True
        self.learning_rate /= 5.0
        return False

class Adam:
    """Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr_t m / (sqrt(v) + eps).

    lr_t = learning_rate sqrt(1 - b2^t) / (1 - b1^t) at step t = 1, 2, ...,
    as scikit-learn's AdamOptimizer computes it; the update is one compiled
    pass over the flat parameter vector.

    Parameters
    ----------
    learning_rate : float, default=0.001
        The learning rate, > 0.
    beta_1 : float, default=0.9
        The decay b1 of the first moment, in [0, 1).
    beta_2 : float, default=0.999
        The decay b2 of the second moment, in [0, 1).
    epsilon : float, default=1e-8
        The eps of the update, > 0: keeps the division finite.
    schedule : {"constant", "cosine"}, default="constant"
        The learning-rate schedule before the bias correction (see the
        module's docstring).
    weight_decay : float, default=0.0
        Decoupled weight decay, >= 0: p = (1 - lr wd) p before each update,
        lr the scheduled learning rate before the bias correction: AdamW
        (torch.optim.AdamW). 0: Adam.
    max_grad_norm : float or None, default=None
        Clip each batch's gradient to this global norm, > 0 (torch's
        ``clip_grad_norm_``). None: no clipping.
    warmup_steps : int, default=0
        The cosine schedule's linear warm-up, in updates, 0 <= warmup_steps
        <= total_steps.
    total_steps : int or None, default=None
        The cosine schedule's updates in all, >= 1; required by it.

    Attributes
    ----------
    learning_rate_init : float
        The learning rate given.
    learning_rate : float
        lr_t, the corrected learning rate of the last step.
    t : int
        The steps taken since start.
    m, v : ndarray or None
        The moments, in the layout of the parameters; None before start.
    updates : int
        The updates made since start, which the cosine schedule counts.
    name : str
        "adam", the estimators' solver.

    Raises
    ------
    ValueError
        For a number out of its range.

    See Also
    --------
    SGD : Stochastic gradient descent with momentum.
    nnbp.StochasticTrainer : Trains a network with either.

    References
    ----------
    Kingma, Diederik, and Jimmy Ba (2014). "Adam: A method for stochastic
    optimization." arXiv:1412.6980.

    Loshchilov, Ilya, and Frank Hutter (2019). "Decoupled weight decay
    regularization." ICLR 2019, arXiv:1711.05101.

    Unlike torch.optim.Adam, eps is added to sqrt(v), not to the corrected
    sqrt(v / (1 - b2^t)), as scikit-learn does: torch's step with eps_t = eps /
    sqrt(1 - b2^t) is the same.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Adam, Network
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> net = Network([3, 8, 1], activation="tanh", output="squared", seed=0)
    >>> adam = Adam(learning_rate=0.01).start(net.params)
    >>> loss, grad = net.loss_and_grad(X, y)
    >>> adam.step(net.params, grad)
    >>> adam.steps, net.loss(X, y) < loss
    (1, True)
    """

    name = "adam"
    # Set by _check_extras, as SGD and Adam share them.
    weight_decay: float
    max_grad_norm: Optional[float]
    warmup_steps: int
    total_steps: Optional[int]

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, schedule: str = "constant",
                 weight_decay: float = 0.0, max_grad_norm: Optional[float] = None,
                 warmup_steps: int = 0, total_steps: Optional[int] = None) -> None:
        self.learning_rate_init = check_real("learning_rate", learning_rate,
                                             strictly_above=0.0)
        self.beta_1 = check_real("beta_1", beta_1, minimum=0.0, strictly_below=1.0)
        self.beta_2 = check_real("beta_2", beta_2, minimum=0.0, strictly_below=1.0)
        self.epsilon = check_real("epsilon", epsilon, strictly_above=0.0)
        self.schedule = check_choice("schedule", schedule, ADAM_SCHEDULES)
        _check_extras(self, weight_decay, max_grad_norm, warmup_steps, total_steps)
        self.learning_rate = self.learning_rate_init
        self.t = 0
        self.updates = 0
        self.m: Optional[np.ndarray] = None
        self.v: Optional[np.ndarray] = None

    def start(self, params: np.ndarray) -> Adam:
        """Start afresh: step 0, and zero moments for params.

        Parameters
        ----------
        params : ndarray
            A parameter vector, such as Network.params: the moments take its
            shape and dtype (refilled with zeros if they have them already).

        Returns
        -------
        Adam
            The optimizer itself.
        """
        self.learning_rate = self.learning_rate_init
        self.t = 0
        self.updates = 0
        self.m = _zeroed_state(self.m, params)
        self.v = _zeroed_state(self.v, params)
        return self

    def step(self, params: np.ndarray, grad: np.ndarray) -> None:
        """Update params in place from its gradient, one step.

        Parameters
        ----------
        params : ndarray
            A writeable C-contiguous float32 or float64 vector, such as
            Network.params; moments of another shape or dtype start afresh.
        grad : ndarray
            The gradient at params: a C-contiguous vector like it, which
            shares no memory with it.

        Raises
        ------
        ValueError
            If params or grad is not such a vector.
        """
        _check_step(params, grad)
        if not _is_state_for(self.m, params):
            self.start(params)
        compiled = self.compiled()
        self.learning_rate = _core.update(compiled, params, grad)
        self.t = compiled.steps
        self.updates = compiled.updates

    def compiled(self) -> _core.Optimizer:
        """Give the optimizer as the compiled core takes it.

        For nnbp's own modules (nnbp.training's epochs).

        Returns
        -------
        nnbp._core.Optimizer
            The hyperparameters, the step count t, and the moments, which the
            core updates in place.
        """
        return _with_extras(self, _core.Optimizer.adam(
            self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon, self.t,
            (self.m, self.v)))

    def state(self) -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """Give the state vectors, which nnbp.dask averages across a cluster.

        For nnbp's own modules.

        Returns
        -------
        tuple of (ndarray or None, ndarray or None)
            (m, v): None before start.
        """
        return self.m, self.v

    @property
    def steps(self) -> int:
        """Updates counted for the bias correction: t."""
        return self.t

    def epoch_done(self, steps: int, examples_seen: int) -> None:
        """Take the step count an epoch reached, and its learning rate lr_t.

        Parameters
        ----------
        steps : int
            The step count t the epoch left.
        examples_seen : int
            The examples seen in all so far (unused by Adam).
        """
        self.t = steps
        if steps:
            rate = self.learning_rate_init
            if self.schedule == "cosine" and self.updates:
                # The last update's scheduled rate, as its step size was formed from it.
                rate = _core.cosine_learning_rate(rate, self.updates - 1, self.warmup_steps,
                                                  self.total_steps)
            self.learning_rate = _core.adam_learning_rate(rate, self.beta_1, self.beta_2,
                                                          steps)

    def plateau(self) -> bool:
        """Decide, now that the loss has stopped improving, whether to stop.

        Returns
        -------
        bool
            Always True: Adam has no schedule to try first.
        """
        return True


def _check_extras(optimizer: Any, weight_decay: float, max_grad_norm: Optional[float],
                  warmup_steps: int, total_steps: Optional[int]) -> None:
    """Check and set what SGD and Adam share beyond scikit-learn's: the decay, the
    clipping and the cosine schedule's lengths."""
    optimizer.weight_decay = check_real("weight_decay", weight_decay, minimum=0.0)
    optimizer.max_grad_norm = (None if max_grad_norm is None else
                               check_real("max_grad_norm", max_grad_norm, strictly_above=0.0))
    for name, value in (("warmup_steps", warmup_steps), ("total_steps", total_steps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, Integral)):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if optimizer.schedule == "cosine" and (total_steps is None or total_steps < 1):
        raise ValueError(f"the cosine schedule needs total_steps >= 1, got {total_steps!r}")
    if not 0 <= warmup_steps <= (total_steps if total_steps is not None else warmup_steps):
        raise ValueError(f"warmup_steps must be in [0, total_steps], got {warmup_steps!r} "
                         f"with total_steps={total_steps!r}")
    optimizer.warmup_steps = int(warmup_steps)
    optimizer.total_steps = None if total_steps is None else int(total_steps)


def _with_extras(optimizer: Any, compiled: _core.Optimizer) -> _core.Optimizer:
    """compiled with the optimizer's decay, clipping and cosine schedule, where set."""
    compiled.updates = optimizer.updates
    if optimizer.weight_decay:
        compiled.decoupled_weight_decay(optimizer.weight_decay)
    if optimizer.max_grad_norm is not None:
        compiled.clip_grad_norm(optimizer.max_grad_norm)
    if optimizer.schedule == "cosine":
        compiled.cosine_schedule(optimizer.warmup_steps, optimizer.total_steps,
                                 optimizer.updates)
    return compiled


def _check_step(params: Any, grad: Any) -> None:
    """params: a writeable contiguous float vector; grad: one like it. Both aligned:
    the compiled update must not load or store a misaligned element."""
    if (not isinstance(params, np.ndarray) or params.ndim != 1
            or params.dtype not in (np.float32, np.float64)
            or not params.flags.c_contiguous or not params.flags.writeable
            or not params.flags.aligned):
        raise ValueError("params must be a writeable C-contiguous float32 or float64 vector, "
                         "such as Network.params")
    if (not isinstance(grad, np.ndarray) or grad.shape != params.shape
            or grad.dtype != params.dtype or not grad.flags.c_contiguous
            or not grad.flags.aligned):
        raise ValueError(
            f"grad must be a C-contiguous {params.dtype} vector of shape {params.shape} "
            "(aligned, as NumPy allocates it), "
            f"got {type(grad).__name__} {getattr(grad, 'dtype', '')} of shape "
            f"{np.shape(grad)}"
        )
    check_out_alone("params", params, grad=grad)


def _is_state_for(state: Optional[np.ndarray], params: np.ndarray) -> TypeGuard[np.ndarray]:
    """Whether an optimizer's state vector belongs to params' shape and dtype."""
    return state is not None and state.shape == params.shape and state.dtype == params.dtype


def _zeroed_state(state: Optional[np.ndarray], params: np.ndarray) -> np.ndarray:
    """A zero state vector for params: the old one refilled if it fits, so a restart allocates nothing."""
    if _is_state_for(state, params):
        state.fill(0)
        return state
    return allocate(params.size, params.dtype, f"the optimizer's state for {params.size} "
                    "parameters", zeroed=True)


# The correction pairs scipy's L-BFGS-B keeps (its maxcor, left at its default).
LBFGS_CORRECTIONS = 10

# callback(iteration, loss) of the L-BFGS minimizations; what it returns is ignored.
LbfgsCallback = Callable[[int, float], object]


def _lbfgs_bytes(n_params: int) -> int:
    """The memory L-BFGS needs for a network of n_params parameters, in bytes (about).

    Parameters
    ----------
    n_params : int
        The network's number of parameters, n.

    Returns
    -------
    int
        scipy's L-BFGS-B workspace, (2m + 5) n + 11 m^2 + 8 m doubles for m
        correction pairs (scipy.optimize._lbfgsb_py), its x, g and bounds (4 n
        doubles), its ScalarFunction's copies of x and g and its int32 arrays
        (nbd, iwa: 4 n), and 7 n doubles of copies alive at the same time (the
        start, the last iterate, the gradients handed to scipy, the iterates
        of its line search), in bytes: 328 bytes a parameter, the peak that
        tracemalloc measures on a network of 10^6 parameters (scipy 1.17).
    """
    m, n = LBFGS_CORRECTIONS, int(n_params)
    doubles = (2 * m + 5) * n + 11 * m * m + 8 * m + 4 * n + 3 * n + 7 * n
    return 8 * doubles + 4 * 4 * n


def minimize_lbfgs(net: Network, X: Features, y: npt.ArrayLike,
                   sample_weight: Optional[npt.ArrayLike] = None, *, max_iter: int = 200,
                   max_fun: int = 15000, tol: float = 1e-4,
                   callback: Optional[LbfgsCallback] = None,
                   loss: Any = None) -> scipy.optimize.OptimizeResult:
    """Minimise net's loss on (X, y) by L-BFGS-B; the result ends in net.params.

    scipy works in float64: a float64 network is evaluated at scipy's own
    iterate, with no copy; a float32 one has the iterate rounded into its
    params first. This is the estimators' solver="lbfgs".

    Parameters
    ----------
    net : Network
        The network, trained from its parameters; they end at the result.
    X : array_like or scipy sparse matrix of shape (n, m_0)
        The rows, as Network.loss takes them.
    y : array_like
        The targets, as Network.loss takes them.
    sample_weight : array_like of shape (n,) or None, default=None
        Non-negative weights of the rows; None: all 1.
    max_iter : int, default=200
        At most this many iterations (scipy's maxiter).
    max_fun : int, default=15000
        At most this many evaluations of the loss (scipy's maxfun).
    tol : float, default=1e-4
        Stop when the largest entry of the projected gradient is at most
        this (scipy's gtol).
    callback : callable or None, default=None
        Called as callback(iteration, loss) after each iteration, with the
        iteration's parameters in net.params.
    loss : nnbp.losses.Loss, callable or None, default=None
        A loss of the logits in place of the output's canonical loss, as
        Network.loss_and_grad takes it.

    Returns
    -------
    scipy.optimize.OptimizeResult
        The result of scipy, with interrupted=True if Ctrl-C (KeyboardInterrupt)
        stopped it: then x, fun and nit are those of the last finished
        iteration (or the start).

    Raises
    ------
    DivergenceError
        If it ends at a non-finite loss or parameters; the network keeps
        those it started from.
    MemoryError
        Naming L-BFGS, if its memory is more than the system has available
        (checked before it starts).
    ValueError, TypeError
        For data that do not fit the network.

    See Also
    --------
    minimize_objective_lbfgs : The same, for a loss given as a function.
    nnbp.StochasticTrainer : Training by minibatch sgd or adam.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network, minimize_lbfgs
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> net = Network([3, 8, 1], activation="tanh", output="squared", seed=0)
    >>> result = minimize_lbfgs(net, X, y, max_iter=500)
    >>> bool(result.success), result.fun < 1e-3, net.loss(X, y) < 1e-3
    (True, True, True)
    """
    loss_object = net.check_loss(loss)
    data = net.check_data(X, y, sample_weight)
    grad = np.empty_like(net.params)
    evaluate_at_iterate = net.dtype == np.float64

    def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        if not evaluate_at_iterate:
            net.params[...] = x
        value = net.compiled_loss(data, grad, params=x if evaluate_at_iterate else None,
                                  loss=loss_object)
        # scipy keeps the gradient it is given: hand it a copy of ours.
        return value, grad.astype(np.float64)

    rows = data.X.shape[0]
    with _threads.blas_held_for(net.flops_per_layer(rows), rows):
        return minimize_objective_lbfgs(net, loss_and_grad, max_iter=max_iter,
                                        max_fun=max_fun, tol=tol, callback=callback)


def minimize_objective_lbfgs(
        net: Network, loss_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], *,
        max_iter: int = 200, max_fun: int = 15000, tol: float = 1e-4,
        callback: Optional[LbfgsCallback] = None) -> scipy.optimize.OptimizeResult:
    """Minimise a loss given as a function over net's parameters, by L-BFGS-B.

    minimize_lbfgs, with the loss computed elsewhere: nnbp.dask passes a loss
    summed across a cluster. The minimization starts from net.params and its
    result ends there.

    Parameters
    ----------
    net : Network
        The network whose parameters are minimised over.
    loss_and_grad : callable
        The loss, loss_and_grad(x) -> (loss, gradient): x is a float64 vector in the
        layout of net.params, and the gradient a float64 vector that scipy
        may keep.
    max_iter : int, default=200
        At most this many iterations.
    max_fun : int, default=15000
        At most this many calls of loss_and_grad.
    tol : float, default=1e-4
        Stop when the largest entry of the projected gradient is at most this.
    callback : callable or None, default=None
        Called as callback(iteration, loss), as by minimize_lbfgs.

    Returns
    -------
    scipy.optimize.OptimizeResult
        As minimize_lbfgs returns it.

    Raises
    ------
    DivergenceError
        If it ends at a non-finite loss or parameters.
    MemoryError
        Naming L-BFGS, if its memory is more than the system has available.

    See Also
    --------
    minimize_lbfgs : The same on the network's own loss.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network
    >>> from nnbp.optim import minimize_objective_lbfgs
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> net = Network([3, 8, 1], activation="tanh", output="squared", seed=0)
    >>> def loss_and_grad(x):
    ...     net.params = x
    ...     return net.loss_and_grad(X, y)
    >>> result = minimize_objective_lbfgs(net, loss_and_grad, max_iter=500)
    >>> result.fun < 1e-3
    True
    """
    # Checked as a network's, a workspace's and a trainer's memory are: before, and by name.
    what = f"L-BFGS on a network of {net.n_params} parameters"
    n_bytes = _lbfgs_bytes(net.n_params)
    check_available(n_bytes, what)
    start = net.params.copy()
    last = scipy.optimize.OptimizeResult(x=start.astype(np.float64), fun=None, nit=0)

    def report(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        # Kept for Ctrl-C, which may come in the middle of the next iteration.
        last.x[...] = intermediate_result.x
        last.fun, last.nit = float(intermediate_result.fun), last.nit + 1
        if callback is not None:
            # The callback may look at the network: give it this iterate's parameters.
            net.params[...] = intermediate_result.x
            callback(last.nit, last.fun)

    try:
        result = scipy.optimize.minimize(
            loss_and_grad, net.params.astype(np.float64), method="L-BFGS-B", jac=True,
            callback=report, options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
        )
        result.interrupted = False
    except KeyboardInterrupt:
        result = last
        if result.fun is None:
            net.params[...] = start
            result.fun = loss_and_grad(start.astype(np.float64))[0]
        result.interrupted, result.success = True, False
    except MemoryError as error:
        # Where the memory available is unknown, or others took it since the check.
        net.params[...] = start
        raise MemoryError(f"{what} needs {n_bytes / 2**20:.1f} MiB of memory, which the "
                          f"system could not allocate ({error})") from None
    if not _core.all_finite(result.x) or not np.isfinite(result.fun):
        net.params[...] = start
        raise DivergenceError(
            f"L-BFGS produced a non-finite loss or parameters at iteration {result.nit}; the "
            "network keeps the ones it started from. Scale the inputs (and the targets of a "
            "regression)."
        )
    net.params[...] = result.x
    return result
