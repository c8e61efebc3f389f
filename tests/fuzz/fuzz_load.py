"""atheris harness for nnbp.load: libFuzzer mutates saved model files.

Run from the repository's root, with atheris installed (pip install atheris):

    python tests/fuzz/fuzz_load.py -max_total_time=600

Any libFuzzer flag works (-atheris_runs=N, -jobs=N, a corpus directory to
keep: `python tests/fuzz/fuzz_load.py corpus/`); the seeds, the saved models
of tests/test_io_fuzz.py, are written to a temporary directory at start.

The property is test_io_fuzz's for structured mutations: nnbp.load raises
ModelFileError (one line naming the file), or returns the model the file
describes (saved again, it gives the same members); within the load time
and memory bounds. Any other exception, or a broken property, stops the run
and writes the input to crash-<sha1>.
"""
import inspect
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))   # the repository's nnbp, built in place

# Coverage guides libFuzzer through the loader, numpy's .npy header parsing and
# zipfile (imported by atheris itself, so instrumented function by function).
with atheris.instrument_imports(include=["nnbp", "numpy.lib", "json"]):
    import test_io_fuzz  # noqa: E402


def instrument_module(module):
    for _, value in inspect.getmembers(module):
        if inspect.isclass(value) and value.__module__ == module.__name__:
            for _, method in inspect.getmembers(value, inspect.isfunction):
                atheris.instrument_func(method)
        elif inspect.isfunction(value) and value.__module__ == module.__name__:
            atheris.instrument_func(value)


instrument_module(zipfile)

work = Path(tempfile.mkdtemp(prefix="nnbp-fuzz-"))
input_path = work / "model"


def test_one_input(data):
    input_path.write_bytes(data)
    test_io_fuzz.check_faithful_or_refused(input_path)


def main():
    seeds = work / "seeds"
    seeds.mkdir()
    for number, (data, _) in enumerate(test_io_fuzz.saved_models().values()):
        (seeds / f"model-{number}").write_bytes(data)
    # libFuzzer reads the seeds too; new inputs go to the first corpus given, if any.
    atheris.Setup(sys.argv + [str(seeds)], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
