"""Checks made once, at the Python boundary, before anything reaches the compiled core.

Each check returns an array the core can take as it is (C-contiguous, of the
network's dtype), copying only when it must, and never modifies its input.
Bad input raises a ValueError or TypeError that names the problem.
"""
import numbers
from typing import cast

import numpy as np
import scipy.sparse

from nnbp import _core

# BLAS takes 32-bit integer dimensions.
MAX_DIMENSION = 2**31 - 1

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_choice(kind, value, valid):
    """value, if it is one of valid; else a ValueError listing them."""
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
    return value


def check_float_dtype(dtype):
    """np.float32 or np.float64 as a numpy dtype; else a TypeError."""
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError):
        resolved = None
    # Not "resolved not in FLOAT_DTYPES" alone: a numpy dtype compares equal to
    # None (as np.dtype(None) is float64), so None would pass.
    if resolved is None or resolved not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    return resolved


def check_real(name, value, minimum=None, strictly_above=None, maximum=None,
               strictly_below=None):
    """A finite real number as a float, within optional bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:
        # an int too large for a float, such as 10**400
        raise ValueError(f"{name} must be finite, got {value!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if strictly_above is not None and value <= strictly_above:
        raise ValueError(f"{name} must be > {strictly_above}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    if strictly_below is not None and value >= strictly_below:
        raise ValueError(f"{name} must be < {strictly_below}, got {value}")
    return value


def check_dropout(dropout, hidden_layers):
    """Dropout's rates as a tuple of one float per hidden layer, each 0 <= p < 1, or None
    where every rate is 0 (no dropout: the path without it, unchanged).

    dropout: one rate for every hidden layer, or a sequence of one per hidden layer.
    """
    if isinstance(dropout, numbers.Real) and not isinstance(dropout, bool):
        rates = (dropout,) * hidden_layers
        if hidden_layers == 0 and dropout != 0:
            raise ValueError(f"dropout={dropout!r} drops hidden units, and the network has "
                             "no hidden layer")
    elif isinstance(dropout, (str, bytes)) or not np.iterable(dropout):
        raise TypeError(f"dropout must be a rate in [0, 1) or a sequence of one per hidden "
                        f"layer, got {dropout!r}")
    else:
        rates = tuple(dropout)
        if len(rates) != hidden_layers:
            raise ValueError(f"dropout must have one rate per hidden layer ({hidden_layers}), "
                             f"got {len(rates)}: {list(rates)!r}")
    rates = tuple(check_real("dropout", rate, minimum=0.0, strictly_below=1.0)
                  for rate in rates)
    return rates if any(rates) else None


def check_positive_int(name: str, value: object) -> int:
    """value as an int >= 1.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
        What the caller passed: an integer (not a bool, a float or a string).

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If value is not an integer.
    ValueError
        If it is below 1.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_random_state(random_state: object) -> "np.random.Generator | np.random.RandomState":
    """A source of random draws, as scikit-learn's check_random_state takes one.

    Parameters
    ----------
    random_state : None, int, numpy Generator or numpy RandomState
        None: a fresh Generator, seeded by the operating system. An int:
        RandomState(int), as scikit-learn seeds one, so that its draws are
        scikit-learn's. A Generator or a RandomState: used as it is.

    Returns
    -------
    numpy Generator or RandomState

    Raises
    ------
    TypeError
        If random_state is none of these.
    ValueError
        If an int is outside 0..2**32 - 1 (what RandomState takes).
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state,
                                                                      numbers.Integral):
        raise TypeError("random_state must be None, an int, a numpy Generator or a numpy "
                        f"RandomState, got {random_state!r}")
    # cast: an Integral compares as an int, but mypy has no numeric tower.
    if not 0 <= cast(int, random_state) < 2**32:
        raise ValueError(f"random_state must be an int in 0..2**32 - 1, got {random_state}")
    return np.random.RandomState(int(random_state))


def check_out_alone(out_name: str, out: np.ndarray, **inputs: object) -> None:
    """Refuse an output array that shares memory with any of the inputs.

    A kernel that writes out while it still reads an input it overlaps reads
    what it has just written: a wrong answer, and no error.

    Parameters
    ----------
    out_name : str
        The output's parameter name, for the message.
    out : numpy.ndarray
        The array the caller passed to receive a result.
    **inputs : object
        The caller's other arguments, by name: numpy arrays, scipy sparse
        matrices (their data, indices and indptr) or anything else (which
        holds no memory of out's, and is skipped).

    Raises
    ------
    ValueError
        Naming the first input that shares memory with out.
    """
    for name, value in inputs.items():
        if scipy.sparse.issparse(value):
            parts = [getattr(value, part, None) for part in ("data", "indices", "indptr")]
        else:
            parts = [value]
        for part in parts:
            if isinstance(part, np.ndarray) and _overlap(out, part):
                raise ValueError(f"{out_name} must not share memory with {name}: the "
                                 f"result would overwrite {name} while it is read")


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether a and b share memory; when that is too hard to decide, whether
    their bounds overlap (the safe answer)."""
    try:
        # numpy's stubs allow max_work only -1 or 0, its documentation any int >= -1.
        return bool(np.shares_memory(a, b, max_work=10**4))  # type: ignore[arg-type]
    except np.exceptions.TooHardError:
        return bool(np.may_share_memory(a, b))


def check_layer_sizes(layer_sizes):
    """A tuple of at least two positive ints."""
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError(
            f"layer_sizes must be a sequence of ints such as (4, 8, 3), got {layer_sizes!r}"
        ) from None
    if len(sizes) < 2:
        raise ValueError(
            f"layer_sizes needs at least two entries (inputs and outputs), got {sizes}"
        )
    for size in sizes:
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral):
            raise TypeError(f"layer_sizes must hold ints, got {size!r} in {sizes}")
        if not 0 < size <= MAX_DIMENSION:
            raise ValueError(
                f"every layer size must be between 1 and {MAX_DIMENSION}, got layer_sizes {sizes}"
            )
    return tuple(int(size) for size in sizes)


def c_array(array, dtype):
    """array as a C-contiguous, aligned array of dtype: a copy only where it must be.

    np.ascontiguousarray keeps an unaligned array (one viewed at an odd byte
    offset of a buffer) as it is, and the compiled core must not get one: C
    says a misaligned load is undefined, and the vectorised kernels and BLAS
    take every element to sit at a multiple of its size.
    """
    # A value too large for dtype becomes inf, which _check_finite then
    # refuses by name: numpy's overflow warning would only come first.
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.aligned:
        array = array.copy()
    return array


def _as_numeric_array(name, values):
    """np.asarray(values), refusing what is not real numbers."""
    if values is None:
        raise TypeError(f"{name} is None")
    try:
        array = np.asarray(values)
    except ValueError as error:
        # ragged nested sequences, such as [[1, 2], [3]]
        raise ValueError(f"{name} must be a rectangular array of real numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


def _check_finite(name, array):
    """Raise naming the first NaN or infinity in array, if there is one."""
    if array.dtype.kind != "f":
        return
    if array.dtype in FLOAT_DTYPES and array.flags.c_contiguous:
        # One pass over the bits, no temporary array: the common case.
        if _core.all_finite(array.reshape(-1)):
            return
    else:
        # scikit-learn's fast path for the rest (float16, strided): NaN and
        # inf propagate through a sum, so a finite sum means finite entries;
        # only overflow makes a finite array's sum infinite: then look closer.
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(array.sum()):
                return
    finite = np.isfinite(array)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        value = array[where]
        what = "NaN" if np.isnan(value) else "infinity"
        hint = ""
        if array.dtype == np.float32 and np.isinf(value):
            hint = " (a value too large for float32?)"
        raise ValueError(f"{name} contains {what} at index {where}{hint}")


def check_matrix(name, values, dtype, shape=None):
    """A finite, non-empty, C-contiguous 2-D array of dtype (of the given shape, if given)."""
    array = _as_numeric_array(name, values)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if max(array.shape) > MAX_DIMENSION:
        raise ValueError(f"{name} has shape {array.shape}; at most {MAX_DIMENSION} on a side")
    array = c_array(array, dtype)
    _check_finite(name, array)
    return array


def check_vector(name, values, dtype, size):
    """A finite 1-D array of dtype and the given size."""
    array = _as_numeric_array(name, values)
    if array.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {array.shape}")
    array = c_array(array, dtype)
    _check_finite(name, array)
    return array


def check_features(X, n_features, dtype, assume_finite=False):
    """X as a C-contiguous (n, n_features) array of dtype, finite, n >= 1.

    A scipy sparse X (matrix or array) comes back as a CSR one instead
    (check_sparse_matrix). assume_finite skips the pass over the values of an
    X taken as it is, which its caller has checked (a converted X is checked
    whatever it says: the conversion may overflow).
    """
    if (type(X) is np.ndarray and X.dtype == dtype and X.ndim == 2
            and X.shape[1] == n_features and 0 < X.shape[0] <= MAX_DIMENSION
            and X.flags.c_contiguous and X.flags.aligned):
        # What the core takes as it is, the common case: only its values to
        # check. The general path below costs several microseconds, as much
        # as the products of a small network on one row.
        if not assume_finite:
            _check_finite("X", X)
        return X
    sparse = scipy.sparse.issparse(X)
    array = X if sparse else _as_numeric_array("X", X)
    if array.ndim != 2:
        raise ValueError(
            f"X must be 2-D, of shape (n_examples, n_features), got shape {array.shape}"
            + ("; reshape a single example with X.reshape(1, -1)" if array.ndim == 1 else "")
        )
    if array.shape[0] == 0:
        raise ValueError("X is empty: it has 0 examples")
    if array.shape[1] != n_features:
        raise ValueError(f"X has {array.shape[1]} features, but the network takes {n_features}")
    return check_sparse_matrix("X", X, dtype) if sparse else check_matrix("X", array, dtype)


INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def check_sparse_matrix(name, values, dtype):
    """A scipy sparse matrix or array as a CSR one of the same kind, for the compiled core.

    Its data are finite, of dtype; its indices and indptr are both int32 or
    both int64 (scipy's own choice), valid, each contiguous. CSC, COO and the
    other formats are converted to CSR here, once. A CSR input that is all
    that already is returned as it is, not copied; otherwise only the arrays
    that must change are. Columns in any order within a row, a column
    repeated (its entries add up) and explicit zeros are taken as they are.
    """
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {values.shape}")
    if max(values.shape) > MAX_DIMENSION:
        raise ValueError(f"{name} has shape {values.shape}; at most {MAX_DIMENSION} on a side")
    matrix = values if values.format == "csr" else values.tocsr()
    data, indices, indptr = matrix.data, matrix.indices, matrix.indptr
    if data.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {data.dtype}")
    n_rows, n_columns = matrix.shape
    if (indices.ndim != 1 or indptr.shape != (n_rows + 1,) or data.shape != indices.shape
            or indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu"):
        raise ValueError(f"{name} is not a valid CSR matrix: its data, indices and indptr "
                         "must be 1-D integer index arrays of consistent lengths")
    # Both int32 or both int64, as the compiled core reads them; else both int64.
    alike = indices.dtype == indptr.dtype and indices.dtype in INDEX_DTYPES
    index_dtype = indices.dtype if alike else np.dtype(np.int64)
    new_indices, new_indptr = c_array(indices, index_dtype), c_array(indptr, index_dtype)
    steps = np.diff(new_indptr)
    n_entries = int(new_indptr[-1])
    if new_indptr[0] != 0 or (steps.size and steps.min() < 0) or n_entries > indices.size:
        raise ValueError(f"{name} is not a valid CSR matrix: its indptr must rise from 0 to "
                         f"at most the {indices.size} entries")
    stored = new_indices[:n_entries]
    if stored.size and (stored.min() < 0 or stored.max() >= n_columns):
        raise ValueError(f"{name} is not a valid CSR matrix: its column indices must lie in "
                         f"0..{n_columns - 1}, got {stored.min()} to {stored.max()}")
    new_data = c_array(data, dtype)
    stored = new_data[:n_entries]
    if not _core.all_finite(stored):
        entry = int(np.flatnonzero(~np.isfinite(stored))[0])
        row = int(np.searchsorted(new_indptr, entry, side="right")) - 1
        what = "NaN" if np.isnan(stored[entry]) else "infinity"
        hint = (" (a value too large for float32?)"
                if what == "infinity" and new_data.dtype == np.float32 else "")
        raise ValueError(f"{name} contains {what} at index ({row}, {new_indices[entry]}){hint}")
    if new_data is data and new_indices is indices and new_indptr is indptr:
        return matrix
    # scipy may narrow int64 indices to int32 where they fit: both stay alike.
    return type(matrix)((new_data, new_indices, new_indptr), shape=matrix.shape)


def check_labels(y, n_examples, n_classes):
    """Class labels 0..n_classes-1 as a C-contiguous int64 array of length n."""
    array = _as_numeric_array("y", y)
    if array.ndim != 1:
        raise ValueError(
            f"softmax targets y must be a 1-D array of class labels, got shape {array.shape}"
        )
    if array.shape[0] != n_examples:
        raise ValueError(f"y has {array.shape[0]} labels, but X has {n_examples} examples")
    if array.dtype.kind == "f":
        _check_finite("y", array)
        if not np.array_equal(array, np.round(array)):
            raise ValueError("softmax targets y must be integer class labels, got fractions")
    low, high = array.min(), array.max()
    if low < 0 or high >= n_classes:
        raise ValueError(
            f"class labels must lie in 0..{n_classes - 1} (the network has {n_classes} "
            f"outputs), got labels from {low} to {high} in y"
        )
    return c_array(array, np.int64)


def check_targets(y, n_examples, n_outputs, dtype, output):
    """Targets of the squared, logistic or poisson output as a C-contiguous (n, n_outputs) array."""
    array = _as_numeric_array("y", y)
    if array.ndim == 1 and n_outputs == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != n_outputs:
        expected = "(n,) or (n, 1)" if n_outputs == 1 else f"(n, {n_outputs})"
        raise ValueError(
            f"y must have shape {expected} for a network with {n_outputs} "
            f"output{'s' if n_outputs > 1 else ''}, got shape {np.shape(y)}"
        )
    if array.shape[0] != n_examples:
        raise ValueError(f"y has {array.shape[0]} rows, but X has {n_examples} examples")
    array = c_array(array, dtype)
    _check_finite("y", array)
    if output == "logistic" and (array.min() < 0 or array.max() > 1):
        raise ValueError(
            "logistic targets must lie in [0, 1] (0/1 labels, or probabilities), "
            f"got values from {array.min()} to {array.max()} in y"
        )
    if output == "poisson" and array.min() < 0:
        raise ValueError(
            "poisson targets must be non-negative (counts or rates), "
            f"got values from {array.min()} to {array.max()} in y"
        )
    return array


def check_sample_weight(sample_weight, n_examples, dtype):
    """(weights, S): None and n, or non-negative finite weights of length n and their sum S > 0."""
    if sample_weight is None:
        return None, n_examples
    array = _as_numeric_array("sample_weight", sample_weight)
    if array.ndim == 0:
        array = c_array(np.full(n_examples, array), dtype)
    if array.ndim != 1 or array.shape[0] != n_examples:
        raise ValueError(
            f"sample_weight must have shape ({n_examples},), one weight per example, "
            f"got shape {array.shape}"
        )
    array = c_array(array, dtype)
    _check_finite("sample_weight", array)
    if array.min() < 0:
        raise ValueError(f"sample_weight must be non-negative, got {array.min()}")
    with np.errstate(over="ignore"):
        total = float(array.sum(dtype=np.float64))
    if not total > 0:
        raise ValueError("sample_weight sums to zero: at least one example must have weight")
    # The loss is divided by the sum: it and its inverse must be finite numbers.
    if not np.isfinite(total) or not np.isfinite(1.0 / total):
        raise ValueError(
            f"sample_weight sums to {total}, too {'large' if total > 1 else 'small'} to "
            "divide by: rescale the weights"
        )
    return array, total


def check_loss_data(output, y, sample_weight, n_examples, n_outputs, dtype):
    """(targets, labels, sample_weight, weight_total) for an output loss on n examples.

    labels (int64, softmax) or targets (dtype, squared, logistic and poisson) is None;
    weight_total is S = sum_i s_i, or n without weights.
    """
    if output == "softmax":
        targets, labels = None, check_labels(y, n_examples, n_outputs)
    else:
        targets, labels = check_targets(y, n_examples, n_outputs, dtype, output), None
    return (targets, labels) + check_sample_weight(sample_weight, n_examples, dtype)
