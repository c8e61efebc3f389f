"""Inverted dropout on the hidden layers: masks, gradients, training, and every adapter.

The masks are a counter-based hash of (seed, step, layer, row, unit): the
compiled kernels against nnbp.reference's plain-Python hash, bit for bit, at
every instruction set, and their statistics. The loss and gradient with a
fixed mask against the reference and by finite differences (scipy's
check_grad) in float32 and float64, and against torch autograd with the same
mask. A compiled epoch steps by exactly the masks Network.dropout_masks
gives, on any team of threads. Rates of 0 leave every result as it was, to
the bit. Then the estimators (scikit-learn's checks with dropout set, lbfgs
refusing it, here and in nnbp.dask), model files and the command line.
"""
import json
import math

import numpy as np
import pytest
import scipy.optimize
from support import (DTYPES, REFERENCE_TOLERANCE, assert_as_torch, make_targets,
                     reference_forward, reference_loss_and_grad, relative_error,
                     torch_softmax_loss_and_grad)

import nnbp
from nnbp import _core, reference
from nnbp.gradcheck import central_differences
from nnbp.training import Epoch

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Activations smooth enough for finite differences, and those whose derivative
# the backward pass takes from A (logistic, tanh): dropout must leave A whole.
SMOOTH = ("tanh", "logistic", "softplus", "gelu")


def problem(dtype, activation="tanh", output="softmax", sizes=(5, 7, 6, 3), n=11, seed=0):
    rng = np.random.default_rng(seed)
    net = nnbp.Network(sizes, activation=activation, output=output, dtype=dtype, seed=seed)
    for b in net.biases:
        b[...] = rng.uniform(-0.5, 0.5, size=b.shape)
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    return net, X, make_targets(output, n, sizes[-1], rng)


def reference_masked(net, X, y, masks):
    """The oracle's loss and gradient with the masks, in params' layout."""
    weights = [np.asarray(W, np.float64).tolist() for W in net.weights]
    biases = [np.asarray(b, np.float64).tolist() for b in net.biases]
    y = np.asarray(y)
    if net.output != "softmax" and y.ndim == 1:
        y = y.reshape(-1, 1)
    loss, dweights, dbiases = reference.loss_and_grad(
        weights, biases, np.asarray(X, np.float64).tolist(), y.tolist(), net.activation,
        net.output, alpha=net.alpha, negative_slope=net.negative_slope,
        dropout_masks=[np.asarray(r, np.float64).tolist() for r in masks])
    return loss, np.concatenate([np.ravel(g) for g in dweights]
                                + [np.ravel(g) for g in dbiases])


# ---------------------------------------------------------------- the masks

MASK_CASES = [(0, 0, 1, 0.5), (12345, 7, 2, 0.1), (2**64 - 1, 2**40, 3, 0.9),
              (987654321987, 3, 1, 0.25)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed, step, layer, rate", MASK_CASES)
def test_the_kernels_draw_the_references_masks_bit_for_bit(seed, step, layer, rate, dtype):
    out = np.empty((6, 37), dtype=dtype)
    _core.dropout_mask(seed, step, layer, rate, out)
    expected = np.array(reference.dropout_mask(seed, step, layer, 6, 37, rate)).astype(dtype)
    assert np.array_equal(out, expected)
    assert set(np.unique(out)) <= {dtype(0), dtype(1 / (1 - rate))}


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_instruction_set_draws_the_same_masks_and_trains_the_same(dtype):
    from conftest import available_instruction_sets
    isas = available_instruction_sets()
    if len(isas) < 2:
        pytest.skip("one instruction set only: nothing to compare")
    results = []
    previous = _core.kernel_isa()
    try:
        for isa in isas:
            _core.kernel_isa(isa)
            # 67 units leave a tail past every vector width.
            mask = np.empty((5, 67), dtype=dtype)
            _core.dropout_mask(99, 4, 2, 0.3, mask)
            net, X, y = problem(dtype, sizes=(5, 67, 33, 3))
            trainer = nnbp.StochasticTrainer(net, nnbp.SGD(0.1), batch_size=4, random_state=0,
                                             dropout=(0.3, 0.2))
            trainer.fit(X, y, max_epochs=2)
            results.append((mask, net.params.copy()))
    finally:
        _core.kernel_isa(previous)
    for mask, params in results[1:]:
        assert np.array_equal(mask, results[0][0])
        assert np.array_equal(params.view(np.uint8), results[0][1].view(np.uint8))


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.9])
def test_the_keep_rate_is_one_minus_p_within_the_binomials_spread(rate):
    # N units kept independently with probability 1 - p: the count kept is
    # Binomial(N, 1 - p), of standard deviation sqrt(N p (1 - p)). A fair
    # hash falls outside 5 of them once in 1.7 million draws; a biased
    # threshold (p 2^53 off by one ulp of p) stays far inside, a wrong one
    # (keep with probability p) far outside.
    net = nnbp.Network([4, 300, 200, 2], seed=0)
    masks = net.dropout_masks(400, rate, seed=2026, step=3)
    for mask in masks:
        kept = np.count_nonzero(mask)
        N = mask.size
        assert abs(kept - N * (1 - rate)) <= 5 * math.sqrt(N * rate * (1 - rate)), (kept, N)
        assert np.all(mask[mask != 0] == np.float64(1 / (1 - rate)))
    # Two layers', or two steps', masks are independent: they agree on a unit
    # with probability (1 - p)^2 + p^2.
    again = net.dropout_masks(400, rate, seed=2026, step=4)
    for first, second in ((masks[0][:, :200], masks[1]), (masks[0], again[0])):
        agree = np.count_nonzero((first != 0) == (second != 0))
        N, q = first.size, (1 - rate) ** 2 + rate ** 2
        assert abs(agree - N * q) <= 5 * math.sqrt(N * q * (1 - q))
    # Each unit is kept at the rate too: its 400 rows' keep rates spread as a
    # binomial's (no unit stuck on or off, which would spread them far wider).
    column_rates = np.count_nonzero(masks[0], axis=0) / 400
    assert column_rates.std() <= 1.5 * math.sqrt(rate * (1 - rate) / 400)


def test_the_masks_follow_the_seed_step_and_layer():
    net = nnbp.Network([3, 50, 50, 2], seed=0)
    base = net.dropout_masks(20, 0.5, seed=1, step=0)
    assert not np.array_equal(base[0], base[1])
    assert np.array_equal(base[0], net.dropout_masks(20, 0.5, seed=1, step=0)[0])
    for other in (net.dropout_masks(20, 0.5, seed=2, step=0),
                  net.dropout_masks(20, 0.5, seed=1, step=1)):
        assert not np.array_equal(base[0], other[0])
    # Per layer: a rate of 0 keeps every unit, at factor 1.
    mixed = net.dropout_masks(20, (0.0, 0.5), seed=1)
    assert np.all(mixed[0] == 1) and np.array_equal(mixed[1], base[1])


# ---------------------------------------------------------------- a fixed mask

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["softmax", "squared", "logistic", "poisson"])
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_loss_and_gradient_with_a_mask_match_the_reference(activation, output, dtype):
    net, X, y = problem(dtype, activation, output)
    net.alpha = 0.3
    masks = net.dropout_masks(X.shape[0], (0.4, 0.25), seed=5, step=2)
    loss, grad = net.loss_and_grad(X, y, dropout_masks=masks)
    expected_loss, expected_grad = reference_masked(net, X, y, masks)
    assert relative_error(loss, expected_loss) <= REFERENCE_TOLERANCE[dtype]
    assert relative_error(grad, expected_grad) <= REFERENCE_TOLERANCE[dtype]
    assert net.loss(X, y, dropout_masks=masks) == loss
    # The mask changes the result: dropout is not silently off.
    plain_loss, plain_grad = net.loss_and_grad(X, y)
    assert relative_error(grad, plain_grad) > 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_mask_of_ones_is_no_dropout_to_the_bit(dtype):
    net, X, y = problem(dtype)
    ones = [np.ones((X.shape[0], width), dtype) for width in net.layer_sizes[1:-1]]
    assert net.loss_and_grad(X, y, dropout_masks=ones)[0] == net.loss_and_grad(X, y)[0]
    assert np.array_equal(net.loss_and_grad(X, y, dropout_masks=ones)[1],
                          net.loss_and_grad(X, y)[1])


@pytest.mark.parametrize("activation", SMOOTH)
def test_scipy_check_grad_with_a_fixed_mask_in_float64(activation):
    net, X, y = problem(np.float64, activation, "softmax")
    masks = net.dropout_masks(X.shape[0], 0.3, seed=11)

    def loss(params):
        net.params = params
        return net.loss(X, y, dropout_masks=masks)

    def grad(params):
        net.params = params
        return net.loss_and_grad(X, y, dropout_masks=masks)[1].copy()

    x0 = net.params.copy()
    error = scipy.optimize.check_grad(loss, grad, x0, epsilon=1e-7)
    assert error <= 1e-6 * np.linalg.norm(grad(x0))


@pytest.mark.parametrize("activation", SMOOTH)
def test_finite_differences_with_a_fixed_mask_in_float32(activation):
    # The float32 gradient against central differences of the same masked loss
    # on a float64 twin (float32's own loss is too coarse to difference finely:
    # nnbp.check_gradients does the same), and scipy's check_grad on the float32
    # loss itself with a step float32 can resolve.
    net, X, y = problem(np.float32, activation, "squared")
    masks = net.dropout_masks(X.shape[0], (0.3, 0.5), seed=12)
    grad = net.loss_and_grad(X, y, dropout_masks=masks)[1].astype(np.float64)
    twin = net.copy(dtype=np.float64)
    X64, masks64 = X.astype(np.float64), [mask.astype(np.float64) for mask in masks]

    def twin_loss(params):
        twin.params = params
        return twin.loss(X64, y, dropout_masks=masks64)

    differences = central_differences(twin_loss, net.params.astype(np.float64), 6e-6)
    assert relative_error(grad, differences) <= REFERENCE_TOLERANCE[np.float32]

    def loss32(params):
        net.params = params
        return net.loss(X, y, dropout_masks=masks)

    def grad32(params):
        net.params = params
        return net.loss_and_grad(X, y, dropout_masks=masks)[1].astype(np.float64)

    # check_grad's forward differences err by h/2 f'' (truncation) and by about
    # eps |f| / h (float32's rounding of the loss): h = sqrt(eps) ~ 3e-4 balances
    # them. At h = 1e-3 the truncation alone is 3e-3 of the gradient for gelu
    # (the float64 twin's forward differences err as much there).
    x0 = net.params.astype(np.float64)
    error = scipy.optimize.check_grad(loss32, grad32, x0, epsilon=3e-4)
    assert error <= 2e-3 * np.linalg.norm(grad32(x0))


def test_bad_masks_are_named():
    net, X, y = problem(np.float64)
    good = net.dropout_masks(X.shape[0], 0.5, seed=0)
    with pytest.raises(ValueError, match="one array per hidden layer"):
        net.loss(X, y, dropout_masks=good[:1])
    with pytest.raises(ValueError, match=r"dropout_masks\[1\]"):
        net.loss(X, y, dropout_masks=[good[0], good[1][:3]])
    with pytest.raises(ValueError, match=r"dropout_masks\[0\]"):
        net.loss(X, y, dropout_masks=[np.full_like(good[0], np.nan), good[1]])
    with pytest.raises(ValueError, match="compiled loss"):
        net.loss(X, y, dropout_masks=good,
                 loss=nnbp.losses.as_loss(lambda y, z, w: (0.0, np.zeros_like(z))))


# ---------------------------------------------------------------- training

def masked_steps(net, X, y, rates, seed, batch_size):
    """An epoch over the rows in order by SGD.step, each batch's gradient taken with the
    masks Network.dropout_masks draws for its number: what the compiled epoch must do."""
    sgd = nnbp.SGD(0.1, momentum=0.9).start(net.params)
    for number, start in enumerate(range(0, X.shape[0], batch_size)):
        rows = slice(start, start + batch_size)
        masks = net.dropout_masks(X[rows].shape[0], rates, seed=seed, step=number)
        sgd.step(net.params, net.loss_and_grad(X[rows], y[rows], dropout_masks=masks)[1])
    return net.params.copy()


def epoch_with_dropout(net, X, y, rates, random_state, batch_size):
    epoch = Epoch(net, net.check_data(X, y), batch_size, shuffle=False, dropout=rates)
    sgd = nnbp.SGD(0.1, momentum=0.9).start(net.params)
    loss = epoch.run(sgd, random_state, np.empty_like(net.params), np.empty_like(net.params), 1)
    return loss, epoch.dropout_seed



@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [3, 11])
def test_the_compiled_epoch_steps_by_the_drawn_masks(batch_size, dtype, threads):
    # The seed is drawn from the epoch's random_state, after the order of the rows.
    rates = (0.3, 0.5)
    with threads(1):
        net, X, y = problem(dtype)
        _, seed = epoch_with_dropout(net, X, y, rates, np.random.RandomState(8), batch_size)
        assert seed == np.random.RandomState(8).randint(np.iinfo(np.int64).max, dtype=np.int64)
        stepped = net.params.copy()
        net, X, y = problem(dtype)
        expected = masked_steps(net, X, y, rates, seed, batch_size)
    assert np.array_equal(stepped, expected)


@pytest.mark.skipif(not _core.openmp_enabled(), reason="built without OpenMP")
@pytest.mark.parametrize("dtype", DTYPES)
def test_teams_draw_the_same_masks(dtype, threads):
    # A team splits each layer's units between its members, who draw the masks of
    # theirs: the same masks as one thread's, so the same steps to rounding (a
    # wrong mask would be off by the scale of the gradient itself).
    sizes, rates = (5, 40, 30, 3), (0.4, 0.4)
    with threads(1):
        net, X, y = problem(dtype, sizes=sizes, n=24)
        seed = np.random.RandomState(8).randint(np.iinfo(np.int64).max, dtype=np.int64)
        expected = masked_steps(net, X, y, rates, int(seed), batch_size=8)
    for n in (2, 3):
        runs = []
        for _ in range(2):
            _core.largest_team(reset=True)
            with threads(n):
                net, X, y = problem(dtype, sizes=sizes, n=24)
                epoch_with_dropout(net, X, y, rates, np.random.RandomState(8), 8)
            assert _core.largest_team() == n
            runs.append(net.params.copy())
        assert np.array_equal(runs[0], runs[1])
        np.testing.assert_allclose(runs[0], expected, rtol=0,
                                   atol=1e3 * np.finfo(dtype).eps * np.abs(expected).max())


def fit(dtype=np.float64, rates=0.3, random_state=0, **options):
    net, X, y = problem(dtype, n=40)
    trainer = nnbp.StochasticTrainer(net, nnbp.Adam(0.01), batch_size=8,
                                     random_state=random_state, dropout=rates, **options)
    trainer.fit(X, y, max_epochs=3)
    return net.params.copy(), trainer


def test_fits_are_reproducible_and_follow_the_random_state():
    first, trainer = fit()
    assert np.array_equal(first, fit()[0])
    assert not np.array_equal(first, fit(random_state=1)[0])
    # Dropout changes the fit, and no dropout (0, or 0 per layer) is the path without it.
    plain = fit(rates=0.0)[0]
    assert not np.array_equal(first, plain)
    assert np.array_equal(plain, fit(rates=(0.0, 0.0))[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", [1, 5])
def test_no_dropout_leaves_the_epoch_unchanged_to_the_bit(batch_size, dtype):
    # batch_size 1 is the fused one-example step, which dropout turns off.
    runs = []
    for dropout in (None, "zero"):
        net, X, y = problem(dtype, n=20)
        trainer = nnbp.StochasticTrainer(net, nnbp.SGD(0.05), batch_size=batch_size,
                                         random_state=3,
                                         **({} if dropout is None else {"dropout": 0.0}))
        trainer.fit(X, y, max_epochs=2)
        runs.append((net.params.copy(), trainer.loss_curve))
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]


def test_dropout_has_no_effect_outside_training():
    # After a fit with dropout, the network's passes are those without masks.
    net, X, y = problem(np.float64, n=40)
    trainer = nnbp.StochasticTrainer(net, nnbp.SGD(0.1), batch_size=8, random_state=0,
                                     dropout=0.5)
    trainer.fit(X, y, max_epochs=1)
    tolerance = REFERENCE_TOLERANCE[np.float64]
    assert relative_error(net.forward(X), reference_forward(net, X)) <= tolerance
    loss, grad = net.loss_and_grad(X, y)
    expected_loss, expected_grad = reference_loss_and_grad(net, X, y)
    assert relative_error(grad, expected_grad) <= tolerance
    assert relative_error(loss, expected_loss) <= tolerance


def test_bad_rates_are_named():
    net, X, y = problem(np.float64)
    for bad, match in ((1.0, "dropout must be < 1"), (-0.1, "dropout must be >= 0"),
                       ((0.1,), "one rate per hidden layer \\(2\\)"),
                       ((0.1, 0.2, 0.3), "one rate per hidden layer"),
                       (float("nan"), "dropout must be finite")):
        with pytest.raises(ValueError, match=match):
            nnbp.StochasticTrainer(net, nnbp.SGD(), batch_size=4, dropout=bad)
    with pytest.raises(TypeError, match="dropout must be a rate"):
        nnbp.StochasticTrainer(net, nnbp.SGD(), batch_size=4, dropout="0.5")
    with pytest.raises(ValueError, match="no hidden layer"):
        nnbp.StochasticTrainer(nnbp.Network([3, 2]), nnbp.SGD(), batch_size=4, dropout=0.5)
    with pytest.raises(ValueError, match="compiled loss"):
        nnbp.StochasticTrainer(net, nnbp.SGD(), batch_size=4, dropout=0.5,
                               loss=lambda y, z, w: (0.0, np.zeros_like(z)))


# ---------------------------------------------------------------- PyTorch

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_torch_with_the_same_mask_gives_the_same_loss_and_gradient(activation, dtype):
    """torch: each hidden activation times mask / (1 - p), written out, as nn.Dropout does
    in train mode with its own mask."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: nnbp never needs it")
    net, X, y = problem(dtype, activation, "softmax", sizes=(6, 16, 12, 4), n=20)
    rates = (0.25, 0.5)
    masks = net.dropout_masks(X.shape[0], rates, seed=4)
    loss, grad = net.loss_and_grad(X, y, dropout_masks=masks)
    function = {"relu": torch.relu, "tanh": torch.tanh,
                "gelu": torch.nn.functional.gelu}[activation]
    keep = [torch.tensor((mask != 0).astype(dtype)) for mask in masks]
    torch_loss, torch_grad = torch_softmax_loss_and_grad(
        torch, net, X, y, lambda l, z: function(z) * keep[l] / (1 - rates[l]))
    assert_as_torch(loss, grad, torch_loss, torch_grad, dtype)


# ---------------------------------------------------------------- the estimators

def classification(n=120):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.mark.parametrize("Estimator", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_the_estimators_take_dropout_in_get_params_and_clone(Estimator):
    from sklearn.base import clone
    assert Estimator().get_params()["dropout"] == 0.0
    for dropout in (0.2, [0.3, 0.1]):
        assert clone(Estimator(dropout=dropout)).get_params()["dropout"] == dropout


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_an_estimator_trains_with_dropout_and_predicts_without(solver):
    X, y = classification()
    options = dict(solver=solver, hidden_layer_sizes=(16, 8), max_iter=5, random_state=0)
    plain = nnbp.MLPClassifier(**options).fit(X, y)
    neutral = nnbp.MLPClassifier(**options, dropout=[0.0, 0.0]).fit(X, y)
    assert np.array_equal(plain.network_.params, neutral.network_.params)
    dropped = nnbp.MLPClassifier(**options, dropout=[0.5, 0.2]).fit(X, y)
    again = nnbp.MLPClassifier(**options, dropout=[0.5, 0.2]).fit(X, y)
    assert not np.array_equal(plain.network_.params, dropped.network_.params)
    assert np.array_equal(dropped.network_.params, again.network_.params)
    # predict_proba is the network without masks, as the reference computes it.
    net = dropped.network_
    weights = [W.tolist() for W in net.weights]
    expected = reference.forward(weights, [b.tolist() for b in net.biases], X[:5].tolist(),
                                 net.activation, net.output)
    np.testing.assert_allclose(dropped.predict_proba(X[:5])[:, 1], np.ravel(expected),
                               rtol=1e-10)
    assert np.array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    # partial_fit goes on with dropout too.
    dropped.partial_fit(X, y)


def test_lbfgs_and_bad_rates_are_refused_by_name():
    X, y = classification()
    with pytest.raises(ValueError, match="stochastic solvers"):
        nnbp.MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    # lbfgs with no dropout is lbfgs.
    nnbp.MLPClassifier(solver="lbfgs", dropout=0.0, max_iter=5).fit(X, y)
    for bad in (1.0, -0.5):
        with pytest.raises(ValueError, match="dropout"):
            nnbp.MLPClassifier(dropout=bad).fit(X, y)
    with pytest.raises(ValueError, match=r"one rate per hidden layer \(1\)"):
        nnbp.MLPRegressor(dropout=[0.1, 0.2], max_iter=2).fit(X, y.astype(float))


def test_the_dask_estimators_refuse_dropout_with_lbfgs_before_the_data():
    # Their local SGD drops (tests/test_dask_dropout.py); lbfgs refuses, as locally,
    # before it looks at X (here in memory, which nnbp.dask would refuse next).
    dask = pytest.importorskip("nnbp.dask", reason="nnbp's [dask] extra is not installed")
    X, y = classification()
    for Estimator in (dask.DaskMLPClassifier, dask.DaskMLPRegressor):
        with pytest.raises(ValueError, match="not solver='lbfgs', which is deterministic"):
            Estimator(dropout=0.2, solver="lbfgs").fit(X, y)


def test_model_files_hold_dropout_and_are_as_before_without_it(tmp_path, monkeypatch):
    X, y = classification()
    plain = nnbp.MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    plain.save(tmp_path / "plain")
    with np.load(tmp_path / "plain", allow_pickle=False) as data:
        assert data["format_version"][()] == 1
        assert "dropout" not in json.loads(data["estimator"][()])["params"]
    for dropout in (0.3, [0.4]):
        dropped = nnbp.MLPClassifier(max_iter=2, random_state=0, dropout=dropout).fit(X, y)
        dropped.save(tmp_path / "dropped")
        with np.load(tmp_path / "dropped", allow_pickle=False) as data:
            assert json.loads(data["estimator"][()])["params"]["dropout"] == dropout
        loaded = nnbp.load(tmp_path / "dropped")
        assert loaded.get_params()["dropout"] == dropout
        np.testing.assert_array_equal(loaded.predict_proba(X), dropped.predict_proba(X))
    # An nnbp before dropout refuses such a file by name, rather than train without it.
    older = [name for name in nnbp.MLPClassifier._get_param_names() if name != "dropout"]
    monkeypatch.setattr(nnbp.MLPClassifier, "_get_param_names", classmethod(lambda cls: older))
    with pytest.raises(ValueError, match="no parameter 'dropout'"):
        nnbp.load(tmp_path / "dropped")


def test_the_command_line_takes_dropout(tmp_path, capsys):
    from nnbp.cli import main
    X, y = classification(n=80)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,y",
               comments="", fmt="%.6f")
    common = [str(path), "--target", "y", "--epochs", "2", "--hidden", "8,4", "--quiet"]
    weights = {}
    for name, extra in [("plain", []), ("zero", ["--dropout", "0"]),
                        ("dropped", ["--dropout", "0.5,0.25"])]:
        out = tmp_path / f"{name}.npz"
        assert main(["train", *common, "--out", str(out), *extra]) == 0
        weights[name] = nnbp.load(out).params
    assert np.array_equal(weights["plain"], weights["zero"])
    assert not np.array_equal(weights["plain"], weights["dropped"])
    for bad in (["--dropout", "1.5"], ["--dropout", "a"]):
        with pytest.raises(SystemExit):
            main(["train", *common, *bad])
    for bad, message in ((["--dropout", "0.1,0.2,0.3"], "one rate per hidden layer"),
                         (["--dropout", "0.2", "--solver", "lbfgs"], "stochastic solvers")):
        assert main(["train", *common, *bad]) == 1
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_rows_drop_as_dense_ones(dtype):
    # A CSR X's first layer runs on the sparse kernels (and plain sgd on the
    # column step, which takes D(1) after its mask): the same masks, the same
    # results to rounding, in the loss and gradient and in an epoch.
    scipy_sparse = pytest.importorskip("scipy.sparse")
    results = []
    for sparse in (False, True):
        net, X, y = problem(dtype, n=24)
        X[np.abs(X) < 0.8] = 0
        rows = scipy_sparse.csr_matrix(X) if sparse else X
        masks = net.dropout_masks(X.shape[0], (0.3, 0.5), seed=9)
        _, grad = net.loss_and_grad(rows, y, dropout_masks=masks)
        trainer = nnbp.StochasticTrainer(net, nnbp.SGD(0.1, momentum=0.0), batch_size=5,
                                         random_state=0, dropout=(0.3, 0.5))
        trainer.fit(rows, y, max_epochs=2)
        results.append((grad.copy(), net.params.copy()))
    for dense, sparse in zip(*results):
        assert relative_error(sparse, dense) <= REFERENCE_TOLERANCE[dtype]


def test_an_estimator_trained_with_dropout_exports_to_onnx_without_it():
    # Dropout shapes training only: the graph is the whole network's, as predict's.
    onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    pytest.importorskip("onnx", reason="onnx is not installed")
    import nnbp.onnx
    X, y = classification()
    fitted = nnbp.MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=3, random_state=0,
                                dropout=0.4).fit(X, y)
    graph = nnbp.onnx.to_onnx(fitted, zipmap=False)
    session = onnxruntime.InferenceSession(graph.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_array_equal(labels, fitted.predict(X))
    np.testing.assert_allclose(probabilities, fitted.predict_proba(X), rtol=1e-12, atol=1e-12)
