"""numpydoc's validator over nnbp's public API, as scikit-learn runs it over its own.

As scikit-learn's ``sklearn/tests/test_docstrings.py``: ``numpydoc.validate``
on each public function, class, method and property, with the same filter of
error codes (``filter_errors``), one test each. The public API is what
``public_api`` enumerates, from the installed nnbp:

- the public modules: nnbp and every module or package under it whose dotted
  name has no part starting with "_" (``pkgutil.walk_packages``), which
  PUBLIC_MODULES must list exactly, so that a module that appears or
  disappears fails ``test_public_modules``;
- the public names of each module: its ``__all__`` where it declares one,
  every entry of which must resolve (a missing one fails collection with the
  AttributeError); else every class and function the module defines
  (``__module__`` its own) whose name does not start with "_";
- of those names, the classes and functions (a constant has no docstring of
  its own), each once, under the module that defines it; and of each class,
  the class and every name of ``dir(class)`` that does not start with "_" and
  is callable or a property, as scikit-learn's ``get_all_methods`` takes them,
  except those Python's built-in classes define (``Exception.add_note``):
  Python documents them, not nnbp.

``test_modules_declare_all`` asks every public module for an ``__all__``:
with it, a public name that disappears fails loudly instead of leaving the
enumeration quietly.

As scikit-learn's ``sklearn/tests/test_docstring_parameters.py``,
``test_fit_docstring_attributes`` fits each public estimator (a scikit-learn
estimator among the public classes) on a little data and requires its
Attributes section to list every fitted attribute, and every attribute it
lists to be there (unless its description says "only"). That file's
parameter checks are numpydoc's PR01 and PR02 here.

``test_type_hints`` asks the same functions and methods, those nnbp defines,
for type hints on every parameter and on the return (PEP 484; the package
ships py.typed).
"""
import importlib
import inspect
import pkgutil
import types
import warnings
from inspect import signature

import numpy as np
import numpydoc.docscrape
import numpydoc.validate
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

import nnbp

#: Every public module of nnbp, sorted by name.
PUBLIC_MODULES = (
    "nnbp",
    "nnbp.cli",
    "nnbp.dask",
    "nnbp.datasets",
    "nnbp.diagnostics",
    "nnbp.estimators",
    "nnbp.gradcheck",
    "nnbp.io",
    "nnbp.layers",
    "nnbp.losses",
    "nnbp.network",
    "nnbp.onnx",
    "nnbp.optim",
    "nnbp.plotting",
    "nnbp.reference",
    "nnbp.tabular",
    "nnbp.training",
)


def discovered_modules():
    """The names of nnbp's public modules, found in the installed package."""
    found = ["nnbp"]
    for module in pkgutil.walk_packages(nnbp.__path__, prefix="nnbp."):
        if not any(part.startswith("_") for part in module.name.split(".")):
            found.append(module.name)
    return tuple(sorted(found))


def public_names(module):
    """{name: object} of a module's public names (see the module's docstring)."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        # getattr, not a default: a name __all__ declares and the module lacks is an error.
        return {name: getattr(module, name) for name in declared}
    return {name: value for name, value in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
            and value.__module__ == module.__name__}


def public_api():
    """[(import path, class or None, method name or None)] of every object to validate."""
    seen, api = set(), []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for value in public_names(module).values():
            if not (inspect.isclass(value) or isinstance(value, types.FunctionType)):
                continue
            path = f"{value.__module__}.{value.__qualname__}"
            if path in seen:
                continue
            seen.add(path)
            if inspect.isclass(value):
                api.extend((path, value, method) for method in public_methods(value))
            else:
                api.append((path, None, None))
    return api


def public_methods(klass):
    """None (the class itself), then its public methods and properties, by name."""
    methods = [name for name in dir(klass) if not name.startswith("_") and (
        callable(getattr(klass, name)) or isinstance(getattr(klass, name), property))
        and defined_by(klass, name).__module__ != "builtins"]
    return [None] + sorted(methods)


def defined_by(klass, name):
    """The class of klass's method resolution order that defines name."""
    return next(base for base in klass.__mro__ if name in vars(base))


def is_protocol(obj):
    """Whether obj is a typing.Protocol class (nnbp.training.StochasticOptimizer)."""
    return isinstance(obj, type) and getattr(obj, "_is_protocol", False)


def filter_errors(errors, method, Klass=None):
    """The errors that count: scikit-learn's filter (sklearn/tests/test_docstrings.py).

    RT02 (the Returns line holds only the type), GL01 and GL02 (blank lines
    around the summary) never count. PR02 and GL08 do not count for a
    property, and EX01, SA01 and ES01 (no Examples, See Also or extended
    summary) count for classes and functions only, not for methods.
    """
    for code, message in errors:
        if code in ["RT02", "GL01", "GL02"]:
            continue
        if code in ("PR02", "GL08") and Klass is not None and method is not None:
            method_obj = getattr(Klass, method)
            if isinstance(method_obj, property):
                continue
        if method is not None and code in ["EX01", "SA01", "ES01"]:
            continue
        yield code, message


def describe(result, name, obj):
    """The docstring and its errors, for the failure's message."""
    try:
        shown = f"{name}{signature(obj)}"
    except (TypeError, ValueError):
        shown = f"{name} (a property, or a signature that cannot be read)"
    errors = "\n".join(f" - {code}: {message}" for code, message in result["errors"])
    return f"\n\n{result['file']}\n\n{shown}\n\n{result['docstring']}\n\n# Errors\n{errors}"


def test_public_modules():
    assert discovered_modules() == tuple(sorted(PUBLIC_MODULES))


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_modules_declare_all(module_name):
    module = importlib.import_module(module_name)
    assert isinstance(getattr(module, "__all__", None), list), (
        f"{module_name} declares no __all__: its public names are not pinned")


API = public_api()
ESTIMATORS = [Klass for _, Klass, method in API
              if Klass is not None and method is None and issubclass(Klass, BaseEstimator)]


@pytest.mark.parametrize(
    "path, Klass, method", API,
    ids=[path if method is None else f"{path}.{method}" for path, _, method in API])
def test_docstring(path, Klass, method):
    name = path if method is None else f"{path}.{method}"
    result = numpydoc.validate.validate(name)
    result["errors"] = list(filter_errors(result["errors"], method,
                                          Klass=Klass))
    if method is None and is_protocol(numpydoc.validate.Validator._load_obj(name)):
        # A Protocol constructs nothing; before 3.11, typing gives it an
        # __init__(*args, **kwargs) that numpydoc takes for its parameters.
        result["errors"] = [(code, message) for code, message in result["errors"]
                            if code != "PR01"]
    if result["errors"]:
        obj = numpydoc.validate.Validator._load_obj(name)
        raise ValueError(describe(result, name, obj))


def fitted_attributes(estimator):
    """Its fitted attributes, properties included, as scikit-learn's test finds them."""
    names = list(vars(estimator))
    for name in dir(type(estimator)):
        if isinstance(getattr(type(estimator), name), property):
            try:
                getattr(estimator, name)
            except AttributeError:
                continue
            names.append(name)
    return {name for name in names if name.endswith("_") and not name.startswith("_")}


@pytest.fixture(scope="module")
def dask_client():
    """A Dask client of one in-process worker, for the Dask estimators."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


def fit_on_little_data(Klass, request):
    """An instance of Klass fitted for 2 iterations on 20 rows, as scikit-learn's test does."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    estimator = Klass(max_iter=2, random_state=0)
    if "client" in estimator.get_params():
        import dask.array as da

        estimator.set_params(client=request.getfixturevalue("dask_client"))
        X, y = da.from_array(X, chunks=10), da.from_array(y, chunks=10)
    with warnings.catch_warnings():
        # Two iterations do not converge, on purpose: only the attributes count.
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return estimator


@pytest.mark.parametrize("Klass", ESTIMATORS, ids=lambda Klass: Klass.__name__)
def test_fit_docstring_attributes(Klass, request):
    documented = numpydoc.docscrape.ClassDoc(Klass)["Attributes"]
    estimator = fit_on_little_data(Klass, request)
    # An attribute present only in some fits says "only" in its description.
    missing = [attribute.name for attribute in documented
               if "only " not in " ".join(attribute.desc).lower()
               and not hasattr(estimator, attribute.name)]
    assert not missing, f"{Klass.__name__} documents attributes it lacks: {missing}"
    undocumented = fitted_attributes(estimator) - {attribute.name for attribute in documented}
    assert not undocumented, f"Undocumented attributes for {Klass.__name__}: {undocumented}"


def unannotated(function):
    """The names of function's parameters without a type hint, and "return" if it has none."""
    parameters = list(signature(function).parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    missing = [parameter.name for parameter in parameters
               if parameter.annotation is inspect.Parameter.empty]
    if signature(function).return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def typed_callables(path, Klass, method):
    """[(name, function)] to check for type hints: a function, a class's own __init__,
    or a method or property's getter that nnbp defines (scikit-learn's are its own)."""
    if Klass is None:
        return [(path, numpydoc.validate.Validator._load_obj(path))]
    name = method or "__init__"
    if name == "__init__" and is_protocol(Klass):
        return []       # typing's own __init__, not nnbp's (see test_docstring)
    owner = defined_by(Klass, name)
    if not owner.__module__.startswith("nnbp"):
        return []
    member = vars(owner)[name]
    function = member.fget if isinstance(member, property) else getattr(Klass, name)
    return [(f"{path}.{name}", function)]


@pytest.mark.parametrize(
    "path, Klass, method", API,
    ids=[path if method is None else f"{path}.{method}" for path, _, method in API])
def test_type_hints(path, Klass, method):
    missing = {name: unannotated(function)
               for name, function in typed_callables(path, Klass, method)}
    assert not any(missing.values()), f"without type hints: {missing}"


@pytest.mark.parametrize("Local", [nnbp.MLPClassifier, nnbp.MLPRegressor])
def test_dask_docstrings_take_the_local_sections_however_indented(Local):
    # From Python 3.13 on, the compiler strips a docstring's common indentation:
    # nnbp.dask, which fills its estimators' docstrings with the local ones'
    # sections, failed to import there.
    from nnbp.dask import _with_local_sections

    class Dedented:
        __doc__ = inspect.cleandoc(Local.__doc__)

    template = ("    Parameters\n    ----------\n{parameters}\n\n"
                "    Attributes\n    ----------\n{attributes}\n")
    filled = _with_local_sections(Local, template)
    assert _with_local_sections(Dedented, template) == filled
    assert "\n    hidden_layer_sizes : " in filled and "\n    coefs_ : " in filled
