"""The braindecode view of a corpus: a dataset of lazily read windows.

:class:`CorpusWindowsDataset` holds one
:class:`~mne_neurosketch.datasets.LazyWindowsDataset` per recording (the windows stay
in the memory-mapped cache and are read when indexed) and splits them per subject
with the corpus' protocols (:mod:`._protocols`); :func:`recordings_to_windows` wraps
any recordings the same way.
"""

# License: BSD (3-clause)

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import numpy as np
import pandas as pd
from braindecode.datasets import BaseConcatDataset

from .._docs import fill_doc
from ..utils import ProgressBar, verbose, warn
from ._protocols import make_split, split_per_subject
from ._public_classes import register_public
from ._recording import Recording
from ._windows import LazyWindowsDataset

__all__ = ["CorpusWindowsDataset", "recordings_to_windows"]


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
    return BaseConcatDataset(windows_datasets(recordings, class_names))


def windows_datasets(recordings, class_names):
    """One :class:`LazyWindowsDataset` per recording (:func:`recordings_to_windows`)."""
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


@fill_doc
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
    %(cache)s
    %(cache_dir)s
    %(verbose)s

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
        register_public(cls, CorpusWindowsDataset, "windows_class")

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
        super().__init__(windows_datasets(recordings, self.class_names))

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
