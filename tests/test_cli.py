"""The command line, driven as a user would, with the arguments, files and folder a user has.

Most commands run through nnbp.cli.main in this process, as ``python -m nnbp``
runs them (run): a fresh Python costs a second of imports per command, and
the suite runs a hundred commands. What only a process shows runs in one
(run_process): ``python -m nnbp`` itself and its exit codes, variables read
at import, pipes, terminals, and a FIFO whose open could hang.
"""
import contextlib
import io
import os
import subprocess
import sys
import traceback
import warnings

import numpy as np
import pytest

import nnbp
from nnbp.cli import main

# Python's own warning filters, as a fresh interpreter has them (python -W and
# PYTHONWARNINGS unset): what a user sees on stderr.
PYTHON_DEFAULT_FILTERS = [
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, None),
    ("ignore", PendingDeprecationWarning, None),
    ("ignore", ImportWarning, None),
    ("ignore", ResourceWarning, None),
]


def run_process(*args, cwd, timeout=300, **environment):
    """``python -m nnbp args`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "nnbp", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=dict(os.environ, **environment))


def print_warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning as a fresh interpreter has it: to sys.stderr, as formatted."""
    print(warnings.formatwarning(message, category, filename, lineno, line), end="",
          file=sys.stderr if file is None else file)


@contextlib.contextmanager
def working_directory(path):
    """cd path for the block (contextlib.chdir, from Python 3.11 on)."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run(*args, cwd):
    """``nnbp args`` run by nnbp.cli.main in this process, as ``python -m nnbp`` runs it.

    As the interpreter would: SystemExit's code, or main's return value, is
    the exit code; an exception escaping main prints its traceback to stderr
    and exits 1; warnings print to stderr under Python's default filters,
    each once per place as in a fresh process (catch_warnings resets the
    places already warned from).
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    with working_directory(cwd), warnings.catch_warnings(), \
            contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        # Printed, as the interpreter prints them, not recorded as pytest's are.
        warnings.showwarning = print_warning
        warnings.resetwarnings()
        for action, category, module in reversed(PYTHON_DEFAULT_FILTERS):
            warnings.filterwarnings(action, category=category, module=module or "")
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code
        except Exception:        # what the interpreter does with an escaping exception
            traceback.print_exc()
            code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=stderr)        # sys.exit("message"), as the interpreter prints it
        code = 1
    return subprocess.CompletedProcess(["nnbp", *args], code or 0, stdout.getvalue(),
                                       stderr.getvalue())


def test_version_and_info_without_a_model_say_what_runs(tmp_path):
    # In processes: python -m nnbp itself, and a variable read when nnbp is imported.
    version = run_process("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout == f"nnbp {nnbp.__version__}\n"
    info = run_process("info", cwd=tmp_path, NNBP_KERNEL_ISA="baseline")
    assert info.returncode == 0, info.stderr
    assert info.stdout.startswith(f"nnbp {nnbp.__version__}\n")
    assert "nnbp kernels: baseline" in info.stdout and "NNBP_KERNEL_ISA=baseline" in info.stdout


def test_demo_checks_gradients_and_learns_the_digits(tmp_path):
    result = run("demo", "--epochs", "8", "--dtype", "float32", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "PASSED" in result.stdout
    epochs = [line for line in result.stdout.splitlines() if line.startswith("  epoch")]
    assert len(epochs) == 8 and all("held-out accuracy" in line for line in epochs)
    held_out = float(result.stdout.split("held out ")[-1].split("%")[0])
    assert held_out > 90.0     # ten digits: chance is 10%


def test_bad_arguments_are_refused(tmp_path):
    # In a process: the exit code of python -m nnbp, which argparse's sys.exit sets.
    result = run_process("demo", "--learning-rate", "-1", cwd=tmp_path)
    assert result.returncode == 2 and "must be positive, got -1" in result.stderr
    result = run("demo", "--epochs", "0", cwd=tmp_path)
    assert result.returncode == 2 and "must be positive, got 0" in result.stderr
    result = run("nonsense", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice" in result.stderr


# ---------------------------------------------------------------- train, predict, gradcheck, info

def write_classes_csv(path, rows=150, seed=0):
    """Three well-separated classes with text labels, and a constant column."""
    rng = np.random.default_rng(seed)
    names = np.array(["setosa", "versicolor", "virginica"])
    labels = rng.integers(0, 3, rows)
    centres = np.array([[0.0, 0.0, 5.0], [4.0, 4.0, 5.0], [-4.0, 4.0, 5.0]])
    X = centres[labels] + 0.5 * rng.standard_normal((rows, 3))
    X[:, 2] = 5.0
    lines = ["width,height,constant,species"]
    lines += [f"{a:.6f},{b:.6f},{c:.1f},{names[k]}" for (a, b, c), k in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")
    return names[labels]


def write_numbers_csv(path, rows=120, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (rows, 2))
    y = 3 * X[:, 0] - 2 * X[:, 1] + 0.5
    lines = ["x1,x2,y"] + [f"{float(a)!r},{float(b)!r},{float(t)!r}" for (a, b), t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return y


@pytest.fixture(scope="module")
def trained_flowers(tmp_path_factory):
    """A folder with flowers.csv and the model.npz that nnbp train makes of it in 2 epochs.

    Trained once for the module: the tests that take it spoil copies of the
    model, and training it again for each would make the same file.
    test_a_session_train_predict_gradcheck_info checks train itself.
    """
    folder = tmp_path_factory.mktemp("flowers")
    write_classes_csv(folder / "flowers.csv")
    result = run("train", "flowers.csv", "--target", "species", "--epochs", "2", "--quiet",
                 cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def flowers_model(tmp_path, trained_flowers):
    """tmp_path, with copies of trained_flowers' flowers.csv and model.npz."""
    for name in ("flowers.csv", "model.npz"):
        (tmp_path / name).write_bytes((trained_flowers / name).read_bytes())
    return tmp_path


def one_line_error(result, *fragments):
    """The command failed with a single-line message naming the problem, and no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    message = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(message) == 1, result.stderr
    for fragment in fragments:
        assert fragment in message[0], message[0]


def test_a_session_train_predict_gradcheck_info(tmp_path):
    labels = write_classes_csv(tmp_path / "flowers.csv")
    result = run("train", "flowers.csv", "--target", "species", "--hidden", "16,8",
                 "--epochs", "40", "--lr", "0.01", "--out", "flowers.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 classes" in result.stdout and "validation accuracy" in result.stdout
    assert (tmp_path / "flowers.npz").exists()
    # stderr is not a terminal here: no progress bar (test_progress_bar_on_a_terminal_only).
    assert result.stderr == ""

    result = run("predict", "flowers.npz", "flowers.csv", "--out", "predicted.csv",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    predicted = (tmp_path / "predicted.csv").read_text().splitlines()
    assert predicted[0] == "species" and len(predicted) == 1 + len(labels)
    assert np.mean(np.array(predicted[1:]) == labels) > 0.95

    # The target column may be absent when predicting; the output goes to stdout.
    features_only = tmp_path / "features.csv"
    features_only.write_text("\n".join(line.rsplit(",", 1)[0] for line in
                                       (tmp_path / "flowers.csv").read_text().splitlines()))
    result = run("predict", "flowers.npz", "features.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == predicted

    result = run("gradcheck", "flowers.npz", "--data", "flowers.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout and "W(1)" in result.stdout

    result = run("info", "flowers.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for fragment in ("3-16-8-3", "classification",
                     "setosa, versicolor, virginica", "width, height, constant", "species"):
        assert fragment in result.stdout


@pytest.mark.parametrize("solver", ["adam", "sgd", "gd", "lbfgs"])
def test_regression_by_every_solver(tmp_path, solver):
    y = write_numbers_csv(tmp_path / "line.csv")
    epochs = {"adam": "200", "sgd": "200", "gd": "300", "lbfgs": "100"}[solver]
    result = run("train", "line.csv", "--target", "y", "--solver", solver, "--hidden", "8",
                 "--epochs", epochs, "--lr", "0.01", "--quiet", "--activation", "tanh",
                 "--validation-fraction", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""                       # --quiet: no progress bar
    result = run("predict", "model.npz", "line.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    predicted = np.array([float(v) for v in result.stdout.splitlines()[1:]])
    assert np.sqrt(np.mean((predicted - y) ** 2)) < 0.5 * np.std(y)


def test_integer_targets_are_class_labels(tmp_path):
    """scikit-learn's convention (type_of_target): a target of integers is class labels, as
    one of text is; other numbers are a regression. The first lines say which, and how to
    choose the other."""
    labels = write_classes_csv(tmp_path / "flowers.csv")
    codes = np.unique(labels, return_inverse=True)[1]
    text = (tmp_path / "flowers.csv").read_text().splitlines()
    # Whole numbers written as 7 or as 7.0 are integers alike.
    cells = [f"{7 * k}" if row % 2 else f"{7 * k}.0" for row, k in enumerate(codes)]
    (tmp_path / "coded.csv").write_text("\n".join(
        [text[0]] + [line.rsplit(",", 1)[0] + "," + cell for line, cell in zip(text[1:], cells)]))
    result = run("train", "coded.csv", "--target", "species", "--hidden", "16", "--epochs", "40",
                 "--lr", "0.01", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == ("  classification of 3 classes: the target 'species' "
                                             "holds integers (--output squared for a regression)")
    assert "validation accuracy" in result.stdout
    result = run("predict", "model.npz", "coded.csv", cwd=tmp_path)
    predicted = result.stdout.splitlines()
    assert predicted[0] == "species" and set(predicted[1:]) <= {"0", "7", "14"}
    assert np.mean(np.array(predicted[1:], dtype=int) == 7 * codes) > 0.95

    result = run("train", "coded.csv", "--target", "species", "--output", "squared", "--epochs",
                 "2", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "  regression (--output squared)"
    assert "validation R^2" in result.stdout

    write_numbers_csv(tmp_path / "line.csv")
    result = run("train", "line.csv", "--target", "y", "--epochs", "2", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        "  regression: the target 'y' holds numbers that are not all integers (--output softmax "
        "to take its values as class labels)")
    result = run("train", "flowers.csv", "--target", "species", "--epochs", "2", "--quiet",
                 cwd=tmp_path)
    assert result.stdout.splitlines()[1] == ("  classification of 3 classes: the target "
                                             "'species' holds text")


def test_npz_and_npy_data(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 3))
    y = (X[:, 0] > 0).astype(int)
    np.savez(tmp_path / "data.npz", a=X[:, 0], b=X[:, 1], c=X[:, 2], label=y)
    result = run("train", "data.npz", "--target", "label", "--output", "softmax",
                 "--epochs", "5", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = run("info", "model.npz", cwd=tmp_path)
    assert "classes: 0, 1" in result.stdout
    np.save(tmp_path / "data.npy", np.column_stack([X, y]))
    result = run("train", "data.npy", "--target", "3", "--output", "logistic", "--epochs", "5",
                 "--quiet", "--out", "binary.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("kind", ["csr", "coo"])
def test_a_sparse_matrix_is_not_a_table(tmp_path, kind):
    # scipy.sparse.save_npz's file names no columns and no target; the note
    # says why, and where sparse X is taken.
    import scipy.sparse
    X = scipy.sparse.random(20, 5, density=0.3, format=kind, random_state=0)
    scipy.sparse.save_npz(tmp_path / "features.npz", X)
    one_line_error(run("train", "features.npz", "--target", "0", cwd=tmp_path),
                   "features.npz: holds a scipy sparse matrix, not a table",
                   "nnbp.MLPClassifier, nnbp.MLPRegressor and nnbp.Network take sparse X")


def test_diagnostics_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    write_classes_csv(tmp_path / "flowers.csv")
    result = run("train", "flowers.csv", "--target", "species", "--activation", "tanh",
                 "--epochs", "3", "--diagnostics", "--plot", "curve.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "gradient norm" in line]
    assert len(lines) == 3 and all("saturated units" in line for line in lines)
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_csv_from_a_spreadsheet_with_a_byte_order_mark(tmp_path):
    rows = (tmp_path / "flowers.csv")
    write_classes_csv(rows)
    rows.write_bytes(b"\xef\xbb\xbf" + rows.read_bytes().replace(b"\n", b"\r\n"))
    result = run("train", "flowers.csv", "--target", "width", "--output", "squared",
                 "--epochs", "2", "--quiet", cwd=tmp_path)
    # The mark read as part of the first name would have hidden 'width'; found,
    # training goes on to refuse the text of 'species' as a feature.
    one_line_error(result, "row 2, column 'species': 'virginica' is not a number")
    result = run("train", "flowers.csv", "--target", "species", "--epochs", "2", "--quiet",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "features: width, height, constant" in run("info", "model.npz", cwd=tmp_path).stdout


def test_gradcheck_of_a_fresh_network(tmp_path):
    result = run("gradcheck", cwd=tmp_path)
    assert result.returncode == 0 and "PASSED" in result.stdout


@pytest.mark.parametrize("content, fragments", [
    (None, ["nothing.csv", "no such file"]),
    ("", ["empty"]),
    ("a,b,species\n", ["header but no rows"]),
    ("a,b,species\n1,2,x\n3,4\n", ["row 3 has 2 cells, the header has 3"]),
    ("a,b,species\n1,2,x\n3,oops,y\n", ["row 3, column 'b'", "'oops' is not a number"]),
    ("a,b,species\n1,,x\n", ["row 2, column 'b'", "empty cell"]),
    ("a,b,kind\n1,2,x\n", ["no column 'species'", "'a', 'b', 'kind'"]),
    ("a,a,species\n1,2,x\n", ["repeats 'a'"]),
    ("species\nx\ny\n", ["no columns besides the target"]),
    ("a,species\n1,x\n2,x\n", ["single class"]),
])
def test_bad_data_is_one_clear_line(tmp_path, content, fragments):
    if content is not None:
        (tmp_path / "nothing.csv").write_text(content)
    one_line_error(run("train", "nothing.csv", "--target", "species", "--quiet",
                       cwd=tmp_path), *fragments)


@pytest.mark.parametrize("option, message", [
    (["--hidden", "0,5"], "hidden layer widths must be positive integers"),
    (["--hidden", "a"], "hidden layer widths must be positive integers"),
    (["--lr", "0"], "must be positive, got 0"),
    (["--epochs", "-3"], "must be positive, got -3"),
    (["--validation-fraction", "1"], "must be in [0, 1), got 1"),
    (["--solver", "newton"], "invalid choice"),
])
def test_impossible_options_are_refused(tmp_path, option, message):
    write_classes_csv(tmp_path / "flowers.csv")
    result = run("train", "flowers.csv", "--target", "species", *option, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_model_files_and_missing_features(tmp_path, flowers_model):
    (tmp_path / "broken.npz").write_bytes((tmp_path / "model.npz").read_bytes()[:200])
    for command in (["predict", "broken.npz", "flowers.csv"], ["info", "broken.npz"],
                    ["gradcheck", "broken.npz"], ["info", "flowers.csv"], ["info", "absent.npz"]):
        one_line_error(run(*command, cwd=tmp_path), command[1])
    (tmp_path / "fewer.csv").write_text("width,species\n1,setosa\n")
    one_line_error(run("predict", "model.npz", "fewer.csv", cwd=tmp_path), "fewer.csv")
    result = run_process("info", "broken.npz", "--debug", cwd=tmp_path)     # the traceback
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_predict_into_a_pipe_that_closes_early(tmp_path):
    write_classes_csv(tmp_path / "flowers.csv", rows=3000)
    assert run("train", "flowers.csv", "--target", "species", "--epochs", "1", "--quiet",
               cwd=tmp_path).returncode == 0
    result = subprocess.run(f"'{sys.executable}' -m nnbp predict model.npz flowers.csv | head -1",
                            shell=True, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.stdout == "species\n" and result.stderr == ""


def test_estimators_saved_from_python(tmp_path):
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 2))
    labels = np.where(X[:, 0] > 0, "right", "left")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = nnbp.MLPClassifier(hidden_layer_sizes=(6,), max_iter=50,
                                        random_state=0).fit(X, labels)
        regressor = nnbp.MLPRegressor(hidden_layer_sizes=(6,), max_iter=50,
                                      random_state=0).fit(X, X[:, 0])
    classifier.save(tmp_path / "classifier.npz")
    regressor.save(tmp_path / "regressor.npz")
    (tmp_path / "x.csv").write_text("a,b\n" + "\n".join(f"{a!r},{b!r}" for a, b in X.tolist()))
    result = run("predict", "classifier.npz", "x.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == list(classifier.predict(X))
    result = run("predict", "regressor.npz", "x.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal([float(v) for v in result.stdout.splitlines()[1:]],
                                  regressor.predict(X))
    result = run("info", "classifier.npz", cwd=tmp_path)
    assert "MLPClassifier" in result.stdout and "classes: left, right" in result.stdout
    result = run("gradcheck", "classifier.npz", cwd=tmp_path)
    assert result.returncode == 0 and "PASSED" in result.stdout
    one_line_error(run("gradcheck", "classifier.npz", "--data", "x.csv", cwd=tmp_path),
                   "records no column names")
    (tmp_path / "wide.csv").write_text("a,b,c\n1,2,3\n")
    one_line_error(run("predict", "classifier.npz", "wide.csv", cwd=tmp_path),
                   "3 columns", "takes 2 features")


# ---------------------------------------------------------------- off the happy path

def test_progress_bar_on_a_terminal_only(tmp_path):
    """As tqdm's disable=None: a bar on a terminal, none in a file stderr is redirected to."""
    import fcntl
    import pty
    import struct
    import termios
    write_classes_csv(tmp_path / "flowers.csv")
    command = ["train", "flowers.csv", "--target", "species", "--epochs", "200"]
    with open(tmp_path / "stderr.txt", "w") as stderr:
        result = subprocess.run([sys.executable, "-m", "nnbp", *command], stdout=subprocess.PIPE,
                                stderr=stderr, cwd=tmp_path, timeout=300)
    assert result.returncode == 0
    assert (tmp_path / "stderr.txt").read_text() == ""

    leader, follower = pty.openpty()
    # A terminal of 80 columns: a new one has none, where tqdm draws nothing.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        process = subprocess.Popen([sys.executable, "-m", "nnbp", *command],
                                   stdout=subprocess.DEVNULL, stderr=follower, cwd=tmp_path)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:          # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=300) == 0
    finally:
        os.close(leader)
    assert b"epoch" in shown and b"loss" in shown and b"validation" in shown


def retrained_with_metadata(tmp_path, **changes):
    """A model of nnbp train saved again with its metadata changed."""
    net = nnbp.load(tmp_path / "model.npz")
    metadata = {key: value for key, value in net.metadata.items()}
    metadata.update(changes)
    net.save(tmp_path / "changed.npz", metadata=metadata)
    return "changed.npz"


@pytest.mark.parametrize("classes, fragment", [
    (["setosa", "versicolor"], "classes has 2 labels, but the network has 3 outputs"),
    (["a", "b", "c", "d"], "classes has 4 labels, but the network has 3 outputs"),
    ("setosa", "classes must be a list of labels, got str"),
    ({"0": "setosa"}, "classes must be a list of labels, got dict"),
    ([["a"], ["b"], ["c"]], "classes[0] must be a label (text or a number), got list"),
])
def test_predict_with_classes_of_the_wrong_length_or_type(tmp_path, flowers_model, classes,
                                                         fragment):
    model = retrained_with_metadata(tmp_path, classes=classes)
    one_line_error(run("predict", model, "flowers.csv", cwd=tmp_path),
                   "changed.npz", "metadata", fragment)


def write_labelled_csv(path, labels, rows=120, seed=0):
    """Well-separated classes, one per label, spelled exactly as given."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(labels), rows)
    X = 4.0 * codes[:, None] + 0.3 * rng.standard_normal((rows, 2))
    lines = ["a,b,label"] + [f"{x0:.6f},{x1:.6f},{labels[k]}" for (x0, x1), k in zip(X, codes)]
    path.write_text("\n".join(lines) + "\n")
    return [labels[k] for k in codes]


@pytest.mark.parametrize("labels", [
    ["02139", "12345678901234567890", "7"],
    ["12345678901234567890", "12345678901234567891"],
    ["0.50", "1e3", "-00"],
])
def test_predict_spells_labels_as_the_training_file(tmp_path, labels):
    expected = write_labelled_csv(tmp_path / "data.csv", labels)
    options = ["--output", "softmax"] if "0.50" in labels else []
    result = run("train", "data.csv", "--target", "label", "--hidden", "8", "--epochs", "60",
                 "--lr", "0.02", "--quiet", *options, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"classification of {len(labels)} classes" in result.stdout
    result = run("predict", "model.npz", "data.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    predicted = result.stdout.splitlines()[1:]
    assert set(predicted) <= set(labels)
    assert np.mean(np.array(predicted) == np.array(expected)) > 0.95


def test_a_binary_target_gets_one_logistic_output(tmp_path):
    """As MLPClassifier and scikit-learn: two classes, one logistic unit."""
    expected = write_labelled_csv(tmp_path / "data.csv", ["no", "yes"])
    result = run("train", "data.csv", "--target", "label", "--hidden", "8", "--epochs", "60",
                 "--lr", "0.02", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    net = nnbp.load(tmp_path / "model.npz")
    assert net.output == "logistic" and net.layer_sizes == (2, 8, 1)
    predicted = run("predict", "model.npz", "data.csv", cwd=tmp_path).stdout.splitlines()[1:]
    assert np.mean(np.array(predicted) == np.array(expected)) > 0.95


def write_wine_like_csv(path, rows=240, seed=4):
    """Three classes told apart by features of very different scales and offsets (as the
    wine data's: proline in the hundreds, hue near 1): unstandardised, a network fails."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, rows)
    X = np.column_stack([750.0 + 300.0 * codes + 40.0 * rng.standard_normal(rows),
                         1.0 + 0.2 * (codes == 1) + 0.03 * rng.standard_normal(rows),
                         13.0 + 0.2 * rng.standard_normal(rows)])
    names = np.array(["barolo", "grignolino", "barbera"])
    lines = ["proline,hue,alcohol,cultivar"]
    lines += [f"{a!r},{b!r},{c!r},{names[k]}" for (a, b, c), k in zip(X.tolist(), codes)]
    path.write_text("\n".join(lines) + "\n")
    return X, names[codes]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_model_of_nnbp_train_takes_raw_rows(tmp_path, dtype):
    """nnbp.load gives a network that predicts the table's raw rows as nnbp predict does."""
    X, labels = write_wine_like_csv(tmp_path / "wine.csv")
    result = run("train", "wine.csv", "--target", "cultivar", "--hidden", "16", "--epochs",
                 "60", "--lr", "0.01", "--dtype", dtype, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    predicted = run("predict", "model.npz", "wine.csv", cwd=tmp_path).stdout.splitlines()[1:]
    assert np.mean(np.array(predicted) == labels) > 0.95
    net = nnbp.load(tmp_path / "model.npz")
    classes = np.array(net.metadata["classes"])
    assert list(classes[net.forward(X).argmax(axis=1)]) == predicted
    assert "feature_mean" not in net.metadata and "feature_scale" not in net.metadata


def write_legacy_model(path, net, metadata):
    """A model file as nnbp train wrote it before the standardisation was folded into the
    network: the feature_mean and feature_scale of the metadata applied by nnbp predict."""
    import io
    import json
    import zipfile

    def npy(array):
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.asarray(array))
        return buffer.getvalue()

    metadata = dict(metadata, nnbp_version="0.1.0", saved="2026-11-28T09:33:25+00:00",
                    format_version=1)
    members = {"format": np.array("nnbp"), "format_version": np.array(1, dtype=np.int64),
               "kind": np.array("Network"), "config": np.array(json.dumps(net.config())),
               "params": net.params, "metadata": np.array(json.dumps(metadata))}
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in members.items():
            archive.writestr(name + ".npy", npy(array))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_model_file_of_the_previous_nnbp_train_loads_taking_raw_rows(tmp_path, dtype):
    X, _ = write_wine_like_csv(tmp_path / "wine.csv")
    mean, scale = X.mean(axis=0), X.std(axis=0)
    net = nnbp.Network([3, 5, 3], activation="tanh", dtype=dtype, seed=0)
    write_legacy_model(tmp_path / "old.npz", net, {
        "task": "classification", "target": "cultivar", "features": ["proline", "hue", "alcohol"],
        "feature_mean": mean.tolist(), "feature_scale": scale.tolist(),
        "classes": ["barbera", "barolo", "grignolino"]})
    standardised = ((X - mean) / scale).astype(dtype)
    loaded = nnbp.load(tmp_path / "old.npz")
    tolerance = {"float32": 1e-5, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(loaded.forward(X), net.forward(standardised), rtol=0,
                               atol=tolerance)
    assert "feature_mean" not in loaded.metadata
    assert loaded.metadata["folded_standardisation"] == {"mean": mean.tolist(),
                                                         "scale": scale.tolist()}
    predicted = run("predict", "old.npz", "wine.csv", cwd=tmp_path).stdout.splitlines()[1:]
    expected = np.array(["barbera", "barolo", "grignolino"])[
        net.forward(standardised).argmax(axis=1)]
    assert np.mean(np.array(predicted) == expected) > 0.99


@pytest.mark.parametrize("column, fragment", [
    (["1e200", "-1e200"], "column 'big' holds values up to 1e+200"),
    (["1e308", "1e308", "-5e307"], "column 'big' holds values up to 1e+308"),
])
def test_features_too_large_to_standardise_are_one_early_error(tmp_path, column, fragment):
    rows = [f"{column[k % len(column)]},{k % 7},{'ab'[k % 2]}" for k in range(40)]
    (tmp_path / "data.csv").write_text("big,small,label\n" + "\n".join(rows) + "\n")
    result = run("train", "data.csv", "--target", "label", "--epochs", "3", "--quiet",
                 cwd=tmp_path)
    one_line_error(result, "data.csv", fragment, "rescale it")
    assert result.stdout == "" and not (tmp_path / "model.npz").exists()


def test_a_feature_float32_cannot_take_raw_is_one_early_error(tmp_path):
    """A float32 network taking raw rows of 1e9 + noise of 1 would see no noise at all."""
    rng = np.random.default_rng(0)
    rows = [f"{1e9 + rng.normal()!r},{k % 7},{'ab'[k % 2]}" for k in range(40)]
    (tmp_path / "data.csv").write_text("stamp,small,label\n" + "\n".join(rows) + "\n")
    result = run("train", "data.csv", "--target", "label", "--epochs", "3", "--quiet",
                 "--dtype", "float32", cwd=tmp_path)
    one_line_error(result, "column 'stamp'", "--dtype float64")
    result = run("train", "data.csv", "--target", "label", "--epochs", "3", "--quiet",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_target_of_large_numbers_that_are_not_integers_is_a_regression(tmp_path):
    """10000000000000000.5 is 1e16 in float64, a whole number: the cells as written say
    otherwise."""
    rows = [f"{k},{10000000000000000 + k}.5" for k in range(30)]
    (tmp_path / "data.csv").write_text("x,y\n" + "\n".join(rows) + "\n")
    result = run("train", "data.csv", "--target", "y", "--epochs", "1", "--quiet",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        "  regression: the target 'y' holds numbers that are not all integers (--output "
        "softmax to take its values as class labels)")


def test_info_of_a_fifo_is_one_line_without_waiting(tmp_path):
    """open() of a FIFO waits for a writer: the timeout fails a regression instead of
    hanging the tests."""
    os.mkfifo(tmp_path / "model.npz")
    one_line_error(run_process("info", "model.npz", cwd=tmp_path, timeout=60),
                   "model.npz", "it is a FIFO, not a model file")


def test_gradcheck_on_rows_checks_the_network_as_trained(tmp_path):
    """On standardised rows: raw ones of the hundreds, through the folded first layer, make
    its finite differences cross the units' kinks (finite diff 3.5e-3 here)."""
    write_wine_like_csv(tmp_path / "wine.csv")
    assert run("train", "wine.csv", "--target", "cultivar", "--hidden", "16", "--epochs", "60",
               "--lr", "0.01", "--quiet", cwd=tmp_path).returncode == 0
    result = run("gradcheck", "model.npz", "--data", "wine.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout


@pytest.mark.parametrize("change, fragment", [
    ({"target": ["species"]}, "target must be a column name (text), got list"),
    ({"features": ["width"]}, "features has 1 names, but the network takes 3 inputs"),
    ({"features": "width"}, "features must be a list of column names, got str"),
    ({"features": ["width", 2, "constant"]}, "features[1] must be a column name (text), got int"),
])
def test_predict_with_other_metadata_of_the_wrong_type(tmp_path, flowers_model, change,
                                                       fragment):
    model = retrained_with_metadata(tmp_path, **change)
    one_line_error(run("predict", model, "flowers.csv", cwd=tmp_path),
                   "changed.npz", "metadata", fragment)
