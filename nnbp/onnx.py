"""Export to ONNX: ``nnbp.onnx.to_onnx``, and nnbp's estimators in skl2onnx.

``to_onnx(model)`` writes a ``Network``, a fitted ``MLPClassifier`` or a
fitted ``MLPRegressor`` as an ``onnx.ModelProto``, to serve with onnxruntime
(or any ONNX runtime); it needs the onnx package alone. Importing this module
also registers nnbp's estimators with skl2onnx, where it is installed, so that
``skl2onnx.to_onnx`` converts a scikit-learn Pipeline that holds one (a scaler
in front of it, say). ``pip install 'nnbp[onnx]'`` brings both.

The graph's input is ``X``, of shape (n, n_features). Its outputs are those
skl2onnx gives for scikit-learn's MLP:

- a classifier: the labels, as ``predict`` gives them (int64 for classes that
  are whole numbers or booleans, strings for text; for multilabel problems an
  int64 indicator matrix), and the probabilities, as ``predict_proba`` gives
  them. Option ``zipmap``: True (skl2onnx's default) gives ``output_label``
  and ``output_probability``, a list of {class: probability} dictionaries;
  False gives the tensors ``label`` and ``probabilities``; "columns" gives
  ``output_label`` and one tensor of probabilities per class. ONNX's ZipMap
  holds float32 probabilities only: a float64 model's dictionaries hold its
  probabilities rounded to float32 (the labels are chosen in float64); the
  tensors keep float64.
- a regressor: ``variable``, of shape (n, n_outputs), as ``predict`` gives it
  (one column for one output).
- a Network: ``output``, of shape (n, m_L): ``Network.forward``. Given
  ``classes``, a Network is exported as a classifier, as ``nnbp predict``
  uses one that ``nnbp train`` made.

The graph computes what nnbp computes, in the same order and in the same
dtype (float32 or float64: every operator runs in it), with the same
formulations where ONNX's operators would lose accuracy or lack a double
kernel in onnxruntime; each is commented where it is written.

Examples
--------
>>> import numpy as np
>>> import onnxruntime
>>> from nnbp import Network
>>> from nnbp.onnx import to_onnx
>>> net = Network([4, 5, 3], seed=0)
>>> session = onnxruntime.InferenceSession(to_onnx(net).SerializeToString(),
...                                        providers=["CPUExecutionProvider"])
>>> X = np.random.default_rng(0).standard_normal((2, 4))
>>> bool(np.allclose(session.run(None, {"X": X})[0], net.forward(X)))
True
"""
from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

try:
    from onnx import TensorProto, defs, helper, numpy_helper
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("nnbp.onnx needs onnx: pip install 'nnbp[onnx]'") from error

from nnbp._validation import check_float_dtype
from nnbp._version import __version__
from nnbp.network import Network

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "to_onnx"]

# ai.onnx 17 (2022): onnxruntime 1.12 and later run it. Every operator here
# has kept its meaning since opset 13.
DEFAULT_OPSET = 17
MIN_OPSET = 13
ML_DOMAIN, ML_OPSET = "ai.onnx.ml", 1
TENSOR_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}
# The classifier's y_type_ (scikit-learn's LabelBinarizer) for a Network's output.
NETWORK_TARGET_TYPES = {"softmax": "multiclass", "logistic": "binary"}


# ---------------------------------------------------------------- writing a graph

class _GraphWriter:
    """Nodes and initializers of a graph computing in dtype; subclasses say where they go."""

    # The ai.onnx opset the graph is written for (gelu is one operator from 20 on).
    opset = DEFAULT_OPSET

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self._scalars = {}

    def scalar(self, value):
        """An initializer holding value in the graph's dtype, made once."""
        if value not in self._scalars:
            self._scalars[value] = self.constant("c", np.array(value, dtype=self.dtype))
        return self._scalars[value]

    def node(self, op_type, inputs, hint=None, output=None, domain="", **attributes):
        """The name of the output of a new node op_type(inputs) (output, if given)."""
        output = output or self.name(hint or op_type.lower())
        self._add_node(op_type, list(inputs), output, domain, attributes)
        return output


class _ModelWriter(_GraphWriter):
    """A graph of its own, for to_onnx."""

    def __init__(self, dtype):
        super().__init__(dtype)
        self.nodes, self.initializers, self._names = [], [], set()

    def name(self, hint):
        name, number = hint, 1
        while name in self._names:
            number += 1
            name = f"{hint}_{number}"
        self._names.add(name)
        return name

    def constant(self, hint, values):
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    def _add_node(self, op_type, inputs, output, domain, attributes):
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=self.name(op_type),
                                           domain=domain, **attributes))


class _Skl2onnxWriter(_GraphWriter):
    """skl2onnx's scope and container, for the converters registered with it."""

    def __init__(self, dtype, scope, container):
        super().__init__(dtype)
        self._scope, self._container = scope, container

    def name(self, hint):
        return self._scope.get_unique_variable_name(hint)

    def constant(self, hint, values):
        name, values = self.name(hint), np.asarray(values)
        if values.dtype.kind == "U":
            # skl2onnx copies a TensorProto's raw data only, which strings do not use.
            self._container.add_initializer(name, TensorProto.STRING, list(values.shape),
                                            [text.encode() for text in values.ravel().tolist()])
        else:
            self._container.add_initializer(name, None, None, numpy_helper.from_array(values))
        return name

    def _add_node(self, op_type, inputs, output, domain, attributes):
        self._container.add_node(op_type, inputs, output, op_domain=domain,
                                 op_version=ML_OPSET if domain == ML_DOMAIN else None,
                                 name=self._scope.get_unique_operator_name(op_type),
                                 **attributes)


# ---------------------------------------------------------------- the network

def _sigmoid(graph, z, output=None):
    # 1 / (1 + e^-z), as nnbp computes it: accurate for every z (for z << 0,
    # e^-z overflows to inf and the quotient goes to 0, its limit).
    # onnxruntime's Sigmoid is not: it loses the relative accuracy of small
    # values, and gives 0 for sigmoid(-18) in float32 (1.5e-8) and for
    # sigmoid(-40) in float64 (4.2e-18).
    e = graph.node("Exp", [graph.node("Neg", [z])])
    return graph.node("Reciprocal", [graph.node("Add", [graph.scalar(1.0), e])], output=output)


def _log1p(graph, e):
    # ONNX has no log1p, and log(1 + e) loses e's digits: it is 0 for
    # e < eps/2, where log1p(e) = e. Goldberg's correction ("What every
    # computer scientist should know about floating-point arithmetic",
    # theorem 4): with u = 1 + e rounded, u - 1 is exact, and
    # log(u) * e / (u - 1) is within a few ulps of log1p(e); where u == 1,
    # log1p(e) is e itself (the other branch is then 0 * inf, not chosen).
    one = graph.scalar(1.0)
    u = graph.node("Add", [one, e])
    corrected = graph.node("Mul", [graph.node("Log", [u]),
                                   graph.node("Div", [e, graph.node("Sub", [u, one])])])
    return graph.node("Where", [graph.node("Equal", [u, one]), e, corrected])


def _softplus(graph, z):
    # log(1 + e^z) as nnbp computes it, max(z, 0) + log1p(e^-|z|): e^z
    # overflows for z > 88 (float32) or 709 (float64), e^-|z| never does.
    # (onnxruntime's Softplus has no float64 kernel.)
    e = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [z])])])
    return graph.node("Add", [graph.node("Relu", [z]), _log1p(graph, e)])


def _leaky_relu(graph, z, slope):
    if graph.dtype == np.float32:
        # The attribute is a float32: the float32 network's slope exactly.
        return graph.node("LeakyRelu", [z], alpha=slope)
    # In float64, LeakyRelu would multiply by its float32 alpha (0.01 becomes
    # 0.0099999998): z > 0 ? z : slope z, the slope a float64 constant.
    positive = graph.node("Greater", [z, graph.scalar(0.0)])
    return graph.node("Where", [positive, z, graph.node("Mul", [z, graph.scalar(slope)])])


# Kummer's series for erf, as csrc/vecmath.h computes it:
# erf a = 2/sqrt(pi) a e^(-a^2) sum_n (2a^2)^n / (2n+1)!!, 45 terms for a <= 3
# (Horner's rule, each level dividing by its 2n+1); above, erfc a = e^(-a^2)
# / sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), 24 levels (relative
# error < 1e-14 at 3, where erfc is 2.2e-5). No coefficient is a tiny
# constant: onnxruntime's constant sharing took float64 scalars below
# float32's range, as 1/(2n+1)!! is from n = 30 on, for one value.
_ERF_SPLIT, _ERF_ONE = 3.0, 6.5
_KUMMER_TERMS = 45
_ERFC_LEVELS = 24


def _erf_from_series(graph, x):
    """erf(x) from Exp, Mul, Add, Div nodes: for float64, where onnxruntime has no Erf.

    Within a few 1e-16 relative, as nnbp's own erf (a few more roundings than
    csrc/vecmath.h's, which keeps a^2's rounding error apart).
    """
    a = graph.node("Abs", [x])
    small = graph.node("Min", [a, graph.scalar(_ERF_SPLIT)])
    large = graph.node("Min", [graph.node("Max", [a, graph.scalar(_ERF_SPLIT)]),
                               graph.scalar(_ERF_ONE)])
    square = graph.node("Mul", [small, small])
    t = graph.node("Add", [square, square])
    total = graph.scalar(1.0)
    for n in range(_KUMMER_TERMS - 1, 0, -1):   # 1 + t/3 (1 + t/5 (1 + ...))
        total = graph.node("Add", [graph.scalar(1.0), graph.node(
            "Div", [graph.node("Mul", [total, t]), graph.scalar(2.0 * n + 1.0)])])
    gauss = graph.node("Exp", [graph.node("Neg", [square])])
    below = graph.node("Mul", [graph.node("Mul", [graph.scalar(2 / math.sqrt(math.pi)), small]),
                               graph.node("Mul", [gauss, total])])
    fraction = large
    for k in range(_ERFC_LEVELS, 0, -1):
        fraction = graph.node("Add", [large, graph.node("Div", [graph.scalar(k / 2), fraction])])
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Mul", [large, large])])])
    erfc = graph.node("Div", [graph.node("Mul", [graph.scalar(1 / math.sqrt(math.pi)), tail]),
                              fraction])
    above = graph.node("Sub", [graph.scalar(1.0), erfc])
    magnitude = graph.node("Where", [graph.node("Greater", [a, graph.scalar(_ERF_SPLIT)]),
                                     above, below])
    return graph.node("Mul", [graph.node("Sign", [x]), magnitude])


def _gelu(graph, z):
    # z Phi(z) = z (1 + erf(z / sqrt 2)) / 2, torch's gelu (approximate='none').
    if graph.dtype == np.float32 and graph.opset >= 20:
        return graph.node("Gelu", [z])
    x = graph.node("Mul", [z, graph.scalar(1 / math.sqrt(2))])
    # onnxruntime has Erf and Gelu in float32 only.
    erf = graph.node("Erf", [x]) if graph.dtype == np.float32 else _erf_from_series(graph, x)
    half = graph.node("Mul", [graph.scalar(0.5), graph.node("Add", [graph.scalar(1.0), erf])])
    return graph.node("Mul", [z, half])


def _activation(graph, network, z):
    name = network.activation
    if name == "identity":
        return z
    if name == "gelu":
        return _gelu(graph, z)
    if name == "silu":
        # z sigma(z), with nnbp's sigmoid (accurate where onnxruntime's is not).
        return graph.node("Mul", [z, _sigmoid(graph, z)])
    if name == "logistic":
        return _sigmoid(graph, z)
    if name == "softplus":
        return _softplus(graph, z)
    if name == "leaky_relu":
        return _leaky_relu(graph, z, network.negative_slope)
    return graph.node({"tanh": "Tanh", "relu": "Relu"}[name], [z])


def _forward(graph, network, X, output=None):
    """The name of f(X), Network.forward of the graph's input X (output, if given)."""
    for l, (W, b) in enumerate(zip(network.weights, network.biases), start=1):
        # X W^T + b, as nnbp's layers compute it: the product, then the bias.
        z = graph.node("MatMul", [X, graph.constant(f"W{l}_transposed", W.T.astype(graph.dtype))],
                       f"z{l}")
        if b is not None:
            z = graph.node("Add", [z, graph.constant(f"b{l}", b.astype(graph.dtype))], f"z{l}")
        if l < network.n_layers:
            X = _activation(graph, network, z)
    if network.output == "logistic":
        return _sigmoid(graph, z, output)
    if network.output == "softmax":
        # Softmax subtracts the row's largest logit before the exponential, as nnbp does.
        return graph.node("Softmax", [z], output=output, axis=1)
    if network.output == "poisson":
        return graph.node("Exp", [z], output=output)
    return z if output is None else graph.node("Identity", [z], output=output)


def _standardised(graph, X, mean, scale):
    """The name of (X - mean) / scale, computed in float64 as nnbp predict computes it (a
    float32 input would lose the digits that dividing by a small scale brings forward),
    then in the graph's dtype."""
    centred = graph.node("Sub", [X, graph.constant("feature_mean", mean)])
    standardised = graph.node("Div", [centred, graph.constant("feature_scale", scale)],
                              "standardised")
    if graph.dtype == np.float64:
        return standardised
    return graph.node("Cast", [standardised], "standardised", to=TENSOR_TYPES[graph.dtype])


# ---------------------------------------------------------------- classifiers

def _label_values(classes):
    """classes as skl2onnx gives labels: int64 for whole numbers and booleans, else text."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biuf":
        whole = np.all(np.isfinite(classes)) and np.all(classes == np.round(classes))
        if not (whole and np.all(np.abs(classes.astype(np.float64)) < 2.0**63)):
            raise ValueError(
                f"the classes {classes.tolist()[:5]} are not all whole numbers within int64: "
                "ONNX labels are int64 or strings, as skl2onnx gives them"
            )
        return classes.astype(np.int64)
    return np.array([str(label) for label in classes.tolist()])


def _classifier(graph, network, X, y_type, labels, label_output, probabilities_output,
                probabilities_dtype):
    """Writes predict's labels and predict_proba's probabilities under the names given.

    labels: the label of each class, as _label_values gives them.
    probabilities_dtype: the probabilities' output dtype; float32 for ZipMap.
    """
    cast = np.dtype(probabilities_dtype) != graph.dtype
    named = None if cast else probabilities_output
    if y_type == "binary":
        # predict_proba's [1 - p, p], p the logistic output's probability.
        p = _forward(graph, network, X)
        probabilities = graph.node("Concat", [graph.node("Sub", [graph.scalar(1.0), p]), p],
                                   "probabilities", output=named, axis=1)
    else:
        p = probabilities = _forward(graph, network, X, output=named)
    if y_type == "multilabel-indicator":
        # predict's indicator matrix: 1 where the probability is above 0.5
        # (LabelBinarizer's threshold).
        graph.node("Cast", [graph.node("Greater", [p, graph.scalar(0.5)])], output=label_output,
                   to=TensorProto.INT64)
    else:
        # predict's classes_[argmax]: ArgMax takes the first of equal values,
        # as numpy's argmax does; on [1 - p, p] it takes the second class
        # where p > 0.5, scikit-learn's threshold for binary problems. A
        # binary classifier of one class predicts it for either column.
        if len(labels) == 1:
            labels = np.concatenate([labels, labels])
        index = graph.node("ArgMax", [probabilities], "index", axis=1, keepdims=0)
        graph.node("Gather", [graph.constant("classes", labels), index], output=label_output,
                   axis=0)
    if cast:
        graph.node("Cast", [probabilities], output=probabilities_output,
                   to=TENSOR_TYPES[np.dtype(probabilities_dtype)])


# ---------------------------------------------------------------- to_onnx

def to_onnx(model: Any, dtype: npt.DTypeLike | npt.ArrayLike | None = None, *,
            zipmap: bool | Literal["columns"] = True, classes: Sequence[Any] | None = None,
            feature_mean: npt.ArrayLike | None = None,
            feature_scale: npt.ArrayLike | None = None,
            target_opset: int | None = None) -> Any:
    """The ONNX graph of a Network, or of a fitted MLPClassifier or MLPRegressor.

    The graph computes what nnbp computes, in the same order and dtype; its
    input is ``X``, and its outputs are those skl2onnx gives for
    scikit-learn's MLP (see the module's docstring). Needs the onnx package
    alone.

    Parameters
    ----------
    model : Network, MLPClassifier or MLPRegressor
        The model to export; an estimator must be fitted.
    dtype : None, float32, float64, or an example array of inputs, default=None
        The dtype of the input and of the computation; None: the network's.
        Another dtype computes with the parameters converted to it, as
        ``network.copy(dtype)`` does. An array (``X[:1]``, as
        ``skl2onnx.to_onnx`` takes it) gives its dtype, float32 or float64,
        and must have the model's number of features as its columns.
    zipmap : bool or "columns", default=True
        For classifiers, the form of the outputs, as skl2onnx's option of the
        same name (see the module's docstring).
    classes : sequence or None, default=None
        For a Network with a softmax output (one class per output) or one
        logistic output (two classes): export it as a classifier with these
        labels, as ``nnbp predict`` uses a model of ``nnbp train``.
    feature_mean : sequence of n_features numbers, or None, default=None
        With feature_scale, standardise the input in the graph, (X - mean) /
        scale, as ``nnbp train`` and ``nnbp predict`` do with the ones they
        keep: in float64, as they do, so that the input X is float64
        whatever dtype is.
    feature_scale : sequence of n_features numbers, or None, default=None
        The scale of that standardisation, nonzero; given with feature_mean.
    target_opset : int or None, default=None
        The opset of the ai.onnx domain (None: DEFAULT_OPSET, 17; at least
        MIN_OPSET, 13).

    Returns
    -------
    onnx.ModelProto
        The model: ``onnx.save_model(model, path)`` writes it.

    Raises
    ------
    TypeError
        For a model or dtype it cannot export.
    ValueError
        For a bad option, naming it (skl2onnx's converters of nnbp's
        estimators raise the same for a target_opset below 13), or an
        estimator that is not fitted.

    See Also
    --------
    skl2onnx.to_onnx : Converts pipelines that hold nnbp's estimators too.

    Examples
    --------
    >>> import numpy as np
    >>> from nnbp import Network
    >>> from nnbp.onnx import to_onnx
    >>> net = Network([4, 5, 3], seed=0)
    >>> model = to_onnx(net, np.float32, classes=["a", "b", "c"], zipmap=False)
    >>> [value.name for value in model.graph.input], [value.name for value in model.graph.output]
    (['X'], ['label', 'probabilities'])
    """
    estimators = sys.modules.get("nnbp.estimators")
    if isinstance(model, Network):
        network, y_type = model, None
        if classes is not None:
            y_type = _network_target_type(network, classes)
    elif estimators is not None and isinstance(model, estimators._BaseMLP):
        if "network_" not in model.__dict__:
            raise ValueError(f"this {type(model).__name__} is not fitted yet: fit it first")
        if classes is not None:
            raise ValueError(f"an {type(model).__name__} exports its own classes_: leave "
                             "classes out")
        network = model.network_
        y_type = (model._label_binarizer.y_type_ if isinstance(model, estimators.MLPClassifier)
                  else None)
        classes = getattr(model, "classes_", None)
    else:
        raise TypeError("to_onnx takes an nnbp.Network, MLPClassifier or MLPRegressor, "
                        f"got {type(model).__name__}")
    n_features = network.layer_sizes[0]
    dtype = _graph_dtype(dtype, network.dtype, n_features)
    if not (isinstance(zipmap, bool) or (isinstance(zipmap, str) and zipmap == "columns")):
        raise ValueError(f"zipmap must be True, False or 'columns', got {zipmap!r}")
    opset = _check_opset(target_opset)
    mean, scale = _standardisation(feature_mean, feature_scale, n_features)

    graph = _ModelWriter(dtype)
    graph.opset = opset
    X = graph.name("X")
    input_type = TENSOR_TYPES[dtype if mean is None else np.dtype(np.float64)]
    inputs = [helper.make_tensor_value_info(X, input_type, [None, n_features])]
    if mean is not None:
        X = _standardised(graph, X, mean, scale)
    if y_type is None:
        output = graph.name("variable" if estimators is not None and isinstance(
            model, estimators.MLPRegressor) else "output")
        _forward(graph, network, X, output=output)
        outputs = [helper.make_tensor_value_info(output, TENSOR_TYPES[dtype],
                                                 [None, network.layer_sizes[-1]])]
    else:
        outputs = _classifier_outputs(graph, network, X, y_type, np.asarray(classes), zipmap)
    name = "nnbp_" + type(model).__name__
    onnx_graph = helper.make_graph(graph.nodes, name, inputs, outputs, graph.initializers)
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid(ML_DOMAIN, ML_OPSET)]
    onnx_model = helper.make_model(onnx_graph, opset_imports=opsets, producer_name="nnbp",
                                   producer_version=__version__,
                                   doc_string=f"{model!r}, exported by nnbp.onnx.to_onnx")
    # The oldest IR version that holds these opsets: the widest choice of runtimes.
    onnx_model.ir_version = helper.find_min_ir_version_for(opsets)
    return onnx_model


def _graph_dtype(dtype, network_dtype, n_features):
    """The graph's dtype from to_onnx's dtype: None, a dtype, or an example array of inputs."""
    if dtype is None:
        return network_dtype
    is_data = not isinstance(dtype, (type, np.dtype, str)) and (
        hasattr(dtype, "__array__") or isinstance(dtype, (list, tuple)))
    if not is_data:
        return check_float_dtype(dtype)
    example = np.asarray(dtype)
    if example.ndim != 2:
        raise ValueError(f"the example X must be 2-D, (rows, {n_features} features), got shape "
                         f"{example.shape}")
    if example.shape[1] != n_features:
        raise ValueError(f"the example X has {example.shape[1]} columns, but the model takes "
                         f"{n_features} features")
    if example.dtype not in TENSOR_TYPES:
        raise TypeError(f"the example X must be float32 or float64, got {example.dtype}: the "
                        "graph's input takes that dtype (convert it, X[:1].astype(np.float32))")
    return example.dtype


def _check_opset(target_opset):
    """The ai.onnx opset of the graph: target_opset, or the default; a ValueError if out of range."""
    opset = DEFAULT_OPSET if target_opset is None else target_opset
    latest = defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= latest:
        raise ValueError(f"target_opset must be an int from {MIN_OPSET} to {latest} (this onnx's "
                         f"latest), got {target_opset!r}")
    return opset


def _network_target_type(network, classes):
    """The classifier's ``y_type_`` of a Network given classes, checked against its output."""
    y_type = NETWORK_TARGET_TYPES.get(network.output)
    n_outputs, n_classes = network.layer_sizes[-1], len(classes)
    if y_type is None:
        raise ValueError(f"classes are for a network with a softmax or logistic output, not "
                         f"{network.output!r}")
    if (y_type == "multiclass" and n_classes != n_outputs) or (
            y_type == "binary" and (n_outputs != 1 or n_classes != 2)):
        need = (f"{n_outputs} classes, one per output" if y_type == "multiclass"
                else "2 classes for its one output" if n_outputs == 1
                else "one output (a network of several logistic outputs has no classes)")
        raise ValueError(f"{n_classes} classes given for a network with {n_outputs} "
                         f"{network.output} output{'s' * (n_outputs > 1)}: it needs {need}")
    if len(set(np.asarray(classes).tolist())) != n_classes:
        raise ValueError(f"the classes must be distinct, got {list(classes)}")
    return y_type


def _standardisation(mean, scale, n_features):
    if (mean is None) != (scale is None):
        raise ValueError("feature_mean and feature_scale go together: give both or neither")
    if mean is None:
        return None, None
    checked = []
    for name, values in (("feature_mean", mean), ("feature_scale", scale)):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (n_features,) or not np.isfinite(values).all():
            raise ValueError(f"{name} must be {n_features} finite numbers, one per feature, "
                             f"got shape {values.shape}")
        checked.append(values)
    if not checked[1].all():
        raise ValueError("feature_scale must not hold 0 (a constant feature's scale is 1)")
    return checked


def _classifier_outputs(graph, network, X, y_type, classes, zipmap):
    """Writes a classifier's outputs as zipmap asks; their value infos."""
    labels = _label_values(classes)
    n_columns = max(len(classes), 2) if y_type == "binary" else len(classes)
    if zipmap is not False and len(classes) == 1:
        raise ValueError("a classifier of one class has two columns of probabilities but one "
                         "label, and zipmap maps each column to a label: use zipmap=False")
    label_type = TensorProto.STRING if labels.dtype.kind == "U" else TensorProto.INT64
    label_shape = [None, len(classes)] if y_type == "multilabel-indicator" else [None]
    label = graph.name("label" if zipmap is False else "output_label")
    probabilities = graph.name("probabilities")
    # ZipMap takes float32 only; the labels are chosen before the cast.
    probabilities_dtype = np.float32 if zipmap is True else graph.dtype
    _classifier(graph, network, X, y_type, labels, label, probabilities, probabilities_dtype)
    outputs = [helper.make_tensor_value_info(label, label_type, label_shape)]
    if zipmap is False:
        return outputs + [helper.make_tensor_value_info(probabilities, TENSOR_TYPES[graph.dtype],
                                                        [None, n_columns])]
    if zipmap is True:
        dictionaries = graph.name("output_probability")
        keys = ({"classlabels_strings": labels.tolist()} if label_type == TensorProto.STRING
                else {"classlabels_int64s": labels.tolist()})
        graph.node("ZipMap", [probabilities], output=dictionaries, domain=ML_DOMAIN, **keys)
        value = helper.make_tensor_type_proto(TensorProto.FLOAT, [])
        kind = helper.make_sequence_type_proto(helper.make_map_type_proto(label_type, value))
        return outputs + [helper.make_value_info(dictionaries, kind)]
    # "columns": one tensor per class, named as skl2onnx names them.
    for k, label_value in enumerate(classes.tolist()):
        prefix = "i" if classes.dtype.kind in "biu" else "s"
        column = graph.name(f"{prefix}{int(label_value) if prefix == 'i' else label_value}")
        graph.node("Gather", [probabilities, graph.constant("column", np.array(k, np.int64))],
                   output=column, axis=1)
        outputs.append(helper.make_tensor_value_info(column, TENSOR_TYPES[graph.dtype], [None]))
    return outputs


# ---------------------------------------------------------------- skl2onnx

def _computing_dtype(input_type, DoubleTensorType):
    """skl2onnx's rule for scikit-learn's MLP: double input computes in float64, any other
    (float, integers, booleans) in float32."""
    return np.float64 if isinstance(input_type, DoubleTensorType) else np.float32


def _register_with_skl2onnx():
    """Register converters of nnbp's estimators with skl2onnx, if it is installed."""
    try:
        from skl2onnx import update_registered_converter
        from skl2onnx.common.data_types import (
            DoubleTensorType,
            FloatTensorType,
            Int64TensorType,
        )
        from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
        from skl2onnx.common.utils_classifier import get_label_classes
    except ImportError:
        return
    from nnbp import estimators   # skl2onnx needs scikit-learn: they import

    def writer(scope, operator, container):
        # skl2onnx lets a converter write operators newer than target_opset, and the graph
        # then fails to load: the opset is checked here as to_onnx checks it.
        _check_opset(container.target_opset)
        dtype = _computing_dtype(operator.inputs[0].type, DoubleTensorType)
        graph = _Skl2onnxWriter(dtype, scope, container)
        graph.opset = container.target_opset
        X = operator.inputs[0].full_name
        if type(operator.inputs[0].type) is not (
                DoubleTensorType if dtype == np.float64 else FloatTensorType):
            X = graph.node("Cast", [X], "cast_input", to=TENSOR_TYPES[np.dtype(dtype)])
        return graph, X

    def classifier_shapes(operator):
        calculate_linear_classifier_output_shapes(operator)
        model = operator.raw_operator
        if model._label_binarizer.y_type_ == "multilabel-indicator":
            operator.outputs[0].type = Int64TensorType(
                [operator.inputs[0].get_first_dimension(), model.n_outputs_])
        options = operator.scope_inst.get_options(model, dict(zipmap=True))
        if options["zipmap"] is True and isinstance(operator.outputs[1].type, DoubleTensorType):
            # ZipMap takes float32 only: the probabilities go to it as such.
            operator.outputs[1].type = FloatTensorType(operator.outputs[1].type.shape)

    def convert_classifier(scope, operator, container):
        model = operator.raw_operator
        graph, X = writer(scope, operator, container)
        probabilities_dtype = (np.float64 if isinstance(operator.outputs[1].type, DoubleTensorType)
                               else np.float32)
        _classifier(graph, model.network_, X, model._label_binarizer.y_type_,
                    _label_values(get_label_classes(scope, model)), operator.outputs[0].full_name,
                    operator.outputs[1].full_name, probabilities_dtype)

    def regressor_shapes(operator):
        dtype = _computing_dtype(operator.inputs[0].type, DoubleTensorType)
        kind = DoubleTensorType if dtype == np.float64 else FloatTensorType
        operator.outputs[0].type = kind([operator.inputs[0].get_first_dimension(),
                                         operator.raw_operator.n_outputs_])

    def convert_regressor(scope, operator, container):
        graph, X = writer(scope, operator, container)
        _forward(graph, operator.raw_operator.network_, X, output=operator.outputs[0].full_name)

    update_registered_converter(
        estimators.MLPClassifier, "NnbpMLPClassifier", classifier_shapes, convert_classifier,
        # scikit-learn's MLPClassifier's options in skl2onnx.
        options={"zipmap": [True, False, "columns"], "output_class_labels": [False, True],
                 "nocl": [True, False]})
    update_registered_converter(estimators.MLPRegressor, "NnbpMLPRegressor", regressor_shapes,
                                convert_regressor)


_register_with_skl2onnx()
