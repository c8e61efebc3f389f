"""The Python boundary: bad input is refused with a clear error, odd layouts are handled.

Network (constructor, forward, loss, loss_and_grad), the per-layer functions of
nnbp.layers and the gradient checks must

* refuse bad input with a ValueError or TypeError whose message names the
  problem (never a crash, never a silently wrong answer);
* accept integer, boolean, list, Fortran-ordered, strided, broadcast,
  unaligned and read-only arrays, with results exactly equal to those of the
  same values given as a C-contiguous array of the computation's dtype;
* never modify the caller's arrays.
"""
import numpy as np
import pytest
from support import DTYPES, make_targets

import nnbp
from nnbp import layers

N_EXAMPLES = 6
N_INPUTS = 4
# (output, number of outputs): softmax takes (n,) labels; logistic, squared and
# poisson take (n,) with one output, else (n, m).
OUTPUT_CASES = [("softmax", 3), ("logistic", 1), ("logistic", 2), ("squared", 1),
                ("squared", 2), ("poisson", 1), ("poisson", 2)]
METHODS = ["forward", "loss", "loss_and_grad", "check_gradients"]
DATA_METHODS = ["loss", "loss_and_grad", "check_gradients"]


def output_id(case):
    return f"{case[0]}{case[1]}"


def dtype_id(dtype):
    return np.dtype(dtype).name


def make_problem(output, n_outputs, dtype, seed=0, alpha=0.1):
    """A small network and valid (X, y, sample_weight) for it."""
    rng = np.random.default_rng(seed)
    net = nnbp.Network([N_INPUTS, 5, n_outputs], activation="tanh", output=output,
                       dtype=dtype, alpha=alpha, seed=seed)
    X = rng.normal(size=(N_EXAMPLES, N_INPUTS)) * 2
    y = make_targets(output, N_EXAMPLES, n_outputs, rng)
    if output == "softmax":
        # Every class present, so that a relabelling bug cannot hide.
        y[:n_outputs] = np.arange(n_outputs)
    sample_weight = rng.uniform(0.5, 2.0, size=N_EXAMPLES)
    return net, X, y, sample_weight


def call(method, net, X, y=None, sample_weight=None):
    if method == "forward":
        return net.forward(X)
    if method == "loss":
        return net.loss(X, y, sample_weight)
    if method == "loss_and_grad":
        return net.loss_and_grad(X, y, sample_weight)
    return nnbp.check_gradients(net, X, y, sample_weight)


def with_value(array, index, value, dtype=None):
    array = np.array(array, dtype=dtype, copy=True)
    array[index] = value
    return array


def snapshot(array):
    """What must not change about a caller's array: values and flags."""
    flags = {key: array.flags[key] for key in ("C_CONTIGUOUS", "F_CONTIGUOUS", "WRITEABLE",
                                               "ALIGNED", "OWNDATA", "WRITEBACKIFCOPY")}
    return array.copy(), array.dtype, array.shape, array.strides, flags


def assert_unchanged(array, before):
    values, dtype, shape, strides, flags = before
    assert array.dtype == dtype and array.shape == shape and array.strides == strides
    assert np.array_equal(array, values)
    assert {key: array.flags[key] for key in flags} == flags


# =================================================================== the constructor


@pytest.mark.parametrize("layer_sizes, error, match", [
    ([], ValueError, "at least two entries"),
    ([3], ValueError, "at least two entries"),
    ((5,), ValueError, "at least two entries"),
    ([3, 0], ValueError, "layer size"),
    ([0, 3], ValueError, "layer size"),
    ([3, 0, 2], ValueError, "layer size"),
    ([3, -4, 2], ValueError, "layer size"),
    ([2**40, 2], ValueError, "layer size"),
    ([60000, 60000], ValueError, "too large"),
    (3, TypeError, "layer_sizes must be a sequence"),
    (None, TypeError, "layer_sizes must be a sequence"),
    ([3.0, 2], TypeError, "layer_sizes must hold ints"),
    ([3, 2.5], TypeError, "layer_sizes must hold ints"),
    ([True, 2], TypeError, "layer_sizes must hold ints"),
    ([3, np.True_], TypeError, "layer_sizes must hold ints"),
    (["3", "2"], TypeError, "layer_sizes must hold ints"),
    ("32", TypeError, "layer_sizes must hold ints"),
    ([3, None], TypeError, "layer_sizes must hold ints"),
], ids=repr)
def test_bad_layer_sizes(layer_sizes, error, match):
    with pytest.raises(error, match=match):
        nnbp.Network(layer_sizes)


def test_layer_sizes_accepts_numpy_ints():
    net = nnbp.Network(np.array([3, 4, 2], dtype=np.int32), seed=0)
    assert net.layer_sizes == (3, 4, 2)
    assert all(type(size) is int for size in net.layer_sizes)
    assert net.params.size == 3 * 4 + 4 * 2 + 4 + 2


@pytest.mark.parametrize("kind, valid", [("activation", nnbp.ACTIVATIONS),
                                         ("output", nnbp.OUTPUTS), ("init", nnbp.INITS)])
@pytest.mark.parametrize("name", ["nope", "ReLU", "Softmax", "", None, 1, ("relu",)], ids=repr)
def test_unknown_name_lists_the_valid_ones(kind, valid, name):
    with pytest.raises(ValueError, match=f"unknown {kind}") as info:
        nnbp.Network([3, 2], **{kind: name})
    message = str(info.value)
    assert all(v in message for v in valid), message


def test_unknown_layer_names_list_the_valid_ones():
    Z = np.ones((2, 3))
    for function in (lambda: layers.activation("sigmoid", Z),
                     lambda: layers.activation_backward("sigmoid", Z, Z),
                     lambda: layers.dense_forward(Z, Z, activation="sigmoid"),
                     lambda: layers.dense_backward(Z, Z[:, :3], Z[:, :2].copy(),
                                                   Z[:, :2].copy(), activation="sigmoid")):
        with pytest.raises(ValueError, match="unknown activation") as info:
            function()
        assert all(name in str(info.value) for name in nnbp.ACTIVATIONS)
    for function in (lambda: layers.output_function("hinge", Z),
                     lambda: layers.output_loss("hinge", Z, np.zeros(2, int)),
                     lambda: nnbp.check_loss_gradients("hinge", Z, np.zeros(2, int))):
        with pytest.raises(ValueError, match="unknown output") as info:
            function()
        assert all(name in str(info.value) for name in nnbp.OUTPUTS)


@pytest.mark.parametrize("dtype", [np.int32, "int64", np.float16, "float16", np.complex128,
                                   object, str, "garbage", "f4,f4", [1, 2],
                                   "datetime64[s]"], ids=repr)
def test_bad_network_dtype(dtype):
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        nnbp.Network([3, 2], dtype=dtype)


@pytest.mark.parametrize("dtype, expected", [
    (np.float32, np.float32), ("float32", np.float32), ("f4", np.float32),
    (np.dtype(np.float32), np.float32), (np.float64, np.float64), (float, np.float64),
    ("float64", np.float64), ("d", np.float64),
], ids=repr)
def test_network_dtypes(dtype, expected):
    net = nnbp.Network([3, 2], dtype=dtype, seed=0)
    assert net.dtype == np.dtype(expected)
    assert net.params.dtype == expected
    assert all(W.dtype == expected for W in net.weights)
    assert net.forward(np.ones((2, 3))).dtype == expected


@pytest.mark.parametrize("name, value, error, match", [
    ("alpha", -0.1, ValueError, "alpha must be >= 0"),
    ("alpha", -1, ValueError, "alpha must be >= 0"),
    ("alpha", np.nan, ValueError, "alpha must be finite"),
    ("alpha", np.inf, ValueError, "alpha must be finite"),
    ("alpha", 10**400, ValueError, "alpha must be finite"),
    ("alpha", "0.1", TypeError, "alpha must be a real number"),
    ("alpha", None, TypeError, "alpha must be a real number"),
    ("alpha", True, TypeError, "alpha must be a real number"),
    ("alpha", 1j, TypeError, "alpha must be a real number"),
    ("alpha", np.array([0.1]), TypeError, "alpha must be a real number"),
    ("sigma", 0.0, ValueError, "sigma must be > 0"),
    ("sigma", -1.0, ValueError, "sigma must be > 0"),
    ("sigma", np.nan, ValueError, "sigma must be finite"),
    ("sigma", np.inf, ValueError, "sigma must be finite"),
    ("sigma", 10**400, ValueError, "sigma must be finite"),
    ("sigma", "1", TypeError, "sigma must be a real number"),
    ("negative_slope", np.nan, ValueError, "negative_slope must be finite"),
    ("negative_slope", np.inf, ValueError, "negative_slope must be finite"),
    ("negative_slope", -np.inf, ValueError, "negative_slope must be finite"),
    ("negative_slope", -10**400, ValueError, "negative_slope must be finite"),
    ("negative_slope", np.float32("nan"), ValueError, "negative_slope must be finite"),
    ("negative_slope", "0.01", TypeError, "negative_slope must be a real number"),
    ("negative_slope", np.False_, TypeError, "negative_slope must be a real number"),
    ("bias", 1, TypeError, "bias must be True or False"),
    ("bias", 0, TypeError, "bias must be True or False"),
    ("bias", "yes", TypeError, "bias must be True or False"),
    ("bias", None, TypeError, "bias must be True or False"),
    ("bias", np.array([True]), TypeError, "bias must be True or False"),
], ids=lambda v: repr(v)[:30])
def test_bad_scalar_arguments(name, value, error, match):
    with pytest.raises(error, match=match):
        nnbp.Network([3, 4, 2], **{name: value})


def test_scalar_arguments_of_numpy_types_are_accepted():
    net = nnbp.Network([3, 2], alpha=np.float32(0.5), sigma=np.int64(2), init="normal",
                       negative_slope=np.float64(0.1), bias=np.True_, seed=0)
    assert (net.alpha, net.sigma, net.negative_slope, net.bias) == (0.5, 2.0, 0.1, True)
    assert all(type(v) is float for v in (net.alpha, net.sigma, net.negative_slope))
    assert type(net.bias) is bool


# =================================================================== bad X

def bad_X_cases():
    """(id, bad X from a good one, error, match)."""
    return [
        ("3_features", lambda X: X[:, :3], ValueError, "X has 3 features, but the network takes 4"),
        ("5_features", lambda X: np.hstack([X, X[:, :1]]), ValueError,
         "X has 5 features, but the network takes 4"),
        ("0_features", lambda X: X[:, :0], ValueError, "X has 0 features"),
        ("transposed", lambda X: X.T, ValueError, "X has 6 features"),
        ("1d", lambda X: X[0], ValueError, r"X must be 2-D.*reshape"),
        ("3d", lambda X: X[:, :, None], ValueError, r"X must be 2-D.*\(6, 4, 1\)"),
        ("scalar", lambda X: 1.5, ValueError, "X must be 2-D"),
        ("empty", lambda X: X[:0], ValueError, "X is empty"),
        ("empty_list", lambda X: [], ValueError, "X must be 2-D"),
        ("nan", lambda X: with_value(X, (2, 1), np.nan), ValueError,
         r"X contains NaN at index \(2, 1\)"),
        ("inf", lambda X: with_value(X, (5, 3), np.inf), ValueError,
         r"X contains infinity at index \(5, 3\)"),
        ("minus_inf", lambda X: with_value(X, (0, 0), -np.inf), ValueError,
         "X contains infinity"),
        ("nan_in_list", lambda X: with_value(X, (1, 1), np.nan).tolist(), ValueError,
         "X contains NaN"),
        ("nan_float16", lambda X: with_value(X, (1, 2), np.nan, np.float16), ValueError,
         "X contains NaN"),
        ("strings", lambda X: X.astype(str), TypeError, "X must hold real numbers"),
        ("string_list", lambda X: [["1", "2", "3", "4"]] * 6, TypeError,
         "X must hold real numbers"),
        ("objects", lambda X: X.astype(object), TypeError, "X must hold real numbers"),
        ("huge_ints", lambda X: [[10**40] * 4] * 6, TypeError, "X must hold real numbers"),
        ("None", lambda X: None, TypeError, "X is None"),
        ("None_entries", lambda X: [[None] * 4] * 6, TypeError, "X must hold real numbers"),
        ("complex", lambda X: X + 0j, TypeError, "X must hold real numbers.*complex"),
        ("datetime", lambda X: np.ones((6, 4), "datetime64[s]"), TypeError,
         "X must hold real numbers"),
        ("ragged", lambda X: [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]], ValueError, r"\bX\b"),
        ("dict", lambda X: {"a": 1}, TypeError, "X must hold real numbers"),
    ]


@pytest.mark.parametrize("case", bad_X_cases(), ids=lambda case: case[0])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("output_case", OUTPUT_CASES, ids=output_id)
def test_bad_X(output_case, dtype, method, case):
    net, X, y, sample_weight = make_problem(*output_case, dtype)
    _, make_bad, error, match = case
    before = net.params.copy()
    with pytest.raises(error, match=match):
        call(method, net, make_bad(X), y, sample_weight)
    assert np.array_equal(net.params, before)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("output_case", OUTPUT_CASES, ids=output_id)
def test_X_too_large_for_float32_is_refused(output_case, method):
    net, X, y, sample_weight = make_problem(*output_case, np.float32)
    X[3, 2] = 1e39  # finite in float64, infinity in float32
    with pytest.raises(ValueError, match=r"X contains infinity at index \(3, 2\).*float32"):
        call(method, net, X, y, sample_weight)
    # float64 holds it: the float64 network takes it.
    net64 = net.copy(np.float64)
    assert net64.forward(X).shape == (N_EXAMPLES, output_case[1])


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_assume_finite_skips_only_the_pass_over_an_x_taken_as_it_is():
    net, X, y, sample_weight = make_problem(*OUTPUT_CASES[0], np.float32)
    X = X.astype(np.float32)
    X[3, 2] = np.nan
    data = net.check_data(X, y, sample_weight, assume_finite=True)
    assert data.X is X      # taken as it is, its values left to the caller
    with pytest.raises(ValueError, match=r"X contains NaN at index \(3, 2\)"):
        net.check_data(X, y, sample_weight)
    # A converted X is checked whatever the caller says: the conversion overflows.
    X64 = X.astype(np.float64)
    X64[3, 2] = 1e39
    with pytest.raises(ValueError, match=r"X contains infinity at index \(3, 2\)"):
        net.check_data(X64, y, sample_weight, assume_finite=True)


@pytest.mark.parametrize("output_case", OUTPUT_CASES, ids=output_id)
def test_X_of_float32_max_is_accepted_by_float32_network(output_case):
    net, X, y, _ = make_problem(*output_case, np.float32)
    X[0, 0] = np.finfo(np.float32).max  # as large as float32 goes: still finite
    out = net.forward(X)
    assert out.shape == (N_EXAMPLES, output_case[1])
    # The other rows are as they were without it: up to rounding, as BLAS
    # may round a row by its place in the batch (OpenBLAS's Nehalem kernels do).
    np.testing.assert_allclose(out[1:], net.forward(X[1:]), rtol=16 * np.finfo(np.float32).eps)


# =================================================================== bad y


def bad_y_cases(output, n_outputs):
    """(id, bad y from a good one, error, match) for this output."""
    n = N_EXAMPLES
    rows = "labels" if output == "softmax" else "rows"
    cases = [
        ("short", lambda y: y[:-1], ValueError, f"y has {n - 1} {rows}, but X has {n} examples"),
        ("long", lambda y: np.concatenate([y, y[:1]]), ValueError,
         f"y has {n + 1} {rows}, but X has {n} examples"),
        ("one", lambda y: y[:1], ValueError, f"y has 1 {rows}, but X has {n} examples"),
        ("nan", lambda y: with_value(y, 4, np.nan, float), ValueError,
         r"y contains NaN at index \(4"),
        ("inf", lambda y: with_value(y, 1, np.inf, float), ValueError,
         r"y contains infinity at index \(1"),
        ("minus_inf", lambda y: with_value(y, 0, -np.inf, float), ValueError,
         "y contains infinity"),
        ("strings", lambda y: np.asarray(y).astype(str), TypeError, "y must hold real numbers"),
        ("objects", lambda y: np.asarray(y).astype(object), TypeError, "y must hold real numbers"),
        ("None", lambda y: None, TypeError, "y is None"),
        ("complex", lambda y: np.asarray(y) + 0j, TypeError, "y must hold real numbers.*complex"),
    ]
    if output == "softmax":
        m = n_outputs
        cases += [
            ("label_m", lambda y: with_value(y, 2, m), ValueError,
             rf"class labels must lie in 0\.\.{m - 1}.*{m} outputs.*0 to {m}"),
            ("label_large", lambda y: with_value(y, 2, 10**12), ValueError,
             rf"class labels must lie in 0\.\.{m - 1}"),
            ("label_negative", lambda y: with_value(y, 0, -1), ValueError,
             rf"class labels must lie in 0\.\.{m - 1}.*from -1"),
            ("label_float_m", lambda y: with_value(y, 2, float(m), float), ValueError,
             rf"class labels must lie in 0\.\.{m - 1}"),
            ("label_huge_float", lambda y: with_value(y, 2, 1e300, float), ValueError,
             "class labels must lie in"),
            ("label_uint64_huge", lambda y: with_value(y, 2, 2**64 - 1, np.uint64), ValueError,
             "class labels must lie in"),
            ("fraction", lambda y: with_value(y, 3, 0.5, float), ValueError,
             "integer class labels.*fractions"),
            ("fraction_near", lambda y: with_value(y, 3, 1.0000001, float), ValueError,
             "integer class labels"),
            ("fraction_float32", lambda y: with_value(y, 3, 1.5, np.float32), ValueError,
             "integer class labels"),
            ("column", lambda y: np.asarray(y).reshape(-1, 1), ValueError,
             r"1-D array of class labels, got shape \(6, 1\)"),
            ("one_hot", lambda y: np.eye(m)[y], ValueError,
             rf"1-D array of class labels, got shape \(6, {m}\)"),
            ("scalar", lambda y: 1, ValueError, "1-D array of class labels"),
        ]
    else:
        m = n_outputs
        expected = r"\(n,\) or \(n, 1\)" if m == 1 else rf"\(n, {m}\)"
        cases += [
            ("too_many_columns", lambda y: np.hstack([y, y[:, :1]]), ValueError,
             rf"y must have shape {expected}.*got shape \(6, {m + 1}\)"),
            ("3d", lambda y: np.asarray(y)[..., None], ValueError,
             rf"y must have shape {expected}.*got shape \(6, {m}, 1\)"),
            ("scalar", lambda y: 0.5, ValueError, rf"y must have shape {expected}"),
            ("row", lambda y: np.asarray(y).reshape(1, -1), ValueError,
             rf"y must have shape {expected}|y has 1 rows"),
        ]
        if m == 1:
            cases.append(("two_columns", lambda y: np.hstack([y, y]), ValueError,
                          r"y must have shape \(n,\) or \(n, 1\).*\(6, 2\)"))
        else:
            cases.append(("flat", lambda y: y[:, 0], ValueError,
                          rf"y must have shape \(n, {m}\) for a network with {m} outputs.*\(6,\)"))
        if output == "logistic":
            cases += [
                ("above_one", lambda y: with_value(y, (2, 0), 1.5), ValueError,
                 r"logistic targets must lie in \[0, 1\].*1\.5"),
                ("below_zero", lambda y: with_value(y, (2, 0), -0.1), ValueError,
                 r"logistic targets must lie in \[0, 1\].*-0\.1"),
                ("label_2", lambda y: with_value(y, (2, 0), 2, np.int64), ValueError,
                 r"logistic targets must lie in \[0, 1\]"),
                ("minus_one_labels", lambda y: 2 * np.asarray(y) - 1, ValueError,
                 r"logistic targets must lie in \[0, 1\]"),
            ]
        if output == "poisson":
            cases += [
                ("negative", lambda y: with_value(y, (2, 0), -0.5), ValueError,
                 r"poisson targets must be non-negative.*-0\.5"),
                ("tiny_negative", lambda y: with_value(y, (3, 0), -1e-30), ValueError,
                 "poisson targets must be non-negative"),
                ("negative_int", lambda y: with_value(y, (2, 0), -1, np.int64), ValueError,
                 r"poisson targets must be non-negative.*from -1\.0 to"),
                ("centred", lambda y: np.asarray(y) - np.mean(y), ValueError,
                 "poisson targets must be non-negative"),
            ]
    return cases


BAD_Y = [(output_case, case) for output_case in OUTPUT_CASES for case in bad_y_cases(*output_case)]


@pytest.mark.parametrize("output_case, case", BAD_Y,
                         ids=[f"{output_id(o)}-{c[0]}" for o, c in BAD_Y])
@pytest.mark.parametrize("method", DATA_METHODS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_bad_y(output_case, case, method, dtype):
    net, X, y, sample_weight = make_problem(*output_case, dtype)
    _, make_bad, error, match = case
    with pytest.raises(error, match=match):
        call(method, net, X, make_bad(y), sample_weight)


@pytest.mark.parametrize("output_case, case", BAD_Y,
                         ids=[f"{output_id(o)}-{c[0]}" for o, c in BAD_Y])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_bad_y_output_loss(output_case, case, dtype):
    output, n_outputs = output_case
    _, _, y, sample_weight = make_problem(*output_case, dtype)
    Z = np.random.default_rng(1).normal(size=(N_EXAMPLES, n_outputs)).astype(dtype)
    _, make_bad, error, match = case
    with pytest.raises(error, match=match):
        layers.output_loss(output, Z, make_bad(y), sample_weight)
    with pytest.raises(error, match=match):
        nnbp.check_loss_gradients(output, Z, make_bad(y), sample_weight)


@pytest.mark.parametrize("output", ["logistic", "squared", "poisson"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_one_output_targets_as_vector_or_column(output, dtype):
    net, X, y, sample_weight = make_problem(output, 1, dtype)
    column = np.asarray(y).reshape(-1, 1)
    vector = column[:, 0]
    loss_v, grad_v = net.loss_and_grad(X, vector, sample_weight)
    loss_c, grad_c = net.loss_and_grad(X, column, sample_weight)
    assert loss_v == loss_c and np.array_equal(grad_v, grad_c)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_logistic_takes_probabilities_and_squared_takes_any_reals(dtype):
    net, X, y, _ = make_problem("logistic", 2, dtype)
    probabilities = np.full_like(y, 0.3)
    probabilities[0] = [0.0, 1.0]
    assert np.isfinite(net.loss(X, probabilities))
    net, X, y, _ = make_problem("squared", 2, dtype)
    assert net.loss(X, y * 100 - 50) > net.loss(X, y) >= 0  # far outside [0, 1]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_poisson_takes_rates_and_zeros(dtype):
    """Poisson targets are counts or any non-negative rates, zero included."""
    net, X, y, sample_weight = make_problem("poisson", 2, dtype)
    for targets in (y + 0.25, np.zeros_like(y), y * 1e6, np.full_like(y, 1e-30), -0.0 * y):
        loss, grad = net.loss_and_grad(X, targets, sample_weight)
        assert np.isfinite(loss) and loss >= 0 and np.all(np.isfinite(grad))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("method", DATA_METHODS)
@pytest.mark.parametrize("output_case", [c for c in OUTPUT_CASES
                                         if c[0] in ("squared", "poisson")], ids=output_id)
def test_y_too_large_for_float32_is_refused(output_case, method):
    net, X, y, sample_weight = make_problem(*output_case, np.float32)
    y = np.array(y, dtype=np.float64)
    y.flat[1] = 1e39 if output_case[0] == "poisson" else -1e39
    with pytest.raises(ValueError, match=r"y contains infinity.*float32"):
        call(method, net, X, y, sample_weight)


# =================================================================== bad sample weights


def bad_weight_cases(dtype):
    n = N_EXAMPLES
    return [
        ("short", lambda w: w[:-1], ValueError,
         rf"sample_weight must have shape \({n},\).*got shape \({n - 1},\)"),
        ("long", lambda w: np.concatenate([w, w]), ValueError,
         rf"sample_weight must have shape \({n},\).*got shape \({2 * n},\)"),
        ("column", lambda w: w.reshape(-1, 1), ValueError,
         rf"sample_weight must have shape \({n},\).*\({n}, 1\)"),
        ("empty", lambda w: w[:0], ValueError, rf"sample_weight must have shape \({n},\)"),
        ("negative", lambda w: with_value(w, 3, -0.5), ValueError,
         "sample_weight must be non-negative.*-0.5"),
        ("tiny_negative", lambda w: with_value(w, 3, -1e-30), ValueError,
         "sample_weight must be non-negative"),
        ("negative_scalar", lambda w: -1.0, ValueError, "sample_weight must be non-negative"),
        ("zeros", lambda w: np.zeros_like(w), ValueError, "sample_weight sums to zero"),
        ("zero_scalar", lambda w: 0, ValueError, "sample_weight sums to zero"),
        ("int_zeros", lambda w: np.zeros(n, dtype=int), ValueError, "sample_weight sums to zero"),
        ("nan", lambda w: with_value(w, 2, np.nan), ValueError,
         r"sample_weight contains NaN at index \(2,\)"),
        ("inf", lambda w: with_value(w, 5, np.inf), ValueError,
         r"sample_weight contains infinity at index \(5,\)"),
        ("nan_scalar", lambda w: np.nan, ValueError, "sample_weight contains NaN"),
        ("strings", lambda w: w.astype(str), TypeError, "sample_weight must hold real numbers"),
        ("objects", lambda w: w.astype(object), TypeError,
         "sample_weight must hold real numbers"),
        ("complex", lambda w: w + 0j, TypeError, "sample_weight must hold real numbers"),
        ("ragged", lambda w: [1.0, [1.0, 2.0]] + [1.0] * 4, ValueError, "sample_weight"),
        # Finite weights whose sum overflows: the weighted mean would be 0/inf or nan.
        ("sum_overflows", lambda w: np.full(n, 1e308), ValueError, "sample_weight"),
        # Finite weights so small that 1/sum overflows: the gradient would be inf/nan.
        ("sum_underflows", lambda w: np.full(n, 1e-320), ValueError, "sample_weight"),
    ]


BAD_WEIGHTS = [(dtype, case) for dtype in DTYPES for case in bad_weight_cases(dtype)]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype, case", BAD_WEIGHTS,
                         ids=[f"{dtype_id(d)}-{c[0]}" for d, c in BAD_WEIGHTS])
@pytest.mark.parametrize("method", DATA_METHODS)
@pytest.mark.parametrize("output_case", OUTPUT_CASES, ids=output_id)
def test_bad_sample_weight(output_case, method, dtype, case):
    net, X, y, sample_weight = make_problem(*output_case, dtype)
    _, make_bad, error, match = case
    with pytest.raises(error, match=match):
        call(method, net, X, y, make_bad(sample_weight))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype, case", BAD_WEIGHTS,
                         ids=[f"{dtype_id(d)}-{c[0]}" for d, c in BAD_WEIGHTS])
@pytest.mark.parametrize("output_case", OUTPUT_CASES, ids=output_id)
def test_bad_sample_weight_output_loss(output_case, dtype, case):
    output, n_outputs = output_case
    _, _, y, sample_weight = make_problem(*output_case, dtype)
    Z = np.random.default_rng(1).normal(size=(N_EXAMPLES, n_outputs)).astype(dtype)
    _, make_bad, error, match = case
    with pytest.raises(error, match=match):
        layers.output_loss(output, Z, y, make_bad(sample_weight))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("method", DATA_METHODS)
def test_sample_weight_too_large_for_float32_is_refused(method):
    net, X, y, sample_weight = make_problem("softmax", 3, np.float32)
    sample_weight[4] = 1e39
    with pytest.raises(ValueError, match=r"sample_weight contains infinity.*float32"):
        call(method, net, X, y, sample_weight)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("output_case", OUTPUT_CASES, ids=output_id)
def test_zero_weights_drop_examples(output_case, dtype):
    """Some zero weights are fine: they leave those examples out."""
    net, X, y, sample_weight = make_problem(*output_case, dtype, alpha=0.0)
    sample_weight[[1, 4]] = 0
    keep = sample_weight > 0
    loss, grad = net.loss_and_grad(X, y, sample_weight)
    loss_kept, grad_kept = net.loss_and_grad(X[keep], np.asarray(y)[keep], sample_weight[keep])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss, loss_kept, rtol=rtol)
    np.testing.assert_allclose(grad, grad_kept, rtol=rtol, atol=rtol * np.abs(grad).max())


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_weights_of_extreme_but_safe_scale_give_the_unweighted_answer(dtype):
    """Uniform weights, however large or small (within the dtype), change nothing."""
    net, X, y, _ = make_problem("softmax", 3, dtype, alpha=0.0)
    loss, grad = net.loss_and_grad(X, y)
    info = np.finfo(dtype)
    for scale in (float(info.tiny) * 4, 1e-20, 1e20, float(info.max) / (4 * N_EXAMPLES)):
        weighted_loss, weighted_grad = net.loss_and_grad(X, y, np.full(N_EXAMPLES, scale))
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(weighted_loss, loss, rtol=rtol, err_msg=str(scale))
        np.testing.assert_allclose(weighted_grad, grad, rtol=rtol, atol=rtol * np.abs(grad).max(),
                                   err_msg=str(scale))


# =================================================================== loss_and_grad's out, params


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_bad_out(dtype):
    net, X, y, _ = make_problem("softmax", 3, dtype)
    other = np.float64 if dtype == np.float32 else np.float32
    n = net.n_params
    read_only = np.zeros(n, dtype)
    read_only.setflags(write=False)
    bad = [
        np.zeros(n, other),
        np.zeros(n, np.int64),
        np.zeros(n - 1, dtype),
        np.zeros(n + 1, dtype),
        np.zeros((1, n), dtype),
        np.zeros((n, 1), dtype),
        np.zeros(2 * n, dtype)[::2],
        read_only,
        unaligned(np.zeros(n, dtype)),
        [0.0] * n,
        np.zeros(n, dtype).tolist(),
        "out",
    ]
    message = (rf"out must be a writeable C-contiguous {np.dtype(dtype).name} array "
               rf"of shape \({n},\)")
    for out in bad:
        with pytest.raises(ValueError, match=message):
            net.loss_and_grad(X, y, out=out)
        if isinstance(out, np.ndarray):
            assert not out.any()  # nothing was written


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_out_receives_the_gradient(dtype):
    net, X, y, sample_weight = make_problem("squared", 2, dtype)
    out = np.full(net.n_params, np.nan, dtype)
    loss, grad = net.loss_and_grad(X, y, sample_weight, out=out)
    expected_loss, expected = net.loss_and_grad(X, y, sample_weight)
    assert grad is out
    assert loss == expected_loss and np.array_equal(out, expected)


@pytest.mark.parametrize("view", ["params", "params[:]"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_out_must_not_be_the_parameters(dtype, view):
    """out = net.params would overwrite the weights while the backward pass reads them.

    The gradient would come back wrong and the network corrupted, silently:
    loss_and_grad must refuse it (ValueError naming out), or get it right.
    """
    net, X, y, sample_weight = make_problem("squared", 2, dtype)
    params = net.params.copy()
    expected_loss, expected = net.loss_and_grad(X, y, sample_weight)
    out = net.params if view == "params" else net.params[:]
    try:
        loss, grad = net.loss_and_grad(X, y, sample_weight, out=out)
    except ValueError as error:
        assert "out" in str(error)
        assert np.array_equal(net.params, params)
    else:
        assert loss == expected_loss
        assert np.array_equal(grad, expected), (
            "loss_and_grad(out=net.params) returned a wrong gradient (out aliases params)")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_params_setter_refuses_a_wrong_shape(dtype):
    net = nnbp.Network([3, 4, 2], dtype=dtype, seed=0)
    n = net.n_params
    before = net.params.copy()
    for values in (np.zeros(n - 1), np.zeros(n + 1), np.zeros((1, n)), np.zeros((n, 1)),
                   0.0, [0.0] * (n - 1), np.zeros(0)):
        with pytest.raises(ValueError, match=rf"params must have shape \({n},\), got"):
            net.params = values
        assert np.array_equal(net.params, before)
    net.params = np.arange(n).tolist()  # a list of the right length is fine
    assert np.array_equal(net.params, np.arange(n, dtype=dtype))
    assert net.weights[0][0, 1] == 1


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_params_setter_refuses_non_finite_and_non_real_values(dtype):
    net = nnbp.Network([3, 4, 2], dtype=dtype, seed=0)
    before = net.params.copy()
    for bad, error, match in [(np.nan, ValueError, "params contains NaN at index"),
                              (np.inf, ValueError, "params contains infinity"),
                              (1j, TypeError, "params must hold real numbers")]:
        values = before.astype(complex if error is TypeError else np.float64)
        values[3] = bad
        with pytest.raises(error, match=match):
            net.params = values
        assert np.array_equal(net.params, before)


# =================================================================== the per-layer functions


def layer_inputs(dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(5, 3)).astype(dtype)
    W = rng.normal(size=(4, 3)).astype(dtype)
    b = rng.normal(size=4).astype(dtype)
    Z = rng.normal(size=(5, 4)).astype(dtype)
    dA = rng.normal(size=(5, 4)).astype(dtype)
    return X, W, b, Z, dA


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_bad_layer_inputs(dtype):
    X, W, b, Z, dA = layer_inputs(dtype)
    raises = [
        (lambda: layers.dense_forward(X[:, :2], W, b), ValueError, "X has 2 features, but W has 3"),
        (lambda: layers.dense_forward(X, W, b[:3]), ValueError, r"b must have shape \(4,\)"),
        (lambda: layers.dense_forward(X, W, b[:, None]), ValueError, r"b must have shape \(4,\)"),
        (lambda: layers.dense_forward(X, W, with_value(b, 1, np.nan)), ValueError,
         "b contains NaN"),
        (lambda: layers.dense_forward(X, W, b.astype(str)), TypeError, "b must hold real numbers"),
        (lambda: layers.dense_forward(X, W[0], b), ValueError, "W must be a non-empty 2-D"),
        (lambda: layers.dense_forward(X, W[:0], b[:0]), ValueError, "W must be a non-empty 2-D"),
        (lambda: layers.dense_forward(X, with_value(W, (0, 2), np.inf), b), ValueError,
         r"W contains infinity at index \(0, 2\)"),
        (lambda: layers.dense_forward(X[:0], W, b), ValueError, "X must be a non-empty 2-D"),
        (lambda: layers.dense_forward(X[0], W, b), ValueError, "X must be a non-empty 2-D"),
        (lambda: layers.dense_forward(with_value(X, (4, 0), np.nan), W, b), ValueError,
         r"X contains NaN at index \(4, 0\)"),
        (lambda: layers.dense_forward(X.astype(object), W, b), TypeError, "X must hold real"),
        (lambda: layers.dense_forward(None, W, b), TypeError, "X is None"),
        (lambda: layers.dense_forward(X + 1j, W, b), TypeError, "X must hold real"),
        (lambda: layers.dense_forward(X, W, b, negative_slope=np.nan), ValueError,
         "negative_slope must be finite"),
        (lambda: layers.dense_backward(X, W, Z[:, :3], dA), ValueError,
         r"Z must have shape \(5, 4\)"),
        (lambda: layers.dense_backward(X, W, Z, dA[:4]), ValueError,
         r"dA must have shape \(5, 4\)"),
        (lambda: layers.dense_backward(X[:, :2], W, Z, dA), ValueError, "X has 2 features"),
        (lambda: layers.dense_backward(X, W, Z, with_value(dA, (1, 1), np.nan)), ValueError,
         "dA contains NaN"),
        (lambda: layers.dense_backward(X, W, with_value(Z, (1, 1), -np.inf), dA), ValueError,
         "Z contains infinity"),
        (lambda: layers.dense_backward(X, W, Z, dA, negative_slope="a"), TypeError,
         "negative_slope must be a real number"),
        (lambda: layers.activation("relu", Z[0]), ValueError, "Z must be a non-empty 2-D"),
        (lambda: layers.activation("relu", Z[:, :0]), ValueError, "Z must be a non-empty 2-D"),
        (lambda: layers.activation("relu", Z[:, :, None]), ValueError, "Z must be a non-empty 2-D"),
        (lambda: layers.activation("tanh", with_value(Z, (0, 0), np.nan)), ValueError,
         "Z contains NaN"),
        (lambda: layers.activation("tanh", Z.astype(str)), TypeError, "Z must hold real"),
        (lambda: layers.activation("tanh", None), TypeError, "Z is None"),
        (lambda: layers.activation("leaky_relu", Z, negative_slope=np.inf), ValueError,
         "negative_slope must be finite"),
        (lambda: layers.activation_backward("relu", Z, dA.T), ValueError,
         r"dA must have shape \(5, 4\)"),
        (lambda: layers.activation_backward("relu", Z, with_value(dA, (0, 3), np.inf)),
         ValueError, "dA contains infinity"),
        (lambda: layers.output_function("softmax", with_value(Z, (2, 2), np.nan)), ValueError,
         "Z contains NaN"),
        (lambda: layers.output_function("softmax", Z[0]), ValueError, "Z must be a non-empty 2-D"),
        (lambda: layers.output_loss("softmax", Z[:0], []), ValueError, "Z must be a non-empty 2-D"),
        (lambda: layers.output_loss("squared", with_value(Z, (2, 2), np.inf), Z), ValueError,
         "Z contains infinity"),
    ]
    if dtype == np.float32:
        big = X.astype(np.float64)
        big[1, 1] = 1e39
        raises.append((lambda: layers.dense_forward(big, W, b), ValueError,
                       r"X contains infinity.*float32"))
    for function, error, match in raises:
        with pytest.raises(error, match=match):
            function()


# =================================================================== the gradient checks


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(reference="yes"), ValueError, "reference must be True, False or 'auto'"),
    (dict(reference=1), ValueError, "reference must be True, False or 'auto'"),
    (dict(reference=None), ValueError, "reference must be True, False or 'auto'"),
    (dict(step=0), ValueError, "step must be > 0"),
    (dict(step=-1e-6), ValueError, "step must be > 0"),
    (dict(step=np.nan), ValueError, "step must be finite"),
    (dict(step="1e-6"), TypeError, "step must be a real number"),
    (dict(tolerance=0), ValueError, "tolerance must be > 0"),
    (dict(tolerance=np.inf), ValueError, "tolerance must be finite"),
], ids=repr)
def test_bad_gradient_check_options(kwargs, error, match):
    net, X, y, _ = make_problem("softmax", 3, np.float64)
    X_, W, b, Z, dA = layer_inputs(np.float64)
    with pytest.raises(error, match=match):
        nnbp.check_gradients(net, X, y, **kwargs)
    with pytest.raises(error, match=match):
        nnbp.check_layer_gradients(X_, W, b, **kwargs)
    with pytest.raises(error, match=match):
        nnbp.check_loss_gradients("squared", Z, dA, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_check_gradients_takes_lists(dtype):
    net, X, y, sample_weight = make_problem("softmax", 3, dtype)
    report = nnbp.check_gradients(net, X.tolist(), y.tolist(), sample_weight.tolist())
    expected = nnbp.check_gradients(net, X, y, sample_weight)
    assert report.passed
    assert report.loss == expected.loss and report.blocks == expected.blocks


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_check_loss_gradients_takes_lists(dtype):
    _, _, _, Z, dA = layer_inputs(dtype)
    report = nnbp.check_loss_gradients("squared", Z.tolist(), dA.tolist())
    expected = nnbp.check_loss_gradients("squared", Z.astype(np.float64), dA)
    assert report.passed
    assert report.loss == expected.loss and report.blocks == expected.blocks


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_check_layer_gradients_takes_lists(dtype):
    """Lists are computed in float64, as in nnbp.layers."""
    X, W, b, _, _ = layer_inputs(dtype)
    expected = nnbp.check_layer_gradients(*(np.asarray(a, np.float64) for a in (X, W, b)))
    report = nnbp.check_layer_gradients(X.tolist(), W.tolist(), b.tolist())
    assert report.passed
    assert report.loss == expected.loss and report.blocks == expected.blocks


# =================================================================== odd layouts, exactly


def embed_rows(A):
    """A strided view of A's values: every other row of a larger array."""
    A = np.asarray(A)
    big = np.full((2 * A.shape[0],) + A.shape[1:], 77, dtype=A.dtype)
    big[::2] = A
    return big[::2]


def embed_columns(A):
    big = np.full((A.shape[0], 3 * A.shape[1]), 77, dtype=A.dtype)
    big[:, 1::3] = A
    return big[:, 1::3]


def read_only(A):
    A = np.array(A, copy=True, order="K")
    A.setflags(write=False)
    return A


def unaligned(A):
    A = np.ascontiguousarray(A)
    buffer = np.zeros(A.nbytes + 1, dtype=np.uint8)
    U = buffer[1:].view(A.dtype).reshape(A.shape)
    U[...] = A
    assert not U.flags.aligned
    return U


def other_float(A):
    return A.astype(np.float32 if A.dtype == np.float64 else np.float64)


def float_layouts(A):
    """(name, variant) of a float array: other layouts, dtypes and containers."""
    variants = [
        ("step_rows", embed_rows(A)),
        ("reversed", A[::-1]),
        ("read_only", read_only(A)),
        ("unaligned", unaligned(A)),
        ("broadcast", np.broadcast_to(A[:1], A.shape)),
        ("list", A.tolist()),
        ("int64", np.rint(A).astype(np.int64)),
        ("int32", np.rint(A).astype(np.int32)),
        ("uint8", np.abs(np.rint(A)).astype(np.uint8)),
        ("bool", A != 0),
        ("int_list", np.rint(A).astype(int).tolist()),
        ("other_float", other_float(A)),
        ("float16", A.astype(np.float16)),
    ]
    if A.ndim == 2:
        variants += [
            ("fortran", np.asfortranarray(A)),
            ("read_only_fortran", read_only(np.asfortranarray(A))),
            ("step_columns", embed_columns(A)),
            ("step_both", embed_columns(embed_rows(A))),
            ("reversed_both", A[::-1, ::-1]),
            ("fortran_int", np.asfortranarray(np.rint(A).astype(np.int64))),
            ("read_only_int_fortran", read_only(np.asfortranarray(np.rint(A).astype(np.int16)))),
            ("matrix_transposed_back", np.ascontiguousarray(A.T).T),
        ]
    return variants


def label_layouts(y):
    return [
        ("step_rows", embed_rows(y)),
        ("reversed", y[::-1]),
        ("read_only", read_only(y)),
        ("unaligned", unaligned(y)),
        ("broadcast", np.broadcast_to(y[:1], y.shape)),
        ("list", y.tolist()),
        ("int32", y.astype(np.int32)),
        ("uint8", y.astype(np.uint8)),
        ("uint64", y.astype(np.uint64)),
        ("int8_read_only_strided", read_only(embed_rows(y.astype(np.int8)))),
        ("float64", y.astype(np.float64)),
        ("float32", y.astype(np.float32)),
        ("float_list", y.astype(float).tolist()),
        ("bool", y > 0),
    ]


def canonical(variant, dtype):
    """The same values as a C-contiguous array of dtype."""
    return np.array(variant, dtype=dtype, order="C", copy=True)


def assert_same_results(net, inputs, expected_inputs):
    """forward, loss, loss_and_grad and check_gradients give bit-identical results."""
    X, y, sample_weight = inputs
    X0, y0, sw0 = expected_inputs
    assert X0.flags.c_contiguous and X0.dtype == net.dtype
    out, out0 = net.forward(X), net.forward(X0)
    assert out.dtype == net.dtype and out.flags.c_contiguous
    assert np.array_equal(out, out0)
    assert net.loss(X, y, sample_weight) == net.loss(X0, y0, sw0)
    loss, grad = net.loss_and_grad(X, y, sample_weight)
    loss0, grad0 = net.loss_and_grad(X0, y0, sw0)
    assert loss == loss0
    assert np.array_equal(grad, grad0)


LAYOUT_INPUTS = ["X", "y", "sample_weight"]


def layout_cases():
    cases = []
    for output_case in OUTPUT_CASES:
        for dtype in DTYPES:
            net, X, y, sw = make_problem(*output_case, dtype)
            X = X.astype(dtype)
            for name, _ in float_layouts(X):
                cases.append((output_case, dtype, "X", name))
            if output_case[0] == "softmax":
                names = [name for name, _ in label_layouts(y)]
            else:
                names = [name for name, _ in float_layouts(np.asarray(y, dtype))]
                if output_case[1] == 1:
                    names += ["vector", "vector_step", "vector_read_only", "vector_list"]
            cases += [(output_case, dtype, "y", name) for name in names]
            cases += [(output_case, dtype, "sample_weight", name)
                      for name, _ in float_layouts(sw.astype(dtype))]
    return cases


LAYOUT_CASES = layout_cases()


def layout_case_id(case):
    output_case, dtype, which, name = case
    return f"{output_id(output_case)}-{dtype_id(dtype)}-{which}-{name}"


def variant_inputs(output_case, dtype, which, name):
    """((X, y, sw) with one of them in an odd layout, the same as C-contiguous arrays)."""
    output, n_outputs = output_case
    net, X, y, sw = make_problem(*output_case, dtype)
    X, sw = X.astype(dtype), sw.astype(dtype)
    if output != "softmax":
        y = np.asarray(y, dtype).reshape(N_EXAMPLES, n_outputs)
        if output == "squared":
            y = y * 3  # values that the int variants do not all round to 0
    inputs = {"X": X, "y": y, "sample_weight": sw}
    if which == "y" and output == "softmax":
        variant = dict(label_layouts(y))[name]
        expected = canonical(variant, np.int64)
    elif which == "y" and name.startswith("vector"):
        vector = y[:, 0]
        variant = {"vector": vector, "vector_step": embed_rows(vector),
                   "vector_read_only": read_only(vector), "vector_list": vector.tolist()}[name]
        expected = canonical(variant, dtype).reshape(-1, 1)
    else:
        variant = dict(float_layouts(inputs[which]))[name]
        expected = canonical(variant, dtype)
    given, reference = dict(inputs), dict(inputs)
    given[which], reference[which] = variant, expected
    order = ("X", "y", "sample_weight")
    return net, tuple(given[k] for k in order), tuple(reference[k] for k in order)


@pytest.mark.parametrize("case", LAYOUT_CASES, ids=layout_case_id)
def test_odd_layouts_give_exactly_the_same_results(case):
    net, given, expected = variant_inputs(*case)
    assert_same_results(net, given, expected)


@pytest.mark.parametrize("case", [c for c in LAYOUT_CASES
                                  if c[3] in ("fortran", "read_only", "step_rows", "list",
                                              "int64", "unaligned", "other_float")],
                         ids=layout_case_id)
def test_odd_layouts_give_the_same_gradient_check(case):
    net, given, expected = variant_inputs(*case)
    report = nnbp.check_gradients(net, *given)
    report0 = nnbp.check_gradients(net, *expected)
    assert report.loss == report0.loss
    assert report.blocks == report0.blocks
    assert report.loss_reference_error == report0.loss_reference_error


def layer_functions():
    """(name, function of (X, W, b, Z, dA), the argument names it takes)."""
    return [
        ("dense_forward", lambda X, W, b, Z, dA: layers.dense_forward(X, W, b, "tanh"),
         ("X", "W", "b")),
        ("dense_forward_leaky", lambda X, W, b, Z, dA: layers.dense_forward(
            X, W, b, "leaky_relu", negative_slope=0.2), ("X", "W", "b")),
        ("dense_backward", lambda X, W, b, Z, dA: layers.dense_backward(X, W, Z, dA, "softplus"),
         ("X", "W", "Z", "dA")),
        ("activation", lambda X, W, b, Z, dA: layers.activation("logistic", Z), ("Z",)),
        ("activation_backward", lambda X, W, b, Z, dA: layers.activation_backward(
            "leaky_relu", Z, dA, 0.3), ("Z", "dA")),
        ("output_function", lambda X, W, b, Z, dA: layers.output_function("softmax", Z),
         ("Z",)),
        ("output_loss_squared", lambda X, W, b, Z, dA: layers.output_loss("squared", Z, dA),
         ("Z", "dA")),
    ]


def layer_cases():
    cases = []
    for dtype in DTYPES:
        for fname, _, args in layer_functions():
            for arg in args:
                for variant, _ in float_layouts(layer_inputs(dtype)[("X", "W", "b", "Z", "dA")
                                                                    .index(arg)]):
                    cases.append((dtype, fname, arg, variant))
    return cases


@pytest.mark.parametrize("case", layer_cases(), ids=lambda c: "-".join(
    [dtype_id(c[0])] + list(c[1:])))
def test_layer_functions_take_odd_layouts_exactly(case):
    dtype, fname, arg, variant_name = case
    function = {name: f for name, f, _ in layer_functions()}[fname]
    names = ("X", "W", "b", "Z", "dA")
    inputs = dict(zip(names, layer_inputs(dtype)))
    variant = dict(float_layouts(inputs[arg]))[variant_name]
    # The computation's dtype follows W (dense layers) or Z (the rest): float32
    # stays float32, anything else is float64.
    leader = "W" if fname.startswith("dense") else "Z"
    leader_value = variant if arg == leader else inputs[leader]
    work = np.float32 if np.asarray(leader_value).dtype == np.float32 else np.float64
    given, expected = dict(inputs), {k: canonical(v, work) for k, v in inputs.items()}
    given[arg], expected[arg] = variant, canonical(variant, work)
    results = function(**given)
    results0 = function(**expected)
    for result, result0 in zip(results if isinstance(results, tuple) else (results,),
                               results0 if isinstance(results0, tuple) else (results0,)):
        if isinstance(result0, np.ndarray):
            assert result.dtype == work and result.flags.c_contiguous
        assert np.array_equal(result, result0)


@pytest.mark.parametrize("output_case", OUTPUT_CASES, ids=output_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_output_loss_takes_odd_layouts_exactly(output_case, dtype):
    output, m = output_case
    _, _, y, sw = make_problem(*output_case, dtype)
    Z = np.random.default_rng(3).normal(size=(N_EXAMPLES, m)).astype(dtype)
    y_variants = label_layouts(y) if output == "softmax" else float_layouts(
        np.asarray(y, dtype).reshape(N_EXAMPLES, m))
    y_type = np.int64 if output == "softmax" else dtype
    y0 = canonical(y, y_type)
    for name, variant in float_layouts(Z):
        if name in ("int64", "int32", "uint8", "bool", "int_list", "other_float", "float16",
                    "list", "fortran_int", "read_only_int_fortran"):
            continue  # these change the dtype, hence the arithmetic
        assert_equal_tuples(layers.output_loss(output, variant, y, sw),
                            layers.output_loss(output, canonical(variant, dtype), y0, sw))
    for name, variant in y_variants:
        v = canonical(variant, y_type)
        if output == "logistic" and (v.min() < 0 or v.max() > 1):
            continue
        assert_equal_tuples(layers.output_loss(output, Z, variant, sw),
                            layers.output_loss(output, Z, v, sw))
    for name, variant in float_layouts(sw):
        if not np.asarray(variant).any():
            continue
        assert_equal_tuples(layers.output_loss(output, Z, y, variant),
                            layers.output_loss(output, Z, y0, canonical(variant, dtype)))


def assert_equal_tuples(result, expected):
    loss, dZ = result
    loss0, dZ0 = expected
    assert loss == loss0
    assert dZ.flags.c_contiguous and dZ.dtype == dZ0.dtype
    assert np.array_equal(dZ, dZ0)


# =================================================================== the caller's arrays


def caller_arrays(output_case, dtype):
    """Inputs in the layouts most at risk: exactly the computation's (no copy made)."""
    net, X, y, sw = make_problem(*output_case, dtype)
    X, sw = np.ascontiguousarray(X, dtype), np.ascontiguousarray(sw, dtype)
    if output_case[0] == "softmax":
        y = np.ascontiguousarray(y, np.int64)
    else:
        y = np.ascontiguousarray(np.asarray(y, dtype).reshape(N_EXAMPLES, -1))
    return net, X, y, sw


@pytest.mark.parametrize("layout", ["c", "fortran", "read_only", "strided", "other_dtype"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("output_case", OUTPUT_CASES, ids=output_id)
def test_network_never_modifies_the_callers_arrays(output_case, dtype, layout):
    net, X, y, sw = caller_arrays(output_case, dtype)
    change = {"c": lambda A: A, "fortran": np.asfortranarray, "read_only": read_only,
              "strided": embed_rows, "other_dtype": lambda A: A.astype(
                  np.float32 if A.dtype == np.float64 else (
                      np.float64 if A.dtype == np.float32 else np.int32))}[layout]
    X, y, sw = change(X), change(y), change(sw)
    arrays = {"X": X, "y": y, "sample_weight": sw}
    before = {name: snapshot(a) for name, a in arrays.items()}
    params = snapshot(net.params)
    out = np.zeros(net.n_params, net.dtype)
    results = [net.forward(X), net.loss(X, y, sw), net.loss_and_grad(X, y, sw)[1],
               net.loss_and_grad(X, y, sw, out=out)[1], net.loss_and_grad(X, y)[1],
               net.loss(X, y)]
    report = nnbp.check_gradients(net, X, y, sw)
    assert report.passed
    nnbp.check_gradients(net, X, y, reference=True)
    for name, array in arrays.items():
        assert_unchanged(array, before[name])
    assert_unchanged(net.params, params)
    for result in results:
        if isinstance(result, np.ndarray):
            for array in arrays.values():
                assert not np.shares_memory(result, array)


@pytest.mark.parametrize("layout", ["c", "fortran", "read_only", "strided"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_layers_never_modify_the_callers_arrays(dtype, layout):
    change = {"c": lambda A: A, "fortran": np.asfortranarray, "read_only": read_only,
              "strided": embed_rows}[layout]
    X, W, b, Z, dA = (change(A) for A in layer_inputs(dtype))
    labels = change(np.array([0, 1, 2, 3, 1]))
    targets = change(np.clip(np.abs(dA), 0, 1))
    sw = change(np.linspace(0.5, 2.0, 5).astype(dtype))
    arrays = dict(X=X, W=W, b=b, Z=Z, dA=dA, labels=labels, targets=targets, sw=sw)
    before = {name: snapshot(a) for name, a in arrays.items()}
    results = []
    for name in nnbp.ACTIVATIONS:
        results += list(layers.dense_forward(X, W, b, name, 0.1))
        results += list(layers.dense_forward(X, W, None, name, 0.1))
        results += list(layers.dense_backward(X, W, Z, dA, name, 0.1))
        results.append(layers.activation(name, Z, 0.1))
        results.append(layers.activation_backward(name, Z, dA, 0.1))
    for output, y in (("squared", dA), ("logistic", targets), ("softmax", labels),
                      ("poisson", targets)):
        results.append(layers.output_function(output, Z))
        results.append(layers.output_loss(output, Z, y)[1])
        results.append(layers.output_loss(output, Z, y, sw)[1])
        assert nnbp.check_loss_gradients(output, Z, y, sw).passed
    assert nnbp.check_layer_gradients(X, W, b, "tanh").passed
    assert nnbp.check_layer_gradients(X, W, None, "softplus", reference=True).passed
    for name, array in arrays.items():
        assert_unchanged(array, before[name])
    for result in results:
        for array in arrays.values():
            assert not np.shares_memory(result, array)


def special_values(dtype):
    """Finite extremes, and each kind of non-finite value, including nan with a payload and a sign."""
    info = np.finfo(dtype)
    finite = [0.0, -0.0, info.max, -info.max, info.tiny, info.smallest_subnormal,
              -info.smallest_subnormal, 1.0]
    quiet_nan_with_payload = np.array([np.nan], dtype)
    quiet_nan_with_payload.view(np.uint32 if dtype == np.float32 else np.uint64)[0] |= 1
    non_finite = [np.inf, -np.inf, np.nan, -np.nan, quiet_nan_with_payload[0]]
    return np.array(finite, dtype), np.array(non_finite, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [0, 1, 7, 4096, 4097, 10_000])
def test_all_finite_kernel_agrees_with_numpy_wherever_the_bad_value_is(dtype, size, rng):
    finite, non_finite = special_values(dtype)
    x = rng.choice(finite, size).astype(dtype)
    assert np.isfinite(x).all() and nnbp._core.all_finite(x)
    for position in sorted({0, size // 2, 4095, 4096, size - 1}):
        if not 0 <= position < size:
            continue
        for value in non_finite:
            bad = x.copy()
            bad[position] = value
            assert not nnbp._core.all_finite(bad), (position, value)
