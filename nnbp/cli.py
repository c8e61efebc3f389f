"""The command line: nnbp train, predict, gradcheck, info, export, bench and demo (python -m nnbp).

Every command reports bad input (missing files, absent columns, cells that
are not numbers, impossible options) in one line on stderr with a non-zero
exit code; --debug shows the traceback instead.

The public names are ``main``, the ``nnbp`` command itself, and
``build_parser``, its argument parser. The commands' functions are not: their
docstrings are the commands' help texts.

Examples
--------
>>> from nnbp.cli import main
>>> main(["info"])  # doctest: +ELLIPSIS
nnbp ...
  python: ...
0
"""
from __future__ import annotations

import argparse
import contextlib
import decimal
import importlib
import math
import os
import pathlib
import sys
import time

import numpy as np

from nnbp._version import __version__
from nnbp._show_versions import show_versions
from nnbp.datasets import load_digits
from nnbp.gradcheck import DEFAULT_SAMPLE, check_gradients
from nnbp.network import ACTIVATIONS, OUTPUTS, Network
from nnbp.optim import SGD, Adam, minimize_lbfgs
from nnbp.io import fold_standardisation, unfold_standardisation, write_atomically
from nnbp.losses import REGRESSION_LOSSES, AbsoluteError, HuberLoss, PinballLoss
from nnbp.tabular import read_table, standardisation, write_csv
from nnbp.training import DivergenceError, INTERRUPTED, StochasticTrainer

__all__ = ["build_parser", "main"]

SOLVERS = ("adam", "sgd", "lbfgs", "gd")
CLASS_OUTPUTS = ("softmax", "logistic")
GRADCHECK_ROWS = 20


class CommandError(Exception):
    """A problem with what the user asked for, reported in one line."""


def held_out_split(n, fraction, seed):
    """(train, held_out) row indices: a seeded random fraction held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_held_out = int(round(fraction * n))
    return order[n_held_out:], order[:n_held_out]


def demo(args):
    """Verify a network's gradients, then train it on the UCI handwritten digits."""
    dtype = np.dtype(args.dtype)
    X, y = load_digits(dtype)
    X /= 16                                   # pixels 0..16 to 0..1
    train, held_out = held_out_split(X.shape[0], 0.2, args.seed)
    net = Network([64, args.hidden, 10], activation="relu", output="softmax", dtype=dtype,
                  alpha=1e-4, seed=args.seed)
    print(f"nnbp demo: {net}\n  data: UCI handwritten digits, 8x8 images, "
          f"{train.size} to train on, {held_out.size} held out\n")

    print(check_gradients(net, X[train[:20]], y[train[:20]]), end="\n\n")

    def accuracy(rows):
        return np.mean(np.argmax(net.forward(X[rows]), axis=1) == y[rows])

    def progress(trainer):
        print(f"  epoch {trainer.n_iter:>3}/{args.epochs}  loss {trainer.loss:.4f}  "
              f"held-out accuracy {accuracy(held_out):.1%}")

    trainer = StochasticTrainer(net, Adam(learning_rate=args.learning_rate),
                                batch_size=args.batch_size,
                                random_state=np.random.default_rng(args.seed),
                                n_iter_no_change=np.inf)
    start = time.perf_counter()
    trainer.fit(X[train], y[train], max_epochs=args.epochs, on_epoch=progress)
    seconds = time.perf_counter() - start
    print(f"\n  {args.epochs} epochs of Adam (batch {args.batch_size}) in {seconds:.2f} s, "
          "scoring included")
    print(f"  accuracy: training {accuracy(train):.1%}, held out {accuracy(held_out):.1%}")
    return 0


# ---------------------------------------------------------------- nnbp train

def label_key(cell, numeric):
    """What makes a class of a label cell: in a column of numbers, the exact value (7, 7.0
    and 07 are one class; 12345678901234567890 and ...891 are two, as float64 would not
    tell them apart); else the text."""
    if numeric:
        with contextlib.suppress(decimal.InvalidOperation):
            value = decimal.Decimal(cell)
            if value.is_finite():
                return value
    return cell


def class_labels(spelled, numeric):
    """(the classes' labels, each row's class index) of a target column's cells.

    Classes are sorted (by value in a column of numbers); each is labelled as the
    training file spells it (its shortest spelling, the first of equal ones), so that
    predictions come out as written: "02139", not 2139.
    """
    # Each distinct spelling once (a column of a million rows has a few), in the order
    # of its first row, so that the first of equal spellings is the first written.
    spellings, first, inverse = np.unique(spelled, return_index=True, return_inverse=True)
    by_row = np.argsort(first, kind="stable")
    spellings, inverse = spellings[by_row].tolist(), np.argsort(by_row)[inverse]
    keys = [label_key(cell, numeric) for cell in spellings]
    if not all(isinstance(key, decimal.Decimal) for key in keys):
        keys = spellings                    # text: each spelling its own class
    label = {}
    for key, cell in zip(keys, spellings):
        if key not in label or len(cell) < len(label[key]):
            label[key] = cell
    order = {key: k for k, key in enumerate(sorted(label))}
    classes = np.array([order[key] for key in keys])
    return [label[key] for key in sorted(label)], classes[inverse]


def saved_labels(labels):
    """Labels for the metadata: JSON integers where every label is an integer's plain
    spelling within int64 (nnbp export's label tensor is then int64), else the text."""
    integers = []
    for label in labels:
        value = label_key(label, True)
        if not (isinstance(value, decimal.Decimal) and value == value.to_integral_value()
                and str(int(value)) == label and -2**63 <= int(value) < 2**63):
            return labels
        integers.append(int(value))
    return integers


def encode_target(target, spelled, output, inferred):
    """(output, y for the network, class labels or None, number of outputs) of the target.

    A classification of two classes whose output was inferred has one logistic unit, as
    MLPClassifier and scikit-learn's have.
    """
    if output in CLASS_OUTPUTS:
        classes, y = class_labels(spelled, numeric=target.dtype.kind == "f")
        if len(classes) < 2:
            raise CommandError(f"the target has a single class ({classes[0]}): nothing to learn")
        if inferred and len(classes) == 2:
            output = "logistic"
        if output == "logistic":
            if len(classes) != 2:
                raise CommandError(f"--output logistic takes two classes, the target has "
                                   f"{len(classes)}: use --output softmax")
            return output, y.astype(np.float64), classes, 1
        return output, y, classes, len(classes)
    if target.dtype.kind != "f":
        raise CommandError(f"the target holds text (such as {target[0]!r}), which --output "
                           f"{output} cannot fit: use --output softmax for classes")
    return output, target, None, 1


def infer_output(target, spelled):
    """(output, what the target holds), by scikit-learn's convention (type_of_target):
    text and integers are class labels, other numbers a regression target."""
    if target.dtype.kind != "f":
        return "softmax", "text"
    if not np.all(target == np.round(target)):
        return "squared", "numbers that are not all integers"
    # float64 holds every integer below 2**53 exactly; beyond, 1e16 + 0.5 reads as one.
    values = [label_key(cell, True) for cell in np.unique(spelled[np.abs(target) >= 2**53])]
    if all(isinstance(value, decimal.Decimal) and value == value.to_integral_value()
           for value in values):
        return "softmax", "integers"
    return "squared", "numbers that are not all integers"


def describe_task(args, output, classes, holds):
    """One line: the task, and how it was chosen (--output, or inferred from the target)."""
    task = f"classification of {len(classes)} classes" if classes is not None else "regression"
    if args.output is not None:
        return f"  {task} (--output {output})"
    override = {"integers": " (--output squared for a regression)",
                "numbers that are not all integers": " (--output softmax to take its values "
                                                     "as class labels)"}.get(holds, "")
    return f"  {task}: the target {args.target!r} holds {holds}{override}"


def score(net, X, y, classes):
    """Accuracy for classes, R^2 for numbers: what scikit-learn's score() reports."""
    outputs = net.forward(X)
    if classes is not None:
        # A logistic output's second class where p > 0.5: scikit-learn's threshold.
        predicted = (outputs[:, 0] > 0.5) if outputs.shape[1] == 1 else outputs.argmax(axis=1)
        return float(np.mean(predicted == y))
    residual = np.sum((y.reshape(outputs.shape) - outputs) ** 2)
    total = np.sum((y.reshape(outputs.shape) - y.mean(axis=0)) ** 2)
    return float(1 - residual / total) if total > 0 else 0.0


def describe_score(value, classes):
    return f"accuracy {value:.1%}" if classes is not None else f"R^2 {value:.4f}"


def train(args):
    """Train a network on a table and save it."""
    table = read_table(args.data, label_columns=[args.target], required=[args.target])
    target, spelled = table.column(args.target), table.spelling(args.target)
    features = [name for name in table.columns if name != args.target]
    if not features:
        raise CommandError(f"{args.data}: no columns besides the target {args.target!r}")
    X = table.matrix(features)
    output, holds = infer_output(target, spelled)
    output, y, classes, n_outputs = encode_target(target, spelled, args.output or output,
                                                  inferred=args.output is None)
    if not args.no_scale:
        # Inputs of unit scale keep the default learning rates and init sensible. The
        # network is trained on standardised rows; the standardisation is then folded
        # into its first layer, so that the saved network itself takes raw rows.
        mean, scale = standardisation(args.data, features, X, np.dtype(args.dtype))
        X = (X - mean) / scale
    train_rows, held_out = held_out_split(X.shape[0], args.validation_fraction, args.seed)
    if args.validation_fraction > 0 and not (train_rows.size and held_out.size):
        raise CommandError(f"--validation-fraction {args.validation_fraction} of "
                           f"{X.shape[0]} rows leaves no rows to hold out or to train on")
    net = Network((X.shape[1], *args.hidden, n_outputs), activation=args.activation,
                  output=output, dtype=args.dtype, alpha=args.alpha, seed=args.seed)
    args.loss_object = training_loss(args, output)
    X_train, y_train = X[train_rows], y[train_rows]
    print(f"nnbp train: {net}\n{describe_task(args, output, classes, holds)}\n"
          f"  {X_train.shape[0]} rows to train on, {held_out.size} held out; "
          f"{len(features)} features")
    history = []

    def after_epoch(epoch, loss, bar):
        entry = {"epoch": epoch, "loss": float(loss)}
        if held_out.size:
            entry["validation_score"] = score(net, X[held_out], y[held_out], classes)
        if args.diagnostics:
            from nnbp.diagnostics import layer_diagnostics
            entry.update(layer_diagnostics(net, X_train, y_train))
        history.append(entry)
        bar.set_postfix_str(f"loss {loss:.4g}" + (f", validation {entry['validation_score']:.4g}"
                                                   if held_out.size else ""))
        bar.update(1)
        if args.diagnostics:
            bar.write(f"  epoch {epoch}: gradient norm by layer "
                      + " ".join(f"{g:.3g}" for g in entry["gradient_norms"])
                      + "; saturated units by hidden layer "
                      + " ".join(f"{s:.1%}" for s in entry["saturation"]))

    start = time.perf_counter()
    ended = run_solver(args, net, X_train, y_train, after_epoch)
    seconds = time.perf_counter() - start
    metadata = {"task": "classification" if classes is not None else "regression",
                "target": args.target, "features": features}
    if args.loss_object is not None:
        metadata["loss"] = repr(args.loss_object)
    if classes is not None:
        metadata["classes"] = saved_labels(classes)
    if not args.no_scale:
        try:
            metadata["folded_standardisation"] = fold_standardisation(net, mean, scale)
        except ValueError as error:
            raise CommandError(f"the trained network cannot take raw rows: {error}") from None
    net.save(args.out, metadata=metadata)
    last = history[-1] if history else {"loss": float("nan")}
    print(f"  {len(history)} {'iterations' if args.solver == 'lbfgs' else 'epochs'} of "
          f"{args.solver} in {seconds:.2f} s" + (", interrupted" if ended == INTERRUPTED else "")
          + f"; training loss {last['loss']:.4g}"
          + (f", validation {describe_score(last['validation_score'], classes)}"
             if "validation_score" in last else ""))
    if args.plot:
        from nnbp.plotting import plot_training
        plot_training([entry["loss"] for entry in history],
                      history if args.diagnostics else None, args.plot,
                      validation_scores=[entry["validation_score"] for entry in history]
                      if held_out.size else None)
        print(f"  plot: {args.plot}")
    print(f"  model: {args.out}")
    return 0


def training_loss(args, output):
    """The loss object of --loss (with --huber-delta or --quantile), or None."""
    if args.loss is None:
        return None
    if output != "squared":
        raise CommandError(f"--loss {args.loss} is a loss of a regression (the squared "
                           f"output), not of the {output} output")
    if args.loss == "quantile" and not 0 < args.quantile < 1:
        raise CommandError(f"--quantile must be in (0, 1), got {args.quantile}")
    return {"huber": lambda: HuberLoss(args.huber_delta), "absolute_error": AbsoluteError,
            "quantile": lambda: PinballLoss(args.quantile)}[args.loss]()


def run_solver(args, net, X, y, after_epoch):
    """Train net by the chosen solver for args.epochs epochs (lbfgs: iterations)."""
    from tqdm import tqdm

    unit = "iteration" if args.solver == "lbfgs" else "epoch"
    # disable=None: a bar on a terminal only, not thousands of updates in a log file.
    with tqdm(total=args.epochs, unit=unit, disable=True if args.quiet else None, file=sys.stderr,
              dynamic_ncols=True, leave=False) as bar:
        dropout = dropout_option(args, net)
        try:
            if args.solver == "lbfgs":
                minimize_lbfgs(net, X, y, max_iter=args.epochs, loss=args.loss_object,
                               callback=lambda iteration, loss: after_epoch(iteration, loss, bar))
                return None
            batch_size = X.shape[0] if args.solver == "gd" else min(args.batch_size, X.shape[0])
            extras = optimizer_options(args, math.ceil(X.shape[0] / batch_size))
            optimizer = {"adam": lambda: Adam(learning_rate=args.lr, **extras),
                         "sgd": lambda: SGD(learning_rate=args.lr, **extras),
                         "gd": lambda: SGD(learning_rate=args.lr, momentum=0.0, **extras)
                         }[args.solver]()
            trainer = StochasticTrainer(net, optimizer, batch_size=batch_size,
                                        random_state=np.random.default_rng(args.seed),
                                        tol=0.0, n_iter_no_change=np.inf,
                                        loss=args.loss_object, dropout=dropout)
            return trainer.fit(X, y, max_epochs=args.epochs,
                               on_epoch=lambda t: after_epoch(t.n_iter, t.loss, bar))
        except DivergenceError as error:
            raise CommandError(str(error)) from None


def dropout_option(args, net):
    """--dropout's rates for net's hidden layers, checked (0.0: none); refused by lbfgs."""
    try:
        rates = net.check_dropout(args.dropout)
    except ValueError as error:
        raise CommandError(f"--dropout: {error}") from None
    if rates is not None and args.solver == "lbfgs":
        raise CommandError("--dropout trains with the stochastic solvers (adam, sgd, gd), not "
                           "lbfgs, which is deterministic")
    return 0.0 if rates is None else rates


def optimizer_options(args, batches_per_epoch):
    """The optimizer's options beyond the learning rate: --weight-decay, --max-grad-norm,
    and --lr-schedule cosine over all the epochs' updates, --warmup of them first."""
    extras = {"weight_decay": args.weight_decay, "max_grad_norm": args.max_grad_norm}
    if args.lr_schedule == "cosine":
        total = args.epochs * batches_per_epoch
        extras.update(schedule="cosine", total_steps=total,
                      warmup_steps=int(args.warmup * total))
    elif args.warmup:
        raise CommandError("--warmup needs --lr-schedule cosine")
    return extras


# ---------------------------------------------------------------- predict, gradcheck, info

def load_model(path):
    """(model, its network, the network's metadata) of a model file.

    The model is a Network (what nnbp train writes) or a fitted estimator
    saved from Python.
    """
    import nnbp
    model = nnbp.load(path)
    net = model if isinstance(model, Network) else model.network_
    metadata = dict(getattr(net, "metadata", {}))
    problem = metadata_problem(net, metadata)
    if problem is not None:
        raise CommandError(f"{path}: its metadata does not fit its network: {problem}")
    return model, net, metadata


def metadata_problem(net, metadata):
    """What is wrong with the target and features of a model's metadata, or None."""
    target, features = metadata.get("target"), metadata.get("features")
    if target is not None and not isinstance(target, str):
        return f"target must be a column name (text), got {type(target).__name__}"
    if features is None:
        return None
    if not isinstance(features, list):
        return f"features must be a list of column names, got {type(features).__name__}"
    for k, name in enumerate(features):
        if not isinstance(name, str):
            return f"features[{k}] must be a column name (text), got {type(name).__name__}"
    if len(features) != net.layer_sizes[0]:
        return (f"features has {len(features)} names, but the network takes "
                f"{net.layer_sizes[0]} inputs")
    return None


def model_inputs(net, metadata, table):
    """The model's features from the table: raw, as the network takes them (nnbp train
    folds its standardisation into the network, and nnbp.load that of older files)."""
    features = metadata.get("features") or [
        name for name in table.columns if name != metadata.get("target")]
    if len(features) != net.layer_sizes[0]:
        raise CommandError(f"{table.path}: {len(features)} feature columns, but the model "
                           f"takes {net.layer_sizes[0]}")
    return table.matrix(features)


def predict(args):
    """Write the model's prediction for each row of a table, as CSV."""
    model, net, metadata = load_model(args.model)
    if not isinstance(model, Network):
        return predict_with_estimator(args, model)
    target = metadata.get("target")
    classes = model_classes(net, metadata, args.model)
    table = read_table(args.data, label_columns=[target] if target else [])
    outputs = net.forward(model_inputs(net, metadata, table))
    name = target or "prediction"
    if classes is not None:
        chosen = ((outputs[:, 0] > 0.5).astype(int) if outputs.shape[1] == 1
                  else outputs.argmax(axis=1))
        write_csv(args.out, [name], ([classes[k]] for k in chosen))
    else:
        write_values(args.out, name, outputs)
    return 0


def model_classes(net, metadata, path):
    """The class labels of a network's metadata as text, checked against the network (two
    for one logistic output, else one per output); None for a regression.

    Raises CommandError naming the model file and what does not fit.
    """
    classes = metadata.get("classes")
    if classes is None:
        return None
    n_outputs = net.layer_sizes[-1]
    expected = 2 if n_outputs == 1 else n_outputs
    if not isinstance(classes, list):
        problem = f"classes must be a list of labels, got {type(classes).__name__}"
    elif any(isinstance(c, bool) or not isinstance(c, (str, int, float)) for c in classes):
        k, label = next((k, c) for k, c in enumerate(classes)
                        if isinstance(c, bool) or not isinstance(c, (str, int, float)))
        problem = f"classes[{k}] must be a label (text or a number), got {type(label).__name__}"
    elif len(classes) != expected:
        problem = (f"classes has {len(classes)} labels, but the network has {n_outputs} "
                   f"output{'s' * (n_outputs > 1)}"
                   + (" (one logistic unit: two classes)" if n_outputs == 1 else ""))
    else:
        return [label if isinstance(label, str) else str(label) for label in classes]
    raise CommandError(f"{path}: its metadata does not fit its network: {problem}")


def predict_with_estimator(args, estimator):
    """predict of an estimator saved from Python: it knows no column names, so the
    table must hold exactly its features, in its order."""
    table = read_table(args.data)
    if len(table.columns) != estimator.n_features_in_:
        raise CommandError(
            f"{args.data}: {len(table.columns)} columns, but the {type(estimator).__name__} "
            f"in {args.model} takes {estimator.n_features_in_} features and records no "
            "column names: give a table of exactly its features, in order")
    predicted = estimator.predict(table.matrix(table.columns))
    if predicted.ndim == 1 and predicted.dtype.kind != "f":
        write_csv(args.out, ["prediction"], ([label] for label in predicted))
    else:
        write_values(args.out, "prediction", predicted.reshape(predicted.shape[0], -1))
    return 0


def write_values(path, name, values):
    """Numbers, one row per example: a column of name, or name_0, name_1, ... for several."""
    header = [name] if values.shape[1] == 1 else [f"{name}_{k}" for k in range(values.shape[1])]
    write_csv(path, header, ([repr(float(v)) for v in row] for row in values))


def gradient_check_data(net, metadata, path, rows, seed):
    """(X, y) for a gradient check: rows of a table, or random ones shaped for net.

    Rows of a table are checked as the network was trained: standardised, net's
    first layer taking the standardisation nnbp train folded into it back out
    (in place: net is the command's own, loaded for the check). Raw rows of
    large features through the folded layer would make the finite differences
    cross the units' kinks.
    """
    if path is None:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((rows, net.layer_sizes[0]))
        m = net.layer_sizes[-1]
        y = {"softmax": lambda: rng.integers(0, m, rows),
             "logistic": lambda: rng.integers(0, 2, (rows, m)).astype(float),
             "squared": lambda: rng.standard_normal((rows, m)),
             "poisson": lambda: rng.exponential(size=(rows, m))}[net.output]()
        return X, y
    target = metadata.get("target")
    table = read_table(path, label_columns=[target] if target else [])
    if target is None or target not in table.values:
        raise CommandError(f"{path}: a gradient check needs the target column "
                           f"{target!r} beside the features")
    X = model_inputs(net, metadata, table)[:rows]
    folded = metadata.get("folded_standardisation")
    if folded is not None:
        try:
            unfold_standardisation(net, folded)
        except ValueError as error:
            raise CommandError(f"the model's folded_standardisation: {error}") from None
        X = (X - folded["mean"]) / np.asarray(folded["scale"])
    labels = table.values[target][:rows]
    classes = model_classes(net, metadata, "the model")
    if classes is None:
        return X, labels
    numeric = labels.dtype.kind == "f"
    index = {label_key(c, numeric): k for k, c in enumerate(classes)}
    cells = table.spelling(target)[:rows].tolist()
    unknown = sorted({cell for cell in cells if label_key(cell, numeric) not in index})
    if unknown:
        raise CommandError(f"{path}: target values {unknown[:5]} are not among the model's "
                           "classes")
    y = np.array([index[label_key(cell, numeric)] for cell in cells])
    return X, (y.astype(float)[:, None] if net.output == "logistic" else y)


def gradcheck(args):
    """Check a saved (or a freshly made small) network's gradients by finite differences."""
    if args.model is None:
        if args.data is not None:
            raise CommandError("--data needs a MODEL: the fresh network has no features")
        # With --loss, a regression's network: the robust losses take its logits.
        net, metadata = Network((4, 6, 5, 3), activation="tanh",
                                output="softmax" if args.loss is None else "squared",
                                seed=args.seed), {}
    else:
        model, net, metadata = load_model(args.model)
        if args.data is not None and not isinstance(model, Network):
            raise CommandError(f"{args.model}: a {type(model).__name__} records no column "
                               "names, so --data cannot be matched to it: leave --data out "
                               "to check on random rows")
    loss = training_loss(args, net.output)
    X, y = gradient_check_data(net, metadata, args.data, args.rows, args.seed)
    report = check_gradients(net, X, y, sample=args.sample, loss=loss)
    print(report)
    return 0 if report.passed else 1


def info(args):
    """Describe a saved model; without one, what runs (nnbp.show_versions())."""
    if args.model is None:
        show_versions()
        return 0
    model, net, metadata = load_model(args.model)
    print(f"{args.model}: {net}" if model is net else f"{args.model}: a fitted {model!r}")
    print(f"  {net.n_params} parameters in {net.n_layers} layers, "
          f"{'-'.join(map(str, net.layer_sizes))}")
    if model is not net:
        metadata = {"classes": list(getattr(model, "classes_", [])) or None,
                    "iterations": model.n_iter_, **metadata}
    for key in ("task", "target", "classes", "features", "iterations", "nnbp_version",
                "saved", "format_version"):
        if metadata.get(key) is not None:
            value = metadata[key]
            print(f"  {key}: {listed(value) if isinstance(value, list) else value}")
    return 0


def listed(values):
    """values separated by commas, the first 12 of a longer list."""
    if len(values) > 12:
        return ", ".join(map(str, values[:12])) + f", ... ({len(values)} in all)"
    return ", ".join(map(str, values))


def export(args):
    """Write a saved model as an ONNX graph, to serve with onnxruntime (needs nnbp[onnx])."""
    from nnbp import onnx as nnbp_onnx

    model, net, metadata = load_model(args.model)
    options = dict(dtype=args.dtype, zipmap=args.zipmap, target_opset=args.opset)
    if isinstance(model, Network):
        # As nnbp predict uses it: raw rows (the network takes the standardisation in),
        # and class labels for a classifier.
        model_classes(net, metadata, args.model)
        graph = nnbp_onnx.to_onnx(net, classes=metadata.get("classes"), **options)
    else:
        graph = nnbp_onnx.to_onnx(model, **options)
    write_atomically(args.out, graph.SerializeToString())
    X, = graph.graph.input
    dtype = args.dtype or net.dtype.name
    features, n_features = metadata.get("features"), net.layer_sizes[0]
    folded = isinstance(model, Network) and "folded_standardisation" in metadata
    print(f"nnbp export: {args.model} as ONNX (opset {graph.opset_import[0].version}, {dtype}): "
          f"{args.out}\n  input {X.name}: {n_features} feature{'s' * (n_features > 1)}"
          + (f" ({listed(features)})" if features else "") + f", {dtype}"
          + (", standardised in the graph" if folded else "")
          + f"\n  outputs: {', '.join(output.name for output in graph.graph.output)}")
    return 0


def checkout_bench(start: pathlib.Path) -> "pathlib.Path | None":
    """The bench/ folder of the nnbp checkout at start or above it.

    The benchmark (the package nnbp_bench) is not in the installed wheel: it
    lives in a checkout's bench/, beside the results the README quotes.

    Parameters
    ----------
    start : pathlib.Path
        The folder to look in first; then each folder above it.

    Returns
    -------
    pathlib.Path or None
        The first bench/ found that holds nnbp_bench, or None.
    """
    for folder in (start, *start.parents):
        if (folder / "bench" / "nnbp_bench" / "__init__.py").is_file():
            return folder / "bench"
    return None


def bench(rest):
    """nnbp bench: the checkout's benchmark (nnbp_bench.main) with the arguments rest."""
    try:
        folder = checkout_bench(pathlib.Path.cwd())
    except OSError:             # the working directory was removed
        folder = None
    if folder is None:
        print("nnbp bench: error: the benchmark lives in a checkout's bench/, not in the "
              "installed package: run nnbp bench from inside a checkout of nnbp, or "
              "python bench/run.py there", file=sys.stderr)
        return 1
    # bench/ alone, never the checkout's top, whose nnbp/ would shadow the
    # installed, compiled package.
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module("nnbp_bench").main(rest)


# ---------------------------------------------------------------- arguments

def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def dropout_rates(text):
    """--dropout: one rate in [0, 1) for every hidden layer, or one per hidden layer
    (0.2,0.1)."""
    try:
        rates = [float(piece) for piece in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a rate, or rates separated by commas, "
                                         f"got {text!r}") from None
    for rate in rates:
        if not 0 <= rate < 1:
            raise argparse.ArgumentTypeError(f"each rate must be in [0, 1), got {rate}")
    return rates[0] if len(rates) == 1 else tuple(rates)


def non_negative(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a float, got {text!r}") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def fraction(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def widths(text):
    """'128,64' as (128, 64); '' as no hidden layer."""
    try:
        sizes = tuple(int(part) for part in text.split(",")) if text.strip() else ()
    except ValueError:
        sizes = None
    if sizes is None or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"hidden layer widths must be positive integers separated by commas, got {text!r}")
    return sizes


def zipmap_form(text):
    if text != "columns":
        raise argparse.ArgumentTypeError(f"--zipmap takes no value or 'columns', got {text!r}")
    return text


def add_loss_options(command: argparse.ArgumentParser) -> None:
    """--loss, --huber-delta and --quantile, as train and gradcheck take them (training_loss
    makes the loss object of them, and checks what the parser cannot)."""
    command.add_argument("--loss", choices=REGRESSION_LOSSES,
                         help="a robust loss for a regression (squared output) in place of "
                              "the squared error: huber, absolute_error or quantile")
    command.add_argument("--huber-delta", type=positive(float), default=1.0,
                         help="the threshold of --loss huber (default 1.0)")
    command.add_argument("--quantile", type=fraction, default=0.5,
                         help="the quantile of --loss quantile, in (0, 1) (default 0.5)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nnbp`` command, with one subcommand per command.

    Each subcommand's parsed arguments carry its function as ``handler``
    (but ``bench``'s, which the benchmark's own parser reads).

    Returns
    -------
    argparse.ArgumentParser
        The parser.

    See Also
    --------
    main : Parses the command line with it and runs the command.

    Examples
    --------
    >>> from nnbp.cli import build_parser
    >>> args = build_parser().parse_args(["train", "data.csv", "--target", "y",
    ...                                   "--hidden", "32,16"])
    >>> args.command, args.hidden, args.solver, args.epochs
    ('train', (32, 16), 'adam', 50)
    """
    parser = argparse.ArgumentParser(prog="nnbp", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"nnbp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks")

    training = commands.add_parser("train", parents=[common], help=train.__doc__,
                                   description=train.__doc__)
    training.add_argument("data", help="a CSV with a header row, an .npz of columns or an .npy")
    training.add_argument("--target", required=True, help="the column to predict")
    training.add_argument("--hidden", type=widths, default=(100,),
                          help="hidden layer widths, such as 128,64 (default 100)")
    training.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    training.add_argument("--output", choices=OUTPUTS,
                          help="default: softmax for a target of text or integers (class "
                               "labels), else squared")
    training.add_argument("--solver", choices=SOLVERS, default="adam",
                          help="gd is full-batch gradient descent")
    training.add_argument("--epochs", type=positive(int), default=50,
                          help="epochs (lbfgs: iterations), default 50")
    training.add_argument("--batch-size", type=positive(int), default=200)
    training.add_argument("--lr", type=positive(float), default=0.001, help="learning rate")
    training.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty")
    training.add_argument("--weight-decay", type=non_negative, default=0.0,
                          help="decoupled weight decay: p = (1 - lr wd) p at each update "
                               "(AdamW with adam), default 0")
    training.add_argument("--max-grad-norm", type=positive(float), default=None,
                          help="clip each batch's gradient to this global norm (default: none)")
    training.add_argument("--dropout", type=dropout_rates, default=0.0,
                          help="inverted dropout on the hidden layers, in training only: a "
                               "rate in [0, 1) for all, or one per hidden layer such as 0.2,0.1 "
                               "(default 0: none; not with lbfgs)")
    training.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                          help="cosine: the learning rate falls from --lr to 0 over the epochs")
    training.add_argument("--warmup", type=fraction, default=0.0,
                          help="with --lr-schedule cosine, the fraction of the updates over "
                               "which the learning rate first rises linearly (default 0)")
    add_loss_options(training)
    training.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    training.add_argument("--validation-fraction", type=fraction, default=0.1)
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--no-scale", action="store_true",
                          help="do not standardise the features (mean 0, variance 1)")
    training.add_argument("--out", default="model.npz", help="the model file (model.npz)")
    training.add_argument("--quiet", action="store_true", help="no progress bar")
    training.add_argument("--diagnostics", action="store_true",
                          help="print each layer's gradient norm and saturated units per epoch")
    training.add_argument("--plot", help="draw the loss curve (and diagnostics) to this PNG")
    training.set_defaults(handler=train)

    predicting = commands.add_parser("predict", parents=[common], help=predict.__doc__,
                                     description=predict.__doc__)
    predicting.add_argument("model")
    predicting.add_argument("data")
    predicting.add_argument("--out", help="the CSV to write (default: standard output)")
    predicting.set_defaults(handler=predict)

    checking = commands.add_parser("gradcheck", parents=[common], help=gradcheck.__doc__,
                                   description=gradcheck.__doc__)
    checking.add_argument("model", nargs="?")
    checking.add_argument("--data", help="rows to check on (default: random ones)")
    checking.add_argument("--rows", type=positive(int), default=GRADCHECK_ROWS)
    checking.add_argument("--sample", type=positive(int), default=DEFAULT_SAMPLE,
                          help="parameters differenced per block, at most (default "
                               f"{DEFAULT_SAMPLE}, as nnbp.check_gradients)")
    checking.add_argument("--seed", type=int, default=0)
    add_loss_options(checking)
    checking.set_defaults(handler=gradcheck)

    describing = commands.add_parser("info", parents=[common], help=info.__doc__,
                                     description=info.__doc__)
    describing.add_argument("model", nargs="?")
    describing.set_defaults(handler=info)

    exporting = commands.add_parser("export", parents=[common], help=export.__doc__,
                                    description=export.__doc__)
    exporting.add_argument("model")
    exporting.add_argument("--format", choices=["onnx"], default="onnx")
    exporting.add_argument("out", help="the file to write, such as model.onnx")
    exporting.add_argument("--dtype", choices=["float32", "float64"],
                           help="of the input and the computation (default: the model's)")
    exporting.add_argument("--zipmap", nargs="?", const=True, default=False, type=zipmap_form,
                           help="classifiers: probabilities as a list of {class: probability} "
                                "(float32), or with 'columns' one output per class; default: "
                                "the tensors label and probabilities")
    exporting.add_argument("--opset", type=positive(int), help="ONNX opset (default 17)")
    exporting.set_defaults(handler=export)

    demo_parser = commands.add_parser("demo", parents=[common], help=demo.__doc__)
    demo_parser.add_argument("--epochs", type=positive(int), default=30)
    demo_parser.add_argument("--hidden", type=positive(int), default=64,
                             help="width of the hidden layer")
    demo_parser.add_argument("--batch-size", type=positive(int), default=32)
    demo_parser.add_argument("--learning-rate", type=positive(float), default=0.01)
    demo_parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    demo_parser.add_argument("--seed", type=int, default=0)
    demo_parser.set_defaults(handler=demo)

    commands.add_parser("bench", add_help=False,
                        help="time nnbp against its GEMM floor, NumPy, PyTorch and "
                             "scikit-learn, from a checkout's bench/ (nnbp bench --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``nnbp`` command: ``nnbp train``, ``predict``, ``gradcheck``, ...

    A problem the user can fix (a missing file, a bad option or cell) is
    reported in one line on stderr, with exit code 1 (130 for an
    interruption); ``--debug`` raises it with its traceback instead.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments, without the program's name; None: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 on success.

    See Also
    --------
    build_parser : The command line's parser.

    Examples
    --------
    >>> from nnbp.cli import main
    >>> main(["info"])  # doctest: +ELLIPSIS
    nnbp ...
    0
    """
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return bench(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.handler(args)
    except BrokenPipeError:
        # The reader went away (nnbp predict ... | head): not an error. Python
        # flushes stdout at exit; point it at /dev/null so that fails quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CommandError, ValueError, TypeError, OSError, ImportError) as error:
        # DataError and the model file's errors are ValueErrors: all are the
        # user's to fix, in one line.
        if args.debug:
            raise
        print(f"nnbp {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"nnbp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
