"""The vectorised exp, tanh, log1p and erf of csrc/vecmath.h, against references.

They replace the C library's functions in the elementwise kernels, so they
must be as good: within a few units in the last place (ulps) over the whole
range the kernels use, in float32 and float64. ``_core.elementary`` calls
them from the baseline build; the last test shows that the AVX2 and AVX-512
kernels compute bitwise the same as the baseline ones.
"""
import numpy as np
import pytest
from conftest import available_instruction_sets
from support import DTYPES

import nnbp
from nnbp import _core, layers

REFERENCES = {"exp": np.exp, "tanh": np.tanh, "log1p": np.log1p}
# Largest error in ulps of the correctly rounded result.
MAX_ULPS = 3.0


def compute(name, x):
    out = np.empty_like(x)
    _core.elementary(name, x, out)
    return out


def errors_in_ulps(name, x):
    exact = REFERENCES[name](x.astype(np.longdouble))
    spacing = np.spacing(np.abs(exact.astype(x.dtype))).astype(np.longdouble)
    return np.abs(compute(name, x).astype(np.longdouble) - exact) / spacing


def grid(low, high, dtype, rng):
    return np.concatenate([np.linspace(low, high, 100_001),
                           rng.uniform(low, high, 100_000)]).astype(dtype)


RANGES = {
    # The kernels call exp at arguments <= 0 (softmax, softplus) and anywhere
    # for the logistic and poisson; tanh anywhere; log1p on (0, 1] (softplus).
    "exp": {np.float32: [(-87.3, 88.3), (-1, 1)], np.float64: [(-708, 709), (-1, 1)]},
    "tanh": {np.float32: [(-12, 12), (-1e-3, 1e-3)], np.float64: [(-21, 21), (-1e-3, 1e-3)]},
    "log1p": {np.float32: [(0, 1), (0, 1e-4)], np.float64: [(0, 1), (0, 1e-4), (0, 1e6)]},
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_within_a_few_ulps(name, dtype, rng):
    for low, high in RANGES[name][dtype]:
        x = grid(low, high, dtype, rng)
        errors = errors_in_ulps(name, x)
        worst = int(np.argmax(errors))
        assert errors[worst] <= MAX_ULPS, (name, x[worst], errors[worst])


@pytest.mark.parametrize("dtype", DTYPES)
def test_limits(dtype):
    big = 1e4
    assert np.array_equal(compute("exp", np.array([-big, 0.0, big], dtype)), [0.0, 1.0, np.inf])
    assert np.array_equal(compute("tanh", np.array([-big, -0.0, 0.0, big], dtype)),
                          [-1.0, 0.0, 0.0, 1.0])
    assert np.array_equal(compute("log1p", np.array([0.0, 1e-30], dtype)),
                          np.array([0.0, 1e-30], dtype))
    # Past the ranges above, exp flushes to 0 where the true value is subnormal.
    tiny = compute("exp", np.array([-100.0 if dtype == np.float32 else -720.0], dtype))
    assert tiny[0] == 0.0


def test_instruction_sets_agree_bitwise(rng):
    """Every instruction set's kernels compute the same operations in the same order."""
    instruction_sets = available_instruction_sets()
    if len(instruction_sets) < 2:
        pytest.skip("this processor runs only the baseline kernels")
    logits = rng.normal(size=(64, 37)) * 30
    labels = rng.integers(0, 37, size=64)
    previous = _core.kernel_isa()
    results = []
    try:
        for isa in instruction_sets:
            _core.kernel_isa(isa)
            values = []
            for dtype in DTYPES:
                Z = logits.astype(dtype)
                for name in ("exp", "tanh", "log1p", "erf"):
                    values.append(compute(name, np.abs(Z).ravel() if name == "log1p" else Z.ravel()))
                for activation in nnbp.ACTIVATIONS:
                    values.append(layers.activation(activation, Z))
                    values.append(layers.activation_backward(activation, Z, np.ones_like(Z)))
                for output in nnbp.OUTPUTS:
                    values.append(layers.output_function(output, Z))
                    y = labels if output == "softmax" else (Z > 0).astype(dtype)
                    values.extend(layers.output_loss(output, Z, y))
            results.append(values)
    finally:
        _core.kernel_isa(previous)
    for other in results[1:]:
        for first, value in zip(results[0], other):
            assert np.array_equal(first, value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_infinity(dtype):
    # tanh(NaN) was 1: the kernels' NaN must stay NaN, and infinities go to the limits.
    inf, nan = np.inf, np.nan
    assert np.array_equal(compute("exp", np.array([nan, -inf, inf], dtype)), [nan, 0.0, inf],
                          equal_nan=True)
    assert np.array_equal(compute("tanh", np.array([nan, -inf, inf], dtype)), [nan, -1.0, 1.0],
                          equal_nan=True)
    assert np.isnan(compute("log1p", np.array([nan], dtype))).all()


# ---------------------------------------------------------------- erf
#
# NumPy has no erf for long double: scipy.special.erf (Cephes, within an ulp
# or so) is the reference. vecmath.h documents 6 ulps in double, the worst
# near |x| = 1.9 (Kummer's sum), and the float erf is the double one rounded.
ERF_MAX_ULPS = {np.float32: 1.0, np.float64: 6.0}


def erf_errors_in_ulps(x):
    special = pytest.importorskip("scipy.special")
    exact = special.erf(x.astype(np.float64))
    spacing = np.spacing(np.abs(exact.astype(x.dtype))).astype(np.float64)
    return np.abs(compute("erf", x).astype(np.float64) - exact) / spacing


@pytest.mark.parametrize("dtype", DTYPES)
def test_erf_within_a_few_ulps(dtype, rng):
    # Small |x| (erf x ~ 2x/sqrt(pi)), both sides of the series' split at
    # |x| = 2, the range where erf rounds to +-1, and far past it.
    for low, high in [(-1e-3, 1e-3), (-1, 1), (1.5, 2.5), (-2.5, -1.5), (-7, 7), (-30, 30),
                      (-1e6, 1e6)]:
        x = grid(low, high, dtype, rng)
        errors = erf_errors_in_ulps(x)
        worst = int(np.argmax(errors))
        assert errors[worst] <= ERF_MAX_ULPS[dtype], (x[worst], errors[worst])


@pytest.mark.parametrize("dtype", DTYPES)
def test_erf_limits_nan_and_infinity(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([np.nan, -np.inf, np.inf, 0.0, -0.0, 7.0, -7.0, 1e30, -1e30], dtype)
    out = compute("erf", x)
    assert np.array_equal(out, [np.nan, -1.0, 1.0, 0.0, -0.0, 1.0, -1.0, 1.0, -1.0],
                          equal_nan=True)
    assert np.array_equal(np.signbit(out[3:5]), [False, True])     # erf(-0) is -0
    # Odd, to the bit, and 2x/sqrt(pi) (rounded) near 0, subnormals too.
    x = np.linspace(-5, 5, 10_001).astype(dtype)
    assert np.array_equal(compute("erf", -x), -compute("erf", x))
    small = np.array([tiny, 1e-30], dtype)
    assert np.array_equal(compute("erf", small),
                          (small.astype(np.float64) * (2 / np.sqrt(np.pi))).astype(dtype))
