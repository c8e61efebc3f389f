"""The Examples of nnbp's docstrings, run as doctests against the installed nnbp.

One test per public module (test_docstrings.PUBLIC_MODULES). The modules are
imported, not read from a checkout, so the examples run on the compiled,
installed package that the other tests use: ``pytest --doctest-modules nnbp/``
would import a checkout's uncompiled nnbp/ folder instead. A module's tests
are the docstrings doctest finds in it (the module's, and its classes',
functions' and methods'), and those of its public names defined in a private
module (``nnbp.show_versions``, from ``nnbp._show_versions``). Every public
module must hold at least one example.
"""
import doctest
import importlib
import inspect
import sys
import warnings

import pytest

from test_docstrings import PUBLIC_MODULES, public_names

# Outputs are written rounded, or as shapes, so that they do not depend on the
# BLAS kernel; ELLIPSIS lets an example leave out what it does not show.
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def module_doctests(module):
    """The doctests of module, and of its public names that private modules define."""
    finder = doctest.DocTestFinder()
    tests = finder.find(module)
    for name, value in public_names(module).items():
        home = getattr(value, "__module__", None)
        if (inspect.isclass(value) or inspect.isfunction(value)) and home != module.__name__ \
                and any(part.startswith("_") for part in home.split(".")):
            tests += finder.find(value, f"{module.__name__}.{name}", module=sys.modules[home])
    return [test for test in tests if test.examples]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_examples(module_name):
    module = importlib.import_module(module_name)
    tests = module_doctests(module)
    assert tests, f"{module_name} has no examples in its docstrings"
    report = []
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    with warnings.catch_warnings():
        # An example that warns is a defect: the reader would see the warning.
        warnings.simplefilter("error")
        for test in sorted(tests, key=lambda test: test.name):
            runner.run(test, out=report.append)
    assert runner.failures == 0, (
        f"{runner.failures} of {runner.tries} examples failed:\n" + "".join(report))
