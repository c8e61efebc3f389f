"""Imports point down the layers: no module of nnbp imports, even inside a function, one that
imports it back, and nnbp.io knows the file format alone, not the models it holds."""
import ast
import pathlib

import pytest

import nnbp

PACKAGE = pathlib.Path(nnbp.__file__).parent


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
# The compiled core has no Python source, and imports nothing of nnbp.
MODULES["nnbp._core"] = None


def imported_modules(name):
    """The nnbp modules that module name imports anywhere in its source (at the top or
    inside a function): `from nnbp import x` imports the module nnbp.x if there is one,
    else the package itself."""
    path = MODULES[name]
    if path is None:
        return set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imported_modules(name) for name in MODULES}


def test_the_graph_sees_the_imports_it_must():
    assert "nnbp._core" in GRAPH["nnbp.network"]
    assert "nnbp.network" in GRAPH["nnbp.estimators"]
    # A function-level import counts: cli imports nnbp.plotting inside train().
    assert "nnbp.plotting" in GRAPH["nnbp.cli"]


def test_no_module_imports_one_that_imports_it_back():
    finished, path = set(), []

    def visit(name):
        if name in path:
            cycle = path[path.index(name):] + [name]
            raise AssertionError(f"import circle: {' -> '.join(cycle)}")
        if name in finished:
            return
        path.append(name)
        for imported in sorted(GRAPH[name]):
            visit(imported)
        path.pop()
        finished.add(name)

    for name in sorted(GRAPH):
        visit(name)


def test_io_knows_the_file_format_alone():
    # The leaves it may use: the input checks, the version, the memory check
    # (save makes its file in memory); none of them imports a model.
    leaves = {"nnbp._validation", "nnbp._version", "nnbp._memory"}
    assert GRAPH["nnbp.io"] <= leaves
    for leaf in leaves:
        assert GRAPH[leaf] <= leaves | {"nnbp._core"}, leaf


def test_the_models_import_neither_the_package_nor_the_adapters():
    above_the_models = {"nnbp", "nnbp.onnx", "nnbp.dask", "nnbp.cli"}
    for model in ("nnbp.network", "nnbp.training", "nnbp.optim", "nnbp.estimators"):
        assert not GRAPH[model] & above_the_models, model
    for model in ("nnbp.network", "nnbp.training", "nnbp.optim"):
        assert "nnbp.estimators" not in GRAPH[model], model


def test_the_installed_package_holds_the_library_alone():
    """The benchmark lives in a checkout's bench/, outside the wheel (as scikit-learn's
    asv_benchmarks/ is): the installed nnbp has no benchmark module, and the wheel's
    package list names none."""
    assert not [name for name in MODULES if "bench" in name.split(".")[-1]]
    assert not (PACKAGE / "benchmark").exists()
    tomllib = pytest.importorskip("tomllib")
    pyproject = pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml"
    packages = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"]
    assert "nnbp" in packages
    assert not [name for name in packages if "bench" in name]
