"""The estimators' Attributes sections tell the truth about the fitted estimators.

The numpydoc validator, the doctests and the type hints over the whole public API
are tests/test_docstrings.py's and tests/test_doctests.py's; here, what they cannot
see: the Attributes sections against what fit sets over each solver and kind of
problem, and what partial_fit sets (scikit-learn's test_fit_docstring_attributes
fits each estimator once).
"""
import inspect
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

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
