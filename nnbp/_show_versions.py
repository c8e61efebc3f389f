"""What runs: nnbp's, Python's and the libraries' versions, the BLAS and its kernels, the processor.

Results that depend on rounding (the last digits of a loss, a finite
difference) differ from one machine to another with these: a report of a
difference should carry them. ``nnbp.show_versions()`` prints them, as
``sklearn.show_versions()`` does; ``nnbp info`` without a model too.
"""
import os
import platform
import sys

# Environment variables that change which code computes, or on how many threads.
ENVIRONMENT = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
               "OMP_NUM_THREADS", "NNBP_KERNEL_ISA")


def _version(module):
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def processor():
    """The processor's model name, as the operating system gives it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_libraries():
    """Each BLAS threadpoolctl sees: its library file, version, kernel architecture, threads."""
    from threadpoolctl import threadpool_info

    return [dict(library=os.path.basename(info["filepath"]),
                 folder=os.path.basename(os.path.dirname(info["filepath"])),
                 api=info["internal_api"], version=info.get("version"),
                 architecture=info.get("architecture"),
                 threading_layer=info.get("threading_layer"), threads=info["num_threads"])
            for info in threadpool_info() if info["user_api"] == "blas"]


def versions():
    """All of it, as a dict of JSON data (the benchmark records it)."""
    from nnbp import _core
    from nnbp._version import __version__

    return dict(
        nnbp=__version__, python=sys.version.split()[0], platform=platform.platform(),
        numpy=_version("numpy"), scipy=_version("scipy"), sklearn=_version("sklearn"),
        threadpoolctl=_version("threadpoolctl"), processor=processor(),
        kernel_isa=_core.kernel_isa(), blas=blas_libraries(),
        environment={name: os.environ[name] for name in ENVIRONMENT if name in os.environ},
    )


def format_versions(info):
    """versions() as the lines show_versions prints."""
    lines = [f"nnbp {info['nnbp']}",
             f"  python: {info['python']} ({info['platform']})",
             f"  processor: {info['processor']}",
             f"  nnbp kernels: {info['kernel_isa']}"]
    for package in ("numpy", "scipy", "sklearn", "threadpoolctl"):
        lines.append(f"  {package}: {info[package] or 'not installed'}")
    for blas in info["blas"]:
        # nnbp calls SciPy's BLAS (scipy.linalg.cython_blas), which SciPy's wheels bundle.
        whose = " (nnbp's, through SciPy)" if blas["folder"].startswith("scipy") else ""
        lines.append(f"  BLAS{whose}: {blas['api']} {blas['version']}, kernels "
                     f"{blas['architecture']}, {blas['threads']} threads "
                     f"({blas['threading_layer']}), {blas['folder']}/{blas['library']}")
    for name, value in info["environment"].items():
        lines.append(f"  {name}={value}")
    return lines


def show_versions() -> None:
    """Print nnbp's, Python's and the libraries' versions, the BLAS, its kernels and the processor.

    Results that depend on rounding (the last digits of a loss, a finite
    difference) differ between machines with these: a report of a problem
    should carry them. As ``sklearn.show_versions()``; ``nnbp info`` prints
    them too.

    See Also
    --------
    sklearn.show_versions : The same, in scikit-learn.

    Examples
    --------
    >>> import nnbp
    >>> nnbp.show_versions()  # doctest: +ELLIPSIS
    nnbp ...
      python: ...
      processor: ...
      nnbp kernels: ...
      numpy: ...
    """
    print("\n".join(format_versions(versions())))
