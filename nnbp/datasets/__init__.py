"""Small real data sets bundled with nnbp, for the demo and the docs.

digits.csv.gz is the test set of "Optical Recognition of Handwritten Digits"
(E. Alpaydin and C. Kaynak, 1998) from the UCI Machine Learning Repository,
https://doi.org/10.24432/C50P49, licensed under CC BY 4.0; the file is the copy
distributed with scikit-learn. DIGITS.md, beside it, gives the details.
"""
from __future__ import annotations

import gzip
from importlib.resources import files

import numpy as np
import numpy.typing as npt

from nnbp._validation import check_float_dtype

__all__ = ["load_digits"]


def load_digits(dtype: npt.DTypeLike = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The 1797 handwritten digits as (X, y), freshly read on each call.

    The test set of UCI's "Optical Recognition of Handwritten Digits", as
    scikit-learn's ``sklearn.datasets.load_digits`` gives it: 8x8 images of
    pixel values 0..16, 10 classes.

    Parameters
    ----------
    dtype : {float32, float64}, default=float64
        The dtype of X.

    Returns
    -------
    X : ndarray of shape (1797, 64)
        Each row an 8x8 image, row by row, of integer pixel values 0..16.
    y : ndarray of shape (1797,)
        The digits, 0..9, int64.

    Raises
    ------
    ValueError
        If dtype is not float32 or float64.

    See Also
    --------
    sklearn.datasets.load_digits : The same data, from scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp.datasets import load_digits
    >>> X, y = load_digits(np.float32)
    >>> X.shape, X.dtype, y.shape, y.dtype
    ((1797, 64), dtype('float32'), (1797,), dtype('int64'))
    >>> y[:10]
    array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    dtype = check_float_dtype(dtype)
    with files(__name__).joinpath("digits.csv.gz").open("rb") as compressed:
        with gzip.open(compressed, "rt") as text:
            table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    return table[:, :-1].astype(dtype), table[:, -1].copy()
