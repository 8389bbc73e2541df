"""Restricted unpickling of downloaded corpus files.

Du-IN and Chisco publish their epochs as Python pickles. Unpickling can import
any module and call any function named in the file, so a plain
:func:`pickle.load` on a downloaded file runs whatever the file says. The
unpickler here resolves only an allow-list of globals: Du-IN's dict subclass
(``utils.DotDict.DotDict``, mapped to :class:`DotDict`), the few NumPy functions
that rebuild arrays, scalars and dtypes (under both the NumPy 1 module names
``numpy.core.*`` and the NumPy 2 names ``numpy._core.*``), and a handful of
builtin containers. Any other global, and any persistent id, is refused with
:class:`UnsafePickleError` before it is imported or called.
"""

# License: BSD (3-clause)

from __future__ import annotations

import importlib
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["DotDict", "UnsafePickleError", "load_pickle"]


class DotDict(dict):
    """A :class:`dict` whose keys can also be read as attributes.

    It stands in for Du-IN's ``utils.DotDict.DotDict`` when its pickles are
    loaded, so that ``record.data_s`` and ``record["data_s"]`` both work
    without importing Du-IN's code.
    """

    def __getattr__(self, key):
        # Raising AttributeError (not KeyError) keeps getattr(obj, name, default),
        # copy and pickle working on missing names.
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute {key!r}"
            ) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __reduce__(self):
        # Pickle as a plain dict payload so our own caches never depend on
        # attribute-state handling.
        return (DotDict, (dict(self),))


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global (or persistent id) outside the allow-list.

    Parameters
    ----------
    fname : path-like
        The file being loaded.
    what : str
        The refused global, e.g. ``"os.system"``.
    """

    def __init__(self, fname, what):
        self.fname = str(fname)
        self.what = what
        super().__init__(
            f"Refusing to unpickle {self.fname}: it references {what}, which is not "
            "one of the globals a corpus file needs (the corpus' own dict class, "
            "NumPy array reconstruction and builtin containers). The file is not a "
            "genuine corpus file, or it has been modified. Do not open it with "
            "pickle.load; download the corpus again from its official source."
        )


class _Refused(Exception):
    """Raised by the allowed helpers on a use pickle itself never writes."""


def _reconstructor(cls, base, state):
    # Protocol 0/1 pickles of dict subclasses go through copyreg._reconstructor,
    # which calls base.__new__/__init__. Allow only the dict case.
    if not (isinstance(cls, type) and issubclass(cls, dict) and base is dict):
        raise _Refused(f"copyreg._reconstructor applied to cls={cls!r}, base={base!r}")
    return cls(state)


def _numpy_function(module_suffix, name):
    # numpy 2 moved numpy.core to numpy._core; importing numpy.core.* there warns.
    for prefix in ("numpy._core", "numpy.core"):
        try:
            module = importlib.import_module(f"{prefix}.{module_suffix}")
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise ImportError(f"numpy has no {module_suffix}.{name}")  # pragma: no cover


def _build_allow_list():
    allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): bytearray,
        ("builtins", "complex"): complex,
        ("builtins", "dict"): dict,
        ("builtins", "list"): list,
        ("collections", "OrderedDict"): OrderedDict,
        ("copyreg", "_reconstructor"): _reconstructor,
        # Protocol < 3 pickles store bytes as _codecs.encode(str, "latin1").
        ("_codecs", "encode"): _codecs_encode,
        # Du-IN's record class, under the module name its pickles carry.
        ("utils.DotDict", "DotDict"): DotDict,
    }
    for module_suffix, name in (
        ("multiarray", "_reconstruct"),
        ("multiarray", "scalar"),
        ("numeric", "_frombuffer"),  # protocol-5 array pickles
    ):
        func = _numpy_function(module_suffix, name)
        for prefix in ("numpy.core", "numpy._core"):
            allowed[(f"{prefix}.{module_suffix}", name)] = func
    return allowed


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Only the form pickle itself writes: a str encoded as latin1.
    if not isinstance(obj, str) or encoding != "latin1":
        raise _Refused(f"_codecs.encode with encoding={encoding!r}")
    return obj.encode("latin1", errors)


# Python 2 names that protocol 0-2 pickles may carry (pickle's fix_imports).
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
_ALLOWED = _build_allow_list()


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the allow-listed globals."""

    def __init__(self, file, fname):
        super().__init__(file)
        self._fname = fname

    def find_class(self, module, name):
        key = (_MODULE_ALIASES.get(module, module), name)
        try:
            return _ALLOWED[key]
        except KeyError:
            raise UnsafePickleError(
                self._fname, f"the global '{key[0]}.{key[1]}'"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(self._fname, f"the persistent id {pid!r}")


def load_pickle(fname, *, what="corpus file"):
    """Load a pickle file through the restricted unpickler.

    Parameters
    ----------
    fname : path-like
        The file.
    what : str
        How to call the file in error messages (e.g. ``"Du-IN data file"``).

    Returns
    -------
    obj : object
        The unpickled object, built only from allow-listed globals.

    Raises
    ------
    FileNotFoundError
        If ``fname`` does not exist.
    UnsafePickleError
        If the file references a global outside the allow-list; nothing named
        in the file has been imported or called.
    ValueError
        If the file is truncated or is not a pickle.
    """
    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(f"The {what} {fname} does not exist.")
    with open(fname, "rb") as fid:
        try:
            return _RestrictedUnpickler(fid, fname).load()
        except UnsafePickleError:
            raise
        except _Refused as err:
            raise UnsafePickleError(fname, str(err)) from None
        except (
            EOFError,
            pickle.UnpicklingError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            KeyError,
            UnicodeDecodeError,
            OverflowError,
        ) as err:
            size = os.path.getsize(fname)
            raise ValueError(
                f"Could not read the {what} {fname} ({size} bytes): the file is "
                f"truncated or is not a valid pickle ({type(err).__name__}: {err}). "
                "Download it again."
            ) from err
