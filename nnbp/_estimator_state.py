"""What a model file holds of a fitted MLPClassifier or MLPRegressor, and its checks on load.

nnbp.estimators gives its models' state to nnbp.io through this module: the
estimator's parameters (get_params), the fitted attributes that predict,
predict_proba and score use, and the classifier's classes. Loading checks
each as strictly as saving writes it: a state that contradicts itself or its
network is a ValueError or TypeError naming the attribute. A module of
nnbp's own, not of the public API.
"""
from numbers import Integral, Real

import numpy as np
from sklearn.preprocessing import LabelBinarizer

from nnbp import io

# scikit-learn's names for the output activations of nnbp's outputs.
OUT_ACTIVATION_NAMES = {"softmax": "softmax", "logistic": "logistic", "squared": "identity",
                        "poisson": "exp"}
# The classifier's kinds of problem, and the network output each is fitted with.
TARGET_TYPES = {"binary": "logistic", "multiclass": "softmax",
                "multilabel-indicator": "logistic"}
# Parameters added after the model files of format version 1 were first written, with
# their defaults. A file holds one only where it is not at its default: the files of
# models that use none of them are byte for byte what the nnbp before them wrote, and
# load there. A file that uses one holds a parameter (huber_delta, quantile,
# weight_decay, max_grad_norm, warmup_fraction, dropout) or a value (loss="absolute_error",
# learning_rate="cosine") that the nnbp before them refuses by name, so it never loads
# there silently wrong. Reading, a missing one takes its default, which is what the
# files written before it trained with.
ADDED_PARAMETERS = {"huber_delta": 1.0, "quantile": 0.5, "weight_decay": 0.0,
                    "max_grad_norm": None, "warmup_fraction": 0.0, "dropout": 0.0}
# The label binarizer's fitted state that a classifier's file holds (neg_label=0,
# pos_label=1, dense output).
CLASSIFIER_EXTRA = ("y_type_", "sparse_input_")


def _check_count(name, value):
    """A saved count: an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return value


def _check_number(name, value):
    """A saved number: an int or a float (JSON's)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return value


def _check_numbers(name, value):
    """A saved list of numbers."""
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list of numbers, got {type(value).__name__}")
    for index, item in enumerate(value):
        _check_number(f"{name}[{index}]", item)
    return value


def _check_loss(name, value):
    """A saved loss: a number, as the numpy.float64 that fit gives (as scikit-learn's)."""
    return np.float64(_check_number(name, value))


def _check_losses(name, value):
    """A saved list of losses, each a numpy.float64."""
    return [np.float64(item) for item in _check_numbers(name, value)]


def _or_none(check):
    def check_or_none(name, value):
        return None if value is None else check(name, value)
    return check_or_none


def classes_to_save(classes):
    """classes_ as a 1-D array of numbers or unicode strings, the only ones a model file holds."""
    classes = np.asarray(classes)
    # NumPy pads its unicode strings with NULs and drops them when it reads one: a label
    # ending in NUL would load as another ('a' for 'a\0'), or collide with it.
    ending_in_nul = [label for label in classes.ravel().tolist()
                     if isinstance(label, str) and label.endswith("\x00")]
    if ending_in_nul:
        raise ValueError(f"classes_ holds {ending_in_nul[0]!r}, which ends in a NUL character: "
                         "a model file cannot hold it (NumPy's strings drop trailing NULs)")
    if classes.dtype == object:
        # Python objects (from a list of mixed-width strings, say): kept if
        # they are all strings or all numbers.
        values = classes.tolist()
        if all(isinstance(value, str) for value in values):
            classes = np.array(values, dtype=str)
        elif all(isinstance(value, Real) for value in values):
            classes = np.array(values)
        else:
            types = sorted({type(value).__name__ for value in values})
            raise TypeError(
                f"classes_ mixes types ({', '.join(types)}): a model file holds classes that "
                "are all numbers or all strings"
            )
    if classes.ndim != 1 or classes.dtype.kind not in "biufU":
        raise TypeError(
            f"classes_ of dtype {classes.dtype} and shape {classes.shape} cannot be saved: a "
            "model file holds a vector of numbers or unicode strings"
        )
    if classes.dtype.kind == "U":
        try:
            "".join(classes.tolist()).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("classes_ holds strings that are not valid unicode") from None
    repeated = classes[:-1][classes[:-1] == classes[1:]] if classes.ndim == 1 else []
    if len(repeated):
        # LabelBinarizer keeps y's classes in a NumPy string array, which drops trailing
        # NULs: 'a' and 'a\0' both become 'a', and predict could not tell them apart.
        raise ValueError(f"classes_ holds {repeated[0].item()!r} twice (labels that differ "
                         "only by trailing NUL characters collide in NumPy's strings)")
    return classes


# Fitted attributes that save keeps where present, each with its check on load.
SAVED_ATTRIBUTES = {
    "n_iter_": _check_count,
    "t_": _check_count,
    "loss_": _check_loss,
    "best_loss_": _or_none(_check_loss),
    "loss_curve_": _check_losses,
    "validation_scores_": _or_none(_check_numbers),
    "best_validation_score_": _or_none(_check_number),
}


def saved_state(estimator, kind: str, extra: dict, arrays: dict) -> io.SavedModel:
    """What nnbp.io.save writes of a fitted estimator: its network, parameters and fitted state.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Fitted.
    kind : str
        The model file's kind: "MLPClassifier" or "MLPRegressor".
    extra : dict
        The fitted state the estimator's class adds (classifier_extra's).
    arrays : dict
        Its arrays, by member name ({"classes": classes_to_save(...)}).

    Returns
    -------
    io.SavedModel

    Raises
    ------
    TypeError
        For a random_state that a file cannot hold (only an int or None).
    """
    params = estimator.get_params(deep=False)
    random_state = params.get("random_state")
    if not (random_state is None or isinstance(random_state, Integral)):
        raise TypeError(
            f"random_state={random_state!r} cannot be saved: only an int or None can "
            "(set_params(random_state=...) first)"
        )
    if isinstance(params.get("hidden_layer_sizes"), (tuple, np.ndarray)):
        params["hidden_layer_sizes"] = list(params["hidden_layer_sizes"])
    if params.get("dtype") is not None:
        params["dtype"] = np.dtype(params["dtype"]).name
    if np.iterable(params.get("dropout")):
        # One rate per hidden layer: JSON's list of numbers.
        params["dropout"] = [float(rate) for rate in params["dropout"]]
    for name, default in ADDED_PARAMETERS.items():
        if name in params and params[name] == default:
            del params[name]
    fitted = {"n_features_in_": estimator.n_features_in_, "n_outputs_": estimator.n_outputs_,
              "n_layers_": estimator.n_layers_, "out_activation_": estimator.out_activation_}
    attributes = vars(estimator)
    if "feature_names_in_" in attributes:
        fitted["feature_names_in_"] = list(estimator.feature_names_in_)
    for attribute in SAVED_ATTRIBUTES:
        if attribute in attributes:
            fitted[attribute] = getattr(estimator, attribute)
    fitted.update(extra)
    net = estimator.network_
    return io.SavedModel(kind, net.config(), net.params, net.metadata,
                         {"params": params, "fitted": fitted}, arrays)


def saved_parameters(class_name: str, state, parameter_names) -> tuple:
    """(params, fitted) of a model file's estimator state, its parameters checked by name.

    Parameters
    ----------
    class_name : str
        The estimator's class, for the messages.
    state : object
        The file's estimator state (JSON data).
    parameter_names : sequence of str
        The class's parameters (get_params' names): the file must hold each, and no other.

    Returns
    -------
    (dict, dict)
        The parameters, hidden_layer_sizes as a tuple, and the fitted state, unchecked.

    Raises
    ------
    ValueError
        For a state of other keys, or a parameter unknown or missing.
    """
    if set(state) != {"params", "fitted"}:
        raise ValueError(f"the state must have the keys params and fitted, got {list(state)}")
    params, fitted = state["params"], state["fitted"]
    if not isinstance(params, dict) or not isinstance(fitted, dict):
        raise ValueError("params and fitted must be JSON objects")
    unknown = sorted(set(params) - set(parameter_names))
    if unknown:
        raise ValueError(f"{class_name} has no parameter {unknown[0]!r}")
    # save writes every parameter (the added ones unless at their defaults): a
    # missing one would silently take its default.
    missing = sorted(set(parameter_names) - set(params) - set(ADDED_PARAMETERS))
    if missing:
        raise ValueError(f"the {class_name} parameter {missing[0]!r} is missing")
    for name, default in ADDED_PARAMETERS.items():
        if name in parameter_names:
            params.setdefault(name, default)
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return params, fitted


def fitted_attributes(fitted: dict, network, extra=()) -> dict:
    """The fitted attributes of a model file's fitted state, each checked against the network.

    Parameters
    ----------
    fitted : dict
        The file's fitted state.
    network : nnbp.Network
        The file's network, already restored.
    extra : sequence of str
        The names the estimator's class adds (CLASSIFIER_EXTRA): allowed, left to it to check.

    Returns
    -------
    dict
        {attribute: value} to set on the estimator, less the extra ones.

    Raises
    ------
    ValueError
        For an unknown or missing attribute, or one that contradicts the network.
    """
    sizes = network.layer_sizes
    expected = {"n_features_in_": sizes[0], "n_outputs_": sizes[-1],
                "n_layers_": len(sizes), "out_activation_": OUT_ACTIVATION_NAMES[network.output]}
    known = set(expected) | set(SAVED_ATTRIBUTES) | {"feature_names_in_"} | set(extra)
    unknown = sorted(set(fitted) - known)
    if unknown:
        raise ValueError(f"unknown fitted attribute {unknown[0]!r}")
    attributes = {}
    for attribute, value in expected.items():
        if attribute not in fitted:
            raise ValueError(f"the fitted attribute {attribute} is missing")
        if type(fitted[attribute]) is not type(value) or fitted[attribute] != value:
            raise ValueError(f"{attribute} is {fitted[attribute]!r}, but the network's "
                             f"{network!r} needs {value!r}")
        attributes[attribute] = value
    for attribute, check in SAVED_ATTRIBUTES.items():
        if attribute in fitted:
            attributes[attribute] = check(attribute, fitted[attribute])
    if "feature_names_in_" in fitted:
        names = fitted["feature_names_in_"]
        if (not isinstance(names, list) or len(names) != sizes[0]
                or not all(isinstance(name, str) for name in names)):
            raise ValueError(f"feature_names_in_ must be a list of {sizes[0]} strings")
        attributes["feature_names_in_"] = np.asarray(names, dtype=object)
    return attributes


def classifier_extra(label_binarizer: LabelBinarizer) -> dict:
    """The classifier's fitted state beyond the common one: its label binarizer's.

    Parameters
    ----------
    label_binarizer : sklearn.preprocessing.LabelBinarizer
        Fitted.

    Returns
    -------
    dict
        {"y_type_": str, "sparse_input_": bool}.
    """
    return {"y_type_": label_binarizer.y_type_,
            "sparse_input_": bool(label_binarizer.sparse_input_)}


def restored_label_binarizer(fitted: dict, arrays: dict, out_activation: str,
                             n_outputs: int) -> LabelBinarizer:
    """The classifier's label binarizer of a model file, checked against its network.

    Parameters
    ----------
    fitted : dict
        The file's fitted state (its ``y_type_`` and ``sparse_input_``).
    arrays : dict
        The file's arrays (its classes).
    out_activation, n_outputs : str, int
        The restored estimator's ``out_activation_`` and ``n_outputs_``.

    Returns
    -------
    LabelBinarizer
        Fitted: its ``classes_`` are the classifier's.

    Raises
    ------
    ValueError
        For a kind of problem, classes or outputs that do not fit together.
    """
    y_type, sparse_input = fitted.get("y_type_"), fitted.get("sparse_input_")
    if y_type not in TARGET_TYPES:
        raise ValueError(f"y_type_ must be one of {', '.join(TARGET_TYPES)}, got {y_type!r}")
    if not isinstance(sparse_input, bool):
        raise ValueError(f"sparse_input_ must be true or false, got {sparse_input!r}")
    classes = np.array(arrays["classes"])   # a writable copy
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise ValueError("classes holds NaN or infinity")
    if not (classes[:-1] < classes[1:]).all():
        raise ValueError("classes must be sorted and distinct, as classes_ always is")
    output = TARGET_TYPES[y_type]
    # Binary: one logistic output for one or two classes; else one output per class.
    n_expected = 1 if y_type == "binary" else len(classes)
    if out_activation != OUT_ACTIVATION_NAMES[output] or n_outputs != n_expected or (
            y_type == "binary" and len(classes) > 2):
        raise ValueError(
            f"{len(classes)} classes of a {y_type} problem need {n_expected} "
            f"{output} output{'s' * (n_expected > 1)}, but the network has {n_outputs} "
            f"{out_activation} output{'s' * (n_outputs > 1)}"
        )
    binarizer = LabelBinarizer()
    binarizer.y_type_, binarizer.sparse_input_, binarizer.classes_ = (
        y_type, sparse_input, classes)
    return binarizer


def check_regressor_output(out_activation: str) -> None:
    """Refuse a regressor's file whose network has a classifier's output.

    Parameters
    ----------
    out_activation : str
        The restored estimator's ``out_activation_``.

    Raises
    ------
    ValueError
        Unless it is identity or exp.
    """
    if out_activation not in ("identity", "exp"):
        raise ValueError(f"a regressor's output is identity or exp, got {out_activation!r}")
