"""nnbp on a busy machine: whole fits while other processes hold every core.

``nnbp bench --busy`` times the same fits on a quiet machine and on a busy
one, in one run. The busy processes are the benchmark's own: one spinning
Python process per CPU this process may use (two on a 2-core machine), started
before the busy rounds and stopped after them.

Each fit runs in a fresh child process, so that its environment
(``OMP_NUM_THREADS``) is read before OpenMP and BLAS start. A child fits
once to warm up, then times `fits` fits and reports their median. The
contenders' children run in turn, round after round, and each figure is the
median of the rounds' medians.

The cases:

- the README's digits model, ``MLPClassifier(hidden_layer_sizes=(64,),
  learning_rate_init=0.01, max_iter=50, random_state=0)`` on the bundled
  digits / 16: nnbp as it comes, nnbp with ``OMP_NUM_THREADS=1``, and
  scikit-learn's MLPClassifier;
- ``GridSearchCV`` of that model over four values of alpha, 3-fold, with
  ``n_jobs=2``: on joblib's worker processes (loky, its default) and on its
  threading backend, for nnbp and for scikit-learn.

The quiet run also times an epoch on one thread against a team
(nnbp_bench.threads.scaling), whose speed-up the busy machine must not
have cost.
"""
import contextlib
import json
import subprocess
import sys
import time
import warnings

import numpy as np

from nnbp import _threads
from nnbp_bench.child import json_from_python

CASES = {
    # name: (what is fitted, how, the child's extra environment)
    "nnbp": ("nnbp", "fit", {}),
    "nnbp, OMP_NUM_THREADS=1": ("nnbp", "fit", {"OMP_NUM_THREADS": "1"}),
    "scikit-learn": ("sklearn", "fit", {}),
    "nnbp, GridSearchCV on processes": ("nnbp", "search-processes", {}),
    "scikit-learn, GridSearchCV on processes": ("sklearn", "search-processes", {}),
    "nnbp, GridSearchCV on threads": ("nnbp", "search-threads", {}),
    "scikit-learn, GridSearchCV on threads": ("sklearn", "search-threads", {}),
}
ALPHAS = [1e-5, 1e-4, 1e-3, 1e-2]


def _fitter(library, how):
    """The function that the child times: one fit, or one grid search."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    from nnbp.datasets import load_digits

    if library == "nnbp":
        from nnbp import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    X, y = load_digits()
    X = X / 16
    model = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=50,
                          random_state=0)
    if how == "fit":
        fitted = model
    else:
        fitted = GridSearchCV(model, {"alpha": ALPHAS}, cv=3, n_jobs=2)
    backend = contextlib.nullcontext
    if how == "search-threads":
        from joblib import parallel_backend

        def backend():
            return parallel_backend("threading", n_jobs=2)

    def fit():
        with warnings.catch_warnings(), backend():
            warnings.simplefilter("ignore", ConvergenceWarning)     # max_iter reached
            fitted.fit(X, y)
    return fit


def _child(library, how, fits):
    """Prints the median seconds of `fits` fits, after one to warm up (in the child)."""
    from nnbp_bench.measure import median_seconds

    print(json.dumps(median_seconds(_fitter(library, how), fits)))


def _time_in_child(case, fits):
    library, how, environment = CASES[case]
    # python -m puts the working directory first on the child's path: json_from_python
    # runs it from bench/, where no uncompiled nnbp/ of a checkout's top can shadow
    # this very nnbp, and finds both through PYTHONPATH.
    return json_from_python(["-m", "nnbp_bench.busy", library, how, str(fits)],
                            environment=environment)


@contextlib.contextmanager
def busy_processes(count):
    """`count` processes that spin on the CPUs until the block ends."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    try:
        time.sleep(1.0)             # until the scheduler has them running
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


def time_cases(rounds, fits, log):
    """{case: median seconds}: each case's children in turn, `rounds` times over."""
    seconds = {case: [] for case in CASES}
    for _ in range(rounds):
        for case in seconds:
            seconds[case].append(_time_in_child(case, fits))
    medians = {case: float(np.median(times)) for case, times in seconds.items()}
    for case, value in medians.items():
        log(f"    {case}: {value:.3f} s")
    return medians


def run(rounds=3, fits=2, repeats=5, log=print, scaling=True):
    """The quiet and the busy timings, and the quiet team speed-ups, as a dict."""
    from nnbp._show_versions import versions
    from nnbp_bench import threads
    from nnbp_bench.workloads import MNIST_SHAPED

    spinners = max(2, _threads.CPUS)
    results = dict(versions=versions(), cpus=_threads.CPUS, busy_processes=spinners,
                   rounds=rounds, fits=fits)
    log("quiet machine:")
    results["quiet"] = time_cases(rounds, fits, log)
    log(f"busy machine ({spinners} spinning processes):")
    with busy_processes(spinners):
        results["busy"] = time_cases(rounds, fits, log)
    results["scaling"] = []
    if scaling:
        for dtype in (np.float32, np.float64):
            for row in threads.scaling(MNIST_SHAPED, dtype, (32, 256), repeats):
                results["scaling"].append(row)
                log(f"  quiet epoch, {row['dtype']} batch {row['batch']}: speed-up "
                    f"{row['speedup']:.2f} on {row['threads']} threads")
    return results


def markdown(results):
    """The busy-machine table and the quiet speed-ups, as the Benchmarks page shows them."""
    from nnbp_bench.report import table

    quiet, busy = results["quiet"], results["busy"]

    def ratio(times, numerator, denominator):
        if numerator not in times or denominator not in times:
            return "-"
        return f"{times[numerator] / times[denominator]:.2f}"

    parts = [
        f"Whole fits, seconds: medians of {results['rounds']} rounds of "
        f"{results['fits']} fits each, quiet and with {results['busy_processes']} spinning "
        f"processes on {results['cpus']} CPUs.",
        table(["fit", "quiet", "busy"],
              [[case, f"{quiet[case]:.3f}", f"{busy[case]:.3f}"] for case in quiet]),
        table(["ratio", "quiet", "busy"], [
            ["nnbp / nnbp with OMP_NUM_THREADS=1"]
            + [ratio(t, "nnbp", "nnbp, OMP_NUM_THREADS=1") for t in (quiet, busy)],
            ["scikit-learn / nnbp"] + [ratio(t, "scikit-learn", "nnbp") for t in (quiet, busy)],
            ["GridSearchCV on processes, scikit-learn / nnbp"]
            + [ratio(t, "scikit-learn, GridSearchCV on processes",
                     "nnbp, GridSearchCV on processes") for t in (quiet, busy)],
            ["GridSearchCV on threads, scikit-learn / nnbp"]
            + [ratio(t, "scikit-learn, GridSearchCV on threads",
                     "nnbp, GridSearchCV on threads") for t in (quiet, busy)],
        ]),
    ]
    if results["scaling"]:
        parts += [
            "Quiet machine: one epoch of 784-256-128-10 on 8192 rows, one thread against a team.",
            table(["dtype", "batch", "1 thread, ms", "team, ms", "threads", "speed-up"],
                  [[row["dtype"], row["batch"], f"{1e3 * row['seconds_one']:.1f}",
                    f"{1e3 * row['seconds_team']:.1f}", row["threads"],
                    f"{row['speedup']:.2f}"] for row in results["scaling"]]),
        ]
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
