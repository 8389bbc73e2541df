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

        n_times = 400                 # or properties, when parameters decide them
        sfreq = 200.0

        def _is_root(self, folder): return (folder / "sub-01").is_dir()
        def class_names(self): return ["a", "b"]
        def source_files(self, subject): return [self.root / ...]  # checks existence
        def read_subject(self, subject): return [Recording.from_windows(...), ...]

        # Registry facts (see CorpusReader; tests/test_registry.py checks them)
        name = "mycorpus"
        aliases = ("my-corpus",)
        to_volts = 1e-6               # the windows are in µV
        moabb_paradigm = "p300"
        protocol, protocol_params = "paper", {"method": "n_fold"}
        description = "MyCorpus, 2 classes, EEG 32 x 400 (10 subjects)"
        ...

    class MyCorpus(CorpusWindowsDataset):       # braindecode BaseConcatDataset of windows
        __doc__ = "..."
        reader_class = _MyReader

    class MyCorpusMOABB(CorpusMOABBDataset):    # moabb BaseDataset
        __doc__ = "..."
        reader_class = _MyReader

    @_MyReader.simulator
    def simulate_my_corpus(path, subjects=(1,), *, class_signal=0.0, seed=0): ...

``reader_class`` gives the two public classes their ``__init__`` (the reader's
parameters plus the shared ones) and registers them on the reader. Importing the
module in :mod:`mne_neurosketch.datasets` registers the corpus
(:mod:`mne_neurosketch.datasets.registry`): the benchmark and its CLI find it there.

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
import dataclasses
import functools
import inspect
import logging
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

import mne
import numpy as np
import pandas as pd
from braindecode.datasets import BaseConcatDataset
from moabb.datasets.base import BaseDataset

from ..utils import ProgressBar, verbose, warn
from ._cache import cached_read, default_cache_dir
from ._protocols import make_split, split_per_subject
from ._trials import class_patterns, nonflat_trials
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
    "Simulation",
]

#: The registry facts every registered corpus reader states in its own class.
REGISTRY_FACTS = (
    "name",
    "aliases",
    "registered_tasks",
    "n_chans",
    "n_classes",
    "to_volts",
    "moabb_paradigm",
    "protocol",
    "protocol_params",
    "default_subjects",
    "scorer",
    "budget",
    "description",
    "simulation",
    "simulate",
)

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

    def to_raw(
        self, class_names: Sequence[str] | None = None, *, to_volts: float = 1.0
    ) -> mne.io.RawArray:
        """Return the windows as a continuous :class:`mne.io.RawArray`.

        One annotation per window marks its onset and length; its description is the
        class name, so MOABB reads the trials from the annotations.

        Parameters
        ----------
        class_names : sequence of str | None
            Names of the classes (index = label). ``None`` leaves the raw without
            annotations.
        to_volts : float
            Factor from the corpus' unit to volts (:attr:`CorpusReader.to_volts`);
            the default 1 keeps the corpus' unit.

        Returns
        -------
        raw : mne.io.RawArray
            A float64 copy of this recording's data (MNE computes in float64),
            multiplied by ``to_volts``.
        """
        info = mne.create_info(list(self.ch_names), self.sfreq, list(self.ch_types))
        data = self.data.astype(np.float64)
        if to_volts != 1.0:
            data *= to_volts
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


# ------------------------------------------------------------------------ simulators
@dataclass(frozen=True)
class Simulation:
    """The parameters every corpus simulator takes.

    Attributes
    ----------
    subjects : tuple of int
        Subjects to write.
    full_size : bool
        The real shapes (large files) rather than a small corpus.
    class_signal : float
        Amplitude, relative to the noise, of the class patterns added to the
        windows (0: pure noise).
    seed : int
        Random seed.
    """

    subjects: tuple
    full_size: bool = False
    class_signal: float = 0.0
    seed: int = 0


def _with_simulation(func):
    """``func(path, sim, **own)`` as ``simulate(path, subjects=(1,), *, ...)``."""
    kw, pos = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    own = list(inspect.signature(func).parameters.values())[2:]
    shared = [
        inspect.Parameter("path", pos),
        inspect.Parameter("subjects", pos, default=(1,)),
    ]
    shared += [inspect.Parameter(f.name, kw, default=f.default)
               for f in fields(Simulation) if f.name != "subjects"]  # fmt: skip
    signature = inspect.Signature(shared + own)

    @functools.wraps(func)
    def simulate(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        sim = Simulation(**{f.name: values.pop(f.name) for f in fields(Simulation)})
        sim = dataclasses.replace(sim, subjects=tuple(sim.subjects))
        return func(values.pop("path"), sim, **values)

    simulate.__signature__ = signature
    return simulate


# --------------------------------------------------------------------------- reader
class CorpusReader(abc.ABC):
    """How to read one corpus: the plug-in point of a corpus module.

    A subclass sets the class attributes and implements :meth:`_is_root`,
    :attr:`n_times`, :attr:`sfreq` (properties or class attributes),
    :meth:`class_names`, :meth:`source_files` and :meth:`read_subject`; it extends
    :meth:`cache_params` with every preprocessing parameter it adds. Everything
    else (path resolution, validation, caching, conversion to braindecode and
    MOABB) is shared.

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

    The registry facts (:mod:`mne_neurosketch.datasets.registry`, read by the
    benchmark, its CLI and the speed scripts; a registered corpus states each in
    its own class, see :data:`REGISTRY_FACTS`):

    name : str | None
        Canonical registry name (lower case, e.g. ``"seeddv"``); ``None`` leaves
        the reader out of the registry.
    aliases : tuple of str
        Other spellings (case, ``-`` and ``_`` are ignored when matching).
    registered_tasks : tuple of str
        Tasks registered as corpora of their own, ``"<name>-<task>"`` (the
        aliases name the first); empty registers ``name`` with the default task.
    n_chans, n_classes : int
        Channels and classes of the (first) registered task's windows, for
        listings and the speed scripts (readable without the data).
    to_volts : float
        Factor from the unit of the windows to volts, declared once: the MOABB
        view hands MOABB raws in volts (see :class:`CorpusMOABBDataset`).
    moabb_paradigm : str | dict
        MOABB's kind of dataset (``"p300"``, ``"imagery"``, ``"ssvep"``, ...), or
        one per task.
    protocol, protocol_params : str, dict
        The paper's (default) protocol in the vocabulary of
        :mod:`mne_neurosketch.benchmark.protocols` (``"paper"``, ``"grouped"``,
        ``"within-session"``, ...) and its parameters.
    default_subjects : tuple of int | None
        Subjects evaluated by default (``None``: all).
    scorer : str | None
        Scorer of the benchmark (``None``: accuracy, the paper's metric).
    budget : dict
        Default training budget of the deep pipelines (empty: the recipe's).
    description : str
        One line for listings; ``{task}`` is replaced by the registered task.
    simulation : dict
        Keyword arguments of :attr:`simulate` for the benchmark's small simulated
        version.
    simulate : callable
        ``simulate(path, subjects, **kwargs)`` writes a synthetic corpus in the
        real on-disk format (set with :meth:`simulator`).
    """

    code: ClassVar[str]
    publisher: ClassVar[str]
    layout: ClassVar[str]
    folder_names: ClassVar[tuple] = ()
    subjects: ClassVar[tuple]
    tasks: ClassVar[tuple] = ("default",)
    doi: ClassVar[str | None] = None
    n_sessions: ClassVar[int] = 1

    # Registry facts (see the class docstring).
    name: ClassVar[str | None] = None
    aliases: ClassVar[tuple] = ()
    registered_tasks: ClassVar[tuple] = ()
    n_chans: ClassVar[int | None] = None
    n_classes: ClassVar[int | None] = None
    to_volts: ClassVar[float | None] = None
    moabb_paradigm: ClassVar[str | dict | None] = None
    protocol: ClassVar[str | None] = None
    protocol_params: ClassVar[dict] = {}
    default_subjects: ClassVar[tuple | None] = None
    scorer: ClassVar[str | None] = None
    budget: ClassVar[dict] = {}
    description: ClassVar[str | None] = None
    simulation: ClassVar[dict] = {}
    simulate: ClassVar = None
    # Set by the public classes naming this reader (``reader=`` class keyword).
    windows_class: ClassVar[type | None] = None
    moabb_class: ClassVar[type | None] = None

    @classmethod
    def simulator(cls, func):
        """Decorate the corpus' ``simulate_<corpus>`` function to register it.

        Parameters
        ----------
        func : callable
            ``func(path, subjects, **kwargs)``; or ``func(path, sim, **kwargs)``,
            which becomes ``simulate(path, subjects=(1,), *, full_size=False,
            class_signal=0.0, seed=0, **kwargs)`` with the shared parameters
            handed over as a :class:`Simulation` ``sim``.

        Returns
        -------
        simulate : callable
            The public simulator.
        """
        if list(inspect.signature(func).parameters)[1:2] == ["sim"]:
            func = _with_simulation(func)
        cls.simulate = staticmethod(func)
        return func

    @property
    def paradigm(self) -> str:
        """MOABB's kind of dataset for the current task (``moabb_paradigm``)."""
        kind = self.moabb_paradigm
        return kind[self.task] if isinstance(kind, dict) else kind

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
            ``task`` and every keyword parameter of the reader's ``__init__``
            (stored under its own name); a reader with other preprocessing
            settings extends it.
        """
        own = inspect.signature(type(self).__init__).parameters
        names = [n for n, p in own.items() if p.kind is p.KEYWORD_ONLY]
        return {"task": self.task, **{n: getattr(self, n) for n in names}}

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


# Parameters every public corpus class shares, as ``%(name)s`` in its docstring.
_DOCS = {
    "subject_ids": """subject_ids : int | list of int | None
        Subjects to load; ``None`` loads all.""",
    "subjects": """subjects : list of int | None
        Subjects to evaluate; ``None`` keeps all.""",
    "cache": """cache : bool
        Use the on-disk cache of preprocessed windows.
    cache_dir : path-like | None
        Cache folder (default ``MNE_NEUROSKETCH_CACHE_DIR``, else
        ``<MNE_DATA>/neurosketch_cache``).""",
    "verbose": """verbose : bool | str | int | None
        Control verbosity of the logging output. If ``None``, use the default
        verbosity level. See :func:`mne.verbose`.""",
}


def _fill_doc(doc: str) -> str:
    for key, text in _DOCS.items():
        doc = doc.replace(f"%({key})s", text)
    return doc


def _corpus_doc(doc: str, reader, role: str) -> str:
    """Add the Parameters and Notes of a public corpus class to its docstring.

    They come from the reader's ``doc_parts`` (``path``, its own parameters,
    notes) and the shared entries of :data:`_DOCS`; they go before an
    ``Examples`` section. A docstring with its own Parameters is left as written.
    """
    parts = getattr(reader, "doc_parts", None)
    if parts is None or "\n    Parameters\n" in doc:
        return _fill_doc(doc)
    path, params, notes = parts
    head, sep, examples = doc.partition("\n    Examples\n")
    lines = ["", "    Parameters", "    ----------"]
    if role == "windows_class":
        first, last = reader.subjects[0], reader.subjects[-1]
        lines += [
            "    subject_ids : int | list of int | None",
            f"        Subjects ({first}..{last}); ``None`` loads all.",
        ]
    indent = " " * 8
    path = textwrap.fill(path, 84, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False)  # fmt: skip
    lines += ["    path : path-like | None", path]
    if role == "moabb_class":
        lines.append("    %(subjects)s")
    lines += ["    " + params.strip(), "    %(cache)s"]
    if role == "windows_class":
        lines.append("    %(verbose)s")
    if notes:
        lines += ["", "    Notes", "    -----", "    " + notes.strip()]
    body = head.rstrip() + "\n" + "\n".join(lines) + "\n"
    body += (sep + examples) if sep else "    "
    return _fill_doc(body)


# The public classes' own parameters, around the reader's: (head, tail).
_SIGNATURES = {
    "windows_class": (
        [("subject_ids", None), ("path", None)],
        [("cache", True), ("cache_dir", None), ("verbose", None)],
    ),
    "moabb_class": (
        [("path", None), ("subjects", None)],
        [("cache", True), ("cache_dir", None)],
    ),
}


def _register_public(cls, base, role):
    """Register a public corpus class on its ``reader_class``; give it ``__init__``.

    The ``__init__`` (unless the class writes its own) takes the parameters of
    :data:`_SIGNATURES` around the reader's keyword parameters (all but ``path``);
    ``path`` and the reader's go to the reader, the others to ``base.__init__``.
    Its explicit signature serves the docs, introspection and the errors for
    unknown arguments.
    """
    reader = vars(cls).get("reader_class")
    if reader is None:
        return
    setattr(reader, role, cls)
    if cls.__doc__:
        cls.__doc__ = _corpus_doc(cls.__doc__, reader, role)
    if "__init__" in vars(cls):
        return
    head, tail = _SIGNATURES[role]
    kw, pos = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    own = inspect.signature(reader.__init__).parameters
    params = [inspect.Parameter("self", pos)]
    params += [
        inspect.Parameter(n, pos if n in ("subject_ids", "path") else kw, default=d)
        for n, d in head
    ]
    params += [p.replace(kind=kw) for n, p in own.items() if n not in ("self", "path")]
    params += [inspect.Parameter(n, kw, default=d) for n, d in tail]
    signature = inspect.Signature(params)
    shared = [n for n, _ in head + tail if n != "path"]

    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{cls.__name__}(): {err}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        del values["self"]
        base_kwargs = {n: values.pop(n) for n in shared}
        base.__init__(self, reader(values.pop("path"), **values), **base_kwargs)

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = __init__


class CorpusWindowsDataset(BaseConcatDataset):
    """A corpus as a braindecode :class:`~braindecode.datasets.BaseConcatDataset`.

    One :class:`~mne_neurosketch.datasets.LazyWindowsDataset` per recording: the
    windows stay in the memory-mapped cache and are read when indexed, so the
    memory this needs does not grow with the number of subjects or runs. A corpus
    module subclasses it with a class attribute ``reader_class`` (its
    :class:`CorpusReader`): the subclass then takes ``(subject_ids=None, path=None,
    *, <the reader's parameters>, cache=True, cache_dir=None, verbose=None)``.

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

    #: Default of :meth:`protocol_splits` as ``(name, params)``; ``None`` uses
    #: the reader's paper protocol.
    split_protocol: ClassVar[tuple | None] = None
    #: Former per-corpus protocol names -> ``(name, params)`` (deprecated).
    _legacy_protocols: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _register_public(cls, CorpusWindowsDataset, "windows_class")

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

    def protocol_splits(self, protocol=None, **params):
        """Train/validation/test window indices of each subject.

        Each subject is split on its own; fold ``k`` joins the ``k``-th split of
        every subject.

        Parameters
        ----------
        protocol : "paper" | "grouped" | None
            The protocol, named as in :mod:`mne_neurosketch.benchmark.protocols`:
            ``"paper"`` (the paper's stratified splits, seed 42; ``method="n_fold"``
            keeps a fixed 20 % test set and 3 folds of the rest, ``"simple"`` is
            one 60/20/20 split; default: the corpus' paper method) or ``"grouped"``
            (leakage-free: whole ``group`` values, e.g. ``"run"`` or ``"trial"``,
            held out; ``n_splits=None`` leaves one group out, the previous group
            as validation). ``None`` uses the corpus' default.
        **params
            The protocol's parameters (``method``; ``group``, ``n_splits``).

        Returns
        -------
        folds : list of tuple of ndarray
            ``(train, valid, test)`` indices into this dataset.
        """
        if protocol is None:
            protocol, default = self.split_protocol or (
                self.reader.protocol,
                self.reader.protocol_params,
            )
            params = {**default, **params}
        elif protocol in self._legacy_protocols:
            new, new_params = self._legacy_protocols[protocol]
            warn(
                f"protocol={protocol!r} is deprecated and will be removed; use "
                f"protocol={new!r} with {new_params or 'its defaults'} (the "
                "benchmark's protocol names).",
                FutureWarning,
            )
            protocol, params = new, {**new_params, **params}
        elif protocol == "paper" and self.reader.protocol == "paper":
            params = {**self.reader.protocol_params, **params}
        return split_per_subject(self, *make_split(protocol, params))


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
    MOABB's inclusive epochs have exactly ``n_times`` samples, and every data channel
    type is kept (``return_all_modalities=True``: ECoG and sEEG are not dropped).
    As for MOABB's own datasets, the raws are in volts (the windows times
    :attr:`CorpusReader.to_volts`, the one place units are converted) and
    ``unit_factor`` is 1e6, so MOABB's arrays are in µV. The dataset's
    ``paradigm`` is the reader's :attr:`~CorpusReader.moabb_paradigm`. Use
    :class:`mne_neurosketch.paradigms.MultiClassDecoding` (no filter by default).

    A corpus module subclasses it with a class attribute ``reader_class`` (its
    :class:`CorpusReader`): the subclass then takes ``(path=None, *,
    subjects=None, <the reader's parameters>, cache=True, cache_dir=None)``.

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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _register_public(cls, CorpusMOABBDataset, "moabb_class")

    def __init__(self, reader, *, subjects=None, cache=True, cache_dir=None):
        self.reader = reader
        self.cache = cache
        self.cache_dir = cache_dir
        names = reader.class_names()
        to_volts, paradigm = reader.to_volts, reader.paradigm
        if to_volts is None:
            warn(
                f"{type(reader).__name__} declares no to_volts: its MOABB raws keep the "
                "corpus' unit (unit_factor 1). Declare the factor to volts; it will be "
                "required.",
                FutureWarning,
            )
        moabb_log = logging.getLogger("moabb.datasets.base")
        filt = _AbbrevFilter()
        moabb_log.addFilter(filt)
        try:
            super().__init__(
                subjects=list(reader.subjects),
                sessions_per_subject=reader.n_sessions,
                events={name: k + 1 for k, name in enumerate(names)},
                code=reader.code,
                interval=[0.0, (reader.n_times - 1) / reader.sfreq],
                paradigm=paradigm or "imagery",
                doi=reader.doi,
                unit_factor=1.0 if to_volts is None else 1e6,
                selected_subjects=subjects,
                return_all_modalities=True,
            )
        finally:
            moabb_log.removeFilter(filt)
        self._to_volts = 1.0 if to_volts is None else float(to_volts)

    @property
    def array_factor(self) -> float:
        """Factor from the windows (the corpus' unit) to MOABB's arrays (µV)."""
        return self._to_volts * self.unit_factor

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
            runs[run] = rec.to_raw(names, to_volts=self._to_volts)
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
