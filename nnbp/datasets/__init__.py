"""Small real data sets bundled with nnbp, for the demo and the docs.

digits.csv.gz is the test set of "Optical Recognition of Handwritten Digits"
(E. Alpaydin and C. Kaynak, 1998) from the UCI Machine Learning Repository,
https://doi.org/10.24432/C50P49, licensed under CC BY 4.0; the file is the copy
distributed with scikit-learn. DIGITS.md, beside it, gives the details.
"""
import gzip
from importlib.resources import files

import numpy as np

from nnbp._validation import check_float_dtype

__all__ = ["load_digits"]


def load_digits(dtype=np.float64):
    """The 1797 handwritten digits as (X, y), freshly read on each call.

    X is a (1797, 64) array of dtype (float32 or float64): each row an 8x8
    image, row by row, of integer pixel values 0..16. y is the (1797,) int64
    array of the digits, 0..9.
    """
    dtype = check_float_dtype(dtype)
    with files(__name__).joinpath("digits.csv.gz").open("rb") as compressed:
        with gzip.open(compressed, "rt") as text:
            table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    return table[:, :-1].astype(dtype), table[:, -1].copy()
