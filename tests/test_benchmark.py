"""The benchmark runs, times every contender on the same work, and reports what it measured.

No timing is asserted here (the machines are shared and noisy): these tests
check that the benchmark measures what it says, on tiny workloads.
"""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse

import nnbp
from nnbp_bench import (QUICK_BATCH_ONE_ROWS, contenders, fits, main, measure, report, run,
                        small, sparse, stages, threads)
from nnbp_bench.workloads import MNIST_SHAPED, WORKLOADS, Workload

TINY = (Workload("tiny-classes", (12, 16, 8, 3), "softmax", 48, (1, 16, 48)),
        Workload("tiny-regression", (10, 12, 2), "squared", 32, (8,)))
SMALL_ROWS = 64             # the batch-1 epoch's, where the benchmark's is small.BATCH_ONE_ROWS


@pytest.fixture(scope="module")
def results():
    # What is checked is that every figure is there, not its value: one call after
    # idleness (each costs a 50 ms pause) and a short batch-1 epoch are enough.
    return run(TINY, (np.float32, np.float64), repeats=1, log=lambda message: None,
               fit_cases=fits.CASES[:1], predict_workload=TINY[0], peak_size=128, settle=0.0,
               torch_fit=False, small_rows=SMALL_ROWS, idle_calls=1,
               default_fit_cases=[("breast_cancer", "lbfgs"), ("diabetes", "adam")])


def test_flops_count_the_products_of_one_gradient():
    # 784-256-128-10 on one row: forward 784*256 + 256*128 + 128*10 multiply-adds,
    # dW the same again, dX without the first layer's: 2 flops each.
    forward = 784 * 256 + 256 * 128 + 128 * 10
    assert MNIST_SHAPED.gradient_flops(1) == 2 * (3 * forward - 784 * 256)
    assert MNIST_SHAPED.gradient_flops(8192) == 8192 * MNIST_SHAPED.gradient_flops(1)


def test_the_workloads_are_those_of_the_issue():
    assert [w.sizes for w in WORKLOADS] == [(784, 256, 128, 10), (64,) * 9 + (10,),
                                             (1000, 1024, 1024, 1)]
    assert MNIST_SHAPED.rows == 8192 and MNIST_SHAPED.batches == (1, 32, 256, 8192)
    assert MNIST_SHAPED.shrunk(256).batches == (1, 32, 256)


def test_every_case_is_timed_for_every_installed_contender(results):
    expected = {contender.name for contender in (
        contenders.GemmsAlone, contenders.NumpyMLP, contenders.Nnbp, contenders.SklearnMLP,
        contenders.NnbpEstimator)}
    if contenders.torch_available():
        expected.add(contenders.Torch.name)
    cases = {(row["sizes"], row["dtype"], row["batch"]) for row in results["epoch"]}
    assert cases == {(w.label, dtype, batch) for w in TINY for dtype in ("float32", "float64")
                     for batch in w.batches}
    for row in results["epoch"]:
        assert set(row["times"]) == expected
        assert all(time["seconds"] > 0 for time in row["times"].values())
    # scikit-learn has no public loss-and-gradient call: it sits that one out.
    for row in results["gradient"]:
        assert set(row["times"]) == expected - {"scikit-learn", "nnbp estimator"}
    assert {row["dtype"] for row in results["predict"]} == {"float32", "float64"}
    assert results["peak_gflops"]["float32"] > 0 and results["peak_gflops"]["float64"] > 0


def test_partial_fit_is_taken_apart_stage_by_stage(results):
    # For each dtype and batch: the three epochs timed, and every stage found in the
    # profile (a renamed function would leave its stage at 0), the stages nesting in
    # no other's (their sum within the profiled call), and the report's row.
    assert [(row["dtype"], row["batch"]) for row in results["stages"]] == [
        (dtype, min(batch, TINY[0].rows)) for dtype in ("float32", "float64")
        for batch in stages.BATCHES]
    text = report.markdown(results)
    for row in results["stages"]:
        assert set(row["seconds"]) == {stages.COMPILED, stages.TRAINER, stages.ESTIMATOR}
        assert all(seconds > 0 for seconds in row["seconds"].values())
        assert row["estimator_over_compiled"] == (row["seconds"][stages.ESTIMATOR]
                                                  / row["seconds"][stages.COMPILED])
        assert list(row["stage_seconds"]) == [name for name, _ in stages.STAGES] + [stages.REST]
        assert all(row["stage_seconds"][name] > 0 for name, _ in stages.STAGES), row
        assert row["stage_seconds"][stages.REST] >= 0, row
        assert sum(row["stage_seconds"].values()) == pytest.approx(row["profiled_seconds"])
        assert len(row["rest_spenders"]) == 3
        assert f"| {row['dtype']} | {row['batch']} | " in text


def test_default_fits_record_both_paths_and_each_step_beside_its_arithmetic(results):
    rows = results["default_fits"]
    assert [(row["data"], row["solver"]) for row in rows] == [
        ("breast_cancer 569x30", "lbfgs"), ("diabetes 442x10", "adam")]
    for row in rows:
        for what in ("seconds", "loss", "epochs", "steps"):
            assert set(row[what]) == {"scikit-learn", "nnbp"}, what
        assert row["speedup"] == row["seconds"]["scikit-learn"] / row["seconds"]["nnbp"]
        # Both take scikit-learn's path: the same epochs, the same loss to round-off.
        assert row["epochs"]["nnbp"] == row["epochs"]["scikit-learn"]
        assert row["loss"]["nnbp"] == pytest.approx(row["loss"]["scikit-learn"], rel=1e-6)
    lbfgs, adam = rows
    assert (lbfgs["rows_per_step"], lbfgs["steps"]["nnbp"]) == (569, lbfgs["epochs"]["nnbp"])
    assert adam["rows_per_step"] == 200 and adam["steps"]["nnbp"] == 3 * adam["epochs"]["nnbp"]
    # 10-100-1 on 200 rows: 2 n (3 (10 * 100 + 100 * 1) - 10 * 100) flops.
    assert adam["flops_per_step"] == 2 * 200 * (3 * 1100 - 1000)
    assert "| diabetes 442x10 | MLPRegressor | adam |" in report.markdown(results)


def test_the_fits_against_pytorch_train_the_same_model_to_the_same_accuracy():
    pytest.importorskip("torch")
    row, = threads.fits_against_torch(1, lambda message: None,
                                      cases=[((32,), 3000, 1000, 5)])
    assert (row["sizes"], row["rows"], row["epochs"], row["batch"]) == ("784-32-10", 3000, 5, 128)
    assert row["ratio"] == row["nnbp"]["seconds"] / row["PyTorch"]["seconds"]
    assert row["nnbp"]["accuracy"] > 0.95 and row["PyTorch"]["accuracy"] > 0.95
    assert abs(row["nnbp"]["accuracy"] - row["PyTorch"]["accuracy"]) < 0.03


def test_peers_get_their_best_threading_and_nnbp_its_own(results):
    for row in results["epoch"]:
        assert row["times"]["nnbp"]["threads"] == "its own choice"
        assert row["times"]["NumPy MLP"]["threads"] in ("1 thread", "all threads")


def test_fit_memory_is_measured_against_the_issue_budget(results):
    rows = results["memory"]
    assert {(row["fit"], row["optimizer"]) for row in rows} >= {
        ("StochasticTrainer", "sgd"), ("StochasticTrainer", "adam")}
    for row in rows:
        assert row["budget_bytes"] == (row["data_bytes"] + 4 * row["params_bytes"]
                                       + row["workspace_bytes"])
        # At least params, gradient and the epoch's backup, and Adam's two
        # moments; how close fit stays to that is tests/test_allocation.py's
        # to show, on a network whose parameters outweigh Python's objects.
        assert row["params_copies"] >= (3 if row["optimizer"] == "sgd" else 5)


def test_two_trainings_are_timed_one_after_the_other_and_at_once(results):
    rows = results["threads"]
    assert {(row["dtype"], row["batch"]) for row in rows} == {
        (dtype, min(batch, TINY[0].rows)) for dtype in ("float32", "float64")
        for batch in (32, 256)}
    for row in rows:
        assert set(row["seconds"]) == {measure.ONE_AFTER_THE_OTHER,
                                       measure.ONE_AFTER_THE_OTHER_ALL, measure.AT_ONCE}
        assert row["speedup"] == (row["seconds"][measure.ONE_AFTER_THE_OTHER]
                                  / row["seconds"][measure.AT_ONCE])
    assert "Two networks trained at once" in report.markdown(results)


def test_the_report_has_a_row_per_measurement_and_the_json_round_trips(results):
    text = report.markdown(results)
    for row in results["epoch"]:
        assert f"| {row['sizes']} | {row['dtype']} | {row['batch']} |" in text
    assert json.loads(json.dumps(results)) == results


def test_without_pytorch_its_columns_are_empty_with_a_note(monkeypatch):
    monkeypatch.setattr(contenders, "torch_available", lambda: False)
    notes = []
    results = run(TINY[1:], (np.float64,), repeats=1, log=notes.append, fit_cases=[],
                  predict_workload=TINY[1], peak_size=128, settle=0.0, small_rows=SMALL_ROWS,
                  idle_calls=1)
    assert any("PyTorch is not installed" in note and "torch==2.13.0" in note for note in notes)
    assert "PyTorch" not in results["epoch"][0]["times"]
    assert "| - |" in report.markdown(results)


def test_the_command_writes_its_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("nnbp_bench.WORKLOADS", TINY[1:])
    monkeypatch.setattr("nnbp_bench.fits.CASES", [])
    target = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(target)]) == 0
    written = json.loads(target.read_text())
    assert written["epoch"] and written["machine"]["nnbp"] == nnbp.__version__
    assert {row["rows"] for row in written["batch_one"]} == {QUICK_BATCH_ONE_ROWS}
    assert "One epoch of plain SGD" in capsys.readouterr().out


def test_the_command_refuses_zero_repeats(capsys):
    with pytest.raises(SystemExit):
        main(["--repeats", "0"])
    assert "--repeats must be at least 1" in capsys.readouterr().err


def test_nnbp_bench_is_the_benchmark_command(capsys):
    from nnbp.cli import main as nnbp_command
    with pytest.raises(SystemExit) as exit_:
        nnbp_command(["bench", "--help"])
    assert exit_.value.code == 0
    assert "usage: nnbp bench" in capsys.readouterr().out


CHECKOUT = pathlib.Path(__file__).resolve().parents[1]


def test_nnbp_bench_finds_the_checkout_from_a_folder_inside_it(monkeypatch, capsys):
    from nnbp.cli import main as nnbp_command
    monkeypatch.chdir(CHECKOUT / "tests")
    with pytest.raises(SystemExit) as exit_:
        nnbp_command(["bench", "--help"])
    assert exit_.value.code == 0
    assert "usage: nnbp bench" in capsys.readouterr().out


@pytest.mark.parametrize("arguments", [[], ["--help"], ["--repeats", "0"]])
def test_nnbp_bench_outside_a_checkout_says_where_the_benchmark_lives(
        arguments, tmp_path, monkeypatch, capsys):
    from nnbp.cli import main as nnbp_command
    monkeypatch.chdir(tmp_path)
    assert nnbp_command(["bench", *arguments]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    line, = captured.err.splitlines()
    assert line.startswith("nnbp bench: error: ") and "checkout's bench/" in line
    assert "python bench/run.py" in line


@pytest.mark.parametrize("script", ["run.py", "profile_epoch.py", "dropout_epoch.py",
                                    "compare_builds.py"])
def test_the_scripts_run_from_any_folder(script, tmp_path):
    # As a script: its folder, bench/, is the first on sys.path, and the checkout's top
    # (with an uncompiled nnbp/) is not.
    result = subprocess.run([sys.executable, str(CHECKOUT / "bench" / script), "--help"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.startswith("usage: ")


def test_two_builds_are_compared_call_for_call(tmp_path):
    # The installed nnbp against itself: each row has both medians, and their ratio.
    installed = pathlib.Path(nnbp.__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(CHECKOUT / "bench" / "compare_builds.py"),
                             str(installed), str(installed), "--quick"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines()[2:]]
    assert [(label.strip(), dtype.strip()) for label, dtype, *_ in rows] == [
        ("predict_proba, one row", "float32"), ("predict_proba, one row", "float64")]
    for _, _, before, after, ratio in rows:
        seconds = [float(text.split()[0]) for text in (before, after)]
        assert all(value > 0 for value in seconds)
        assert float(ratio) > 0


def test_one_row_and_batch_one_are_measured(results):
    for row in results["one_row"]:
        assert set(row["seconds"]) == {"floor", "floor after idle", "forward",
                                       "forward after idle", "predict_proba",
                                       "forward by BLAS", "forward by BLAS after idle"}
        assert all(seconds > 0 for seconds in row["seconds"].values())
        assert row["forward_over_floor"] == row["seconds"]["forward"] / row["seconds"]["floor"]
    for row in results["batch_one"]:
        assert row["rows"] == SMALL_ROWS
        assert all(us > 0 for us in row["microseconds_per_step"].values())
        # 12-16-8-3: 192 + 128 + 24 weights, 152 of them after the first layer.
        assert row["passes_per_step"] == {"nnbp": 1 + 152 / 344, "floor": 2 + 152 / 344}
    assert results["machine"]["versions"]["kernel_isa"] == nnbp._core.kernel_isa()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_batch_one_floor_does_the_products_of_a_step(dtype):
    from nnbp_bench.small import blas_floor_epoch

    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal((3, 5)).astype(dtype)]
    X = rng.standard_normal((2, 4)).astype(dtype)
    expected = [W.astype(np.float64) for W in weights]
    for x in X.astype(np.float64):
        inputs = [x, expected[0] @ x]
        d1 = np.ones(3)
        d0 = expected[1].T @ d1
        expected[1] -= 0.5 * np.outer(d1, inputs[1])
        expected[0] -= 0.5 * np.outer(d0, inputs[0])
    blas_floor_epoch(weights, X, 0.5)()
    for W, W_expected in zip(weights, expected):
        np.testing.assert_allclose(W, W_expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_threads_scale_and_the_fit_against_pytorch_is_measured(results):
    assert {(row["sizes"], row["dtype"], row["batch"]) for row in results["scaling"]} == {
        (workload.label, dtype, batch) for workload in TINY
        for dtype in ("float32", "float64") for batch in workload.batches}
    for row in results["scaling"]:
        assert row["seconds_one"] > 0 and row["seconds_team"] > 0
        assert row["speedup"] == row["seconds_one"] / row["seconds_team"]
    # The fixture runs, as --quick does, without the fit against PyTorch.
    assert results["torch_fit"] is None


def test_the_forward_layouts_are_timed_in_each_dtype_and_batch(results):
    assert [(row["dtype"], row["batch"]) for row in results["layout"]] == [
        (dtype, batch) for dtype in ("float32", "float64") for batch in (32, 256)]
    for row in results["layout"]:
        assert len(row["microseconds"]) == 3 and all(
            us > 0 for us in row["microseconds"].values())
    assert "transposed copy" in report.markdown(results)


@pytest.mark.skipif(not contenders.torch_available(), reason="PyTorch is not installed")
def test_the_fit_against_pytorch_trains_both_to_the_same_kind_of_accuracy():
    from nnbp_bench import threads

    fit = threads.fit_against_torch(1, log=lambda message: None)
    # Both learn the 10 classes of the noisy centres far above chance.
    assert fit["nnbp"]["accuracy"] > 0.5 and fit["PyTorch"]["accuracy"] > 0.5
    assert fit["ratio"] == fit["nnbp"]["seconds"] / fit["PyTorch"]["seconds"]


# ---------------------------------------------------------------- the sparse benchmark


def test_the_sparse_problem_is_tf_idf_like():
    X, y = sparse.tfidf_like()      # the issue's: 8192 rows, 20,000 features, 0.5%
    assert X.format == "csr" and X.shape == (8192, 20_000)
    assert X.nnz / (8192 * 20_000) == pytest.approx(0.005, rel=0.05)
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A1, 1.0)
    # Zipf: the commonest term is in most documents, the median one in few
    document_frequency = np.sort(np.bincount(X.indices, minlength=20_000))[::-1]
    assert document_frequency[0] > 0.5 * 8192 > 100 * document_frequency[10_000]
    assert set(np.unique(y)) == set(range(sparse.CLASSES))


def test_the_sparse_benchmark_times_every_contender_and_adams_update(monkeypatch):
    results = sparse.run(rows=64, features=500, repeats=1, settle=0.0, log=lambda m: None,
                         memory=False)
    expected = {sparse.NNBP_SPARSE, sparse.NNBP_DENSE, sparse.SKLEARN_SPARSE}
    assert {(row["solver"], row["dtype"]) for row in results["epoch"]} == {
        (solver, dtype) for solver in sparse.SOLVERS for dtype in ("float32", "float64")}
    for row in results["epoch"]:
        assert set(row["times"]) == expected
        assert row["steps"] == 2
        assert ("adam_update_seconds" in row) is (row["solver"] == "adam")
    text = sparse.markdown(results)
    assert text.count("| adam |") == 2 and "its share of the step" in text
    assert json.loads(json.dumps(results)) == results


@pytest.mark.skipif(measure.peak_resident_bytes() is None, reason="needs /proc/self/status")
def test_the_sparse_benchmark_measures_a_fresh_process(tmp_path):
    X, y = sparse.tfidf_like(rows=64, features=500, density=0.01)
    scipy.sparse.save_npz(tmp_path / "X.npz", X)
    np.save(tmp_path / "y.npy", y)
    row = sparse.peak_memory(sparse.NNBP_SPARSE, tmp_path / "X.npz", tmp_path / "y.npy")
    assert row["rows"] == 64 and row["nonzeros"] == X.nnz
    assert row["data_bytes"] == 12 * X.nnz + 4 * 65
    assert 20 * 2**20 < row["before_bytes"] <= row["peak_bytes"] < 2**30


def test_the_sparse_command_writes_its_json(tmp_path, monkeypatch, capsys):
    run_sparse = sparse.run
    monkeypatch.setattr(sparse, "run", lambda **options: run_sparse(
        **dict(options, rows=64, features=300, dtypes=(np.float64,), memory=False)))
    target = tmp_path / "sparse.json"
    assert main(["--sparse", "--quick", "--json", str(target)]) == 0
    written = json.loads(target.read_text())
    assert {row["solver"] for row in written["epoch"]} == set(sparse.SOLVERS)
    assert "TF-IDF-like problem" in capsys.readouterr().out


@pytest.mark.slow                # four fresh processes, two of them among spinners
def test_the_busy_benchmark_times_its_cases_quiet_and_busy(monkeypatch):
    # Two of the cases, each in its child, quiet and busy, and the table of both.
    from nnbp import _threads
    from nnbp_bench import busy

    cases = {"nnbp": busy.CASES["nnbp"],
             "nnbp, OMP_NUM_THREADS=1": busy.CASES["nnbp, OMP_NUM_THREADS=1"]}
    monkeypatch.setattr(busy, "CASES", cases)
    results = busy.run(rounds=1, fits=1, log=lambda message: None, scaling=False)
    assert results["busy_processes"] == max(2, _threads.CPUS)
    for state in ("quiet", "busy"):
        assert set(results[state]) == set(cases)
        assert all(seconds > 0 for seconds in results[state].values())
    table = busy.markdown(results)
    assert "| nnbp, OMP_NUM_THREADS=1 |" in table and "nnbp / nnbp with OMP_NUM_THREADS=1" in table

