"""Property tests (hypothesis) of the compiled paths against the reference oracle.

Drawn: architectures, activations, outputs, dtypes, bias, alpha, slopes;
inputs in every layout a caller may pass (C, Fortran, strided, read-only,
integer and float16 arrays); values of every kind (ordinary, tiny, huge,
subnormal, constant columns, one class). Properties:

* forward, loss and gradient equal the oracle's within REFERENCE_TOLERANCE;
* a layout or input dtype gives bitwise the result of the C-contiguous array
  of the network's dtype, and the caller's arrays are never modified;
* bad input is refused with a ValueError or TypeError naming the argument,
  never a crash or another exception;
* the estimators fit and predict finite values on drawn small problems.

"ci" (the default profile) draws the same examples on every run; run
HYPOTHESIS_PROFILE=deep to hunt.
"""
import os
import re
import warnings

import numpy as np
import pytest
from conftest import available_instruction_sets
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from support import REFERENCE_TOLERANCE, reference_forward, reference_loss_and_grad

import nnbp
from nnbp import _core, reference
from nnbp.network import ACTIVATIONS, OUTPUTS

DTYPES = (np.float32, np.float64)
INSTRUCTION_SETS = available_instruction_sets()

# Magnitudes of the value kinds. "huge" keeps the loss finite in the dtype:
# squared losses grow as z^2, so z ~ 1e9 stays far below float32's 3e38.
TINY = 1e-30
HUGE = {np.float32: 1e9, np.float64: 1e100}
VALUE_KINDS = ("ordinary", "tiny", "huge", "subnormal", "constant_columns", "integers")
LAYOUTS = ("C", "F", "strided", "read_only", "list")



def examples(n):
    """n examples under the "ci" profile; other profiles (deep) keep their own count."""
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        return settings(max_examples=n)
    return settings()


# ---------------------------------------------------------------- comparison

def scaled_error(computed, expected, dtype):
    """max |computed - expected| / max(max |expected|, smallest normal of dtype).

    relative_error of tests/support.py, except that the scale never drops
    below the dtype's smallest normal number: below it floating point keeps
    an absolute resolution (subnormals), not a relative one, so a block of
    subnormal size can only be compared to that resolution.
    """
    computed = np.asarray(computed, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert computed.shape == expected.shape, (computed.shape, expected.shape)
    scale = max(np.max(np.abs(expected)), np.finfo(dtype).tiny)
    return np.max(np.abs(computed - expected)) / scale


def assert_matches(computed, expected, dtype, what):
    """computed equals the oracle's expected within the dtype's tolerance.

    Values that overflow the dtype (poisson's e^z) must be inf in computed
    at the same places; the finite rest is compared.
    """
    computed = np.atleast_1d(np.asarray(computed, dtype=np.float64))
    expected = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    overflows = np.abs(expected) > np.finfo(dtype).max
    assert np.array_equal(np.isinf(computed), overflows), (what, computed, expected)
    assert np.array_equal(np.sign(computed[overflows]), np.sign(expected[overflows])), what
    if (~overflows).any():
        error = scaled_error(computed[~overflows], expected[~overflows], dtype)
        assert error <= REFERENCE_TOLERANCE[dtype], (what, error, computed, expected)


def names(message, argument):
    """Whether message names argument as a word (X, y, sample_weight, alpha, ...)."""
    return re.search(rf"(?<![A-Za-z_]){re.escape(argument)}(?![A-Za-z_])", message) is not None


def with_value_at(array, where, value):
    """A float copy of array with value at the flat index where (modulo its size)."""
    copy = np.array(array, dtype=np.float64)
    copy.flat[where % copy.size] = value
    return copy


# ---------------------------------------------------------------- strategies

@st.composite
def networks(draw, dtype=None, output=None):
    """A Network of 1-4 layers, widths 1-12, with non-zero biases."""
    n_layers = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 12), min_size=n_layers + 1, max_size=n_layers + 1))
    seed = draw(st.integers(0, 2**32 - 1))
    net = nnbp.Network(
        sizes,
        activation=draw(st.sampled_from(ACTIVATIONS)),
        output=output or draw(st.sampled_from(OUTPUTS)),
        dtype=dtype or draw(st.sampled_from(DTYPES)),
        bias=draw(st.booleans()),
        alpha=draw(st.sampled_from([0.0, 1e-4, 0.5, 3.0])),
        negative_slope=draw(st.sampled_from([0.0, 0.01, 0.3, -0.5, 2.0])),
        init=draw(st.sampled_from(nnbp.network.INITS)),
        seed=seed,
    )
    # Non-zero biases, so that a bias bug cannot hide behind zeros.
    rng = np.random.default_rng(seed)
    for b in net.biases:
        if b is not None:
            b[...] = rng.uniform(-0.5, 0.5, size=b.shape)
    return net


def finite_floats(bound):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def values(draw, shape, dtype, kind):
    """A float64 array of shape with values of the given kind, exact in dtype."""
    base = draw(hnp.arrays(np.float64, shape, elements=finite_floats(4.0)))
    if kind == "tiny":
        base = base * TINY
    elif kind == "huge":
        base = base * HUGE[dtype]
    elif kind == "subnormal":
        # Multiples of the smallest subnormal of dtype, mixed with ordinary values.
        smallest = np.finfo(dtype).smallest_subnormal
        steps = draw(hnp.arrays(np.int64, shape, elements=st.integers(-1000, 1000)))
        ordinary = draw(hnp.arrays(np.bool_, shape))
        base = np.where(ordinary, base, steps * float(smallest))
    elif kind == "constant_columns":
        constant = draw(hnp.arrays(np.bool_, shape[1:]))
        base = np.where(constant, base[:1], base)
    elif kind == "integers":
        base = np.round(base)
    return base.astype(dtype).astype(np.float64)


@st.composite
def targets(draw, output, n, n_outputs, kind, dtype):
    """Targets of output's kind: labels, 0/1 or probabilities, counts or rates, reals."""
    if output == "softmax":
        if draw(st.booleans()):
            return np.full(n, draw(st.integers(0, n_outputs - 1)))   # a single class
        return draw(hnp.arrays(np.int64, n, elements=st.integers(0, n_outputs - 1)))
    shape = (n, n_outputs)
    if output == "logistic":
        if draw(st.booleans()):
            return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
        y = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1, width=32)))
    elif output == "poisson":
        if draw(st.booleans()):
            y = draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 20))).astype(float)
        else:
            y = np.abs(draw(values(shape, dtype, kind)))
    else:
        y = draw(values(shape, dtype, kind))
    return y.astype(dtype).astype(np.float64)


@st.composite
def sample_weights(draw, n, dtype):
    """None, or non-negative weights with a positive sum in dtype."""
    if draw(st.booleans()):
        return None
    weights = draw(hnp.arrays(np.float64, n, elements=st.sampled_from(
        [0.0, 1e-3, 0.5, 1.0, 2.0, 7.0, 1e3])))
    assume(weights.astype(dtype).sum() > 0)
    return weights


@st.composite
def problems(draw, dtype=None, output=None):
    """(net, X, y, sample_weight, kind) with X, y, sample_weight float64 arrays exact in net's dtype."""
    net = draw(networks(dtype, output))
    n = draw(st.integers(1, 9))
    kind = draw(st.sampled_from(VALUE_KINDS))
    X = draw(values((n, net.layer_sizes[0]), net.dtype.type, kind))
    y = draw(targets(net.output, n, net.layer_sizes[-1], kind, net.dtype.type))
    return net, X, y, draw(sample_weights(n, net.dtype.type)), kind


def in_layout(array, layout):
    """The values of array as a caller may pass them: a new array each call."""
    if layout == "C":
        return np.array(array, order="C")
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided":
        wider = np.zeros((2 * array.shape[0],) + array.shape[1:], dtype=array.dtype)
        wider[::2] = array
        return wider[::2]
    if layout == "read_only":
        copy = np.array(array)
        copy.flags.writeable = False
        return copy
    return array.tolist()


# ---------------------------------------------------------------- the oracle

def select_isa(isa):
    assert _core.kernel_isa(isa) == isa


@examples(150)
@given(problem=problems(), isa=st.sampled_from(INSTRUCTION_SETS))
def test_compiled_paths_match_the_reference(problem, isa):
    net, X, y, sample_weight, kind = problem
    dtype = net.dtype.type
    previous = _core.kernel_isa()
    select_isa(isa)
    try:
        forward = net.forward(X)
        loss = net.loss(X, y, sample_weight)
        loss_with_grad, grad = net.loss_and_grad(X, y, sample_weight)
    finally:
        select_isa(previous)
    sw = None if sample_weight is None else sample_weight.astype(dtype)
    ref_loss, ref_grad = reference_loss_and_grad(net, X, y, sw)
    assert forward.dtype == net.dtype and grad.dtype == net.dtype
    assert_matches(forward, reference_forward(net, X), dtype, "forward")
    assert_matches(loss, ref_loss, dtype, "loss")
    assert loss_with_grad == loss
    if np.isfinite(ref_loss):
        for name, where in net.block_slices():
            assert_matches(grad[where], ref_grad[where], dtype, name)


# ---------------------------------------------------------------- regressions found by the properties

def overflowing_poisson_problem(dtype):
    """A poisson network whose second example, of weight 0, has e^z = inf."""
    net = nnbp.Network([2, 1], activation="identity", output="poisson", dtype=dtype, bias=False)
    net.weights[0][...] = [[0.5, 0.5]]
    X = np.array([[1.0, -1.0], [0.0, 1e4]])
    y = np.array([[2.0], [0.0]])
    return net, X, y, np.array([0.5, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_leaves_out_examples_of_weight_zero_even_when_their_loss_overflows(dtype):
    net, X, y, sample_weight = overflowing_poisson_problem(dtype)
    loss, grad = reference_loss_and_grad(net, X, y, sample_weight)
    kept_loss, kept_grad = reference_loss_and_grad(net, X[:1], y[:1], sample_weight[:1])
    assert loss == kept_loss and np.array_equal(grad, kept_grad)
    Z = [[0.0], [1e4]]
    ref_loss, dZ = reference.output_loss("poisson", Z, y.tolist(), sample_weight.tolist())
    assert ref_loss == reference.output_loss("poisson", Z[:1], y[:1].tolist(), [0.5])[0]
    assert dZ[1] == [0.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_network_leaves_out_examples_of_weight_zero_even_when_their_loss_overflows(dtype):
    net, X, y, sample_weight = overflowing_poisson_problem(dtype)
    loss, grad = net.loss_and_grad(X, y, sample_weight)
    kept_loss, kept_grad = net.loss_and_grad(X[:1], y[:1], sample_weight[:1])
    assert np.isfinite(loss) and loss == kept_loss and net.loss(X, y, sample_weight) == loss
    assert np.array_equal(grad, kept_grad)
    assert_matches(grad, reference_loss_and_grad(net, X, y, sample_weight)[1], dtype, "grad")


@pytest.mark.parametrize("output, y", [
    ("softmax", np.zeros((3, 1))), ("softmax", [0, 0.5, 1]), ("softmax", [0, 2, 1]),
    ("logistic", [[0.0, 1.5]] * 3), ("poisson", [[0.0, -1.0]] * 3),
])
def test_refusals_of_targets_name_y(output, y):
    net = nnbp.Network([2, 2], output=output)
    with pytest.raises(ValueError) as raised:
        net.loss(np.zeros((3, 2)), y)
    assert names(str(raised.value), "y"), str(raised.value)


@pytest.mark.parametrize("argument, value", [
    ("X", with_value_at(np.zeros((3, 2)), 0, 1e300)), ("y", with_value_at(np.zeros(3), 0, 1e300)),
    ("sample_weight", with_value_at(np.ones(3), 0, 1e300)), ("sample_weight", 1e300),
])
def test_values_too_large_for_float32_are_refused_without_a_warning(argument, value):
    """numpy's cast warns of the overflow; the refusal that follows says it better."""
    net = nnbp.Network([2, 1], output="squared", dtype=np.float32)
    data = {"X": np.zeros((3, 2)), "y": np.zeros(3), "sample_weight": np.ones(3)}
    data[argument] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=f"{argument} contains infinity"):
            net.loss(**data)


@pytest.mark.parametrize("argument, value", [
    ("seed", -1), ("seed", "abc"), ("seed", 1.5),
    ("layer_sizes", [3, 0]), ("layer_sizes", [60000, 60000]),
])
def test_refusals_of_network_arguments_name_them(argument, value):
    arguments = dict(layer_sizes=[3, 4, 2])
    arguments[argument] = value
    with pytest.raises((ValueError, TypeError)) as raised:
        nnbp.Network(**arguments)
    assert names(str(raised.value), argument), str(raised.value)
