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

L-BFGS is scipy.optimize.minimize(method="L-BFGS-B", jac=True) on the
network's own loss_and_grad.
"""
import numpy as np
import scipy.optimize

from nnbp import _core, _threads
from nnbp._memory import allocate, check_available
from nnbp._validation import check_choice, check_out_alone, check_real
from nnbp.training import DivergenceError

SCHEDULES = ("constant", "invscaling", "adaptive")
# The adaptive schedule stops once the learning rate is this small.
SMALLEST_ADAPTIVE_RATE = 1e-6


class SGD:
    """Stochastic gradient descent with momentum: v = mu v - lr g; p += v.

    With nesterov=True, p += mu v - lr g with the new v: the step looks ahead
    along the updated velocity. momentum=0 is plain gradient descent, p -= lr g; full
    batch (batch_size = n) it is the lecture's W <- W - eta dL/dW.
    """

    name = "sgd"

    def __init__(self, learning_rate=0.1, momentum=0.9, nesterov=True,
                 schedule="constant", power_t=0.5):
        self.learning_rate_init = check_real("learning_rate", learning_rate,
                                             strictly_above=0.0)
        self.momentum = check_real("momentum", momentum, minimum=0.0, maximum=1.0)
        self.nesterov = bool(nesterov)
        self.schedule = check_choice("schedule", schedule, SCHEDULES)
        self.power_t = check_real("power_t", power_t, minimum=0.0)
        self.learning_rate = self.learning_rate_init
        self.velocity = None

    def start(self, params):
        """Fresh state for a parameter vector like params."""
        self.learning_rate = self.learning_rate_init
        self.velocity = _zeroed_state(self.velocity, params) if self.momentum != 0 else None
        return self

    def step(self, params, grad):
        """One update of params (in place) from its gradient."""
        _check_step(params, grad)
        if self.momentum != 0 and not _is_state_for(self.velocity, params):
            self.start(params)
        _core.update(self.compiled(), params, grad)

    def compiled(self):
        """The optimizer as the compiled core takes it (for nnbp's own modules): the
        hyperparameters at the current learning rate, and the velocity, updated in place."""
        return _core.Optimizer.sgd(self.learning_rate, self.momentum, self.nesterov,
                                   self.velocity)

    def state(self):
        """The state vectors, (velocity, None) (for nnbp's own modules: nnbp.dask averages them)."""
        return self.velocity, None

    @property
    def steps(self):
        """Updates counted for a bias correction: sgd has none, 0."""
        return 0

    def epoch_done(self, steps, examples_seen):
        """After an epoch of `steps` updates, with examples_seen in all so far."""
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (examples_seen + 1) ** self.power_t

    def plateau(self):
        """The loss stopped improving: True to stop, False to go on (adaptive only)."""
        if self.schedule != "adaptive" or self.learning_rate <= SMALLEST_ADAPTIVE_RATE:
            return True
        self.learning_rate /= 5.0
        return False

class Adam:
    """Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr_t m / (sqrt(v) + eps),

    lr_t = learning_rate sqrt(1 - b2^t) / (1 - b1^t) at step t = 1, 2, ...
    """

    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.learning_rate_init = check_real("learning_rate", learning_rate,
                                             strictly_above=0.0)
        self.beta_1 = check_real("beta_1", beta_1, minimum=0.0, strictly_below=1.0)
        self.beta_2 = check_real("beta_2", beta_2, minimum=0.0, strictly_below=1.0)
        self.epsilon = check_real("epsilon", epsilon, strictly_above=0.0)
        self.learning_rate = self.learning_rate_init
        self.t = 0
        self.m = self.v = None

    def start(self, params):
        """Fresh state for a parameter vector like params."""
        self.learning_rate = self.learning_rate_init
        self.t = 0
        self.m = _zeroed_state(self.m, params)
        self.v = _zeroed_state(self.v, params)
        return self

    def step(self, params, grad):
        """One update of params (in place) from its gradient."""
        _check_step(params, grad)
        if not _is_state_for(self.m, params):
            self.start(params)
        compiled = self.compiled()
        self.learning_rate = _core.update(compiled, params, grad)
        self.t = compiled.steps

    def compiled(self):
        """The optimizer as the compiled core takes it (for nnbp's own modules): the
        hyperparameters, the step count t, and the moments, updated in place."""
        return _core.Optimizer.adam(self.learning_rate_init, self.beta_1, self.beta_2,
                                    self.epsilon, self.t, (self.m, self.v))

    def state(self):
        """The state vectors, (m, v) (for nnbp's own modules: nnbp.dask averages them)."""
        return self.m, self.v

    @property
    def steps(self):
        """Updates counted for the bias correction: t."""
        return self.t

    def epoch_done(self, steps, examples_seen):
        """After an epoch that took Adam to step `steps`."""
        self.t = steps
        if steps:
            self.learning_rate = _core.adam_learning_rate(self.learning_rate_init, self.beta_1,
                                                          self.beta_2, steps)

    def plateau(self):
        """The loss stopped improving: Adam stops."""
        return True


def _check_step(params, grad):
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


def _is_state_for(state, params):
    """Whether an optimizer's state vector belongs to params' shape and dtype."""
    return state is not None and state.shape == params.shape and state.dtype == params.dtype


def _zeroed_state(state, params):
    """A zero state vector for params: the old one refilled if it fits, so a restart allocates nothing."""
    if _is_state_for(state, params):
        state.fill(0)
        return state
    return allocate(params.size, params.dtype, f"the optimizer's state for {params.size} "
                    "parameters", zeroed=True)


# The correction pairs scipy's L-BFGS-B keeps (its maxcor, left at its default).
LBFGS_CORRECTIONS = 10


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


def minimize_lbfgs(net, X, y, sample_weight=None, *, max_iter=200, max_fun=15000, tol=1e-4,
                   callback=None):
    """Minimise net's loss on (X, y) by L-BFGS-B; the result ends in net.params.

    scipy works in float64: a float64 network is evaluated at scipy's own
    iterate, with no copy; a float32 one has the iterate rounded into its
    params first. callback(iteration, loss) runs after each iteration, with
    the iteration's parameters in net.params.
    Returns scipy's OptimizeResult, with interrupted=True if Ctrl-C
    (KeyboardInterrupt) stopped it: then x, fun and nit are those of the last
    finished iteration (or the start). Raises DivergenceError if it ends at a
    non-finite loss or parameters, and a MemoryError naming L-BFGS if its
    memory is more than the system has available (checked before it starts).
    """
    data = net.check_data(X, y, sample_weight)
    grad = np.empty_like(net.params)
    evaluate_at_iterate = net.dtype == np.float64

    def loss_and_grad(x):
        if not evaluate_at_iterate:
            net.params[...] = x
        loss = net.compiled_loss(data, grad, params=x if evaluate_at_iterate else None)
        # scipy keeps the gradient it is given: hand it a copy of ours.
        return loss, grad.astype(np.float64)

    rows = data.X.shape[0]
    with _threads.blas_held_for(net.flops_per_layer(rows), rows):
        return minimize_objective_lbfgs(net, loss_and_grad, max_iter=max_iter,
                                        max_fun=max_fun, tol=tol, callback=callback)


def minimize_objective_lbfgs(net, loss_and_grad, *, max_iter=200, max_fun=15000, tol=1e-4,
                             callback=None):
    """minimize_lbfgs with the loss given as a function: loss_and_grad(x) -> (loss, gradient).

    x is a float64 vector in the layout of net.params, and the gradient a
    float64 vector that scipy may keep. The minimization starts from
    net.params and its result ends there; callback, the result and the
    errors are those of minimize_lbfgs. nnbp.dask passes a loss summed
    across a cluster.
    """
    # Checked as a network's, a workspace's and a trainer's memory are: before, and by name.
    what = f"L-BFGS on a network of {net.n_params} parameters"
    n_bytes = _lbfgs_bytes(net.n_params)
    check_available(n_bytes, what)
    start = net.params.copy()
    last = scipy.optimize.OptimizeResult(x=start.astype(np.float64), fun=None, nit=0)

    def report(intermediate_result):
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
