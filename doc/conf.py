"""Sphinx configuration of the mne-neurosketch documentation.

Build with ``python -m sphinx -W -b html doc doc/_build/html`` from the
repository root (``bash .ci/docs`` does that, then runs the browser test).
"""

# License: BSD (3-clause)

from __future__ import annotations

import os

# braindecode models merge the mixin's parameter docs into each model's
# docstring only when this is set before braindecode is imported (as in
# braindecode's own docs/conf.py); our models document their own parameters.
os.environ["DOCSTRING_INHERITANCE_ENABLE"] = "1"
# Never open figure windows while the gallery runs.
os.environ.setdefault("MPLBACKEND", "agg")

import re  # noqa: E402
import sys  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "sphinxext"))

from sphinx.util import logging  # noqa: E402

logger = logging.getLogger("mne_neurosketch.doc")

from intersphinx_offline import offline_safe_aliases, reachable_mapping  # noqa: E402

import mne_neurosketch  # noqa: E402

# -- Project -----------------------------------------------------------------
project = "mne-neurosketch"
author = "mne-neurosketch developers"
copyright = f"2025-{date.today().year}, {author}"  # noqa: A001
release = mne_neurosketch.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_design",
    "sphinx_gallery.gen_gallery",
    "sphinxcontrib.bibtex",
    # ours (doc/sphinxext): pages and figures generated from code at build time
    "architecture_figure",
    "benchmark_page",
    "api_coverage",
]
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "py:obj"
language = "en"
# Our references resolve or the build fails; third-party ones are resolved
# through intersphinx when reachable (see below) and are otherwise plain text.
nitpicky = False

# -- autodoc / autosummary / numpydoc ------------------------------------------
autosummary_generate = True
autodoc_default_options = {"inherited-members": False, "show-inheritance": False}
autodoc_typehints = "none"  # the numpydoc Parameters section says it
autoclass_content = "class"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "Epochs": "mne.Epochs",
    "Raw": "mne.io.Raw",
    "BaseConcatDataset": "braindecode.datasets.BaseConcatDataset",
    "nn.Module": "torch.nn.Module",
    "Tensor": "torch.Tensor",
    "DataFrame": "pandas.DataFrame",
    "Path": "pathlib.Path",
    "path-like": ":term:`path-like <python:path-like object>`",
    "file-like": ":term:`file-like <python:file object>`",
}
numpydoc_xref_ignore = {
    "type",
    "optional",
    "default",
    "of",
    "or",
    "shape",
    "n_chans",
    "n_times",
    "n_outputs",
    "n_trials",
    "n_samples",
    "n_classes",
    "n_epochs",
    "int",
    "float",
    "bool",
    "str",
    "None",
    "dict",
    "list",
    "tuple",
    "mapping",
    "callable",
    "object",
    "class",
    "instance",
    "module",
    "function",
    "batch",
    "sequence",
    "iterable",
}

# -- intersphinx ---------------------------------------------------------------
# The full mapping; ``reachable_mapping`` keeps the projects whose inventory
# answers within a few seconds (or every one when NEUROSKETCH_DOC_INTERSPHINX=1,
# none when =0), so an offline build neither waits nor warns: unreachable
# projects' names are rendered as plain code instead of links.
INTERSPHINX_PROJECTS = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
    "pandas": ("https://pandas.pydata.org/pandas-docs/stable", None),
    "matplotlib": ("https://matplotlib.org/stable", None),
    "mne": ("https://mne.tools/stable", None),
    "braindecode": ("https://braindecode.org/stable", None),
    "moabb": ("https://moabb.neurotechx.com/docs", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable", None),
    "dask": ("https://docs.dask.org/en/stable", None),
    "distributed": ("https://distributed.dask.org/en/stable", None),
}
intersphinx_mapping = reachable_mapping(INTERSPHINX_PROJECTS)
intersphinx_timeout = 10
# numpydoc links some types to glossary terms and labels of the Python and
# NumPy docs (``:term:`python:iterable```...). Without those inventories such
# a reference is a warning, so it becomes plain code for unreachable projects.
numpydoc_xref_aliases = offline_safe_aliases(numpydoc_xref_aliases, intersphinx_mapping)

# -- bibliography --------------------------------------------------------------
bibtex_bibfiles = ["references.bib"]
bibtex_default_style = "unsrt"
bibtex_reference_style = "author_year"

# -- sphinx-gallery --------------------------------------------------------------
def _kalunga_data() -> Path | None:
    """The MNE_DATA folder holding MOABB's Kalunga2016 recordings, if any.

    ``MNE_DATASETS_SSVEPEXO_PATH`` or ``MNE_DATA`` when set, else the shared
    data next to the repository (``../shared/data/mne_data``, as on CI).
    """
    import mne

    for folder in (os.environ.get("MNE_DATASETS_SSVEPEXO_PATH"),
                   mne.get_config("MNE_DATA"),
                   ROOT.parent / "shared" / "data" / "mne_data"):
        if folder and (Path(folder).expanduser() / "MNE-ssvepexo-data").is_dir():
            return Path(folder).expanduser().resolve()
    return None


# The transfer example trains on real recordings: it runs (about 3 minutes on
# one CPU thread) when they are on this machine, and its page says why it did
# not run otherwise (see _note_unrun_examples).
KALUNGA_DATA = _kalunga_data()
UNRUN_EXAMPLES = {}
if KALUNGA_DATA is None:
    UNRUN_EXAMPLES["auto_examples/transfer_kalunga2016"] = (
        "MOABB's Kalunga2016 recordings were not found (MNE_DATASETS_SSVEPEXO_PATH, "
        "MNE_DATA or ../shared/data/mne_data holding MNE-ssvepexo-data/)"
    )
else:
    os.environ.setdefault("MNE_DATASETS_SSVEPEXO_PATH", str(KALUNGA_DATA))
    os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_" + ("" if KALUNGA_DATA is None
                                     else r"|/transfer_kalunga2016\.py"),
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("mne_neurosketch",),
    "backreferences_dir": "generated/backreferences",
    "show_memory": False,
    "min_reported_time": 0,
    "write_computation_times": True,
    "download_all_examples": False,
    # A failing example fails the build (not only a warning at the end).
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib", "gallery_warnings.reset_warnings"),
    "reset_modules_order": "both",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "thumbnail_size": (320, 224),
    "line_numbers": False,
    "capture_repr": ("_repr_html_", "__repr__"),
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"mne-neurosketch {release}"
html_static_path = ["_static"]
html_css_files = ["style.css"]
html_show_sourcelink = False
html_last_updated_fmt = "%Y-%m-%d"
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    # No remote assets: the site must render offline (and in the browser test).
    "icon_links": [],
}
html_context = {"default_mode": "light"}
html_sidebars = {
    "index": [],
    "install": [],
    "whats_new": [],
    "benchmark_results": [],
    "references": [],
}


# -- hooks ---------------------------------------------------------------------
def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out methods that scikit-learn generates on every estimator.

    ``set_fit_request``, ``set_score_request``... are metadata-routing
    methods written by scikit-learn; their docstrings point into its docs.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def _require_docstring(app, what, name, obj, options, lines):
    """Warn (an error under -W) when one of our documented objects has no text.

    Unlike numpydoc's GL08 check, a method that inherits its base class'
    docstring counts as documented, as it is shown so.
    """
    if name.startswith("mne_neurosketch.") and what in ("class", "function", "method"):
        if not any(line.strip() for line in lines):
            logger.warning(f"{name} has no docstring.", location=name)


def _note_unrun_examples(app, docname, source):
    """Say on an example's page that it was not run in this build, and why."""
    reason = UNRUN_EXAMPLES.get(docname)
    if reason is None:
        return
    logger.info(f"{docname} was not run: {reason}.")
    # After the page title (its first underline), before the code.
    text = source[0]
    match = re.search(r"^(=+)\n", text, flags=re.MULTILINE)
    note = (f"\n.. note::\n\n   This example was not run when this page was "
            f"built: {reason}. The code is shown without its output.\n")
    at = match.end() if match else len(text)
    source[0] = text[:at] + note + text[at:]


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("source-read", _note_unrun_examples)
    app.connect("autodoc-process-docstring", _require_docstring)
