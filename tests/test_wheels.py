"""The built wheels: their manylinux tag is the README's, and nnbp imports from one without a compiler.

NNBP_WHEELHOUSE names the folder of the repaired wheels (.ci/run and
.ci/wheels set it); without it, or without a wheel there for this Python,
these tests are skipped: a checkout's development build has no wheel.
"""
import os
import pathlib
import re
import subprocess
import sys
import sysconfig
import venv

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
WHEELHOUSE = os.environ.get("NNBP_WHEELHOUSE", "")
WHEELS = sorted(pathlib.Path(WHEELHOUSE).glob("nnbp-*.whl")) if WHEELHOUSE else []
COMPILERS = ["cc", "gcc", "clang", "c99", "x86_64-linux-gnu-gcc", "aarch64-linux-gnu-gcc"]
# Run in the clean environment with no compiler on PATH: the wheel's core must load
# (no build on import) and train.
IMPORT_AND_FIT = """
import shutil, sys
found = [name for name in sys.argv[1:] if shutil.which(name)]
assert not found, f"compilers on PATH: {found}"
import numpy as np
import nnbp
from nnbp import _core
assert _core.__file__.startswith(sys.prefix), _core.__file__
X = np.random.default_rng(0).standard_normal((64, 4))
y = (X[:, 0] > 0).astype(int)
net = nnbp.Network([4, 8, 2], seed=0)
before = net.loss(X, y)
nnbp.StochasticTrainer(net, nnbp.Adam(learning_rate=0.01), batch_size=8,
                       random_state=0).fit(X, y, max_epochs=5)
assert net.loss(X, y) < before, (before, net.loss(X, y))
print("ok", _core.__file__)
"""


def readme_tags():
    """The manylinux tags the README's install section states, by architecture."""
    text = (ROOT / "README.md").read_text()
    return {arch: tag for tag, arch in
            re.findall(r"`(manylinux_\d+_\d+_(x86_64|aarch64))`", text)}


def wheel_tags(wheel):
    """The platform tags of a wheel's file name (a compressed set, joined by dots)."""
    return wheel.name[:-len(".whl")].split("-")[-1].split(".")


def this_pythons_wheel():
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    arch = sysconfig.get_platform().split("-")[-1]
    for wheel in WHEELS:
        if f"-{tag}-{tag}-" in wheel.name and wheel.name.endswith(f"_{arch}.whl"):
            return wheel
    pytest.skip(f"no {tag} {arch} wheel in NNBP_WHEELHOUSE ({WHEELHOUSE or 'unset'})")


def test_the_readme_states_a_tag_for_each_architecture():
    assert set(readme_tags()) == {"x86_64", "aarch64"}, readme_tags()


@pytest.mark.parametrize("wheel", WHEELS or [pytest.param(None, marks=pytest.mark.skip(
    reason="NNBP_WHEELHOUSE names no folder of wheels"))], ids=lambda wheel: getattr(wheel, "name", ""))
def test_the_wheels_tag_is_the_readmes(wheel):
    arch = "aarch64" if wheel.name.endswith("aarch64.whl") else "x86_64"
    assert readme_tags()[arch] in wheel_tags(wheel), (wheel.name, readme_tags())


def test_imports_without_a_compiler(tmp_path):
    wheel = this_pythons_wheel()
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    # Binary packages only: pip may build nothing, nnbp least of all.
    # Without PYTHONPATH, which could show pip a development nnbp as installed already.
    pip_env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--only-binary=:all:",
                    str(wheel)], check=True, env=pip_env)
    env = {"PATH": str(python.parent), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    result = subprocess.run([str(python), "-c", IMPORT_AND_FIT, *COMPILERS], env=env,
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok " + str(tmp_path)), result.stdout
