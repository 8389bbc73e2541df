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
        # Docs of the public classes: what path= holds, own parameters, notes
        doc_parts = ("Folder holding ``sub-01/``", _PARAMS_DOC, None)

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

This module holds :class:`CorpusReader` and re-exports the rest from the modules
named for what they do: ``_paths`` (config key, folder), ``_recording``
(:class:`Recording`), ``_simulation`` (:class:`Simulation`), ``_braindecode``
(:class:`CorpusWindowsDataset`, :func:`recordings_to_windows`), ``_moabb``
(:class:`CorpusMOABBDataset`), ``_public_classes`` (the public classes'
``__init__`` and docstring), ``_cache`` (the on-disk cache) and ``_trials``.

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
import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..utils import _check_option, verbose
from ._braindecode import CorpusWindowsDataset, recordings_to_windows
from ._cache import cached_read, default_cache_dir
from ._moabb import CorpusMOABBDataset
from ._paths import config_key, resolve_path
from ._recording import Recording
from ._simulation import Simulation, with_simulation
from ._trials import class_patterns, nonflat_trials

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
            func = with_simulation(func)
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
        _check_option("task", task, self.tasks)
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
        %(cache_dir)s
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
