"""check_gradients must fail on a wrong gradient: a check that cannot fail proves nothing."""
import numpy as np
import pytest

from support import make_targets

import nnbp
from nnbp import layers


class ScaledGradientNetwork(nnbp.Network):
    """A network whose gradient is wrong in one block, by a given factor."""

    def __init__(self, *args, wrong_block, factor, **kwargs):
        super().__init__(*args, **kwargs)
        self.wrong_block, self.factor = wrong_block, factor

    def loss_and_grad(self, X, y, sample_weight=None, out=None):
        loss, grad = super().loss_and_grad(X, y, sample_weight, out)
        where = dict(self.block_slices())[self.wrong_block]
        grad[where] *= self.factor
        return loss, grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("wrong_block", ["W(1)", "b(2)"])
def test_a_wrong_block_is_caught_and_named(wrong_block, dtype, rng):
    net = ScaledGradientNetwork([3, 4, 2], activation="tanh", dtype=dtype, seed=0,
                                wrong_block=wrong_block, factor=1.001)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5)
    report = nnbp.check_gradients(net, X, y)
    assert not report.passed and not report
    errors = {block.name: block for block in report.blocks}
    assert errors[wrong_block].finite_difference > report.tolerance["finite_difference"]
    assert errors[wrong_block].reference > report.tolerance["reference"]
    for name, block in errors.items():
        if name != wrong_block:
            assert block.finite_difference <= report.tolerance["finite_difference"]
    assert "FAILED" in str(report)


@pytest.mark.parametrize("output", nnbp.OUTPUTS)
def test_a_wrong_loss_gradient_is_caught(output, monkeypatch, rng):
    true_output_loss = layers.output_loss

    def off_by_one_percent(output, Z, y, sample_weight=None):
        loss, dZ = true_output_loss(output, Z, y, sample_weight)
        return loss, dZ * 1.01

    monkeypatch.setattr(layers, "output_loss", off_by_one_percent)
    report = nnbp.check_loss_gradients(output, rng.normal(size=(4, 3)),
                                       make_targets(output, 4, 3, rng))
    assert not report.passed
    assert report.finite_difference_error == pytest.approx(0.01 / 1.01, rel=1e-3)


def test_report_reads_well(rng):
    net = nnbp.Network([3, 4, 2], seed=1)
    report = nnbp.check_gradients(net, rng.normal(size=(5, 3)), rng.integers(0, 2, size=5))
    text = str(report)
    for name in ("W(1)", "W(2)", "b(1)", "b(2)", "PASSED", "float64"):
        assert name in text
    assert report.passed and bool(report)


def test_reference_can_be_skipped_and_auto_skips_large_networks(rng):
    net = nnbp.Network([3, 4, 2], seed=1)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 2, size=5)
    assert nnbp.check_gradients(net, X, y, reference=False).reference_error is None
    big = nnbp.Network([64, 64, 10], seed=1)
    X, y = rng.normal(size=(64, 64)), rng.integers(0, 10, size=64)
    report = nnbp.check_gradients(big, X, y)   # 64 x 4810 > the reference's budget
    assert report.reference_error is None and report.passed
    with pytest.raises(ValueError, match="reference must be"):
        nnbp.check_gradients(big, X, y, reference="yes")


def test_float32_network_is_differenced_in_float64(rng):
    """The finite differences of a float32 network are as accurate as a float64 one's."""
    net32 = nnbp.Network([4, 6, 3], activation="softplus", dtype=np.float32, seed=2)
    X, y = rng.normal(size=(8, 4)), rng.integers(0, 3, size=8)
    report = nnbp.check_gradients(net32, X, y)
    assert report.passed
    # The float32 gradient's own rounding, not the differences, sets the error.
    assert report.finite_difference_error < 1e-5


def test_sampled_check_differences_fewer_parameters_and_still_catches(rng):
    X, y = rng.normal(size=(6, 6)), rng.integers(0, 3, size=6)
    net = ScaledGradientNetwork([6, 8, 3], seed=3, wrong_block="W(2)", factor=1.001)
    report = nnbp.check_gradients(net, X, y, sample=4, reference=False)
    assert [(block.name, block.checked) for block in report.blocks] == [
        ("W(1)", 4), ("W(2)", 4), ("b(1)", 4), ("b(2)", 3)]
    assert not report.passed
    assert nnbp.check_gradients(nnbp.Network([6, 8, 3], seed=3), X, y, sample=4).passed
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="sample must be"):
            nnbp.check_gradients(net, X, y, sample=bad)


# ---------------------------------------------------------------- where differences cannot judge

def kinked_problem(init, activation, rng, network_class=nnbp.Network, **kwargs):
    """A relu-like net with zero biases and an all-zero row: its hidden units sit at their kinks."""
    net = network_class([3, 5, 4, 2], activation=activation, init=init, seed=0, **kwargs)
    assert not any(b.any() for b in net.biases)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, size=6)
    X[2] = 0.0
    return net, X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("init", ["he", "normal"])
def test_units_at_a_kink_are_reported_not_failed(init, activation, sparse, dtype, rng):
    import scipy.sparse

    net, X, y = kinked_problem(init, activation, rng, dtype=dtype)
    report = nnbp.check_gradients(net, scipy.sparse.csr_matrix(X) if sparse else X, y)
    assert report.passed, str(report)
    kinked = {block.name: block.at_kinks for block in report.blocks}
    # Moving a first- or second-layer bias moves the zero row's units across 0.
    assert kinked["b(1)"] > 0 and kinked["b(2)"] > 0
    assert report.finite_difference_error <= report.tolerance["finite_difference"]
    assert report.reference_error <= report.tolerance["reference"]
    text = str(report)
    assert "kink" in text and "PASSED" in text and "FAILED" not in text


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("wrong_block", ["b(1)", "W(1)"])
def test_a_wrong_gradient_at_the_kinks_still_fails(wrong_block, activation, rng):
    net, X, y = kinked_problem("he", activation, rng, ScaledGradientNetwork,
                               wrong_block=wrong_block, factor=1.001)
    report = nnbp.check_gradients(net, X, y)
    assert not report.passed
    assert {block.name: block for block in report.blocks}[wrong_block].reference > \
        report.tolerance["reference"]
    assert "FAILED" in str(report)


def curved_problem(rng, network_class=nnbp.Network, **kwargs):
    """A Poisson output with a bias of 700: exp(z) is too curved for the step at z = 700."""
    net = network_class([3, 4, 2], activation="tanh", output="poisson", seed=0, **kwargs)
    net.biases[-1][:] = 700.0
    X, y = rng.normal(size=(5, 3)), rng.poisson(3.0, size=(5, 2)).astype(float)
    return net, X, y


def test_a_loss_too_curved_for_the_step_is_reported_not_failed(rng):
    net, X, y = curved_problem(rng)
    for reference in (True, False):
        report = nnbp.check_gradients(net, X, y, reference=reference)
        assert report.passed, str(report)
        assert {block.name: block.too_curved for block in report.blocks}["b(2)"] > 0
        assert "curved" in str(report) and "FAILED" not in str(report)


@pytest.mark.parametrize("reference", [True, False])
def test_a_wrong_gradient_of_a_curved_loss_still_fails(reference, rng):
    net, X, y = curved_problem(rng, ScaledGradientNetwork, wrong_block="b(2)", factor=1.001)
    report = nnbp.check_gradients(net, X, y, reference=reference)
    assert not report.passed
    # Finite differences alone catch it: a 1e-3 error is far beyond the step's truncation.
    assert {block.name: block for block in report.blocks}["b(2)"].finite_difference > \
        report.tolerance["finite_difference"]


def test_a_layer_at_its_kinks_is_reported_not_failed(rng):
    X, W = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    X[1] = 0.0
    report = nnbp.check_layer_gradients(X, W, np.zeros(5), "relu")
    assert report.passed, str(report)
    assert {block.name: block.at_kinks for block in report.blocks}["b"] > 0


# ---------------------------------------------------------------- sampling by default

def test_a_large_block_is_sampled_by_default_and_the_report_says_which(rng):
    from nnbp.gradcheck import DEFAULT_SAMPLE

    net = nnbp.Network([64, 8, 3], activation="tanh", seed=0)      # W(1) has 512 parameters
    X, y = rng.normal(size=(5, 64)), rng.integers(0, 3, size=5)
    report = nnbp.check_gradients(net, X, y)
    blocks = {block.name: block for block in report.blocks}
    assert blocks["W(1)"].checked == DEFAULT_SAMPLE < blocks["W(1)"].size
    assert blocks["W(2)"].checked == blocks["W(2)"].size == 24
    for block in report.blocks:
        indices = np.asarray(block.indices)
        assert len(indices) == block.checked == len(set(block.indices))
        assert ((0 <= indices) & (indices < block.size)).all()
    assert report.sample == DEFAULT_SAMPLE and report.passed
    text = str(report)
    assert f"at most {DEFAULT_SAMPLE} parameters of each block" in text and "seed 0" in text
    # The same seed draws the same parameters; sample=None differences them all.
    assert nnbp.check_gradients(net, X, y).blocks == report.blocks
    everything = nnbp.check_gradients(net, X, y, sample=None)
    assert [block.checked for block in everything.blocks] == [
        block.size for block in everything.blocks]
    assert everything.sample is None and "at most" not in str(everything)


def test_the_command_line_samples_as_the_function_does():
    from nnbp.cli import build_parser
    from nnbp.gradcheck import DEFAULT_SAMPLE

    assert build_parser().parse_args(["gradcheck"]).sample == DEFAULT_SAMPLE
