"""A fit taken apart: the estimator's epoch against the compiled epoch, and where the difference goes.

For a workload, a dtype and a batch size, in one run:

- the seconds of one epoch three ways, their calls taken in turn
  (measure.interleaved_medians): the compiled epoch alone
  (nnbp._core.train_epoch on the team nnbp takes, the rows in order),
  StochasticTrainer.fit for one epoch, and the estimator's partial_fit (with
  shuffle=False, so on the same batches in the same order);
- each stage of partial_fit, from a deterministic profile (cProfile) of
  `repeats` calls: scikit-learn's validation, the classes and targets, the
  network's data check, the team of threads, the compiled epoch and the
  parameters' finiteness check, each with its share of the profiled call.
  What no stage holds is "the rest", with the functions that spend most of it.

The profile slows Python code (a few microseconds a call) but not the
compiled epoch, so the shares of the Python stages are upper bounds; the
ratio to the compiled epoch comes from the unprofiled timings.
"""
import contextlib
import cProfile
import pstats

import numpy as np

import nnbp
from nnbp import _core

from nnbp_bench.contenders import Nnbp, NnbpEstimator
from nnbp_bench.measure import SETTLE_SECONDS, interleaved_medians
from nnbp_bench.workloads import LEARNING_RATE

COMPILED, TRAINER, ESTIMATOR = ("compiled epoch", "StochasticTrainer.fit",
                                "estimator partial_fit")
REST = "the rest"
BATCHES = (32, 256)
# (stage, the function names that make it up): the profile's entries, matched by
# name, whose calls nest in no other stage's.
STAGES = (
    ("scikit-learn's validation", ("validate_data",)),
    ("classes and targets", ("_check_classes", "_targets")),
    ("the network's data check", ("check_data",)),
    ("the team of threads", ("team",)),
    ("the compiled epoch", ("train_epoch",)),
    ("the parameters' finiteness", ("all_finite",)),
)


def _name(function):
    """The bare name of a pstats entry: 'f' of a Python function or of a built-in method."""
    name = function[2]
    if name.startswith("<built-in method "):
        name = name[len("<built-in method "):-1].rsplit(".", 1)[-1]
    return name


def _inside(function, stats, members, memo=None):
    """Whether function is one of members, or is called only from within them."""
    memo = {} if memo is None else memo
    if function not in memo:
        memo[function] = True           # a cycle of calls adds nothing outside
        callers = stats[function][4]
        memo[function] = _name(function) in members or (
            bool(callers) and all(_inside(caller, stats, members, memo) for caller in callers))
    return memo[function]


def stage_seconds(stats, calls):
    """{stage: seconds per call} from a pstats.Stats of `calls` calls, and the rest's top spenders."""
    entries = stats.stats
    members = {name for _, names in STAGES for name in names}
    seconds = {}
    for stage, names in STAGES:
        others = members - set(names)
        # Only the calls from outside the other stages: all_finite called by
        # check_data belongs to the data check.
        seconds[stage] = sum(
            timing[3] for f in entries if _name(f) in names
            for caller, timing in entries[f][4].items()
            if not _inside(caller, entries, others)) / calls
    # The rest: each function's own time in the calls made from outside every stage.
    rest = {f: sum(timing[2] for caller, timing in entries[f][4].items()
                   if not _inside(caller, entries, members)) if entries[f][4] else entries[f][2]
            for f in entries if _name(f) not in members}
    spenders = sorted(rest, key=rest.get, reverse=True)[:3]
    return seconds, [dict(function=f"{f[0].rsplit('/', 1)[-1]}:{f[2]}", seconds=rest[f] / calls)
                     for f in spenders]


def _python_twin(function, name):
    """A Python function that calls function: the profile records it (not a Cython one)."""
    def twin(*args, **kwargs):
        return function(*args, **kwargs)
    twin.__code__ = twin.__code__.replace(co_name=name)
    return twin


@contextlib.contextmanager
def _core_functions_visible(names=("train_epoch", "all_finite")):
    """nnbp._core's functions seen by cProfile, which sees no call of a Cython function."""
    originals = {name: getattr(_core, name) for name in names}
    try:
        for name, function in originals.items():
            setattr(_core, name, _python_twin(function, name))
        yield
    finally:
        for name, function in originals.items():
            setattr(_core, name, function)


def _profiled(function, calls):
    """pstats.Stats of `calls` calls of function, and their total seconds per call."""
    profile = cProfile.Profile()
    with _core_functions_visible():
        profile.enable()
        for _ in range(calls):
            function()
        profile.disable()
    stats = pstats.Stats(profile)
    return stats, stats.total_tt / calls


def fit_stages(workload, dtype, batch, repeats, settle=SETTLE_SECONDS):
    """The epoch three ways, and partial_fit's stages, for one dtype and batch (a results row)."""
    X, y = workload.data(dtype)
    net = Nnbp(workload, dtype).net
    data = net.check_data(X, y, None)
    grad = np.empty_like(net.params)
    sgd = nnbp.SGD(LEARNING_RATE, momentum=0.0)

    def compiled():
        with net.compiled(net.flops_per_layer(batch), batch) as model:
            net.workspace_for(batch)
            _core.train_epoch(model, sgd.compiled(), net.params, grad, data, None, batch)

    trainer = Nnbp(workload, dtype).epoch(X, y, batch)
    partial_fit = NnbpEstimator(workload, dtype).epoch(X, y, batch)
    steady = contextlib.nullcontext
    seconds = interleaved_medians({COMPILED: (compiled, steady), TRAINER: (trainer, steady),
                                   ESTIMATOR: (partial_fit, steady)}, repeats, settle)
    stats, profiled = _profiled(partial_fit, repeats)
    stages, spenders = stage_seconds(stats, repeats)
    stages[REST] = profiled - sum(stages.values())
    return dict(sizes=workload.label, dtype=np.dtype(dtype).name, rows=workload.rows,
                batch=batch, seconds=seconds, profiled_seconds=profiled,
                stage_seconds=stages, rest_spenders=spenders,
                estimator_over_compiled=seconds[ESTIMATOR] / seconds[COMPILED])
