"""Two builds of nnbp on the same fits: is one slower than the other?

Usage: python bench/compare_builds.py BEFORE AFTER [--repeats R] [--quick]

BEFORE and AFTER are checkouts with the extension built in place (python
setup.py build_ext --inplace). Each figure is taken R times; each time, a
fresh process of each build (in turn, BEFORE first on even rounds and AFTER
first on odd ones) times the same call on the same data, after a warm-up,
and prints its median. The table gives both medians over the rounds and the
median of the rounds' AFTER / BEFORE ratios, whose spread is that of the
machine: ratios within a few percent of 1 are no change.

The calls are what a user of the estimators runs with scikit-learn's
options, which every build has: an epoch of MLPClassifier.partial_fit
(784-256-128-10 on 8192 rows, plain sgd, no shuffle), and predict_proba of
one row.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time, warnings
import numpy as np
import nnbp

dtype, batch, calls = np.dtype(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = rng.standard_normal((8192, 784)).astype(dtype)
y = rng.integers(0, 10, 8192)
model = nnbp.MLPClassifier((256, 128), solver="sgd", learning_rate_init=1e-3, momentum=0.0,
                           alpha=0.0, batch_size=max(batch, 1), shuffle=False,
                           random_state=0)
warnings.simplefilter("ignore")
model.partial_fit(X, y, classes=np.arange(10))
if batch == 0:
    row = X[:1]
    call = lambda: model.predict_proba(row)
else:
    call = lambda: model.partial_fit(X, y)
call()
seconds = []
for _ in range(calls):
    start = time.perf_counter()
    call()
    seconds.append(time.perf_counter() - start)
print(json.dumps(float(np.median(seconds))))
"""

# (label, dtype, batch; 0: one-row predict_proba, calls per process).
CASES = [(f"partial_fit epoch, batch {batch}", dtype, batch, 3)
         for dtype in ("float32", "float64") for batch in (32, 256)]
CASES += [("predict_proba, one row", dtype, 0, 200) for dtype in ("float32", "float64")]


def child_seconds(build, dtype, batch, calls):
    """The median seconds of the call, in a fresh process that imports nnbp from build."""
    environment = dict(os.environ, PYTHONPATH=os.path.abspath(build))
    output = subprocess.run([sys.executable, "-c", CHILD, dtype, str(batch), str(calls)],
                            env=environment, check=True, capture_output=True, text=True,
                            cwd=os.path.abspath(build)).stdout
    return json.loads(output.strip().splitlines()[-1])


def compare(before, after, repeats, cases=CASES):
    """Rows of (label, dtype, before median, after median, median ratio after/before)."""
    rows = []
    for label, dtype, batch, calls in cases:
        times = {before: [], after: []}
        for round_number in range(repeats):
            order = (before, after) if round_number % 2 == 0 else (after, before)
            for build in order:
                times[build].append(child_seconds(build, dtype, batch, calls))
        ratios = [a / b for a, b in zip(times[after], times[before])]
        rows.append((label, dtype, statistics.median(times[before]),
                     statistics.median(times[after]), statistics.median(ratios)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="one round of one-row predictions: checks that it runs")
    args = parser.parse_args(argv)
    cases = [case[:3] + (3,) for case in CASES if case[2] == 0] if args.quick else CASES
    repeats = 1 if args.quick else args.repeats
    print("| call | dtype | before | after | after / before |")
    print("|---|---|---|---|---|")
    for label, dtype, before, after, ratio in compare(args.before, args.after, repeats, cases):
        unit, scale = ("us", 1e6) if "one row" in label else ("ms", 1e3)
        print(f"| {label} | {dtype} | {scale * before:.1f} {unit} | {scale * after:.1f} {unit} "
              f"| {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()
