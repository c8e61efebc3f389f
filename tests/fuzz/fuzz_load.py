"""atheris harness for nnbp.load: libFuzzer mutates saved model files.

Run from the repository's root, with nnbp built in place (python setup.py
build_ext --inplace) and atheris installed (pip install atheris):

    python tests/fuzz/fuzz_load.py -max_total_time=600 -max_len=16384

Any libFuzzer flag works (-atheris_runs=N, -jobs=N, a corpus directory to
keep: `python tests/fuzz/fuzz_load.py corpus/`); the seeds, the saved models
of tests/test_io_fuzz.py, are written to a temporary directory at start.

Half the mutations are libFuzzer's of the raw bytes, half of one member's
bytes inside the zip, which is then rewritten with the right CRCs (which
would refuse nearly all of them otherwise).

To replay an input (a crash file): python tests/fuzz/fuzz_load.py crash-<sha1>

The property is test_io_fuzz's for structured mutations: nnbp.load raises
ModelFileError (one line naming the file), or returns the model the file
describes (saved again, it gives the same members); within the load time
and memory bounds. Any other exception, or a broken property, stops the run
and writes the input to crash-<sha1>.
"""
import inspect
import io
import sys
import tempfile
import tracemalloc
import zipfile
from pathlib import Path
from random import Random

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


def mutate(data, max_size, seed):
    """libFuzzer's mutation of one member inside the zip, rewritten with its CRC (else the CRC
    refuses nearly every mutation of a member), or of the raw bytes, half the time each."""
    random = Random(seed)
    if random.random() < 0.5:
        return atheris.Mutate(data, max_size)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if any(info.file_size > max_size for info in archive.infolist()):
                raise ValueError("a member larger than an input may be (a zip bomb?)")
            members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    except Exception:   # not a zip libFuzzer can mutate member by member
        return atheris.Mutate(data, max_size)
    if not members:
        return atheris.Mutate(data, max_size)
    index = random.randrange(len(members))
    filename, content = members[index]
    slack = max(0, max_size - len(data))
    members[index] = (filename, atheris.Mutate(content, len(content) + min(slack, 256)))
    return test_io_fuzz.zip_of([(name, content, zipfile.ZIP_STORED)
                                for name, content in members])[:max_size]


def main():
    tracemalloc.start()   # once: test_io_fuzz.guarded_load measures each load's peak
    seeds = work / "seeds"
    seeds.mkdir()
    for number, (data, _) in enumerate(test_io_fuzz.saved_models().values()):
        (seeds / f"model-{number}").write_bytes(data)
    inputs = [argument for argument in sys.argv[1:] if not argument.startswith("-")]
    replaying = inputs and all(Path(argument).is_file() for argument in inputs)
    # Fuzzing, libFuzzer reads the seeds too; new inputs go to the first corpus
    # given, if any. Replaying files, it runs them alone.
    atheris.Setup(sys.argv + ([] if replaying else [str(seeds)]), test_one_input,
                  custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
