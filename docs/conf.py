"""Sphinx configuration of nnbp's documentation site.

Build from a checkout with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
once nnbp is importable (installed, or built in place). The gallery (``examples/``)
runs at build time, and the Benchmarks page is rendered from ``bench/*.json``.
"""
import os
import sys
from pathlib import Path

import nnbp

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The Benchmarks page renders the benchmark's committed results with the benchmark's
# own report code (bench/nnbp_bench), as `nnbp bench` prints them; _ext holds that directive.
sys.path[:0] = [str(DOCS / "_ext"), str(ROOT / "bench")]

project = "nnbp"
author = "nnbp's developers"
copyright = "nnbp's developers, BSD-3-Clause"
release = nnbp.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax served with the site, not from its CDN: the equations render offline.
    "sphinx-mathjax-offline",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "nnbp_benchmarks",
]

# Figures and names as written: the Benchmarks page's cells are the benchmark's own text.
smartquotes = False
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
# Sources the gallery writes next to its pages; not pages of their own.
exclude_patterns += ["auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                     "auto_examples/*.md5", "auto_examples/*.json"]

# MyST: the guide's pages are Markdown, moved from the README; $...$ for equations.
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# API reference: one page per public name, generated from the docstrings.
autosummary_generate = True
autosummary_imported_members = False
# A module's members are its __all__, where it declares one.
autosummary_ignore_module_all = False
# The module pages say where a name re-exported at the top is documented.
autosummary_context = {"toplevel": sorted(
    f"{getattr(nnbp, name).__module__}.{name}" for name in nnbp.__all__
    if getattr(getattr(nnbp, name), "__module__", "").startswith("nnbp."))}
autodoc_default_options = {"show-inheritance": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# The gallery: every example runs at build time, its figures captured.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "min_reported_time": 1,
    # Its timing pages load jQuery and DataTables from CDNs; the site works offline.
    "write_computation_times": False,
}

# The Benchmarks page's plots run at build time from bench/*.json.
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.figsize": (7, 3.6)}
plot_working_directory = str(ROOT)

html_theme = "pydata_sphinx_theme"
html_title = f"nnbp {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_prev_next": True,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    # No fonts, icons or search index from other sites: the pages work offline.
    "icon_links": [],
}
# A fixed colour scheme: with none, the theme logs an error on a visitor's first page.
html_context = {"default_mode": "light"}
html_sidebars = {"index": [], "changelog": []}
html_show_sourcelink = False
html_copy_source = False

# Matplotlib draws into files, never a window.
os.environ.setdefault("MPLBACKEND", "Agg")


def skip_metadata_routing(app, what, name, obj, skip, options):
    """Leave out scikit-learn's metadata-routing methods (set_fit_request and its
    kin), which scikit-learn adds to every estimator and documents itself: their
    docstrings point into scikit-learn's own glossary and user guide."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", skip_metadata_routing)
