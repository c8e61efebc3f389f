"""``nnbp gradcheck --loss``: the gradient check of any of the regression losses, with the
options (and their checks) that ``nnbp train`` takes."""
import re

import numpy as np
import pytest
from test_cli import run

import nnbp
from nnbp.cli import GRADCHECK_ROWS, build_parser, gradient_check_data
from nnbp.losses import AbsoluteError, HuberLoss, PinballLoss

LOSSES = {"huber": (["--huber-delta", "0.4"], HuberLoss(0.4)),
          "absolute_error": ([], AbsoluteError()),
          "quantile": (["--quantile", "0.7"], PinballLoss(0.7))}


def reported_loss(stdout):
    """The loss the report prints (6 significant digits)."""
    return float(re.search(r"dtype float64, loss ([-+0-9.e]+),", stdout).group(1))


@pytest.mark.parametrize("name", list(LOSSES))
def test_a_fresh_regression_network_is_checked_with_the_loss(tmp_path, name):
    options, loss = LOSSES[name]
    result = run("gradcheck", "--loss", name, *options, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout
    assert "output='squared'" in result.stdout and f"with the loss {loss!r}" in result.stdout
    # The loss differenced is the robust one, on the rows the command draws.
    net = nnbp.Network((4, 6, 5, 3), activation="tanh", output="squared", seed=0)
    X, y = gradient_check_data(net, {}, None, GRADCHECK_ROWS, 0)
    assert reported_loss(result.stdout) == pytest.approx(net.loss(X, y, loss=loss), rel=1e-5)
    assert reported_loss(result.stdout) != pytest.approx(net.loss(X, y), rel=1e-3)


def test_a_model_trained_with_a_loss_is_checked_with_it_on_its_rows(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.standard_t(1.5, size=100)
    np.savetxt(tmp_path / "data.csv", np.c_[X, y], delimiter=",", header="a,b,c,y",
               comments="")
    trained = run("train", "data.csv", "--target", "y", "--loss", "huber", "--huber-delta",
                  "0.5", "--activation", "tanh", "--hidden", "8", "--epochs", "5", "--quiet",
                  cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = run("gradcheck", "model.npz", "--data", "data.csv", "--loss", "huber",
                 "--huber-delta", "0.5", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout and "with the loss HuberLoss(delta=0.5)" in result.stdout


def test_the_options_are_those_of_train_and_checked_alike(tmp_path):
    parser = build_parser()
    for command in (["train", "data.csv", "--target", "y"], ["gradcheck"]):
        args = parser.parse_args(command)
        assert (args.loss, args.huber_delta, args.quantile) == (None, 1.0, 0.5)
    for command in ("train", "gradcheck"):
        extra = ["data.csv", "--target", "y"] if command == "train" else []
        refused = run(command, *extra, "--loss", "pinball", cwd=tmp_path)
        assert refused.returncode == 2 and "invalid choice: 'pinball'" in refused.stderr
        refused = run(command, *extra, "--loss", "huber", "--huber-delta", "0", cwd=tmp_path)
        assert refused.returncode == 2 and "must be positive, got 0" in refused.stderr
    refused = run("gradcheck", "--loss", "quantile", "--quantile", "0", cwd=tmp_path)
    assert refused.returncode == 1 and "--quantile must be in (0, 1), got 0.0" in refused.stderr


def test_a_classifier_is_not_checked_with_a_regression_loss(tmp_path):
    net = nnbp.Network((3, 4, 2), output="softmax", seed=0)
    net.save(tmp_path / "classifier.npz")
    refused = run("gradcheck", "classifier.npz", "--loss", "absolute_error", cwd=tmp_path)
    assert refused.returncode == 1
    assert "--loss absolute_error is a loss of a regression (the squared output), not of the " \
           "softmax output" in refused.stderr
