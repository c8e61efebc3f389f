"""The kernels' declarations hold no kernel that the core never calls."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_declared_kernel_is_called_by_the_core():
    # A declaration nothing calls is a dead export: it drifts unseen.
    declared = set(re.findall(r"\b(nnbp_\w+?)(?:_f32|_f64)?\(",
                              (ROOT / "nnbp" / "_kernels.pxd").read_text()))
    core = (ROOT / "nnbp" / "_core.pyx").read_text()
    uncalled = sorted(name for name in declared
                      if not re.search(rf"\b{name}(_f32|_f64)?\(", core))
    assert uncalled == []

