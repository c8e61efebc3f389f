"""Ctrl-C during fit stops cleanly: the last finished epoch's parameters, and a warning.

Each case runs in a child process that sends itself a real SIGINT while it
trains, so that the compiled epoch meets the signal as a user's Ctrl-C
would; a KeyboardInterrupt that escaped would end the child, not pytest.
The child prints what it saw as JSON.
"""
import json
import subprocess
import sys
import textwrap

import pytest

# An epoch of 8,000 single-row steps of a 256-1024-2 network takes a second
# or more: a signal sent 0.1 s after an epoch begins lands inside it.
PROLOGUE = """
import json, os, signal, threading, warnings
import numpy as np
import nnbp
from threadpoolctl import threadpool_limits

# Python's own Ctrl-C handler, as an interactive user has it: a process
# started in the background by a shell without job control (nohup ... &)
# inherits SIGINT ignored, and Python leaves it so.
signal.signal(signal.SIGINT, signal.default_int_handler)

# One BLAS thread: on a busy machine (CI), a second thread's wake-ups can
# make batch-1 epochs many times slower, and this is a test of Ctrl-C.
threadpool_limits(1)

def ctrl_c_soon():
    threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()

rng = np.random.default_rng(0)
X = rng.standard_normal((8000, 256)).astype(DTYPE)
y = (X[:, 0] + X[:, 1] > 0).astype(int)
"""

ESTIMATOR = """
snapshots = []

def callback(epoch, losses, network):
    snapshots.append(network.params.copy())
    if epoch == 1:
        ctrl_c_soon()

# The signal may land in an epoch or between two: either way the network
# keeps the last finished one. Small sgd and adam epochs keep the test
# short; L-BFGS iterations over all of X take long enough by themselves.
hidden, rows = ((1024,), 8000) if SOLVER == "lbfgs" else ((128,), 2000)
est = nnbp.MLPClassifier(hidden, solver=SOLVER, batch_size=1, max_iter=MAX_ITER,
                         max_fun=10**6, learning_rate_init=1e-4, random_state=0, tol=0.0,
                         n_iter_no_change=MAX_ITER, dtype=DTYPE)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    est.fit(X[:rows], y[:rows], callback=callback)
kept = est.network_.params
print(json.dumps({
    "n_iter": est.n_iter_,
    "loss_curve": len(est.loss_curve_),
    "snapshots": len(snapshots),
    "kept_is_last_snapshot": bool(np.array_equal(kept, snapshots[-1])),
    "finite": bool(np.all(np.isfinite(kept))),
    "predicts": est.predict(X[:5]).tolist(),
    "warnings": [str(w.message) for w in caught],
}))
"""

FIRST_EPOCH = """
def trainer():
    net = nnbp.Network([256, 1024, 2], activation="relu", output="softmax", dtype=DTYPE,
                       seed=0)
    return nnbp.StochasticTrainer(net, nnbp.SGD(learning_rate=1e-4, momentum=0.9),
                                  batch_size=1, random_state=np.random.RandomState(0))

whole = trainer()
whole.fit(X, y, max_epochs=1)
interrupted = trainer()
initial = interrupted.net.params.copy()
ctrl_c_soon()
ended = interrupted.fit(X, y, max_epochs=1)
# The parameters are restored, but the momentum is left where the epoch
# stopped: it tells how far the epoch got.
velocity, whole_epoch_velocity = interrupted.optimizer.velocity, whole.optimizer.velocity
print(json.dumps({"ended": ended, "n_iter": interrupted.n_iter,
                  "kept_initial": bool(np.array_equal(interrupted.net.params, initial)),
                  "took_steps": bool(np.any(velocity != 0)),
                  "finished_the_epoch": bool(np.array_equal(velocity, whole_epoch_velocity))}))
"""


def run_child(body, cwd, **constants):
    script = "".join(f"{name} = {value!r}\n" for name, value in constants.items())
    script += textwrap.dedent(PROLOGUE) + textwrap.dedent(body)
    # cwd: not the checkout, whose nnbp/ would shadow the installed package.
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ctrl_c_stops_a_compiled_epoch_part_way_and_keeps_the_initial_parameters(dtype, tmp_path):
    seen = run_child(FIRST_EPOCH, tmp_path, DTYPE=dtype)
    assert seen == {"ended": "interrupted", "n_iter": 0, "kept_initial": True,
                    "took_steps": True, "finished_the_epoch": False}


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ctrl_c_in_fit_keeps_the_last_finished_epoch_and_warns(solver, dtype, tmp_path):
    seen = run_child(ESTIMATOR, tmp_path, SOLVER=solver, DTYPE=dtype, MAX_ITER=1000)
    # Stopped long before max_iter, after the first epoch (or iteration).
    assert 1 <= seen["n_iter"] < 1000
    assert seen["n_iter"] == seen["loss_curve"] == seen["snapshots"]
    assert seen["kept_is_last_snapshot"] and seen["finite"]
    assert len(seen["predicts"]) == 5
    unit = "iterations" if solver == "lbfgs" else "epochs"
    assert [w for w in seen["warnings"]
            if w.startswith(f"Training interrupted by user after {seen['n_iter']} finished {unit}")]
    assert not [w for w in seen["warnings"] if "converge" in w or "Maximum iterations" in w]


SCORING = """
# Early stopping holds out 99% of the rows: each epoch trains on 80 rows in
# a moment, then scores 7,920 through a 1024-wide layer, so the signal lands
# while an epoch is being scored, almost always.
def callback(epoch, losses, network):
    if epoch == 1:
        ctrl_c_soon()

est = nnbp.MLPClassifier((1024,), early_stopping=True, validation_fraction=0.99, max_iter=1000,
                         tol=0.0, n_iter_no_change=1000, random_state=0, dtype=DTYPE)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    est.fit(X, y, callback=callback)
print(json.dumps({
    "n_iter": est.n_iter_,
    "loss_curve": len(est.loss_curve_),
    "validation_scores": len(est.validation_scores_),
    "best_is_max": est.best_validation_score_ == max(est.validation_scores_),
    "warnings": [str(w.message) for w in caught],
}))
"""


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ctrl_c_while_early_stopping_scores_keeps_the_history_consistent(dtype, tmp_path):
    seen = run_child(SCORING, tmp_path, DTYPE=dtype)
    assert 1 <= seen["n_iter"] < 1000
    assert seen["n_iter"] == seen["loss_curve"] == seen["validation_scores"]
    assert seen["best_is_max"]
    assert [w for w in seen["warnings"] if w.startswith(
        f"Training interrupted by user after {seen['n_iter']} finished epochs")]
