"""On-disk cache of preprocessed corpus windows.

One cache entry holds every recording of one subject for one corpus and one set of
preprocessing parameters::

    <cache_dir>/<code>/sub-<subject>/<key>/manifest.json
                                         /rec000_data.npy   (n_chans, n_windows * n_times)
                                         /rec000_y.npy      (n_windows,)
                                         ...

``key`` hashes the corpus code, subject, preprocessing parameters, package version and
cache format, so a change of any of them selects another entry. The manifest records the
size, mtime of every source file (a changed source makes the entry stale) and the size
and CRC-32 of every array file (a truncated or corrupt file is detected).

Writers build an entry in a private temporary folder and publish it with one atomic
``os.rename``; readers therefore never see a half-written entry, and a reader that
still maps the files of an entry that another process replaces keeps valid data
(POSIX rename/unlink semantics). Two writers racing on one key both succeed: the
first rename wins, the second writer discards its copy.
"""

# License: BSD (3-clause)

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from mne import get_config

from .._version import __version__
from ..utils import logger, warn

#: Bump when the layout of an entry changes: old entries are then ignored.
CACHE_FORMAT = 1


class CacheError(RuntimeError):
    """A cache entry is unreadable, corrupt or stale."""


def default_cache_dir() -> Path:
    """Return the default cache folder.

    ``MNE_NEUROSKETCH_CACHE_DIR`` (environment or MNE config) if set, else
    ``<MNE_DATA or ~/mne_data>/neurosketch_cache``.

    Returns
    -------
    path : pathlib.Path
        The folder (not created).
    """
    cache_dir = get_config("MNE_NEUROSKETCH_CACHE_DIR")
    if cache_dir:
        return Path(cache_dir).expanduser()
    mne_data = get_config("MNE_DATA") or "~/mne_data"
    return Path(mne_data).expanduser() / "neurosketch_cache"


def _jsonable(value):
    """Turn numpy scalars and paths into JSON types (for keys and manifests)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def cache_key(code: str, subject, params: dict) -> str:
    """Hash what determines the content of an entry."""
    blob = json.dumps(
        _jsonable(
            dict(
                format=CACHE_FORMAT,
                code=code,
                subject=subject,
                params=params,
                version=__version__,
            )
        ),
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _fingerprint(files) -> list:
    out = []
    for fname in files:
        st = os.stat(fname)
        out.append([str(Path(fname).resolve()), st.st_size, st.st_mtime_ns])
    return out


def _crc(array: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(array)).cast("B"))


def entry_path(cache_dir, code: str, subject, params: dict) -> Path:
    """Folder of the cache entry for one corpus subject and parameter set."""
    return Path(cache_dir) / code / f"sub-{subject}" / cache_key(code, subject, params)


def load_entry(entry: Path, sources, *, recording_class):
    """Load a cache entry, raising :class:`CacheError` if it is unusable.

    Arrays are memory-mapped copy-on-write (``mmap_mode="c"``): loading costs about
    one read of the files (for the checksum), and in-place edits by the user (e.g.
    braindecode ``preprocess``) never reach the cache.
    """
    manifest_file = entry / "manifest.json"
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError) as exc:
        raise CacheError(f"unreadable manifest {manifest_file} ({exc})") from exc
    if manifest.get("format") != CACHE_FORMAT or manifest.get("version") != __version__:
        raise CacheError(f"cache entry {entry} was written by another version")
    try:
        current = _fingerprint(sources)
    except OSError as exc:
        raise CacheError(f"a source file is missing ({exc})") from exc
    if current != manifest["sources"]:
        raise CacheError(f"the source files changed since {entry} was written")
    recordings = []
    for rec in manifest["recordings"]:
        arrays = {}
        for name in ("data", "y"):
            info = rec["files"][name]
            fname = entry / info["name"]
            try:
                if os.path.getsize(fname) != info["nbytes"]:
                    raise CacheError(f"{fname} has the wrong size (truncated?)")
                arr = np.load(fname, mmap_mode="c", allow_pickle=False)
            except CacheError:
                raise
            except (OSError, ValueError) as exc:
                raise CacheError(f"cannot read {fname} ({exc})") from exc
            if list(arr.shape) != info["shape"] or arr.dtype.str != info["dtype"]:
                raise CacheError(f"{fname} has an unexpected shape or dtype")
            if _crc(arr) != info["crc32"]:
                raise CacheError(f"{fname} is corrupt (checksum mismatch)")
            arrays[name] = arr
        metadata = None
        if rec["metadata"] is not None:
            metadata = pd.DataFrame(rec["metadata"]["columns"]).astype(
                rec["metadata"]["dtypes"]
            )
        recordings.append(
            recording_class(
                data=arrays["data"],
                y=arrays["y"],
                n_times=rec["n_times"],
                ch_names=rec["ch_names"],
                ch_types=rec["ch_types"],
                sfreq=rec["sfreq"],
                description=rec["description"],
                metadata=metadata,
                source=rec["source"],
            )
        )
    return recordings


def save_entry(entry: Path, recordings, sources, params: dict) -> None:
    """Write an entry atomically (temporary folder, then one rename)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.parent / f".{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        manifest = dict(
            format=CACHE_FORMAT,
            version=__version__,
            params=_jsonable(params),
            sources=_fingerprint(sources),
            recordings=[],
        )
        for i, rec in enumerate(recordings):
            files = {}
            for name, arr in (("data", rec.data), ("y", rec.y)):
                arr = np.ascontiguousarray(arr)
                fname = f"rec{i:03d}_{name}.npy"
                with open(tmp / fname, "wb") as fid:
                    np.save(fid, arr, allow_pickle=False)
                    fid.flush()
                    os.fsync(fid.fileno())
                files[name] = dict(
                    name=fname,
                    shape=list(arr.shape),
                    dtype=arr.dtype.str,
                    nbytes=os.path.getsize(tmp / fname),
                    crc32=_crc(arr),
                )
            metadata = None
            if rec.metadata is not None:
                metadata = dict(
                    columns={
                        c: _jsonable(rec.metadata[c].tolist()) for c in rec.metadata
                    },
                    dtypes={c: str(rec.metadata[c].dtype) for c in rec.metadata},
                )
            manifest["recordings"].append(
                dict(
                    files=files,
                    n_times=int(rec.n_times),
                    ch_names=list(rec.ch_names),
                    ch_types=list(rec.ch_types),
                    sfreq=float(rec.sfreq),
                    description=_jsonable(dict(rec.description)),
                    metadata=metadata,
                    source=rec.source,
                )
            )
        # The manifest is written last: an entry without one is never published.
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        try:
            os.rename(tmp, entry)
        except OSError:
            # Another process published the same key first; keep theirs.
            logger.debug(f"Cache entry {entry} already published by another process")
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def discard_entry(entry: Path) -> None:
    """Move an entry out of the way (atomically), then delete it."""
    trash = entry.parent / f".{entry.name}.trash-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(entry, trash)
    except FileNotFoundError:
        return  # another process already discarded it
    shutil.rmtree(trash, ignore_errors=True)


def cached_read(reader, subject, cache_dir, read):
    """Return a subject's recordings from the cache, building the entry if needed.

    Parameters
    ----------
    reader : CorpusReader
        Gives ``code``, ``cache_params()`` and ``source_files(subject)``.
    subject : int
        The subject.
    cache_dir : path-like
        Root of the cache.
    read : callable
        ``read()`` returns the recordings when the cache cannot serve them.

    Returns
    -------
    recordings : list of Recording
        The recordings.
    """
    from .base import Recording

    params = reader.cache_params()
    entry = entry_path(cache_dir, reader.code, subject, params)
    sources = reader.source_files(subject)
    if (entry / "manifest.json").exists():
        try:
            recordings = load_entry(entry, sources, recording_class=Recording)
            logger.info(f"Loaded {reader.code} subject {subject} from cache {entry}")
            return recordings
        except CacheError as exc:
            if "source files changed" in str(exc) or "another version" in str(exc):
                logger.info(f"Stale cache entry, rebuilding: {exc}")
            else:
                warn(f"Corrupt cache entry, rebuilding it: {exc}")
            discard_entry(entry)
    recordings = read()
    try:
        save_entry(entry, recordings, sources, params)
    except OSError as exc:
        warn(
            f"Could not write the cache entry {entry} ({exc}); continuing without "
            "cache. Pass cache_dir= to a writable folder or cache=False."
        )
    return recordings
