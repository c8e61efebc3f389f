"""A PNG of training: the loss curve and, when recorded, the layers' diagnostics.

Needs matplotlib (pip install 'nnbp[plot]'); the rest of nnbp does not, and
this module imports it only when it draws. It draws on a
matplotlib.figure.Figure with the Agg canvas, never through pyplot, so the
caller's backend and open figures are left alone.
"""
from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_training"]

PANEL_SIZE = (7.0, 2.6)        # inches, per stacked panel
DIAGNOSTIC_KEYS = ("epoch", "gradient_norms", "saturation")


def _matplotlib():
    """(Figure, FigureCanvasAgg), or an ImportError that says how to install them."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "plotting needs matplotlib, an optional dependency of nnbp: "
            "pip install 'nnbp[plot]'"
        ) from error
    return Figure, FigureCanvasAgg


def _curve(name, values):
    """values as a non-empty 1-D float64 array of real numbers.

    NaN and infinities are recorded values too: an early-stopping fit that
    diverges records its last epoch as NaN, and may score -inf before it.
    """
    try:
        if values is None or isinstance(values, (str, bytes)):
            raise TypeError
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of real numbers, got {values!r}") from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
    return array


def _diagnostics_table(diagnostics):
    """(epochs, gradient norms (epochs, L), saturation (epochs, L-1)) from recorded dicts."""
    if isinstance(diagnostics, dict) or not hasattr(diagnostics, "__len__"):
        raise TypeError(
            "diagnostics must be a list of dicts such as DiagnosticsRecorder.history, "
            f"got {type(diagnostics).__name__}"
        )
    if len(diagnostics) == 0:
        raise ValueError("diagnostics is empty: pass None to plot the loss curve alone")
    for index, record in enumerate(diagnostics):
        missing = [key for key in DIAGNOSTIC_KEYS
                   if not isinstance(record, dict) or key not in record]
        if missing:
            raise ValueError(
                f"diagnostics[{index}] must be a dict with the keys "
                f"{', '.join(DIAGNOSTIC_KEYS)} (DiagnosticsRecorder.history's); "
                f"missing {', '.join(missing)}"
            )
    epochs = [record["epoch"] for record in diagnostics]
    if not all(isinstance(epoch, numbers.Real) and not isinstance(epoch, bool)
               for epoch in epochs):
        raise TypeError(f"the diagnostics' epochs must be numbers, got {epochs!r}")
    tables = []
    for key in ("gradient_norms", "saturation"):
        lengths = {len(record[key]) for record in diagnostics}
        if len(lengths) != 1:
            raise ValueError(f"the diagnostics' {key} differ in length: {sorted(lengths)}")
        table = np.asarray([record[key] for record in diagnostics], dtype=np.float64)
        if not np.all(np.isfinite(table)):
            raise ValueError(f"the diagnostics' {key} contain NaN or infinity")
        tables.append(table.reshape(len(diagnostics), lengths.pop()))
    return (np.asarray(epochs, dtype=np.float64),) + tuple(tables)


def _log_scale_if_positive(axes, values):
    # A log scale shows a loss or a norm that falls by decades; it cannot
    # show zero or negative values, so those keep the linear scale. NaN and
    # infinities are not drawn, and do not count.
    values = np.asarray(values)
    values = values[np.isfinite(values)]
    if values.size and np.all(values > 0):
        axes.set_yscale("log")


def _plot_curve(axes, values, **style):
    """values against epochs 1, 2, ...; each value that cannot be drawn marked by a dashed
    vertical line: NaN (a diverged epoch) in red, an infinity in grey."""
    epochs = np.arange(1, values.size + 1)
    axes.plot(epochs, values, **style)
    for epoch, value in zip(epochs, values):
        if np.isnan(value):
            axes.axvline(epoch, color="tab:red", linestyle="--", linewidth=1, label="diverged")
        elif np.isinf(value):
            axes.axvline(epoch, color="tab:gray", linestyle="--", linewidth=1,
                         label=f"{value:+}")


def plot_training(loss_curve: Sequence[float], diagnostics: Sequence[dict[str, Any]] | None = None,
                  path: str | os.PathLike[str] | IO[bytes] | None = None, *,
                  validation_scores: Sequence[float] | None = None,
                  title: str | None = None) -> Figure:
    """Draw the loss curve and the recorded diagnostics in stacked panels; write a PNG to path.

    The figure is drawn with matplotlib's Agg canvas, never through pyplot:
    the caller's backend and open figures are left alone.

    Parameters
    ----------
    loss_curve : sequence of float
        The training loss of each epoch (``loss_curve_``, trainer.loss_curve);
        epoch k is loss_curve[k - 1]. Log scale if every loss is positive.
        NaN, the epoch where an early-stopping fit diverged, is left out of
        the curve and marked by a dashed red line; an infinity, by a grey one.
    diagnostics : list of dict or None, default=None
        The records of ``DiagnosticsRecorder.history``: adds a panel of each layer's gradient
        norm (log scale if all positive) and one of the fraction of saturated
        units of each hidden layer (none for a network without hidden layers),
        against each record's "epoch".
    path : str, path-like or binary file
        Where the PNG goes; required (the default None is refused).
    validation_scores : sequence of float or None, default=None
        The early-stopping scores (``validation_scores_``): adds their panel
        (NaN as in loss_curve).
    title : str or None, default=None
        A title above the panels.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn, not attached to pyplot.

    Raises
    ------
    ImportError
        If matplotlib is missing.
    TypeError
        If path is missing, or a curve is not a sequence of numbers.
    ValueError
        If a curve is empty or not 1-D, or the diagnostics are malformed.

    See Also
    --------
    nnbp.DiagnosticsRecorder : Records the diagnostics drawn.

    Examples
    --------
    >>> import io
    >>> from nnbp.plotting import plot_training
    >>> png = io.BytesIO()
    >>> figure = plot_training([1.2, 0.6, 0.4, 0.35], path=png, title="training")
    >>> len(figure.axes), png.getvalue()[:4]
    (1, b'\x89PNG')
    """
    if path is None:
        raise TypeError("plot_training needs the path of the PNG to write")
    losses = _curve("loss_curve", loss_curve)
    scores = (None if validation_scores is None or len(validation_scores) == 0
              else _curve("validation_scores", validation_scores))
    table = None if diagnostics is None else _diagnostics_table(diagnostics)
    Figure, FigureCanvasAgg = _matplotlib()

    panels = ["loss"] + (["score"] if scores is not None else [])
    if table is not None:
        panels.append("gradient")
        if table[2].shape[1] > 0:
            panels.append("saturation")
    figure = Figure(figsize=(PANEL_SIZE[0], PANEL_SIZE[1] * len(panels)), layout="constrained")
    FigureCanvasAgg(figure)
    axes_of = dict(zip(panels, figure.subplots(len(panels), 1, sharex=True,
                                               squeeze=False)[:, 0]))

    axes = axes_of["loss"]
    _plot_curve(axes, losses, marker="." if losses.size < 50 else None)
    _log_scale_if_positive(axes, losses)
    axes.set_ylabel("training loss")
    if scores is not None:
        axes = axes_of["score"]
        _plot_curve(axes, scores, color="tab:green", marker="." if scores.size < 50 else None)
        axes.set_ylabel("validation score")
    if table is not None:
        epochs, norms, saturation = table
        axes = axes_of["gradient"]
        for layer in range(norms.shape[1]):
            axes.plot(epochs, norms[:, layer], label=f"layer {layer + 1}")
        _log_scale_if_positive(axes, norms)
        axes.set_ylabel("gradient norm")
        axes.legend(fontsize="small", loc="best")
        if "saturation" in axes_of:
            axes = axes_of["saturation"]
            for layer in range(saturation.shape[1]):
                axes.plot(epochs, saturation[:, layer], label=f"hidden layer {layer + 1}")
            axes.set_ylim(-0.03, 1.03)
            axes.set_ylabel("saturated units")
            axes.legend(fontsize="small", loc="best")
    for axes in axes_of.values():
        axes.grid(True, alpha=0.3)
    axes_of[panels[-1]].set_xlabel("epoch")
    if title is not None:
        figure.suptitle(title)
    figure.savefig(path, format="png")
    return figure
