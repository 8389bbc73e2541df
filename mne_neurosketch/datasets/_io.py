"""Small readers shared by the array-based corpus modules (clear errors naming files)."""

# License: BSD (3-clause)

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from ._pickle import UnsafePickleError, _RestrictedUnpickler

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


def load_npy_dict(fname: Path, keys) -> dict:
    """Load a ``.npy`` file holding a pickled dict of arrays, safely.

    The file is ``np.save(fname, {...})`` (a 0-d object array). It is read with a
    restricted unpickler (:mod:`._pickle`) that only rebuilds numpy arrays and
    builtin containers, so a hostile file cannot
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
            obj = _RestrictedUnpickler(fid, fname).load()
    except UnsafePickleError:
        raise
    except pickle.UnpicklingError as exc:
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
