"""The benchmark: nnbp against its GEMM floor, NumPy, PyTorch and scikit-learn, in one run.

It lives in a checkout's bench/, outside the installed package (as
scikit-learn's asv_benchmarks/ does): ``python bench/run.py`` runs it from any
folder, and ``nnbp bench`` from inside the checkout. It times, on the same
data and in the same process:

- the machine's GEMM peak (a 2048 x 2048 matmul), in each dtype;
- one epoch of plain SGD on each workload (nnbp_bench.workloads) at each
  of its batch sizes: the GEMMs alone (the floor), a plain NumPy MLP,
  PyTorch, scikit-learn, nnbp's StochasticTrainer and nnbp's estimator;
- one loss and gradient on all the rows of each workload;
- the latency of predicting one row of the 784-256-128-10 network;
- one row and batch 1 against their floors (nnbp_bench.small): the
  one-row forward pass, repeated and after 50 ms idle, and an epoch of
  per-example SGD against the same products by gemv and ger;
- the loss and gradient with each hidden activation, over the GEMMs alone;
- an epoch through the estimator's partial_fit against the compiled epoch on
  the same batches, and partial_fit taken apart stage by stage
  (nnbp_bench.stages);
- whole fits of nnbp's estimators against scikit-learn's (nnbp_bench.fits): at
  equal hyperparameters, and at scikit-learn's defaults on small tabular data
  with each solver, with the microseconds of a step beside its arithmetic;
- an epoch on one thread against a team of nnbp's threads, on each workload,
  and whole MLPClassifier fits against PyTorch's same recipes (nnbp_bench.threads);
- the first layer's forward product with W as kept and as a transposed copy
  (nnbp_bench.layout);
- two networks trained at once in two Python threads, against one after the
  other (the compiled epoch releases the GIL);
- the peak memory of fit, against the data + 4x the parameters + the workspaces.

Times are medians of --repeats timed calls after a warm-up, the contenders'
calls taken in turn; each ratio is taken between figures of the same run. PyTorch and scikit-learn are
skipped, with a note, where they are not installed.

``nnbp bench --dask`` measures nnbp.dask instead, on a LocalCluster of 2
worker processes against one process (nnbp_bench.cluster).

``nnbp bench --busy`` times whole fits on a quiet machine and on one kept
busy by the benchmark's own spinning processes (nnbp_bench.busy).

``nnbp bench --sparse`` runs the sparse benchmark instead
(nnbp_bench.sparse): nnbp on a TF-IDF-like sparse matrix against nnbp
on it densified and scikit-learn on it sparse.
"""
import argparse
import json
import platform
import sys
import time

import numpy as np
import scipy

import nnbp
from nnbp._show_versions import versions
from nnbp_bench import contenders, fits, layout, measure, report, small, sparse, stages, threads
from nnbp_bench.workloads import MNIST_SHAPED, WORKLOADS

DTYPES = (np.float32, np.float64)
QUICK_ROWS = 256
QUICK_PEAK_SIZE = 512
# --quick checks that every figure is produced, not what it is: the batch-1 floor's
# Python loop over 2048 rows of 784-256-128-10 alone took 20 s, and each call timed
# after idleness costs a 50 ms pause.
QUICK_BATCH_ONE_ROWS = 32
QUICK_IDLE_CALLS = 1


def peers(log):
    """The peer contenders that are installed."""
    available = [contenders.GemmsAlone, contenders.NumpyMLP]
    if contenders.torch_available():
        available.append(contenders.Torch)
    else:
        log("PyTorch is not installed: its columns are empty "
            "(pip install torch==2.13.0 takes the CPU build)")
    if contenders.sklearn_available():
        available += [contenders.SklearnMLP, contenders.NnbpEstimator]
    else:
        log("scikit-learn is not installed: its columns are empty")
    return available + [contenders.Nnbp]


def time_unit(kinds, workload, dtype, repeats, settle, unit, log, **arguments):
    """{contender name: {"seconds", "threads"}} for one unit of work of every contender.

    Each contender runs under its fastest thread setting; then their calls
    are timed in turn (measure.interleaved_medians).
    """
    prepared, threads = {}, {}
    for kind in kinds:
        contender = kind(workload, dtype)
        function = getattr(contender, unit)(**arguments)
        if function is None:
            continue
        threadings = contender.threadings()
        threads[contender.name] = measure.fastest_threading(function, threadings, settle)
        prepared[contender.name] = (function, threadings[threads[contender.name]])
    seconds = measure.interleaved_medians(prepared, repeats, settle)
    times = {name: dict(seconds=seconds[name], threads=threads[name]) for name in prepared}
    rows = f"batch {arguments['batch']}" if "batch" in arguments else "all rows"
    log(f"  {unit} {workload.name} {np.dtype(dtype).name} {rows}: "
        + ", ".join(f"{name} {1e3 * t['seconds']:.1f} ms" for name, t in times.items()))
    return times


def activation_costs(workload, dtypes, repeats, log, settle=measure.SETTLE_SECONDS):
    """nnbp's loss and gradient on all rows, by hidden activation, over the GEMMs alone."""
    rows = []
    for dtype in dtypes:
        X, y = workload.data(dtype)
        floor = contenders.GemmsAlone(workload, dtype)
        floor_seconds, _ = measure.best_median(floor.gradient(X, y), floor.threadings(), repeats,
                                               settle)
        ratios = {}
        for activation in nnbp.ACTIVATIONS:
            net = nnbp.Network(workload.sizes, activation=activation, output=workload.output,
                               dtype=dtype, seed=0)
            grad = np.empty_like(net.params)
            seconds = measure.median_seconds(lambda: net.loss_and_grad(X, y, out=grad), repeats)
            ratios[activation] = seconds / floor_seconds
        rows.append(dict(sizes=workload.label, dtype=np.dtype(dtype).name, rows=workload.rows,
                         ratio_to_floor=ratios))
        log(f"  activations, {np.dtype(dtype).name}: "
            + ", ".join(f"{a} {r:.2f}" for a, r in ratios.items()))
    return rows


def run(workloads=WORKLOADS, dtypes=DTYPES, repeats=5, log=print, fit_cases=fits.CASES,
        predict_workload=MNIST_SHAPED, peak_size=measure.PEAK_SIZE,
        settle=measure.SETTLE_SECONDS, torch_fit=True, small_rows=small.BATCH_ONE_ROWS,
        idle_calls=small.IDLE_CALLS, default_fit_cases=fits.DEFAULT_CASES):
    """All the measurements, as a dict that report.markdown formats and json can write.

    small_rows and idle_calls size the one-row and batch-1 figures
    (nnbp_bench.small): the rows of the batch-1 epoch, and the calls per
    repeat timed after idleness.
    """
    kinds = peers(log)
    results = dict(
        machine=dict(processor=platform.processor() or platform.machine(),
                     python=platform.python_version(), nnbp=nnbp.__version__,
                     numpy=np.__version__, scipy=scipy.__version__,
                     torch=_version("torch"), sklearn=_version("sklearn"),
                     versions=versions()),
        repeats=repeats, peak_gflops={}, epoch=[], gradient=[], predict=[], one_row=[],
        batch_one=[], activations=[], stages=[], fits=[], default_fits=[], scaling=[], layout=[],
        torch_fit=None, torch_fits=[], threads=[], memory=[])
    for dtype in dtypes:
        name = np.dtype(dtype).name
        results["peak_gflops"][name] = measure.gemm_peak_gflops(dtype, repeats, peak_size, settle)
        log(f"GEMM peak, {name}: {results['peak_gflops'][name]:.0f} GFLOP/s")
    for workload in workloads:
        for dtype in dtypes:
            X, y = workload.data(dtype)
            for batch in workload.batches:
                times = time_unit(kinds, workload, dtype, repeats, settle, "epoch", log,
                                  X=X, y=y, batch=batch)
                results["epoch"].append(dict(
                    workload=workload.name, sizes=workload.label, dtype=np.dtype(dtype).name,
                    rows=workload.rows, batch=batch, flops=workload.gradient_flops(workload.rows),
                    times=times))
            times = time_unit(kinds, workload, dtype, repeats, settle, "gradient", log,
                              X=X, y=y)
            results["gradient"].append(dict(
                workload=workload.name, sizes=workload.label, dtype=np.dtype(dtype).name,
                rows=workload.rows, flops=workload.gradient_flops(workload.rows), times=times))
    for dtype in dtypes:
        X, y = predict_workload.shrunk(QUICK_ROWS).data(dtype)
        latencies = {}
        for kind in kinds:
            contender = kind(predict_workload, dtype)
            latencies[contender.name] = measure.median_call_seconds(
                contender.predict_one(X[:1].copy(), X, y), blocks=5 * repeats)
        results["predict"].append(dict(sizes=predict_workload.label,
                                       dtype=np.dtype(dtype).name, seconds=latencies))
        log(f"  predict one row, {np.dtype(dtype).name}: "
            + ", ".join(f"{k} {1e6 * v:.1f} us" for k, v in latencies.items()))
    for dtype in dtypes:
        row = small.one_row(predict_workload, dtype, repeats, idle_calls)
        results["one_row"].append(row)
        log(f"  one row, {row['dtype']}: " + ", ".join(
            f"{name} {1e6 * seconds:.1f} us" for name, seconds in row["seconds"].items()))
        row = small.batch_one(predict_workload, dtype, repeats, small_rows)
        results["batch_one"].append(row)
        log(f"  batch 1, {row['dtype']}: " + ", ".join(
            f"{name} {us:.1f} us" for name, us in row["microseconds_per_step"].items()))
    results["activations"] = activation_costs(workloads[0], dtypes, repeats, log, settle)
    if contenders.sklearn_available():
        for dtype in dtypes:
            for batch in stages.BATCHES:
                row = stages.fit_stages(workloads[0], dtype, min(batch, workloads[0].rows),
                                        repeats, settle)
                results["stages"].append(row)
                log(f"  partial_fit taken apart, {row['dtype']} batch {row['batch']}: "
                    f"{row['estimator_over_compiled']:.3f} x the compiled epoch; " + ", ".join(
                        f"{stage} {1e3 * seconds:.2f} ms"
                        for stage, seconds in row["stage_seconds"].items()))
        results["fits"] = fits.time_fits(fit_cases, repeats, log)
        results["default_fits"] = fits.time_default_fits(default_fit_cases, repeats, log)
    for workload in workloads:
        for dtype in dtypes:
            for row in threads.scaling(workload, dtype, workload.batches, repeats):
                results["scaling"].append(row)
                log(f"  {row['sizes']}, {row['dtype']} batch {row['batch']}: 1 thread "
                    f"{1e3 * row['seconds_one']:.1f} ms, {row['threads']} threads "
                    f"{1e3 * row['seconds_team']:.1f} ms")
    for dtype in dtypes:
        for row in layout.forward_layouts(dtype, (32, 256), repeats):
            results["layout"].append(row)
            log(f"  forward layouts, {row['dtype']} batch {row['batch']}: " + ", ".join(
                f"{name} {us:.1f} us" for name, us in row["microseconds"].items()))
    if torch_fit:
        results["torch_fit"] = threads.fit_against_torch(repeats, log)
        results["torch_fits"] = threads.fits_against_torch(repeats, log)
    for dtype in dtypes:
        for batch in (32, 256):
            row = measure.training_in_threads(workloads[0], dtype,
                                              min(batch, workloads[0].rows), repeats, settle)
            results["threads"].append(row)
            log(f"  two trainings, {row['dtype']} batch {row['batch']}: "
                + ", ".join(f"{way} {1e3 * t:.1f} ms" for way, t in row["seconds"].items()))
    memory_workload = workloads[0]
    for dtype in dtypes:
        for batch in (32, 256):
            for optimizer in ("sgd", "adam"):
                for estimator in (False, True) if contenders.sklearn_available() else (False,):
                    row = measure.fit_memory(memory_workload, dtype,
                                             min(batch, memory_workload.rows), optimizer,
                                             estimator)
                    results["memory"].append(row)
                    log(f"  fit memory, {row['fit']} {row['dtype']} batch {row['batch']} "
                        f"{optimizer}: peak {row['peak_bytes'] / 2**20:.1f} MiB, budget "
                        f"{row['budget_bytes'] / 2**20:.1f} MiB")
    return results


def _version(module):
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def _log(message):
    print(message, file=sys.stderr, flush=True)


def _report(results, markdown, path, start):
    """Print the tables, and write every figure to path."""
    results["seconds"] = time.perf_counter() - start
    print(markdown(results))
    with open(path, "w") as handle:
        json.dump(results, handle, indent=2)
    _log(f"wrote {path} in {results['seconds']:.0f} s")
    return 0


def _main_dask(args):
    from nnbp_bench import cluster

    start = time.perf_counter()
    if args.quick:
        results = cluster.run(1, _log, rows=QUICK_ROWS * cluster.PARTITIONS, digits_seeds=1,
                              digits_epochs=2)
    else:
        results = cluster.run(args.repeats, _log)
    return _report(results, cluster.markdown, args.json, start)


def _main_busy(args):
    from nnbp_bench import busy

    start = time.perf_counter()
    if args.quick:
        results = busy.run(rounds=1, fits=1, log=_log, scaling=False)
    else:
        results = busy.run(repeats=args.repeats, log=_log)
    return _report(results, busy.markdown, args.json, start)


def _main_sparse(args):
    start = time.perf_counter()
    if args.quick:
        results = sparse.run(rows=QUICK_ROWS, features=2000, repeats=1, settle=0.0, log=_log)
    else:
        results = sparse.run(repeats=args.repeats, log=_log)
    return _report(results, sparse.markdown, args.json, start)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="nnbp bench", description=__doc__.splitlines()[0],
        epilog="The tables are printed as Markdown; --json writes every figure.")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed calls per figure, after one warm-up (default 5)")
    parser.add_argument("--json", default="nnbp-bench.json",
                        help="write the results here (default nnbp-bench.json)")
    parser.add_argument("--quick", action="store_true",
                        help=f"every workload on {QUICK_ROWS} rows, one repeat, no pauses, a small "
                             f"peak GEMM, batch 1 on {QUICK_BATCH_ONE_ROWS} rows, one call after "
                             "idleness, digits fits only, no fit against PyTorch: checks that "
                             "the benchmark runs, measures nothing")
    parser.add_argument("--workload", action="append",
                        choices=[w.name for w in WORKLOADS],
                        help="only this workload (repeatable)")
    parser.add_argument("--dask", action="store_true",
                        help="instead, nnbp.dask on a LocalCluster of 2 worker processes "
                             "against one process (needs the [dask] extra; see "
                             "nnbp_bench.cluster)")
    parser.add_argument("--sparse", action="store_true",
                        help="instead, nnbp on a TF-IDF-like sparse matrix against nnbp on it "
                             "densified and scikit-learn on it sparse (see "
                             "nnbp_bench.sparse)")
    parser.add_argument("--busy", action="store_true",
                        help="instead, whole fits on a quiet machine and on one kept busy by "
                             "a spinning process per CPU, against OMP_NUM_THREADS=1 and "
                             "scikit-learn (see nnbp_bench.busy)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.dask:
        return _main_dask(args)
    if args.sparse:
        return _main_sparse(args)
    if args.busy:
        return _main_busy(args)
    workloads = [w for w in WORKLOADS if not args.workload or w.name in args.workload]
    repeats = args.repeats
    fit_cases, peak_size, settle = fits.CASES, measure.PEAK_SIZE, measure.SETTLE_SECONDS
    default_fit_cases = fits.DEFAULT_CASES
    small_rows, idle_calls = small.BATCH_ONE_ROWS, small.IDLE_CALLS
    if args.quick:
        workloads, repeats = [w.shrunk(QUICK_ROWS) for w in workloads], 1
        fit_cases = [case for case in fits.CASES if case[0] == "digits"]
        default_fit_cases = [case for case in fits.DEFAULT_CASES if case[0] == "digits"]
        peak_size, settle = QUICK_PEAK_SIZE, 0.0
        small_rows, idle_calls = QUICK_BATCH_ONE_ROWS, QUICK_IDLE_CALLS

    start = time.perf_counter()
    results = run(workloads, DTYPES, repeats, _log, fit_cases, peak_size=peak_size,
                  settle=settle, torch_fit=not args.quick, small_rows=small_rows,
                  idle_calls=idle_calls, default_fit_cases=default_fit_cases)
    return _report(results, report.markdown, args.json, start)
