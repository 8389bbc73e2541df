"""Fail the build when a public name of the package is missing from api.rst.

A public name is one listed in ``__all__`` of a public module of
``mne_neurosketch`` (no component starting with ``_``) whose object is
defined in this package. It is covered when ``doc/api.rst`` lists it, under
any of the paths it is importable from, in an ``autosummary`` block. Missing
names are reported as Sphinx warnings, which ``-W`` turns into errors, so
the API page cannot fall behind the code.
"""

# License: BSD (3-clause)

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)
PACKAGE = "mne_neurosketch"
#: Types of module-level constants that count as public names.
DATA_TYPES = (dict, list, tuple, set, frozenset, str, int, float)


def public_names(package: str = PACKAGE) -> dict[str, object]:
    """Return ``{"module.name": object}`` for every public name of ``package``."""
    root = importlib.import_module(package)
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        modules.append(importlib.import_module(info.name))
    out = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            if name.startswith("_"):
                continue
            obj = getattr(module, name)
            if callable(obj):
                if not (getattr(obj, "__module__", "") or "").startswith(package):
                    continue  # re-exported from another library (e.g. mne.utils)
            elif not isinstance(obj, DATA_TYPES):
                continue  # an instance of another library's class (e.g. a logger)
            out[f"{module.__name__}.{name}"] = obj
    return out


def documented_names(api_rst: Path) -> set[str]:
    """Fully qualified names listed in the autosummary blocks of ``api_rst``."""
    current, names, in_block = PACKAGE, set(), False
    for line in api_rst.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        match = re.match(r"\.\. (?:current)?module:: (\S+)", stripped)
        if match:
            current = match.group(1)
            continue
        if stripped.startswith(".. autosummary::"):
            in_block = True
            continue
        if in_block:
            if not stripped or stripped.startswith(":"):
                continue
            if not line.startswith((" ", "\t")):
                in_block = False
                continue
            names.add(
                stripped if stripped.startswith(PACKAGE) else f"{current}.{stripped}"
            )
    return names


def _check(app):
    api_rst = Path(app.srcdir) / "api.rst"
    documented = documented_names(api_rst)
    public = public_names()
    covered = {id(public[n]) for n in documented if n in public}
    for name in documented - set(public):
        # a listed name that is not public (typo, or removed from the code)
        module, _, attr = name.rpartition(".")
        try:
            getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            logger.warning(
                f"api.rst lists {name}, which cannot be imported.", location="api"
            )
    missing = sorted(n for n, obj in public.items() if id(obj) not in covered)
    # report each object once, under its shortest path
    seen, report = set(), []
    for name in sorted(missing, key=lambda n: (n.count("."), n)):
        if id(public[name]) not in seen:
            seen.add(id(public[name]))
            report.append(name)
    for name in report:
        logger.warning(
            f"Public name {name} is not listed in doc/api.rst; add it to "
            "an autosummary block.",
            location="api",
        )


def setup(app):
    # before sphinx-gallery runs the examples (priority 500): fail fast
    app.connect("builder-inited", _check, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
