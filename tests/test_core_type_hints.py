"""The type hints of nnbp.network, optim, training and dask resolve.

tests/test_docstrings.py's test_type_hints asks each public function and method
for a hint on every parameter and on the return; here, typing.get_type_hints
evaluates them (the modules use ``from __future__ import annotations``, so a
hint is a string until then): a hint that names what its module does not import
fails, as it would for a user's type checker or Sphinx.
"""
import typing

import pytest

from test_docstrings import API, typed_callables

MODULES = ("nnbp.network", "nnbp.optim", "nnbp.training", "nnbp.dask")
CALLABLES = [(name, function) for path, Klass, method in API
             if path.rpartition(".")[0] in MODULES or (
                 Klass is not None and Klass.__module__ in MODULES)
             for name, function in typed_callables(path, Klass, method)
             # Not scikit-learn's set_*_request, which it makes on nnbp's classes.
             if function.__module__.startswith("nnbp")]


def test_the_modules_have_typed_callables():
    # Guards the selection above: an empty one would pass the test below vacuously.
    assert {name.split(".")[1] for name, _ in CALLABLES} == {
        module.split(".")[1] for module in MODULES}


@pytest.mark.parametrize("name, function", CALLABLES, ids=[name for name, _ in CALLABLES])
def test_hints_resolve(name, function):
    hints = typing.get_type_hints(function)   # raises NameError for an unimported name
    assert "return" in hints
