"""nnbp.datasets: the bundled digits load whole, with the right shapes, dtypes and values."""
import numpy as np
import pytest
from support import DTYPES

from nnbp.datasets import load_digits

N_IMAGES = 1797
N_PIXELS = 64
# Images per digit 0..9 in digits.csv.gz, as the UCI description of the test set gives them.
IMAGES_PER_DIGIT = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.mark.parametrize("dtype", DTYPES)
def test_shapes_and_dtypes(dtype):
    X, y = load_digits(dtype=dtype)
    assert X.shape == (N_IMAGES, N_PIXELS)
    assert X.dtype == dtype
    assert X.flags.c_contiguous
    assert y.shape == (N_IMAGES,)
    assert y.dtype == np.int64


def test_default_dtype_is_float64():
    X, _ = load_digits()
    assert X.dtype == np.float64


def test_pixels_are_integers_0_to_16():
    X, _ = load_digits()
    assert np.array_equal(X, np.round(X))
    assert X.min() == 0
    assert X.max() == 16


def test_float32_holds_the_same_values():
    X32, y32 = load_digits(dtype=np.float32)
    X64, y64 = load_digits(dtype=np.float64)
    assert np.array_equal(X32, X64)
    assert np.array_equal(y32, y64)


def test_labels_and_counts_per_digit():
    _, y = load_digits()
    assert y.min() == 0
    assert y.max() == 9
    assert np.bincount(y).tolist() == IMAGES_PER_DIGIT
    assert sum(IMAGES_PER_DIGIT) == N_IMAGES


@pytest.mark.parametrize("dtype", [np.int64, np.float16, "bogus", object])
def test_bad_dtype_raises(dtype):
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        load_digits(dtype=dtype)


def test_each_call_returns_fresh_arrays():
    X, y = load_digits()
    X[:] = -1
    y[:] = -1
    X_again, y_again = load_digits()
    assert X_again.min() == 0
    assert y_again.min() == 0


def test_equal_to_scikit_learn():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    X_expected, y_expected = sklearn_datasets.load_digits(return_X_y=True)
    X, y = load_digits()
    assert np.array_equal(X, X_expected)
    assert np.array_equal(y, y_expected)
