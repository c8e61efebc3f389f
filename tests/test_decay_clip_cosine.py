"""Decoupled weight decay, gradient clipping by global norm and the cosine schedule.

Each is checked against nnbp.reference (flat steps, and whole compiled epochs,
the fused one-example step and teams of threads included), by finite
differences (the step is a gradient step on a known function), and against
torch.optim.AdamW / SGD, torch.nn.utils.clip_grad_norm_ and
torch.optim.lr_scheduler, step for step, in float32 and float64.
"""
import math

import numpy as np
import pytest
import scipy.optimize

import nnbp
from nnbp import _core, reference
from nnbp.training import Epoch
from support import DTYPES, REFERENCE_TOLERANCE, make_targets, relative_error

KINDS = ["sgd", "momentum", "nesterov", "adam"]
EXTRAS = {
    "decay": {"weight_decay": 0.3},
    "clip": {"max_grad_norm": 0.5},
    "cosine": {"schedule": "cosine", "warmup_steps": 2, "total_steps": 5},
    "all": {"weight_decay": 0.3, "max_grad_norm": 0.5, "schedule": "cosine",
            "warmup_steps": 2, "total_steps": 5},
}


def make_optimizer(kind, **extras):
    rate = {"adam": 0.05}.get(kind, 0.2)
    if kind == "adam":
        return nnbp.Adam(rate, **extras)
    return nnbp.SGD(rate, momentum=0.0 if kind == "sgd" else 0.9,
                    nesterov=kind == "nesterov", **extras)


class ReferenceOptimizer:
    """The same optimizer, step by step from nnbp.reference, in double."""

    def __init__(self, kind, optimizer, size):
        self.kind, self.o, self.t = kind, optimizer, 0
        self.state = ([0.0] * size, [0.0] * size)

    def rate(self):
        o = self.o
        if o.schedule == "cosine":
            return reference.cosine_learning_rate(o.learning_rate_init, self.t,
                                                  o.warmup_steps, o.total_steps)
        return o.learning_rate_init

    def step(self, p, g):
        o, rate = self.o, self.rate()
        g = [float(x) for x in g]
        if o.max_grad_norm is not None:
            g = reference.clip_grad_norm(g, o.max_grad_norm)
        p = [float(x) for x in p]
        self.t += 1
        if self.kind == "adam":
            p, m, v = reference.adam_step(p, g, *self.state, self.t, rate, o.beta_1, o.beta_2,
                                          o.epsilon, weight_decay=o.weight_decay)
            self.state = (m, v)
        else:
            p, v = reference.sgd_step(p, g, self.state[0], rate, o.momentum, o.nesterov,
                                      weight_decay=o.weight_decay)
            self.state = (v, None)
        return np.array(p)


# ------------------------------------------------------------ flat steps

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("extras", EXTRAS)
@pytest.mark.parametrize("kind", KINDS)
def test_flat_steps_match_the_reference(kind, extras, dtype):
    rng = np.random.default_rng(0)
    params = rng.normal(size=40).astype(dtype)
    optimizer = make_optimizer(kind, **EXTRAS[extras]).start(params)
    oracle = ReferenceOptimizer(kind, optimizer, params.size)
    expected = params.astype(np.float64)
    for step in range(7):     # past the cosine schedule's 5 updates: the rate is 0 there
        grad = rng.normal(scale=0.5, size=params.size).astype(dtype)
        expected = oracle.step(params, grad)
        optimizer.step(params, grad)
        assert relative_error(params, expected) <= REFERENCE_TOLERANCE[dtype], step
    assert optimizer.updates == 7


def test_the_cosine_schedule_is_the_reference_and_ends_at_zero():
    for warmup, horizon in [(0, 1), (0, 7), (3, 10), (4, 4)]:
        rates = [_core.cosine_learning_rate(0.3, t, warmup, horizon) for t in range(horizon + 3)]
        expected = [reference.cosine_learning_rate(0.3, t, warmup, horizon)
                    for t in range(horizon + 3)]
        np.testing.assert_allclose(rates, expected, rtol=1e-15, atol=0)
        assert rates[horizon:] == [0.0, 0.0, 0.0]
        rising, falling = rates[:min(warmup + 1, horizon)], rates[warmup:]
        assert all(a < b for a, b in zip(rising, rising[1:]))
        assert all(a >= b for a, b in zip(falling, falling[1:]))
    # The warm-up rises linearly to the top, where the cosine starts.
    assert [_core.cosine_learning_rate(1.0, t, 3, 10) for t in range(4)] == [0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipping_leaves_a_short_gradient_alone_and_shortens_a_long_one(dtype):
    rng = np.random.default_rng(1)
    grad = rng.normal(size=30).astype(dtype)
    norm = float(np.linalg.norm(grad.astype(np.float64)))
    # torch's 1e-6 beside the norm: a long gradient ends a hair short of max_norm.
    short = norm / 4
    for max_norm, expected_length in [(2 * norm, norm), (short, short * norm / (norm + 1e-6))]:
        params = np.zeros(30, dtype)
        nnbp.SGD(1.0, momentum=0.0, max_grad_norm=max_norm).step(params, grad)
        # Plain sgd with lr 1: the step is minus the clipped gradient.
        assert math.isclose(np.linalg.norm(params.astype(np.float64)), expected_length,
                            rel_tol=10 * np.finfo(dtype).eps)
        cosine = params.astype(np.float64) @ -grad / (np.linalg.norm(params) * norm)
        assert math.isclose(cosine, 1.0, rel_tol=10 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_instruction_set_gives_the_same_bits(dtype):
    # nnbp_scale and the fused step's decay, compiled per instruction set;
    # 1001 entries leave a tail past every vector width.
    from conftest import available_instruction_sets
    isas = available_instruction_sets()
    if len(isas) < 2:
        pytest.skip("one instruction set only: nothing to compare")
    rng = np.random.default_rng(4)
    params = rng.normal(size=1001).astype(dtype)
    grad = rng.normal(size=1001).astype(dtype)
    results = []
    previous = _core.kernel_isa()
    try:
        for isa in isas:
            _core.kernel_isa(isa)
            run = []
            for kind in KINDS:
                p = params.copy()
                optimizer = make_optimizer(kind, **EXTRAS["all"]).start(p)
                optimizer.step(p, grad)
                optimizer.step(p, grad)
                run.append(p)
                net, X, y = small_problem(dtype, sizes=(33, 17, 3), n=5)
                fused = make_optimizer(kind, weight_decay=0.3).start(net.params)
                Epoch(net, net.check_data(X, y), 1, shuffle=False).run(
                    fused, None, np.empty_like(net.params), np.empty_like(net.params), 1)
                run.append(net.params.copy())
            results.append(run)
    finally:
        _core.kernel_isa(previous)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


# ------------------------------------------------------------ finite differences

def small_problem(dtype, output="softmax", sizes=(5, 7, 3), n=12, alpha=0.0, seed=0):
    rng = np.random.default_rng(seed)
    net = nnbp.Network(sizes, activation="tanh", output=output, dtype=dtype, alpha=alpha,
                       seed=seed)
    for b in net.biases:
        b[...] = rng.uniform(-0.5, 0.5, size=b.shape)
    X = rng.normal(size=(n, sizes[0]))
    return net, X, make_targets(output, n, sizes[-1], rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_sgd_step_with_decay_is_a_gradient_step_on_the_decayed_objective(dtype):
    # Plain sgd: p - lr g - lr wd p = p - lr grad(L + wd/2 ||p||^2), whose gradient
    # finite differences of that objective (in float64) must give.
    net, X, y = small_problem(dtype, alpha=0.2)
    wide = net.copy(np.float64)
    rate, decay = 0.5, 0.3

    def objective(p):
        wide.params = p
        return wide.loss(X, y) + decay / 2 * float(p @ p)

    def step_direction(p):
        net.params = p.astype(dtype)
        _, grad = net.loss_and_grad(X, y)
        stepped = net.params.copy()
        nnbp.SGD(rate, momentum=0.0, weight_decay=decay).step(stepped, grad)
        return (net.params.astype(np.float64) - stepped) / rate

    start = net.params.astype(np.float64)
    # Central differences: scipy's check_grad's forward ones err by O(h), 1e-7 here.
    numeric = nnbp.gradcheck.central_differences(objective, start,
                                                 np.finfo(np.float64).eps ** (1 / 3))
    assert relative_error(step_direction(start), numeric) <= \
        {np.float32: 1e-5, np.float64: 1e-8}[dtype]
    # scipy's own check, at its forward differences' accuracy.
    assert scipy.optimize.check_grad(objective, step_direction, start) <= \
        1e-6 * np.linalg.norm(numeric)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_clipped_step_follows_the_gradient_to_the_largest_norm(dtype):
    net, X, y = small_problem(dtype, output="logistic", sizes=(4, 6, 2), alpha=0.1)
    wide = net.copy(np.float64)

    def loss(p):
        wide.params = p
        return wide.loss(X, y)

    start = net.params.astype(np.float64)
    numeric = nnbp.gradcheck.central_differences(loss, start, np.finfo(np.float64).eps ** (1 / 3))
    max_norm = 0.2 * np.linalg.norm(numeric)
    _, grad = net.loss_and_grad(X, y)
    stepped = net.params.copy()
    nnbp.SGD(1.0, momentum=0.0, max_grad_norm=max_norm).step(stepped, grad)
    expected = -numeric * max_norm / (np.linalg.norm(numeric) + 1e-6)
    assert relative_error(stepped - net.params, expected) <= \
        {np.float32: 1e-5, np.float64: 1e-8}[dtype]


# ------------------------------------------------------------ the compiled epoch

def epoch_against_steps(kind, extras, dtype, batch_size, alpha=0.0):
    """(the compiled epoch's params, the same batches stepped one by one from the
    reference) from the same start."""
    net, X, y = small_problem(dtype, alpha=alpha)
    data = net.check_data(X, y)
    optimizer = make_optimizer(kind, **extras).start(net.params)
    oracle = ReferenceOptimizer(kind, optimizer, net.n_params)
    wide = net.copy(np.float64)
    expected = wide.params.copy()
    for start in range(0, len(X), batch_size):
        rows = slice(start, start + batch_size)
        wide.params = expected
        _, grad = wide.loss_and_grad(X[rows], y[rows])
        expected = oracle.step(expected, grad)
    epoch = Epoch(net, data, batch_size, shuffle=False)
    grad, backup = np.empty_like(net.params), np.empty_like(net.params)
    assert epoch.run(optimizer, None, grad, backup, 1) is not None
    assert optimizer.updates == math.ceil(len(X) / batch_size)
    return net.params.copy(), expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("extras", EXTRAS)
@pytest.mark.parametrize("kind", KINDS)
def test_the_compiled_epoch_matches_the_reference(kind, extras, batch_size, dtype):
    # batch_size 1 is the fused one-example step (which clipping turns off).
    options = dict(EXTRAS[extras], total_steps=12) if "total_steps" in EXTRAS[extras] \
        else EXTRAS[extras]
    params, expected = epoch_against_steps(kind, options, dtype, batch_size, alpha=0.1)
    assert relative_error(params, expected) <= REFERENCE_TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_the_fused_step_decays_as_the_flat_step(kind, dtype):
    # The fused step decays its weights in the kernel, its biases in update_block;
    # the batch path decays all in update_block: the same bits but for the
    # gradient's own round-off, which is the same for one row and no penalty.
    results = []
    for fused in (True, False):
        net, X, y = small_problem(dtype, n=6)
        optimizer = make_optimizer(kind, weight_decay=0.4).start(net.params)
        if fused:
            Epoch(net, net.check_data(X, y), 1, shuffle=False).run(
                optimizer, None, np.empty_like(net.params), np.empty_like(net.params), 1)
        else:
            for row in range(len(X)):
                _, grad = net.loss_and_grad(X[row:row + 1], y[row:row + 1])
                optimizer.step(net.params, grad)
        results.append(net.params.copy())
    np.testing.assert_allclose(results[0], results[1], rtol=0,
                               atol=16 * np.finfo(dtype).eps * np.abs(results[1]).max())



@pytest.mark.skipif(not _core.openmp_enabled(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["nesterov", "adam"])
def test_teams_clip_by_the_whole_gradient_and_are_reproducible(kind, dtype, threads):
    # Each member sums the squares of its share; the norm is the whole vector's.
    options = EXTRAS["all"] | {"max_grad_norm": 0.05, "total_steps": 12}
    with threads(1):
        serial, expected = epoch_against_steps(kind, options, dtype, 5, alpha=0.1)
    for n in (2, 3):
        _core.largest_team(reset=True)
        with threads(n):
            params, _ = epoch_against_steps(kind, options, dtype, 5, alpha=0.1)
            again, _ = epoch_against_steps(kind, options, dtype, 5, alpha=0.1)
        assert _core.largest_team() == n
        assert np.array_equal(params, again)
        assert relative_error(params, expected) <= REFERENCE_TOLERANCE[dtype]
        np.testing.assert_allclose(params, serial, rtol=0,
                                   atol=1e3 * np.finfo(dtype).eps * np.abs(serial).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_sparse_epoch_with_decay_or_clipping_leaves_the_column_step(dtype):
    # Plain sgd on CSR X steps W(1) at the batch's columns only: decay and
    # clipping touch every weight, so they take the ordinary path.
    scipy_sparse = pytest.importorskip("scipy.sparse")
    for extras in ({"weight_decay": 0.3}, {"max_grad_norm": 0.05}):
        results = []
        for sparse in (True, False):
            net, X, y = small_problem(dtype)
            X[np.abs(X) < 0.8] = 0
            data = net.check_data(scipy_sparse.csr_matrix(X) if sparse else X, y)
            optimizer = nnbp.SGD(0.2, momentum=0.0, **extras).start(net.params)
            Epoch(net, data, 4, shuffle=False).run(
                optimizer, None, np.empty_like(net.params), np.empty_like(net.params), 1)
            results.append(net.params.copy())
        assert relative_error(results[0], results[1]) <= REFERENCE_TOLERANCE[dtype], extras


def test_without_the_options_the_epoch_is_unchanged_to_the_bit():
    # Set to their neutral values, the options leave the compiled optimizer as it was.
    for dtype in DTYPES:
        for kind in KINDS:
            runs = []
            for extras in ({}, {"weight_decay": 0.0, "max_grad_norm": None, "warmup_steps": 0}):
                for batch_size in (1, 4):
                    net, X, y = small_problem(dtype, alpha=0.1)
                    optimizer = make_optimizer(kind, **extras).start(net.params)
                    Epoch(net, net.check_data(X, y), batch_size, shuffle=False).run(
                        optimizer, None, np.empty_like(net.params),
                        np.empty_like(net.params), 1)
                    runs.append(net.params.copy())
            assert np.array_equal(runs[0], runs[2]) and np.array_equal(runs[1], runs[3])


# ------------------------------------------------------------ bad input

@pytest.mark.parametrize("cls", [nnbp.SGD, nnbp.Adam])
def test_bad_options_are_named(cls):
    with pytest.raises(ValueError, match="weight_decay"):
        cls(weight_decay=-1.0)
    with pytest.raises(ValueError, match="max_grad_norm"):
        cls(max_grad_norm=0.0)
    with pytest.raises(ValueError, match="total_steps"):
        cls(schedule="cosine")
    with pytest.raises(ValueError, match="warmup_steps"):
        cls(schedule="cosine", warmup_steps=11, total_steps=10)
    with pytest.raises(TypeError, match="total_steps"):
        cls(schedule="cosine", total_steps=2.5)
    with pytest.raises(ValueError, match="schedule"):
        cls(schedule="cosines")
    compiled = _core.Optimizer.sgd(0.1, 0.0, False, None)
    with pytest.raises(ValueError, match="weight_decay"):
        compiled.decoupled_weight_decay(float("nan"))
    with pytest.raises(ValueError, match="max_grad_norm"):
        compiled.clip_grad_norm(-1.0)
    with pytest.raises(ValueError, match="warmup"):
        compiled.cosine_schedule(3, 2, 0)


# ------------------------------------------------------------ against torch

def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is not installed: nnbp never needs it")


TORCH_TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_is_torchs_step_for_step(dtype):
    torch = torch_or_skip()
    rng = np.random.default_rng(2)
    params = rng.normal(size=50).astype(dtype)
    adam = nnbp.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6, weight_decay=0.2)
    adam.start(params)
    theirs = torch.tensor(params.copy(), requires_grad=True)
    adamw = torch.optim.AdamW([theirs], lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                              weight_decay=0.2)
    for t in range(1, 9):
        grad = rng.normal(size=params.size).astype(dtype)
        adam.step(params, grad)
        # torch adds eps to the corrected sqrt(v), scikit-learn (and nnbp) to sqrt(v):
        # torch's eps / sqrt(1 - b2^t) is the same step.
        adamw.param_groups[0]["eps"] = 1e-6 / math.sqrt(1 - 0.99 ** t)
        theirs.grad = torch.tensor(grad)
        adamw.step()
        assert relative_error(params, theirs.detach().numpy()) <= TORCH_TOLERANCE[dtype], t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["sgd", "momentum", "nesterov"])
def test_sgd_with_decay_is_torchs_decoupled_sgd(kind, dtype):
    # torch's SGD couples weight_decay to the gradient (g + wd p); without momentum
    # that is the decoupled step, and with momentum nnbp's is SGDW: torch's SGD
    # after p *= 1 - lr wd.
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    params = rng.normal(size=50).astype(dtype)
    sgd = make_optimizer(kind, weight_decay=0.3).start(params)
    theirs = torch.tensor(params.copy(), requires_grad=True)
    coupled = kind == "sgd"
    torch_sgd = torch.optim.SGD([theirs], lr=sgd.learning_rate_init, momentum=sgd.momentum,
                                nesterov=sgd.nesterov, weight_decay=0.3 if coupled else 0.0)
    for step in range(6):
        grad = rng.normal(size=params.size).astype(dtype)
        sgd.step(params, grad)
        if not coupled:
            with torch.no_grad():
                theirs.mul_(1 - sgd.learning_rate_init * 0.3)
        theirs.grad = torch.tensor(grad)
        torch_sgd.step()
        assert relative_error(params, theirs.detach().numpy()) <= TORCH_TOLERANCE[dtype], step


def test_the_cosine_schedule_is_torchs_warmup_then_cosine():
    torch = torch_or_skip()
    warmup, horizon, base = 3, 11, 0.4
    p = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([p], lr=base)
    schedule = torch.optim.lr_scheduler.SequentialLR(optimizer, [
        torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1),
                                          total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=horizon - warmup),
    ], milestones=[warmup])
    theirs = []
    for _ in range(horizon):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    ours = [_core.cosine_learning_rate(base, t, warmup, horizon) for t in range(horizon)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 4])
def test_a_compiled_epoch_is_torchs_adamw_clipped_on_a_cosine_schedule(batch_size, dtype):
    """AdamW, clip_grad_norm_ and warm-up then cosine, batch by batch, on the same MLP."""
    torch = torch_or_skip()
    torch_dtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    net, X, y = small_problem(dtype, output="squared", sizes=(4, 6, 3), n=12)
    X = X.astype(dtype)
    y = y.astype(dtype)
    n_batches, epochs, warmup = math.ceil(len(X) / batch_size), 2, 2
    horizon = n_batches * epochs
    layers = [torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch_dtype) for W in net.weights]
    with torch.no_grad():
        for layer, W, b in zip(layers, net.weights, net.biases):
            layer.weight.copy_(torch.tensor(W))
            layer.bias.copy_(torch.tensor(b))
    model = torch.nn.Sequential(layers[0], torch.nn.Tanh(), layers[1])
    # The flat layout: every W(l), then every b(l).
    ordered = [layer.weight for layer in layers] + [layer.bias for layer in layers]
    adamw = torch.optim.AdamW(ordered, lr=0.05, weight_decay=0.1, eps=1e-8)
    schedule = torch.optim.lr_scheduler.SequentialLR(adamw, [
        torch.optim.lr_scheduler.LinearLR(adamw, start_factor=1 / (warmup + 1),
                                          total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(adamw, T_max=horizon - warmup),
    ], milestones=[warmup])
    ours = nnbp.Adam(0.05, weight_decay=0.1, max_grad_norm=0.3, schedule="cosine",
                     warmup_steps=warmup, total_steps=horizon).start(net.params)
    data = net.check_data(X, y)
    epoch = Epoch(net, data, batch_size, shuffle=False)
    grad, backup = np.empty_like(net.params), np.empty_like(net.params)
    t = 0
    for number in range(1, epochs + 1):
        assert epoch.run(ours, None, grad, backup, number) is not None
        ours.epoch_done(epoch.steps, number * len(X))
        for start in range(0, len(X), batch_size):
            t += 1
            rows = slice(start, start + batch_size)
            adamw.zero_grad()
            out = model(torch.tensor(X[rows]))
            loss = 0.5 * ((out - torch.tensor(y[rows])) ** 2).sum(dim=1).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ordered, 0.3)
            adamw.param_groups[0]["eps"] = 1e-8 / math.sqrt(1 - 0.999 ** t)
            adamw.step()
            schedule.step()
        flat = np.concatenate([p.detach().numpy().ravel() for p in ordered])
        assert relative_error(net.params, flat) <= TORCH_TOLERANCE[dtype], number
    assert ours.updates == horizon


# ------------------------------------------------------------ the estimators

NEW_PARAMETERS = dict(weight_decay=0.05, max_grad_norm=2.0, learning_rate="cosine",
                      warmup_fraction=0.25)


def classification(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.mark.parametrize("Estimator", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_the_estimators_take_the_options_in_get_params_and_clone(Estimator):
    from sklearn.base import clone
    defaults = Estimator().get_params()
    assert (defaults["weight_decay"], defaults["max_grad_norm"],
            defaults["warmup_fraction"]) == (0.0, None, 0.0)
    estimator = Estimator(**NEW_PARAMETERS)
    cloned = clone(estimator)
    assert {name: cloned.get_params()[name] for name in NEW_PARAMETERS} == NEW_PARAMETERS


@pytest.mark.parametrize("parameter, value", [
    ("weight_decay", -0.1), ("max_grad_norm", 0.0), ("max_grad_norm", -1.0),
    ("warmup_fraction", 1.0), ("learning_rate", "cosines"),
])
def test_the_estimators_name_a_bad_option(parameter, value):
    X, y = classification()
    with pytest.raises(ValueError, match=parameter):
        nnbp.MLPClassifier(max_iter=1, **{parameter: value}).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_an_estimator_hands_its_options_to_its_optimizer(solver):
    # nnbp.SGD / nnbp.Adam with the options, the schedule spanning max_iter
    # epochs of ceil(n / batch_size) = 4 updates, the first quarter warming up.
    X, y = classification()
    fitted = nnbp.MLPClassifier(solver=solver, max_iter=4, batch_size=16, random_state=0,
                                tol=0.0, n_iter_no_change=100, **NEW_PARAMETERS).fit(X, y)
    optimizer = fitted._optimizer
    assert isinstance(optimizer, nnbp.SGD if solver == "sgd" else nnbp.Adam)
    assert (optimizer.weight_decay, optimizer.max_grad_norm) == (0.05, 2.0)
    assert (optimizer.schedule, optimizer.total_steps, optimizer.warmup_steps) == \
        ("cosine", 16, 4)
    assert optimizer.updates == 16
    if solver == "sgd":
        # The schedule's end: the next update's rate is 0.
        assert optimizer.learning_rate == 0.0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_defaults_keep_the_path_and_the_options_change_it():
    X, y = classification()
    options = dict(solver="adam", max_iter=3, random_state=0)
    plain = nnbp.MLPClassifier(**options).fit(X, y)
    neutral = nnbp.MLPClassifier(**options, weight_decay=0.0, max_grad_norm=None,
                                 warmup_fraction=0.0).fit(X, y)
    assert np.array_equal(plain.network_.params, neutral.network_.params)
    # A norm the gradient exceeds: 2.0 would leave this one alone.
    for name, value in (NEW_PARAMETERS | {"max_grad_norm": 0.01}).items():
        changed = nnbp.MLPClassifier(**options, **{name: value})
        if name == "warmup_fraction":
            changed.set_params(learning_rate="cosine")
        changed.fit(X, y)
        assert not np.array_equal(plain.network_.params, changed.network_.params), name


# ------------------------------------------------------------ model files

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_model_files_hold_the_options_and_are_as_before_without_them(tmp_path, monkeypatch):
    import json
    from sklearn.utils._param_validation import StrOptions
    X, y = classification()
    plain = nnbp.MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    plain.save(tmp_path / "plain")
    with np.load(tmp_path / "plain", allow_pickle=False) as data:
        # A file at the defaults is the format as it was: version 1, no new keys.
        assert data["format_version"][()] == 1
        params = json.loads(data["estimator"][()])["params"]
        assert not {"weight_decay", "max_grad_norm", "warmup_fraction"} & set(params)
    assert nnbp.load(tmp_path / "plain").get_params() == plain.get_params()

    decayed = nnbp.MLPClassifier(max_iter=2, random_state=0, **NEW_PARAMETERS).fit(X, y)
    decayed.save(tmp_path / "decayed")
    with np.load(tmp_path / "decayed", allow_pickle=False) as data:
        params = json.loads(data["estimator"][()])["params"]
        assert {name: params[name] for name in NEW_PARAMETERS} == NEW_PARAMETERS
    loaded = nnbp.load(tmp_path / "decayed")
    assert loaded.get_params() == decayed.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), decayed.predict_proba(X))
    # An nnbp before them refuses such a file by name, rather than lose the options:
    # a parameter it does not have, or a learning_rate it does not know.
    older = [name for name in nnbp.MLPClassifier._get_param_names()
             if name not in ("weight_decay", "max_grad_norm", "warmup_fraction")]
    monkeypatch.setattr(nnbp.MLPClassifier, "_get_param_names", classmethod(lambda cls: older))
    with pytest.raises(ValueError, match="no parameter 'max_grad_norm'"):
        nnbp.load(tmp_path / "decayed")
    cosine_only = nnbp.MLPClassifier(max_iter=2, random_state=0, learning_rate="cosine")
    cosine_only.fit(X, y).save(tmp_path / "cosine")
    monkeypatch.setitem(nnbp.MLPClassifier._parameter_constraints, "learning_rate",
                        [StrOptions({"constant", "invscaling", "adaptive"})])
    with pytest.raises(ValueError, match="learning_rate"):
        nnbp.load(tmp_path / "cosine")
    assert nnbp.load(tmp_path / "plain").get_params() == plain.get_params()


# ------------------------------------------------------------ the command line

def test_the_command_line_takes_the_options(tmp_path):
    from nnbp.cli import main
    X, y = classification(n=80)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,y",
               comments="", fmt="%.6f")
    common = [str(path), "--target", "y", "--epochs", "3", "--hidden", "8", "--quiet",
              "--batch-size", "20"]
    norms = {}
    for name, extra in [("plain", []),
                        ("decayed", ["--weight-decay", "5", "--max-grad-norm", "0.5",
                                     "--lr-schedule", "cosine", "--warmup", "0.25"])]:
        out = tmp_path / f"{name}.npz"
        assert main(["train", *common, "--out", str(out), *extra]) == 0
        norms[name] = np.linalg.norm(nnbp.load(out).weights[0])
    assert norms["decayed"] < norms["plain"]
    for bad in (["--weight-decay", "-1"], ["--max-grad-norm", "0"], ["--warmup", "1.5"],
                ["--lr-schedule", "linear"]):
        with pytest.raises(SystemExit):
            main(["train", *common, *bad])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_estimator_trained_with_the_options_exports_to_onnx_as_any_other():
    # The options shape training only: the graph is the network's, as ever.
    onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    pytest.importorskip("onnx", reason="onnx is not installed")
    import nnbp.onnx
    X, y = classification()
    fitted = nnbp.MLPClassifier(max_iter=3, random_state=0, **NEW_PARAMETERS).fit(X, y)
    graph = nnbp.onnx.to_onnx(fitted, zipmap=False)
    session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_array_equal(labels, fitted.predict(X))
    np.testing.assert_allclose(probabilities, fitted.predict_proba(X), rtol=1e-12, atol=1e-12)


def test_partial_fit_goes_on_along_the_schedule_and_stays_at_zero_past_it():
    X, y = classification()
    # Without momentum: a velocity would carry its earlier steps past the end.
    estimator = nnbp.MLPClassifier(solver="sgd", learning_rate="cosine", max_iter=2,
                                   batch_size=30, random_state=0, learning_rate_init=0.1,
                                   momentum=0.0)
    for calls in range(1, 4):
        estimator.partial_fit(X, y, classes=[0, 1])
        optimizer = estimator._optimizer
        assert optimizer.updates == 2 * calls and optimizer.total_steps == 4
    assert optimizer.learning_rate == 0.0
    before = estimator.network_.params.copy()
    estimator.partial_fit(X, y)
    np.testing.assert_array_equal(estimator.network_.params, before)
