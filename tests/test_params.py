"""The flat parameter vector: its views, pickling, copies and the initialisation schemes."""
import pickle

import numpy as np
import pytest
from support import DTYPES

import nnbp

SIZES = [3, 5, 4, 2]


def dtype_id(dtype):
    return np.dtype(dtype).name


def assert_views_of_params(net):
    """weights[l] and biases[l] are views of net.params, laid out as documented."""
    params = net.params
    offset = 0
    for W in net.weights:
        assert W.base is not None and np.shares_memory(W, params)
        assert np.array_equal(W.ravel(), params[offset:offset + W.size])
        offset += W.size
    assert offset == net.n_weights
    for b in net.biases:
        if b is None:
            continue
        assert np.shares_memory(b, params)
        assert np.array_equal(b, params[offset:offset + b.size])
        offset += b.size
    assert offset == net.n_params == params.size
    # Writing one changes the other, both ways.
    saved = params.copy()
    try:
        for l, W in enumerate(net.weights):
            W[-1, 0] = 1000.0 + l
        k = 0
        for l, W in enumerate(net.weights):
            k += W.size
            assert params[k - W.shape[1]] == 1000.0 + l
        params[...] = np.arange(params.size)
        assert net.weights[0][0, 1] == 1 and net.weights[0][1, 0] == net.weights[0].shape[1]
        k = net.n_weights
        for b in net.biases:
            if b is not None:
                assert np.array_equal(b, np.arange(k, k + b.size))
                k += b.size
    finally:
        params[...] = saved


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_weights_and_biases_are_views_of_params(dtype, bias):
    net = nnbp.Network(SIZES, dtype=dtype, bias=bias, seed=0)
    assert net.params.dtype == dtype and net.params.flags.c_contiguous
    assert [W.shape for W in net.weights] == [(5, 3), (4, 5), (2, 4)]
    assert net.n_weights == 15 + 20 + 8
    if bias:
        assert [b.shape for b in net.biases] == [(5,), (4,), (2,)]
        assert net.n_params == net.n_weights + 11
    else:
        assert net.biases == (None, None, None)
        assert net.n_params == net.n_weights
    assert_views_of_params(net)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_writing_weights_changes_what_the_network_computes(dtype):
    net = nnbp.Network([3, 2], output="squared", dtype=dtype, seed=0)
    X = np.array([[1.0, 2.0, 3.0]])
    net.weights[0][...] = [[1, 0, 0], [0, 0, 1]]
    net.biases[0][...] = [10, 20]
    assert np.array_equal(net.forward(X), [[11, 23]])
    net.params = [0, 1, 0, 0, 0, 0, 0, 0]
    assert np.array_equal(net.forward(X), [[2, 0]])
    assert net.weights[0][0, 1] == 1 and np.array_equal(net.biases[0], [0, 0])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_params_setter_writes_in_place(dtype):
    net = nnbp.Network(SIZES, dtype=dtype, seed=0)
    buffer = net.params
    W0 = net.weights[0]
    new = np.random.default_rng(1).normal(size=net.n_params)
    net.params = new
    assert net.params is buffer and net.weights[0] is W0
    assert np.array_equal(net.params, new.astype(dtype))
    assert np.array_equal(W0.ravel(), new[:15].astype(dtype))
    new[0] = 99.0  # the network holds a copy, not the caller's array
    assert net.params[0] != 99.0


def test_block_slices_follow_the_layout():
    net = nnbp.Network(SIZES, seed=0)
    blocks = net.block_slices()
    assert [name for name, _ in blocks] == ["W(1)", "W(2)", "W(3)", "b(1)", "b(2)", "b(3)"]
    for (name, where), array in zip(blocks, list(net.weights) + list(net.biases)):
        assert np.shares_memory(net.params[where], array)
        assert np.array_equal(net.params[where], array.ravel())
    net = nnbp.Network(SIZES, bias=False, seed=0)
    assert [name for name, _ in net.block_slices()] == ["W(1)", "W(2)", "W(3)"]


# =================================================================== pickle and copy


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(dtype=np.float32),
    dict(bias=False, activation="leaky_relu", negative_slope=0.2, output="squared"),
    dict(activation="logistic", output="logistic", alpha=0.5, init="normal", sigma=0.3,
         dtype=np.float32),
], ids=["default", "float32", "no_bias", "options"])
def test_pickle_round_trip(kwargs):
    net = nnbp.Network(SIZES, seed=3, **kwargs)
    X = np.random.default_rng(0).normal(size=(4, 3))
    twin = pickle.loads(pickle.dumps(net))
    assert twin is not net
    assert twin.config() == net.config()
    assert twin.dtype == net.dtype and twin.params.dtype == net.dtype
    assert np.array_equal(twin.params, net.params)
    assert not np.shares_memory(twin.params, net.params)
    assert np.array_equal(twin.forward(X), net.forward(X))
    assert repr(twin) == repr(net)
    assert_views_of_params(twin)
    # The twin is independent of the original.
    twin.weights[0][0, 0] += 1
    assert twin.params[0] != net.params[0]
    # And it pickles again.
    again = pickle.loads(pickle.dumps(twin, protocol=pickle.HIGHEST_PROTOCOL))
    assert np.array_equal(again.params, twin.params)
    assert_views_of_params(again)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_copy(dtype):
    net = nnbp.Network(SIZES, dtype=dtype, alpha=0.2, activation="tanh", seed=1)
    twin = net.copy()
    assert twin.config() == net.config()
    assert np.array_equal(twin.params, net.params) and twin.params.dtype == dtype
    assert not np.shares_memory(twin.params, net.params)
    assert_views_of_params(twin)
    twin.params[0] += 1
    assert twin.params[0] != net.params[0]


def test_copy_to_another_dtype():
    net = nnbp.Network(SIZES, seed=1)
    single = net.copy(np.float32)
    assert single.dtype == np.float32 and single.params.dtype == np.float32
    assert np.array_equal(single.params, net.params.astype(np.float32))
    assert {k: v for k, v in single.config().items() if k != "dtype"} == {
        k: v for k, v in net.config().items() if k != "dtype"}
    assert_views_of_params(single)
    double = single.copy(np.float64)
    assert np.array_equal(double.params, single.params.astype(np.float64))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        net.copy(np.float16)


def test_config_rebuilds_the_same_network():
    net = nnbp.Network(SIZES, activation="softplus", output="logistic", dtype=np.float32,
                       alpha=0.1, bias=False, init="he", sigma=2.0, negative_slope=0.05, seed=0)
    twin = nnbp.Network(**net.config(), seed=0)
    assert twin.config() == net.config()
    assert np.array_equal(twin.params, net.params)


# =================================================================== initialisation


def wide_net(init, activation="relu", dtype=np.float64, sigma=1.0, seed=0):
    # fan_in differs from fan_out, so that a swapped fan shows.
    return nnbp.Network([400, 100, 50], activation=activation, init=init, sigma=sigma,
                        dtype=dtype, seed=seed)


@pytest.mark.parametrize("activation, factor", [("relu", 6.0), ("tanh", 6.0),
                                                ("logistic", 2.0), ("identity", 6.0)])
def test_glorot_bounds(activation, factor):
    net = wide_net("glorot", activation)
    for W, b in zip(net.weights, net.biases):
        fan_out, fan_in = W.shape
        bound = np.sqrt(factor / (fan_in + fan_out))
        for values, reached in ((W, 0.99), (b, 0.8)):
            assert np.abs(values).max() <= bound
            # The bound is reached, not a smaller one.
            assert np.abs(values).max() > reached * bound
        # Uniform in [-bound, bound]: mean 0, standard deviation bound / sqrt(3).
        assert abs(W.mean()) < 0.05 * bound
        assert W.std() == pytest.approx(bound / np.sqrt(3), rel=0.03)
        assert b.std() == pytest.approx(bound / np.sqrt(3), rel=0.3)
        assert (b > 0).any() and (b < 0).any()


@pytest.mark.parametrize("sigma", [1.0, 0.3, 4.0])
def test_normal_init(sigma):
    net = wide_net("normal", sigma=sigma)
    for W, b in zip(net.weights, net.biases):
        fan_in = W.shape[1]
        std = sigma / np.sqrt(fan_in)
        assert abs(W.mean()) < 0.05 * std
        assert W.std() == pytest.approx(std, rel=0.03)
        assert np.array_equal(b, np.zeros_like(b))


@pytest.mark.parametrize("sigma", [1.0, 5.0])
def test_he_init(sigma):
    net = wide_net("he", sigma=sigma)  # sigma belongs to "normal": he ignores it
    for W, b in zip(net.weights, net.biases):
        fan_in = W.shape[1]
        std = np.sqrt(2.0 / fan_in)
        assert abs(W.mean()) < 0.05 * std
        assert W.std() == pytest.approx(std, rel=0.03)
        assert np.array_equal(b, np.zeros_like(b))


@pytest.mark.parametrize("init", nnbp.INITS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_same_seed_same_params(init, dtype):
    a = nnbp.Network(SIZES, init=init, dtype=dtype, seed=42)
    b = nnbp.Network(SIZES, init=init, dtype=dtype, seed=42)
    c = nnbp.Network(SIZES, init=init, dtype=dtype, seed=43)
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    assert not np.array_equal(a.weights[0], c.weights[0])
    g1 = nnbp.Network(SIZES, init=init, dtype=dtype, seed=np.random.default_rng(7))
    g2 = nnbp.Network(SIZES, init=init, dtype=dtype, seed=np.random.default_rng(7))
    assert np.array_equal(g1.params, g2.params)
    u1 = nnbp.Network(SIZES, init=init, dtype=dtype)
    u2 = nnbp.Network(SIZES, init=init, dtype=dtype)
    assert not np.array_equal(u1.params, u2.params)


@pytest.mark.parametrize("init", nnbp.INITS)
def test_float32_and_float64_same_seed_same_values(init):
    single = nnbp.Network(SIZES, init=init, dtype=np.float32, seed=5)
    double = nnbp.Network(SIZES, init=init, dtype=np.float64, seed=5)
    assert np.array_equal(single.params, double.params.astype(np.float32))
    assert np.abs(single.params - double.params).max() <= 1e-7 * np.abs(double.params).max()
    assert not np.array_equal(double.params, double.params.astype(np.float32))  # really rounded


@pytest.mark.parametrize("init", nnbp.INITS)
def test_initialize_redraws_in_place(init):
    net = nnbp.Network(SIZES, init=init, seed=1)
    buffer, W0 = net.params, net.weights[0]
    assert net.initialize(9) is net
    assert net.params is buffer and net.weights[0] is W0
    assert np.array_equal(net.params, nnbp.Network(SIZES, init=init, seed=9).params)
    assert_views_of_params(net)
