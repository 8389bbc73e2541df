"""On-disk cache of preprocessed corpus windows.

One cache entry holds every recording of one subject for one corpus and one set of
preprocessing parameters::

    <cache_dir>/<code>/sub-<subject>/<key>/manifest.json
                                         /rec000_data.npy   float32, windows end to end
                                         /rec000_y.npy      int64 (n_windows,)
                                         ...

``key`` hashes the corpus code, subject, preprocessing parameters, package version and
cache format, so a change of any of them selects another entry. The manifest records the
size, mtime of every source file (a changed source makes the entry stale) and the size
and CRC-32 of every array file (a truncated or corrupt file is detected).

Entries are written one recording at a time (:func:`save_entry` consumes an iterator),
so preparing a subject never holds it whole in memory. Reading one is defensive: the
manifest is checked against a schema (:func:`check_manifest`) and its own CRC-32,
every file it names must
lie in the entry's own folder, and any failure to read an entry is a cache miss that
discards and rebuilds it with one warning naming the entry. Temporary folders left by
killed writers are removed once they are older than :data:`TMP_MAX_AGE` seconds.

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
import numbers
import os
import shutil
import time
import uuid
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from mne import get_config

from .._version import __version__
from ..utils import logger, warn
from ._recording import Recording

#: Bump when the layout of an entry changes: old entries are then ignored.
#: 2: float32 data, CRC-32 of the whole file.
CACHE_FORMAT = 2
#: Seconds after which a writer's temporary folder (untouched since) is removed.
TMP_MAX_AGE = 6 * 3600.0
_CHUNK = 1 << 24  # bytes read at a time for checksums
_ATTEMPTS = 3  # loads of an entry that other processes keep replacing


class CacheError(RuntimeError):
    """A cache entry is unreadable or corrupt."""


class StaleCacheError(CacheError):
    """A cache entry is intact but out of date (sources or version changed)."""


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
    key = dict(format=CACHE_FORMAT, code=code, subject=subject, params=params,
               version=__version__)
    blob = json.dumps(_jsonable(key), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _fingerprint(files) -> list:
    out = []
    for fname in files:
        st = os.stat(fname)
        out.append([str(Path(fname).resolve()), st.st_size, st.st_mtime_ns])
    return out


def _file_crc(fname) -> int:
    """CRC-32 of a file, read in chunks (no memory map: the pages stay out of RSS)."""
    crc = 0
    with open(fname, "rb") as fid:
        while chunk := fid.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


class _CrcWriter:
    """A write-only file object that checksums what passes through it."""

    def __init__(self, fid):
        self.fid = fid
        self.crc = 0

    def write(self, data):
        self.crc = zlib.crc32(data, self.crc)
        return self.fid.write(data)


def entry_path(cache_dir, code: str, subject, params: dict) -> Path:
    """Folder of the cache entry for one corpus subject and parameter set."""
    return Path(cache_dir) / code / f"sub-{subject}" / cache_key(code, subject, params)


# ---------------------------------------------------------------------- manifest
_INT = "int"
_TOP_SCHEMA = {
    "format": _INT,
    "version": str,
    "params": dict,
    "sources": list,
    "recordings": list,
    "crc32": _INT,
}
_REC_SCHEMA = {
    "files": dict,
    "n_times": _INT,
    "ch_names": list,
    "ch_types": list,
    "sfreq": numbers.Real,
    "description": dict,
    "metadata": (dict, type(None)),
    "source": str,
}
_FILE_SCHEMA = {"name": str, "shape": list, "dtype": str, "nbytes": _INT, "crc32": _INT}
_DTYPES = {"data": np.dtype(np.float32).str, "y": np.dtype(np.int64).str}


def _is(value, kind) -> bool:
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is numbers.Real:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_fields(obj, schema, where):
    if not isinstance(obj, dict):
        raise CacheError(f"{where} is a {type(obj).__name__}, not an object")
    for key, kind in schema.items():
        if key not in obj:
            raise CacheError(f"{where} lacks the key {key!r}")
        if not _is(obj[key], kind):
            raise CacheError(
                f"{where}[{key!r}] is a {type(obj[key]).__name__}, of the wrong type"
            )


def _check_strings(values, where):
    if not all(isinstance(v, str) for v in values):
        raise CacheError(f"{where} holds something other than strings")


def check_manifest(manifest, fname) -> dict:
    """Validate a manifest's structure; raise :class:`CacheError` naming the key.

    Parameters
    ----------
    manifest : object
        The parsed JSON.
    fname : path-like
        The manifest file (named in the error).

    Returns
    -------
    manifest : dict
        The manifest, unchanged.
    """
    _check_fields(manifest, _TOP_SCHEMA, f"{fname}")
    for i, src in enumerate(manifest["sources"]):
        if not (
            isinstance(src, list)
            and len(src) == 3
            and isinstance(src[0], str)
            and all(_is(v, _INT) for v in src[1:])
        ):
            raise CacheError(f"{fname}: sources[{i}] is not [path, size, mtime_ns]")
    if not manifest["recordings"]:
        raise CacheError(f"{fname} lists no recording")
    for i, rec in enumerate(manifest["recordings"]):
        where = f"{fname}: recordings[{i}]"
        _check_fields(rec, _REC_SCHEMA, where)
        _check_strings(rec["ch_names"], f"{where}['ch_names']")
        _check_strings(rec["ch_types"], f"{where}['ch_types']")
        if rec["n_times"] < 1:
            raise CacheError(f"{where}['n_times'] is not positive")
        for name, dtype in _DTYPES.items():
            info = rec["files"].get(name)
            _check_fields(info, _FILE_SCHEMA, f"{where}['files'][{name!r}]")
            if info["dtype"] != dtype or not all(
                _is(n, _INT) and n >= 0 for n in info["shape"]
            ):
                raise CacheError(f"{where}['files'][{name!r}] has a bad shape or dtype")
        data, y = rec["files"]["data"]["shape"], rec["files"]["y"]["shape"]
        if (
            len(data) != 2
            or data[0] != len(rec["ch_names"])
            or data[1] % rec["n_times"]
            or y != [data[1] // rec["n_times"]]
        ):
            raise CacheError(f"{where}: the array shapes do not agree")
        md = rec["metadata"]
        if md is not None:
            _check_fields(md, {"columns": dict, "dtypes": dict}, f"{where}['metadata']")
            if set(md["columns"]) != set(md["dtypes"]) or not all(
                isinstance(v, list) and len(v) == y[0] for v in md["columns"].values()
            ):
                raise CacheError(f"{where}['metadata'] is malformed")
            _check_strings(md["dtypes"].values(), f"{where}['metadata']['dtypes']")
    return manifest


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # loops, bad names
        raise CacheError(f"cannot resolve {path!r} ({exc})") from exc


def _confined(entry: Path, name: str, manifest_file) -> Path:
    """``entry / name`` if ``name`` is a plain file name inside the entry, else refuse."""
    # Path(name).name differs from name whenever name holds a separator.
    bad = not name or "\x00" in name or name in (".", "..") or Path(name).name != name
    fname = entry / name
    if bad or _resolved(fname).parent != _resolved(entry):
        raise CacheError(
            f"{manifest_file} names the file {name!r} outside its entry folder; refused"
        )
    return fname


# ------------------------------------------------------------------------- read
def _read_manifest(entry: Path) -> dict:
    manifest_file = entry / "manifest.json"
    if not manifest_file.is_file():
        raise CacheError(f"{entry} has no manifest.json (deleted, or a killed writer)")
    try:
        manifest = json.loads(manifest_file.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise CacheError(f"unreadable manifest {manifest_file} ({exc})") from exc
    if isinstance(manifest, dict) and (
        manifest.get("format") != CACHE_FORMAT or manifest.get("version") != __version__
    ):
        raise StaleCacheError(f"cache entry {entry} was written by another version")
    check_manifest(manifest, manifest_file)
    if _manifest_crc(manifest) != manifest["crc32"]:
        raise CacheError(f"{manifest_file} was altered (checksum mismatch)")
    return manifest


def _manifest_crc(manifest: dict) -> int:
    """CRC-32 of a manifest's content (without its own checksum)."""
    body = {k: v for k, v in manifest.items() if k != "crc32"}
    return zlib.crc32(json.dumps(body, sort_keys=True).encode())


def _load_array(entry, info, manifest_file, verify):
    fname = _confined(entry, info["name"], manifest_file)
    try:
        if os.path.getsize(fname) != info["nbytes"]:
            raise CacheError(f"{fname} has the wrong size (truncated?)")
        if verify and _file_crc(fname) != info["crc32"]:
            raise CacheError(f"{fname} is corrupt (checksum mismatch)")
        arr = np.load(fname, mmap_mode="c", allow_pickle=False)
    except CacheError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise CacheError(f"cannot read {fname} ({exc})") from exc
    if list(arr.shape) != info["shape"] or arr.dtype.str != info["dtype"]:
        raise CacheError(f"{fname} has an unexpected shape or dtype")
    return arr


def load_entry(entry: Path, sources, *, verify=True):
    """Load a cache entry, raising :class:`CacheError` if it is unusable.

    Arrays are memory-mapped copy-on-write (``mmap_mode="c"``): in-place edits by the
    user never reach the cache. ``verify`` checks each file's CRC-32 (one read of the
    files, through the page cache, not the maps).
    """
    manifest = _read_manifest(entry)
    manifest_file = entry / "manifest.json"
    try:
        current = _fingerprint(sources)
    except OSError as exc:
        raise StaleCacheError(f"a source file is missing ({exc})") from exc
    if current != manifest["sources"]:
        raise StaleCacheError(f"the source files changed since {entry} was written")
    recordings = []
    for i, rec in enumerate(manifest["recordings"]):
        data, y = (
            _load_array(entry, rec["files"][name], manifest_file, verify)
            for name in ("data", "y")
        )
        try:
            metadata = None
            if rec["metadata"] is not None:
                metadata = pd.DataFrame(rec["metadata"]["columns"]).astype(
                    rec["metadata"]["dtypes"]
                )
            recordings.append(
                Recording(
                    data=data,
                    y=y,
                    n_times=rec["n_times"],
                    ch_names=rec["ch_names"],
                    ch_types=rec["ch_types"],
                    sfreq=rec["sfreq"],
                    description=rec["description"],
                    metadata=metadata,
                    source=rec["source"],
                ).validate(check_finite=False)
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise CacheError(
                f"{manifest_file}: recordings[{i}] is invalid ({exc})"
            ) from exc
    return recordings


# ------------------------------------------------------------------------ write
def _write_array(folder: Path, fname: str, arr: np.ndarray) -> dict:
    arr = np.ascontiguousarray(arr)
    with open(folder / fname, "wb") as fid:
        writer = _CrcWriter(fid)
        np.save(writer, arr, allow_pickle=False)
        fid.flush()
        os.fsync(fid.fileno())
    return dict(
        name=fname,
        shape=list(arr.shape),
        dtype=arr.dtype.str,
        nbytes=os.path.getsize(folder / fname),
        crc32=writer.crc,
    )


def _recording_manifest(rec, files) -> dict:
    metadata = None
    if rec.metadata is not None:
        metadata = dict(
            columns={c: _jsonable(rec.metadata[c].tolist()) for c in rec.metadata},
            dtypes={c: str(rec.metadata[c].dtype) for c in rec.metadata},
        )
    return dict(
        files=files,
        n_times=int(rec.n_times),
        ch_names=list(rec.ch_names),
        ch_types=list(rec.ch_types),
        sfreq=float(rec.sfreq),
        description=_jsonable(dict(rec.description)),
        metadata=metadata,
        source=str(rec.source),
    )


def _tmp_folder(entry: Path) -> Path:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.parent / f".{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def save_entry(entry: Path, recordings, sources, params: dict, *, tmp=None) -> bool:
    """Write an entry atomically (temporary folder, then one rename).

    ``recordings`` may be an iterator: each recording is written as soon as it
    comes, then dropped. Returns whether this call published the entry (``False``
    when another process published the same key first).
    """
    tmp = _tmp_folder(entry) if tmp is None else tmp
    try:
        manifest = dict(
            format=CACHE_FORMAT,
            version=__version__,
            params=_jsonable(params),
            sources=_fingerprint(sources),
            recordings=[],
        )
        for i, rec in enumerate(recordings):
            files = {
                name: _write_array(tmp, f"rec{i:03d}_{name}.npy", arr)
                for name, arr in (("data", rec.data), ("y", rec.y))
            }
            manifest["recordings"].append(_recording_manifest(rec, files))
            del rec  # let the recording go before the next one is read
        # The manifest is written last: an entry without one is never published.
        manifest["crc32"] = _manifest_crc(manifest)
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        try:
            os.rename(tmp, entry)
        except OSError:
            # Another process published the same key first; keep theirs.
            logger.debug(f"Cache entry {entry} already published by another process")
            shutil.rmtree(tmp, ignore_errors=True)
            return False
        return True
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
    except OSError:
        # Not a folder (a stray file under the key): remove it in place.
        entry.unlink(missing_ok=True)
        return
    shutil.rmtree(trash, ignore_errors=True)


def remove_stale_tmp(folder: Path, max_age: float | None = None) -> list:
    """Remove temporary and trash folders of killed writers older than ``max_age``.

    A folder's age is measured from its newest modification (a live writer
    touches its folder with every file it writes).

    Parameters
    ----------
    folder : path-like
        The folder holding entries (``<cache_dir>/<code>/sub-<subject>``).
    max_age : float | None
        Seconds; ``None`` uses :data:`TMP_MAX_AGE`.

    Returns
    -------
    removed : list of Path
        The folders removed.
    """
    max_age = TMP_MAX_AGE if max_age is None else max_age
    now, removed = time.time(), []
    try:
        candidates = [
            p
            for p in Path(folder).iterdir()
            if p.name.startswith(".") and (".tmp-" in p.name or ".trash-" in p.name)
        ]
    except OSError:
        return removed
    for path in candidates:
        try:
            newest = max(
                [path.stat().st_mtime] + [c.stat().st_mtime for c in path.iterdir()]
            )
        except OSError:
            continue  # gone meanwhile
        if now - newest > max_age:
            shutil.rmtree(path, ignore_errors=True)
            logger.info(f"Removed the leftover temporary cache folder {path}")
            removed.append(path)
    return removed


# ------------------------------------------------------------------------ entry
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
        ``read()`` returns (or yields) the recordings when the cache cannot serve
        them; they are written one at a time.

    Returns
    -------
    recordings : list of Recording
        The recordings, memory-mapped from the entry.
    """
    params = reader.cache_params()
    entry = entry_path(cache_dir, reader.code, subject, params)
    sources = reader.source_files(subject)
    remove_stale_tmp(entry.parent)
    for attempt in range(_ATTEMPTS):
        if os.path.lexists(entry):
            try:
                recordings = load_entry(entry, sources)
                logger.info(f"Loaded {reader.code} subject {subject} from cache {entry}")
                return recordings
            except StaleCacheError as exc:
                logger.info(f"Stale cache entry, rebuilding: {exc}")
            except CacheError as exc:
                warn(f"Corrupt cache entry {entry}, rebuilding it: {exc}")
            discard_entry(entry)
        try:
            published = save_entry(
                entry, read(), sources, params, tmp=_tmp_folder(entry)
            )
        except OSError as exc:
            warn(
                f"Could not write the cache entry {entry} ({exc}); continuing without "
                "cache. Pass cache_dir= to a writable folder or cache=False."
            )
            return list(read())
        try:
            # Ours was checked as it was written; another process' is verified.
            return load_entry(entry, sources, verify=not published)
        except CacheError:
            # Another process discarded the entry in between: start again.
            if attempt == _ATTEMPTS - 1:
                raise
            logger.debug(f"Cache entry {entry} replaced while loading; retrying")
