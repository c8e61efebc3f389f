"""The C kernels give bitwise the same results on every compiler, target and instruction set.

tests/kernel_targets.c prints a hash of each kernel's results. It is built
with setup.py's own floating-point flags by GCC (run at each instruction set
this processor has), by zig cc (clang: the x86_64 build runs here, the
aarch64 one under qemu) and by aarch64-linux-gnu-gcc (under qemu); every run
must print what GCC's baseline build prints. Clang contracts a*b + c into a
fused multiply-add unless told not to (-ffp-contract=off), which changes last
bits: the aarch64 build of zig without that flag differs, and this test
checks that it does, so that it can fail.

A build whose tools are missing is skipped: .ci/run installs zig (the
ziglang package from PyPI) and .ci/wheels the cross compiler and qemu. zig
also compiles the kernels for macOS, Windows and musl (compile only: nothing
runs them here), so a change that breaks those builds is seen.
"""
import ast
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "tests" / "kernel_targets.c", ROOT / "csrc" / "kernels.c",
           ROOT / "csrc" / "sparse.c"]
# Only what a build for another operating system must compile: no run, no link.
COMPILE_ONLY_TARGETS = ["x86_64-macos", "aarch64-macos", "x86_64-windows-gnu",
                        "aarch64-windows-gnu", "x86_64-linux-musl", "aarch64-linux-musl"]
ISAS = {"baseline": 0, "avx2": 1, "avx512": 2}
# qemu finds the aarch64 dynamic loader and libc of Debian's cross toolchain there.
QEMU_ENV = dict(os.environ, QEMU_LD_PREFIX="/usr/aarch64-linux-gnu", QEMU_CPU="cortex-a72")

pytestmark = pytest.mark.skipif(not (ROOT / "csrc").is_dir() or sys.platform != "linux",
                                reason="needs a checkout's csrc/ on Linux")


def setup_flags():
    """setup.py's compile flags for the release build: -O3, -std=c99 and FP_FLAGS."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FP_FLAGS":
            return ["-O3", "-std=c99", *ast.literal_eval(node.value)]
    raise AssertionError("setup.py defines no FP_FLAGS")


def zig():
    """The command of zig's C compiler (the ziglang package's, or zig on PATH), or None."""
    try:
        import ziglang  # noqa: F401
    except ImportError:
        return ["zig", "cc"] if shutil.which("zig") else None
    return [sys.executable, "-m", "ziglang", "cc"]


def build(compiler, output, flags):
    command = [*compiler, *flags, f"-I{ROOT / 'csrc'}", *map(str, SOURCES), "-lm", "-o",
               str(output)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return output


def fingerprint(program, isa=-1, env=None, runner=()):
    result = subprocess.run([*runner, str(program), str(isa)], capture_output=True, text=True,
                            env=env)
    if result.returncode == 2:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """GCC's baseline build: the fingerprint every other build must match."""
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    program = build(["gcc"], tmp_path_factory.mktemp("gcc") / "kernels", setup_flags())
    output = fingerprint(program, ISAS["baseline"])
    assert len(output.splitlines()) > 50
    return program, output


def qemu():
    """qemu's aarch64 emulator, called by name (binfmt_misc may not be set up)."""
    found = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if not found:
        pytest.skip("no qemu-aarch64 to run aarch64 programs (apt-get install qemu-user-static)")
    return [found]


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
def test_gcc_at_each_instruction_set(reference, isa):
    program, expected = reference
    assert fingerprint(program, ISAS[isa]) == expected


def test_zig_x86_64(reference, tmp_path):
    compiler = zig()
    if compiler is None:
        pytest.skip("no zig (pip install ziglang)")
    program = build([*compiler, "-target", "x86_64-linux-gnu"], tmp_path / "kernels",
                    setup_flags())
    assert fingerprint(program) == reference[1]


def test_zig_aarch64(reference, tmp_path):
    compiler = zig()
    if compiler is None:
        pytest.skip("no zig (pip install ziglang)")
    # Static, so that qemu needs no aarch64 libc of the machine's.
    program = build([*compiler, "-target", "aarch64-linux-musl", "-static"],
                    tmp_path / "kernels", setup_flags())
    assert fingerprint(program, env=QEMU_ENV, runner=qemu()) == reference[1]
    fused = build([*compiler, "-target", "aarch64-linux-musl", "-static"], tmp_path / "fused",
                  [flag for flag in setup_flags() if flag != "-ffp-contract=off"])
    assert fingerprint(fused, env=QEMU_ENV, runner=qemu()) != reference[1], \
        "clang's contraction changes no result: this test could not see it"


def test_gcc_aarch64(reference, tmp_path):
    if not shutil.which("aarch64-linux-gnu-gcc"):
        pytest.skip("no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)")
    runner = qemu()
    program = build(["aarch64-linux-gnu-gcc"], tmp_path / "kernels", setup_flags())
    assert fingerprint(program, env=QEMU_ENV, runner=runner) == reference[1]


@pytest.mark.parametrize("target", COMPILE_ONLY_TARGETS)
def test_zig_compiles_the_kernels_for(target, tmp_path):
    compiler = zig()
    if compiler is None:
        pytest.skip("no zig (pip install ziglang)")
    for source in SOURCES[1:]:
        subprocess.run([*compiler, "-target", target, *setup_flags(), f"-I{ROOT / 'csrc'}",
                        "-c", str(source), "-o", str(tmp_path / (source.stem + ".o"))],
                       check=True)
        assert (tmp_path / (source.stem + ".o")).stat().st_size > 0
