"""Where a corpus lives on disk: its MNE config key and its folder."""

# License: BSD (3-clause)

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import mne

__all__ = ["config_key", "resolve_path"]


def config_key(code: str) -> str:
    """Return the MNE config key holding a corpus' folder.

    Parameters
    ----------
    code : str
        The corpus code, e.g. ``"SEED-DV"``.

    Returns
    -------
    key : str
        ``MNE_DATASETS_<CODE>_PATH`` with ``CODE`` upper-cased and stripped of
        anything but letters and digits, e.g. ``MNE_DATASETS_SEEDDV_PATH``.
    """
    return f"MNE_DATASETS_{re.sub(r'[^A-Z0-9]', '', code.upper())}_PATH"


def resolve_path(
    path,
    *,
    code: str,
    publisher: str,
    layout: str,
    is_root=None,
    folder_names: Sequence[str] = (),
) -> Path:
    """Find a corpus folder: ``path=``, else the MNE config key, else a clear error.

    Parameters
    ----------
    path : path-like | None
        The folder given by the user.
    code : str
        The corpus code; the config key is :func:`config_key` of it.
    publisher : str
        Where the corpus is downloaded from (used in the error message).
    layout : str
        The expected folder layout (used in the error messages).
    is_root : callable | None
        ``is_root(folder) -> bool`` tells whether a folder holds the corpus. ``None``
        accepts any existing folder.
    folder_names : sequence of str
        Sub-folders of the given folder that are tried too (so both the download
        folder and its parent work).

    Returns
    -------
    root : pathlib.Path
        The folder that holds the corpus.

    Raises
    ------
    FileNotFoundError
        If no folder is given or configured, or it does not exist or does not have
        the expected layout.
    """
    key = config_key(code)
    origin = "path="
    if path is None:
        path = mne.get_config(key)
        origin = f"the MNE config key {key}"
    if path is None:
        raise FileNotFoundError(
            f"The {code} corpus was not found: no path= was given and the MNE config "
            f"key {key} is not set. Download it from {publisher}, then pass "
            f"path=<folder> or run mne.set_config({key!r}, '<folder>'). "
            f"Expected layout:\n{layout}"
        )
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"The {code} folder {folder} (from {origin}) does not exist. Point "
            f"path= or {key} to the folder downloaded from {publisher}. "
            f"Expected layout:\n{layout}"
        )
    candidates = [folder] + [folder / name for name in folder_names]
    for cand in candidates:
        if is_root is None or (cand.is_dir() and is_root(cand)):
            return cand
    raise FileNotFoundError(
        f"The folder {folder} (from {origin}) does not have the layout of the {code} "
        f"corpus (tried {', '.join(str(c) for c in candidates)}). Expected layout:\n"
        f"{layout}\nDownload it from {publisher}."
    )
