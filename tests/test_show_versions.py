"""What runs: nnbp.show_versions() (tests/test_cli.py: nnbp info without a model, --version)."""
import os
import subprocess
import sys

import numpy as np
import scipy

import nnbp
from nnbp import _core, _show_versions


def test_versions_name_the_libraries_the_blas_and_the_kernels():
    info = _show_versions.versions()
    assert info["nnbp"] == nnbp.__version__
    assert info["numpy"] == np.__version__ and info["scipy"] == scipy.__version__
    assert info["kernel_isa"] == _core.kernel_isa()
    assert info["processor"]
    # SciPy's OpenBLAS, the one nnbp calls, with the kernels it runs.
    scipy_blas = [blas for blas in info["blas"] if blas["folder"].startswith("scipy")]
    assert len(scipy_blas) == 1 and scipy_blas[0]["architecture"]
    assert scipy_blas[0]["threads"] >= 1


def test_show_versions_prints_them(capsys, monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    nnbp.show_versions()
    printed = capsys.readouterr().out
    assert printed.startswith(f"nnbp {nnbp.__version__}\n")
    for part in (f"numpy: {np.__version__}", f"scipy: {scipy.__version__}",
                 f"nnbp kernels: {_core.kernel_isa()}", "BLAS (nnbp's, through SciPy): openblas",
                 "OPENBLAS_CORETYPE=Haswell", "processor: "):
        assert part in printed, part


def test_an_unknown_kernel_isa_in_the_environment_is_refused_by_name(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import nnbp"], capture_output=True, text=True,
                            env=dict(os.environ, NNBP_KERNEL_ISA="avx9000"), cwd=tmp_path,
                            timeout=120)
    assert result.returncode != 0
    assert "NNBP_KERNEL_ISA must be one of baseline, avx2, avx512, got 'avx9000'" in result.stderr
