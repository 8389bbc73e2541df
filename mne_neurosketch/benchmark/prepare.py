"""Build the cache of a corpus ahead of training (``neurosketch prepare``).

Each subject's entry is written one recording (run) at a time, so the memory needed
does not grow with the subject's size. With a Dask scheduler (or a local cluster of
``n_workers`` processes) each subject is prepared by a worker that reads the corpus
and writes the shared cache folder itself: only the subject id goes to the worker
and a small summary comes back, no data pass through the scheduler.
"""

# License: BSD (3-clause)

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..datasets._cache import default_cache_dir
from ..datasets.base import CorpusMOABBDataset, CorpusReader, CorpusWindowsDataset
from ..utils import _validate_type, logger, verbose

__all__ = ["PreparedSubject", "prepare"]


@dataclass
class PreparedSubject:
    """What preparing one subject gave (returned by :func:`prepare`)."""

    subject: int
    n_recordings: int
    n_windows: int
    cache_dir: str


def _reader(dataset, path, subjects):
    """The corpus reader behind a name, a reader or a corpus dataset."""
    kinds = (str, CorpusReader, CorpusMOABBDataset, CorpusWindowsDataset)
    _validate_type(dataset, kinds, "dataset")
    if isinstance(dataset, CorpusReader):
        return dataset
    if isinstance(dataset, (CorpusMOABBDataset, CorpusWindowsDataset)):
        return dataset.reader
    from .datasets import resolve_dataset

    spec = resolve_dataset(dataset, path=path, subjects=subjects)
    reader = getattr(spec.dataset, "reader", None)
    if isinstance(reader, CorpusReader):
        return reader
    raise ValueError(
        f"Invalid value for the 'dataset' parameter. prepare builds the cache of "
        f"the corpora (seeddv, chisco-read, ...; 'neurosketch list datasets'), "
        f"but got {dataset!r}, a MOABB dataset that MOABB caches itself."
    )


def _prepare_subject(reader, subject, cache_dir, on_recording=None):
    """Build (or check) one subject's entry; return its summary, not its data."""
    recordings = reader.load_subject(
        subject, cache=True, cache_dir=cache_dir, on_recording=on_recording
    )
    return PreparedSubject(
        subject=subject,
        n_recordings=len(recordings),
        n_windows=sum(r.n_windows for r in recordings),
        cache_dir=str(cache_dir),
    )


@verbose
def prepare(dataset, subjects=None, *, path=None, cache_dir=None, scheduler=None,
            n_workers=None, progress=True, verbose=None):
    """Build the on-disk cache of a corpus' subjects, one run at a time.

    Parameters
    ----------
    dataset : str | CorpusReader | CorpusMOABBDataset | CorpusWindowsDataset
        A corpus name as :func:`~mne_neurosketch.benchmark.resolve_dataset`
        accepts it (``"seeddv"``, ``"chisco-read"``, ``"simulated-seeddv"``, ...)
        or a corpus reader / dataset.
    subjects : list of int | None
        Subjects to prepare; ``None`` prepares all the corpus' subjects
        (simulated corpora: the simulated ones).
    path : path-like | None
        The corpus folder (see ``resolve_dataset``).
    %(cache_dir)s
        With Dask, every worker must see it (a shared file system).
    %(scheduler)s
        Each subject is one task.
    %(n_workers)s
    progress : bool
        Show a progress bar over subjects (and, when serial, the current
        subject's runs).
    %(verbose)s

    Returns
    -------
    prepared : list of PreparedSubject
        One summary per subject, in the order asked.
    """
    if scheduler is not None and n_workers is not None:
        raise ValueError("Pass scheduler= or n_workers=, not both.")
    reader = _reader(dataset, path, subjects)
    if subjects is None:
        simulated = isinstance(dataset, str) and dataset.lower().startswith("simulated")
        subjects = [1, 2] if simulated else list(reader.subjects)
    subjects = [reader.check_subject(s) for s in subjects]
    _ = reader.root  # the path error before any work
    cache_dir = Path(default_cache_dir() if cache_dir is None else cache_dir)
    cache_dir = cache_dir.expanduser().resolve()
    if scheduler is None and n_workers is None:
        return _prepare_serial(reader, subjects, cache_dir, progress)
    return _prepare_dask(reader, subjects, cache_dir, scheduler, n_workers, progress)


def _prepare_serial(reader, subjects, cache_dir, progress):
    out = []
    bar = tqdm(subjects, desc=f"Preparing {reader.code}", unit="subject",
               disable=not progress)
    for subject in bar:
        runs = tqdm(desc=f"  subject {subject}", unit="run", leave=False,
                    disable=not progress)
        try:
            out.append(
                _prepare_subject(reader, subject, cache_dir, lambda rec: runs.update())
            )
        finally:
            runs.close()
        bar.set_postfix(windows=sum(p.n_windows for p in out))
    _log(reader, out, cache_dir)
    return out


def _prepare_dask(reader, subjects, cache_dir, scheduler, n_workers, progress):
    from distributed import as_completed

    from ._executors import _Dask  # the benchmark's cluster set-up, reused

    executor = _Dask(scheduler=scheduler, n_workers=n_workers)
    client = executor.client
    try:
        futures = {
            client.submit(_prepare_subject, reader, s, cache_dir, pure=False): s
            for s in subjects
        }
        done = {}
        bar = tqdm(total=len(subjects), desc=f"Preparing {reader.code}",
                   unit="subject", disable=not progress)
        for future in as_completed(futures):
            summary = future.result()
            done[summary.subject] = summary
            bar.update()
            bar.set_postfix(runs=sum(p.n_recordings for p in done.values()))
        bar.close()
    finally:
        executor.close()
    out = [done[s] for s in subjects]
    _log(reader, out, cache_dir)
    return out


def _log(reader, prepared, cache_dir):
    logger.info(
        f"{reader.code}: {len(prepared)} subject(s), "
        f"{sum(p.n_recordings for p in prepared)} recording(s), "
        f"{sum(p.n_windows for p in prepared)} windows cached in {cache_dir}"
    )
