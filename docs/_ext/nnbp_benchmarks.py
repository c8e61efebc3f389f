"""The ``nnbp-benchmark`` directive: a benchmark's committed results, rendered at build time.

``.. nnbp-benchmark:: results.json`` with ``:report: report`` reads ``bench/results.json``
and renders what ``nnbp_bench.report.markdown`` makes of it, the tables ``nnbp bench``
prints, as paragraphs and tables, after a line that names the machine of the run.
The page so never copies a figure: a new run of the benchmark is a new page.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

BENCH = Path(__file__).resolve().parents[2] / "bench"


def markdown_blocks(text: str) -> list[tuple[str, object]]:
    """The benchmark's Markdown as ("text", paragraph) and ("table", (header, rows)) blocks."""
    blocks = []
    for block in text.strip().split("\n\n"):
        lines = block.strip().splitlines()
        if lines and all(line.startswith("|") for line in lines):
            cells = [[cell.strip() for cell in line.strip().strip("|").split("|")]
                     for line in lines]
            # The second line is Markdown's |---| rule under the header.
            blocks.append(("table", (cells[0], cells[2:])))
        else:
            blocks.append(("text", " ".join(line.strip() for line in lines)))
    return blocks


def machine_of(results: dict) -> str:
    """One line on where a run ran, from what the benchmark recorded of the machine."""
    versions = results.get("versions") or (results.get("machine") or {}).get("versions")
    if not versions:
        recorded = results.get("machine") or {}
        listed = ", ".join(f"{name} {version}" for name, version in recorded.items())
        return ("Machine: not recorded in this file" + (f" (it records {listed})" if listed else "")
                + ".")
    blas = "; ".join(f"{lib['api']} {lib['version']} ({lib['architecture']}, "
                     f"{lib['threads']} threads) from {lib['folder']}"
                     for lib in versions.get("blas", []))
    environment = ", ".join(f"{name}={value}" for name, value in
                            versions.get("environment", {}).items()) or "no BLAS variables set"
    return (f"Machine: {versions.get('processor', '?')}, {versions.get('platform', '?')}; "
            f"nnbp {versions.get('nnbp', '?')}'s kernels {versions.get('kernel_isa', '?')}; "
            f"Python {versions.get('python', '?')}, NumPy {versions.get('numpy', '?')}, "
            f"SciPy {versions.get('scipy', '?')}, scikit-learn {versions.get('sklearn', '?')}; "
            f"BLAS: {blas or '?'}; {environment}.")


def table_node(header: list[str], rows: list[list[str]]) -> nodes.table:
    """A docutils table of strings, the header row first."""
    table = nodes.table(classes=["nnbp-benchmark-table"])
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)

    def row_of(cells):
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=cell)
            row += entry
        return row

    head = nodes.thead()
    head += row_of(header)
    body = nodes.tbody()
    body.extend(row_of(cells) for cells in rows)
    group += head
    group += body
    return table


class BenchmarkDirective(SphinxDirective):
    """Render one results file of the benchmark with its report module."""

    required_arguments = 1
    option_spec = {"report": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        path = BENCH / self.arguments[0]
        self.env.note_dependency(str(path))
        results = json.loads(path.read_text())
        markdown = importlib.import_module(f"nnbp_bench.{self.options['report']}").markdown
        container = nodes.container(classes=["nnbp-benchmark"],
                                    ids=[f"benchmark-{path.stem}"])
        container += nodes.paragraph(text=machine_of(results),
                                     classes=["nnbp-benchmark-machine"])
        for kind, block in markdown_blocks(markdown(results)):
            container += (table_node(*block) if kind == "table"
                          else nodes.paragraph(text=block))
        return [container]


def setup(app) -> dict:
    app.add_directive("nnbp-benchmark", BenchmarkDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
