"""Downloading the corpora that can be downloaded: the one place that does it.

A corpus module declares *what* to fetch (a :class:`Source`: its files' URLs,
checksums and sizes) at its end and gets its ``data_path`` from
:func:`make_data_path`; everything else lives here: where the files go (the
corpus' MNE config key, else ``MNE_DATA``), asking before a large download,
fetching through :func:`pooch.retrieve` with checksums, unpacking archives,
and recording the checksum of files published without one.

A file declared without a checksum (``known_hash=None``, when no checksum is
published and none could be verified) is downloaded unchecked, once; pooch's
SHA256 of it is then recorded in ``neurosketch-downloads.json`` in the
corpus folder, and every later call checks the local copy against that record
(a truncated or altered file is fetched again).
"""

# License: BSD (3-clause)

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mne

from ..utils import logger, verbose
from ._paths import config_key

#: Downloads larger than this (in bytes), or of unknown size, need consent.
ASK_ABOVE = 200 * 1024**2
_RECORD = "neurosketch-downloads.json"


@dataclass(frozen=True)
class Remote:
    """One file of a corpus on its host.

    Attributes
    ----------
    url : str
        Where the file is.
    fname : str
        Its path under the corpus folder.
    known_hash : str | None
        ``"md5:..."`` or ``"sha256:..."``; ``None`` when no checksum is known
        (recorded at the first download, see the module's description).
    size : int | None
        Size in bytes, for the consent question.
    unpack : bool
        A zip archive, extracted into the corpus folder.
    optional : bool
        Skip the file when the host does not have it (HTTP 404): runs missing
        from a release.
    """

    url: str
    fname: str
    known_hash: str | None = None
    size: int | None = None
    unpack: bool = False
    optional: bool = False


@dataclass(frozen=True)
class Source:
    """Where a corpus can be downloaded from.

    Attributes
    ----------
    code : str
        The corpus code (its MNE config key ``MNE_DATASETS_<CODE>_PATH``).
    folder : str
        Folder created under the download location (one of the reader's
        ``folder_names``, so the reader finds it).
    files : callable
        ``files(subjects) -> list of Remote``: the files of those subjects
        (``None``: every subject).
    page : str
        The corpus' landing page, for messages.
    licence : str
        Its licence, for the consent question.
    """

    code: str
    folder: str
    files: Callable[[Sequence | None], list]
    page: str
    licence: str = ""
    notes: str = field(default="")


def _folder(source: Source, path) -> Path:
    """The corpus folder: under ``path``, else the config key's, else under MNE_DATA."""
    if path is not None:
        return Path(path).expanduser() / source.folder
    configured = mne.get_config(config_key(source.code))
    if configured:
        return Path(configured).expanduser()
    return Path(mne.get_config("MNE_DATA", "~/mne_data")).expanduser() / source.folder


def _read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / _RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _present(folder: Path, remote: Remote, record: dict) -> bool:
    """Whether the file (or, for an archive, its extraction) is there and intact."""
    if remote.unpack:
        return remote.fname in record and (folder / (remote.fname + ".unpacked")).exists()
    target = folder / remote.fname
    if not target.is_file():
        return False
    expected = remote.known_hash or record.get(remote.fname)
    if expected is None:
        return True
    import pooch

    alg, _, digest = expected.rpartition(":")
    return pooch.file_hash(str(target), alg=alg or "sha256") == digest.lower()


def _consent(source: Source, remotes, folder: Path, accept: bool) -> None:
    sizes = [r.size for r in remotes]
    total = sum(s for s in sizes if s is not None)
    unknown = any(s is None for s in sizes)
    if accept or (not unknown and total <= ASK_ABOVE):
        return
    what = (
        f"{total / 1024**3:.1f} GB" if total >= 1024**3 else f"{total / 1024**2:.0f} MB"
    ) + (" and files of unknown size" if unknown else "")
    question = (
        f"Download {len(remotes)} file(s) of {source.code} ({what}) from {source.page} "
        f"to {folder}" + (f" ({source.licence})" if source.licence else "") + "?"
    )
    if sys.stdin is not None and sys.stdin.isatty():
        if input(question + " [y/N] ").strip().lower() in ("y", "yes"):
            return
    raise RuntimeError(
        f"{question} Pass accept=True to download without being asked."
    )


def _fetch_one(remote: Remote, folder: Path, record: dict, force: bool) -> bool:
    """Download one file; return False if an optional file is not on the host."""
    import pooch

    target = folder / remote.fname
    target.parent.mkdir(parents=True, exist_ok=True)
    if force and target.exists():
        target.unlink()
    expected = remote.known_hash or (None if force else record.get(remote.fname))
    if expected is not None and target.is_file() and not _present(folder, remote, record):
        target.unlink()  # damaged local copy: fetch it again
    try:
        pooch.retrieve(
            remote.url,
            known_hash=expected,
            fname=target.name,
            path=target.parent,
            progressbar=_has_tqdm(),
        )
    except ValueError as err:
        if "hash" not in str(err).lower():
            raise
        raise ValueError(
            f"The file downloaded from {remote.url} does not match its checksum "
            f"{expected}, so it was not kept ({target}). Retry later; if it fails "
            "again the host's file has changed: please report it."
        ) from None
    except Exception as err:  # requests' HTTPError, without importing requests
        status = getattr(getattr(err, "response", None), "status_code", None)
        if remote.optional and status == 404:
            logger.info(f"{remote.url} is not on the host (404); skipped.")
            return False
        raise
    if remote.known_hash is None:
        record[remote.fname] = "sha256:" + pooch.file_hash(str(target))
    if remote.unpack:
        with zipfile.ZipFile(target) as archive:
            archive.extractall(folder)
        (folder / (remote.fname + ".unpacked")).touch()
        record.setdefault(remote.fname, remote.known_hash or record.get(remote.fname))
    return True


def _has_tqdm() -> bool:
    try:
        import tqdm  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency
        return False
    return True


@verbose
def fetch(
    source: Source,
    subjects=None,
    path=None,
    *,
    download: bool = True,
    force_update: bool = False,
    accept: bool = False,
    update_path: bool = True,
    verbose=None,
) -> Path:
    """Make sure a corpus' files are on disk; return the corpus folder.

    Parameters
    ----------
    source : Source
        What to download.
    subjects : list | None
        Subjects whose files are needed (``None``: all).
    path : path-like | None
        Where to put the corpus folder (``source.folder``); ``None`` uses the
        corpus' config key (the folder itself), else ``MNE_DATA``
        (``~/mne_data``).
    download : bool
        Download missing files; ``False`` raises if any is missing.
    force_update : bool
        Download again even the files already there.
    accept : bool
        Do not ask before a download larger than :data:`ASK_ABOVE` or of
        unknown size (and agree to the corpus' licence).
    update_path : bool
        Set the corpus' MNE config key to the corpus folder, so that the
        readers find it without ``path=``.
    %(verbose)s

    Returns
    -------
    folder : pathlib.Path
        The corpus folder.
    """
    folder = _folder(source, path)
    record = _read_record(folder)
    remotes = list(source.files(subjects))
    todo = [r for r in remotes if force_update or not _present(folder, r, record)]
    if todo and not download:
        raise FileNotFoundError(
            f"{len(todo)} file(s) of {source.code} are missing from {folder} (e.g. "
            f"{todo[0].fname}); pass download=True to fetch them from {source.page}."
        )
    if todo:
        _consent(source, todo, folder, accept)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for remote in todo:
                logger.info(f"Downloading {remote.url} to {folder / remote.fname}")
                _fetch_one(remote, folder, record, force_update)
        finally:  # what was fetched stays recorded, even if a later file fails
            if record:
                text = json.dumps(record, indent=1, sort_keys=True)
                (folder / _RECORD).write_text(text)
    if update_path:
        key = config_key(source.code)
        if mne.get_config(key) != str(folder):
            mne.set_config(key, str(folder), set_env=False)
    return folder


def make_data_path(source: Source):
    """A corpus' ``data_path`` function (MNE's ``data_path`` signature) for ``source``.

    Parameters
    ----------
    source : Source
        What the corpus downloads.

    Returns
    -------
    data_path : callable
        ``data_path(subjects=None, path=None, *, download=True,
        force_update=False, accept=False, update_path=True, verbose=None)``.
    """

    def data_path(subjects=None, path=None, *, download=True, force_update=False,
                  accept=False, update_path=True, verbose=None):
        return fetch(
            source,
            subjects,
            path,
            download=download,
            force_update=force_update,
            accept=accept,
            update_path=update_path,
            verbose=verbose,
        )

    data_path.__doc__ = f"""Download {source.code} (if needed) and return its folder.

    From {source.page}{f" ({source.licence})" if source.licence else ""}, through
    :mod:`pooch`, with checksums (see ``mne_neurosketch.datasets._download``).
    {source.notes}

    Parameters
    ----------
    subjects : list | None
        Subjects whose files are needed (``None``: every subject).
    path : path-like | None
        Where the ``{source.folder}`` folder goes; ``None`` uses the corpus'
        config key (its folder), else ``MNE_DATA``.
    download : bool
        Download missing files (``False``: raise if any is missing).
    force_update : bool
        Download again the files already there.
    accept : bool
        Do not ask before a large download.
    update_path : bool
        Remember the location in the corpus' MNE config key.
    verbose : bool | str | int | None
        Control verbosity of the logging output. See :func:`mne.verbose`.

    Returns
    -------
    folder : pathlib.Path
        The corpus folder: pass it as the reader's ``path=`` (or nothing, once
        ``update_path`` saved it).
    """
    data_path.__qualname__ = data_path.__name__ = "data_path"
    return data_path


def manual_data_path(code: str, how: str):
    """``data_path`` of a corpus that cannot be downloaded here: it says how to get it.

    Parameters
    ----------
    code : str
        The corpus code.
    how : str
        How to obtain the files (one paragraph).

    Returns
    -------
    data_path : callable
        ``data_path(path=None)``: the corpus folder if its config key or
        ``path`` names one, else a :class:`FileNotFoundError` saying ``how``.
    """

    def data_path(path=None):
        key = config_key(code)
        folder = path if path is not None else mne.get_config(key)
        if folder is not None and Path(folder).expanduser().is_dir():
            return Path(folder).expanduser()
        raise FileNotFoundError(
            f"{code} cannot be downloaded by this package. {how} Then pass the folder "
            f"as path= or set it once with mne.set_config({key!r}, FOLDER)."
        )

    data_path.__doc__ = f"""Return the {code} folder, or say how to obtain the corpus.

    {how}

    Parameters
    ----------
    path : path-like | None
        The corpus folder; ``None`` reads the config key ``{config_key(code)}``.

    Returns
    -------
    folder : pathlib.Path
        The corpus folder.
    """
    data_path.__qualname__ = data_path.__name__ = "data_path"
    return data_path

