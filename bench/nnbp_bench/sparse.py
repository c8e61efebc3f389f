"""The sparse benchmark: a TF-IDF-like problem, nnbp on sparse X against its peers.

``nnbp bench --sparse`` times, in one run and on the same data, one epoch
of MLPClassifier.partial_fit (shuffled, batch 32, hidden (256,)) with Adam
(scikit-learn's defaults: learning rate 1e-3, alpha 1e-4) and with plain SGD
(no momentum, no penalty, learning rate 0.01), for:

- nnbp on the sparse matrix (CSR);
- nnbp on the same matrix densified;
- scikit-learn on the sparse matrix.

The data: 8,192 documents over a vocabulary of 20,000 terms, term counts
drawn from a Zipf-Mandelbrot law (rank r with weight 1 / (r + 2.7)), about
100 distinct terms a document (density 0.5%), the ranks scattered over the
columns as an alphabetical vocabulary scatters them; TF-IDF weights
(scikit-learn's smooth idf), rows scaled to unit norm; 20 classes, the
largest of 20 random linear scores.

With Adam, every step updates all of W(1) and both its moments: one pass
over 7 arrays of 20,000 x 256, which memory bandwidth bounds. The benchmark
times that update alone (nnbp's compiled Adam update of the whole parameter
vector) and reports its share of nnbp's step. It also measures the resident
memory of a fresh process that loads the data, and its peak during one epoch
of fit, for each contender and for nnbp on 4 times the rows: sparse, it
grows with the nonzeros.
"""
import gc
import json
import pathlib
import tempfile
import warnings

import numpy as np
import scipy.sparse

import nnbp
from nnbp import _core
from nnbp_bench import contenders, measure
from nnbp_bench.child import json_from_python
from nnbp_bench.report import table

ROWS, FEATURES, DENSITY, CLASSES = 8192, 20_000, 0.005, 20
HIDDEN, BATCH = (256,), 32
SOLVERS = {
    "adam": dict(solver="adam", learning_rate_init=1e-3, alpha=1e-4),
    "sgd": dict(solver="sgd", learning_rate_init=0.01, momentum=0.0, alpha=0.0),
}
NNBP_SPARSE, NNBP_DENSE, SKLEARN_SPARSE = "nnbp sparse", "nnbp densified", "scikit-learn sparse"
# Zipf-Mandelbrot's shift, and tokens drawn per distinct term wanted (repeats
# of the frequent terms make up the difference).
ZIPF_SHIFT, TOKENS_PER_TERM = 2.7, 1.05


def tfidf_like(rows=ROWS, features=FEATURES, density=DENSITY, classes=CLASSES,
               dtype=np.float64, seed=0):
    """(X, y): a CSR matrix of TF-IDF-like rows (see the module) and class labels."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(1, features + 1) + ZIPF_SHIFT)
    column_of_rank = rng.permutation(features)
    lengths = 1 + rng.lognormal(np.log(TOKENS_PER_TERM * density * features), 0.5,
                                rows).astype(np.int64)
    tokens = rng.choice(features, size=lengths.sum(), p=weights / weights.sum())
    counts = scipy.sparse.coo_matrix(
        (np.ones(tokens.size), (np.repeat(np.arange(rows), lengths), column_of_rank[tokens])),
        shape=(rows, features)).tocsr()          # repeated terms add up: counts
    document_frequency = np.bincount(counts.indices, minlength=features)
    idf = np.log((1 + rows) / (1 + document_frequency)) + 1
    X = counts.multiply(idf).tocsr()
    X = scipy.sparse.csr_matrix(X.multiply(1 / np.sqrt(X.multiply(X).sum(axis=1))),
                                dtype=dtype)
    y = np.argmax(X @ rng.standard_normal((features, classes)), axis=1)
    return X, y


def _classifier(library, solver, random_state=0):
    estimator = (nnbp.MLPClassifier if library == "nnbp"
                 else contenders.SklearnMLP.module().MLPClassifier)
    return estimator(hidden_layer_sizes=HIDDEN, batch_size=BATCH, random_state=random_state,
                     **SOLVERS[solver])


def _one_epoch(estimator, X, y):
    """A function that trains estimator one more shuffled epoch on (X, y)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        estimator.partial_fit(X, y, classes=np.arange(CLASSES))

    def epoch():
        estimator.partial_fit(X, y)

    return epoch


def adam_update_seconds(n_params, dtype, repeats):
    """Median seconds of nnbp's compiled Adam update of n_params parameters."""
    rng = np.random.default_rng(0)
    params, grad = (rng.standard_normal(n_params).astype(dtype) for _ in range(2))
    m, v = np.zeros_like(params), np.zeros_like(params)
    return measure.median_call_seconds(
        lambda: _core.update(_core.Optimizer.adam(1e-3, 0.9, 0.999, 1e-8, 0, (m, v)), params, grad),
        calls=1, blocks=max(5, 5 * repeats))


def epoch_times(X, y, solver, repeats, settle, log):
    """{contender: {"seconds", "threads"}} for one epoch of each, on the same data."""
    prepared, threads = {}, {}
    cases = [(NNBP_SPARSE, "nnbp", X, contenders.nnbp_threadings()),
             (NNBP_DENSE, "nnbp", None, contenders.nnbp_threadings())]
    if contenders.sklearn_available():
        cases.append((SKLEARN_SPARSE, "sklearn", X, contenders.numpy_threadings()))
    for name, library, data, threadings in cases:
        data = X.toarray() if data is None else data
        epoch = _one_epoch(_classifier(library, solver), data, y)
        threads[name] = measure.fastest_threading(epoch, threadings, settle)
        prepared[name] = (epoch, threadings[threads[name]])
    seconds = measure.interleaved_medians(prepared, repeats, settle)
    log(f"  {solver} {X.dtype.name}: " + ", ".join(
        f"{name} {seconds[name]:.2f} s" for name in prepared))
    return {name: dict(seconds=seconds[name], threads=threads[name]) for name in prepared}


# ---------------------------------------------------------------- memory

def peak_memory(contender, X_path, y_path):
    """The resident memory of a fresh process that has loaded the data (scipy's .npz of
    X, NumPy's .npy of y), and its peak during one epoch of fit with Adam."""
    script = (f"from nnbp_bench.sparse import _fit_and_report; "
              f"_fit_and_report({contender!r}, {str(X_path)!r}, {str(y_path)!r})")
    return json_from_python(["-c", script], cwd=pathlib.Path(X_path).resolve().parent)


def _fit_and_report(contender, X_path, y_path):
    """In a child process: load the data, fit one epoch with Adam, print the memory."""
    X, y = scipy.sparse.load_npz(X_path), np.load(y_path)
    rows, nonzeros = X.shape[0], X.nnz
    data_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    if contender == NNBP_DENSE:
        X = X.toarray()
        data_bytes = X.nbytes
    estimator = _classifier("sklearn" if contender == SKLEARN_SPARSE else "nnbp", "adam")
    gc.collect()
    measure.reset_peak_resident()
    before = measure.resident_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        estimator.partial_fit(X, y, classes=np.arange(CLASSES))
    print(json.dumps(dict(contender=contender, rows=rows, nonzeros=int(nonzeros),
                          data_bytes=int(data_bytes), before_bytes=before,
                          peak_bytes=measure.peak_resident_bytes())))


def memory_rows(rows, features, density, dtype, log):
    """The memory of each contender's fit, and of nnbp's on 4 times the rows."""
    cases = {rows: [NNBP_SPARSE, NNBP_DENSE], 4 * rows: [NNBP_SPARSE]}
    if contenders.sklearn_available():
        cases[rows].append(SKLEARN_SPARSE)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for n, names in cases.items():
            X, y = tfidf_like(n, features, density, dtype=dtype)
            X_path, y_path = pathlib.Path(folder, "X.npz"), pathlib.Path(folder, "y.npy")
            scipy.sparse.save_npz(X_path, X, compressed=False)
            np.save(y_path, y)
            for contender in names:
                row = peak_memory(contender, X_path, y_path)
                results.append(row)
                log(f"  memory {contender}, {n} rows: "
                    f"{row['before_bytes'] / 2**20:.0f} MiB with the data, peak "
                    f"{row['peak_bytes'] / 2**20:.0f} MiB in the fit")
    return results


# ---------------------------------------------------------------- the run and its report

def run(rows=ROWS, features=FEATURES, density=DENSITY, dtypes=(np.float64, np.float32),
        repeats=5, settle=measure.SETTLE_SECONDS, log=print, memory=True):
    """All the measurements, as a dict that markdown formats and json can write."""
    results = dict(rows=rows, features=features, hidden=list(HIDDEN), batch=BATCH,
                   repeats=repeats, epoch=[], memory=[])
    for dtype in dtypes:
        X, y = tfidf_like(rows, features, density, dtype=dtype)
        steps = -(-X.shape[0] // BATCH)
        sizes = (features, *HIDDEN, CLASSES)
        n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))    # weights, biases
        for solver in SOLVERS:
            row = dict(dtype=np.dtype(dtype).name, solver=solver,
                       density=X.nnz / (X.shape[0] * X.shape[1]), nonzeros=int(X.nnz),
                       steps=steps, times=epoch_times(X, y, solver, repeats, settle, log))
            if solver == "adam":
                row["adam_update_seconds"] = adam_update_seconds(n_params, dtype, repeats)
            results["epoch"].append(row)
    if memory and measure.peak_resident_bytes() is not None:
        results["memory"] = memory_rows(rows, features, density, dtypes[0], log)
    return results


def _ratio(times, slower, faster):
    if slower not in times or faster not in times:
        return "-"
    return f"{times[slower]['seconds'] / times[faster]['seconds']:.1f}x"


def _adam_update(row):
    """[Adam's update in ms, its share of nnbp's sparse step], or dashes."""
    if "adam_update_seconds" not in row:
        return ["-", "-"]
    seconds = row["adam_update_seconds"]
    share = seconds * row["steps"] / row["times"][NNBP_SPARSE]["seconds"]
    return [f"{1e3 * seconds:.1f}", f"{100 * share:.0f}%"]


def markdown(results):
    names = (NNBP_SPARSE, NNBP_DENSE, SKLEARN_SPARSE)
    parts = [
        f"One epoch of MLPClassifier.partial_fit on a TF-IDF-like problem: {results['rows']} "
        f"rows, {results['features']} features, hidden {tuple(results['hidden'])}, batch "
        f"{results['batch']}, seconds (medians of {results['repeats']}). Adam's update: nnbp's "
        "compiled Adam update of every parameter, once, and its share of nnbp's sparse step.",
        table(["solver", "dtype", "density"] + list(names)
              + ["densified / sparse", "scikit-learn / nnbp", "Adam's update, ms",
                 "its share of the step"],
              [[row["solver"], row["dtype"], f"{100 * row['density']:.2f}%"]
               + [f"{row['times'][name]['seconds']:.2f}" if name in row["times"] else "-"
                  for name in names]
               + [_ratio(row["times"], NNBP_DENSE, NNBP_SPARSE),
                  _ratio(row["times"], SKLEARN_SPARSE, NNBP_SPARSE)] + _adam_update(row)
               for row in results["epoch"]]),
    ]
    if results["memory"]:
        mib = 2 ** 20
        parts += [
            "Resident memory of a fresh process (Linux's /proc/self/status), MiB: once it "
            "has imported the libraries and loaded the data, and its peak during one epoch "
            "of fit with Adam; data: the matrix's arrays as the fit gets them; the fit's "
            "own: the peak less the memory before.",
            table(["contender", "rows", "nonzeros", "data", "before the fit", "peak",
                   "the fit's own"],
                  [[row["contender"], row["rows"], row["nonzeros"],
                    f"{row['data_bytes'] / mib:.1f}", f"{row['before_bytes'] / mib:.0f}",
                    f"{row['peak_bytes'] / mib:.0f}",
                    f"{(row['peak_bytes'] - row['before_bytes']) / mib:.0f}"]
                   for row in results["memory"]]),
        ]
    return "\n\n".join(parts) + "\n"
