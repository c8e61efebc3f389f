"""Fuzzing nnbp.load with hypothesis: mutated model files of networks and fitted estimators.

Byte-level mutations (truncation at any length, several bit flips anywhere,
multi-byte overwrites, insertions and deletions) and structured ones, which
rewrite a member properly inside a valid zip: .npy headers declaring other
dtypes, shapes, huge sizes or fortran order; JSON members with wrong types or
values, huge numbers or deep nesting; duplicated, compressed, extra, missing
members; zip entries declaring other sizes, methods or flags.

The property: nnbp.load raises ModelFileError, in one line naming the file,
or returns a model. After a byte-level mutation, the model must be exactly
the original (the members' CRCs make any other outcome a bug). After a
structured one, the file may be a valid model file of another model: the
loaded model must then be what the file says (saved again, it gives the same
members). Never another exception; every load returns within
LOAD_TIME_LIMIT seconds and its tracemalloc peak stays within
allocation_bound(file size).

tests/fuzz/fuzz_load.py applies the same property to atheris' mutations.
"""
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
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnbp
from nnbp.io import MEMBERS, SAVED_METADATA, ModelFileError

from test_io import (classification_problem, fit_quietly, json_member, make_network, npy_bytes,
                     read_members, write_members)

# A hang check, not a speed check: a model file of a few kilobytes loads in milliseconds.
LOAD_TIME_LIMIT = 5
JSON_MEMBERS = ("config", "metadata", "estimator")
FITTED_ATTRIBUTES = ("n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "n_iter_",
                     "t_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
                     "best_validation_score_", "feature_names_in_")
MiB = 2**20


def allocation_bound(file_size):
    """The most a load of a file of file_size bytes may allocate (tracemalloc's peak)."""
    return 4 * file_size + MiB


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
    """JSON-like data made comparable: tuples as lists, integral floats as ints, NaN as "NaN"."""
    if isinstance(value, dict):
        return {key: normalized(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalized(item) for item in value]
    if isinstance(value, np.ndarray):
        return normalized(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer():
            return int(value)
    return value


def model_state(model, when_saved=True):
    """All that defines a loaded model, comparable with ==; when_saved=False leaves out when
    and by which nnbp it was saved."""
    if isinstance(model, nnbp.Network):
        metadata = normalized(model.metadata)
        if not when_saved:
            metadata = {key: value for key, value in metadata.items()
                        if key not in ("nnbp_version", "saved")}
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

    The metadata's nnbp_version and saved are left out (save writes them
    afresh), and format_version is its value (any integer dtype reads the same).
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
                             if key not in ("nnbp_version", "saved")}
                contents[name] = value
            elif name == "format_version":
                contents[name] = int(array[()])
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
    anything but ModelFileError.
    """
    def alarm(signum, frame):
        raise LoadTookTooLong

    previous_handler = signal.signal(signal.SIGALRM, alarm)
    tracemalloc.start()
    try:
        signal.setitimer(signal.ITIMER_REAL, LOAD_TIME_LIMIT)
        try:
            outcome = nnbp.load(path)
        except ModelFileError as error:
            outcome = error
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        peak = tracemalloc.get_traced_memory()[1]
    except LoadTookTooLong:
        raise AssertionError(f"loading took over {LOAD_TIME_LIMIT} s") from None
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGALRM, previous_handler)
    return outcome, peak


def check_refusal(error, path):
    message = str(error)
    assert "\n" not in message, message
    assert repr(os.fspath(path)) in message, message


def check_exact_or_refused(path, original):
    """nnbp.load(path) is the original model, or a clear ModelFileError; in time and memory."""
    outcome, peak = guarded_load(path)
    assert peak <= allocation_bound(path.stat().st_size), (peak, path.stat().st_size)
    if isinstance(outcome, ModelFileError):
        check_refusal(outcome, path)
        return "refused"
    assert model_state(outcome) == model_state(original)
    return "same"


def check_faithful_or_refused(path):
    """nnbp.load(path) is the model the file describes, or a clear ModelFileError.

    The loaded model, saved again, must give the file's members (the
    metadata's nnbp_version and saved aside, which save writes afresh; the
    loaded metadata has the file's).
    """
    outcome, peak = guarded_load(path)
    assert peak <= allocation_bound(path.stat().st_size), (peak, path.stat().st_size)
    if isinstance(outcome, ModelFileError):
        check_refusal(outcome, path)
        return "refused"
    network = outcome if isinstance(outcome, nnbp.Network) else outcome.network_
    resaved = path.with_name(path.name + ".resaved")
    outcome.save(resaved)
    assert member_contents(resaved) == member_contents(path)
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


@settings(max_examples=150)
@given(name=model_names(), fraction=st.floats(0, 1, exclude_max=True))
def test_truncated_files(workdir, name, fraction):
    data, original = saved_models()[name]
    path = workdir / "truncated"
    path.write_bytes(data[:int(fraction * len(data))])
    assert check_exact_or_refused(path, original) == "refused"


@settings(max_examples=150)
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


@settings(max_examples=200)
@given(st.data())
def test_overwrites_insertions_deletions_and_flips(workdir, data):
    name = data.draw(model_names(), label="model")
    original_bytes, original = saved_models()[name]
    mutated, done = data.draw(byte_mutations(original_bytes), label="mutations")
    path = workdir / "mutated"
    path.write_bytes(mutated)
    check_exact_or_refused(path, original)




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
