"""The documentation site: its pages in headless Chromium, its Benchmarks page against
bench/*.json, its API reference against the public names, and the figures the README and
Getting started quote against the benchmark's results.

The browser tests read a built site: NNBP_DOCS_HTML names its folder (.ci/run builds the
site and sets it). Without it they skip, saying so; with it, a missing site or a missing
Chromium is a failure, so that CI cannot skip them.
"""
from __future__ import annotations

import html.parser
import importlib
import io
import json
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from chromium_pages import Browser, find_chromium

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
# The Benchmarks page renders each results file with its report module, in this order.
BENCHMARKS = [("results.json", "report"), ("results-haswell.json", "report"),
              ("results-dask.json", "cluster"), ("results-sparse.json", "sparse"),
              ("results-busy.json", "busy"), ("results-busy-haswell.json", "busy")]
# A screenshot is blank when nearly all of it is one colour: a page has text and chrome.
MIN_OTHER_PIXELS = 0.001


@pytest.fixture(scope="module")
def site() -> Path:
    folder = os.environ.get("NNBP_DOCS_HTML")
    if not folder:
        pytest.skip("NNBP_DOCS_HTML is not set: build the site (see the README) and set it "
                    "to the HTML folder; .ci/run does both")
    site = Path(folder)
    assert (site / "index.html").is_file(), f"NNBP_DOCS_HTML={folder} holds no built site"
    return site


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        if os.environ.get("NNBP_DOCS_HTML"):
            pytest.fail("Chromium is not installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with Browser(executable) as browser:
        yield browser


def blank(png: bytes) -> bool:
    """Whether a screenshot is (nearly) one colour."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    counts = image.getcolors(maxcolors=image.width * image.height)
    most = max(count for count, _ in counts)
    return 1 - most / (image.width * image.height) < MIN_OTHER_PIXELS


def visit_all(browser: Browser, pages: list[Path]) -> dict:
    """Every page visited once: {resolved path: PageVisit}."""
    return {page.resolve(): browser.visit(page.resolve().as_uri()) for page in pages}


def problems_of(visits: dict, root: Path) -> list[str]:
    """What is wrong with the visited pages: blank, JavaScript errors, broken links."""
    problems = []
    anchors = {path: visit.anchors for path, visit in visits.items()}
    for path, visit in visits.items():
        name = path.relative_to(root).as_posix()
        if blank(visit.png):
            problems.append(f"{name}: blank screenshot")
        problems += [f"{name}: JavaScript error: {error}" for error in visit.errors]
        for link in visit.links:
            problem = broken(link, root, anchors)
            if problem:
                problems.append(f"{name}: link {link}: {problem}")
    return problems


def broken(link: str, root: Path, anchors: dict) -> str | None:
    """Why an internal link does not resolve, or None (external links are not followed)."""
    parts = urlsplit(link)
    if parts.scheme != "file":
        return None
    target = Path(unquote(parts.path))
    if not target.resolve().is_relative_to(root.resolve()):
        return "points outside the site"
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return "no such file"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html":
        ids = anchors.get(target.resolve())
        if ids is None:
            ids = set(re.findall(r'\b(?:id|name)="([^"]+)"', target.read_text()))
        if fragment not in ids:
            return f"no anchor #{fragment}"
    return None


def test_every_page_renders_without_errors_and_its_links_resolve(site, browser):
    # _static/ holds the theme's files, among them templates named .html, not pages.
    pages = sorted(page for page in site.rglob("*.html") if "_static" not in page.parts)
    assert len(pages) > 50, f"only {len(pages)} pages: is the API reference built?"
    problems = problems_of(visit_all(browser, pages), site)
    assert not problems, "\n".join(problems[:50])


def test_the_page_checks_find_errors_blank_pages_and_broken_links(tmp_path, browser):
    """The same checks, on a small site with one of each fault: they must report them."""
    style = "<style>body { font-size: 40px }</style>"
    (tmp_path / "index.html").write_text(
        f'<html>{style}<body><h1 id="top">A page</h1><p>Text enough to see.</p>'
        '<a href="second.html#top">fine</a> <a href="second.html#nowhere">no anchor</a> '
        '<a href="missing.html">no file</a><a href="https://example.org/">outside</a>'
        '</body></html>')
    (tmp_path / "second.html").write_text(
        f'<html>{style}<body><h1 id="top">Second</h1><script>undefined_function();</script>'
        '</body></html>')
    (tmp_path / "blank.html").write_text("<html><body></body></html>")
    problems = problems_of(visit_all(browser, sorted(tmp_path.glob("*.html"))), tmp_path)
    second = (tmp_path / "second.html").resolve().as_uri()
    assert problems[:3] == [
        "blank.html: blank screenshot",
        f"index.html: link {second}#nowhere: no anchor #nowhere",
        "index.html: link " + (tmp_path / "missing.html").resolve().as_uri() + ": no such file",
    ], problems
    assert len(problems) == 4 and problems[3].startswith(
        "second.html: JavaScript error: ReferenceError: undefined_function is not defined"), problems


class BenchmarkTables(html.parser.HTMLParser):
    """The tables of each benchmark block (div id="benchmark-<stem>"), as lists of rows."""

    def __init__(self):
        super().__init__()
        self.blocks: dict[str, list[list[list[str]]]] = {}
        self.machines: dict[str, str] = {}
        self._block = None
        self._depth = 0
        self._cell = None
        self._machine = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._block is None:
            if tag == "div" and (attrs.get("id") or "").startswith("benchmark-"):
                self._block, self._depth = attrs["id"][len("benchmark-"):], 1
                self.blocks[self._block] = []
            return
        if tag == "div":
            self._depth += 1
        elif tag == "table":
            self.blocks[self._block].append([])
        elif tag == "tr":
            self.blocks[self._block][-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "p" and "nnbp-benchmark-machine" in (attrs.get("class") or ""):
            self._machine = ""

    def handle_endtag(self, tag):
        if self._block is None:
            return
        if tag in ("td", "th") and self._cell is not None:
            self.blocks[self._block][-1][-1].append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "p" and self._machine is not None:
            self.machines[self._block] = " ".join(self._machine.split())
            self._machine = None
        elif tag == "div":
            self._depth -= 1
            if self._depth == 0:
                self._block = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._machine is not None:
            self._machine += data


def expected_tables(results_file: str, report: str) -> list[list[list[str]]]:
    """The Markdown tables the benchmark prints for its committed results, as rows of cells."""
    markdown = importlib.import_module(f"nnbp_bench.{report}").markdown
    text = markdown(json.loads((BENCH / results_file).read_text()))
    tables = re.findall(r"(?:^\|.*\|\n?)+", text, flags=re.M)
    return [[[cell.strip() for cell in line.strip().strip("|").split("|")]
             for number, line in enumerate(table.strip().splitlines()) if number != 1]
            for table in tables]


@pytest.mark.parametrize("results_file, report", BENCHMARKS)
def test_benchmarks_page_shows_the_committed_results(site, results_file, report):
    """Every table the benchmark prints for a results file is on the page, cell for cell."""
    parser = BenchmarkTables()
    parser.feed((site / "benchmarks.html").read_text())
    stem = Path(results_file).stem
    assert stem in parser.blocks, f"no block of {results_file} on the Benchmarks page"
    expected = expected_tables(results_file, report)
    assert expected, f"the benchmark printed no table for {results_file}"
    assert parser.blocks[stem] == expected
    results = json.loads((BENCH / results_file).read_text())
    versions = results.get("versions") or (results.get("machine") or {}).get("versions")
    if versions:   # The machine of the run, as the file records it.
        for fact in (versions["processor"], versions["platform"], versions["kernel_isa"]):
            assert fact in parser.machines[stem]
    else:
        assert "not recorded" in parser.machines[stem]


PUBLIC_MODULES = ["network", "layers", "optim", "training", "estimators", "gradcheck",
                  "reference", "diagnostics", "plotting", "io", "onnx", "dask", "datasets",
                  "tabular", "cli"]


def public_names(module) -> list[str]:
    """A module's public functions and classes: its __all__, or those it defines."""
    import inspect

    names = getattr(module, "__all__", None) or [
        name for name, value in vars(module).items()
        if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__]
    return sorted(names)


def test_api_reference_documents_every_public_name(site):
    import nnbp

    documented = set()
    for page in (site / "api").rglob("*.html"):
        documented |= set(re.findall(r'<dt class="sig[^"]*" id="([^"]+)"', page.read_text()))
    missing = [f"nnbp.{name}" for name in nnbp.__all__ if f"nnbp.{name}" not in documented]
    for name in PUBLIC_MODULES:
        module = importlib.import_module(f"nnbp.{name}")
        assert (site / "api" / "generated" / f"nnbp.{name}.html").is_file(), name
        missing += [f"nnbp.{name}.{member}" for member in public_names(module)
                    if f"nnbp.{name}.{member}" not in documented
                    and not (member in nnbp.__all__ and getattr(nnbp, member)
                             is getattr(module, member))]
    assert not missing, missing


def _ms(seconds: float) -> str:
    return f"{seconds:.2f} s"


def quoted_figures() -> dict[str, str]:
    """The figures the README and Getting started quote, recomputed from bench/*.json."""
    results = json.loads((BENCH / "results.json").read_text())
    busy = json.loads((BENCH / "results-busy.json").read_text())
    sparse = json.loads((BENCH / "results-sparse.json").read_text())
    dask = json.loads((BENCH / "results-dask.json").read_text())
    sgd32, = [fit for fit in results["fits"] if fit["data"].startswith("digits")
              and fit["solver"] == "sgd" and fit["batch"] == 32]
    adam64, = [row for row in sparse["epoch"] if row["solver"] == "adam"
               and row["dtype"] == "float64"]
    epoch32, = [row for row in results["epoch"] if row["sizes"] == "784-256-128-10"
                and row["dtype"] == "float32" and row["batch"] == 32]
    torch_fit = results["torch_fit"]
    return {
        "digits fit, nnbp": f"{busy['quiet']['nnbp']:.3f} s",
        "digits fit, scikit-learn": f"{busy['quiet']['scikit-learn']:.3f} s",
        "sgd at batch 32": f"{sgd32['speedup']:.1f}x faster with sgd at batch 32",
        "sparse Adam, nnbp": f"{adam64['times']['nnbp sparse']['seconds']:.2f} s",
        "sparse Adam, scikit-learn": f"{adam64['times']['scikit-learn sparse']['seconds']:.2f} s",
        "fit against PyTorch, nnbp": f"{torch_fit['nnbp']['seconds']:.2f} s",
        "fit against PyTorch, PyTorch": f"PyTorch's {torch_fit['PyTorch']['seconds']:.2f} s",
        "epoch against PyTorch": "{:.2f}x".format(epoch32["times"]["PyTorch"]["seconds"]
                                                  / epoch32["times"]["nnbp"]["seconds"]),
        "Dask L-BFGS": f"within {dask['digits']['lbfgs']['relative_difference']:.1e}",
    }


@pytest.mark.parametrize("page", ["README.md", "docs/getting_started.md"])
def test_quoted_figures_are_the_benchmarks(page):
    text = " ".join((ROOT / page).read_text().split())
    missing = {claim: figure for claim, figure in quoted_figures().items() if figure not in text}
    assert not missing, missing
