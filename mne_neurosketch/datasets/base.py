# API-STABLE
"""Shared machinery of the corpus adapters.

A corpus module plugs in by writing one :class:`CorpusReader` subclass and two thin
public classes around it::

    class _MyReader(CorpusReader):
        code = "MyCorpus"             # MOABB code; key MNE_DATASETS_MYCORPUS_PATH
        publisher = "Where users download it (URL, licence form, ...)"
        layout = "MyCorpus/sub-01/data.npy ..."  # shown in errors
        folder_names = ("MyCorpus",)  # sub-folder of path= that may hold it
        subjects = tuple(range(1, 11))
        tasks = ("main",)

        def _is_root(self, folder): return (folder / "sub-01").is_dir()
        @property
        def n_times(self): return 400
        @property
        def sfreq(self): return 200.0
        def class_names(self): return ["a", "b"]
        def source_files(self, subject): return [self.root / ...]  # checks existence
        def read_subject(self, subject): return [Recording.from_windows(...), ...]

    class MyCorpus(CorpusWindowsDataset):       # braindecode BaseConcatDataset of windows
        def __init__(self, subject_ids=None, path=None, *, cache=True, cache_dir=None,
                     verbose=None):
            super().__init__(_MyReader(path), subject_ids, cache=cache,
                             cache_dir=cache_dir, verbose=verbose)

    class MyCorpusMOABB(CorpusMOABBDataset):    # moabb BaseDataset
        def __init__(self, path=None, *, subjects=None, cache=True, cache_dir=None):
            super().__init__(_MyReader(path), subjects=subjects, cache=cache,
                             cache_dir=cache_dir)

Everything else is shared: path resolution (:func:`resolve_path`), validation of the
windows (:meth:`Recording.validate`), the on-disk cache (keyed by corpus, subject,
:meth:`CorpusReader.cache_params` and the package version), the braindecode windows
(:func:`recordings_to_windows`) and the MOABB raws (:meth:`Recording.to_raw`).

Windows are stored end to end in one continuous float32 array per recording, so the
braindecode windows and the MOABB epochs cut exactly the same samples, and a cached
entry is memory-mapped without a copy. The braindecode view reads each window from the
cache on demand (:class:`~mne_neurosketch.datasets.LazyWindowsDataset`), so
its memory does not grow with the number of subjects or runs; a subject is prepared
one recording at a time (:meth:`CorpusReader.read_subject` may be a generator). The
MOABB view builds a float64 Raw per recording on demand: MNE computes in float64, and
this is the one place the data are converted.
"""

# License: BSD (3-clause)

from __future__ import annotations

import abc
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import mne
import numpy as np
import pandas as pd
from braindecode.datasets import BaseConcatDataset
from moabb.datasets.base import BaseDataset

from ..utils import ProgressBar, verbose
from ._cache import cached_read, default_cache_dir
from ._windows import LazyWindowsDataset

__all__ = [
    "CorpusMOABBDataset",
    "CorpusReader",
    "CorpusWindowsDataset",
    "Recording",
    "class_patterns",
    "config_key",
    "nonflat_trials",
    "recordings_to_windows",
    "resolve_path",
]

_SESSION_RUN = re.compile(r"([0-9]+)(|[a-zA-Z]+[a-zA-Z0-9]*)")


# --------------------------------------------------------------------------- paths
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


# ----------------------------------------------------------------------- recordings
@dataclass
class Recording:
    """Windows of one contiguous recording (one subject, session and run).

    The windows lie end to end in ``data`` so that window ``k`` is
    ``data[:, k * n_times:(k + 1) * n_times]``; :attr:`X` gives the
    ``(n_windows, n_chans, n_times)`` view. Build one with :meth:`from_windows`
    when the windows are at hand as a 3-D array.

    Parameters
    ----------
    data : ndarray, shape (n_chans, n_windows * n_times)
        The windows in the corpus' own unit (no rescaling), stored as float32
        (other dtypes are converted once, at construction).
    y : ndarray of int, shape (n_windows,)
        Class index of each window (``0 .. n_classes - 1``).
    n_times : int
        Samples per window.
    ch_names : list of str
        Channel names, in the order of the paper's trials.
    ch_types : list of str
        MNE channel types (``"eeg"``, ``"ecog"``, ``"seeg"``, ...).
    sfreq : float
        Sampling frequency in Hz.
    description : dict
        braindecode description of the recording: ``subject`` (int), ``session`` and
        ``run`` (strings MOABB accepts, e.g. ``"0"``) plus corpus columns.
    metadata : pandas.DataFrame | None
        Per-window columns (e.g. ``trial``, ``stimulus``, ``clip``), one row per window.
    source : str
        The file the windows were read from (named in error messages).
    """

    data: np.ndarray
    y: np.ndarray
    n_times: int
    ch_names: list
    ch_types: list
    sfreq: float
    description: dict
    metadata: pd.DataFrame | None = None
    source: str = ""

    def __post_init__(self):
        # float32 end to end: half the memory of float64, the network's dtype.
        if self.data.dtype != np.float32:
            self.data = np.ascontiguousarray(self.data, dtype=np.float32)

    @classmethod
    def from_windows(
        cls, X, y, *, ch_names, ch_types, sfreq, description, metadata=None, source=""
    ) -> Recording:
        """Build a recording from ``(n_windows, n_chans, n_times)`` windows.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_chans, n_times)
            The windows (copied into float32).
        y : array-like of int, shape (n_windows,)
            Class indices.
        ch_names : list of str
            Channel names.
        ch_types : str | list of str
            One MNE channel type for all channels, or one per channel.
        sfreq : float
            Sampling frequency in Hz.
        description : dict
            See :class:`Recording`.
        metadata : pandas.DataFrame | None
            Per-window columns.
        source : str
            The file the windows come from.

        Returns
        -------
        recording : Recording
            The recording.
        """
        X = np.asarray(X)
        if X.ndim != 3:
            raise ValueError(
                f"Windows read from {source or 'the input'} must be 3-D "
                f"(n_windows, n_chans, n_times), got shape {X.shape}."
            )
        n_windows, n_chans, n_times = X.shape
        data = np.ascontiguousarray(
            X.transpose(1, 0, 2).reshape(n_chans, n_windows * n_times), dtype=np.float32
        )
        if isinstance(ch_types, str):
            ch_types = [ch_types] * n_chans
        return cls(
            data=data,
            y=np.asarray(y, dtype=np.int64),
            n_times=int(n_times),
            ch_names=list(ch_names),
            ch_types=list(ch_types),
            sfreq=float(sfreq),
            description=dict(description),
            metadata=metadata,
            source=str(source),
        )

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return self.data.shape[1] // self.n_times

    @property
    def X(self) -> np.ndarray:
        """The windows as a ``(n_windows, n_chans, n_times)`` view of ``data``."""
        n_chans = self.data.shape[0]
        return self.data.reshape(n_chans, self.n_windows, self.n_times).transpose(1, 0, 2)

    def validate(self, n_classes: int | None = None, *, check_finite: bool = True):
        """Check shapes, labels, names and values; raise a clear error naming the file.

        Parameters
        ----------
        n_classes : int | None
            Labels must lie in ``0 .. n_classes - 1`` when given.
        check_finite : bool
            Also reject NaN and infinite samples.

        Returns
        -------
        self : Recording
            The recording, for chaining.
        """
        src = self.source or "the input"
        if self.data.ndim != 2 or self.data.shape[1] % self.n_times:
            raise ValueError(
                f"Data read from {src} has shape {self.data.shape}, not "
                f"(n_chans, n_windows * {self.n_times})."
            )
        if len(self.ch_names) != self.data.shape[0] or len(self.ch_types) != len(
            self.ch_names
        ):
            raise ValueError(
                f"{src}: {len(self.ch_names)} channel names and {len(self.ch_types)} "
                f"channel types for {self.data.shape[0]} channels."
            )
        if self.y.shape != (self.n_windows,):
            raise ValueError(
                f"{src}: {self.y.shape[0] if self.y.ndim else 0} labels for "
                f"{self.n_windows} windows."
            )
        if (
            n_classes is not None
            and self.y.size
            and (self.y.min() < 0 or self.y.max() >= n_classes)
        ):
            bad = np.unique(self.y[(self.y < 0) | (self.y >= n_classes)])
            raise ValueError(
                f"{src}: labels {bad.tolist()} are out of range for {n_classes} classes "
                "(expected 0 .. n_classes - 1). Check that the label file belongs to "
                "this corpus and task."
            )
        if self.metadata is not None and len(self.metadata) != self.n_windows:
            raise ValueError(
                f"{src}: {len(self.metadata)} metadata rows for {self.n_windows} windows."
            )
        for key in ("subject", "session", "run"):
            if key not in self.description:
                raise ValueError(f"{src}: the description lacks {key!r}.")
        for key in ("session", "run"):
            value = self.description[key]
            if not isinstance(value, str) or not _SESSION_RUN.fullmatch(value):
                raise ValueError(
                    f"{src}: {key} must be a string MOABB accepts such as '0' or "
                    f"'1train', got {value!r}."
                )
        if check_finite and not np.isfinite(self.data).all():
            raise ValueError(
                f"{src} contains NaN or infinite samples. Repair or exclude this file "
                "(e.g. interpolate the affected channels) before loading it."
            )
        return self

    def to_raw(self, class_names: Sequence[str] | None = None) -> mne.io.RawArray:
        """Return the windows as a continuous :class:`mne.io.RawArray`.

        One annotation per window marks its onset and length; its description is the
        class name, so MOABB reads the trials from the annotations.

        Parameters
        ----------
        class_names : sequence of str | None
            Names of the classes (index = label). ``None`` leaves the raw without
            annotations.

        Returns
        -------
        raw : mne.io.RawArray
            A float64 copy of this recording's data (MNE computes in float64), in
            the corpus' own unit.
        """
        info = mne.create_info(list(self.ch_names), self.sfreq, list(self.ch_types))
        data = np.asarray(self.data, dtype=np.float64)
        raw = mne.io.RawArray(data, info, copy="auto", verbose="error")
        if class_names is not None:
            raw.set_annotations(self.annotations(class_names))
        return raw

    def annotations(self, class_names: Sequence[str]) -> mne.Annotations:
        """One annotation per window: onset, length and class name.

        Parameters
        ----------
        class_names : sequence of str
            Names of the classes (index = label).

        Returns
        -------
        annotations : mne.Annotations
            The annotations, in seconds from the start of the recording.
        """
        width = self.n_times / self.sfreq
        return mne.Annotations(
            onset=np.arange(self.n_windows) * width,
            duration=np.full(self.n_windows, width),
            description=[class_names[k] for k in self.y],
        )


def nonflat_trials(X: np.ndarray) -> np.ndarray:
    """Indices of trials without a flat channel (the paper's ``check_ieeg``).

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_chans, n_times)
        Trials.

    Returns
    -------
    keep : ndarray of int
        Indices of the trials whose every channel has ``max - min != 0``.
    """
    X = np.asarray(X)
    return np.flatnonzero(np.all(np.ptp(X, axis=-1) != 0, axis=1))


def class_patterns(n_classes: int, n_chans: int, n_times: int, *, seed=0) -> np.ndarray:
    """Smooth class-specific patterns of unit standard deviation (for simulators).

    ``simulate_<corpus>(class_signal=a)`` adds ``a * std * class_patterns(...)[y]`` to
    each simulated window so that a decoder can learn the classes.

    Parameters
    ----------
    n_classes, n_chans, n_times : int
        Shape of the result.
    seed : int
        Seed of the patterns.

    Returns
    -------
    patterns : ndarray, shape (n_classes, n_chans, n_times)
        One spatio-temporal pattern per class.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_times, endpoint=False)
    freqs = rng.uniform(1, 6, size=(n_classes, n_chans, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(n_classes, n_chans, 1))
    gains = rng.standard_normal((n_classes, n_chans, 1))
    pat = gains * np.sin(2 * np.pi * freqs * t + phases)
    return pat / pat.std(axis=(1, 2), keepdims=True)


# --------------------------------------------------------------------------- reader
class CorpusReader(abc.ABC):
    """How to read one corpus: the plug-in point of a corpus module.

    A subclass sets the class attributes and implements :meth:`_is_root`,
    :attr:`n_times`, :attr:`sfreq`, :meth:`class_names`, :meth:`source_files` and
    :meth:`read_subject`; it extends :meth:`cache_params` with every preprocessing
    parameter it adds. Everything else (path resolution, validation, caching,
    conversion to braindecode and MOABB) is shared.

    Parameters
    ----------
    path : path-like | None
        Folder of the corpus; ``None`` reads the MNE config key
        (:func:`config_key`).
    task : str | None
        One of :attr:`tasks`; ``None`` selects the first.

    Attributes
    ----------
    code : str
        MOABB code of the corpus (Camel-KebabCase).
    publisher : str
        Where the corpus is downloaded from.
    layout : str
        The expected folder layout, shown in errors.
    folder_names : tuple of str
        Sub-folders of ``path`` that may hold the corpus.
    subjects : tuple of int
        All subject ids (1-based).
    tasks : tuple of str
        The decoding tasks.
    doi : str | None
        DOI of the corpus.
    """

    code: ClassVar[str]
    publisher: ClassVar[str]
    layout: ClassVar[str]
    folder_names: ClassVar[tuple] = ()
    subjects: ClassVar[tuple]
    tasks: ClassVar[tuple] = ("default",)
    doi: ClassVar[str | None] = None

    def __init__(self, path=None, *, task: str | None = None):
        if task is None:
            task = self.tasks[0]
        if task not in self.tasks:
            raise ValueError(
                f"Invalid value for the 'task' parameter. Allowed values are "
                f"{', '.join(repr(t) for t in self.tasks)}, but got {task!r} instead."
            )
        self.path = path
        self.task = task
        self._root = None

    @property
    def config_key(self) -> str:
        """The MNE config key of the corpus folder."""
        return config_key(self.code)

    @property
    def root(self) -> Path:
        """The corpus folder (resolved on first use, see :func:`resolve_path`)."""
        if self._root is None:
            self._root = resolve_path(
                self.path,
                code=self.code,
                publisher=self.publisher,
                layout=self.layout,
                is_root=self._is_root,
                folder_names=self.folder_names,
            )
        return self._root

    @abc.abstractmethod
    def _is_root(self, folder: Path) -> bool:
        """Whether ``folder`` holds the corpus (a cheap layout check)."""

    @property
    @abc.abstractmethod
    def n_times(self) -> int:
        """Samples per window for the current task and parameters."""

    @property
    @abc.abstractmethod
    def sfreq(self) -> float:
        """Sampling frequency of the windows in Hz."""

    @abc.abstractmethod
    def class_names(self) -> list[str]:
        """Class names of the task; label ``k`` is ``class_names()[k]``."""

    @abc.abstractmethod
    def source_files(self, subject: int) -> list[Path]:
        """Files read for ``subject``; ``FileNotFoundError`` naming a missing one."""

    @abc.abstractmethod
    def read_subject(self, subject: int) -> Iterable[Recording]:
        """Read and preprocess one subject (no cache); return its recordings.

        A generator that yields one recording at a time lets the cache write each
        recording as soon as it is read, so a subject is never whole in memory.
        """

    def cache_params(self) -> dict:
        """Everything that determines the windows (JSON-safe); part of the cache key.

        Returns
        -------
        params : dict
            ``{"task": ...}``; subclasses add their preprocessing parameters.
        """
        return {"task": self.task}

    def check_subject(self, subject) -> int:
        """Validate a subject id.

        Parameters
        ----------
        subject : int
            The subject.

        Returns
        -------
        subject : int
            The subject as a Python int.
        """
        if isinstance(subject, bool) or not isinstance(subject, (int, np.integer)):
            raise TypeError(f"subject must be an int, got {subject!r}.")
        if int(subject) not in self.subjects:
            raise ValueError(
                f"Invalid subject {subject!r} for {self.code}; valid subjects are "
                f"{list(self.subjects)}."
            )
        return int(subject)

    @verbose
    def load_subject(
        self,
        subject,
        *,
        cache: bool = True,
        cache_dir=None,
        on_recording=None,
        verbose=None,
    ) -> list[Recording]:
        """Read one subject through the on-disk cache and validate it.

        Parameters
        ----------
        subject : int
            The subject.
        cache : bool
            Use (and fill) the on-disk cache.
        cache_dir : path-like | None
            Cache folder; ``None`` uses the default (``MNE_NEUROSKETCH_CACHE_DIR``,
            else ``<MNE_DATA>/neurosketch_cache``).
        on_recording : callable | None
            Called with each recording as it is read from the corpus files (not
            when the cache serves the subject), e.g. to advance a progress bar.
        %(verbose)s

        Returns
        -------
        recordings : list of Recording
            The subject's recordings, in the paper's trial order. From the cache,
            their ``data`` are read-only-on-disk memory maps (copy-on-write).
        """
        subject = self.check_subject(subject)
        n_classes = len(self.class_names())

        def read():
            # One recording at a time: validated, then handed on (to the cache
            # writer, which writes it and lets it go).
            n = 0
            for rec in self.read_subject(subject):
                rec.validate(n_classes)
                if rec.n_times != self.n_times:
                    raise ValueError(
                        f"{rec.source}: windows of {rec.n_times} samples, expected "
                        f"{self.n_times}."
                    )
                n += 1
                if on_recording is not None:
                    on_recording(rec)
                yield rec
            if not n:
                raise RuntimeError(
                    f"{self.code}: no recording read for subject {subject}"
                )

        if not cache:
            return list(read())
        cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
        return cached_read(self, subject, cache_dir, read)


# ------------------------------------------------------------------------ braindecode
def recordings_to_windows(recordings: Iterable[Recording], class_names=None):
    """Wrap recordings as a braindecode dataset of windows.

    Parameters
    ----------
    recordings : iterable of Recording
        The recordings.
    class_names : sequence of str | None
        Class names for the raws' annotations.

    Returns
    -------
    windows : braindecode.datasets.BaseConcatDataset
        One :class:`~mne_neurosketch.datasets.LazyWindowsDataset` (a
        braindecode :class:`~braindecode.datasets.EEGWindowsDataset`) per recording,
        reading its windows on demand; targets in ``metadata["target"]``;
        descriptions from :attr:`Recording.description`.
    """
    return BaseConcatDataset(_windows_datasets(recordings, class_names))


def _windows_datasets(recordings, class_names):
    out = []
    for rec in recordings:
        starts = np.arange(rec.n_windows, dtype=np.int64) * rec.n_times
        md = pd.DataFrame(
            {
                "i_window_in_trial": np.zeros(rec.n_windows, dtype=np.int64),
                "i_start_in_trial": starts,
                "i_stop_in_trial": starts + rec.n_times,
                "target": np.asarray(rec.y, dtype=np.int64),
            }
        )
        if rec.metadata is not None:
            md = pd.concat([md, rec.metadata.reset_index(drop=True)], axis=1)
        out.append(
            LazyWindowsDataset(
                rec.data,
                md,
                ch_names=rec.ch_names,
                ch_types=rec.ch_types,
                sfreq=rec.sfreq,
                description=rec.description,
                annotations=None if class_names is None else rec.annotations(class_names),
            )
        )
    return out


def _load_subjects(reader, subjects, cache, cache_dir):
    """Load several subjects with a progress bar; yield their recordings."""
    subjects = list(subjects)
    it = subjects
    if len(subjects) > 1:
        it = ProgressBar(subjects, mesg=f"Loading {reader.code}")
    for subject in it:
        yield from reader.load_subject(subject, cache=cache, cache_dir=cache_dir)


class CorpusWindowsDataset(BaseConcatDataset):
    """A corpus as a braindecode :class:`~braindecode.datasets.BaseConcatDataset`.

    One :class:`~mne_neurosketch.datasets.LazyWindowsDataset` per recording: the
    windows stay in the memory-mapped cache and are read when indexed, so the
    memory this needs does not grow with the number of subjects or runs. Corpus
    modules subclass it with an explicit signature (see the module docstring).

    Parameters
    ----------
    reader : CorpusReader
        Reads the corpus.
    subject_ids : int | list of int | None
        Subjects to load; ``None`` loads all.
    cache : bool
        Use the on-disk cache of preprocessed windows.
    cache_dir : path-like | None
        Cache folder (see :meth:`CorpusReader.load_subject`).
    verbose : bool | str | int | None
        Control verbosity of the logging output. If ``None``, use the default
        verbosity level. See :func:`mne.verbose`.

    Attributes
    ----------
    reader : CorpusReader
        The reader.
    class_names : list of str
        Class names; ``target`` ``k`` is ``class_names[k]``.
    """

    @verbose
    def __init__(
        self, reader, subject_ids=None, *, cache=True, cache_dir=None, verbose=None
    ):
        if subject_ids is None:
            subject_ids = list(reader.subjects)
        elif isinstance(subject_ids, (int, np.integer)):
            subject_ids = [subject_ids]
        subject_ids = [reader.check_subject(s) for s in subject_ids]
        _ = reader.root  # fail early with the path error
        self.reader = reader
        self.class_names = list(reader.class_names())
        recordings = _load_subjects(reader, subject_ids, cache, cache_dir)
        super().__init__(_windows_datasets(recordings, self.class_names))


# ----------------------------------------------------------------------------- MOABB
class _AbbrevFilter(logging.Filter):
    """Drop MOABB's class-name/code abbreviation warning for our ``*MOABB`` classes."""

    def filter(self, record):
        return "must be an abbreviation of its code" not in record.getMessage()


class CorpusMOABBDataset(BaseDataset):
    """A corpus as a MOABB :class:`~moabb.datasets.base.BaseDataset`.

    The trials are the braindecode windows of :class:`CorpusWindowsDataset`, sample
    for sample: each recording is one MOABB run (a raw with the windows end to end and
    one annotation per window), ``interval`` is ``[0, (n_times - 1) / sfreq]`` so
    MOABB's inclusive epochs have exactly ``n_times`` samples, ``unit_factor`` is 1
    (arrays keep the corpus' unit) and every data channel type is kept
    (``return_all_modalities=True``: ECoG and sEEG are not dropped). Use
    :class:`mne_neurosketch.paradigms.MultiClassDecoding` (no filter by default).

    Parameters
    ----------
    reader : CorpusReader
        Reads the corpus.
    subjects : list of int | None
        Subjects to evaluate; ``None`` keeps all.
    cache : bool
        Use the on-disk cache of preprocessed windows.
    cache_dir : path-like | None
        Cache folder.
    """

    def __init__(self, reader, *, subjects=None, cache=True, cache_dir=None):
        self.reader = reader
        self.cache = cache
        self.cache_dir = cache_dir
        names = reader.class_names()
        moabb_log = logging.getLogger("moabb.datasets.base")
        filt = _AbbrevFilter()
        moabb_log.addFilter(filt)
        try:
            super().__init__(
                subjects=list(reader.subjects),
                sessions_per_subject=1,
                events={name: k + 1 for k, name in enumerate(names)},
                code=reader.code,
                interval=[0.0, (reader.n_times - 1) / reader.sfreq],
                paradigm="imagery",
                doi=reader.doi,
                unit_factor=1.0,
                selected_subjects=subjects,
                return_all_modalities=True,
            )
        finally:
            moabb_log.removeFilter(filt)

    def _get_single_subject_data(self, subject):
        recordings = self.reader.load_subject(
            subject, cache=self.cache, cache_dir=self.cache_dir
        )
        names = self.reader.class_names()
        data: dict = {}
        for rec in recordings:
            session, run = rec.description["session"], rec.description["run"]
            runs = data.setdefault(session, {})
            if run in runs:
                raise RuntimeError(
                    f"{self.code}: two recordings of subject {subject} have session "
                    f"{session!r} and run {run!r}."
                )
            runs[run] = rec.to_raw(names)
        return data

    def data_path(
        self, subject, path=None, force_update=False, update_path=None, verbose=None
    ):
        """Return the corpus files of one subject.

        This resolves the folder and lists the files; it does not download. The
        corpus module's own ``data_path`` downloads the corpora that can be
        downloaded (e.g. ``mne_neurosketch.datasets.faces_houses.data_path``)
        and says how to obtain the others.

        Parameters
        ----------
        subject : int
            The subject.
        path : path-like | None
            Corpus folder; ``None`` uses the reader's (``path=`` or config key).
        force_update, update_path : bool | None
            Unused (MOABB signature).
        verbose : bool | str | int | None
            Unused (MOABB signature).

        Returns
        -------
        paths : list of str
            The subject's source files.
        """
        reader = self.reader
        if path is not None:
            reader = type(reader).__new__(type(reader))
            reader.__dict__.update(self.reader.__dict__, path=path, _root=None)
        return [str(p) for p in reader.source_files(reader.check_subject(subject))]
