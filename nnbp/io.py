"""The model file format, without pickle: ``save(model, path)`` and ``read(path)``.

A model file holds a ``Network``, a fitted ``MLPClassifier`` or a fitted
``MLPRegressor``. This module knows the format alone, not the model classes:
each model gives its state to ``save`` as a ``SavedModel`` (its
``__nnbp_saved_state__()``), ``read`` gives back the ``SavedModel`` of a file, checked
against the format, and ``nnbp.load`` hands it to the model class, which takes
its own state (``__nnbp_from_saved_state__``): the named protocol between
this module and the models. Reading never executes code from the
file and trusts nothing in it before checking it: a corrupted, truncated or
hostile file raises ``ModelFileError`` (a ValueError) naming the file and the
problem, and so does a state that its model class refuses.

The file format, version 1
--------------------------
An uncompressed .npz file: a zip archive whose members are .npy arrays stored
without compression, as ``numpy.savez`` writes them; ``numpy.load(path,
allow_pickle=False)`` reads it too. Strings are 0-d unicode arrays (dtype
``<U...``), never object arrays. JSON text is ASCII (other characters are
escaped). The members, each named ``<name>.npy``:

==============  ==============================================================
format          0-d string ``"nnbp"``
format_version  0-d int64, ``1``
kind            0-d string ``"Network"``, ``"MLPClassifier"`` or ``"MLPRegressor"``
config          0-d string, a JSON object: the network's constructor arguments
                as ``Network.config()`` gives them (layer_sizes, activation,
                output, dtype ``"float32"`` or ``"float64"``, alpha, bias, init,
                sigma, negative_slope)
params          1-D array of the config's dtype and of length n_params: the
                flat parameter vector, in the layout of ``Network.params``
metadata        0-d string, a JSON object: the caller's metadata, and the
                ``nnbp_version``, ``saved`` (ISO 8601 date and time, UTC) and
                ``format_version`` that save adds
estimator       estimators only. 0-d string, a JSON object:
                ``{"params": ..., "fitted": ...}``: the constructor's
                parameters (``get_params()``) and the fitted attributes that
                predict, predict_proba and score need (``n_features_in_``,
                ``n_outputs_``, ``n_layers_``, ``out_activation_``, ``n_iter_``, ``loss_``,
                ``loss_curve_``, ... where present; for the classifier, the label
                binarizer's ``y_type_`` and ``sparse_input_``). This JSON may
                hold Python's ``Infinity`` and ``NaN`` (``best_loss_`` starts at
                infinity); config and metadata are strict JSON.
classes         MLPClassifier only. 1-D array: ``classes_`` (integers, floats,
                booleans or unicode strings)
==============  ==============================================================

What loading checks, in order: the path is a regular file (a directory, FIFO
or device is refused without waiting on it) and a zip archive; no member
is named twice, every member is stored uncompressed and is one of the kind's
members (all of them present, no other); each member's .npy header declares an
allowed dtype (never an object dtype: nothing is unpickled) and the shape it
must have, whose size is the member's size in the archive, before any data is
read, so that a header declaring a huge shape allocates nothing; the format
name, a known format version (a newer one says which nnbp wrote it) and kind;
the JSON parses (no duplicate keys) into the expected types; the config has
the keys and simple types of a network's, and params has its dtype and
n_params entries (counted from the layer sizes before any network is built),
all finite; the zip's CRC of each member read. Then, in ``nnbp.load``, the
model classes check their own state: the config is one ``Network(...)``
accepts; for estimators, the parameters are valid and the fitted state agrees
with the network (number of features, of outputs, the output activation, the
classes). Saving makes the file in memory and runs these same checks on it
(``load``'s), and the model they give back must be the model saved: what
save writes, load reads back as it was.

The files ``nnbp train`` wrote before it folded the standardisation of the
features into the network's first layer hold it in the metadata
(``feature_mean``, ``feature_scale``: n_features finite numbers, the scales
nonzero), for ``nnbp predict`` to apply. Loading such a Network folds them in
(``fold_standardisation``) and keeps them as ``folded_standardisation``, so
that the loaded network takes raw rows as every newer file's does.

Examples
--------
>>> import os, tempfile
>>> import nnbp
>>> with tempfile.TemporaryDirectory() as folder:
...     path = os.path.join(folder, "model.npz")
...     nnbp.io.save(nnbp.Network([4, 3], seed=0), path)
...     sorted(nnbp.io.read(path).metadata)
['format_version', 'nnbp_version', 'saved']
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import io
import json
import math
import os
import secrets
import stat
import struct
import sys
import tokenize
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib import format as npy_format

from nnbp._memory import check_available
from nnbp._validation import check_layer_sizes, check_vector
from nnbp._version import __version__

# This module knows the format, not the model classes (they import it): a
# network is typed Network in the docstrings, Any in the hints.
_Network = Any

__all__ = [
    "CONFIG_KEYS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "MEMBERS",
    "ModelFileError",
    "SavedModel",
    "fold_standardisation",
    "load",
    "read",
    "save",
    "unfold_standardisation",
    "write_atomically",
]

FORMAT_NAME = "nnbp"
FORMAT_VERSION = 1
KINDS = ("Network", "MLPClassifier", "MLPRegressor")
# The members of a file of each kind (as the .npz names them, without ".npy").
NETWORK_MEMBERS = ("format", "format_version", "kind", "config", "params", "metadata")
MEMBERS = {
    "Network": NETWORK_MEMBERS,
    "MLPClassifier": NETWORK_MEMBERS + ("estimator", "classes"),
    "MLPRegressor": NETWORK_MEMBERS + ("estimator",),
}
CONFIG_KEYS = ("layer_sizes", "activation", "output", "dtype", "alpha", "bias", "init",
               "sigma", "negative_slope")
# The metadata entries save writes, with their types; the caller's own keys of
# the same names are replaced.
SAVED_METADATA = {"nnbp_version": str, "saved": str, "format_version": int}
# Deeper JSON nesting is refused (the caller's metadata could refer to itself).
MAX_JSON_DEPTH = 100
# The longest description of a file's problem in a ModelFileError (it may quote
# a value of the file, of any length).
MAX_PROBLEM_LENGTH = 500

# What reading a damaged zip archive or .npy header can raise (zipfile's
# BadZipFile, EOFError on short data, RuntimeError for an "encrypted" flag,
# NotImplementedError for an unknown method or version, struct.error,
# numpy's ValueError for a bad header, OSError for a seek out of the file).
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError,
           NotImplementedError, ValueError, KeyError, struct.error, OverflowError)


class ModelFileError(ValueError):
    """A file that is not a valid nnbp model file: the message names it and the problem.

    A ValueError, so that code catching ValueError for bad input catches it.

    See Also
    --------
    read : Raises it for a file that breaks the format.
    load : Raises it also for a state its model class refuses.

    Examples
    --------
    >>> import os, tempfile
    >>> import nnbp
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "notes.txt")
    ...     with open(path, "w") as file:
    ...         _ = file.write("not a model")
    ...     try:
    ...         nnbp.load(path)
    ...     except nnbp.io.ModelFileError as error:
    ...         print(str(error).replace(folder, "..."))
    cannot load '.../notes.txt': not an nnbp model file (not a zip archive: ...)
    """


class _Invalid(Exception):
    """A problem with the file's contents; read() adds the file's name."""


@dataclasses.dataclass
class SavedModel:
    """What a model file holds: the state a model gives to save, and read gives back.

    A model's ``__nnbp_saved_state__()`` returns one, and its class's
    ``__nnbp_from_saved_state__`` takes one back apart: the protocol between
    this module and the model classes.

    Parameters
    ----------
    kind : str
        One of KINDS.
    config : dict
        The network's constructor arguments (``Network.config()``).
    params : ndarray of shape (n_params,)
        The network's flat parameter vector.
    metadata : dict
        JSON data about the model.
    estimator : dict or None, default=None
        The estimator's JSON state; None for a Network.
    arrays : dict, default={}
        The estimator's arrays by member name (the classifier's ``classes``).

    See Also
    --------
    read : The SavedModel of a file.
    save : Writes a model's SavedModel.

    Examples
    --------
    >>> from nnbp import Network
    >>> saved = Network([4, 3], seed=0).__nnbp_saved_state__()
    >>> saved.kind, saved.params.shape, saved.estimator
    ('Network', (15,), None)
    """

    kind: str
    config: dict[str, Any]
    params: np.ndarray
    metadata: dict[str, Any]
    estimator: dict[str, Any] | None = None
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------- saving

def save(model: Any, path: str | os.PathLike[str],
         metadata: dict[str, Any] | None = None) -> None:
    """Write model (a Network, or a fitted MLPClassifier or MLPRegressor) to path.

    Everything is checked before the file is opened: the file is made in
    memory and read back by the checks ``nnbp.load`` makes, and the model it
    gives must be the model saved. So a model that loading would refuse or
    change (NaN weights, class labels that NumPy's strings cannot hold) is
    refused with a ValueError or TypeError, and leaves no file behind. The
    file is then written atomically (``write_atomically``): a save that fails
    part-way (a full disk) leaves the previous file as it was, and saves
    racing to one path leave one of their files, complete. See the module's
    docstring for the format.

    Parameters
    ----------
    model : Network, MLPClassifier or MLPRegressor
        The model; an estimator must be fitted.
    path : str or os.PathLike
        Written exactly as given: no ".npz" is appended (as numpy.savez does).
        An existing file is replaced; a symbolic link's target is.
    metadata : dict or None, default=None
        JSON data about the model (str, int, float, bool, None, and lists and
        dicts of them, with str keys; numpy scalars are taken as the Python
        numbers they hold), such as ``{"classes": [...], "features": [...]}``.
        None keeps the model's own metadata (``net.metadata``, or
        ``estimator.network_.metadata``: what a loaded model carries). save
        adds ``nnbp_version``, ``saved`` and ``format_version``.

    Raises
    ------
    TypeError
        If model is not an nnbp model, or path or metadata has a wrong type.
    ValueError
        If the model or its metadata cannot be saved as it is (NaN, a state
        that would load differently).

    See Also
    --------
    nnbp.load : Load the model back.
    read : The checked contents of a model file.

    Examples
    --------
    >>> import os, tempfile
    >>> import nnbp
    >>> net = nnbp.Network([4, 3], seed=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.npz")
    ...     nnbp.io.save(net, path, metadata={"features": ["a", "b", "c", "d"]})
    ...     loaded = nnbp.load(path)
    >>> loaded.metadata["features"], bool((loaded.params == net.params).all())
    (['a', 'b', 'c', 'd'], True)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    state = getattr(model, "__nnbp_saved_state__", None)
    if isinstance(model, type) or not callable(state):
        raise TypeError(
            "save takes an nnbp.Network, MLPClassifier or MLPRegressor, "
            f"got {type(model).__name__}"
        )
    saved = state()
    if metadata is None:
        metadata = {key: value for key, value in saved.metadata.items()
                    if key not in SAVED_METADATA}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    metadata = _plain_json(metadata, "metadata", allow_non_finite=False)
    metadata.update(
        nnbp_version=__version__,
        saved=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        format_version=FORMAT_VERSION,
    )
    if saved.kind == "Network" and _legacy_standardisation(saved.config, metadata):
        raise ValueError(
            "metadata holds feature_mean and feature_scale: loading would fold them into the "
            "first layer, as it does for the files nnbp train wrote before it folded them in "
            "itself (fold them with nnbp.io.fold_standardisation, or give them other names)")
    # The file is made in memory, read back and compared with the model: about three
    # copies of the parameters at once, beside the model's own.
    check_available(3 * saved.params.nbytes, "saving the model (its file is made in memory)")
    members = _members(saved, metadata)
    data = _archive(members)
    _check_loads_back(data, members, saved.kind, _own_classes(model, saved.kind))
    write_atomically(path, data)


def _own_classes(model, kind):
    """The classes function (see load) that restores what model saves: model's own."""
    if kind == "Network":
        return lambda _: (type(model), None)
    return lambda _: (type(model.network_), type(model))


def _members(saved, metadata):
    """{member name: array} of a SavedModel with the full metadata (what save adds too)."""
    members = {
        "format": np.array(FORMAT_NAME),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "kind": np.array(saved.kind),
        "config": np.array(_json_text(saved.config, allow_non_finite=False)),
        "params": saved.params,
        "metadata": np.array(_json_text(metadata, allow_non_finite=False)),
    }
    if saved.estimator is not None:
        estimator = _plain_json(saved.estimator, "the estimator", allow_non_finite=True)
        members["estimator"] = np.array(_json_text(estimator, allow_non_finite=True))
    members.update(saved.arrays)
    return members


def _archive(members):
    """The bytes of the model file of members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in members.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                npy_format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


def _check_loads_back(data, members, kind, classes):
    """Raise a ValueError unless the file of data loads, as nnbp.load loads it, as members.

    The one validator of both directions: what save writes passes every check
    of loading, and NumPy's and JSON's conversions lose nothing.
    """
    try:
        restored = _restore(_read(io.BytesIO(data), len(data)), classes)
    except _Invalid as problem:
        raise ValueError(f"cannot save the {kind}: {problem}") from None
    # The metadata is the one restored: what save added stays as it was.
    again = _members(restored.__nnbp_saved_state__(),
                     json.loads(str(members["metadata"][()])))
    for name, array in members.items():
        array, other = np.asarray(array), np.asarray(again.get(name))
        if not (array.dtype == other.dtype and array.shape == other.shape
                and _same_bytes(array, other)):
            raise ValueError(f"cannot save the {kind}: its {name} would load as "
                             f"{_one_short_line(repr(other.tolist()))}, not as "
                             f"{_one_short_line(repr(array.tolist()))}")


def _same_bytes(a, b):
    """Whether two arrays of one dtype and shape hold the same bytes (-0.0 is not 0.0),
    compared without copying them (params may be most of the memory there is)."""
    return (memoryview(np.ascontiguousarray(a)).cast("B")
            == memoryview(np.ascontiguousarray(b)).cast("B"))


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write data to the file at path, replacing it whole or not at all.

    The bytes go to a new file in the same directory, which is flushed to the
    disk (fsync) and then renamed over path (``os.replace``, atomic): a reader
    sees the old file or the new one, never part of one.

    Parameters
    ----------
    path : str or os.PathLike
        The file. A symbolic link's target is replaced, as ``open(path, "w")``
        would write it; a new file gets the permissions ``open`` gives (0o666
        less the umask), an existing one keeps its own.
    data : bytes
        The file's contents.

    Raises
    ------
    IsADirectoryError
        If path is a directory.
    OSError
        If path exists and is not a regular file (a FIFO, a device), or if
        writing fails (a full disk, a file-size limit): the previous file is
        then as it was, and the temporary file is removed.

    See Also
    --------
    save : Writes model files with it.

    Examples
    --------
    >>> import os, tempfile
    >>> from nnbp.io import write_atomically
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "notes.txt")
    ...     write_atomically(path, b"first")
    ...     write_atomically(path, b"second")
    ...     with open(path, "rb") as file:
    ...         file.read()
    b'second'
    """
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    kind = None if mode is None else _file_kind(mode)
    if mode is not None and kind is not None:
        error = IsADirectoryError if stat.S_ISDIR(mode) else OSError
        raise error(f"cannot save to {os.fspath(path)!r}: it is {kind}, not a regular file")
    if mode is not None and not os.access(target, os.W_OK):
        # open(path, "w") would fail; the rename would not, and must not replace it either.
        raise PermissionError(errno.EACCES, "the file is not writable", os.fspath(path))
    directory, name = os.path.split(target)
    try:
        fd, temporary = _temporary_file(directory, name)
    except OSError as error:
        # Named by the path asked for, not the temporary file's.
        raise type(error)(error.errno, error.strerror, os.fspath(path)) from None
    try:
        with os.fdopen(fd, "wb") as file:
            if mode is not None and hasattr(os, "fchmod"):     # not on Windows
                os.fchmod(file.fileno(), stat.S_IMODE(mode))
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


def _temporary_file(directory, name):
    """(fd, path) of a new file beside name in directory, created as open() creates one:
    mode 0o666 less the umask (tempfile's would be 0o600, and os.umask cannot be read
    without setting it, which other threads would see)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue


def _sync_directory(directory):
    """fsync the directory, so that the rename survives a crash; where a directory cannot
    be opened or synced (some file systems, Windows), the rename stands as it is."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _plain_json(value, where, allow_non_finite, depth=0):
    """value as plain JSON data (dict with str keys, list, str, int, float, bool, None).

    numpy scalars become the Python numbers they hold; anything else raises a
    TypeError, a non-finite float (unless allowed) a ValueError, naming where.
    """
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{where} is nested more than {MAX_JSON_DEPTH} deep (or contains itself)")
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not (allow_non_finite or math.isfinite(value)):
            raise ValueError(f"{where} is {value}: JSON holds finite numbers only")
        return float(value)
    if isinstance(value, list):
        return [_plain_json(item, f"{where}[{index}]", allow_non_finite, depth + 1)
                for index, item in enumerate(value)]
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r}: JSON keys must be strings")
            plain[str(key)] = _plain_json(item, f"{where}[{key!r}]", allow_non_finite, depth + 1)
        return plain
    hint = ""
    if isinstance(value, (tuple, np.ndarray)):
        hint = ": give a list instead (list(...) or .tolist())"
    raise TypeError(
        f"{where} must be JSON data (str, int, float, bool, None, or lists and dicts of "
        f"them), got {type(value).__name__}{hint}"
    )


def _json_text(value, allow_non_finite):
    return json.dumps(value, ensure_ascii=True, allow_nan=allow_non_finite)


# ---------------------------------------------------------------- loading

def read(path: str | os.PathLike[str]) -> SavedModel:
    """The SavedModel in the file at path, checked against the format.

    Nothing in the file is executed and everything the format says is checked
    (see the module's docstring); whether the model class accepts the state
    is its own check (``load``).

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    SavedModel
        The file's contents.

    Raises
    ------
    FileNotFoundError
        If there is no file at path.
    ModelFileError
        If the file is not a valid nnbp model file (a directory, a FIFO or
        device among them: they are refused without waiting on them); the
        message names the file and the problem.

    See Also
    --------
    load : The model of a file.

    Examples
    --------
    >>> import os, tempfile
    >>> import nnbp
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.npz")
    ...     nnbp.io.save(nnbp.Network([4, 3], seed=0), path)
    ...     saved = nnbp.io.read(path)
    >>> saved.kind, saved.config["layer_sizes"], saved.params.shape
    ('Network', [4, 3], (15,))
    """
    return _read_path(path, _read)


def load(path: str | os.PathLike[str],
         classes: Callable[[str], tuple[type, type | None]]) -> Any:
    """The model saved at path: a Network, or a fitted MLPClassifier or MLPRegressor.

    ``nnbp.load`` is this function with nnbp's model classes: use it. This
    one serves model classes of one's own that follow the protocol
    (``SavedModel``).

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    classes : callable
        ``classes(kind)`` gives the classes that restore a file of that kind
        (one of KINDS): ``(the network's class, the estimator's class or None
        for a Network)``. nnbp.load passes nnbp's own: this module knows the
        format, not the models (they import it).

    Returns
    -------
    Network, MLPClassifier or MLPRegressor
        The model, whose class has checked its state.

    Raises
    ------
    FileNotFoundError
        If there is no file at path.
    ModelFileError
        If the file is not a valid model file, or its model class refuses the
        state: the message names the file and the problem.

    See Also
    --------
    nnbp.load : This function with nnbp's model classes.
    read : The checked contents of a model file.

    Examples
    --------
    >>> import os, tempfile
    >>> import nnbp
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.npz")
    ...     nnbp.io.save(nnbp.Network([4, 3], seed=0), path)
    ...     net = nnbp.io.load(path, lambda kind: (nnbp.Network, None))
    >>> net.layer_sizes
    (4, 3)
    """
    return _read_path(path, lambda file, size: _restore(_read(file, size), classes))


def _read_path(path, reader):
    """reader(file, size) of the regular file at path; its problems as ModelFileError."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    name = os.fspath(path)
    # Without O_NONBLOCK, opening a FIFO waits for a writer, for ever.
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = _file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise _file_error(name, f"it is {kind}, not a model file")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        try:
            return reader(file, os.fstat(file.fileno()).st_size)
        except _Invalid as problem:
            raise _file_error(name, _one_short_line(str(problem))) from None
        except _DAMAGE as error:
            detail = f"{type(error).__name__}: {error}"
            raise _file_error(name, f"the file is damaged ({_one_short_line(detail)})") from None


def _file_kind(mode):
    """What a file of this st_mode is ("a directory", ...), None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket",
             stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device"}
    return next((kind for test, kind in kinds.items() if test(mode)), "not a regular file")


def _restore(saved, classes):
    """The model of a SavedModel, from the classes that classes(kind) gives (see load);
    raises _Invalid naming the part refused."""
    network_class, estimator_class = classes(saved.kind)
    try:
        network = network_class.__nnbp_from_saved_state__(saved.config, saved.params,
                                                          saved.metadata)
    except (TypeError, ValueError) as error:
        raise _Invalid(f"config: {error}") from None
    if saved.kind == "Network":
        legacy = _legacy_standardisation(saved.config, saved.metadata)
        if legacy is not None:
            _fold_legacy_standardisation(network, *legacy)
        return network
    try:
        return estimator_class.__nnbp_from_saved_state__(network, saved.estimator,
                                                         saved.arrays)
    except (TypeError, ValueError) as error:
        raise _Invalid(f"estimator: {error}") from None


def fold_standardisation(network: _Network, mean: npt.ArrayLike,
                         scale: npt.ArrayLike) -> dict[str, list[float]]:
    """Make network take raw rows x where it took standardised ones, (x - mean) / scale.

    W (x - m) / s + b = (W / s) x + (b - (W / s) m): the first layer's W
    becomes W / s, column by column, and b becomes b - (W / s) m, both computed
    in float64 and rounded once to the network's dtype.

    Parameters
    ----------
    network : Network
        With biases; its first layer's weights and biases are changed in place.
    mean, scale : array_like of shape (n_features,)
        Finite; scale nonzero.

    Returns
    -------
    dict
        ``{"mean": [...], "scale": [...]}``, for the metadata: what was folded in.

    Raises
    ------
    ValueError
        If the network has no biases, mean or scale are not n_features finite
        numbers (scale nonzero), or the folded parameters overflow the
        network's dtype.

    See Also
    --------
    unfold_standardisation : Undo it.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network
    >>> from nnbp.io import fold_standardisation
    >>> X = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> mean, scale = X.mean(axis=0), X.std(axis=0)
    >>> net = Network([2, 1], output="squared", seed=0)
    >>> before = net.forward((X - mean) / scale)
    >>> fold_standardisation(net, mean, scale)
    {'mean': [2.0, 20.0], 'scale': [1.0, 10.0]}
    >>> bool(np.allclose(net.forward(X), before))
    True
    """
    mean, scale = _standardisation_vectors(network, mean, scale)
    weights = network.weights[0].astype(np.float64) / scale
    biases = network.biases[0].astype(np.float64) - weights @ mean
    with np.errstate(over="ignore"):
        weights, biases = weights.astype(network.dtype), biases.astype(network.dtype)
    if not (np.isfinite(weights).all() and np.isfinite(biases).all()):
        raise ValueError(f"the folded first layer overflows {network.dtype.name}")
    network.weights[0][...] = weights
    network.biases[0][...] = biases
    return {"mean": mean.tolist(), "scale": scale.tolist()}


def unfold_standardisation(network: _Network, folded: dict[str, list[float]]) -> None:
    """Make network take standardised rows again: fold_standardisation undone, in place.

    W = (W / s) s and b = (b - (W / s) m) + (W / s) m, in float64: the network
    as it was trained, to within its dtype's rounding.

    Parameters
    ----------
    network : Network
        A network fold_standardisation changed.
    folded : dict
        What it returned: ``{"mean": [...], "scale": [...]}``.

    Raises
    ------
    ValueError
        If folded is not such a dict of n_features finite numbers each
        (scale nonzero), or the network has no biases.

    See Also
    --------
    fold_standardisation : What it undoes.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network
    >>> from nnbp.io import fold_standardisation, unfold_standardisation
    >>> net = Network([2, 1], output="squared", seed=0)
    >>> weights = net.weights[0].copy()
    >>> unfold_standardisation(net, fold_standardisation(net, [2.0, 20.0], [1.0, 10.0]))
    >>> bool(np.allclose(net.weights[0], weights))
    True
    """
    if not (isinstance(folded, dict) and set(folded) == {"mean", "scale"}):
        raise ValueError(f"folded must be a dict of mean and scale, got {folded!r}")
    mean, scale = _standardisation_vectors(network, folded["mean"], folded["scale"])
    weights = network.weights[0].astype(np.float64)
    network.biases[0][...] = network.biases[0].astype(np.float64) + weights @ mean
    network.weights[0][...] = weights * scale


def _standardisation_vectors(network: _Network, mean: npt.ArrayLike, scale: npt.ArrayLike
                             ) -> tuple[np.ndarray, np.ndarray]:
    """mean and scale as float64 vectors of the network's n_features, checked."""
    n_features = network.layer_sizes[0]
    mean = np.asarray(mean, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    for name, values in (("mean", mean), ("scale", scale)):
        if values.shape != (n_features,) or not np.isfinite(values).all():
            raise ValueError(f"{name} must be {n_features} finite numbers, got {values!r}")
    if not scale.all():
        raise ValueError("scale must not hold 0")
    if not network.bias:
        raise ValueError("a network without biases cannot take a mean in")
    return mean, scale


# The metadata of a file of nnbp train before the standardisation was folded into the
# network: nnbp predict standardised the rows with these, and loading folds them in.
LEGACY_STANDARDISATION = ("feature_mean", "feature_scale")


def _legacy_standardisation(config, metadata):
    """(mean, scale) of such a file's metadata, or None if it holds no valid ones."""
    mean, scale = (metadata.get(key) for key in LEGACY_STANDARDISATION)
    n_features = config["layer_sizes"][0]
    for values in (mean, scale):
        if not (isinstance(values, list) and len(values) == n_features and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in values)):
            return None
    if not (config["bias"] and all(scale)):
        return None
    return mean, scale


def _fold_legacy_standardisation(network, mean, scale):
    """Fold a legacy file's standardisation into network; its metadata then says so."""
    try:
        folded = fold_standardisation(network, mean, scale)
    except ValueError as error:
        raise _Invalid(f"metadata: feature_mean and feature_scale: {error}") from None
    metadata = {key: value for key, value in network.metadata.items()
                if key not in LEGACY_STANDARDISATION}
    metadata["folded_standardisation"] = folded
    network.metadata = metadata


def _file_error(name, problem):
    return ModelFileError(f"cannot load {name!r}: {problem}")


def _one_short_line(problem):
    """problem on one line, cut to MAX_PROBLEM_LENGTH characters: it may quote anything the
    file holds, and numpy's messages may span lines."""
    problem = " ".join(problem.splitlines())
    if len(problem) <= MAX_PROBLEM_LENGTH:
        return problem
    cut = MAX_PROBLEM_LENGTH - 40
    return f"{problem[:cut]}... ({len(problem) - cut} more characters)"


def _read(file, file_size):
    if file_size == 0:
        raise _Invalid("the file is empty")
    archive = _Archive(file, file_size)
    if not archive.has("format"):
        raise _Invalid("not an nnbp model file (a zip archive without the member format.npy)")
    if archive.read_string("format") != FORMAT_NAME:
        raise _Invalid("not an nnbp model file (its format member is not 'nnbp')")
    version = archive.read_int("format_version")
    if version > FORMAT_VERSION:
        raise _Invalid(
            f"it is in model format version {version}{archive.writer()}; this nnbp reads "
            f"format version {FORMAT_VERSION}: load it with a newer nnbp"
        )
    if version < 1:
        raise _Invalid(f"unknown model format version {version}")
    kind = archive.read_string("kind")
    if kind not in KINDS:
        raise _Invalid(f"unknown kind of model {kind!r}; known: {', '.join(KINDS)}")
    archive.check_members(MEMBERS[kind])

    config = _parse_json(archive.read_string("config"), "config")
    sizes, dtype = _check_config(config)
    n_params = _count_params(sizes, config["bias"])
    # Checked against the header before anything of the size of params is
    # allocated (Network's constructor allocates n_params entries).
    params = archive.read_array("params", lambda d, shape: d == dtype and shape == (n_params,),
                                f"a {dtype.name} vector of {n_params} parameters")
    try:
        params = check_vector("params", params, dtype, n_params)
    except ValueError as error:
        raise _Invalid(str(error)) from None
    metadata = _check_metadata(_parse_json(archive.read_string("metadata"), "metadata"))
    saved = SavedModel(kind, config, params, metadata)
    if kind == "Network":
        return saved
    saved.estimator = _parse_json(archive.read_string("estimator"), "estimator",
                                  allow_non_finite=True)
    if kind == "MLPClassifier":
        saved.arrays["classes"] = archive.read_array(
            "classes", lambda d, shape: d.kind in "biufU" and len(shape) == 1 and shape[0] > 0,
            "a non-empty vector of numbers or strings")
    return saved


class _Archive:
    """A model file's zip archive, whose members are checked before they are read."""

    def __init__(self, file, file_size):
        try:
            self._zip = zipfile.ZipFile(file)
        except zipfile.BadZipFile as error:
            raise _Invalid(f"not an nnbp model file (not a zip archive: {error})") from None
        self._file_size = file_size
        self._members = {}
        for info in self._zip.infolist():
            name = info.filename.removesuffix(".npy")
            if name in self._members:
                raise _Invalid(f"it holds the member {info.filename!r} twice")
            self._members[name] = info

    def has(self, name):
        return name in self._members

    def check_members(self, expected):
        missing = [name for name in expected if name not in self._members]
        if missing:
            raise _Invalid(f"the member{'s' * (len(missing) > 1)} {', '.join(missing)} "
                           f"{'are' if len(missing) > 1 else 'is'} missing")
        unexpected = [info.filename for name, info in self._members.items()
                      if name not in expected or not info.filename.endswith(".npy")]
        if unexpected:
            raise _Invalid(f"unexpected member {unexpected[0]!r}")

    def read_array(self, name, accept, expected):
        """Member name as a read-only array, if accept(dtype, shape) of its header.

        expected describes what accept wants, for the message. The declared
        dtype and shape are checked, and must account for the member's size,
        before the data is read: the allocation is at most the file's size.
        """
        info = self._members.get(name)
        if info is None:
            raise _Invalid(f"the member {name} is missing")
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Invalid(f"the member {name} is compressed; model files store members "
                           "as they are")
        if info.file_size != info.compress_size:
            raise _Invalid(f"the member {name} declares {info.file_size} bytes stored in "
                           f"{info.compress_size}, but it is stored as it is")
        if info.file_size > self._file_size:
            raise _Invalid(f"the member {name} declares a size of {info.file_size} bytes, "
                           f"but the whole file holds {self._file_size}")
        with self._zip.open(info) as member:
            version = npy_format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise _Invalid(f"the member {name} is in .npy format {version}; "
                               "model files use 1.0 or 2.0")
            try:
                if version == (1, 0):
                    shape, _, dtype = npy_format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = npy_format.read_array_header_2_0(member)
            except (SyntaxError, tokenize.TokenError) as error:
                # numpy tokenizes the header before it parses it (and says
                # ValueError when the parsing fails, not the tokenizing).
                raise _Invalid(f"the member {name} has an unreadable .npy header "
                               f"({type(error).__name__}: {error.args[0]})") from None
            if dtype.hasobject:
                raise _Invalid(f"the member {name} holds Python objects (dtype {dtype}), "
                               "which would need pickle: refused")
            if len(shape) > 1 or dtype.itemsize == 0 or not accept(dtype, shape):
                raise _Invalid(f"the member {name} has dtype {dtype} and shape {shape}; "
                               f"expected {expected}")
            n_bytes = math.prod(shape) * dtype.itemsize
            if member.tell() + n_bytes != info.file_size:
                raise _Invalid(f"the member {name} declares {n_bytes} bytes of data but holds "
                               f"{info.file_size - member.tell()}")
            data = member.read(n_bytes)
            # Reading to the end makes zipfile check the member's CRC.
            if len(data) != n_bytes or member.read(1):
                raise _Invalid(f"the member {name} is truncated")
        if dtype.kind == "U":
            _decode_unicode(data, dtype, name)
        elif dtype.kind == "b" and data.strip(b"\x00\x01"):
            raise _Invalid(f"the member {name} holds booleans other than 0 and 1")
        return np.frombuffer(data, dtype=dtype).reshape(shape)

    def read_string(self, name):
        array = self.read_array(name, lambda d, shape: d.kind == "U" and shape == (),
                                "a 0-d unicode string")
        return _decode_unicode(array.tobytes(), array.dtype, name).rstrip("\x00")

    def read_int(self, name):
        array = self.read_array(name, lambda d, shape: d.kind in "iu" and shape == (),
                                "a 0-d integer")
        return int(array[()])

    def writer(self):
        """", written by nnbp X" if the metadata says so; else "" (for a message)."""
        try:
            version = json.loads(self.read_string("metadata")).get("nnbp_version")
        except Exception:   # only a message's detail: any damage just leaves it out
            return ""
        return f", written by nnbp {version}" if isinstance(version, str) else ""


def _decode_unicode(data, dtype, name):
    """The text of a unicode array's bytes, refusing invalid code points.

    numpy would otherwise make strings of invalid characters or fail with a
    SystemError.
    """
    big_endian = dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder == "big")
    try:
        return data.decode("utf-32-be" if big_endian else "utf-32-le")
    except UnicodeDecodeError:
        raise _Invalid(f"the member {name} holds invalid unicode characters") from None


def _parse_json(text, member, allow_non_finite=False):
    """The JSON object of text: a dict, without duplicate keys."""
    def refuse_constant(token):
        raise _Invalid(f"the member {member} holds {token}, which is not JSON")

    def finite_float(token):
        # A literal such as 1e999 is valid JSON, but float() makes it infinite.
        value = float(token)
        if not math.isfinite(value):
            shown = token if len(token) <= 40 else token[:37] + "..."
            raise _Invalid(f"the member {member} holds the number {shown}, too large for a "
                           "float")
        return value

    def refuse_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise _Invalid(f"the member {member} names a JSON key twice")
        return dict(pairs)

    try:
        value = json.loads(text, object_pairs_hook=refuse_duplicates,
                           parse_constant=None if allow_non_finite else refuse_constant,
                           parse_float=None if allow_non_finite else finite_float)
    except (ValueError, RecursionError) as error:
        raise _Invalid(f"the member {member} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise _Invalid(f"the member {member} must hold a JSON object, got {type(value).__name__}")
    return value


def _check_config(config):
    """(layer sizes, dtype) of a config whose keys and simple types are checked."""
    missing = [key for key in CONFIG_KEYS if key not in config]
    unknown = [key for key in config if key not in CONFIG_KEYS]
    if missing or unknown:
        raise _Invalid(f"config must have the keys {', '.join(CONFIG_KEYS)}; "
                       f"missing: {missing}, unknown: {unknown}")
    if not isinstance(config["layer_sizes"], list):
        raise _Invalid(f"config: layer_sizes must be a list, got {config['layer_sizes']!r}")
    try:
        sizes = check_layer_sizes(config["layer_sizes"])
    except (TypeError, ValueError) as error:
        raise _Invalid(f"config: {error}") from None
    if not isinstance(config["bias"], bool):
        raise _Invalid(f"config: bias must be true or false, got {config['bias']!r}")
    if config["dtype"] not in ("float32", "float64"):
        raise _Invalid(f"config: dtype must be 'float32' or 'float64', got {config['dtype']!r}")
    return sizes, np.dtype(config["dtype"])


def _count_params(sizes, bias):
    """Network.n_params of these layer sizes, in Python ints (no overflow, no allocation)."""
    n_weights = sum(fan_out * fan_in for fan_in, fan_out in zip(sizes, sizes[1:]))
    return n_weights + (sum(sizes[1:]) if bias else 0)


def _check_metadata(metadata):
    for key, kind in SAVED_METADATA.items():
        value = metadata.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _Invalid(f"metadata: {key} must be a {kind.__name__}, got {value!r}")
    try:
        datetime.datetime.fromisoformat(metadata["saved"])
    except ValueError:
        raise _Invalid(
            f"metadata: saved must be an ISO 8601 date, got {metadata['saved']!r}"
        ) from None
    return metadata

