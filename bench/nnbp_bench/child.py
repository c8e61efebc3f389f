"""The benchmark's child processes: a fresh Python that imports this nnbp and this nnbp_bench.

The benchmark is not installed (it lives in a checkout's bench/), so a child
finds it only through its PYTHONPATH; and it must time the very nnbp this
process imported, not a checkout's uncompiled nnbp/ that its working
directory could put first on its path.
"""
import json
import os
import pathlib
import subprocess
import sys

import nnbp

# bench/, the folder that holds nnbp_bench.
BENCH = pathlib.Path(__file__).resolve().parents[1]


def search_path() -> str:
    """A child's PYTHONPATH: bench/, then the folder of this process's nnbp, then the caller's.

    Returns
    -------
    str
        The folders, joined by os.pathsep.
    """
    package_parent = pathlib.Path(nnbp.__file__).resolve().parents[1]
    return os.pathsep.join(filter(None, [str(BENCH), str(package_parent),
                                         os.environ.get("PYTHONPATH")]))


def json_from_python(arguments: list, cwd: "os.PathLike | str" = BENCH,
                     environment: "dict | None" = None):
    """Run ``python arguments`` in a fresh process; the JSON of its output's last line.

    Parameters
    ----------
    arguments : list of str
        What follows the interpreter: ``["-m", module, ...]`` or ``["-c", script]``.
    cwd : path-like
        The child's working directory, which ``-m`` and ``-c`` put first on its
        path: bench/ by default, which holds no nnbp/.
    environment : dict, optional
        Variables to set in the child beside this process's (``OMP_NUM_THREADS``).

    Returns
    -------
    object
        The last line the child printed, parsed as JSON.

    Raises
    ------
    RuntimeError
        If the child fails, with the end of what it printed to stderr.
    """
    env = dict(os.environ, **(environment or {}), PYTHONPATH=search_path())
    result = subprocess.run([sys.executable, *arguments], capture_output=True, text=True,
                            cwd=cwd, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"the benchmark's child python {' '.join(arguments)} failed "
                           f"(exit code {result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
