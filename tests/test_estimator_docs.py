"""The estimators' docstrings tell the truth about the fitted estimators, their examples run,
and their public signatures carry type hints that resolve.

The numpydoc validator over the whole public API is tests/test_docstrings.py's; here,
what it cannot see: the Attributes sections against what fit sets (scikit-learn's
test_fit_docstring_attributes, over each solver and kind of problem), the doctests of
nnbp.estimators and nnbp.tabular, and typing.get_type_hints on their signatures.
"""
import doctest
import inspect
import typing
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from nnbp import estimators, tabular
from nnbp.estimators import MLPClassifier, MLPRegressor

X_ARRAY, Y = make_classification(n_samples=40, n_features=3, n_redundant=0, random_state=2)


def documented_attributes(estimator_class):
    """{name: description} of the Attributes section of a class's docstring."""
    docscrape = pytest.importorskip("numpydoc.docscrape")
    doc = docscrape.ClassDoc(estimator_class)
    return {attr.name: " ".join(attr.desc).lower() for attr in doc["Attributes"]}


def fitted_attributes(estimator):
    """The public fitted attributes of an estimator, properties included (scikit-learn's
    rule: a name ending in an underscore, not starting with one)."""
    names = set(vars(estimator))
    for name, value in inspect.getmembers(type(estimator)):
        if isinstance(value, property):
            try:
                getattr(estimator, name)
            except AttributeError:
                continue
            names.add(name)
    return {name for name in names if name.endswith("_") and not name.startswith("_")}


def fitted(estimator_class, X, y, how="fit", **params):
    estimator = estimator_class(hidden_layer_sizes=(4,), max_iter=2, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if how == "partial_fit":
            return estimator.partial_fit(X, y, **({"classes": np.unique(y)}
                                                  if estimator_class is MLPClassifier else {}))
        return estimator.fit(X, y)


CASES = {
    "adam": {},
    "sgd, early stopping": {"solver": "sgd", "early_stopping": True},
    "lbfgs": {"solver": "lbfgs"},
}


@pytest.mark.parametrize("estimator_class", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_fitted_attribute_is_documented_and_every_documented_one_is_set(
        estimator_class, case):
    documented = documented_attributes(estimator_class)
    pandas = pytest.importorskip("pandas")
    # Named columns, so that feature_names_in_ is set too.
    X = pandas.DataFrame(X_ARRAY, columns=["a", "b", "c"])
    estimator = fitted(estimator_class, X, Y, **CASES[case])
    undocumented = fitted_attributes(estimator) - set(documented)
    assert not undocumented, f"undocumented attributes: {sorted(undocumented)}"
    # scikit-learn's rule: an attribute whose description does not say "only" must be set.
    missing = [name for name, desc in documented.items()
               if "only " not in desc and not hasattr(estimator, name)]
    assert not missing, f"documented but not set by fit: {missing}"


@pytest.mark.parametrize("estimator_class", [MLPClassifier, MLPRegressor])
def test_partial_fit_sets_only_documented_attributes(estimator_class):
    documented = documented_attributes(estimator_class)
    estimator = fitted(estimator_class, X_ARRAY, Y, how="partial_fit")
    assert fitted_attributes(estimator) <= set(documented)


def test_the_attributes_documented_as_conditional_are_so():
    """feature_names_in_, validation_scores_ and best_validation_score_ say "only": the
    first is absent without feature names, the others None without early stopping."""
    documented = documented_attributes(MLPClassifier)
    for name in ("feature_names_in_", "validation_scores_", "best_validation_score_"):
        assert "only " in documented[name], name
    estimator = fitted(MLPClassifier, X_ARRAY, Y)
    assert not hasattr(estimator, "feature_names_in_")
    assert estimator.validation_scores_ is None
    assert estimator.best_validation_score_ is None


@pytest.mark.parametrize("module", [estimators, tabular], ids=lambda module: module.__name__)
def test_the_examples_run(module):
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [test for test in finder.find(module) if test.examples]
    assert tests, f"{module.__name__} has no examples"
    with warnings.catch_warnings():
        # An example that warns is a defect: the reader would see the warning.
        warnings.simplefilter("error")
        for test in tests:
            runner.run(test)
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0
    assert failed == 0


def public_callables():
    """(name, function) of each public function, method and property getter of the
    estimators and nnbp.tabular that these modules define."""
    found = []
    for module in (estimators, tabular):
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(value):
                found.append((f"{module.__name__}.{name}", value))
            elif inspect.isclass(value) and not issubclass(value, Exception):
                for attribute in sorted(vars(value)):
                    if attribute.startswith("_") and attribute != "__init__":
                        continue
                    function = _function(value, attribute)
                    # Not the set_*_request methods scikit-learn generates.
                    if callable(function) and function.__module__ == module.__name__:
                        found.append((f"{module.__name__}.{name}.{attribute}", function))
    # Inherited from the estimators' private base class.
    for attribute in ("fit", "save", "coefs_", "intercepts_"):
        found.append((f"nnbp.estimators.MLPClassifier.{attribute}",
                      _function(MLPClassifier, attribute)))
    return found


def _function(cls, attribute):
    """A class's method (partial_fit, from its available_if descriptor) or property getter."""
    member = inspect.getattr_static(cls, attribute)
    return member.fget if isinstance(member, property) else getattr(cls, attribute)


PUBLIC_CALLABLES = dict(public_callables())


@pytest.mark.parametrize("name", sorted(PUBLIC_CALLABLES))
def test_public_signatures_are_typed(name):
    function = PUBLIC_CALLABLES[name]
    hints = typing.get_type_hints(function)   # raises if a hint names what is not imported
    parameters = [parameter for parameter in inspect.signature(function).parameters
                  if parameter not in ("self", "cls")]
    assert [parameter for parameter in parameters if parameter not in hints] == []
    assert "return" in hints
