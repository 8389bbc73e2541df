"""Logging, seeding and argument checks shared by the package."""

# License: BSD (3-clause)

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from mne.utils import ProgressBar, logger, set_log_level, use_log_level, warn
from mne.utils import verbose as _mne_verbose

from ._docs import fill_doc

__all__ = [
    "ProgressBar",
    "logger",
    "set_log_level",
    "set_random_seeds",
    "use_log_level",
    "warn",
]


def verbose(function):
    """Apply MNE's :func:`mne.verbose` after filling our shared docstring entries.

    A docstring may use the entries of :data:`mne_neurosketch._docs.docdict`
    (``%(cache_dir)s``, ...) as well as ``%(verbose)s``.

    Parameters
    ----------
    function : callable
        A function with a ``verbose=None`` parameter.

    Returns
    -------
    function : callable
        The decorated function.
    """
    return _mne_verbose(fill_doc(function))


def set_random_seeds(seed: int, cuda: bool | None = None) -> None:
    """Seed Python, NumPy and torch (and CUDA when available or asked).

    A thin wrapper of :func:`braindecode.util.set_random_seeds` that decides
    ``cuda`` by itself.

    Parameters
    ----------
    seed : int
        The seed.
    cuda : bool | None
        Also seed every CUDA device. ``None`` seeds them when CUDA is available.
    """
    import torch
    from braindecode.util import set_random_seeds as _braindecode_seeds

    if cuda is None:
        cuda = torch.cuda.is_available()
    _braindecode_seeds(seed, cuda=bool(cuda))


# ------------------------------------------------------------------ argument checks
# Names accepted by _validate_type besides classes, as in MNE.
_TYPE_CHECKS = {
    "int": lambda x: isinstance(x, numbers.Integral) and not isinstance(x, bool),
    "numeric": lambda x: isinstance(x, numbers.Real) and not isinstance(x, bool),
    "path-like": lambda x: isinstance(x, (str, os.PathLike)),
    "callable": callable,
    None: lambda x: x is None,
}


def _join(words, last: str) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = list(words)
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def _type_name(kind) -> str:
    if kind is None:
        return "None"
    if isinstance(kind, str):
        return kind
    return kind.__name__


def _validate_type(item, types, item_name: str = "item"):
    """Raise a TypeError in MNE's words unless ``item`` is one of ``types``.

    Parameters
    ----------
    item : object
        The value to check.
    types : type | str | None | tuple of them
        Accepted classes, or the names ``"int"`` (not bool), ``"numeric"``,
        ``"path-like"`` (str or :class:`os.PathLike`), ``"callable"`` and
        ``None``.
    item_name : str
        The argument's name, for the message.

    Returns
    -------
    item : object
        The value, unchanged.
    """
    types = types if isinstance(types, tuple) else (types,)
    for kind in types:
        check = _TYPE_CHECKS.get(kind) if kind is None or isinstance(kind, str) else None
        if (check(item) if check is not None else isinstance(item, kind)):
            return item
    names = _join([_type_name(kind) for kind in types], "or")
    raise TypeError(
        f"{item_name} must be an instance of {names}, got {type(item).__name__} "
        "instead."
    )


class _Rule(NamedTuple):
    """An allowed value of :func:`_check_option` given by a test, e.g. "positive
    integers" for ``lambda v: ...``; the description goes into the message."""

    description: str
    test: Callable


def _allows(allowed, value) -> bool:
    if isinstance(allowed, _Rule):
        return bool(allowed.test(value))
    if isinstance(value, (bool, np.bool_)) != isinstance(allowed, bool):
        return False  # True is not 1, nor False 0
    try:
        return bool(value == allowed)
    except (TypeError, ValueError):  # array-valued comparisons
        return False


def _check_option(parameter: str, value, allowed_values, extra: str = ""):
    """Raise a ValueError in MNE's words unless ``value`` is an allowed value.

    Parameters
    ----------
    parameter : str
        The argument's name, for the message.
    value : object
        The value to check.
    allowed_values : sequence
        The allowed values, and :class:`_Rule` s for ranges of them (e.g.
        positive integers).
    extra : str
        Inserted after the parameter's name (e.g. ``" when method='simple'"``).

    Returns
    -------
    value : object
        The value, unchanged.
    """
    allowed_values = list(allowed_values)
    if any(_allows(allowed, value) for allowed in allowed_values):
        return value
    options = _join([a.description if isinstance(a, _Rule) else repr(a)
                     for a in allowed_values], "and")
    raise ValueError(
        f"Invalid value for the {parameter!r} parameter{extra}. Allowed values are "
        f"{options}, but got {value!r} instead."
    )


def _check_subjects(subjects, n_trials):
    """A clear error unless ``subjects`` (MOABB's routed metadata) has one
    entry per trial."""
    if subjects is not None and len(subjects) != n_trials:
        raise ValueError(
            f"subjects has {len(subjects)} entries but X has {n_trials} trials. "
            "Pass the subject of each training trial."
        )


def _log_level(verbose):
    """The context of a call at MNE log level ``verbose`` (``None``: the current one)."""
    return contextlib.nullcontext() if verbose is None else use_log_level(verbose)
