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


def markdown_tables(text):
    """The Markdown tables of text, each as one string of its lines."""
    return re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M)


def test_readme_benchmark_tables_are_those_of_the_committed_run():
    """Every table the benchmark printed for bench/results.json is in the README as printed."""
    import json

    from nnbp.benchmark import report

    results = json.loads((README.parent / "bench" / "results.json").read_text())
    tables = markdown_tables(report.markdown(results))
    assert len(tables) == 6
    text = README.read_text()
    for table in tables:
        assert table in text, table.splitlines()[0]
