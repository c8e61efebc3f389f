"""Builds nnbp's compiled core: nnbp/_core.pyx with the C kernels of csrc/."""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

core = Extension(
    "nnbp._core",
    sources=["nnbp/_core.pyx", "csrc/kernels.c"],
    include_dirs=["csrc", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    # -O3 and no -march=native: the wheel must run on any x86-64 machine.
    extra_compile_args=["-O3", "-std=c99"],
)

setup(ext_modules=cythonize([core], language_level=3))
