"""Sphinx configuration: MyST Markdown pages, autodoc + napoleon for the API reference.

Built by ``make docs`` with warnings as errors. Nothing is fetched at build time (no
intersphinx) and nothing is mocked: autodoc imports the package and its OpenMMLab
dependencies as installed, so an API entry that fails to import fails the build.
"""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)  # this checkout's asl_mmdet, whatever the venv's editable install

with open(os.path.join(ROOT, 'asl_mmdet', 'version.py')) as f:
    exec(f.read())  # __version__, without importing the package before autodoc does

project = 'asl_mmdet'
author = 'asl_mmdet contributors'
copyright = '2026, asl_mmdet contributors'
version = release = __version__  # noqa: F821

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
    'myst_parser',
]
source_suffix = {'.md': 'markdown'}
master_doc = 'index'
exclude_patterns = ['_build']

myst_enable_extensions = ['dollarmath']
myst_heading_anchors = 3

autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_default_options = {'show-inheritance': False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = 'sphinx_rtd_theme'
html_title = f'asl_mmdet {release}'
html_theme_options = {'navigation_depth': 3, 'collapse_navigation': False}
html_show_sourcelink = False
html_static_path = ['_static']
html_css_files = ['wide.css']
