"""Tables for the command line: a CSV with a header row, an .npz of columns, or an .npy matrix.

A table is a list of column names and, for each, a 1-D array: float64 for a
numeric column, str for any other. Only a column that is allowed to hold
labels (the target) may be non-numeric; elsewhere the first cell that is not
a number is an error that names its row and column. Nothing is read with
pickle.
"""
from __future__ import annotations

import csv
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Collection, Iterable, Optional, Sequence, Union

import numpy as np
from numpy.typing import DTypeLike

# A file's path as the functions here take it.
_Path = Union[str, os.PathLike]


# The tables the command line reads and writes; standardisation is its own step.
__all__ = ["DataError", "Table", "read_table", "write_csv"]


class DataError(ValueError):
    """A data file that cannot be used, with a message naming the file and the problem.

    Raised by read_table and by the Table's methods for a file that is
    missing, unreadable or malformed, and for a cell or column that cannot be
    used (text where a number is needed, NaN or infinity, a missing column).
    The command line reports it as an error of its input, without a
    traceback. A ValueError.

    See Also
    --------
    read_table : Read a data file, raising DataError.

    Examples
    --------
    >>> from nnbp.tabular import DataError, read_table
    >>> try:
    ...     read_table("no-such-file.csv")
    ... except DataError as error:
    ...     print(error)
    no-such-file.csv: no such file
    """


@dataclass
class Table:
    """A data file's columns: each a 1-D array, float64 if numeric, else str.

    Made by read_table. Every column has n_rows values. Only the columns read
    as labels may hold text; the others are finite float64.

    Parameters
    ----------
    path : str
        The file read, for messages.
    columns : list of str
        The columns' names, in the file's order.
    values : dict of str to ndarray
        Each column's values, by name: a 1-D float64 array, or a str array
        for a label column holding text.
    spellings : dict of str to ndarray, default={}
        Label columns' cells as the file spells them (str), such as "02139"
        for a value of 2139.0, so that class labels come back out as
        written. Filled in by spelling for the columns it lacks.

    See Also
    --------
    read_table : Read a Table from a file.

    Examples
    --------
    >>> import os, tempfile
    >>> from nnbp.tabular import read_table
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "zips.csv")
    ...     with open(path, "w") as handle:
    ...         _ = handle.write("area,zip\\n1.5,02139\\n2.5,10001\\n")
    ...     table = read_table(path, label_columns=["zip"])
    >>> table.columns, table.n_rows
    (['area', 'zip'], 2)
    >>> table.matrix(["area"])
    array([[1.5],
           [2.5]])
    >>> table.spelling("zip").tolist()
    ['02139', '10001']
    """

    path: str
    columns: list[str]
    values: dict[str, np.ndarray]            # column name -> 1-D array (float64, or str for labels)
    # label column name -> its cells as the file spells them (str), such as "02139" for a
    # value of 2139.0: class labels come back out as written.
    spellings: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """The number of rows: the length of each column."""
        return len(next(iter(self.values.values())))

    def column(self, name: str) -> np.ndarray:
        """The values of one column.

        Parameters
        ----------
        name : str
            The column's name.

        Returns
        -------
        ndarray of shape (n_rows,)
            Its values: float64, or str for a label column holding text.

        Raises
        ------
        DataError
            If the table has no such column.
        """
        self.check_columns([name])
        return self.values[name]

    def spelling(self, name: str) -> np.ndarray:
        """The cells of a column as the file spells them.

        A CSV's cells as written; an .npz's or .npy's values, whole numbers
        without a decimal point (7, not 7.0) and others as Python writes them.

        Parameters
        ----------
        name : str
            The column's name.

        Returns
        -------
        ndarray of shape (n_rows,)
            The cells, as str.

        Raises
        ------
        DataError
            If the table has no such column.
        """
        self.check_columns([name])
        if name not in self.spellings:
            self.spellings[name] = _spelled(self.values[name])
        return self.spellings[name]

    def check_columns(self, names: Iterable[str]) -> None:
        """Check that the table has each of the columns named.

        Parameters
        ----------
        names : iterable of str
            The columns' names.

        Raises
        ------
        DataError
            Naming the first of names that the table lacks, and the columns
            it has.
        """
        _check_columns(self.path, self.columns, names)

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """The named columns, which must be numeric, as one matrix.

        Parameters
        ----------
        names : sequence of str
            The columns' names, in the order of the matrix's columns.

        Returns
        -------
        ndarray of shape (n_rows, len(names))
            The columns' values, float64.

        Raises
        ------
        DataError
            If a column is missing, or holds text.
        """
        for name in names:
            if self.column(name).dtype.kind != "f":
                raise DataError(f"{self.path}: column {name!r} holds text, not numbers")
        return np.column_stack([self.values[name] for name in names])


def _check_columns(path, columns, names):
    """Raise naming the first of names that is not among columns."""
    for name in names:
        if name not in columns:
            raise DataError(f"{path}: no column {name!r}; its columns are "
                            f"{', '.join(map(repr, columns))}")


def read_table(path: _Path, label_columns: Collection[str] = (),
               required: Sequence[str] = ()) -> Table:
    """Read the table in a data file: a .csv, .npz or .npy file.

    A CSV has a header row of unique names, then one row per example
    (blank lines are skipped; a byte-order mark is allowed). An .npz holds
    one 1-D array per column; an .npy one 2-D numeric array, whose columns
    are named "0", "1", ... Nothing is read with pickle.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Its extension picks the format: .npy, .npz, or else CSV.
    label_columns : collection of str, default=()
        The columns that may hold text (class labels): a column among them
        that is not all finite numbers is read as str. Every other column
        must hold finite numbers.
    required : sequence of str, default=()
        The columns the table must have: a missing one is reported before
        any cell is looked at.

    Returns
    -------
    Table
        The file's columns.

    Raises
    ------
    DataError
        If the file is missing, a directory, unreadable or malformed (a CSV
        without a header, rows of other lengths, a sparse matrix's .npz),
        if it has no columns or no rows, if a required column is missing,
        or if a cell outside label_columns is not a finite number (naming
        its row and column).

    See Also
    --------
    Table : The table read.

    Examples
    --------
    >>> import os, tempfile
    >>> from nnbp.tabular import read_table
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "data.csv")
    ...     with open(path, "w") as handle:
    ...         _ = handle.write("x,label\\n0.5,cat\\n1.5,dog\\n")
    ...     table = read_table(path, label_columns=["label"], required=["label"])
    >>> table.column("label")
    array(['cat', 'dog'], dtype='<U3')
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not a data file")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    extension = os.path.splitext(path)[1].lower()
    try:
        if extension == ".npy":
            table = _read_npy(path)
        elif extension == ".npz":
            table = _read_npz(path, set(label_columns))
        else:
            table = _read_csv(path, set(label_columns), required)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: cannot be read: {error}") from None
    if not table.columns:
        raise DataError(f"{path}: has no columns")
    for name in required:
        table.column(name)
    if table.n_rows == 0:
        raise DataError(f"{path}: has a header but no rows")
    return table


def _read_csv(path, label_columns, required):
    # utf-8-sig: spreadsheets often begin a CSV with a byte-order mark.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None or not any(cell.strip() for cell in header):
            raise DataError(f"{path}: is empty (a CSV needs a header row)")
        header = [cell.strip() for cell in header]
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates or "" in header:
            what = f"repeats {', '.join(map(repr, duplicates))}" if duplicates else "has an unnamed column"
            raise DataError(f"{path}: its header row {what}")
        _check_columns(path, header, required)
        cells = [[] for _ in header]
        for number, row in enumerate(rows, start=2):
            if not row or not any(cell.strip() for cell in row):
                continue                                   # blank lines
            if len(row) != len(header):
                raise DataError(f"{path}: row {number} has {len(row)} cells, the header has "
                                f"{len(header)}")
            for column, cell in zip(cells, row):
                column.append(cell.strip())
    values = {}
    for name, column in zip(header, cells):
        values[name] = _column(path, name, column, name in label_columns)
    spellings = {name: np.array(column, dtype=str)
                 for name, column in zip(header, cells) if name in label_columns}
    return Table(path, header, values, spellings)


def _spelled(values):
    """The values of an array as text: whole numbers without a decimal point."""
    if values.dtype.kind in "US":
        return values.astype(str)
    return np.array([str(int(v)) if float(v).is_integer() else repr(float(v))
                     for v in values.tolist()], dtype=str)


def _column(path, name, cells, may_hold_labels):
    """A CSV column as float64 if every cell is a finite number, else (labels only) as str."""
    numbers = np.empty(len(cells))
    for row, cell in enumerate(cells):
        try:
            numbers[row] = float(cell)
        except ValueError:
            if may_hold_labels and all(cell != "" for cell in cells):
                return np.array(cells, dtype=str)
            shown = "an empty cell" if cell == "" else f"{cell!r} is not a number"
            raise DataError(f"{path}: row {row + 2}, column {name!r}: {shown}") from None
        if not math.isfinite(numbers[row]):
            if may_hold_labels and all(cell != "" for cell in cells):
                return np.array(cells, dtype=str)          # a label such as "NaN"
            raise DataError(f"{path}: row {row + 2}, column {name!r}: {cell!r} is not finite")
    return numbers


def _load_numpy(path, what):
    """np.load without pickle; what it cannot read is a DataError naming what was expected."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        raise DataError(f"{path}: not {what} ({error})") from None


def _read_npy(path):
    array = _load_numpy(path, "a numeric .npy array")
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise DataError(f"{path}: an .npy file must hold a 2-D numeric array, got "
                        f"{array.dtype} of shape {array.shape}")
    columns = [str(k) for k in range(array.shape[1])]
    table = Table(path, columns, {name: array[:, k].astype(np.float64)
                                  for k, name in enumerate(columns)})
    _check_finite_columns(table)
    return table


# The arrays of a matrix that scipy.sparse.save_npz writes, beside "format" and "shape".
SPARSE_NPZ_ARRAYS = ({"data", "indices", "indptr"}, {"data", "row", "col"}, {"data", "offsets"})


def _read_npz(path, label_columns):
    archive = _load_numpy(path, "an .npz archive")
    with archive:
        files = set(archive.files)
        if {"format", "shape"} <= files and any(arrays <= files for arrays in SPARSE_NPZ_ARRAYS):
            raise DataError(
                f"{path}: holds a scipy sparse matrix, not a table: a table's columns have "
                "names, the target among them, and the features are standardised by their "
                "mean, which would fill in every entry. Train on a sparse matrix from Python: "
                "nnbp.MLPClassifier, nnbp.MLPRegressor and nnbp.Network take sparse X"
            )
        values, lengths, spellings = {}, set(), {}
        for name in archive.files:
            try:
                array = archive[name]
            except ValueError as error:
                raise DataError(f"{path}: column {name!r} cannot be read ({error})") from None
            if array.ndim != 1 or array.dtype.kind not in "biufU":
                raise DataError(f"{path}: column {name!r} must be a 1-D array of numbers or "
                                f"text, got {array.dtype} of shape {array.shape}")
            values[name] = array.astype(str if array.dtype.kind == "U" else np.float64)
            if name in label_columns and array.dtype.kind in "biu":
                # Exactly: float64 would round integers beyond 2**53.
                spellings[name] = array.astype(np.int64 if array.dtype.kind == "b"
                                               else array.dtype).astype(str)
            lengths.add(array.shape[0])
    if len(lengths) > 1:
        raise DataError(f"{path}: its columns have different lengths {sorted(lengths)}")
    table = Table(path, list(values), values, spellings)
    _check_finite_columns(table)
    return table


def _check_finite_columns(table):
    for name, column in table.values.items():
        if column.dtype.kind == "f" and not np.isfinite(column).all():
            row = int(np.flatnonzero(~np.isfinite(column))[0])
            raise DataError(f"{table.path}: row {row}, column {name!r}: {column[row]} is not "
                            "finite")


def write_csv(path: Optional[_Path], header: Sequence[str],
              rows: Iterable[Sequence[object]]) -> None:
    """Write rows of cells under a header row, as CSV.

    The command line's ``nnbp predict`` writes its predictions so, one row
    an input row, to a file or to standard output.

    Parameters
    ----------
    path : str or os.PathLike or None
        The file to write (replaced if it exists), or None for stdout.
    header : sequence of str
        The columns' names.
    rows : iterable of sequence
        The rows, each a sequence of cells, written as ``str`` writes them.

    See Also
    --------
    read_table : Read a CSV, .npz or .npy table.

    Notes
    -----
    Written by Python's csv module: lines end in CRLF, as RFC 4180 has them,
    and cells holding a comma or a quote are quoted.

    Examples
    --------
    >>> from nnbp.tabular import write_csv
    >>> write_csv(None, ["prediction"], [["cat"], ["dog"]])  # doctest: +NORMALIZE_WHITESPACE
    prediction
    cat
    dog
    """
    handle = sys.stdout if path is None else open(path, "w", newline="", encoding="utf-8")
    try:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    finally:
        if path is not None:
            handle.close()


def standardisation(path: _Path, names: Sequence[str], X: np.ndarray,
                    dtype: DTypeLike) -> tuple[np.ndarray, np.ndarray]:
    """The mean and scale of each column of X, for a network of dtype that takes raw rows.

    Parameters
    ----------
    path : str or os.PathLike
        The table's file, for messages.
    names : sequence of str
        The columns' names, for messages.
    X : ndarray of shape (n_rows, n_columns)
        The columns, float64 and finite.
    dtype : numpy dtype
        The network's: its first layer takes the standardisation in (W / scale,
        b - W mean / scale), so each column must be one that layer can take raw.

    Returns
    -------
    mean, scale : ndarray of shape (n_columns,), float64
        The columns' means and standard deviations, 1 for a constant column.

    Raises
    ------
    DataError
        Naming the first column that a network of dtype cannot take raw: values
        beyond the square root of the dtype's largest number (their squares,
        and the folded weights' products, would overflow), a spread below the
        square root of its smallest normal number (the folded weights would),
        or a spread so small beside the mean that the dtype cannot represent it
        in the raw values (fewer than 10 bits of it would remain).
    """
    info = np.finfo(dtype)
    # Each column divided by its largest magnitude first: the mean and the sum of
    # squares of values near 1e308 would overflow; of values in [-1, 1] they cannot.
    peak = np.max(np.abs(X), axis=0)
    unit = np.where(peak > 0, peak, 1.0)
    mean = (X / unit).mean(axis=0) * unit
    scale = (X / unit).std(axis=0) * unit
    limit, floor = math.sqrt(info.max), math.sqrt(info.tiny)
    for name, largest, middle, spread in zip(names, peak, mean, scale):
        where = f"{path}: column {name!r}"
        if largest > limit:
            raise DataError(f"{where} holds values up to {largest:.3g}: standardising them "
                            f"for a {info.dtype} network overflows (it takes values up to "
                            f"{limit:.3g}): rescale it, such as in other units")
        if spread == 0:
            continue
        if spread < floor:
            raise DataError(f"{where} varies by only {spread:.3g}: too little for a "
                            f"{info.dtype} network to take (at least {floor:.3g}): rescale it")
        if abs(middle) / spread * info.eps > 2.0**-10:
            raise DataError(f"{where} varies by {spread:.3g} around {middle:.3g}: a "
                            f"{info.dtype} network taking its raw values would lose that "
                            "variation" + (": train with --dtype float64, or subtract an "
                                           "offset from the column" if info.dtype == np.float32
                                           else ": subtract an offset from the column"))
    scale[scale == 0] = 1.0
    return mean, scale
