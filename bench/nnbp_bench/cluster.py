"""The benchmark on a Dask cluster (nnbp bench --dask): nnbp.dask against one process.

On 784-256-128-10 (softmax) and 65,536 rows, in float32 and float64, on a
LocalCluster of 2 worker processes of 1 thread each (one worker: all the
partitions on one of them):

- one L-BFGS iteration: the loss and gradient of all the rows, summed across
  the workers and brought to the client, on 1 and on 2 workers, against one
  process with 2 BLAS threads (Network.loss_and_grad) on the same 2 cores;
- its overhead: its time less the compute of its slowest shard task (Dask's
  task stream), in ms and as a share of the time;
- the bytes moved per iteration: what the workers sent, to each other and to
  the client (Dask counts it), and the parameters the client scattered
  (their serialized frames);
- a round of local SGD at several sync intervals, its overhead likewise, and
  the scheduler's throughput in tasks per second;
- the L-BFGS fit on the digits, on the cluster and in one process (float64,
  50 iterations): their largest difference, relative;
- sgd on the digits, on the cluster and in one process, over seeds: held-out
  accuracy and the loss at some epochs.

From the measured costs, model() gives the time per iteration on 8, 64 and
256 machines at 10 Gb/s. Medians of --repeats timed calls after a warm-up.
The machine's two cores host both the workers and the one process, in turn.
"""
import math
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import nnbp
from nnbp_bench.measure import SETTLE_SECONDS
from nnbp_bench.workloads import MNIST_SHAPED

ROWS = 65536
PARTITIONS = 8
BANDWIDTH = 10e9 / 8              # 10 Gb/s, in bytes per second
MACHINES = (8, 64, 256)
SYNC_INTERVALS = (1, 16, 64)
LOCAL_BATCH = 256                 # rows per local step of local SGD, on each machine
DIGITS_SEEDS = 5
DIGITS_EPOCHS = 100


def partition(index, rows, dtype):
    """One partition of the benchmark's data, the same wherever it is made."""
    rng = np.random.default_rng(index)
    X = rng.standard_normal((rows, MNIST_SHAPED.sizes[0])).astype(dtype)
    return X, rng.integers(0, MNIST_SHAPED.sizes[-1], rows)


def _first(pair):
    return pair[0]


def _second(pair):
    return pair[1]


def _noop(value):
    return value


def cluster_collections(client, rows, dtype, workers):
    """X and y as dask arrays made by tasks on the given workers, partitions dealt in turn."""
    import dask.array as da

    size = rows // PARTITIONS
    columns = ([], [])
    for index in range(PARTITIONS):
        where = dict(workers=[workers[index % len(workers)]], allow_other_workers=True)
        pair = client.submit(partition, index, size, dtype, pure=False, **where)
        for column, pick, shape in zip(columns, (_first, _second),
                                       ((size, MNIST_SHAPED.sizes[0]), (size,))):
            column.append(da.from_delayed(client.submit(pick, pair, pure=False, **where),
                                          shape=shape, dtype=dtype if pick is _first else int))
    return da.concatenate(columns[0]), da.concatenate(columns[1])


def _task_seconds(stream, prefix):
    """The longest compute of the streamed tasks whose key starts with prefix."""
    durations = [part["stop"] - part["start"] for task in stream
                 if str(task["key"]).startswith(prefix)
                 for part in task["startstops"] if part["action"] == "compute"]
    return max(durations)


def _sent_bytes(client):
    return sum(client.run(lambda dask_worker: dask_worker.transfer_outgoing_bytes_total).values())


def _scattered_bytes(value):
    """The bytes of value as Dask serializes it to scatter it."""
    from distributed.protocol import serialize_bytelist
    return sum(memoryview(frame).nbytes for frame in serialize_bytelist(value))


def _timed(client, call, task_prefix, settle):
    """(seconds, compute seconds of the longest task named task_prefix..., bytes the workers sent)."""
    from distributed import get_task_stream

    time.sleep(settle)
    before = _sent_bytes(client)
    with get_task_stream(client) as stream:
        start = time.perf_counter()
        call()
        seconds = time.perf_counter() - start
    return seconds, _task_seconds(stream.data, task_prefix), _sent_bytes(client) - before


def _medians(samples, scattered):
    """The medians of _timed's samples: {seconds, compute_seconds, overhead_seconds, bytes}.

    bytes: what the workers sent, plus `scattered`, what the client scattered.
    """
    seconds, compute, sent = (np.array(column) for column in zip(*samples))
    return dict(seconds=float(np.median(seconds)), compute_seconds=float(np.median(compute)),
                overhead_seconds=float(np.median(seconds - compute)),
                bytes=float(np.median(sent)) + scattered)


def iterations(client, dtype, rows, repeats, log, settle=SETTLE_SECONDS):
    """One L-BFGS iteration in one process, on one worker and on two, timed in turn; then
    local SGD's rounds and the scheduler's throughput on two.

    client: of a cluster of two workers of one thread each; "one worker" holds
    all the partitions on one of them (the other idles), "two" deals them out.
    """
    from contextlib import ExitStack

    from nnbp.dask import DaskMLPClassifier, _ingest

    name = np.dtype(dtype).name
    net = nnbp.Network(MNIST_SHAPED.sizes, output="softmax", dtype=dtype, seed=0)
    grad = np.empty_like(net.params)
    parts = [partition(index, rows // PARTITIONS, dtype) for index in range(PARTITIONS)]
    X, y = (np.concatenate(column) for column in zip(*parts))
    del parts
    with ExitStack() as stack, threadpool_limits(2):
        clusters = {}
        addresses = sorted(client.scheduler_info()["workers"])
        for workers in (1, 2):
            estimator = DaskMLPClassifier(hidden_layer_sizes=MNIST_SHAPED.sizes[1:-1],
                                          dtype=dtype, solver="sgd", client=client)
            collections = cluster_collections(client, rows, dtype, addresses[:workers])
            data = _ingest(estimator, client, *collections, None, True, False)
            stack.callback(data.release)
            clusters[workers] = (data, estimator)

        def one_process():
            net.loss_and_grad(X, y, out=grad)

        one_process()                         # warm up: the workspace, BLAS's threads
        samples = {workers: [] for workers in clusters}
        local = []
        for _ in range(repeats + 1):          # the first round warms the workers up
            time.sleep(settle)
            start = time.perf_counter()
            one_process()
            local.append(time.perf_counter() - start)
            for workers, (data, _) in clusters.items():
                samples[workers].append(_timed(
                    client, lambda: data.loss_and_grad(net, net.params),
                    "_shard_loss_and_grad", settle))
        row = dict(dtype=name, one_process=float(np.median(local[1:])))
        log(f"  lbfgs iteration, {name}: one process, 2 threads {1e3 * row['one_process']:.1f} ms")
        for workers, (data, _) in clusters.items():
            row[f"workers_{workers}"] = dict(
                workers=workers, rows=rows, shards=len(data.shards),
                params_bytes=net.params.nbytes,
                **_medians(samples[workers][1:], _scattered_bytes(net.params)))
            timing = row[f"workers_{workers}"]
            log(f"  lbfgs iteration, {name}, {workers} worker(s): "
                f"{1e3 * timing['seconds']:.1f} ms, overhead "
                f"{1e3 * timing['overhead_seconds']:.1f} ms, {timing['bytes'] / 2**20:.2f} MiB moved")
        data, estimator = clusters[2]
        row["rounds"] = local_sgd_rounds(client, data, net, estimator, repeats, log, settle)
        row["tasks_per_second"] = scheduler_throughput(client)
        return row


def local_sgd_rounds(client, data, net, estimator, repeats, log, settle):
    """A round of local SGD (momentum sgd, LOCAL_BATCH rows a step on each shard) at each
    sync interval: its time, the compute of its slowest shard, the bytes moved."""
    optimizer = estimator._make_optimizer().start(net.params)
    plans = [(None, LOCAL_BATCH)] * len(data.shards)
    rows = []
    for sync_every in SYNC_INTERVALS:
        def one_round():
            data.local_round(net, optimizer, (0, sync_every), plans,
                             LOCAL_BATCH * len(data.shards), 1)

        one_round()
        samples = [_timed(client, one_round, "_local_steps", settle) for _ in range(repeats)]
        row = dict(sync_every=sync_every,
                   **_medians(samples, _scattered_bytes([net.params, optimizer])))
        rows.append(row)
        log(f"  local SGD round of {sync_every} steps: {1e3 * row['seconds']:.1f} ms, "
            f"overhead {1e3 * row['overhead_seconds']:.1f} ms, "
            f"{row['bytes'] / 2**20:.2f} MiB moved")
    return rows


def scheduler_throughput(client, tasks=1000):
    """Trivial tasks per second, submitted at once and gathered."""
    client.gather(client.map(_noop, range(100), pure=False))
    start = time.perf_counter()
    client.gather(client.map(_noop, range(tasks), pure=False))
    return tasks / (time.perf_counter() - start)


def digits_fits(client, log, seeds=DIGITS_SEEDS, epochs=DIGITS_EPOCHS):
    """lbfgs: the Dask fit against the local one; sgd: held-out accuracy over seeds."""
    import dask.array as da
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split

    from nnbp.dask import DaskMLPClassifier
    from nnbp.datasets import load_digits

    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0,
                                                        stratify=y)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X_dask = da.from_array(X_train, chunks=(300, 64))
        y_dask = da.from_array(y_train, chunks=300)
        lbfgs = dict(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=50, tol=0.0,
                     random_state=0, dtype="float64")
        ours = DaskMLPClassifier(**lbfgs, client=client).fit(X_dask, y_dask).network_.params
        local = nnbp.MLPClassifier(**lbfgs).fit(X_train, y_train).network_.params
        results["lbfgs"] = dict(iterations=50, relative_difference=float(
            np.max(np.abs(ours - local)) / np.max(np.abs(local))))
        log(f"  lbfgs on the digits, 50 iterations: relative difference "
            f"{results['lbfgs']['relative_difference']:.1e}")
        runs = []
        for seed in range(seeds):
            sgd = dict(hidden_layer_sizes=(64,), solver="sgd", learning_rate_init=0.1,
                       max_iter=epochs, random_state=seed)
            ours = DaskMLPClassifier(**sgd, client=client).fit(X_dask, y_dask)
            local = nnbp.MLPClassifier(**sgd).fit(X_train, y_train)
            runs.append(dict(seed=seed, accuracy_dask=float(ours.to_local().score(X_test, y_test)),
                             accuracy_local=float(local.score(X_test, y_test)),
                             loss_dask=ours.loss_curve_, loss_local=local.loss_curve_))
            log(f"  sgd on the digits, seed {seed}: held-out accuracy "
                f"{runs[-1]['accuracy_dask']:.4f} on Dask, {runs[-1]['accuracy_local']:.4f} "
                "in one process")
        results["sgd"] = dict(epochs=epochs, sync_every=DaskMLPClassifier().sync_every,
                              runs=runs)
    return results


def model(row_seconds, params_bytes, fixed_seconds, task_seconds, machines=MACHINES,
          rows=ROWS, bandwidth=BANDWIDTH):
    """The time of an iteration on each number of machines: a model on paper.

    compute: the rows shared out, at the measured seconds per row of a worker
    of one thread; network: the parameters to the machines and the gradients
    back, each along a binary tree, ceil(log2 W) hops of params_bytes at
    `bandwidth` each way; scheduler: 2W - 1 tasks (W shards, W - 1 additions)
    at the measured seconds per task, plus the measured fixed cost of a round
    trip. rows=None: each machine holds ROWS rows (weak scaling).
    """
    estimates = []
    for count in machines:
        held = ROWS if rows is None else rows / count
        hops = math.ceil(math.log2(count))
        parts = dict(compute=row_seconds * held,
                     network=2 * hops * params_bytes / bandwidth,
                     scheduler=fixed_seconds + (2 * count - 1) * task_seconds)
        estimates.append(dict(machines=count, rows_per_machine=held, **parts,
                              total=sum(parts.values())))
    return estimates


def model_local_sgd(row_seconds, params_bytes, fixed_seconds, task_seconds,
                    machines=MACHINES, intervals=SYNC_INTERVALS + (256,), bandwidth=BANDWIDTH):
    """The time of a step of local SGD (momentum sgd, LOCAL_BATCH rows a step on each
    machine), averaged every K steps: a model on paper, as model() for L-BFGS.

    A round sends the parameters and the velocity out and brings their
    weighted sums back (4 vectors along the trees), and costs the scheduler
    2W - 1 tasks and a round trip; the sync interval K shares it among K steps.
    """
    estimates = []
    for count in machines:
        hops = math.ceil(math.log2(count))
        step = row_seconds * LOCAL_BATCH
        round_trip = (4 * hops * params_bytes / bandwidth + fixed_seconds
                      + (2 * count - 1) * task_seconds)
        for interval in intervals:
            total = step + round_trip / interval
            estimates.append(dict(machines=count, sync_every=interval, compute=step,
                                  communication=round_trip / interval, total=total))
    return estimates


def run(repeats=5, log=print, rows=ROWS, dtypes=(np.float32, np.float64),
        digits_seeds=DIGITS_SEEDS, digits_epochs=DIGITS_EPOCHS, settle=SETTLE_SECONDS,
        client=None):
    """All the measurements, as a dict that markdown() formats and json can write.

    client: of a cluster of two worker processes of one thread each; None
    starts a LocalCluster of them.
    """
    from contextlib import ExitStack

    import dask
    import distributed

    results = dict(machine=dict(nnbp=nnbp.__version__, dask=dask.__version__,
                                distributed=distributed.__version__),
                   repeats=repeats, rows=rows, sizes=MNIST_SHAPED.label)
    with ExitStack() as stack:
        if client is None:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"))
            client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
        results["iterations"] = [iterations(client, dtype, rows, repeats, log, settle)
                                 for dtype in dtypes]
        results["digits"] = digits_fits(client, log, digits_seeds, digits_epochs)
    return results


def _ms(seconds):
    return f"{1e3 * seconds:.1f}"


def _mib(count):
    return f"{count / 2**20:.2f}"


def markdown(results):
    from nnbp_bench.report import table

    rows = results["rows"]
    iterations = []
    for entry in results["iterations"]:
        for name, row in (("1 worker", entry["workers_1"]), ("2 workers", entry["workers_2"])):
            iterations.append([
                entry["dtype"], name, _ms(row["seconds"]), _ms(row["compute_seconds"]),
                _ms(row["overhead_seconds"]), f"{100 * row['overhead_seconds'] / row['seconds']:.0f}%",
                _mib(row["bytes"]), f"{row['bytes'] / row['params_bytes']:.1f}",
                f"{entry['one_process'] / row['seconds']:.2f}"])
    parts = [
        f"nnbp {results['machine']['nnbp']}, Dask {results['machine']['dask']}, "
        f"distributed {results['machine']['distributed']}. {results['sizes']}, softmax, "
        f"{rows} rows in {PARTITIONS} partitions; a LocalCluster of 2 worker processes of 1 "
        f"thread each (1 worker: all the partitions on one); medians of "
        f"{results['repeats']}, the three ways taken in turn.",
        "One L-BFGS iteration (the loss and gradient of all the rows, summed across the "
        "workers and brought to the client), milliseconds; one process: "
        "Network.loss_and_grad with 2 BLAS threads on the same 2 cores. Overhead: the "
        "iteration less its slowest shard's compute. Moved: what the workers sent to each "
        "other and to the client, plus the parameters the client scattered, in MiB and in "
        "parameter vectors. Throughput: one process's time over the cluster's.",
        table(["dtype", "cluster", "iteration", "slowest shard", "overhead", "share",
               "moved (MiB)", "vectors", "throughput vs one process"],
              [[entry["dtype"], "one process, 2 threads", _ms(entry["one_process"]),
                "-", "-", "-", "-", "-", "1.00"] for entry in results["iterations"]]
              + iterations),
    ]
    rounds = [[entry["dtype"], row["sync_every"], _ms(row["seconds"]),
               _ms(row["compute_seconds"]), _ms(row["overhead_seconds"]), _mib(row["bytes"])]
              for entry in results["iterations"] for row in entry["rounds"]]
    parts += [
        f"A round of local SGD on 2 workers (momentum sgd, {LOCAL_BATCH} rows a step on each), "
        "milliseconds: the parameters and the velocity out, sync_every steps, their "
        "averages back. Scheduler: "
        + ", ".join(f"{entry['tasks_per_second']:.0f}"
                    for entry in results["iterations"]) + " trivial tasks per second.",
        table(["dtype", "sync_every", "round", "slowest shard", "overhead", "moved (MiB)"],
              rounds),
    ]
    digits = results["digits"]
    runs = digits["sgd"]["runs"]
    ours = np.mean([run["accuracy_dask"] for run in runs])
    local = np.mean([run["accuracy_local"] for run in runs])
    epochs = sorted({epoch for epoch in (1, 5, 10, 25, 50) if epoch < digits["sgd"]["epochs"]}
                    | {digits["sgd"]["epochs"]})
    parts += [
        f"The digits (1347 rows to train on, 450 held out; 64 hidden units): L-BFGS on 2 "
        f"workers against one process, float64, {digits['lbfgs']['iterations']} iterations: "
        f"parameters within {digits['lbfgs']['relative_difference']:.1e} (relative). sgd "
        f"(learning rate 0.1, batch 200, {digits['sgd']['epochs']} epochs, sync_every "
        f"{digits['sgd']['sync_every']}) over {len(runs)} seeds: held-out accuracy "
        f"{100 * ours:.2f}% on Dask, {100 * local:.2f}% in one process "
        f"({100 * (ours - local):+.2f} points); training loss at some epochs, mean over "
        "the seeds:",
        table(["", *[f"epoch {epoch}" for epoch in epochs]],
              [[where] + [f"{np.mean([run[key][epoch - 1] for run in runs]):.4f}"
                          for epoch in epochs]
               for where, key in (("Dask, 2 workers", "loss_dask"),
                                  ("one process", "loss_local"))]),
    ]
    parts += model_tables(results)
    return "\n\n".join(parts) + "\n"


def model_inputs(entry):
    """(seconds per row on a worker of one thread, parameter bytes, fixed seconds, seconds
    per task)."""
    one = entry["workers_1"]
    return (one["compute_seconds"] / one["rows"], one["params_bytes"], one["overhead_seconds"],
            1.0 / entry["tasks_per_second"])


def model_tables(results):
    from nnbp_bench.report import table

    parts = []
    for entry in results["iterations"]:
        inputs = model_inputs(entry)
        row_seconds, params_bytes, fixed, task = inputs
        parts.append(
            f"Model on paper, {entry['dtype']}, from the measured costs: compute "
            f"{1e6 * row_seconds:.2f} us a row on a worker of one thread, parameters "
            f"{_mib(params_bytes)} MiB, a round trip's fixed cost {_ms(fixed)} ms, "
            f"{1e3 * task:.2f} ms of scheduler a task; 10 Gb/s. One L-BFGS iteration, "
            "milliseconds:")
        rows = []
        for held, what in ((ROWS, f"{ROWS} rows in all"), (None, f"{ROWS} rows a machine")):
            rows += [[what, e["machines"], _ms(e["compute"]), _ms(e["network"]),
                      _ms(e["scheduler"]), _ms(e["total"]),
                      f"{100 * (1 - e['compute'] / e['total']):.0f}%"]
                     for e in model(*inputs, rows=held)]
        parts.append(table(["data", "machines", "compute", "network", "scheduler", "total",
                            "not computing"], rows))
        estimates = model_local_sgd(*inputs)
        intervals = sorted({e["sync_every"] for e in estimates})
        parts += [
            f"A step of local SGD ({LOCAL_BATCH} rows on each machine), averaged every "
            f"sync_every steps, {entry['dtype']}: milliseconds a step (share not computing).",
            table(["machines"] + [f"sync_every {k}" for k in intervals],
                  [[count] + [f"{_ms(e['total'])} ({100 * e['communication'] / e['total']:.0f}%)"
                              for e in estimates if e["machines"] == count]
                   for count in MACHINES]),
        ]
    return parts
