"""The public classes of a corpus: ``__init__`` and docstring from its reader.

A corpus module's two public classes (a :class:`~.base.CorpusWindowsDataset` and a
:class:`~.base.CorpusMOABBDataset` subclass) only name their ``reader_class``;
:func:`register_public`, called from the base classes' ``__init_subclass__``,
registers them on the reader, gives them an ``__init__`` with an explicit signature
(the reader's parameters plus the shared ones) and completes their docstring with
the Parameters and Notes sections (the reader's ``doc_parts`` and the shared
entries of :data:`mne_neurosketch._docs.docdict`).
"""

# License: BSD (3-clause)

from __future__ import annotations

import inspect
import textwrap

from .._docs import fill_doc
from ._paths import config_key

__all__ = ["register_public"]

# The public classes' own parameters, around the reader's: (head, tail).
_SIGNATURES = {
    "windows_class": (
        [("subject_ids", None), ("path", None)],
        [("cache", True), ("cache_dir", None), ("verbose", None)],
    ),
    "moabb_class": (
        [("path", None), ("subjects", None)],
        [("cache", True), ("cache_dir", None)],
    ),
}


def _corpus_doc(doc: str, reader, role: str) -> str:
    """Add the Parameters and Notes of a public corpus class to its docstring.

    They come from the reader's ``doc_parts`` (what folder ``path`` is, its own
    parameters, notes; the parameters may use ``%(name)s`` entries) and the shared
    ``%(name)s`` entries of the docdict (filled by the caller); they go before an
    ``Examples`` section. A docstring with its own Parameters is left as written.
    """
    parts = getattr(reader, "doc_parts", None)
    if parts is None or "\n    Parameters\n" in doc:
        return doc
    path, params, notes = parts
    head, sep, examples = doc.partition("\n    Examples\n")
    lines = ["", "    Parameters", "    ----------"]
    if role == "windows_class":
        first, last = reader.subjects[0], reader.subjects[-1]
        lines += [
            "    subject_ids : int | list of int | None",
            f"        Subjects ({first}..{last}); ``None`` loads all.",
        ]
    indent = " " * 8
    path = f"{path}; ``None`` reads the MNE config key ``{config_key(reader.code)}``."
    path = textwrap.fill(path, 84, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False)  # fmt: skip
    lines += ["    path : path-like | None", path]
    if role == "moabb_class":
        lines.append("    %(subjects_evaluate)s")
    lines += ["    " + params.strip(), "    %(cache)s", "    %(cache_dir)s"]
    if role == "windows_class":
        lines.append("    %(verbose)s")
    if notes:
        lines += ["", "    Notes", "    -----", "    " + notes.strip()]
    body = head.rstrip() + "\n" + "\n".join(lines) + "\n"
    return body + ((sep + examples) if sep else "    ")


def register_public(cls, base, role):
    """Register a public corpus class on its ``reader_class``; give it ``__init__``.

    The ``__init__`` (unless the class writes its own) takes the parameters of
    :data:`_SIGNATURES` around the reader's keyword parameters (all but ``path``);
    ``path`` and the reader's go to the reader, the others to ``base.__init__``.
    Its explicit signature serves the docs, introspection and the errors for
    unknown arguments.

    Parameters
    ----------
    cls : type
        The public class (a subclass of ``base``).
    base : type
        :class:`~.base.CorpusWindowsDataset` or :class:`~.base.CorpusMOABBDataset`.
    role : "windows_class" | "moabb_class"
        The reader attribute that names ``cls``.
    """
    reader = vars(cls).get("reader_class")
    if reader is None:
        return
    setattr(reader, role, cls)
    if cls.__doc__:
        cls.__doc__ = _corpus_doc(cls.__doc__, reader, role)
        fill_doc(cls)
    if "__init__" in vars(cls):
        return
    head, tail = _SIGNATURES[role]
    kw, pos = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    own = inspect.signature(reader.__init__).parameters
    params = [inspect.Parameter("self", pos)]
    params += [
        inspect.Parameter(n, pos if n in ("subject_ids", "path") else kw, default=d)
        for n, d in head
    ]
    params += [p.replace(kind=kw) for n, p in own.items() if n not in ("self", "path")]
    params += [inspect.Parameter(n, kw, default=d) for n, d in tail]
    signature = inspect.Signature(params)
    shared = [n for n, _ in head + tail if n != "path"]

    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{cls.__name__}(): {err}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        del values["self"]
        base_kwargs = {n: values.pop(n) for n in shared}
        base.__init__(self, reader(values.pop("path"), **values), **base_kwargs)

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = __init__
