"""nnbp.plotting: the PNG of a loss curve and its diagnostics; matplotlib stays optional."""
import sys

import numpy as np
import pytest

from nnbp import Adam, Network, StochasticTrainer
from nnbp.diagnostics import DiagnosticsRecorder
from nnbp.plotting import plot_training

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def history(epochs=4, layers=3):
    """Records shaped like DiagnosticsRecorder.history's."""
    return [{"epoch": epoch, "loss": 1.0 / epoch, "gradient_norms": [0.1 * epoch] * layers,
             "saturation": [0.25] * (layers - 1), "sample_loss": 1.0 / epoch}
            for epoch in range(1, epochs + 1)]


@pytest.fixture
def no_matplotlib(monkeypatch):
    """As if matplotlib were not installed: every import of it fails."""
    names = [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]
    for name in names + ["matplotlib", "matplotlib.figure", "matplotlib.backends",
                         "matplotlib.backends.backend_agg"]:
        monkeypatch.setitem(sys.modules, name, None)


def test_without_matplotlib_the_error_says_how_to_install_it(no_matplotlib, tmp_path):
    path = tmp_path / "training.png"
    with pytest.raises(ImportError, match=r"pip install 'nnbp\[plot\]'"):
        plot_training([1.0, 0.5], history(2), path)
    assert not path.exists()


@pytest.mark.parametrize("loss_curve, error, message", [
    ([], ValueError, "loss_curve must be a non-empty 1-D"),
    ([[1.0, 2.0]], ValueError, "loss_curve must be a non-empty 1-D"),
    (["a", "b"], TypeError, "loss_curve must be a sequence of real numbers"),
    (None, TypeError, "loss_curve must be a sequence of real numbers"),
])
def test_bad_loss_curves(loss_curve, error, message, tmp_path):
    with pytest.raises(error, match=message):
        plot_training(loss_curve, None, tmp_path / "x.png")


@pytest.mark.parametrize("diagnostics, error, message", [
    ([], ValueError, "diagnostics is empty"),
    ({"epoch": 1}, TypeError, "diagnostics must be a list of dicts"),
    ([{"epoch": 1, "gradient_norms": [1.0]}], ValueError, r"diagnostics\[0\].*missing saturation"),
    ([{"epoch": 1, "gradient_norms": [1.0, 2.0], "saturation": [0.0]},
      {"epoch": 2, "gradient_norms": [1.0], "saturation": [0.0]}],
     ValueError, "gradient_norms differ in length"),
    ([{"epoch": "one", "gradient_norms": [1.0], "saturation": []}], TypeError, "epochs"),
])
def test_bad_diagnostics(diagnostics, error, message, tmp_path):
    with pytest.raises(error, match=message):
        plot_training([1.0], diagnostics, tmp_path / "x.png")


def test_the_path_is_required():
    with pytest.raises(TypeError, match="path"):
        plot_training([1.0, 0.5])


# ---------------------------------------------------------------- with matplotlib

@pytest.mark.parametrize("diagnostics, validation_scores, n_axes", [
    (None, None, 1),
    (None, [0.5, 0.7, 0.8, 0.8], 2),
    (history(), None, 3),
    (history(), [0.5, 0.7, 0.8, 0.8], 4),
    (history(layers=1), None, 2),      # no hidden layer: no saturation panel
])
def test_the_png_and_its_panels(diagnostics, validation_scores, n_axes, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "training.png"
    figure = plot_training([1.0, 0.6, 0.4, 0.35], diagnostics, path,
                           validation_scores=validation_scores, title="a test")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert len(figure.axes) == n_axes
    assert figure.axes[0].get_yscale() == "log"
    assert figure.axes[-1].get_xlabel() == "epoch"


def test_non_positive_values_keep_a_linear_scale(tmp_path):
    pytest.importorskip("matplotlib")
    records = history()
    records[0]["gradient_norms"][0] = 0.0    # a dead first layer
    figure = plot_training([0.5, 0.0, -0.1, -0.2], records, tmp_path / "x.png")
    assert [axes.get_yscale() for axes in figure.axes] == ["linear", "linear", "linear"]


def test_a_recorded_training_run(tmp_path, rng):
    pytest.importorskip("matplotlib")
    X = rng.standard_normal((60, 4))
    y = rng.integers(0, 3, 60)
    net = Network((4, 8, 6, 3), activation="tanh", seed=0)
    trainer = StochasticTrainer(net, Adam(learning_rate=0.01), batch_size=10)
    recorder = DiagnosticsRecorder(X, y)
    trainer.fit(X, y, max_epochs=5, on_epoch=recorder)
    with open(tmp_path / "run.png", "wb") as file:
        figure = plot_training(trainer.loss_curve, recorder.history, file)
    assert (tmp_path / "run.png").read_bytes()[:8] == PNG_SIGNATURE
    assert len(figure.axes) == 3


def test_a_diverged_epoch_recorded_as_nan_is_plotted_and_marked(tmp_path):
    """An early-stopping fit that diverges records its last epoch as NaN (see Reliability)."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "diverged.png"
    figure = plot_training([1.0, 0.6, 0.4, np.nan], history(), path,
                           validation_scores=[0.5, 0.7, 0.8, np.nan])
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    loss_axes, score_axes = figure.axes[:2]
    assert loss_axes.get_yscale() == "log"          # the finite losses are all positive
    for axes in (loss_axes, score_axes):
        marks = [line for line in axes.get_lines() if line.get_label() == "diverged"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [4, 4]


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_the_curves_of_a_fit_that_diverged_with_early_stopping(tmp_path):
    pytest.importorskip("matplotlib")
    from sklearn.datasets import make_regression
    from sklearn.exceptions import ConvergenceWarning

    import nnbp

    X, y = make_regression(n_samples=40, n_features=4, n_informative=4, noise=1.0,
                           random_state=0)
    est = nnbp.MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=0.6,
                            max_iter=50, early_stopping=True, validation_fraction=0.25,
                            random_state=0)
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        est.fit(X, (y - y.mean()) / y.std())
    # The diverged epoch is NaN; the epoch before it scored -inf (r2 of huge errors).
    assert np.isnan(est.loss_curve_[-1]) and np.isnan(est.validation_scores_[-1])
    assert est.validation_scores_[-2] == -np.inf
    figure = plot_training(est.loss_curve_, None, tmp_path / "fit.png",
                           validation_scores=est.validation_scores_)
    assert (tmp_path / "fit.png").read_bytes()[:8] == PNG_SIGNATURE
    assert len(figure.axes) == 2


def test_pyplot_and_its_backend_are_left_alone(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    # Read without resolving it: rcParams["backend"] may import pyplot.
    backend = dict.__getitem__(matplotlib.rcParams, "backend")
    plot_training([1.0, 0.5], history(2), tmp_path / "x.png")
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_loaded
    assert dict.__getitem__(matplotlib.rcParams, "backend") is backend
