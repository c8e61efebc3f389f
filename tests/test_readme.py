"""The README and the documentation's pages stay true: their examples run as written."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# The site's Markdown pages: getting started and the user guide, moved from the README.
PAGES = ([README] + sorted((ROOT / "docs").glob("*.md"))
         + sorted((ROOT / "docs" / "user_guide").glob("*.md")))
EXAMPLES = [(page.relative_to(ROOT).as_posix(), number, block) for page in PAGES
            for number, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(),
                                                      flags=re.S))]
CLI_PAGE = ROOT / "docs" / "user_guide" / "cli.md"


def test_readme_has_examples():
    assert [page for page, _, _ in EXAMPLES].count("README.md") >= 2


@pytest.mark.parametrize("page, number, example", EXAMPLES,
                         ids=[f"{page}-{number}" for page, number, _ in EXAMPLES])
def test_readme_example_runs(page, number, example, capsys):
    # Run as a script runs: its __name__ is "__main__".
    exec(compile(example, f"{page} example {number}", "exec"), {"__name__": "__main__"})
    assert "PASSED" in capsys.readouterr().out


def test_readme_dask_example_runs_as_a_script(tmp_path):
    """Saved as a file and run by python: Dask's worker processes import the script again,
    and only a __main__ guard keeps them from starting a cluster of their own."""
    import subprocess
    import sys

    example, = [block for _, _, block in EXAMPLES if "LocalCluster" in block]
    script = tmp_path / "dask_example.py"
    script.write_text(example)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "PASSED" in result.stdout


def test_readme_gives_the_ci_commands():
    """CI runs the README's commands for building, installing and testing the wheel."""
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    section = README.read_text().split("### Building the wheel", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S).group(1)
    commands = [part.strip() for line in block.splitlines()
                for part in line.split("#", 1)[0].split(" && ") if part.strip()]
    assert commands[-2:] == ['pip install "$(ls wheelhouse/nnbp-*.whl)[test]"', "pytest"]
    positions = [ci.index(command) for command in commands]
    assert positions == sorted(positions)
    # And the README's source install with the tests stays as it was.
    assert "pip install '.[test]' && pytest" in README.read_text()


# The command-line session, moved from the README to the command line's guide page.
SESSIONS = re.findall(r"```console\n(.*?)```", CLI_PAGE.read_text(), flags=re.S)


def session_steps(block):
    """[(command, expected output lines)] of a console block."""
    steps = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]\d+)?")
# The session's figures below this are rounding errors (a gradient check's):
# they vary with the processor, the BLAS kernel and the thread count.
ROUNDING = 1e-10
# How far such a figure may grow on another machine and still mean the same.
ROUNDING_FACTOR = 100
# Any other figure may move in its last printed digit: a loss, after forty
# epochs whose products another BLAS kernel rounds differently.
RELATIVE = 1e-3


def comparable(lines):
    """Output lines less what differs from run to run, times and save dates, as (layout, figures)."""
    return [(NUMBER.sub("<number>", line), [float(n) for n in NUMBER.findall(line)])
            for line in (re.sub(r"\d+\.\d+ s\b", "<time> s", line) for line in lines)
            if not line.lstrip().startswith("saved:")]


def assert_same_output(output, expected, command):
    """The same lines with the same figures, rounding errors within their bound."""
    output, expected = comparable(output), comparable(expected)
    assert [layout for layout, _ in output] == [layout for layout, _ in expected], command
    for (layout, figures), (_, expected_figures) in zip(output, expected):
        for figure, expected_figure in zip(figures, expected_figures):
            if expected_figure < ROUNDING:
                assert figure <= ROUNDING_FACTOR * expected_figure, (command, layout, figure)
            else:
                assert figure == pytest.approx(expected_figure, rel=RELATIVE), (command, layout)


def test_readme_command_line_session_runs_as_written(tmp_path):
    import shutil
    import subprocess
    import sys

    assert SESSIONS
    shutil.copytree(README.parent / "tests" / "data", tmp_path / "tests" / "data")
    for block in SESSIONS:
        for command, expected in session_steps(block):
            python_command = re.sub(r"(^|&& )nnbp ", rf"\1'{sys.executable}' -m nnbp ", command)
            result = subprocess.run(python_command, shell=True, capture_output=True, text=True,
                                    cwd=tmp_path, timeout=300)
            assert result.returncode == 0, (command, result.stderr)
            assert_same_output(result.stdout.splitlines(), expected, command)


def test_the_session_comparison_allows_rounding_and_nothing_else():
    expected = ["  W(1)   48   48   3.43e-11   5.75e-16", "  training loss 0.02201, accuracy 100.0%"]
    # Another machine's rounding errors, within their bound: the same output.
    assert_same_output(["  W(1)   48   48   4.62e-11   0.00e+00",
                        "  training loss 0.02201, accuracy 100.0%"], expected, "ok")
    for wrong in (["  W(1)   48   48   3.43e-08   5.75e-16", expected[1]],    # a real error
                  ["  W(1)   48   47   3.43e-11   5.75e-16", expected[1]],    # a count
                  [expected[0], "  training loss 0.02301, accuracy 100.0%"],  # a loss
                  [expected[0], "  training loss 0.02201, accuracy 100.0 %"]):  # the layout
        with pytest.raises(AssertionError):
            assert_same_output(wrong, expected, "wrong")

