"""Each kernel's interface is written once, in csrc/kernel_list.py.

nnbp/_kernels.pxd, its fused-type shims and the C declarations and
dispatchers are generated from that list and checked in; these tests
regenerate them in memory and compare, and check that nothing is declared
that the core never calls.
"""
import ctypes
import importlib
import pathlib
import re
import sys

import pytest

from nnbp import _core

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_declared_kernel_is_called_by_the_core():
    # A declaration nothing calls is a dead export: it drifts unseen.
    declared = set(re.findall(r"\b(nnbp_\w+?)(?:_f32|_f64)?\(",
                              (ROOT / "nnbp" / "_kernels.pxd").read_text()))
    core = (ROOT / "nnbp" / "_core.pyx").read_text()
    uncalled = sorted(name for name in declared
                      if not re.search(rf"\b{name}(_f32|_f64)?\(", core))
    assert uncalled == []


def _generator():
    sys.path.insert(0, str(ROOT / "csrc"))
    try:
        return importlib.import_module("generate_kernels")
    finally:
        sys.path.remove(str(ROOT / "csrc"))


@pytest.mark.parametrize("path", ["csrc/nnbp_kernels_declared.h", "csrc/kernels_dispatch.h",
                                  "nnbp/_kernels.pxd", "nnbp/_kernels.pxi"])
def test_checked_in_file_is_what_the_kernel_list_generates(path):
    generator = _generator()
    assert path in generator.GENERATED
    assert (ROOT / path).read_text() == generator.GENERATED[path](), (
        f"{path} is stale: run python csrc/generate_kernels.py")


def test_every_generated_file_is_checked():
    assert sorted(_generator().GENERATED) == sorted(
        ["csrc/nnbp_kernels_declared.h", "csrc/kernels_dispatch.h", "nnbp/_kernels.pxd",
         "nnbp/_kernels.pxi"])


def test_every_dispatched_kernel_is_defined_once_per_instruction_set():
    # kernels_impl.h defines each as a static NNBP(name); kernels.c instantiates
    # it for each dtype and instruction set of the list.
    generator = _generator()
    impl = (ROOT / "csrc" / "kernels_impl.h").read_text()
    kernels_c = (ROOT / "csrc" / "kernels.c").read_text()
    dispatched = [kernel.name for kernel in generator.KERNELS if kernel.dispatched]
    assert dispatched
    for name in dispatched:
        assert re.search(rf"\bNNBP\({name}\)\(", impl), name
    for dtype in generator.REALS:
        for isa in generator.ISAS:
            assert f"#define SUFFIX {dtype}_{isa}\n" in kernels_c


def test_the_compiled_core_exports_exactly_the_listed_kernels():
    # Every listed C function of nnbp_kernels.h, and no other nnbp_ function.
    generator = _generator()
    listed = {name for kernel in generator.KERNELS if kernel.header == "nnbp_kernels.h"
              for name, _ in generator._instances(kernel)}
    library = ctypes.CDLL(_core.__file__)
    for name in listed:
        assert hasattr(library, name), name
    assert not hasattr(library, "nnbp_column_sums_f32")
    assert not hasattr(library, "nnbp_column_sums_f64")


def test_the_check_mode_names_a_stale_file(tmp_path, monkeypatch, capsys):
    generator = _generator()
    for path in generator.GENERATED:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(generator.GENERATED[path]())
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.main(["--check"]) == 0
    (tmp_path / "nnbp/_kernels.pxi").write_text("# edited by hand\n")
    assert generator.main(["--check"]) == 1
    assert "nnbp/_kernels.pxi differs" in capsys.readouterr().err
