"""Sphinx configuration of calspike's documentation site.

Build it (no network needed) with::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages are Markdown (MyST), the API reference comes from the docstrings (autodoc +
numpydoc), and the command-line reference is generated from ``calspike.config.SETTINGS``
by the local extension ``docs/_ext/calspike_cli.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import calspike

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "calspike"
author = "The calspike developers"
copyright = "the calspike developers"
release = calspike.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
    "calspike_cli",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
# `name` in a docstring links to that object when it is documented (numpy's convention)
default_role = "py:obj"
# "--option" in prose stays two hyphens (no en dashes); code blocks without a language are text
smartquotes_action = "qe"
highlight_language = "none"

# MyST: Markdown pages that GitHub renders too; headings get anchors for links like page.md#section
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# autodoc + numpydoc
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
numpydoc_show_class_members = False  # members are documented by autodoc's :members: instead
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"calspike {release}"
html_static_path = ["_static"]
html_css_files = ["calspike.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": []}  # the front page lists every page itself
html_show_sourcelink = False
