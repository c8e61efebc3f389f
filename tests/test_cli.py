"""The command line, driven as a user would: in a subprocess."""
import subprocess
import sys


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nnbp", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_demo_checks_gradients_and_learns_the_digits(tmp_path):
    result = run("demo", "--epochs", "8", "--dtype", "float32", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "PASSED" in result.stdout
    epochs = [line for line in result.stdout.splitlines() if line.startswith("  epoch")]
    assert len(epochs) == 8 and all("held-out accuracy" in line for line in epochs)
    held_out = float(result.stdout.split("held out ")[-1].split("%")[0])
    assert held_out > 90.0     # ten digits: chance is 10%


def test_bad_arguments_are_refused(tmp_path):
    result = run("demo", "--learning-rate", "-1", cwd=tmp_path)
    assert result.returncode == 2 and "must be positive, got -1" in result.stderr
    result = run("demo", "--epochs", "0", cwd=tmp_path)
    assert result.returncode == 2 and "must be positive, got 0" in result.stderr
    result = run("nonsense", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice" in result.stderr
