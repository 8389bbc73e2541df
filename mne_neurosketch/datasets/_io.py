"""Small readers shared by the array-based corpus modules (clear errors naming files)."""

# License: BSD (3-clause)

from __future__ import annotations

import importlib
import pickle
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["load_npy", "load_npy_dict", "require_file"]


def require_file(fname: Path, what: str, layout: str) -> Path:
    """Return ``fname`` if it is a file, else raise a ``FileNotFoundError`` naming it."""
    if not Path(fname).is_file():
        raise FileNotFoundError(f"Missing {what}: {fname}. Expected layout:\n{layout}")
    return Path(fname)


def load_npy(fname: Path, *, mmap: bool = False) -> np.ndarray:
    """Load a numeric ``.npy`` file (never a pickle); errors name the file.

    Parameters
    ----------
    fname : path-like
        The file.
    mmap : bool
        Memory-map it read-only (nothing is read until sliced).

    Returns
    -------
    array : ndarray
        The array.
    """
    try:
        arr = np.load(fname, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:
        if any(
            m in str(exc) for m in ("allow_pickle", "Object arrays", "Python objects")
        ):
            raise ValueError(
                f"{fname} holds pickled Python objects, not a numeric array; this is "
                "not a file of this corpus."
            ) from exc
        raise ValueError(
            f"Cannot read {fname}: {exc}. The file is truncated or corrupt; download "
            "it again."
        ) from exc
    except (OSError, EOFError) as exc:
        raise ValueError(
            f"Cannot read {fname}: {exc}. The file is truncated or corrupt; download "
            "it again."
        ) from exc
    if isinstance(arr, np.lib.npyio.NpzFile):  # pragma: no cover - wrong extension
        raise ValueError(f"{fname} is an .npz archive, expected a single .npy array.")
    return arr


def _numpy_global(module_suffix: str, name: str):
    # numpy 2 renamed numpy.core to numpy._core (importing the old name warns).
    for prefix in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{prefix}.{module_suffix}"), name)
        except (ImportError, AttributeError):
            continue
    return None  # pragma: no cover


# Globals that ``np.save(fname, dict_of_arrays)`` pickles (numpy 1 and 2 names).
_NUMPY_GLOBALS = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
for _suffix, _name in (
    ("multiarray", "_reconstruct"),
    ("multiarray", "scalar"),
    ("numeric", "_frombuffer"),
):
    for _prefix in ("numpy.core", "numpy._core"):
        _NUMPY_GLOBALS[(f"{_prefix}.{_suffix}", _name)] = _numpy_global(_suffix, _name)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that allows only numpy array reconstruction (downloaded files)."""

    def __init__(self, fid, fname):
        super().__init__(fid)
        self._fname = fname

    def find_class(self, module, name):
        func = _NUMPY_GLOBALS.get((module, name))
        if func is None:
            raise pickle.UnpicklingError(
                f"{self._fname} refers to the Python global {module}.{name}, which a "
                "file of this corpus never does; refusing to load it (it may run code)."
            )
        return func

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(
            f"{self._fname} uses a persistent id; refusing to load it (it may run code)."
        )


def load_npy_dict(fname: Path, keys) -> dict:
    """Load a ``.npy`` file holding a pickled dict of arrays, safely.

    The file is ``np.save(fname, {...})`` (a 0-d object array). It is read with a
    restricted unpickler that only rebuilds numpy arrays, so a hostile file cannot
    run code, unlike ``np.load(..., allow_pickle=True)``.

    Parameters
    ----------
    fname : path-like
        The file.
    keys : iterable of str
        Keys the dict must have.

    Returns
    -------
    content : dict
        The dict.
    """
    fname = Path(fname)
    try:
        with open(fname, "rb") as fid:
            try:
                version = np.lib.format.read_magic(fid)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fid)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fid)
            except ValueError as exc:
                raise ValueError(f"{fname} is not a valid .npy file ({exc}).") from exc
            if not dtype.hasobject:
                raise ValueError(
                    f"{fname} holds a {dtype} array of shape {shape}, expected a dict "
                    "saved with np.save."
                )
            obj = _NumpyOnlyUnpickler(fid, fname).load()
    except pickle.UnpicklingError as exc:
        if "refusing" in str(exc):
            raise
        raise ValueError(
            f"Cannot read {fname}: {exc}. The file is truncated or corrupt; download "
            "it again."
        ) from exc
    except (EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"Cannot read {fname}: {exc!r}. The file is truncated or corrupt; download "
            "it again."
        ) from exc
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if not isinstance(obj, dict):
        raise ValueError(f"{fname} does not hold a dict (got {type(obj).__name__}).")
    missing = [k for k in keys if k not in obj]
    if missing:
        raise KeyError(
            f"{fname} lacks the key(s) {missing}; found {sorted(map(str, obj))}. Is it "
            "a file of this corpus?"
        )
    return obj
