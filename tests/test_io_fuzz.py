"""Fuzzing nnbp.load with hypothesis: mutated model files of networks and fitted estimators.

Byte-level mutations (truncation at any length, several bit flips anywhere,
multi-byte overwrites, insertions and deletions) and structured ones, which
rewrite a member properly inside a valid zip: .npy headers declaring other
dtypes, shapes, huge sizes or fortran order; members replaced by other
arrays; JSON members with wrong types or values, huge numbers or deep
nesting; duplicated, compressed, extra, missing, renamed members; zip
headers declaring other sizes, methods, flags or offsets; a zip bomb.

The property: nnbp.load raises ModelFileError, in one short line naming the
file, or returns a model. After a byte-level mutation, the model must be
exactly the original (the members' CRCs make any other outcome a bug).
After a structured one, the file may be a valid model file of another
model: the loaded model must then be what the file says (saved again, it
gives the same members). Never another exception; every load returns
within LOAD_TIME_LIMIT seconds and its tracemalloc peak stays within
allocation_bound(file size), which the densest files check.

tests/fuzz/fuzz_load.py applies the same property to atheris' mutations.
"""
import contextlib
import functools
import io
import json
import math
import os
import signal
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes
from hypothesis.extra.numpy import arrays as hypothesis_arrays

import nnbp
from nnbp.io import MAX_PROBLEM_LENGTH, SAVED_METADATA, ModelFileError

from test_io import (classification_problem, fit_quietly, json_member, make_network, npy_bytes,
                     read_members, set_json_member, write_members)

# A hang check, not a speed check: a model file of a few kilobytes loads in milliseconds.
LOAD_TIME_LIMIT = 5
JSON_MEMBERS = ("config", "metadata", "estimator")
FITTED_ATTRIBUTES = ("n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "n_iter_",
                     "t_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
                     "best_validation_score_", "feature_names_in_")
MiB = 2**20


def examples(n):
    """n examples in the ci profile; another profile's own number (deep: 5000)."""
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        return n
    return settings.default.max_examples


def allocation_bound(file_size):
    """The most a load of a file of file_size bytes may allocate (tracemalloc's peak).

    Every member is read once, after its header says how large it is. A
    numeric array: the data read (1x), the network's copy (1x) and, for a
    float32 network, the float64 draws of Network's initialisation that the
    loaded parameters replace (2x): 4x. JSON text is 4 bytes a character
    (UTF-32), and Python's json makes up to 6x the member's bytes of objects
    (a list of empty dicts: 72 bytes for the 12 of "{},"). zipfile's objects
    for the zip's directory: 6x its size. Hence 8x; 1 MiB for all that does
    not grow with the file (headers, checks, the estimator object).
    test_the_allocation_bound_holds_for_the_densest_files measures these.
    """
    return 8 * file_size + MiB


# ---------------------------------------------------------------- the models

NETWORKS = {
    "float64 tanh softmax": dict(activation="tanh", output="softmax", bias=True, dtype=np.float64),
    "float32 relu logistic, no bias": dict(activation="relu", output="logistic", bias=False,
                                          dtype=np.float32),
    "float32 leaky_relu poisson": dict(activation="leaky_relu", output="poisson", bias=True,
                                       dtype=np.float32),
    "float64 softplus squared, no bias": dict(activation="softplus", output="squared",
                                             bias=False, dtype=np.float64),
}


def fitted_estimators():
    """{name: fitted estimator}: classifiers of string, integer and boolean classes, a regressor."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return {}
    rng = np.random.default_rng(20261128)
    estimators = {}
    for kind, dtype in [("strings", "float64"), ("multiclass", "float32"), ("booleans", None)]:
        X, y = classification_problem(kind, rng)
        estimators[f"classifier of {kind}"] = fit_quietly(
            nnbp.MLPClassifier((3,), max_iter=4, dtype=dtype, random_state=0), X, y)
    X = rng.normal(size=(40, 3))
    estimators["regressor of 2 outputs"] = fit_quietly(
        nnbp.MLPRegressor(hidden_layer_sizes=(4, 2), early_stopping=True, max_iter=6,
                          dtype="float32", random_state=0), X, X[:, :2] * 2)
    return estimators


@functools.cache
def saved_models():
    """{name: (file bytes, the model loaded from them)} of every model above."""
    models = {name: make_network(**config) for name, config in NETWORKS.items()}
    models["float64 tanh softmax"].metadata = {"classes": ["a", "b", "c"], "n": 3}
    models.update(fitted_estimators())
    saved = {}
    with tempfile.TemporaryDirectory() as directory:
        for name, model in models.items():
            path = Path(directory) / "model"
            model.save(path)
            saved[name] = (path.read_bytes(), nnbp.load(path))
    return saved


MODEL_NAMES = ["float64 tanh softmax", "float32 relu logistic, no bias",
               "float32 leaky_relu poisson", "float64 softplus squared, no bias",
               "classifier of strings", "classifier of multiclass", "classifier of booleans",
               "regressor of 2 outputs"]


def model_names():
    """The names of the saved models (the estimators' only with scikit-learn)."""
    return st.sampled_from([name for name in MODEL_NAMES if name in saved_models()])


def normalized(value):
    """JSON-like data made comparable with ==: tuples as lists, numpy's as Python's, NaN as
    "NaN"."""
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalized(item) for item in value]
    if isinstance(value, np.ndarray):
        return normalized(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def same_data(a, b):
    """Whether normalized data a and b are equal, an int equal to a float if it rounds to it.

    nnbp takes some numbers as floats (alpha: 0 reads as 0.0; sigma: 10**300 as
    1e300) and saves them so.
    """
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(same_data(a[key], b[key]) for key in a))
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(same_data(x, y) for x, y in zip(a, b)))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) != isinstance(b, float) and all(
            isinstance(x, (int, float)) for x in (a, b)):
        try:
            return float(a) == float(b)
        except OverflowError:
            return False
    return a == b


def model_state(model, when_saved=True):
    """All that defines a loaded model, comparable with ==; when_saved=False leaves out when
    and by which nnbp it was saved."""
    if isinstance(model, nnbp.Network):
        metadata = normalized(model.metadata)
        if not when_saved:
            metadata = {key: value for key, value in metadata.items()
                        if key not in SAVED_METADATA}
        return {"type": "Network", "config": normalized(model.config()),
                "params": (model.params.dtype.str, model.params.tobytes()),
                "metadata": metadata}
    state = {"type": type(model).__name__, "params": normalized(model.get_params()),
             "network": model_state(model.network_, when_saved)}
    state.update({name: normalized(model.__dict__[name]) for name in FITTED_ATTRIBUTES
                  if name in model.__dict__})
    if isinstance(model, nnbp.MLPClassifier):
        binarizer = model._label_binarizer
        state["classes"] = (model.classes_.dtype.str, model.classes_.tolist(),
                            binarizer.classes_.tolist(), binarizer.y_type_,
                            binarizer.sparse_input_)
    return state


def member_contents(path):
    """{name: value} of a model file's members, the model's JSON parsed.

    The metadata's nnbp_version, saved and format_version are left out (save
    writes them afresh); the member format_version and the strings are their
    values (any integer dtype, any string length reads the same).
    """
    contents = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            with archive.open(info) as member:
                array = np.lib.format.read_array(member, allow_pickle=False)
            if name in JSON_MEMBERS:
                value = normalized(json.loads(array[()]))
                if name == "metadata":
                    value = {key: item for key, item in value.items()
                             if key not in SAVED_METADATA}
                contents[name] = value
            elif name == "format_version":
                contents[name] = int(array[()])
            elif array.dtype.kind == "U" and array.shape == ():
                contents[name] = str(array[()])   # as load reads it: without trailing NULs
            else:
                native = array.astype(array.dtype.newbyteorder("="))
                contents[name] = (array.dtype.kind, array.dtype.itemsize, array.shape,
                                  native.tobytes())
    return contents


# ---------------------------------------------------------------- loading under guard

class LoadTookTooLong(BaseException):
    """Raised in the load by the alarm: a BaseException, so that no handler in nnbp takes it."""


def guarded_load(path):
    """(model or the ModelFileError raised, tracemalloc peak) of nnbp.load(path).

    Fails if the load takes more than LOAD_TIME_LIMIT seconds, or raises
    anything but ModelFileError. The peak is counted from what was allocated
    before. tracemalloc runs for the load only, unless it was on (as in
    fuzz_load.py: starting and stopping it leaks ~8 KB each time in CPython
    3.11, which a long run notices; tracing all the time slows the tests 4x).
    """
    def alarm(signum, frame):
        raise LoadTookTooLong

    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    previous_handler = signal.signal(signal.SIGALRM, alarm)
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        signal.setitimer(signal.ITIMER_REAL, LOAD_TIME_LIMIT)
        try:
            outcome = nnbp.load(path)
        except ModelFileError as error:
            outcome = error
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        peak = tracemalloc.get_traced_memory()[1] - before
    except LoadTookTooLong:
        raise AssertionError(f"loading took over {LOAD_TIME_LIMIT} s") from None
    finally:
        signal.signal(signal.SIGALRM, previous_handler)
        if started_here:
            tracemalloc.stop()
    return outcome, peak


def bounded_load(path):
    """nnbp.load(path), or the ModelFileError it raised: one line naming the file, within the
    time and memory bounds."""
    outcome, peak = guarded_load(path)
    file_size = path.stat().st_size
    assert peak <= allocation_bound(file_size), (peak, file_size)
    if isinstance(outcome, ModelFileError):
        message = str(outcome)
        assert len(message.splitlines()) == 1, message
        assert message.startswith(f"cannot load {os.fspath(path)!r}: "), message
        longest_prefix = f"cannot load {os.fspath(path)!r}: the file is damaged ()"
        assert len(message) <= len(longest_prefix) + MAX_PROBLEM_LENGTH, message
    return outcome


def check_refused(path):
    """The ModelFileError nnbp.load(path) raises, bounded."""
    outcome = bounded_load(path)
    assert isinstance(outcome, ModelFileError), outcome
    return outcome


def check_exact_or_refused(path, original):
    """nnbp.load(path) is the original model, or a clear ModelFileError; in time and memory."""
    outcome = bounded_load(path)
    if isinstance(outcome, ModelFileError):
        return "refused"
    assert model_state(outcome) == model_state(original)
    return "same"


def check_faithful_or_refused(path):
    """nnbp.load(path) is the model the file describes, or a clear ModelFileError.

    The loaded model, saved again, must give the file's members (but for the
    metadata that save writes afresh; the loaded metadata must be the file's).
    """
    outcome = bounded_load(path)
    if isinstance(outcome, ModelFileError):
        return "refused"
    network = outcome if isinstance(outcome, nnbp.Network) else outcome.network_
    resaved = path.with_name(path.name + ".resaved")
    outcome.save(resaved)
    contents, resaved_contents = member_contents(path), member_contents(resaved)
    assert same_data(resaved_contents, contents), (resaved_contents, contents)
    file_metadata = json_member(read_members(path), "metadata")
    assert normalized(network.metadata) == normalized(file_metadata)
    assert model_state(nnbp.load(resaved), False) == model_state(outcome, False)
    return "loaded"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# ---------------------------------------------------------------- byte-level mutations

def interesting_offsets(data):
    """Where the zip's and the .npy's headers start: mutations aim there often."""
    offsets = []
    for signature in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06",
                      b"PK\x06\x07", b"\x93NUMPY"):
        start = data.find(signature)
        while start != -1:
            offsets.append(start)
            start = data.find(signature, start + 1)
    return offsets


@st.composite
def offsets_in(draw, data, end_inclusive=False):
    last = len(data) if end_inclusive else len(data) - 1
    anchors = [offset for offset in interesting_offsets(data) if offset <= last]
    if not anchors or draw(st.booleans()):
        return draw(st.integers(0, last))
    return min(last, draw(st.sampled_from(anchors)) + draw(st.integers(0, 60)))


@st.composite
def byte_mutations(draw, data):
    """data after 1 to 8 overwrites, insertions, deletions or bit flips, and their list."""
    data = bytearray(data)
    done = []
    for _ in range(draw(st.integers(1, 8))):
        operation = draw(st.sampled_from(["overwrite", "insert", "delete", "flip"]))
        if operation == "flip":
            offset, bit = draw(offsets_in(data)), draw(st.integers(0, 7))
            data[offset] ^= 1 << bit
            done.append((operation, offset, bit))
        elif operation == "delete":
            offset = draw(offsets_in(data))
            length = draw(st.integers(1, min(64, len(data) - offset)))
            if length < len(data):
                del data[offset:offset + length]
                done.append((operation, offset, length))
        else:
            offset = draw(offsets_in(data, end_inclusive=operation == "insert"))
            new = draw(st.binary(min_size=1, max_size=16) | st.sampled_from(
                [b"\xff" * 4, b"\xff" * 8, b"\x00" * 4, b"\x7f\xff\xff\xff", b"PK\x05\x06"]))
            end = offset + (len(new) if operation == "overwrite" else 0)
            data[offset:end] = new
            done.append((operation, offset, bytes(new)))
    return bytes(data), done


@settings(max_examples=examples(150))
@given(name=model_names(), fraction=st.floats(0, 1, exclude_max=True))
def test_truncated_files(workdir, name, fraction):
    data, original = saved_models()[name]
    path = workdir / "truncated"
    path.write_bytes(data[:int(fraction * len(data))])
    assert check_exact_or_refused(path, original) == "refused"


@settings(max_examples=examples(150))
@given(name=model_names(), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                     st.integers(0, 7)), min_size=1, max_size=6))
def test_bit_flips_anywhere(workdir, name, flips):
    data, original = saved_models()[name]
    flipped = bytearray(data)
    for fraction, bit in flips:
        flipped[int(fraction * len(data))] ^= 1 << bit
    path = workdir / "flipped"
    path.write_bytes(bytes(flipped))
    check_exact_or_refused(path, original)


@settings(max_examples=examples(200))
@given(st.data())
def test_overwrites_insertions_deletions_and_flips(workdir, data):
    name = data.draw(model_names(), label="model")
    original_bytes, original = saved_models()[name]
    mutated, done = data.draw(byte_mutations(original_bytes), label="mutations")
    path = workdir / "mutated"
    path.write_bytes(mutated)
    check_exact_or_refused(path, original)


# ---------------------------------------------------------------- structured mutations

def zip_of(entries):
    """The bytes of a zip of entries: (file name, bytes, compression), duplicates allowed."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zipfile warns of a duplicate name
        with zipfile.ZipFile(buffer, "w") as archive:
            for filename, content, compression in entries:
                archive.writestr(zipfile.ZipInfo(filename, (2026, 11, 28, 0, 0, 0)), content,
                                 compress_type=compression)
    return buffer.getvalue()


def members_of(name):
    """[(file name, .npy bytes)] of a saved model's members, in the file's order."""
    data, _ = saved_models()[name]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def write_entries(path, entries):
    path.write_bytes(zip_of([(filename, content, zipfile.ZIP_STORED)
                             for filename, content in entries]))
    return path


def npy_data(member_bytes):
    """The data of a .npy file, after its header."""
    stream = io.BytesIO(member_bytes)
    if np.lib.format.read_magic(stream) == (1, 0):
        np.lib.format.read_array_header_1_0(stream)
    else:
        np.lib.format.read_array_header_2_0(stream)
    return member_bytes[stream.tell():]


def raw_npy_header(text, version=1):
    """A .npy header of any text (numpy's layout: padded with spaces to 64 bytes, then \\n)."""
    encoded = text.encode("utf-8" if version >= 3 else "latin-1")
    prefix = 10 if version == 1 else 12
    encoded += b" " * (-(prefix + len(encoded) + 1) % 64) + b"\n"
    length = struct.pack("<H" if version == 1 else "<I", len(encoded))
    return b"\x93NUMPY" + bytes([version, 0]) + length + encoded


ODD_DESCRS = ["'<f8'", "'>f8'", "'<f4'", "'<f2'", "'<c16'", "'|O'", "'|V8'", "'|V0'", "'<U1'",
              "'<U4'", "'>U4'", "'<U13'", "'<U0'", "'<U2147483647'", "'|S4'", "'|b1'", "'<i8'",
              "'>i4'", "'|u1'", "'<u8'", "'<M8[s]'", "'<m8[ns]'", "'<f16'",
              "[('a', '<f8'), ('b', '<i4')]", "[('a', '|O')]", "[('', '<f8')]",
              "('<f8', (55,))", "('<f8', ())", "('<U4', (2,))", "5", "'nonsense'", "None"]
HUGE_DIMENSIONS = [2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1, 2**64]


@st.composite
def npy_headers(draw, length):
    """The text of a .npy header dict: an odd dtype, shape or fortran order, or odd keys.

    length is the member's true length, to declare it and its neighbours.
    """
    descr = draw(st.sampled_from(ODD_DESCRS))
    dimension = st.sampled_from([0, 1, 3, length - 1, length, length + 1, -1] + HUGE_DIMENSIONS)
    shape = draw(st.one_of(
        st.just("()"),
        dimension.map(lambda n: f"({n},)"),
        st.tuples(dimension, dimension).map(lambda s: f"({s[0]}, {s[1]})"),
        st.sampled_from(["[5]", "(1.5,)", "(True,)", "None", "(" * 150 + ")" * 150])))
    fortran = draw(st.sampled_from(["False", "True", "0", "None"]))
    entries = [f"'descr': {descr}", f"'fortran_order': {fortran}", f"'shape': {shape}"]
    if draw(st.integers(0, 9)) == 0:
        entries.append(draw(st.sampled_from(["'extra': 1", "'descr': '<f8'"])))
    if draw(st.integers(0, 9)) == 0:
        del entries[draw(st.integers(0, 2))]
    # numpy refuses a header longer than 10 000 characters
    padding = " " * draw(st.sampled_from([0, 0, 0, 10_100]))
    return "{" + ", ".join(entries) + ", }" + padding


def declared_size(header_text):
    """The bytes of data a header declares, or None if numpy does not read it (or too many)."""
    try:
        stream = io.BytesIO(raw_npy_header(header_text))
        np.lib.format.read_magic(stream)
        header = np.lib.format.read_array_header_1_0(stream)
    except (ValueError, TypeError):
        return None
    shape, _, dtype = header
    size = math.prod(shape) * dtype.itemsize
    return size if 0 <= size <= 2**16 else None


@settings(max_examples=examples(150))
@given(st.data())
def test_npy_headers_declaring_other_dtypes_shapes_and_sizes(workdir, data):
    name = data.draw(model_names(), label="model")
    entries = members_of(name)
    index = data.draw(st.integers(0, len(entries) - 1), label="member")
    filename, content = entries[index]
    length = len(np.lib.format.read_array(io.BytesIO(content), allow_pickle=False).reshape(-1))
    header_text = data.draw(npy_headers(length), label="header")
    version = data.draw(st.sampled_from([1, 2, 3]), label="version")
    size = declared_size(header_text)
    payload = data.draw(st.one_of(
        st.just(npy_data(content)), st.binary(max_size=256),
        st.just(b"\0" * size if size is not None else b"")), label="payload")
    entries[index] = (filename, raw_npy_header(header_text, version) + payload)
    check_faithful_or_refused(write_entries(workdir / "header", entries))


HOLE = "\ue000hole\ue000"
HOSTILE_JSON = [
    "1e999", "-1e999", "1e-999", "NaN", "-Infinity", "9" * 4300, "9" * 4301, "-" + "9" * 400,
    "1" + "0" * 300, "2147483648", "4294967296", "1e308", "-0.0", "0.5", "-1", "0", "null",
    "true", "[]", "{}", '""', '"\\ud800"', '"\\u0000"', '"float16"', '"float32"', '"softmax"',
    '"binary"', '"identity"', '"lbfgs"', "[0]", "[1, 2]", "[4, 5, 3, 3]", "[1e999]",
    "[" * 5000 + "]" * 5000, '{"a":' * 3000 + "0" + "}" * 3000,
    "[" + ",".join(["{}"] * 5000) + "]", "[" + ",".join(["1e1"] * 5000) + "]",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=8)
hostile_json = st.sampled_from(HOSTILE_JSON) | json_values.map(json.dumps)


def json_paths(value, path=()):
    """The paths (tuples of keys and indices) of every value inside value, value's own first."""
    yield path
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        yield from json_paths(item, path + (key,))


@st.composite
def json_mutations(draw, text):
    """text, a JSON object, with a value replaced, a key added or removed, or all of it replaced."""
    tree = json.loads(text)
    paths = list(json_paths(tree))
    operation = draw(st.sampled_from(["replace", "add", "remove", "whole"]))
    if operation == "whole":
        return draw(hostile_json | st.text(max_size=40))
    path = draw(st.sampled_from(paths[1:] if operation == "remove" else paths))
    parent, key = None, None
    node = tree
    for step in path:
        parent, key, node = node, step, node[step]
    if operation == "remove":
        del parent[key]
        return json.dumps(tree)
    if operation == "add":
        if not isinstance(node, dict):
            return json.dumps(tree)
        node[draw(st.text(max_size=12) | st.sampled_from(["n_iter_", "coefs_", "seed"]))] = HOLE
    elif parent is None:
        return draw(hostile_json)
    else:
        parent[key] = HOLE
    return json.dumps(tree).replace(json.dumps(HOLE), draw(hostile_json), 1)


@settings(max_examples=examples(200))
@given(st.data())
def test_json_members_with_hostile_values(workdir, data):
    name = data.draw(model_names(), label="model")
    entries = members_of(name)
    json_indices = [index for index, (filename, _) in enumerate(entries)
                    if filename.removesuffix(".npy") in JSON_MEMBERS]
    index = data.draw(st.sampled_from(json_indices), label="member")
    filename, content = entries[index]
    text = np.lib.format.read_array(io.BytesIO(content), allow_pickle=False)[()]
    mutated = data.draw(json_mutations(text), label="text")
    entries[index] = (filename, npy_bytes(np.array(mutated)))
    check_faithful_or_refused(write_entries(workdir / "json", entries))




ARRAY_DTYPES = [np.bool_, np.int8, np.uint64, ">i8", np.float16, np.float32, np.float64, ">f8",
                np.complex64, "<U1", "<U6", ">U3", "|S4", "<M8[s]"]
MODEL_STRINGS = ["nnbp", "nnbp\0", "", "Network", "MLPClassifier", "MLPRegressor", "network",
                 "{}", "[]", "\ud800"]


@st.composite
def replacement_arrays(draw, original):
    """An array to put in place of original: same length and dtype of other values, other
    dtypes and shapes, or a 0-d string."""
    choice = draw(st.sampled_from(["values", "any", "string"]))
    if choice == "values" and original.dtype.kind == "f":
        values = st.floats(width=8 * original.dtype.itemsize, allow_subnormal=True)
        return draw(hypothesis_arrays(original.dtype, original.shape, elements=values))
    if choice == "string":
        return np.array(draw(st.sampled_from(MODEL_STRINGS) | st.text(max_size=12)))
    return draw(hypothesis_arrays(st.sampled_from(ARRAY_DTYPES),
                                  array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6)))


@settings(max_examples=examples(150))
@given(st.data())
def test_members_replaced_by_other_arrays(workdir, data):
    name = data.draw(model_names(), label="model")
    entries = members_of(name)
    index = data.draw(st.integers(0, len(entries) - 1), label="member")
    filename, content = entries[index]
    original = np.lib.format.read_array(io.BytesIO(content), allow_pickle=False)
    entries[index] = (filename, npy_bytes(data.draw(replacement_arrays(original), label="array")))
    check_faithful_or_refused(write_entries(workdir / "replaced", entries))


EXTRA_NAMES = ["extra.npy", "params", "format", "format.npy/", "../params.npy", "/params.npy",
               "PARAMS.npy", "params.npy.npy", "classes.npy", "estimator.npy", "x" * 300 + ".npy",
               "dir/", "é.npy"]
COMPRESSIONS = [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


@st.composite
def member_mutations(draw, entries):
    """entries, [(file name, bytes, compression)], after 1 to 4 changes of the archive's members:
    duplicated, compressed, extra, removed, renamed, swapped or reordered."""
    entries = list(entries)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["duplicate", "compress", "extra", "remove", "rename",
                                          "swap", "reorder"]))
        index = draw(st.integers(0, len(entries) - 1)) if entries else None
        if operation == "extra" or index is None:
            content = draw(st.sampled_from([npy_bytes(np.zeros(2)), b""]) | st.binary(max_size=64))
            entries.insert(draw(st.integers(0, len(entries))),
                           (draw(st.sampled_from(EXTRA_NAMES)), content, zipfile.ZIP_STORED))
        elif operation == "duplicate":
            other = draw(st.integers(0, len(entries) - 1))
            entries.insert(draw(st.integers(0, len(entries))),
                           (entries[index][0], entries[other][1], entries[other][2]))
        elif operation == "compress":
            filename, content, _ = entries[index]
            entries[index] = (filename, content, draw(st.sampled_from(COMPRESSIONS)))
        elif operation == "remove":
            del entries[index]
        elif operation == "rename":
            names = [entry[0] for entry in entries] + EXTRA_NAMES
            entries[index] = (draw(st.sampled_from(names)),) + entries[index][1:]
        elif operation == "swap":
            other = draw(st.integers(0, len(entries) - 1))
            (a, a_content, a_compression), (b, b_content, b_compression) = (entries[index],
                                                                            entries[other])
            entries[index], entries[other] = ((a, b_content, b_compression),
                                              (b, a_content, a_compression))
        else:
            entries = draw(st.permutations(entries))
    return entries


@settings(max_examples=examples(150))
@given(st.data())
def test_members_duplicated_compressed_extra_missing_renamed_or_reordered(workdir, data):
    name = data.draw(model_names(), label="model")
    entries = [(filename, content, zipfile.ZIP_STORED) for filename, content in members_of(name)]
    mutated = data.draw(member_mutations(entries), label="entries")
    path = workdir / "members"
    path.write_bytes(zip_of(mutated))
    check_faithful_or_refused(path)


# (offset of the field in its header, its size) for the zip's local file
# headers, central directory entries and end of central directory record.
LOCAL_FIELDS = {"flags": (6, 2), "method": (8, 2), "crc": (14, 4), "compressed size": (18, 4),
                "size": (22, 4), "name length": (26, 2), "extra length": (28, 2)}
CENTRAL_FIELDS = {"flags": (8, 2), "method": (10, 2), "crc": (16, 4), "compressed size": (20, 4),
                  "size": (24, 4), "name length": (28, 2), "extra length": (30, 2),
                  "comment length": (32, 2), "disk": (34, 2), "offset": (42, 4)}
END_FIELDS = {"disk": (4, 2), "entries on disk": (8, 2), "entries": (10, 2),
              "directory size": (12, 4), "directory offset": (16, 4), "comment length": (20, 2)}
HEADERS = {b"PK\x03\x04": LOCAL_FIELDS, b"PK\x01\x02": CENTRAL_FIELDS, b"PK\x05\x06": END_FIELDS}


@st.composite
def zip_field_patches(draw, data):
    """data with 1 to 3 fields of its zip headers set to other values, and the patches."""
    data = bytearray(data)
    headers = [(start, fields) for signature, fields in HEADERS.items()
               for start in iter_find(data, signature)]
    patches = []
    for _ in range(draw(st.integers(1, 3))):
        start, fields = draw(st.sampled_from(headers))
        field = draw(st.sampled_from(sorted(fields)))
        offset, size = fields[field]
        old = int.from_bytes(data[start + offset:start + offset + size], "little")
        limit = 256 ** size - 1
        value = draw(st.sampled_from([0, 1, 8, 12, 14, 99, 2**11, 2**15, 0xFFFF, 2**31, limit,
                                      old - 1, old + 1, old ^ 1, old ^ 8, old * 2 ** 16])
                     | st.integers(0, limit))
        value = min(max(value, 0), limit)
        data[start + offset:start + offset + size] = value.to_bytes(size, "little")
        patches.append((start, field, old, value))
    return bytes(data), patches


def iter_find(data, signature):
    start = data.find(signature)
    while start != -1:
        yield start
        start = data.find(signature, start + 1)


@settings(max_examples=examples(150))
@given(st.data())
def test_zip_entries_declaring_other_sizes_methods_flags_and_offsets(workdir, data):
    name = data.draw(model_names(), label="model")
    original_bytes, _ = saved_models()[name]
    mutated, _ = data.draw(zip_field_patches(original_bytes), label="patches")
    path = workdir / "patched"
    path.write_bytes(mutated)
    check_faithful_or_refused(path)


@functools.cache
def deflated_zeros(n_mebibytes):
    """(raw deflate stream, CRC-32) of n_mebibytes MiB of zero bytes (the stream is ~1000 x
    smaller)."""
    compressor, crc, chunk = zlib.compressobj(9, zlib.DEFLATED, -15), 0, bytes(MiB)
    stream = []
    for _ in range(n_mebibytes):
        stream.append(compressor.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    return b"".join(stream) + compressor.flush(), crc


@pytest.mark.parametrize("method", ["deflated", "declared stored"])
def test_a_zip_bomb(workdir, method):
    # params.npy as a deflate stream of 64 MiB of zeros; the "stored" variant
    # declares that size for a member stored as it is. Refused unread.
    entries = members_of("float64 tanh softmax")
    bomb, crc = deflated_zeros(64)
    bomb_size = 64 * MiB
    index = [filename for filename, _ in entries].index("params.npy")
    entries[index] = ("params.npy", bomb)
    path = write_entries(workdir / "bomb", entries)
    data = bytearray(path.read_bytes())
    for signature, fields in list(HEADERS.items())[:2]:
        for start in iter_find(data, signature):
            name_length = int.from_bytes(data[start + fields["name length"][0]:][:2], "little")
            name_start = start + (30 if fields is LOCAL_FIELDS else 46)
            if data[name_start:name_start + name_length] != b"params.npy":
                continue
            for field, value in [("size", bomb_size), ("crc", crc),
                                 ("method", 8 if method == "deflated" else 0)]:
                offset, size = fields[field]
                data[start + offset:start + offset + size] = value.to_bytes(size, "little")
    path.write_bytes(bytes(data))
    message = str(check_refused(path))
    assert ("params is compressed" in message if method == "deflated"
            else f"params declares {bomb_size} bytes stored in" in message), message




def test_the_faithful_check_takes_an_int_for_the_float_it_rounds_to(workdir):
    # sigma 10**300 loads as 1e300 (the deep profile's example); 0 as 0.0.
    members = saved_members("float64 tanh softmax")
    text = json.dumps({**json_member(members, "config"), "sigma": 10**300, "alpha": 0})
    members["config"] = npy_bytes(np.array(text))
    assert check_faithful_or_refused(write_members(workdir / "ints", members)) == "loaded"
    assert same_data([0, 1e300], [0.0, 10**300]) and not same_data([1e300], [2 * 10**300])
    assert not same_data(True, 1) and not same_data({"a": 1}, {"a": 1, "b": 2})


# ---------------------------------------------------------------- the allocation bound

def dense_files(directory):
    """{what: path} of files that make load allocate the most per byte (see allocation_bound)."""
    files = {}
    nnbp.Network([300, 3000, 10], dtype=np.float32).save(directory / "float32 network")
    files["a float32 network of 900 000 parameters"] = directory / "float32 network"
    empty_dicts = "[" + ",".join(["{}"] * 100_000) + "]"
    for member in ("metadata", "config"):
        members = saved_members("float64 tanh softmax")
        text = json.dumps({**json_member(members, member), "extra": "dicts"})
        members[member] = npy_bytes(np.array(text.replace('"dicts"', empty_dicts)))
        files[f"{member} holding 100 000 empty dicts"] = write_members(directory / member, members)
    entries = [(filename, content, zipfile.ZIP_STORED)
               for filename, content in members_of("float64 tanh softmax")]
    entries += [(f"{number}", b"", zipfile.ZIP_STORED) for number in range(12_000)]
    files["a zip of 12 000 empty members"] = directory / "entries"
    files["a zip of 12 000 empty members"].write_bytes(zip_of(entries))
    return files


def test_the_allocation_bound_holds_for_the_densest_files(workdir):
    for what, path in dense_files(workdir).items():
        outcome, peak = guarded_load(path)
        file_size = path.stat().st_size
        assert peak <= allocation_bound(file_size), (what, peak, file_size)
        # dense indeed: the bound's factor, not its constant, is what is checked
        assert peak > 2.5 * file_size > MiB, (what, peak, file_size)



@pytest.mark.xfail(strict=True, reason="Network (network.py) costs ~16x such a file: a fix "
                                       "belongs there")
def test_the_allocation_bound_holds_for_a_network_of_many_narrow_layers(workdir):
    # 12 000 layers of width 1: 20 bytes of file a layer (", 1" in UTF-32 and
    # two float32), but Network makes two numpy views a layer (~120 traced
    # bytes) and draws initial parameters that load replaces.
    path = workdir / "narrow"
    nnbp.Network([1] * 12_000, dtype=np.float32).save(path)
    _, peak = guarded_load(path)
    assert peak <= allocation_bound(path.stat().st_size), (peak, path.stat().st_size)


# ---------------------------------------------------------------- what fuzzing found

def saved_members(name):
    """{member: .npy bytes} of a saved model, to rewrite (test_io's read_members)."""
    path = Path(tempfile.mkdtemp()) / "model"
    path.write_bytes(saved_models()[name][0])
    return read_members(path)


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1" + "0" * 400 + ".0"],
                         ids=["1e999", "-1e999", "401 digits"])
@pytest.mark.parametrize("member, key", [("config", "alpha"), ("metadata", "n")])
def test_a_number_too_large_for_a_float_in_strict_json(workdir, member, key, number):
    # float() made such a literal infinite: metadata that save then refuses,
    # or a config refused for its value instead of for the file.
    members = saved_members("float64 tanh softmax")
    text = json.dumps({**json_member(members, member), key: "number"})
    members[member] = npy_bytes(np.array(text.replace('"number"', number)))
    path = write_members(workdir / "large", members)
    with pytest.raises(ModelFileError, match=f"the member {member} holds the number "
                                             f"{number[:10]}.*, too large for a float"):
        nnbp.load(path)
    assert check_faithful_or_refused(path) == "refused"



@pytest.mark.parametrize("header", ["{'descr': '<f8', 'fortran_order': False, 'shape': (55,)",
                                    '"""', "1\n  2\n 3"],
                         ids=["unclosed bracket", "unclosed string", "unindent"])
@pytest.mark.parametrize("version", [1, 2])
def test_an_npy_header_that_python_cannot_tokenize(workdir, header, version):
    # numpy's tokenize raised TokenError or IndentationError through load.
    members = saved_members("float64 tanh softmax")
    members["params"] = raw_npy_header(header, version) + b"\0" * 440
    path = write_members(workdir / "header", members)
    with pytest.raises(ModelFileError, match="the member params has an unreadable .npy header "
                                             "\\((TokenError|IndentationError): "):
        nnbp.load(path)
    assert check_faithful_or_refused(path) == "refused"



@pytest.mark.parametrize("member, change", [
    ("config", {"layer_sizes": [0] * 100_000}),
    ("config", {"activation": "x" * 100_000}),
    ("metadata", {"saved": "y" * 100_000}),
], ids=["layer sizes", "activation", "saved"])
def test_a_message_quoting_a_long_value_is_cut_short(workdir, member, change):
    # The message quoted the file's value whole: a line of 300 000 characters.
    members = saved_members("float64 tanh softmax")
    set_json_member(members, member, {**json_member(members, member), **change})
    path = write_members(workdir / "long", members)
    message = str(check_refused(path))
    assert message.endswith("more characters)"), message
    assert len(message) <= len(f"cannot load {os.fspath(path)!r}: ") + MAX_PROBLEM_LENGTH


def test_a_damaged_files_long_message_is_cut_short(workdir):
    members = saved_members("float64 tanh softmax")
    members["params"] = raw_npy_header("'" + "x" * 9000 + "'")
    message = str(check_refused(write_members(workdir / "long", members)))
    assert "the file is damaged (ValueError: Header is not a dictionary" in message
    assert message.endswith("more characters))"), message



def test_numpys_message_of_several_lines_is_put_on_one(workdir):
    # A header over 10 000 characters: numpy's ValueError spans three lines.
    members = saved_members("float64 tanh softmax")
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (55,), }" + " " * 12_000
    members["params"] = raw_npy_header(header, version=2) + b"\0" * 440
    message = str(check_refused(write_members(workdir / "long header", members)))
    assert "Header info length (12084) is large and may not be safe to load securely. To " \
           "allow loading" in message, message


def test_an_estimator_parameter_missing_from_the_file(workdir):
    # Every file save writes holds all of get_params(); one without activation
    # would load with the default, "relu", whatever the network's activation.
    members = saved_members("classifier of strings")
    state = json_member(members, "estimator")
    del state["params"]["activation"]
    set_json_member(members, "estimator", state)
    with pytest.raises(ModelFileError, match="activation"):
        nnbp.load(write_members(workdir / "missing", members))


# ---------------------------------------------------------------- what save accepts, load reads back

JSON_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(), max_size=4),
    lambda children: (st.lists(children, max_size=3)
                      | st.dictionaries(st.text(st.characters(), max_size=3), children,
                                        max_size=3)),
    max_leaves=8)
# Labels of every kind y may hold: text with NULs and lone surrogates, integers beyond
# int64, floats with NaN and infinities, booleans.
LABELS = st.one_of(
    st.lists(st.text(st.characters(codec=None), max_size=3), min_size=2, max_size=4),
    st.lists(st.integers(-2**70, 2**70), min_size=2, max_size=4),
    st.lists(st.floats(), min_size=2, max_size=4),
    st.lists(st.booleans(), min_size=2, max_size=2))


def same_json(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@settings(max_examples=examples(100))
@given(labels=LABELS, metadata=st.dictionaries(st.text(max_size=3), JSON_DATA, max_size=3),
       nan_weight=st.booleans())
def test_whatever_save_accepts_load_reads_back_equal(workdir, labels, metadata, nan_weight):
    """save refuses (a ValueError or TypeError, no file) or writes a file that loads as the
    very model saved: its classes (values and dtype), predictions, parameters and metadata."""
    pytest.importorskip("sklearn")
    X = np.random.default_rng(0).normal(size=(12, 3))
    y = np.array([labels[k % len(labels)] for k in range(12)], dtype=object)
    try:
        clf = fit_quietly(nnbp.MLPClassifier((2,), max_iter=1, random_state=0), X, y)
    except (ValueError, TypeError):
        return                                  # y refused by fit: nothing to save
    if nan_weight:
        W = clf.coefs_[0].copy()
        W[0, 0] = np.nan
        clf.coefs_[0] = W
    path = workdir / "saved"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    try:
        clf.save(path, metadata=metadata)
    except (ValueError, TypeError):
        assert not path.exists()
        return
    assert not nan_weight
    loaded = nnbp.load(path)
    assert loaded.classes_.dtype == np.asarray(clf.classes_).dtype or (
        clf.classes_.dtype == object)
    assert loaded.classes_.tolist() == clf.classes_.tolist()
    assert loaded.predict(X).tolist() == clf.predict(X).tolist()
    assert loaded.network_.params.tobytes() == clf.network_.params.tobytes()
    saved_keys = set(SAVED_METADATA)
    assert same_json({k: v for k, v in loaded.network_.metadata.items() if k not in saved_keys},
                     {k: v for k, v in metadata.items() if k not in saved_keys})
