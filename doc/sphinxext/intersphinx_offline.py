"""Keep the intersphinx projects whose inventory can be reached now.

Sphinx warns (and ``-W`` fails the build) when an inventory cannot be
downloaded, and waits ``intersphinx_timeout`` for each. The documentation
must build offline (CI machines without internet), so ``conf.py`` passes its
full mapping through :func:`reachable_mapping`: projects whose
``objects.inv`` does not answer within a few seconds are left out, with a
note on stdout, and their names are rendered as code without links.

``NEUROSKETCH_DOC_INTERSPHINX=1`` keeps every project (the build then fails
if one is unreachable), ``=0`` drops them all (fast offline builds).
"""

# License: BSD (3-clause)

from __future__ import annotations

import os
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ENV = "NEUROSKETCH_DOC_INTERSPHINX"


def _answers(url: str, timeout: float) -> bool:
    request = urllib.request.Request(url.rstrip("/") + "/objects.inv", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status < 400
    except Exception:  # any network failure means "not reachable now"
        return False


def reachable_mapping(projects: dict, timeout: float = 4.0) -> dict:
    """Return the part of an ``intersphinx_mapping`` that can be reached.

    Parameters
    ----------
    projects : dict
        ``{name: (url, inventory)}`` as for ``intersphinx_mapping``.
    timeout : float
        Seconds to wait for each project (all are probed at once).

    Returns
    -------
    dict
        The reachable projects, all of them when ``NEUROSKETCH_DOC_INTERSPHINX=1``,
        none when it is ``0``.
    """
    mode = os.environ.get(ENV, "auto").strip().lower()
    if mode in ("1", "true", "yes", "on"):
        return dict(projects)
    if mode in ("0", "false", "no", "off"):
        print(f"intersphinx: disabled by {ENV}={mode}; external names are not linked.")
        return {}
    with ThreadPoolExecutor(max_workers=len(projects) or 1) as pool:
        ok = dict(
            zip(
                projects,
                pool.map(lambda item: _answers(item[0], timeout), projects.values()),
            )
        )
    missing = sorted(name for name, good in ok.items() if not good)
    if missing:
        print(
            f"intersphinx: no answer from {', '.join(missing)} (offline?); "
            f"their names are rendered without links. Set {ENV}=1 to require them."
        )
    return {name: spec for name, spec in projects.items() if ok[name]}


_LABEL_ROLE = re.compile(
    r"^:(?:term|ref):`(?:(?P<text>[^<`]+?)\s*<)?(?P<project>\w+):(?P<target>[^>`]+)>?`$"
)


def offline_safe_aliases(aliases: dict, mapping: dict) -> dict:
    """Return numpydoc xref aliases that cannot warn without an inventory.

    numpydoc's default aliases (and ours) point some types at glossary terms
    or labels of other projects' docs (``:term:`python:iterable```). A
    ``:term:`` or ``:ref:`` that does not resolve is a warning even when
    ``nitpicky`` is off, so for each project missing from ``mapping`` such an
    alias is replaced by the type's name as plain code.

    Parameters
    ----------
    aliases : dict
        Our ``numpydoc_xref_aliases``.
    mapping : dict
        The ``intersphinx_mapping`` in use.

    Returns
    -------
    dict
        numpydoc's defaults updated with ``aliases``, made safe.
    """
    from numpydoc.xref import DEFAULT_LINKS

    out = {**DEFAULT_LINKS, **aliases}
    for name, value in out.items():
        match = _LABEL_ROLE.match(value)
        if match and match.group("project") not in mapping:
            out[name] = f"``{name}``"
    return out
