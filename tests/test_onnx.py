"""Export to ONNX: every exported model run in onnxruntime and compared with nnbp.

Labels must be equal; probabilities and values within 1e-5 (float32) and
1e-12 (float64), relative. What relative means:

- probabilities, and poisson's rates e^z, are compared element by element:
  each is a quotient of exponentials, as accurate as the logits' absolute
  error; values below the dtype's smallest normal number are compared
  absolutely (a subnormal number has fewer significant digits);
- the values of a squared (identity) output are sums: two summation orders
  differ by rounding relative to the magnitude of what they add up,
  sum_j |w_j a_j| + |b|, which is the scale they are compared at. An output
  near 0 by cancellation has no relative accuracy in either.

The tests on extreme logits use networks whose products and sums are exact
(small integers times powers of two), so that the logits are the same in both
whatever the summation order, and what is compared is how each computes
sigmoid, softplus, softmax and exp where they overflow or underflow.
"""
import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
import skl2onnx
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nnbp
import nnbp.onnx
from nnbp import layers
from nnbp.cli import main

DTYPES = [np.float32, np.float64]
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
MANY_ROWS = 9000   # more than Network.forward's blocks of 4096 rows


def run(model, X, check=True):
    """{output name: value} of model (an onnx.ModelProto), checked, run on X by onnxruntime."""
    if check:
        onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    values = session.run(None, {session.get_inputs()[0].name: X})
    return dict(zip([output.name for output in session.get_outputs()], values))


def assert_elementwise_close(actual, expected, dtype, floor=0.0):
    """Each within RTOL relative, or within floor (each element's, if an array) absolute."""
    dtype = np.dtype(dtype)
    assert actual.dtype == dtype and actual.shape == expected.shape
    actual, expected = actual.astype(np.float64), expected.astype(np.float64)
    assert np.array_equal(np.isfinite(actual), np.isfinite(expected))
    finite = np.isfinite(expected)
    assert np.array_equal(actual[~finite], expected[~finite])
    error = np.abs(actual - expected)[finite]
    bound = np.maximum(RTOL[dtype] * np.abs(expected[finite]), np.finfo(dtype).tiny)
    bound = np.maximum(bound, np.broadcast_to(floor, expected.shape)[finite])
    worst = np.argmax(error / bound)
    assert error[worst] <= bound[worst], (actual[finite][worst], expected[finite][worst])


def last_layer_magnitude(net, X):
    """sum_j |W(L)_kj a_j| + |b(L)_k| for each row and output: the scale of f's values."""
    A = np.asarray(X, dtype=net.dtype)
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        A = layers.dense_forward(A, W, b, net.activation, net.negative_slope)[1]
    magnitude = np.abs(A).astype(np.float64) @ np.abs(net.weights[-1].T).astype(np.float64)
    return magnitude + (0 if net.biases[-1] is None else np.abs(net.biases[-1]))


def assert_outputs_close(actual, net, X):
    """actual against net.forward(X), at the scale each output's kind has (see above)."""
    expected = net.forward(X)
    if net.output != "squared":
        return assert_elementwise_close(actual, expected, net.dtype)
    assert actual.dtype == net.dtype and actual.shape == expected.shape
    error = np.abs(actual.astype(np.float64) - expected)
    assert np.all(error <= RTOL[net.dtype] * last_layer_magnitude(net, X))


# ---------------------------------------------------------------- networks

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_every_activation_and_output_on_one_row_and_many(activation, output, dtype, rng):
    net = nnbp.Network([6, 9, 7, 3], activation=activation, output=output, dtype=dtype,
                       seed=rng.integers(1000), negative_slope=0.07)
    net.params += 0.2 * rng.standard_normal(net.n_params)   # biases too, and larger weights
    model = nnbp.onnx.to_onnx(net)
    X = rng.normal(scale=2.0, size=(MANY_ROWS, 6)).astype(dtype)
    for rows in (X[:1], X):
        (name, values), = run(model, rows).items()
        assert name == "output"
        assert_outputs_close(values, net, rows)


FUNCTION_ARGUMENTS = np.concatenate([
    [0.0, 1e-30, -1e-30, 1e-8, -1e-8, 0.5, -0.5],
    np.linspace(-120, 120, 481), np.linspace(-750, 750, 301),
    [-1e4, 1e4, -3e38, 3e38, 17.5, -17.5, 36.8, -36.8, 40.0, -40.0, 87.0, -87.0, 708.0, -708.0],
])


def argument_column(dtype, output=None):
    z = FUNCTION_ARGUMENTS.astype(dtype)
    if output == "poisson":
        # e^z within range in both: nnbp's exp overflows from 88.37 (float32) and 709.08
        # (float64), 0.4 and 0.7 before the last finite values (a limit pinned in
        # tests/test_properties.py); onnxruntime's from 88.72 and 709.78.
        z = z[z < (88.3 if dtype == np.float32 else 709.0)]
    return z.reshape(-1, 1)


def tail_floor(activation, z):
    """The absolute error gelu and silu may have where they vanish, z << 0 (else 0).

    gelu(z) = z (1 + erf(z / sqrt 2)) / 2: 1 + erf cancels, and each side's
    Phi(z) is only within a few eps absolute (nnbp's documented accuracy),
    gelu within a few eps |z|. silu(z) = z sigmoid(z): nnbp's sigmoid is 0
    where e^-z overflows (from z = -88.37 in float32, onnxruntime's from
    -88.72), so silu there is within |z| times the smallest normal number.
    """
    eps, tiny = np.finfo(z.dtype).eps, np.finfo(z.dtype).tiny
    scale = {"gelu": 4 * eps, "silu": tiny}.get(activation, 0.0)
    return scale * np.abs(z.astype(np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_each_activation_at_extreme_arguments(activation, dtype):
    """f(z) = phi(z) exactly: one unit, weights 1, biases 0, an identity output."""
    net = nnbp.Network([1, 1, 1], activation=activation, output="squared", dtype=dtype,
                       negative_slope=0.01)
    net.params = [1.0, 1.0, 0.0, 0.0]
    z = argument_column(dtype)
    with np.errstate(over="ignore"):
        computed = run(nnbp.onnx.to_onnx(net), z)["output"]
        assert_elementwise_close(computed, net.forward(z), dtype, floor=tail_floor(activation, z))
    # And against the true values: softplus neither overflows (log(1 + e^z) would from
    # z = 89 in float32) nor loses small values (log(1 + e^z) is 0 below z = -37 in
    # float64, where softplus(z) = e^z).
    if activation == "softplus":
        true = np.logaddexp(0.0, z.astype(np.float64))
        assert_elementwise_close(computed, true.astype(dtype), dtype)
        assert np.all(computed[FUNCTION_ARGUMENTS == -40.0] > 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["logistic", "poisson", "softmax"])
def test_each_output_at_extreme_logits(output, dtype):
    """f(z) of logits z given exactly: an identity weight matrix, biases 0."""
    z = argument_column(dtype, output)
    if output == "softmax":
        # Rows of three logits: the argument, 0, and its negative; and equal ones.
        z = np.hstack([z, np.zeros_like(z), -z])
        z = np.vstack([z, np.full((1, 3), -1e4, dtype), np.full((1, 3), 3e38, dtype)])
    net = nnbp.Network([z.shape[1], z.shape[1]], output=output, dtype=dtype)
    net.params = np.concatenate([np.eye(z.shape[1]).ravel(), np.zeros(z.shape[1])])
    computed = run(nnbp.onnx.to_onnx(net), z)["output"]
    assert_elementwise_close(computed, net.forward(z), dtype)
    if output == "logistic":
        # onnxruntime's own Sigmoid gives 0 at -18 (float32) and -40 (float64).
        assert np.all(computed[FUNCTION_ARGUMENTS == -40.0] > 0)


def exact_network(activation, output, dtype, rng, X):
    """A network whose every product and sum is exact on X (integers), with extreme logits.

    The hidden pre-activations are 64 times odd integers: |z| >= 64, where
    tanh is +-1, logistic 1 or e^z, softplus z or e^z, exactly or (e^z) far
    below what the next layer's integers can hold. The logits are odd
    integers times a power of two, scaled to reach 2048 or more (for
    poisson: half of e^z's range, 80 in float32 and 700 in float64).
    """
    net = nnbp.Network([X.shape[1], 6, 5], activation=activation, output=output, dtype=dtype,
                       negative_slope=0.25)
    W1, W2 = net.weights
    b1, b2 = net.biases
    W1[...] = 64 * 2 * rng.integers(-2, 3, W1.shape)
    b1[...] = 64 * (2 * rng.integers(-4, 4, b1.shape) + 1)
    W2[...] = 2 * rng.integers(-3, 4, W2.shape)
    b2[...] = 2 * rng.integers(-4, 4, b2.shape) + 1
    logits = nnbp.Network(net.layer_sizes, activation=activation, output="squared",
                          dtype=dtype, negative_slope=0.25)
    logits.params = net.params
    largest = np.abs(logits.forward(X)).max()
    target = {np.float32: 80.0, np.float64: 700.0}[dtype] if output == "poisson" else 4096.0
    scale = 2.0 ** np.floor(np.log2(target / largest))
    W2 *= scale
    b2 *= scale
    logits.params = net.params
    assert target / 2 < np.abs(logits.forward(X)).max() <= target
    return net


def grid(n_features):
    """Every row of integers in [-4, 4]: 9^4 = 6561 rows."""
    axes = np.meshgrid(*[np.arange(-4.0, 5.0)] * n_features, indexing="ij")
    return np.column_stack([axis.ravel() for axis in axes])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("activation", nnbp.ACTIVATIONS)
def test_extreme_logits_through_a_network(activation, output, dtype, rng):
    X = grid(4).astype(dtype)
    net = exact_network(activation, output, dtype, rng, X)
    model = nnbp.onnx.to_onnx(net)
    for rows in (X[:1], X):
        assert_elementwise_close(run(model, rows)["output"], net.forward(rows), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_network_in_the_other_dtype_computes_as_its_copy_in_it(dtype, rng):
    net = nnbp.Network([5, 8, 3], activation="tanh", output="softmax", dtype=dtype, seed=3)
    other = np.float64 if dtype == np.float32 else np.float32
    X = rng.normal(size=(50, 5)).astype(other)
    computed = run(nnbp.onnx.to_onnx(net, dtype=other), X)["output"]
    assert_elementwise_close(computed, net.copy(dtype=other).forward(X), other)


def test_a_network_without_biases(rng):
    net = nnbp.Network([5, 8, 3], activation="relu", output="squared", bias=False, seed=4)
    X = rng.normal(size=(40, 5))
    assert_outputs_close(run(nnbp.onnx.to_onnx(net), X)["output"], net, X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("leaky_slope", [0.01, -0.3, 1.7])
def test_leaky_relu_keeps_its_slope(leaky_slope, dtype, rng):
    """In float64 not the float32 rounding of LeakyRelu's alpha; any slope, not just (0, 1)."""
    net = nnbp.Network([1, 1, 1], activation="leaky_relu", output="squared", dtype=dtype,
                       negative_slope=leaky_slope)
    net.params = [1.0, 1.0, 0.0, 0.0]
    z = np.array([[-3.0], [-1e-3], [0.0], [2.5]], dtype=dtype)
    computed = run(nnbp.onnx.to_onnx(net), z)["output"]
    assert np.array_equal(computed, net.forward(z))
    assert computed[0, 0] == dtype(leaky_slope) * dtype(-3.0)


# ---------------------------------------------------------------- estimators

def classification_targets(kind, n, rng):
    labels = rng.integers(0, 2 if kind in ("binary text", "booleans") else 4, n)
    if kind == "multilabel":
        return (rng.random((n, 3)) < 0.5).astype(np.int64)
    return {"binary text": np.array(["no", "yes"]),
            "multiclass integers": np.array([3, 7, 11, -2]),
            "multiclass text": np.array(["ant", "bee", "cat", "dog"]),
            "whole floats": np.array([0.0, 1.0, 2.0, 5.0]),
            "booleans": np.array([False, True])}[kind][labels]


CLASSIFICATION_KINDS = ["binary text", "multiclass integers", "multiclass text", "whole floats",
                        "booleans", "multilabel"]


def fitted_classifier(kind, dtype, rng, hidden=(6,)):
    X = rng.normal(size=(200, 4))
    y = classification_targets(kind, 200, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # not converged: no matter here
        return nnbp.MLPClassifier(hidden_layer_sizes=hidden, max_iter=30, random_state=0,
                                  dtype=dtype).fit(X, y)


def assert_labels_equal(labels, predicted):
    """ONNX labels are int64 for numbers and booleans, strings for text (skl2onnx's rule)."""
    if predicted.dtype.kind in "biuf":
        assert labels.dtype == np.int64 and np.array_equal(labels, predicted.astype(np.int64))
    else:
        assert labels.tolist() == predicted.tolist()


def assert_class_probabilities_close(probabilities, classifier, X):
    expected = classifier.predict_proba(X)
    dtype = classifier.network_.dtype
    if classifier._label_binarizer.y_type_ == "binary":
        # predict_proba's [1 - p, p]: p compared, and 1 - p computed from it alike.
        assert np.array_equal(probabilities[:, 0], dtype.type(1) - probabilities[:, 1])
        probabilities, expected = probabilities[:, 1:], expected[:, 1:]
    assert_elementwise_close(probabilities, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", CLASSIFICATION_KINDS)
def test_classifier_labels_and_probabilities(kind, dtype, rng):
    classifier = fitted_classifier(kind, dtype, rng)
    model = nnbp.onnx.to_onnx(classifier, zipmap=False)
    X = rng.normal(size=(MANY_ROWS, 4)).astype(dtype)
    for rows in (X[:1], X):
        outputs = run(model, rows)
        assert list(outputs) == ["label", "probabilities"]
        assert_labels_equal(outputs["label"], classifier.predict(rows))
        assert_class_probabilities_close(outputs["probabilities"], classifier, rows)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["binary text", "multiclass integers", "multilabel"])
def test_classifier_at_extreme_logits(kind, dtype, rng):
    """The classifier's head (the [1 - p, p] of binary problems, the argmax, multilabel's
    threshold) where probabilities are 0, 1 or tiny: an exact network put in its place."""
    classifier = fitted_classifier(kind, dtype, rng)
    X = grid(4).astype(dtype)
    exact = exact_network("relu", classifier.network_.output, dtype, rng, X)
    n_outputs = classifier.network_.layer_sizes[-1]
    classifier.coefs_ = [exact.weights[0].T, exact.weights[1][:n_outputs].T]
    classifier.intercepts_ = [exact.biases[0], exact.biases[1][:n_outputs]]
    outputs = run(nnbp.onnx.to_onnx(classifier, zipmap=False), X)
    assert_labels_equal(outputs["label"], classifier.predict(X))
    assert_class_probabilities_close(outputs["probabilities"], classifier, X)
    assert np.mean(outputs["probabilities"] == 1.0) > 0.05


def zipmap_keys(classifier):
    labels = classifier.classes_
    return [int(label) if labels.dtype.kind in "biuf" else str(label) for label in labels]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["binary text", "multiclass integers", "whole floats",
                                  "multilabel"])
def test_zipmap_dictionaries_and_columns(kind, dtype, rng):
    """zipmap=True: skl2onnx's list of {label: probability}, in float32 (ZipMap's only
    type: a float64 model's probabilities rounded); "columns": a float64 tensor per class."""
    classifier = fitted_classifier(kind, dtype, rng)
    X = rng.normal(size=(40, 4)).astype(dtype)
    tensors = run(nnbp.onnx.to_onnx(classifier, zipmap=False), X)
    dictionaries = run(nnbp.onnx.to_onnx(classifier), X)
    assert list(dictionaries) == ["output_label", "output_probability"]
    assert np.array_equal(dictionaries["output_label"], tensors["label"])
    keys = zipmap_keys(classifier)
    assert dictionaries["output_probability"] == [
        dict(zip(keys, row.astype(np.float32).tolist())) for row in tensors["probabilities"]]

    columns = run(nnbp.onnx.to_onnx(classifier, zipmap="columns"), X)
    prefix = "i" if classifier.classes_.dtype.kind in "biu" else "s"
    names = [f"{prefix}{label}" for label in classifier.classes_]
    assert list(columns) == ["output_label"] + names
    assert np.array_equal(columns["output_label"], tensors["label"])
    for k, name in enumerate(names):
        assert np.array_equal(columns[name], tensors["probabilities"][:, k])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_values(loss, n_outputs, dtype, rng):
    X = rng.normal(size=(200, 4))
    y = np.exp(X[:, :n_outputs] / 2) if loss == "poisson" else X[:, :n_outputs] ** 2
    y = y[:, 0] if n_outputs == 1 else y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regressor = nnbp.MLPRegressor(loss=loss, hidden_layer_sizes=(7,), max_iter=30,
                                      random_state=0, dtype=dtype).fit(X, y)
    model = nnbp.onnx.to_onnx(regressor)
    X = rng.normal(size=(MANY_ROWS, 4)).astype(dtype)
    for rows in (X[:1], X):
        (name, values), = run(model, rows).items()
        assert name == "variable" and values.shape == (rows.shape[0], n_outputs)
        assert np.array_equal(regressor.predict(rows).reshape(values.shape),
                              regressor.network_.forward(rows))
        assert_outputs_close(values, regressor.network_, rows)


# ---------------------------------------------------------------- skl2onnx

def session_outputs(model):
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return [(output.name, output.type) for output in session.get_outputs()]


@pytest.mark.parametrize("zipmap", [True, False, "columns"])
@pytest.mark.parametrize("kind", ["binary text", "multiclass integers", "multilabel"])
def test_the_outputs_are_skl2onnxs_for_scikit_learns_mlp(kind, zipmap, rng):
    """The same names and types as skl2onnx gives for scikit-learn's MLPClassifier of the
    same parameters, and the same values, from nnbp.onnx.to_onnx and from skl2onnx."""
    classifier = fitted_classifier(kind, np.float32, rng)
    X = rng.normal(size=(200, 4))
    y = classification_targets(kind, 200, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SklearnMLPClassifier(hidden_layer_sizes=(6,), max_iter=1).fit(X, y)
    theirs.coefs_ = [np.array(W, dtype=np.float64) for W in classifier.coefs_]
    theirs.intercepts_ = [np.array(b, dtype=np.float64) for b in classifier.intercepts_]
    sample = X[:1].astype(np.float32)
    reference = skl2onnx.to_onnx(theirs, sample, options={"zipmap": zipmap})
    exported = {"nnbp.onnx": nnbp.onnx.to_onnx(classifier, zipmap=zipmap),
                "skl2onnx": skl2onnx.to_onnx(classifier, sample, options={"zipmap": zipmap})}
    rows = rng.normal(size=(500, 4)).astype(np.float32)
    # skl2onnx declares a multilabel MLP's labels of shape (n,) (they are (n, 3)): its
    # graph fails onnx's full check, which ours pass.
    expected = run(reference, rows, check=kind != "multilabel")
    for how, model in exported.items():
        assert session_outputs(model) == session_outputs(reference), how
        outputs = run(model, rows)
        for name, values in outputs.items():
            if isinstance(values, list):
                assert [d.keys() for d in values] == [d.keys() for d in expected[name]]
                values = np.array([list(d.values()) for d in values])
                reference_values = np.array([list(d.values()) for d in expected[name]])
            else:
                reference_values = expected[name]
            if values.dtype.kind in "iO" or name == "output_label":
                assert np.array_equal(values, reference_values), (how, name)
            else:
                assert_elementwise_close(values.astype(np.float32),
                                         reference_values.astype(np.float32), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_pipeline_with_a_scaler_converted_by_skl2onnx(dtype, rng):
    X = rng.normal(loc=5.0, scale=[1.0, 10.0, 0.1, 3.0], size=(300, 4))
    y = classification_targets("multiclass text", 300, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = make_pipeline(StandardScaler(), nnbp.MLPClassifier(
            hidden_layer_sizes=(8,), max_iter=40, random_state=0)).fit(X, y)
    model = skl2onnx.to_onnx(pipeline, X[:1].astype(dtype), options={"zipmap": False})
    rows = rng.normal(loc=5.0, scale=[1.0, 10.0, 0.1, 3.0], size=(MANY_ROWS, 4)).astype(dtype)
    outputs = run(model, rows)
    assert_labels_equal(outputs["label"], pipeline.predict(rows))
    # The graph computes in the input's dtype, as skl2onnx does for scikit-learn's MLP.
    assert_elementwise_close(outputs["probabilities"],
                             pipeline.predict_proba(rows).astype(dtype), dtype)


def test_a_regression_pipeline_and_skl2onnxs_options(rng):
    X = rng.normal(loc=2.0, scale=4.0, size=(200, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = make_pipeline(StandardScaler(), nnbp.MLPRegressor(
            hidden_layer_sizes=(8,), max_iter=40, random_state=0)).fit(X, X[:, :2] ** 2)
        classifier = make_pipeline(StandardScaler(), nnbp.MLPClassifier(
            hidden_layer_sizes=(5,), max_iter=20, random_state=0)).fit(
            X, classification_targets("multiclass text", 200, rng))
    outputs = run(skl2onnx.to_onnx(pipeline, X[:1]), X)
    (name, values), = outputs.items()
    assert values.shape == (200, 2)
    assert_elementwise_close(values, pipeline.predict(X), np.float64)
    # nocl: labels are class indices; output_class_labels: the classes as an output.
    outputs = run(skl2onnx.to_onnx(classifier, X[:1], options={"zipmap": False, "nocl": True}),
                  X)
    indices = np.searchsorted(classifier.classes_, classifier.predict(X))
    assert np.array_equal(outputs["label"], indices)
    outputs = run(skl2onnx.to_onnx(classifier, X[:1], options={"zipmap": False,
                                                               "output_class_labels": True}), X)
    assert outputs["class_labels"].tolist() == classifier.classes_.tolist()
    assert outputs["label"].tolist() == classifier.predict(X).tolist()


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_example_array_as_second_argument_gives_the_dtype(dtype, rng):
    """nnbp.onnx.to_onnx(model, X[:1]), as skl2onnx.to_onnx takes it."""
    X = rng.normal(size=(50, 4)).astype(dtype)
    classifier = fitted_classifier("multiclass text", np.float64, rng)
    model = nnbp.onnx.to_onnx(classifier, X[:1], zipmap=False)
    assert model.graph.input[0].type.tensor_type.elem_type == (
        onnx.TensorProto.FLOAT if dtype == np.float32 else onnx.TensorProto.DOUBLE)
    outputs = run(model, X)
    assert_labels_equal(outputs["label"], classifier.predict(X))
    # A Network computes in the example's dtype, as network.copy(dtype) does.
    net = nnbp.Network([4, 3, 2], seed=0)
    assert_outputs_close(run(nnbp.onnx.to_onnx(net, X[:1]), X)["output"], net.copy(dtype), X)


def test_an_example_array_is_checked(rng):
    net = nnbp.Network([4, 3, 2], seed=0)
    with pytest.raises(ValueError, match="the example X has 3 columns, but the model takes 4"):
        nnbp.onnx.to_onnx(net, rng.normal(size=(1, 3)))
    with pytest.raises(ValueError, match="the example X must be 2-D"):
        nnbp.onnx.to_onnx(net, rng.normal(size=4))
    with pytest.raises(TypeError, match="the example X must be float32 or float64, got int64"):
        nnbp.onnx.to_onnx(net, np.zeros((1, 4), dtype=np.int64))


@pytest.mark.parametrize("opset", [9, 12])
def test_skl2onnx_below_opset_13_raises_what_to_onnx_raises(opset, rng):
    X = rng.normal(size=(40, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regressor = nnbp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=5,
                                      random_state=0).fit(X, X[:, 0])
        pipeline = make_pipeline(StandardScaler(), nnbp.MLPClassifier(
            hidden_layer_sizes=(4,), max_iter=5, random_state=0)).fit(X, X[:, 0] > 0)
    for model in (regressor, pipeline):
        with pytest.raises(ValueError, match="target_opset must be an int from 13") as caught:
            skl2onnx.to_onnx(model, X[:1], target_opset=opset)
        with pytest.raises(ValueError) as ours:
            nnbp.onnx.to_onnx(regressor, target_opset=opset)
        assert str(caught.value) == str(ours.value)


# ---------------------------------------------------------------- bad arguments

def test_what_to_onnx_refuses(rng):
    net = nnbp.Network([3, 4, 2], output="softmax")
    with pytest.raises(TypeError, match="to_onnx takes an nnbp.Network"):
        nnbp.onnx.to_onnx(SklearnMLPClassifier())
    with pytest.raises(ValueError, match="not fitted yet"):
        nnbp.onnx.to_onnx(nnbp.MLPClassifier())
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        nnbp.onnx.to_onnx(net, dtype=np.int32)
    with pytest.raises(ValueError, match="zipmap must be True, False or 'columns'"):
        nnbp.onnx.to_onnx(net, zipmap="yes")
    with pytest.raises(ValueError, match="target_opset must be an int from 13"):
        nnbp.onnx.to_onnx(net, target_opset=9)
    with pytest.raises(ValueError, match="3 classes given for a network with 2 softmax outputs"):
        nnbp.onnx.to_onnx(net, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="classes must be distinct"):
        nnbp.onnx.to_onnx(net, classes=["a", "a"])
    with pytest.raises(ValueError, match="not 'squared'"):
        nnbp.onnx.to_onnx(nnbp.Network([3, 1], output="squared"), classes=[0, 1])
    with pytest.raises(ValueError, match="feature_mean and feature_scale go together"):
        nnbp.onnx.to_onnx(net, feature_mean=[0, 0, 0])
    with pytest.raises(ValueError, match="feature_scale must be 3 finite numbers"):
        nnbp.onnx.to_onnx(net, feature_mean=[0, 0, 0], feature_scale=[1, 1])
    with pytest.raises(ValueError, match="must not hold 0"):
        nnbp.onnx.to_onnx(net, feature_mean=[0, 0, 0], feature_scale=[1, 0, 1])
    with pytest.raises(ValueError, match="not all whole numbers"):
        nnbp.onnx.to_onnx(net, classes=[0.5, 1.5])
    classifier = fitted_classifier("binary text", np.float64, rng)
    with pytest.raises(ValueError, match="exports its own classes_"):
        nnbp.onnx.to_onnx(classifier, classes=["a", "b"])


def test_a_classifier_of_one_class(rng):
    """It predicts its class for every row; its two columns of probabilities have one label
    between them, so only zipmap=False can hold them."""
    X = rng.normal(size=(20, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier = nnbp.MLPClassifier(hidden_layer_sizes=(3,), max_iter=5).fit(
            X, np.full(20, "only"))
    outputs = run(nnbp.onnx.to_onnx(classifier, zipmap=False), X)
    assert outputs["label"].tolist() == classifier.predict(X).tolist() == ["only"] * 20
    assert_class_probabilities_close(outputs["probabilities"], classifier, X)
    with pytest.raises(ValueError, match="use zipmap=False"):
        nnbp.onnx.to_onnx(classifier)


def test_a_network_with_classes_is_a_classifier(rng):
    net = nnbp.Network([3, 5, 1], activation="tanh", output="logistic", seed=0)
    X = rng.normal(size=(100, 3))
    mean, scale = np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 4.0])
    outputs = run(nnbp.onnx.to_onnx(net, classes=["left", "right"], zipmap=False,
                                    feature_mean=mean, feature_scale=scale), X)
    p = net.forward((X - mean) / scale)[:, 0]
    assert outputs["label"].tolist() == np.where(p > 0.5, "right", "left").tolist()
    assert_elementwise_close(outputs["probabilities"][:, 1], p, np.float64)


# ---------------------------------------------------------------- the command line

@pytest.fixture
def nnbp_command(capsys, monkeypatch, tmp_path):
    """Runs `nnbp ARGS...` in tmp_path (in this process: tests/test_cli.py runs it as a
    user would, in a subprocess) and gives its standard output."""
    monkeypatch.chdir(tmp_path)

    def command(*args):
        capsys.readouterr()
        code = main(list(args))
        printed = capsys.readouterr()
        assert code == 0, printed.err
        return printed.out
    return command


def write_table(path, rng, target, rows=300):
    """Features of very different scales (the standardisation matters) and a target column."""
    X = rng.normal(loc=[10.0, -3.0, 0.0], scale=[5.0, 0.01, 100.0], size=(rows, 3))
    y = {"text": np.array(["left", "middle", "right"])[np.digitize(X[:, 0], [7.0, 13.0])],
         "integers": np.digitize(X[:, 2], [-50.0, 50.0]) * 5,
         "numbers": X[:, 0] / 5 + 100 * X[:, 1] + X[:, 2] / 100}[target]
    lines = ["a,b,c,y"] + [f"{a!r},{b!r},{c!r},{t}" for (a, b, c), t in zip(X.tolist(), y)]
    path.write_text("\n".join(lines) + "\n")
    return X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("target", ["text", "integers", "numbers"])
def test_nnbp_export_of_a_model_of_nnbp_train(target, dtype, nnbp_command, tmp_path, rng):
    """nnbp train folds its standardisation into the network's first layer: on the table's
    raw features the graph gives what nnbp predict gives (labels, or values), and the
    network's probabilities."""
    X = write_table(tmp_path / "data.csv", rng, target)
    nnbp_command("train", "data.csv", "--target", "y", "--hidden", "8", "--epochs", "20",
                 "--lr", "0.01", "--dtype", dtype, "--quiet")
    printed = nnbp_command("export", "model.npz", "--format", "onnx", "model.onnx")
    assert printed.splitlines()[1] == (f"  input X: 3 features (a, b, c), {dtype}, standardised "
                                       "in the graph")
    predicted = nnbp_command("predict", "model.npz", "data.csv").splitlines()[1:]
    raw = X.astype(dtype)
    outputs = run(onnx.load(str(tmp_path / "model.onnx")), raw)

    net = nnbp.load(tmp_path / "model.npz")
    if target == "numbers":
        (name, values), = outputs.items()
        assert name == "output"
        assert_outputs_close(values, net, raw)
        error = np.abs(values[:, 0] - np.array(predicted, dtype=np.float64))
        assert np.all(error <= RTOL[net.dtype] * last_layer_magnitude(net, raw)[:, 0])
    else:
        assert list(outputs) == ["label", "probabilities"]
        assert [str(label) for label in outputs["label"]] == predicted
        assert_elementwise_close(outputs["probabilities"], net.forward(raw), dtype)
        assert outputs["label"].dtype == (np.int64 if target == "integers" else object)


def test_nnbp_export_of_an_estimator_saved_from_python(nnbp_command, tmp_path, rng):
    classifier = fitted_classifier("multiclass integers", np.float64, rng)
    classifier.save(tmp_path / "classifier.npz")
    printed = nnbp_command("export", "classifier.npz", "classifier.onnx", "--dtype", "float32",
                           "--zipmap")
    assert printed.splitlines() == [
        "nnbp export: classifier.npz as ONNX (opset 17, float32): classifier.onnx",
        "  input X: 4 features, float32",
        "  outputs: output_label, output_probability"]
    X = rng.normal(size=(30, 4)).astype(np.float32)
    outputs = run(onnx.load(str(tmp_path / "classifier.onnx")), X)
    assert np.array_equal(outputs["output_label"], classifier.predict(X))
    nnbp_command("export", "classifier.npz", "columns.onnx", "--zipmap", "columns",
                 "--opset", "15")
    columns = onnx.load(str(tmp_path / "columns.onnx"))
    assert columns.opset_import[0].version == 15
    assert [output.name for output in columns.graph.output] == [
        "output_label", "i-2", "i3", "i7", "i11"]


def test_nnbp_export_refuses_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not_a_model.npz").write_text("hello")
    assert main(["export", "not_a_model.npz", "out.onnx"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("nnbp export: error: cannot load 'not_a_model.npz'")
    assert len(error.splitlines()) == 1
    nnbp.Network([2, 3], output="squared").save(tmp_path / "net.npz")
    assert main(["export", "net.npz", "out.onnx", "--opset", "12"]) == 1
    assert capsys.readouterr().err.startswith(
        "nnbp export: error: target_opset must be an int from 13")
    assert not (tmp_path / "out.onnx").exists()
