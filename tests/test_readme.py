"""The README stays true: its Python examples run as written."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert EXAMPLES


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_readme_example_runs(number, capsys):
    exec(compile(EXAMPLES[number], f"README.md example {number}", "exec"), {})
    assert "PASSED" in capsys.readouterr().out


def test_readme_gives_the_ci_commands():
    """The README's install-and-test command is the one CI runs."""
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install '.[test]' && pytest" in README.read_text()
    assert "pip install '.[test]'\npytest\n" in ci
