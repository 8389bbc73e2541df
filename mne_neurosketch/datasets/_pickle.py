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

Sizes are bounded too: a pickle can ask an allowed constructor for an array or
buffer far larger than itself (``bytearray(10**12)``, an array of shape
``(10**12,)``, a length prefix of 10**12 bytes), or call one many times on the
same memoized argument. Every array, scalar, buffer and container built
through an allowed global is charged to a budget of twice the file's size
plus 1 MiB (:data:`SIZE_SLACK`): a genuine pickle holds the bytes of every
array it describes, so it stays well inside. Anything beyond is refused before
it is allocated.
"""

# License: BSD (3-clause)

from __future__ import annotations

import codecs
import copyreg
import importlib
import io
import math
import os
import pickle
import struct
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["DotDict", "UnsafePickleError", "load_pickle", "load_records"]

#: Bytes the allowed constructors may build on top of twice the file's size.
SIZE_SLACK = 2**20


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
        The refused global, e.g. ``"os.system"``, or the refused request.
    reason : str | None
        Why ``what`` is refused, when it is not an unknown global.
    """

    def __init__(self, fname, what, *, reason=None):
        self.fname = str(fname)
        self.what = what
        reason = reason or (
            "which is not one of the globals a corpus file needs (the corpus' own "
            "dict class, NumPy array reconstruction and builtin containers)"
        )
        super().__init__(
            f"Refusing to unpickle {self.fname}: it references {what}, {reason}. The "
            "file is not a genuine corpus file, or it has been modified. Do not open "
            "it with pickle.load; download the corpus again from its official source."
        )


class _Refused(Exception):
    """Raised by the allowed helpers on a use pickle itself never writes."""

    def __init__(self, what, reason=None):
        self.what, self.reason = what, reason
        super().__init__(what)


class _TooLarge(_Refused):
    """An allowed constructor was asked for more than the file can describe."""

    def __init__(self, what, size, limit):
        super().__init__(
            f"{what} of {size:,} bytes or items",
            f"which would take what the file builds past {limit:,} bytes (twice its "
            f"size plus {SIZE_SLACK:,}): more than a genuine file of this size holds",
        )


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


_NP_RECONSTRUCT = _numpy_function("multiarray", "_reconstruct")
_NP_SCALAR = _numpy_function("multiarray", "scalar")
_NP_FROMBUFFER = _numpy_function("numeric", "_frombuffer")
#: Builtin classes a corpus pickle may construct, under their pickled names.
_CLASSES = {
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("collections", "OrderedDict"): OrderedDict,
    # Du-IN's record class, under the module name its pickles carry.
    ("utils.DotDict", "DotDict"): DotDict,
}
# Python 2 names that protocol 0-2 pickles may carry (pickle's fix_imports).
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
# The codecs the unpickler decodes strings with, imported now so that loading a
# file never imports anything.
for _codec in ("raw-unicode-escape", "latin1", "ascii", "utf-8"):
    codecs.lookup(_codec)


class _Budget:
    """What the allowed constructors may still build, in bytes (or items).

    Also tracks the arrays made by ``_reconstruct`` whose state is still to be
    set: genuine pickles set it once, right after.
    """

    def __init__(self, limit):
        self.limit = self.left = int(limit)
        self.unset_arrays = {}

    def charge(self, size, what):
        if size > self.left:
            raise _TooLarge(what, size, self.limit)
        self.left -= size


def _array_size(shape, dtype):
    """Bytes of a numeric array (items of an object array), checked before allocation."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise ValueError(f"invalid array shape {shape!r}")
    dtype = np.dtype(dtype)
    n_items = math.prod(shape)
    return n_items if dtype.hasobject else n_items * dtype.itemsize


def _length(args, kwargs):
    first = args[0] if args else None
    if isinstance(first, int) and not isinstance(first, bool):
        return first  # bytearray(n)
    return (len(first) if hasattr(first, "__len__") else 0) + len(kwargs)


def _check_dtype_state(dtype, state):
    """Accept only the state NumPy itself pickles for ``dtype``, in some byte order.

    A dtype's state also carries its flags and sizes; a crafted one can make
    NumPy treat numbers as object pointers.
    """
    order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
    if order not in ("<", ">", "|", "="):
        raise _Refused(f"a dtype state {state!r:.80}")
    if state != dtype.newbyteorder(order).__reduce__()[2]:
        raise _Refused(
            f"a dtype state {state!r:.80}", f"which NumPy never writes for {dtype}"
        )


class _NdarrayArgument:
    """Stands for ``numpy.ndarray``: genuine pickles only pass it to ``_reconstruct``."""

    def __new__(cls, *args, **kwargs):
        raise _Refused(
            "numpy.ndarray called directly", "which NumPy's own pickles never do"
        )


def _guarded_globals(budget):
    """The allow-list for one load, each constructor charging ``budget``."""

    def guard(real):
        # A class (not a function) so that both REDUCE (cls(*args)) and NEWOBJ
        # (cls.__new__(cls, *args)) go through the check.
        def __new__(cls, *args, **kwargs):
            budget.charge(_length(args, kwargs), f"a {real.__name__}")
            return real(*args, **kwargs)

        return type(real.__name__, (), {"__new__": __new__})

    guards = {key: guard(real) for key, real in _CLASSES.items()}
    real_of = {g: _CLASSES[key] for key, g in guards.items()}

    def reconstructor(cls, base, state):
        # Protocol 0/1 pickles of dict subclasses go through
        # copyreg._reconstructor, which calls base.__new__/__init__. Allow only
        # the dict case.
        cls, base = real_of.get(cls, cls), real_of.get(base, base)
        if not (isinstance(cls, type) and issubclass(cls, dict) and base is dict):
            raise _Refused(
                f"copyreg._reconstructor applied to cls={cls!r}, base={base!r}"
            )
        budget.charge(len(state), f"a {cls.__name__}")
        return cls(state)

    def codecs_encode(obj, encoding="utf-8", errors="strict"):
        # Only the form pickle itself writes: a str encoded as latin1.
        if not isinstance(obj, str) or encoding != "latin1":
            raise _Refused(f"_codecs.encode with encoding={encoding!r}")
        budget.charge(len(obj), "a bytes object")
        return obj.encode("latin1", errors)

    def reconstruct(cls, shape, dtype):
        if cls is not _NdarrayArgument:
            raise _Refused(f"numpy _reconstruct of {cls!r}")
        budget.charge(_array_size(shape, dtype), "an array")
        array = _NP_RECONSTRUCT(np.ndarray, shape, dtype)
        budget.unset_arrays[id(array)] = array
        return array

    def scalar(dtype, *args):
        if not isinstance(dtype, np.dtype):
            raise _Refused(f"numpy scalar of {dtype!r}")
        budget.charge(dtype.itemsize, "a scalar")
        return _NP_SCALAR(dtype, *args)

    def frombuffer(buf, dtype, shape, order):  # protocol-5 arrays
        budget.charge(_array_size(shape, dtype), "an array")
        return _NP_FROMBUFFER(buf, dtype, shape, order)

    allowed = {
        **guards,
        ("numpy", "ndarray"): _NdarrayArgument,
        ("numpy", "dtype"): np.dtype,
        ("copyreg", "_reconstructor"): reconstructor,
        # Protocol < 3 pickles store bytes as _codecs.encode(str, "latin1").
        ("_codecs", "encode"): codecs_encode,
    }
    for prefix in ("numpy.core", "numpy._core"):
        allowed[(f"{prefix}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{prefix}.multiarray", "scalar")] = scalar
        allowed[(f"{prefix}.numeric", "_frombuffer")] = frombuffer
    return allowed


#: The (module, name) pairs a corpus pickle may name.
ALLOWED_GLOBALS = frozenset(_guarded_globals(_Budget(0)))


class _BoundedFile:
    """Reads from ``fid`` that never ask for more than the file has left.

    A length prefix of 10**12 bytes then yields the few bytes that exist (and a
    "truncated" error) instead of a 10**12-byte allocation.
    """

    def __init__(self, fid):
        self._fid = fid
        start = fid.tell()
        try:
            end = os.fstat(fid.fileno()).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            end = fid.seek(0, io.SEEK_END)
            fid.seek(start)
        self.remaining = max(end - start, 0)

    def read(self, n=-1):
        n = self.remaining if n is None or n < 0 else min(n, self.remaining)
        data = self._fid.read(n)
        self.remaining -= len(data)
        return data

    def readline(self):
        line = self._fid.readline(self.remaining)
        self.remaining -= len(line)
        return line

    def readinto(self, buf):
        n = self._fid.readinto(memoryview(buf).cast("B")[: self.remaining]) or 0
        self.remaining -= n
        return n


class _RestrictedUnpickler(pickle._Unpickler):
    """Unpickler that resolves only the allow-listed globals, within a size budget.

    The pure-Python unpickler, because the C one allocates a length prefix's
    bytes before reading them.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, fname):
        bounded = _BoundedFile(file)
        super().__init__(bounded)
        self._fname = fname
        self._file = bounded
        self._budget = _Budget(2 * bounded.remaining + SIZE_SLACK)
        self._globals = _guarded_globals(self._budget)

    def find_class(self, module, name):
        key = (_MODULE_ALIASES.get(module, module), name)
        try:
            return self._globals[key]
        except KeyError:
            raise UnsafePickleError(
                self._fname, f"the global '{key[0]}.{key[1]}'"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(self._fname, f"the persistent id {pid!r}")

    def get_extension(self, code):
        # Always through find_class: the stdlib's version first returns whatever
        # another unpickler of this process cached for the code.
        key = copyreg._inverted_registry.get(code)
        if key is None:
            raise pickle.UnpicklingError(f"unregistered extension code {code}")
        self.append(self.find_class(*key))

    def load_build(self):
        inst, state = self.stack[-2], self.stack[-1]
        if isinstance(inst, (type, types.FunctionType)):
            raise _Refused(f"setting the state of {inst!r}")
        if isinstance(inst, np.dtype):
            _check_dtype_state(inst, state)
        elif isinstance(inst, np.ndarray):
            # Only once, on an array fresh from _reconstruct (not on a view).
            if self._budget.unset_arrays.pop(id(inst), None) is not inst:
                raise _Refused("setting the state of an array twice")
            if not (isinstance(state, tuple) and len(state) in (4, 5)):
                raise ValueError(f"invalid array state {state!r:.80}")
            self._budget.charge(_array_size(state[-4], state[-3]), "an array")
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self):
        # The stdlib allocates the announced size first; read what exists instead.
        (size,) = struct.unpack("<Q", self.read(8))
        data = self.read(size)
        if len(data) != size:
            raise pickle.UnpicklingError(
                f"BYTEARRAY8 announces {size} bytes, but only {len(data)} follow"
            )
        self._budget.charge(size, "a bytearray")
        self.append(bytearray(data))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def load(self):
        try:
            return super().load()
        except (pickle.UnpicklingError, EOFError):
            raise
        except _Refused as err:
            raise UnsafePickleError(self._fname, err.what, reason=err.reason) from None
        except Exception as err:  # a malformed stream: any error the opcodes raise
            raise pickle.UnpicklingError(f"{type(err).__name__}: {err}") from err


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
        If the file references a global outside the allow-list, or asks for
        arrays, buffers or containers larger than it can describe (see
        :data:`SIZE_SLACK`); nothing named in the file has been imported or
        called, and nothing oversized allocated.
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
        except (pickle.UnpicklingError, EOFError) as err:
            size = os.path.getsize(fname)
            raise ValueError(
                f"Could not read the {what} {fname} ({size} bytes): the file is "
                f"truncated or is not a valid pickle ({type(err).__name__}: {err}). "
                "Download it again."
            ) from err


def describe(obj) -> str:
    """A short description of a loaded object, for error messages."""
    if isinstance(obj, np.ndarray):
        return f"array of shape {obj.shape} and dtype {obj.dtype}"
    if isinstance(obj, dict):
        return f"{type(obj).__name__} with keys {sorted(map(str, obj))}"
    return f"{type(obj).__name__}"


def load_records(fname, *, what, keys, item="record", non_empty=False) -> list:
    """Load a pickle holding a list of dicts that have ``keys``; errors name the file.

    Parameters
    ----------
    fname : path-like
        The pickle (read with :func:`load_pickle`).
    what : str
        What the file is, for the error messages.
    keys : sequence of str
        Keys every record must have.
    item : str
        What a record is (``"trial"``, ...), for the error messages.
    non_empty : bool
        Reject an empty list.

    Returns
    -------
    records : list of dict
        The records.
    """
    records = load_pickle(fname, what=what)
    if not isinstance(records, list) or (non_empty and not records):
        kind = "non-empty list" if non_empty else "list"
        raise ValueError(
            f"The {what} {fname} should hold a {kind} of {item}s, got "
            f"{describe(records)}."
        )
    for ii, record in enumerate(records):
        if not isinstance(record, dict) or not set(keys) <= set(record):
            raise ValueError(
                f"{item.capitalize()} {ii} of the {what} {fname} should be a dict "
                f"with the keys {' and '.join(map(repr, keys))}, got "
                f"{describe(record)}."
            )
    return records
