"""Builds nnbp's compiled core: nnbp/_core.pyx with the C kernels of csrc/."""
import glob

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class build_ext_and_copy_to_source(build_ext):
    """Build as usual, then also place the compiled core beside the sources.

    ``python -m nnbp`` run at the top of a checkout imports the checkout's
    nnbp/ folder (the current directory comes first on sys.path); with the
    compiled core there too, it works the same as the installed package.
    """

    def run(self):
        super().run()
        if not self.inplace:
            self.copy_extensions_to_source()


core = Extension(
    "nnbp._core",
    sources=["nnbp/_core.pyx", "csrc/kernels.c"],
    # A change to a header alone must rebuild the core too.
    depends=sorted(glob.glob("csrc/*.h")) + ["nnbp/_kernels.pxd"],
    include_dirs=["csrc", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    # -O3 and no -march=native: the wheel must run on any x86-64 machine.
    # -fno-trapping-math: nnbp never reads the floating-point exception flags,
    # and without it GCC will not if-convert a comparison such as z > 0 (it
    # may raise "invalid" on a NaN), so the leaky_relu loops stay scalar and
    # branchy: 10x slower on data of random sign. Results are unchanged.
    # -fno-math-errno: sqrt need not set errno (nnbp never reads it), so the
    # Adam update can use the vector square root.
    extra_compile_args=["-O3", "-std=c99", "-fno-trapping-math", "-fno-math-errno"],
)

setup(
    ext_modules=cythonize([core], language_level=3),
    cmdclass={"build_ext": build_ext_and_copy_to_source},
)
