"""The MOABB view of a corpus: a MOABB dataset whose trials are the windows."""

# License: BSD (3-clause)

from __future__ import annotations

import logging

from moabb.datasets.base import BaseDataset

from .._docs import fill_doc
from ..utils import warn
from ._public_classes import register_public

__all__ = ["CorpusMOABBDataset"]


class _AbbrevFilter(logging.Filter):
    """Drop MOABB's class-name/code abbreviation warning for our ``*MOABB`` classes."""

    def filter(self, record):
        return "must be an abbreviation of its code" not in record.getMessage()


@fill_doc
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
    %(subjects_evaluate)s
    %(cache)s
    %(cache_dir)s
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register_public(cls, CorpusMOABBDataset, "moabb_class")

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
