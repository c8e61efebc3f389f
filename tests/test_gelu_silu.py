"""GELU (exact, erf-based) and SiLU: kernels, finite differences, PyTorch, and every adapter.

The kernels against the reference at each instruction set, the NaN and
infinity cases, and whole networks against the reference are in
tests/test_layers.py and tests/test_network.py, which run every activation;
erf itself is in tests/test_vecmath.py. Here: what is particular to these
two, their agreement with torch.nn.functional.gelu / silu forward and
backward, finite differences in float32 and float64, and the estimators,
model files, command line and ONNX export taking them.
"""
import json
import math
import zipfile

import numpy as np
import pytest
from support import DTYPES, assert_as_torch, torch_softmax_loss_and_grad

import nnbp
from nnbp import layers, reference

NEW = ("gelu", "silu")
# Arguments across the range: the bend near 0, the tails, and where the
# factors Phi(z) and sigma(z) underflow.
Z_VALUES = np.concatenate([np.linspace(-12, 12, 2401), [-40.0, -30.0, -1e-6, 1e-6, 40.0]])


def tail_error(name, Z, dtype):
    """gelu's documented absolute error, a few eps |z| (1 + erf cancels for z << 0); 0 for silu."""
    return 4 * np.finfo(dtype).eps * np.abs(Z) if name == "gelu" else 0.0


# ---------------------------------------------------------------- the reference

def test_reference_values_and_derivatives():
    # gelu(1) = Phi(1), gelu(-1) = -Phi(-1); gelu'(0) = silu'(0) = 1/2.
    phi_1 = 0.8413447460685429
    assert reference.activation("gelu", 1.0) == pytest.approx(phi_1, rel=1e-15)
    assert reference.activation("gelu", -1.0) == pytest.approx(-(1 - phi_1), rel=1e-14)
    assert reference.activation_derivative("gelu", 0.0) == 0.5
    assert reference.activation_derivative("silu", 0.0) == 0.5
    assert reference.activation("silu", math.log(3.0)) == pytest.approx(0.75 * math.log(3.0))
    # gelu'(z) = Phi(z) + z phi(z): at 1, Phi(1) + e^(-1/2) / sqrt(2 pi).
    assert reference.activation_derivative("gelu", 1.0) == pytest.approx(
        phi_1 + math.exp(-0.5) / math.sqrt(2 * math.pi), rel=1e-15)
    # In the tail the reference keeps Phi's small values (erfc, not 1 + erf).
    assert reference.activation("gelu", -10.0) == pytest.approx(-10 * 7.619853024160527e-24,
                                                                rel=1e-12)


@pytest.mark.parametrize("name", NEW)
def test_reference_derivative_is_the_slope_of_the_reference(name):
    """Central differences of the reference's phi against its phi', in float64."""
    step = 1e-6
    for z in np.linspace(-6, 6, 121).tolist():
        slope = (reference.activation(name, z + step) - reference.activation(name, z - step)) / (
            2 * step)
        assert slope == pytest.approx(reference.activation_derivative(name, z), abs=1e-8)


def test_limits_in_the_reference():
    inf = math.inf
    for name in NEW:
        assert reference.activation(name, -inf) == 0.0
        assert reference.activation(name, inf) == inf
        assert reference.activation_derivative(name, -inf) == 0.0
        assert reference.activation_derivative(name, inf) == 1.0


# ---------------------------------------------------------------- the kernels

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW)
def test_kernels_against_the_reference_across_the_range(name, dtype, isa, rng):
    Z = Z_VALUES.astype(dtype).reshape(1, -1)
    dA = rng.normal(size=Z.shape).astype(dtype)
    A = layers.activation(name, Z)
    D = layers.activation_backward(name, Z, dA)
    expected_A = np.array([[reference.activation(name, z) for z in Z[0].tolist()]])
    expected_slope = np.array([[reference.activation_derivative(name, z) for z in Z[0].tolist()]])
    eps = np.finfo(dtype).eps
    # A within a few ulps, relative in the lower tail too: Phi there is erfc's,
    # not 1 + erf's, which kept only an absolute accuracy (6e-10 relative at
    # z = -5.2 in float64). There the roundings of x = z / sqrt 2 and of x^2
    # come back multiplied by x^2 in e^(-x^2): 4 eps z^2 in float64, below an
    # ulp of float32, whose gelu is computed in float64 and rounded.
    error = np.abs(A - expected_A)
    # Above z = -2 sqrt 2, 1 + erf keeps its absolute error (tail_error).
    lower = Z < -2 * np.sqrt(2)
    tail = np.where(lower, 4 * np.finfo(np.float64).eps * Z.astype(float) ** 2, 0.0) \
        if name == "gelu" else 0.0
    absolute = np.where(lower, 0.0, tail_error(name, Z, dtype))
    assert np.all(error <= (8 * eps + tail) * np.abs(expected_A) + absolute
                  + np.finfo(dtype).tiny * np.abs(Z)), Z[error == error.max()]
    if name == "gelu" and dtype == np.float32:
        normal = np.abs(expected_A) >= np.finfo(dtype).tiny
        assert np.all(error[normal] <= eps * np.abs(expected_A[normal]))
    # The derivative: its own roundings, plus the cancellation of Phi + z phi near
    # z = -0.75 (where gelu' = 0) at the scale of its terms.
    terms = np.abs(expected_slope) + np.abs(Z) * np.exp(-0.5 * Z.astype(np.float64) ** 2)
    error = np.abs(D - dA * expected_slope)
    assert np.all(error <= np.abs(dA) * ((16 * eps + tail) * terms + absolute) + 1e-37), \
        Z[error == error.max()]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW)
def test_the_backward_kernel_is_the_slope_of_the_forward_one(name, dtype, isa):
    """Central differences of the compiled phi against the compiled phi', in float64 steps."""
    z = np.linspace(-5, 5, 201)
    step = 1e-3 if dtype == np.float32 else 1e-6
    above = layers.activation(name, (z + step).astype(dtype)[None]).astype(np.float64)
    below = layers.activation(name, (z - step).astype(dtype)[None]).astype(np.float64)
    arguments = (z + step).astype(dtype).astype(np.float64) - (z - step).astype(dtype).astype(
        np.float64)
    slope = (above - below) / arguments
    computed = layers.activation_backward(name, z.astype(dtype)[None],
                                          np.ones((1, z.size), dtype))
    tolerance = 2e-3 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(computed, slope, rtol=0, atol=tolerance)


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW)
def test_layer_gradients_by_finite_differences(name, dtype, rng):
    X = rng.normal(size=(6, 5)).astype(dtype)
    W = rng.normal(size=(4, 5)).astype(dtype)
    b = rng.normal(size=4).astype(dtype)
    result = nnbp.check_layer_gradients(X, W, b, name, reference=True)
    assert result.passed, result


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", nnbp.OUTPUTS)
@pytest.mark.parametrize("name", NEW)
def test_network_gradients_by_finite_differences(name, output, dtype, rng):
    net = nnbp.Network([5, 7, 6, 3], activation=name, output=output, dtype=dtype, seed=1)
    X = rng.normal(size=(9, 5)).astype(dtype)
    if output == "softmax":
        y = rng.integers(0, 3, 9)
    elif output == "logistic":
        y = (rng.random((9, 3)) < 0.5).astype(dtype)
    elif output == "poisson":
        y = rng.poisson(1.0, (9, 3)).astype(dtype)
    else:
        y = rng.normal(size=(9, 3)).astype(dtype)
    result = nnbp.check_gradients(net, X, y, reference=True)
    assert result.passed, result


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW)
def test_scipy_check_grad_on_the_sum_of_activations(name, dtype, rng):
    """scipy.optimize.check_grad on z -> sum_j c_j phi(z_j), its gradient c * phi'(z)."""
    from scipy.optimize import check_grad
    z0 = rng.normal(scale=2.0, size=12)
    c = rng.normal(size=12)

    def f(z):
        return float(np.dot(c, layers.activation(name, z.astype(dtype)[None])[0]))

    def grad(z):
        return layers.activation_backward(name, z.astype(dtype)[None],
                                          c.astype(dtype)[None])[0].astype(np.float64)

    step = 1e-3 if dtype == np.float32 else 1e-7
    error = check_grad(f, grad, z0, epsilon=step)
    assert error <= (2e-3 if dtype == np.float32 else 1e-7) * np.linalg.norm(grad(z0))


# ---------------------------------------------------------------- PyTorch

TORCH_FUNCTIONS = {"gelu": "gelu", "silu": "silu"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW)
def test_torch_forward_and_backward_agree(name, dtype, isa, rng):
    torch = pytest.importorskip("torch")
    function = getattr(torch.nn.functional, TORCH_FUNCTIONS[name])
    Z = np.concatenate([Z_VALUES, rng.normal(scale=3.0, size=594)]).astype(dtype).reshape(20, -1)
    dA = rng.normal(size=Z.shape).astype(dtype)
    z = torch.tensor(Z, requires_grad=True)
    a = function(z)           # gelu: approximate="none", the default
    a.backward(torch.tensor(dA))
    eps = np.finfo(dtype).eps
    A = layers.activation(name, Z)
    D = layers.activation_backward(name, Z, dA)
    # Both within a few ulps of the truth, where the truth is not lost to
    # 1 + erf's cancellation (PyTorch's gelu has it in its own dtype).
    np.testing.assert_array_less(np.abs(A - a.detach().numpy()),
                                 8 * eps * np.abs(A) + tail_error(name, Z, dtype) + 1e-37)
    scale = np.abs(dA) * (1 + np.abs(Z) * np.exp(-0.5 * Z.astype(np.float64) ** 2))
    np.testing.assert_array_less(np.abs(D - z.grad.numpy()),
                                 16 * eps * scale + np.abs(dA) * tail_error(name, Z, dtype)
                                 + 1e-37)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW)
def test_torch_network_gradient_agrees(name, dtype, rng):
    """A whole network's loss and gradient, nnbp's against torch autograd's."""
    torch = pytest.importorskip("torch")
    net = nnbp.Network([5, 8, 6, 3], activation=name, output="softmax", dtype=dtype, seed=3)
    X = rng.normal(size=(16, 5)).astype(dtype)
    y = rng.integers(0, 3, 16)
    loss, grad = net.loss_and_grad(X, y)
    function = getattr(torch.nn.functional, TORCH_FUNCTIONS[name])
    torch_loss, torch_grad = torch_softmax_loss_and_grad(torch, net, X, y,
                                                         lambda l, z: function(z))
    assert_as_torch(loss, grad, torch_loss, torch_grad, dtype)


# ---------------------------------------------------------------- estimators

@pytest.mark.parametrize("name", NEW)
def test_estimators_fit_with_them(name):
    from sklearn.base import clone
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    classifier = nnbp.MLPClassifier((16,), activation=name, solver="lbfgs", max_iter=300,
                                    random_state=0)
    assert classifier.fit(X, y).score(X, y) > 0.95
    assert classifier.network_.activation == name
    assert clone(classifier).get_params()["activation"] == name
    regressor = nnbp.MLPRegressor(hidden_layer_sizes=(16,), activation=name, solver="lbfgs", max_iter=300,
                                  random_state=0)
    target = X[:, 0] * X[:, 1] + X[:, 2]
    assert regressor.fit(X, target).score(X, target) > 0.8


def test_an_unknown_activation_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match="activation") as caught:
        nnbp.MLPClassifier(activation="swish").fit([[0.0], [1.0]], [0, 1])
    assert "gelu" in str(caught.value) and "silu" in str(caught.value)
    with pytest.raises(ValueError, match="gelu"):
        nnbp.Network([2, 3, 1], activation="swish")


# ---------------------------------------------------------------- model files

@pytest.mark.parametrize("name", NEW)
def test_model_files_keep_them(name, tmp_path, rng):
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    model = nnbp.MLPClassifier((8,), activation=name, max_iter=50, random_state=0).fit(X, y)
    path = tmp_path / "model.npz"
    nnbp.io.save(model, path)
    loaded = nnbp.load(path)
    assert loaded.activation == name and loaded.network_.activation == name
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # The format's version stays 1: a file of gelu or silu is a version 1 file
    # with an activation an older nnbp does not know, and its Network refuses
    # it by name (as this one refuses "swish" below), so it never loads wrong.
    assert nnbp.io.FORMAT_VERSION == 1
    assert json.loads(str(np.load(path)["config"]))["activation"] == name


def test_a_file_with_an_activation_unknown_to_this_nnbp_is_refused_by_name(tmp_path):
    """What an nnbp without gelu or silu does with their files: refuses, naming the problem."""
    path = tmp_path / "net.npz"
    nnbp.io.save(nnbp.Network([3, 4, 2], activation="gelu", seed=0), path)
    with np.load(path) as members:
        arrays = {key: members[key] for key in members.files}
    config = json.loads(str(arrays["config"]))
    config["activation"] = "swish"
    arrays["config"] = np.array(json.dumps(config))
    changed = tmp_path / "changed.npz"
    with zipfile.ZipFile(changed, "w", zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            with archive.open(key + ".npy", "w") as member:
                np.lib.format.write_array(member, value, allow_pickle=False)
    with pytest.raises(nnbp.io.ModelFileError, match="swish"):
        nnbp.load(changed)


# ---------------------------------------------------------------- command line

@pytest.mark.parametrize("name", NEW)
def test_the_command_line_trains_with_them(name, tmp_path):
    from test_cli import run, write_classes_csv
    write_classes_csv(tmp_path / "flowers.csv")
    result = run("train", "flowers.csv", "--target", "species", "--hidden", "8",
                 "--activation", name, "--epochs", "5", "--quiet", "--out", "model.npz",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert nnbp.load(tmp_path / "model.npz").activation == name
    result = run("train", "flowers.csv", "--target", "species", "--activation", "swish",
                 cwd=tmp_path)
    assert result.returncode != 0 and "gelu" in result.stderr


# ---------------------------------------------------------------- ONNX

def _onnx_values(net, z, **options):
    onnx = pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    import nnbp.onnx
    model = nnbp.onnx.to_onnx(net, **options)
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return model, session.run(None, {session.get_inputs()[0].name: z})[0]


def _unit(name, dtype):
    """One unit between weights 1: f(z) = phi(z)."""
    net = nnbp.Network([1, 1, 1], activation=name, output="squared", dtype=dtype)
    net.params = [1.0, 1.0, 0.0, 0.0]
    return net


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW)
def test_onnx_export_against_the_true_values(name, dtype, opset):
    onnx = pytest.importorskip("onnx")
    if opset > onnx.defs.onnx_opset_version():
        pytest.skip(f"this onnx knows opsets up to {onnx.defs.onnx_opset_version()}")
    z = np.linspace(-8, 8, 1601).astype(dtype).reshape(-1, 1)
    model, computed = _onnx_values(_unit(name, dtype), z, target_opset=opset)
    operators = {node.op_type for node in model.graph.node}
    if name == "gelu":
        # float32: Gelu where the opset has it, else Erf; float64: neither
        # (onnxruntime has no float64 kernel of them), nnbp's series instead.
        expected = {np.float32: "Gelu" if opset >= 20 else "Erf", np.float64: None}[dtype]
        assert ({"Gelu", "Erf"} & operators) == ({expected} if expected else set())
    true = np.array([[reference.activation(name, float(v))] for v in z.ravel()])
    error = np.abs(computed.astype(np.float64) - true)
    eps = np.finfo(dtype).eps
    assert np.all(error <= 8 * eps * np.abs(true) + tail_error(name, z, dtype) + 1e-37)


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW)
def test_skl2onnx_converts_estimators_with_them(name, dtype, opset, rng):
    """skl2onnx's registration writes the same activation, at the opset skl2onnx is given."""
    skl2onnx = pytest.importorskip("skl2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    import onnx

    import nnbp.onnx   # registers nnbp's converters with skl2onnx
    if opset > onnx.defs.onnx_opset_version():
        pytest.skip(f"this onnx knows opsets up to {onnx.defs.onnx_opset_version()}")
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)          # three classes: softmax
    classifier = nnbp.MLPClassifier(hidden_layer_sizes=(8,), activation=name, max_iter=20,
                                    random_state=0).fit(X, y)
    model = skl2onnx.to_onnx(classifier, X[:1].astype(dtype), target_opset=opset,
                             options={"zipmap": False})
    if name == "gelu":
        has_gelu = any(node.op_type == "Gelu" for node in model.graph.node)
        assert has_gelu == (dtype == np.float32 and opset >= 20)
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    rows = rng.normal(size=(500, 4)).astype(dtype)
    label, probabilities = session.run(None, {session.get_inputs()[0].name: rows})
    expected = classifier.network_.copy(dtype=dtype).forward(rows)
    np.testing.assert_allclose(probabilities, expected,
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-7)
    assert np.mean(label == classifier.predict(rows)) > 0.99
