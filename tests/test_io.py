"""Saving and loading without pickle: nnbp.io.save, nnbp.load, Network.save, the estimators' save.

* Round trips give the same model bitwise: networks of every activation,
  output, bias and dtype; fitted estimators of every kind of problem, whose
  predict, predict_proba and score are unchanged; metadata.
* save refuses what it cannot write faithfully (non-JSON metadata, unfitted
  estimators, unsaveable parameters) before it opens the file.
* A file that is not a valid model file (missing, a directory, empty, text,
  truncated, bit-flipped, hostile) raises FileNotFoundError or ModelFileError
  naming the problem: never another exception, a huge allocation, or a
  silently different model.
"""
import copy
import datetime
import io
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest
from support import DTYPES

import nnbp
from nnbp.io import CONFIG_KEYS, FORMAT_VERSION, MEMBERS, ModelFileError

OUTPUT_WIDTHS = {"softmax": 3, "logistic": 2, "squared": 2, "poisson": 1}


def dtype_id(dtype):
    return np.dtype(dtype).name


def make_network(activation="tanh", output="softmax", bias=True, dtype=np.float64, seed=0):
    return nnbp.Network([4, 5, 3, OUTPUT_WIDTHS[output]], activation=activation, output=output,
                        dtype=dtype, bias=bias, alpha=0.25, init="normal", sigma=0.75,
                        negative_slope=0.125, seed=seed)


def assert_same_network(loaded, net):
    assert type(loaded) is nnbp.Network
    assert loaded.config() == net.config()
    assert loaded.params.dtype == net.params.dtype
    assert loaded.params.tobytes() == net.params.tobytes()
    X = np.random.default_rng(1).normal(size=(7, net.layer_sizes[0]))
    assert loaded.forward(X).tobytes() == net.forward(X).tobytes()


def test_config_keys_are_the_networks():
    assert tuple(nnbp.Network([2, 1]).config()) == CONFIG_KEYS


# ---------------------------------------------------------------- networks

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_network_round_trip(tmp_path, activation, output, bias, dtype):
    net = make_network(activation, output, bias, dtype)
    path = tmp_path / "model.nnbp"
    net.save(path)
    assert_same_network(nnbp.load(path), net)


def test_save_writes_exactly_the_path_given(tmp_path):
    net = make_network()
    for name in ("model", "model.bin", "model.npz"):
        nnbp.io.save(net, str(tmp_path / name))
    assert sorted(os.listdir(tmp_path)) == ["model", "model.bin", "model.npz"]
    assert_same_network(nnbp.load(str(tmp_path / "model")), net)


def test_the_file_is_an_npz_numpy_reads_without_pickle(tmp_path):
    net = make_network(dtype=np.float32)
    path = tmp_path / "model"
    net.save(path, metadata={"target": "species"})
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(MEMBERS["Network"])
        assert data["format"][()] == "nnbp"
        assert data["format_version"][()] == FORMAT_VERSION
        assert data["kind"][()] == "Network"
        assert json.loads(data["config"][()]) == {**net.config(), "layer_sizes": [4, 5, 3, 3]}
        assert data["params"].dtype == np.float32
        assert np.array_equal(data["params"], net.params)
        assert json.loads(data["metadata"][()])["target"] == "species"
        for name in ("format", "kind", "config", "metadata"):
            assert data[name].dtype.kind == "U" and data[name].shape == ()
    with zipfile.ZipFile(path) as archive:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "model"
    make_network(seed=1).save(path)
    net = make_network(seed=2)
    net.save(path)
    assert_same_network(nnbp.load(path), net)


def test_metadata_round_trips(tmp_path):
    net = make_network()
    metadata = {"classes": ["setosa", "virginica", "Ωμέγα", "猫", "😀"],
                "features": ["a", "b"],
                "target": "espèce", "n": 3, "rate": 0.1, "flag": True, "none": None,
                "nested": {"list": [1, [2.5, {"deep": "é"}]], "empty": {}}, "": ""}
    original = copy.deepcopy(metadata)
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    net.save(tmp_path / "model", metadata=metadata)
    after = datetime.datetime.now(datetime.timezone.utc)
    assert metadata == original   # the caller's dict is not modified
    loaded = nnbp.load(tmp_path / "model")
    assert loaded.metadata == {**metadata, "nnbp_version": nnbp.__version__,
                               "saved": loaded.metadata["saved"],
                               "format_version": FORMAT_VERSION}
    saved = datetime.datetime.fromisoformat(loaded.metadata["saved"])
    assert saved.utcoffset() == datetime.timedelta(0)
    assert before <= saved <= after


def test_numpy_scalars_in_metadata_become_python_numbers(tmp_path):
    net = make_network()
    net.save(tmp_path / "model", metadata={"classes": list(np.array([0, 2, 5])),
                                           "score": np.float32(0.5), "ok": np.bool_(True)})
    metadata = nnbp.load(tmp_path / "model").metadata
    assert metadata["classes"] == [0, 2, 5] and metadata["score"] == 0.5
    assert metadata["ok"] is True


def test_a_fresh_network_has_empty_metadata():
    assert nnbp.Network([2, 3, 1]).metadata == {}


def test_metadata_none_keeps_the_models_own(tmp_path):
    net = make_network()
    net.save(tmp_path / "first", metadata={"classes": ["a", "b", "c"]})
    loaded = nnbp.load(tmp_path / "first")
    loaded.save(tmp_path / "second")
    again = nnbp.load(tmp_path / "second")
    assert again.metadata["classes"] == ["a", "b", "c"]
    # save's own keys are written afresh, even over the caller's
    loaded.save(tmp_path / "third", metadata={"format_version": 99, "saved": "then"})
    third = nnbp.load(tmp_path / "third").metadata
    assert third["format_version"] == FORMAT_VERSION and third["saved"] != "then"


def test_metadata_survives_pickle_and_copy(tmp_path):
    net = make_network()
    net.metadata = {"classes": ["x", "y", "z"], "nested": {"a": [1]}}
    for twin in (pickle.loads(pickle.dumps(net)), net.copy(), net.copy(dtype=np.float32)):
        assert twin.metadata == net.metadata
        assert twin.metadata["nested"] is not net.metadata["nested"]
    # a pickle from before metadata existed
    state = net.__getstate__()
    del state["metadata"]
    old = nnbp.Network.__new__(nnbp.Network)
    old.__setstate__(state)
    assert old.metadata == {}


NOT_JSON = {
    "an object": ({"a": object()}, TypeError, "metadata\\['a'\\] must be JSON data"),
    "a tuple": ({"a": (1, 2)}, TypeError, "give a list instead"),
    "an array": ({"a": np.zeros(2)}, TypeError, "give a list instead"),
    "a set": ({"a": {1, 2}}, TypeError, "must be JSON data"),
    "bytes": ({"a": b"x"}, TypeError, "must be JSON data"),
    "an int key": ({1: "x"}, TypeError, "JSON keys must be strings"),
    "NaN": ({"a": [1.0, float("nan")]}, ValueError, "metadata\\['a'\\]\\[1\\] is nan"),
    "infinity": ({"a": np.inf}, ValueError, "finite numbers only"),
    "a list": (["a"], TypeError, "metadata must be a dict"),
    "a string": ("classes", TypeError, "metadata must be a dict"),
}


@pytest.mark.parametrize("case", NOT_JSON, ids=list(NOT_JSON))
def test_save_refuses_metadata_that_is_not_json(tmp_path, case):
    metadata, error, message = NOT_JSON[case]
    with pytest.raises(error, match=message):
        make_network().save(tmp_path / "model", metadata=metadata)
    assert not (tmp_path / "model").exists()   # refused before the file is opened


def test_save_refuses_metadata_that_contains_itself(tmp_path):
    metadata = {"a": []}
    metadata["a"].append(metadata)
    with pytest.raises(ValueError, match="nested more than .* deep"):
        make_network().save(tmp_path / "model", metadata=metadata)


def test_save_refuses_what_is_not_a_model_or_a_path(tmp_path):
    with pytest.raises(TypeError, match="save takes an nnbp.Network"):
        nnbp.io.save(object(), tmp_path / "model")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        make_network().save(3)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        nnbp.load(io.BytesIO())


def test_saving_leaves_the_network_unchanged(tmp_path):
    net = make_network()
    params = net.params.copy()
    net.save(tmp_path / "model")
    assert net.params.tobytes() == params.tobytes()
    loaded = nnbp.load(tmp_path / "model")
    loaded.params += 1.0   # the loaded network owns writable parameters
    assert net.params.tobytes() == params.tobytes()


def test_a_network_loads_without_scikit_learn(tmp_path):
    make_network().save(tmp_path / "model")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["sklearn"] = None
        import nnbp
        net = nnbp.load({str(tmp_path / "model")!r})
        assert "nnbp.estimators" not in sys.modules
        print(net)
    """)
    # cwd: not the checkout, whose nnbp/ would shadow the installed package.
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Network([4, 5, 3, 3]" in result.stdout


# ---------------------------------------------------------------- estimators

@pytest.fixture
def sklearn():
    return pytest.importorskip("sklearn")


def classification_problem(kind, rng):
    X = rng.normal(size=(80, 5))
    if kind == "binary":
        y = (X[:, 0] > 0).astype(int)
    elif kind == "multiclass":
        y = np.digitize(X[:, 0], [-0.5, 0.5]) + 3   # classes 3, 4, 5
    elif kind == "multilabel":
        y = (X[:, :3] > 0).astype(int)
    elif kind == "strings":
        y = np.array(["setosa", "versicolor", "virginica"])[np.digitize(X[:, 1], [-0.5, 0.5])]
    elif kind == "binary strings":
        y = np.where(X[:, 0] > 0, "oui", "non")
    elif kind == "floats":
        y = (X[:, 0] > 0) * 2.0 - 1.0
    else:   # booleans
        y = X[:, 0] > 0
    return X, y


CLASSIFICATIONS = ["binary", "multiclass", "multilabel", "strings", "binary strings",
                   "floats", "booleans"]
SOLVERS = ["adam", "lbfgs"]


def fit_quietly(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning: few iterations on purpose
        return estimator.fit(X, y)


def assert_same_fitted_attributes(loaded, estimator):
    for name in ("n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "n_iter_",
                 "t_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
                 "best_validation_score_"):
        assert (name in loaded.__dict__) == (name in estimator.__dict__), name
        if name in estimator.__dict__:
            assert getattr(loaded, name) == getattr(estimator, name), name
    assert loaded.get_params() == estimator.get_params()
    assert loaded.network_.config() == estimator.network_.config()
    assert loaded.network_.params.tobytes() == estimator.network_.params.tobytes()


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("kind", CLASSIFICATIONS)
def test_classifier_round_trip(sklearn, tmp_path, rng, kind, dtype, solver):
    X, y = classification_problem(kind, rng)
    clf = fit_quietly(nnbp.MLPClassifier((6,), solver=solver, max_iter=15,
                                         dtype=dtype_id(dtype), random_state=0), X, y)
    clf.save(tmp_path / "model")
    loaded = nnbp.load(tmp_path / "model")
    assert type(loaded) is nnbp.MLPClassifier
    assert_same_fitted_attributes(loaded, clf)
    assert loaded.classes_.dtype == clf.classes_.dtype
    assert np.array_equal(loaded.classes_, clf.classes_)
    X_new = rng.normal(size=(30, 5))
    assert loaded.predict_proba(X_new).tobytes() == clf.predict_proba(X_new).tobytes()
    with np.errstate(divide="ignore"):   # float32 probabilities may round to 0
        assert (loaded.predict_log_proba(X_new).tobytes()
                == clf.predict_log_proba(X_new).tobytes())
    predicted = loaded.predict(X_new)
    assert predicted.dtype == clf.predict(X_new).dtype
    assert np.array_equal(predicted, clf.predict(X_new))
    assert loaded.score(X, y) == clf.score(X, y)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_round_trip(sklearn, tmp_path, rng, n_outputs, dtype, solver, loss):
    X = rng.normal(size=(80, 5))
    y = np.exp(X[:, :n_outputs] / 2)
    reg = fit_quietly(nnbp.MLPRegressor(loss, hidden_layer_sizes=(6, 4), solver=solver,
                                        max_iter=15, dtype=dtype_id(dtype), random_state=0),
                      X, y.ravel() if n_outputs == 1 else y)
    reg.save(tmp_path / "model")
    loaded = nnbp.load(tmp_path / "model")
    assert type(loaded) is nnbp.MLPRegressor
    assert_same_fitted_attributes(loaded, reg)
    X_new = rng.normal(size=(30, 5))
    assert loaded.predict(X_new).shape == reg.predict(X_new).shape
    assert loaded.predict(X_new).tobytes() == reg.predict(X_new).tobytes()
    assert loaded.score(X, y) == reg.score(X, y)


def test_estimator_with_early_stopping_and_infinite_patience_round_trips(sklearn, tmp_path, rng):
    X, y = classification_problem("strings", rng)
    clf = fit_quietly(nnbp.MLPClassifier((6,), early_stopping=True, n_iter_no_change=np.inf,
                                         max_iter=12, dtype=np.float32,
                                         random_state=np.int64(3)), X, y)
    assert clf.best_loss_ is None and clf.validation_scores_
    clf.save(tmp_path / "model")
    loaded = nnbp.load(tmp_path / "model")
    # numpy's dtype is saved by its name, a numpy int as an int
    assert loaded.dtype == "float32" and loaded.random_state == 3
    loaded.set_params(dtype=np.float32, random_state=np.int64(3))
    assert_same_fitted_attributes(loaded, clf)
    assert loaded.n_iter_no_change == np.inf and loaded.hidden_layer_sizes == (6,)


def test_estimator_metadata_is_its_networks(sklearn, tmp_path, rng):
    X, y = classification_problem("binary", rng)
    clf = fit_quietly(nnbp.MLPClassifier((4,), max_iter=5, random_state=0), X, y)
    clf.save(tmp_path / "model", metadata={"features": ["a", "b", "c", "d", "e"]})
    loaded = nnbp.load(tmp_path / "model")
    assert loaded.network_.metadata["features"] == ["a", "b", "c", "d", "e"]
    loaded.save(tmp_path / "again")
    assert nnbp.load(tmp_path / "again").network_.metadata["features"][0] == "a"


def test_a_loaded_estimator_can_be_trained_further(sklearn, tmp_path, rng):
    X, y = classification_problem("multiclass", rng)
    clf = fit_quietly(nnbp.MLPClassifier((6,), max_iter=5, random_state=0), X, y)
    clf.save(tmp_path / "model")
    # from the saved parameters, with a fresh optimizer (its state is not saved)
    loaded = nnbp.load(tmp_path / "model")
    loaded.partial_fit(X, y)
    assert not np.array_equal(loaded.network_.params, clf.network_.params)
    loaded = nnbp.load(tmp_path / "model").set_params(warm_start=True, max_iter=3)
    fit_quietly(loaded, X, y)
    assert loaded.n_iter_ == 3 and loaded.score(X, y) > 0
    assert not np.array_equal(loaded.network_.params, clf.network_.params)


def test_saving_an_unfitted_estimator_raises_not_fitted(sklearn, tmp_path):
    from sklearn.exceptions import NotFittedError
    for estimator in (nnbp.MLPClassifier(), nnbp.MLPRegressor()):
        with pytest.raises(NotFittedError):
            estimator.save(tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_save_refuses_parameters_that_are_not_json(sklearn, tmp_path, rng):
    X, y = classification_problem("binary", rng)
    clf = fit_quietly(nnbp.MLPClassifier((4,), max_iter=5,
                                         random_state=np.random.RandomState(0)), X, y)
    with pytest.raises(TypeError, match="random_state=RandomState.* cannot be saved"):
        clf.save(tmp_path / "model")
    clf.set_params(random_state=0, tol=[object()])
    with pytest.raises(TypeError, match="tol.*must be JSON data"):
        clf.save(tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_save_refuses_classes_of_mixed_types(sklearn, tmp_path, rng):
    X, y = classification_problem("binary", rng)
    clf = fit_quietly(nnbp.MLPClassifier((4,), max_iter=5, random_state=0), X, y)
    clf.classes_ = np.array([0, "one"], dtype=object)
    with pytest.raises(TypeError, match=r"classes_ mixes types \(int, str\)"):
        clf.save(tmp_path / "model")
    clf.classes_ = np.array([b"no", b"yes"])
    with pytest.raises(TypeError, match="classes_ of dtype .S3"):
        clf.save(tmp_path / "model")
    # Python strings or numbers in an object array are saved as a numpy array of them
    clf.classes_ = np.array(["no", "yes"], dtype=object)
    clf.save(tmp_path / "model")
    assert nnbp.load(tmp_path / "model").classes_.tolist() == ["no", "yes"]


def test_saving_leaves_the_estimator_unchanged(sklearn, tmp_path, rng):
    X, y = classification_problem("strings", rng)
    clf = fit_quietly(nnbp.MLPClassifier((4,), max_iter=5, random_state=0), X, y)
    state = pickle.dumps(clf)
    X_copy, y_copy = X.copy(), y.copy()
    clf.save(tmp_path / "model")
    nnbp.load(tmp_path / "model").predict(X)
    assert pickle.dumps(clf) == state
    assert np.array_equal(X, X_copy) and np.array_equal(y, y_copy)


# ---------------------------------------------------------------- crafting files

def npy_bytes(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=allow_pickle)
    return buffer.getvalue()


def npy_header(dtype, shape, version=(1, 0)):
    """The bytes of a .npy header alone, declaring any dtype and shape."""
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buffer, header)
    else:
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue()


def read_members(path):
    """{name: raw .npy bytes} of a model file."""
    with zipfile.ZipFile(path) as archive:
        return {info.filename.removesuffix(".npy"): archive.read(info)
                for info in archive.infolist()}


def write_members(path, members, compression=zipfile.ZIP_STORED):
    """A zip of members: name -> bytes (written as they are) or array (as .npy)."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, content in members.items():
            if not isinstance(content, bytes):
                content = npy_bytes(content)
            archive.writestr(name if "." in name else name + ".npy", content)
    return path


def json_member(members, name):
    return json.loads(np.load(io.BytesIO(members[name]), allow_pickle=False)[()])


def set_json_member(members, name, value):
    """Stores value as save does: JSON text in a 0-d unicode .npy."""
    members[name] = npy_bytes(np.array(json.dumps(value)))


@pytest.fixture
def saved(tmp_path):
    """(path, members) of a saved float64 network with 4-5-3-3 layers: 55 parameters."""
    path = tmp_path / "model.nnbp"
    make_network().save(path, metadata={"classes": ["a", "b", "c"]})
    return path, read_members(path)


def load_error(path, match):
    with pytest.raises(ModelFileError, match=match) as error:
        nnbp.load(path)
    message = str(error.value)
    assert "\n" not in message and os.fspath(path) in message
    return message


# ---------------------------------------------------------------- not model files

def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        nnbp.load(tmp_path / "missing")


def test_a_directory(tmp_path):
    load_error(tmp_path, "it is a directory, not a model file")


def test_an_empty_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    load_error(tmp_path / "empty", "the file is empty")


def test_a_text_file(tmp_path):
    (tmp_path / "text").write_text("layer_sizes = [4, 5, 3]\n" * 20)
    load_error(tmp_path / "text", "not an nnbp model file \\(not a zip archive")


def test_a_npy_file(tmp_path):
    np.save(tmp_path / "params.npy", make_network().params)
    load_error(tmp_path / "params.npy", "not an nnbp model file \\(not a zip archive")


def test_an_npz_of_other_arrays(tmp_path):
    np.savez(tmp_path / "arrays.npz", x=np.zeros(3), y=np.ones(2))
    load_error(tmp_path / "arrays.npz", "not an nnbp model file \\(a zip archive without")


def test_a_zip_of_other_files(tmp_path):
    write_members(tmp_path / "other.zip", {"readme.txt": b"hello"})
    load_error(tmp_path / "other.zip", "not an nnbp model file")


def test_truncated_files(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    cuts = sorted(set(range(1, len(data), 13)) | set(range(len(data) - 30, len(data))))
    for cut in cuts:
        (tmp_path / "cut").write_bytes(data[:cut])
        load_error(tmp_path / "cut", "cannot load")


def check_flipped_files(path, original, tmp_path, same_model, stride=1):
    """Load path with one bit of a byte flipped, byte after byte: a clear error, or the same model.

    The flipped bit changes from byte to byte, so that every bit position is tried.
    """
    data = path.read_bytes()
    flipped_path = tmp_path / "flipped"
    outcomes = {"error": 0, "same": 0}
    for offset in range(0, len(data), stride):
        bit = (offset // stride) % 8
        flipped = bytearray(data)
        flipped[offset] ^= 1 << bit
        flipped_path.write_bytes(bytes(flipped))
        try:
            loaded = nnbp.load(flipped_path)
        except ModelFileError as error:
            assert "\n" not in str(error)
            outcomes["error"] += 1
        else:
            # a flip in a zip field the reader ignores (a timestamp, a local
            # header's copy of the sizes): the model must be exactly the original
            assert same_model(loaded, original), (offset, bit)
            outcomes["same"] += 1
    # Most of the file is covered by the CRC of its members.
    assert outcomes["error"] > outcomes["same"]


def test_bit_flips_in_a_network_file(saved, tmp_path):
    path, _ = saved
    original = nnbp.load(path)

    def same_network(loaded, net):
        return (loaded.config() == net.config() and loaded.metadata == net.metadata
                and loaded.params.tobytes() == net.params.tobytes())

    check_flipped_files(path, original, tmp_path, same_network)


def test_bit_flips_in_a_classifier_file(sklearn, tmp_path, rng):
    X, y = classification_problem("strings", rng)
    clf = fit_quietly(nnbp.MLPClassifier((3,), max_iter=3, random_state=0), X, y)
    path = tmp_path / "model"
    clf.save(path)
    original = nnbp.load(path)

    def same_classifier(loaded, clf):
        return (type(loaded) is type(clf) and loaded.get_params() == clf.get_params()
                and loaded.network_.params.tobytes() == clf.network_.params.tobytes()
                and loaded.classes_.tolist() == clf.classes_.tolist()
                and loaded.predict(X).tolist() == clf.predict(X).tolist()
                and loaded.loss_curve_ == clf.loss_curve_)

    check_flipped_files(path, original, tmp_path, same_classifier, stride=2)


# ---------------------------------------------------------------- hostile members

def test_a_header_declaring_a_huge_params_vector(saved, tmp_path):
    _, members = saved
    for shape in [(2**40,), (2**62,), (2**31 - 1,), (-5,)]:
        members["params"] = npy_header(np.float64, shape) + b"\0" * 64
        load_error(write_members(tmp_path / "huge", members),
                   "the member params has dtype float64 and shape .*; expected a float64 "
                   "vector of 55 parameters")


def test_a_header_matching_a_huge_config_allocates_nothing(saved, tmp_path):
    _, members = saved
    # 1.6e9 parameters (12.8 GB): the config is valid and the header matches it,
    # but the member holds 64 bytes; the network must not be built.
    config = json_member(members, "config")
    config["layer_sizes"] = [40000, 40000, 1]
    n_params = 40000 * 40000 + 40000 + 40000 + 1
    set_json_member(members, "config", config)
    for version in [(1, 0), (2, 0)]:
        members["params"] = npy_header(np.float64, (n_params,), version) + b"\0" * 64
        load_error(write_members(tmp_path / "huge", members),
                   f"the member params declares {8 * n_params} bytes of data but holds 64")


def test_a_zip_entry_declaring_more_bytes_than_the_file_holds(saved, tmp_path):
    path, _ = saved
    data = bytearray(path.read_bytes())
    # Both sizes of params.npy in the zip's central directory (its entries
    # start with PK\1\2; sizes at bytes 20-27, name length at 28, name at 46).
    entry = data.find(b"PK\x01\x02")
    while entry != -1:
        name_length = int.from_bytes(data[entry + 28:entry + 30], "little")
        if data[entry + 46:entry + 46 + name_length] == b"params.npy":
            data[entry + 20:entry + 28] = (2**31).to_bytes(4, "little") * 2
        entry = data.find(b"PK\x01\x02", entry + 4)
    (tmp_path / "big").write_bytes(bytes(data))
    load_error(tmp_path / "big", "params declares a size of 2147483648 bytes, but the whole file")


@pytest.mark.parametrize("member", ["params", "kind", "config", "format_version"])
def test_object_arrays_are_refused_unread(saved, tmp_path, member):
    _, members = saved
    members[member] = npy_bytes(np.array([{"x": 1}, "text"], dtype=object), allow_pickle=True)
    load_error(write_members(tmp_path / "objects", members),
               f"the member {member} holds Python objects \\(dtype object\\).*refused")


def test_a_pickle_payload_is_never_executed(saved, tmp_path):
    _, members = saved

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo executed > " + os.fspath(tmp_path / "pwned"),))

    members["metadata"] = npy_bytes(np.array([Payload()], dtype=object), allow_pickle=True)
    load_error(write_members(tmp_path / "hostile", members), "holds Python objects")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("dtype", [np.float32, np.int64, ">f8", np.complex128, "<U8"],
                         ids=["float32", "int64", "big-endian", "complex", "unicode"])
def test_params_of_the_wrong_dtype(saved, tmp_path, dtype):
    _, members = saved
    members["params"] = npy_bytes(np.zeros(55, dtype=dtype))
    load_error(write_members(tmp_path / "bad", members),
               "the member params has dtype .*; expected a float64 vector of 55 parameters")


@pytest.mark.parametrize("shape", [(54,), (56,), (0,), (), (55, 1), (1, 55)])
def test_params_of_the_wrong_shape(saved, tmp_path, shape):
    _, members = saved
    members["params"] = npy_bytes(np.zeros(shape))
    load_error(write_members(tmp_path / "bad", members),
               "the member params has dtype float64 and shape .*; expected a float64 vector")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_params_that_are_not_finite(saved, tmp_path, value):
    path, members = saved
    params = nnbp.load(path).params.copy()
    params[17] = value
    members["params"] = npy_bytes(params)
    load_error(write_members(tmp_path / "bad", members),
               "params contains (NaN|infinity) at index \\(17,\\)")


@pytest.mark.parametrize("version", [2, 17, 2**40])
def test_a_newer_format_version_says_which_nnbp_wrote_it(saved, tmp_path, version):
    _, members = saved
    members["format_version"] = npy_bytes(np.array(version, dtype=np.int64))
    load_error(write_members(tmp_path / "new", members),
               f"format version {version}, written by nnbp {nnbp.__version__}; this nnbp "
               f"reads format version {FORMAT_VERSION}: load it with a newer nnbp")


@pytest.mark.parametrize("version", [0, -1])
def test_an_unknown_old_format_version(saved, tmp_path, version):
    _, members = saved
    members["format_version"] = npy_bytes(np.array(version))
    load_error(write_members(tmp_path / "old", members), f"unknown model format version {version}")


@pytest.mark.parametrize("member, value, message", [
    ("format_version", np.array(1.0), "expected a 0-d integer"),
    ("format_version", np.array([1]), "expected a 0-d integer"),
    ("format", np.array("pickle"), "its format member is not 'nnbp'"),
    ("format", np.array(b"nnbp"), "expected a 0-d unicode string"),
    ("kind", np.array("Sequential"), "unknown kind of model 'Sequential'"),
    ("kind", np.array(["Network"]), "expected a 0-d unicode string"),
    ("config", np.array(3.0), "expected a 0-d unicode string"),
])
def test_members_of_the_wrong_kind(saved, tmp_path, member, value, message):
    _, members = saved
    members[member] = npy_bytes(value)
    load_error(write_members(tmp_path / "bad", members), message)


def test_invalid_unicode_in_a_string_member(saved, tmp_path):
    _, members = saved
    for code_point in (0x110000, 0xD800, 0xFFFFFFFF):
        members["kind"] = npy_header("<U1", ()) + code_point.to_bytes(4, "little")
        load_error(write_members(tmp_path / "bad", members),
                   "the member kind holds invalid unicode characters")


BAD_JSON = {
    "not JSON": ("{layer_sizes: [4, 5]}", "the member config is not valid JSON"),
    "cut short": ('{"layer_sizes": [4, 5', "the member config is not valid JSON"),
    "a list": ("[4, 5, 3]", "the member config must hold a JSON object, got list"),
    "NaN": ('{"alpha": NaN}', "the member config holds NaN, which is not JSON"),
    "nested too deep": ("[" * 100000 + "]" * 100000, "the member config is not valid JSON"),
    "a key twice": ('{"alpha": 1, "alpha": 2}', "the member config names a JSON key twice"),
}


@pytest.mark.parametrize("case", BAD_JSON, ids=list(BAD_JSON))
def test_bad_json(saved, tmp_path, case):
    text, message = BAD_JSON[case]
    _, members = saved
    members["config"] = npy_bytes(np.array(text))
    load_error(write_members(tmp_path / "bad", members), message)


BAD_CONFIGS = {
    "zero-width layer": ({"layer_sizes": [4, 0, 3, 3]}, "every layer size must be between 1"),
    "negative layer": ({"layer_sizes": [4, -5, 3, 3]}, "every layer size must be between 1"),
    "one layer": ({"layer_sizes": [4]}, "layer_sizes needs at least two entries"),
    "fractional size": ({"layer_sizes": [4, 5.5, 3, 3]}, "layer_sizes must hold ints"),
    "sizes as a string": ({"layer_sizes": "4,5,3,3"}, "layer_sizes must be a list"),
    "other sizes": ({"layer_sizes": [4, 5, 4, 2]}, "expected a float64 vector of 59 parameters"),
    "no bias": ({"bias": False}, "expected a float64 vector of 44 parameters"),
    "bias as a number": ({"bias": 1}, "bias must be true or false"),
    "dtype float32": ({"dtype": "float32"}, "expected a float32 vector"),
    "dtype float16": ({"dtype": "float16"}, "dtype must be 'float32' or 'float64'"),
    "dtype spelled otherwise": ({"dtype": "f8"}, "dtype must be 'float32' or 'float64'"),
    "unknown activation": ({"activation": "gelu"}, "config: unknown activation 'gelu'"),
    "unknown output": ({"output": "hinge"}, "config: unknown output 'hinge'"),
    "negative alpha": ({"alpha": -1}, "config: alpha must be >= 0"),
    "alpha as a string": ({"alpha": "0.1"}, "config: alpha must be a real number"),
    "zero sigma": ({"sigma": 0}, "config: sigma must be > 0"),
    "huge slope": ({"negative_slope": 1e400}, "config holds Infinity, which is not JSON"),
    "unknown key": ({"seed": 3}, "unknown: \\['seed'\\]"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=list(BAD_CONFIGS))
def test_bad_configs(saved, tmp_path, case):
    change, message = BAD_CONFIGS[case]
    _, members = saved
    config = {**json_member(members, "config"), **change}
    # json.dumps writes 1e400 (a float infinity) as Infinity
    set_json_member(members, "config", config)
    load_error(write_members(tmp_path / "bad", members), message)


def test_a_config_key_missing(saved, tmp_path):
    _, members = saved
    config = json_member(members, "config")
    del config["negative_slope"]
    set_json_member(members, "config", config)
    load_error(write_members(tmp_path / "bad", members), "missing: \\['negative_slope'\\]")


@pytest.mark.parametrize("change, message", [
    ({"saved": 5}, "metadata: saved must be a str"),
    ({"saved": "yesterday"}, "saved must be an ISO 8601 date"),
    ({"nnbp_version": None}, "metadata: nnbp_version must be a str"),
    ({"format_version": True}, "metadata: format_version must be a int"),
])
def test_bad_metadata(saved, tmp_path, change, message):
    _, members = saved
    metadata = {**json_member(members, "metadata"), **change}
    set_json_member(members, "metadata", metadata)
    load_error(write_members(tmp_path / "bad", members), message)


def test_metadata_that_is_not_an_object(saved, tmp_path):
    _, members = saved
    members["metadata"] = npy_bytes(np.array('"classes"'))
    load_error(write_members(tmp_path / "bad", members),
               "the member metadata must hold a JSON object, got str")


@pytest.mark.parametrize("member", MEMBERS["Network"])
def test_a_missing_member(saved, tmp_path, member):
    _, members = saved
    del members[member]
    message = ("a zip archive without the member format.npy" if member == "format"
               else f"the member {member} is missing")
    load_error(write_members(tmp_path / "bad", members), message)


@pytest.mark.parametrize("name", ["extra.npy", "classes.npy", "estimator.npy", "notes.txt"])
def test_an_unexpected_member(saved, tmp_path, name):
    _, members = saved
    members[name] = npy_bytes(np.zeros(2))
    load_error(write_members(tmp_path / "bad", members), f"unexpected member '{name}'")


def test_a_member_twice(saved, tmp_path):
    _, members = saved
    path = write_members(tmp_path / "bad", members)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # zipfile warns of the duplicate name
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("params.npy", npy_bytes(np.zeros(55)))
    load_error(path, "it holds the member 'params.npy' twice")


def test_a_compressed_member(saved, tmp_path):
    _, members = saved
    load_error(write_members(tmp_path / "bad", members, zipfile.ZIP_DEFLATED),
               "the member format is compressed")


def test_an_npy_format_version_3(saved, tmp_path):
    _, members = saved
    header = bytearray(npy_header("<U4", (), version=(2, 0)))
    header[6] = 3   # .npy format 3.0: 2.0 with a UTF-8 header
    members["format"] = bytes(header) + "nnbp".encode("utf-32-le")
    load_error(write_members(tmp_path / "bad", members), "is in .npy format \\(3, 0\\)")


def test_booleans_other_than_0_and_1(sklearn, tmp_path, rng):
    X, y = classification_problem("booleans", rng)
    fit_quietly(nnbp.MLPClassifier((3,), max_iter=3, random_state=0), X, y).save(tmp_path / "m")
    members = read_members(tmp_path / "m")
    members["classes"] = npy_header(np.bool_, (2,)) + b"\x00\x02"
    load_error(write_members(tmp_path / "bad", members), "booleans other than 0 and 1")


# ---------------------------------------------------------------- hostile estimator state

@pytest.fixture
def saved_classifier(sklearn, tmp_path, rng):
    """(path, members) of a classifier of the classes 3, 4 and 5."""
    X, y = classification_problem("multiclass", rng)
    path = tmp_path / "classifier"
    fit_quietly(nnbp.MLPClassifier((6,), max_iter=5, random_state=0), X, y).save(path)
    return path, read_members(path)


def rewrite_state(members, change):
    state = json_member(members, "estimator")
    change(state)
    set_json_member(members, "estimator", state)
    return members


BAD_STATES = {
    "unknown parameter": (lambda s: s["params"].update(seed=1),
                          "MLPClassifier has no parameter 'seed'"),
    "invalid parameter": (lambda s: s["params"].update(solver="newton"),
                          "The 'solver' parameter of MLPClassifier must be"),
    "too many features": (lambda s: s["fitted"].update(n_features_in_=6),
                          "n_features_in_ is 6, but the network's .* needs 5"),
    "outputs as a float": (lambda s: s["fitted"].update(n_outputs_=3.0),
                           "n_outputs_ is 3.0, but"),
    "wrong output": (lambda s: s["fitted"].update(out_activation_="logistic"),
                     "out_activation_ is 'logistic'"),
    "missing n_layers_": (lambda s: s["fitted"].pop("n_layers_"),
                          "the fitted attribute n_layers_ is missing"),
    "unknown attribute": (lambda s: s["fitted"].update(coefs_=[]),
                          "unknown fitted attribute 'coefs_'"),
    "negative n_iter_": (lambda s: s["fitted"].update(n_iter_=-1), "n_iter_ must be an int >= 0"),
    "loss as text": (lambda s: s["fitted"].update(loss_="0.5"), "loss_ must be a number"),
    "curve with text": (lambda s: s["fitted"].update(loss_curve_=[1.0, "x"]),
                        "loss_curve_\\[1\\] must be a number"),
    "bad target type": (lambda s: s["fitted"].update(y_type_="continuous"),
                        "y_type_ must be one of binary, multiclass, multilabel-indicator"),
    "binary of 3 classes": (lambda s: s["fitted"].update(y_type_="binary"),
                            "3 classes of a binary problem need 1 logistic output"),
    "sparse as a string": (lambda s: s["fitted"].update(sparse_input_="no"),
                           "sparse_input_ must be true or false"),
    "feature names": (lambda s: s["fitted"].update(feature_names_in_=["a", "b"]),
                      "feature_names_in_ must be a list of 5 strings"),
    "no fitted state": (lambda s: s.pop("fitted"), "the state must have the keys"),
    "params as a list": (lambda s: s.update(params=[]), "params and fitted must be JSON objects"),
}


@pytest.mark.parametrize("case", BAD_STATES, ids=list(BAD_STATES))
def test_bad_estimator_state(saved_classifier, tmp_path, case):
    change, message = BAD_STATES[case]
    _, members = saved_classifier
    load_error(write_members(tmp_path / "bad", rewrite_state(members, change)),
               "estimator: " + message)


@pytest.mark.parametrize("classes, message", [
    (np.array([3, 4]), "2 classes of a multiclass problem need 2 softmax outputs, but the "
                       "network has 3"),
    (np.array([3, 4, 5, 6]), "4 classes of a multiclass problem need 4"),
    (np.array([5, 4, 3]), "classes must be sorted and distinct"),
    (np.array([3, 3, 5]), "classes must be sorted and distinct"),
    (np.array([3.0, np.nan, 5.0]), "classes holds NaN or infinity"),
    (np.array([], dtype=np.int64), "expected a non-empty vector of numbers or strings"),
    (np.array([[3, 4, 5]]), "expected a non-empty vector"),
    (np.array([3 + 0j, 4, 5]), "expected a non-empty vector of numbers or strings"),
])
def test_bad_classes(saved_classifier, tmp_path, classes, message):
    _, members = saved_classifier
    members["classes"] = npy_bytes(classes)
    load_error(write_members(tmp_path / "bad", members), message)


def test_classes_of_pickled_objects(saved_classifier, tmp_path):
    _, members = saved_classifier
    members["classes"] = npy_bytes(np.array([3, "four", 5], dtype=object), allow_pickle=True)
    load_error(write_members(tmp_path / "bad", members), "the member classes holds Python objects")


def test_an_estimator_file_of_the_other_kind(saved_classifier, tmp_path):
    _, members = saved_classifier
    members["kind"] = npy_bytes(np.array("MLPRegressor"))
    load_error(write_members(tmp_path / "bad", members), "unexpected member 'classes.npy'")
    del members["classes"]
    # A classifier's parameters lack the regressor's loss.
    load_error(write_members(tmp_path / "bad", members),
               "estimator: the MLPRegressor parameter 'loss' is missing")
    members["kind"] = npy_bytes(np.array("Network"))
    load_error(write_members(tmp_path / "bad", members), "unexpected member 'estimator.npy'")


def test_bit_flips_in_a_regressor_file(sklearn, tmp_path, rng):
    X = rng.normal(size=(40, 3))
    reg = fit_quietly(nnbp.MLPRegressor(hidden_layer_sizes=(2,), max_iter=3, random_state=0),
                      X, X[:, 0])
    path = tmp_path / "model"
    reg.save(path)

    def same_regressor(loaded, reg):
        return (type(loaded) is type(reg) and loaded.get_params() == reg.get_params()
                and loaded.predict(X).tobytes() == reg.predict(X).tobytes()
                and loaded.loss_curve_ == reg.loss_curve_)

    check_flipped_files(path, reg, tmp_path, same_regressor, stride=3)


# ---------------------------------------------------------------- saving safely

def files_in(directory):
    return sorted(os.listdir(directory))


def test_a_save_that_fails_part_way_leaves_the_previous_file(tmp_path):
    """A file-size limit (as a full disk) stops the write part-way: the old model stays
    loadable and no temporary file is left behind."""
    path = tmp_path / "model"
    small = make_network()
    small.save(path)
    size = path.stat().st_size
    script = textwrap.dedent(f"""
        import resource, signal
        import numpy as np
        import nnbp
        # Past the limit, write() fails with EFBIG instead of the process being killed.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({size} + 512, {size} + 512))
        big = nnbp.Network([40, 50, 3], seed=0)
        try:
            big.save({str(path)!r})
        except OSError as error:
            print("refused:", error)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused:"), result.stdout
    assert_same_network(nnbp.load(path), small)
    assert files_in(tmp_path) == ["model"]


def test_a_save_interrupted_before_its_file_is_in_place(tmp_path, monkeypatch):
    """Any failure before the new file replaces the old one (here fsync's) leaves the old
    file and removes the temporary one."""
    path = tmp_path / "model"
    old = make_network(seed=1)
    old.save(path)

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        make_network(seed=2).save(path)
    monkeypatch.undo()
    assert_same_network(nnbp.load(path), old)
    assert files_in(tmp_path) == ["model"]


def test_concurrent_saves_leave_one_complete_file(tmp_path):
    import threading
    path = tmp_path / "model"
    nets = [nnbp.Network([30, 40, 3], seed=seed) for seed in range(4)]
    for _ in range(40):
        barrier = threading.Barrier(len(nets))
        errors = []

        def save(net):
            barrier.wait()
            try:
                net.save(path)
            except Exception as error:   # noqa: BLE001 (reported below)
                errors.append(error)

        threads = [threading.Thread(target=save, args=(net,)) for net in nets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        loaded = nnbp.load(path)
        assert any(loaded.params.tobytes() == net.params.tobytes() for net in nets)
        assert files_in(tmp_path) == ["model"]


def test_save_gives_a_new_file_the_permissions_open_gives(tmp_path):
    (tmp_path / "plain").write_bytes(b"")
    make_network().save(tmp_path / "model")
    assert (tmp_path / "model").stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_save_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "model"
    make_network(seed=1).save(path)
    os.chmod(path, 0o640)
    make_network(seed=2).save(path)
    assert path.stat().st_mode & 0o7777 == 0o640


def test_save_through_a_symbolic_link_replaces_its_target(tmp_path):
    (tmp_path / "models").mkdir()
    target = tmp_path / "models" / "model"
    make_network(seed=1).save(target)
    (tmp_path / "link").symlink_to(target)
    net = make_network(seed=2)
    net.save(tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert_same_network(nnbp.load(target), net)


def run_script(script, cwd):
    """The stdout of a Python script run in a child process: a call that would block (open()
    of a FIFO waits for the other end) fails on the timeout instead of hanging the tests."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                            text=True, cwd=cwd, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_save_refuses_a_path_that_is_not_a_regular_file(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="folder"):
        make_network().save(tmp_path / "folder")
    os.mkfifo(tmp_path / "fifo")
    printed = run_script(f"""
        import nnbp
        try:
            nnbp.Network([2, 1]).save({str(tmp_path / "fifo")!r})
        except OSError as error:
            print(error)
    """, tmp_path)
    assert printed.strip() == (f"cannot save to {str(tmp_path / 'fifo')!r}: it is a FIFO, "
                               "not a regular file")
    assert files_in(tmp_path) == ["fifo", "folder"]


def test_load_refuses_a_fifo_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    printed = run_script(f"""
        import nnbp
        try:
            nnbp.load({str(tmp_path / "fifo")!r})
        except nnbp.io.ModelFileError as error:
            print(error)
    """, tmp_path)
    assert printed.strip() == (f"cannot load {str(tmp_path / 'fifo')!r}: it is a FIFO, "
                               "not a model file")


# ---------------------------------------------------------------- saving what loads

def test_save_refuses_weights_that_are_not_finite(tmp_path):
    path = tmp_path / "model"
    net = make_network()
    net.save(path)
    before = path.read_bytes()
    for value in (np.nan, np.inf):
        changed = make_network(seed=3)
        changed.weights[1][0, 0] = value
        with pytest.raises(ValueError,
                           match="cannot save the Network: params contains (NaN|infinity)"):
            changed.save(path)
        assert path.read_bytes() == before
    with pytest.raises(ValueError, match="params contains infinity"):
        changed.save(tmp_path / "new")
    assert files_in(tmp_path) == ["model"]


def test_save_refuses_an_estimator_whose_weights_were_set_to_nan(sklearn, tmp_path, rng):
    X, y = classification_problem("multiclass", rng)
    clf = fit_quietly(nnbp.MLPClassifier((4,), max_iter=5, random_state=0), X, y)
    W = clf.coefs_[0].copy()
    W[0, 0] = np.nan
    clf.coefs_[0] = W
    with pytest.raises(ValueError, match="cannot save the MLPClassifier: params contains NaN"):
        clf.save(tmp_path / "model")
    assert files_in(tmp_path) == []


def test_save_refuses_classes_that_collided(sklearn, tmp_path, rng):
    """LabelBinarizer keeps classes in a NumPy string array, which drops trailing NULs: the
    classes of 'a' and 'a\\x00' are 'a' twice, which a model file cannot hold."""
    X = rng.normal(size=(20, 3))
    y = np.array(["a", "a\x00"] * 10, dtype=object)
    clf = fit_quietly(nnbp.MLPClassifier((4,), max_iter=2, random_state=0), X, y)
    with pytest.raises(ValueError, match="classes_ holds 'a' twice"):
        clf.save(tmp_path / "model")
    assert files_in(tmp_path) == []


def test_save_refuses_classes_ending_in_nul(sklearn, tmp_path, rng):
    """Such a label would load as another ('a' for 'a\\x00')."""
    X = rng.normal(size=(20, 3))
    clf = fit_quietly(nnbp.MLPClassifier((4,), max_iter=2, random_state=0), X,
                      np.array(["a", "b"] * 10, dtype=object))
    clf.classes_ = np.array(["a\x00", "b"], dtype=object)
    with pytest.raises(ValueError, match="classes_ holds 'a\\\\x00', which ends in a NUL"):
        clf.save(tmp_path / "model")
    assert files_in(tmp_path) == []


# ---------------------------------------------------------------- the standardisation of nnbp train

def test_fold_standardisation_makes_a_network_take_raw_rows(rng):
    net = make_network()
    before = net.copy()
    mean, scale = np.array([1e3, -2.0, 0.0, 5.0]), np.array([300.0, 0.01, 1.0, 2.0])
    X = mean + scale * rng.normal(size=(9, 4))
    folded = nnbp.io.fold_standardisation(net, mean, scale)
    assert folded == {"mean": mean.tolist(), "scale": scale.tolist()}
    np.testing.assert_allclose(net.forward(X), before.forward((X - mean) / scale), rtol=1e-12)


@pytest.mark.parametrize("mean, scale, message", [
    ([0, 0, 0], [1, 1, 1, 1], "mean must be 4 finite numbers"),
    ([0, 0, 0, np.nan], [1, 1, 1, 1], "mean must be 4 finite numbers"),
    ([0, 0, 0, 0], [1, 0, 1, 1], "scale must not hold 0"),
    ([0, 0, 0, 0], [1, 1e-300, 1, 1], "the folded first layer overflows float32"),
])
def test_fold_standardisation_refuses(mean, scale, message):
    net = make_network(dtype=np.float32)
    params = net.params.copy()
    with pytest.raises(ValueError, match=message):
        nnbp.io.fold_standardisation(net, mean, scale)
    assert net.params.tobytes() == params.tobytes()


def test_save_refuses_metadata_that_loading_would_fold_in(tmp_path):
    """Such metadata is what nnbp train wrote before it folded the standardisation in: a
    file of it loads folded, so it would not load as the network saved."""
    with pytest.raises(ValueError, match="metadata holds feature_mean and feature_scale"):
        make_network().save(tmp_path / "model", metadata={"feature_mean": [0, 0, 0, 1],
                                                          "feature_scale": [1, 1, 1, 2]})
    assert files_in(tmp_path) == []
    # Other values under those names are the caller's own: saved and loaded as they are.
    metadata = {"feature_mean": "none", "feature_scale": [1, 2]}
    make_network().save(tmp_path / "model", metadata=metadata)
    assert nnbp.load(tmp_path / "model").metadata["feature_mean"] == "none"


def test_save_into_a_missing_directory_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        make_network().save(tmp_path / "absent" / "model")
    assert error.value.filename == os.fspath(tmp_path / "absent" / "model")


def test_unfold_standardisation_undoes_fold_standardisation():
    net = make_network()
    original = net.params.copy()
    folded = nnbp.io.fold_standardisation(net, [1e3, -2.0, 0.0, 5.0], [300.0, 0.01, 1.0, 2.0])
    nnbp.io.unfold_standardisation(net, folded)
    np.testing.assert_allclose(net.params, original, rtol=1e-13, atol=1e-13)
    with pytest.raises(ValueError, match="folded must be a dict of mean and scale"):
        nnbp.io.unfold_standardisation(net, {"mean": [0, 0, 0, 0]})


def test_a_save_needing_more_memory_than_there_is_is_a_memory_error(tmp_path, monkeypatch):
    """The file is made in memory first: too large a model is a MemoryError saying so, not
    an out-of-memory kill, and the previous file stays."""
    path = tmp_path / "model"
    small = make_network()
    small.save(path)
    big = nnbp.Network([1000, 2100], seed=0)          # 16.8 MB of parameters
    monkeypatch.setattr(nnbp._memory, "available_bytes", lambda: 20 * 2**20)
    with pytest.raises(MemoryError, match="saving the model .* needs 48.1 MiB of memory"):
        big.save(path)
    assert_same_network(nnbp.load(path), small)
    assert files_in(tmp_path) == ["model"]


@pytest.mark.parametrize("kind, change", [
    ("MLPClassifier", {"hidden_layer_sizes": (7,)}),
    ("MLPClassifier", {"dtype": "float32"}),
    ("MLPRegressor", {"loss": "poisson"}),
])
def test_save_refuses_parameters_set_after_the_fit_that_contradict_the_network(tmp_path, kind,
                                                                              change):
    # set_params after fit, then save: the file paired the new parameter with
    # the old network, and loaded without complaint.
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(1, 4, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(nnbp, kind)(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit(X, y)
    path = tmp_path / "model.npz"
    model.save(path)
    name, value = next(iter(change.items()))
    model.set_params(**change)
    expected = re.escape(f"the parameter {name} is {value!r}, but the network is of {name} ")
    with pytest.raises(ValueError, match=expected + ".*set after the fit"):
        model.save(path)
    assert nnbp.load(path).get_params()[name] != value          # the old file is intact


def test_a_loaded_estimator_has_the_fitted_types_of_its_losses(tmp_path):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = nnbp.MLPClassifier((5,), max_iter=2, random_state=0).fit(X, y)
    model.save(tmp_path / "model.npz")
    loaded = nnbp.load(tmp_path / "model.npz")
    for fitted in (model, loaded):
        assert type(fitted.loss_) is np.float64 and type(fitted.best_loss_) is np.float64
        assert all(type(loss) is np.float64 for loss in fitted.loss_curve_)
    assert loaded.loss_ == model.loss_ and loaded.loss_curve_ == model.loss_curve_
