"""Builds nnbp's compiled core: nnbp/_core.pyx with the C kernels of csrc/.

NNBP_SANITIZE=1 in the environment makes a debug build instead: Cython's
bounds, wraparound and initialisation checks on, and the C compiled and
linked with AddressSanitizer and UndefinedBehaviorSanitizer, at -O1 with
debug information. Such a build imports only with the ASan runtime preloaded;
.ci/sanitize builds one in a scratch copy and runs the test suite under it.
"""
import glob
import os
import subprocess
import tempfile
import warnings

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


OPENMP_TEST = r"""
#include <omp.h>
#include <stdio.h>
int main(void)
{
    int threads = 0;
    #pragma omp parallel reduction(+:threads)
    threads += 1;
    printf("%d\n", threads == omp_get_max_threads());
    return 0;
}
"""


def openmp_flags(compiler):
    """["-fopenmp"] if the compiler builds and runs an OpenMP program, else [].

    As scikit-learn's build does (sklearn/_build_utils/openmp_helpers.py):
    without OpenMP the core builds serially, with a warning, unless
    NNBP_FAIL_NO_OPENMP is set (the wheel's CI sets it), which makes it an error.
    """
    flags = ["-fopenmp"]
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "openmp_test.c")
        with open(source, "w") as handle:
            handle.write(OPENMP_TEST)
        try:
            objects = compiler.compile([source], output_dir=folder, extra_postargs=flags)
            program = os.path.join(folder, "openmp_test")
            compiler.link_executable(objects, program, extra_postargs=flags)
            works = subprocess.run([program], capture_output=True, text=True,
                                   check=True).stdout.strip() == "1"
        except Exception as error:     # a compile, link or run error: no OpenMP
            works, reason = False, error
        else:
            reason = "its test program ran wrong"
    if works:
        return flags
    message = f"nnbp builds without OpenMP, on one thread: the compiler's OpenMP failed ({reason})"
    if os.environ.get("NNBP_FAIL_NO_OPENMP", "") not in ("", "0"):
        raise RuntimeError(message)
    warnings.warn(message)
    return []


class build_ext_and_copy_to_source(build_ext):
    """Build as usual, with OpenMP where the compiler has it, then place the core beside the sources.

    ``python -m nnbp`` run at the top of a checkout imports the checkout's
    nnbp/ folder (the current directory comes first on sys.path); with the
    compiled core there too, it works the same as the installed package.
    """

    def finalize_options(self):
        super().finalize_options()
        if SANITIZE:
            # Objects of the release build must not be taken as up to date.
            self.force = True

    def build_extensions(self):
        flags = openmp_flags(self.compiler)
        for extension in self.extensions:
            extension.extra_compile_args += flags
            extension.extra_link_args += flags
        super().build_extensions()

    def run(self):
        super().run()
        if not self.inplace:
            self.copy_extensions_to_source()


SANITIZE = os.environ.get("NNBP_SANITIZE", "") not in ("", "0")

# The release build checks nothing: nnbp.network and nnbp.layers validate the
# arguments once, at the Python boundary. These are here, not in _core.pyx's
# header (which would override them), so that the debug build can turn them on.
directives = {
    "boundscheck": SANITIZE,
    "wraparound": SANITIZE,
    "initializedcheck": SANITIZE,
}

# -O3 and no -march=native: the wheel must run on any x86-64 machine.
# -fno-trapping-math: nnbp never reads the floating-point exception flags,
# and without it GCC will not if-convert a comparison such as z > 0 (it
# may raise "invalid" on a NaN), so the leaky_relu loops stay scalar and
# branchy: 10x slower on data of random sign. Results are unchanged.
# -fno-math-errno: sqrt need not set errno (nnbp never reads it), so the
# Adam update can use the vector square root.
# -ffp-contract=off: no fusing of a*b + c into one FMA, whose single rounding
# changes the last bits. GCC does not fuse in -std=c99 anyway, but clang (and
# zig cc, Apple's compiler) does by default, and the kernels must round the
# same on every compiler and target (csrc/kernels.c; tests/test_kernel_targets.py).
# It costs GCC nothing: its code is the same.
FP_FLAGS = ["-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off"]
compile_args = ["-O3", "-std=c99"] + FP_FLAGS
link_args = []
if SANITIZE:
    # Every UB finding is fatal (-fno-sanitize-recover), as every ASan one is.
    sanitizers = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    compile_args = ["-O1", "-g", "-fno-omit-frame-pointer", "-std=c99"] + FP_FLAGS + sanitizers
    link_args = sanitizers

core = Extension(
    "nnbp._core",
    sources=["nnbp/_core.pyx", "csrc/kernels.c", "csrc/sparse.c"],
    # A change to a header alone must rebuild the core too.
    depends=sorted(glob.glob("csrc/*.h")) + ["nnbp/_kernels.pxd", "nnbp/_kernels.pxi"],
    include_dirs=["csrc", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
)

setup(
    # The debug build's C goes to a folder of its own, never nnbp/_core.c,
    # which the release build would otherwise take as up to date (Cython
    # compares times, not directives).
    ext_modules=cythonize([core], language_level=3, compiler_directives=directives,
                          build_dir="build/sanitize" if SANITIZE else None, force=SANITIZE),
    cmdclass={"build_ext": build_ext_and_copy_to_source},
)
