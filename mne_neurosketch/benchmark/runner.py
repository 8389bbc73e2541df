"""Run pipelines x datasets x subjects x folds, one stored row per fit.

The runner loads each subject's trials once per paradigm (through MOABB, so
any MOABB dataset and the corpus datasets of :mod:`mne_neurosketch.datasets`
work the same way), splits them with a :mod:`protocol
<mne_neurosketch.benchmark.protocols>`, skips the fits already in the
:class:`~mne_neurosketch.benchmark.store.ResultsStore`, runs the others
serially or on a Dask cluster, and writes each fit's row as soon as it
finishes. Only the process that runs :func:`run_benchmark` writes the store,
so workers need no access to it.

The work is split by concern: :mod:`._planning` decides what to fit (the
protocol, pipelines and subjects of each dataset, and their data),
:mod:`._fitting` fits and scores one task, :mod:`._executors` runs the tasks
here or on Dask. This module ties them together.
"""

# License: BSD (3-clause)

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from ..utils import _validate_type, logger, verbose
from ._executors import _collect, _Dask, _Serial
from ._fitting import _device_params, _on_cuda, _task_keys
from ._planning import _pipelines_for, _plan, _protocol_for, _select
from .datasets import BenchmarkDataset, resolve_dataset
from .store import _as_store
from .transfer import pretrained_dir

__all__ = ["RunSummary", "run_benchmark"]


@dataclass
class RunSummary:
    """What a call to :func:`run_benchmark` did.

    Attributes
    ----------
    n_total : int
        Fits the run asked for.
    n_skipped : int
        Fits found in the store (not rerun).
    n_run : int
        Fits run and written.
    n_failed : int
        Fits that raised (not written; a rerun retries them).
    failures : list of str
        One line per failed fit.
    settings : dict
        Per dataset code, what the run resolved: ``"protocol"`` (its
        description), ``"subjects"`` and ``"budget"`` (the training budget of
        each deep pipeline: ``max_epochs``, ``batch_size``, ``patience``).
    """

    n_total: int = 0
    n_skipped: int = 0
    n_run: int = 0
    n_failed: int = 0
    failures: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)


@verbose
def run_benchmark(
    datasets,
    pipelines,
    *,
    protocol="default",
    protocol_params=None,
    results="results.sqlite",
    subjects=None,
    budget=None, device="auto", random_state=42,  # for pipelines given by name
    scheduler=None,
    n_workers=None,
    progress: bool = True,
    verbose=None,
) -> pd.DataFrame:
    """Run a benchmark and store one row per fit.

    Fits already in ``results`` (same dataset, protocol, subject, session,
    fold, pipeline and parameters) are skipped, so an interrupted run resumes
    where it stopped. Each finished fit is committed at once.

    Every default of a dataset (its protocol and the protocol's parameters,
    its subjects, the training budget of the deep pipelines) is applied here,
    so the ``neurosketch benchmark`` command, which only parses its arguments
    and calls this function, runs the same fits.

    Parameters
    ----------
    datasets : str | BenchmarkDataset | list of them
        Dataset names (see :func:`~mne_neurosketch.benchmark.resolve_dataset`)
        or resolved datasets.
    pipelines : list of str | dict
        Names of :data:`~mne_neurosketch.benchmark.PIPELINES`, built for each
        dataset with its training budget (see ``budget``), ``device`` and
        ``random_state``; or ``{name: estimator}`` (any scikit-learn estimator
        taking MOABB's arrays), used as given.
    protocol : str | Protocol
        ``"default"`` uses each dataset's default protocol (MOABB datasets:
        ``"within-session"``; the corpora: the paper's) with the dataset's
        parameters for it. Otherwise a name of
        :data:`~mne_neurosketch.benchmark.PROTOCOLS` or a protocol object.
    protocol_params : dict | None
        Parameters of a protocol given by name, over the dataset's own (e.g.
        ``{"method": "n_fold"}``, ``{"n_splits": 3}``, ``{"group": "run"}``);
        parameters the protocol does not take are ignored.
    results : path-like | ResultsStore
        The results file.
    subjects : list of int | None
        Subjects to run; ``None`` uses each dataset's default subjects.
    budget : dict | None
        Training budget of the deep pipelines given by name, over the
        dataset's own (the ``budget`` of its
        :class:`~mne_neurosketch.benchmark.BenchmarkDataset`, e.g. 10 epochs
        on the simulated corpora): ``max_epochs``, ``batch_size``, ``patience`` or
        any other :class:`~mne_neurosketch.NeuroSketchClassifier` parameter.
    device : str
        Device of the deep pipelines given by name (``"auto"``, ``"cpu"``,
        ``"cuda"``, ``"cuda:N"``).
    random_state : int | None
        Seed of the pipelines given by name and of the protocols that shuffle
        (within-session).
    %(scheduler)s
    %(n_workers)s
    progress : bool
        Show a progress bar over the fits (its total known from the start)
        and, for fits run in this process, a second line over the epochs of
        the network being trained.
    verbose : bool | str | int | None
        Control verbosity of the logging output (one line per fit at
        ``"INFO"``, and each network's epoch table at ``"DEBUG"``). If ``None``,
        use the default verbosity level. See
        :func:`mne.verbose`.

    Returns
    -------
    results : pandas.DataFrame
        This run's results (including fits found in the store) in MOABB's
        format (see :meth:`ResultsStore.to_dataframe`). ``df.attrs["summary"]``
        holds a :class:`RunSummary`.

    Raises
    ------
    RuntimeError
        If some fits failed; every other fit is stored and the message lists
        the failures (the exception's ``summary`` attribute holds the
        :class:`RunSummary`).
    """
    if isinstance(datasets, (str, BenchmarkDataset)):
        datasets = [datasets]
    specs = [
        d if isinstance(d, BenchmarkDataset) else resolve_dataset(d) for d in datasets
    ]
    store = _as_store(results)  # after the names are checked: no empty file on a typo
    _validate_type(pipelines, (Mapping, list, tuple, str), "pipelines")
    if isinstance(pipelines, str):
        pipelines = [pipelines]
    if not pipelines:
        raise ValueError("No pipelines given; pass at least one model.")
    _validate_type(protocol_params, (dict, None), "protocol_params")
    _validate_type(budget, (dict, None), "budget")
    summary = RunSummary()
    plans = [
        _plan(
            spec,
            _protocol_for(spec, protocol, protocol_params, random_state),
            subjects,
            _pipelines_for(spec, pipelines, budget, device, random_state),
        )
        for spec in specs
    ]
    for plan in plans:
        plan.pretrained = str(pretrained_dir(store.path))
        summary.settings[plan.spec.code] = plan.settings()
        logger.info(f"{plan.spec.code}: {plan.settings()}")
    gpu = any(
        _on_cuda(device)
        for plan in plans
        for est in plan.estimators.values()
        for device in _device_params(est).values()
    )
    if scheduler is not None or n_workers is not None:
        executor = _Dask(scheduler=scheduler, n_workers=n_workers, gpu=gpu)
    else:
        executor = _Serial(progress=progress)
    done = store.keys()
    wanted = []  # (dataset code, protocol id, pipeline, params hash, data hash)
    try:
        # The total comes from the protocols before any data is loaded, and is
        # corrected when a subject's trials give another number of folds.
        bar = tqdm(
            total=sum(p.expected_fits() or 0 for p in plans),
            desc="Fits",
            unit="fit",
            disable=not progress,
        )
        for plan in plans:
            wanted.extend(plan.wanted)
            for unit, tasks_by_input, loaded in plan.iter_units():
                n_tasks = sum(len(tasks) for tasks in tasks_by_input.values())
                bar.total += n_tasks - (plan.expected_fits(unit) or 0)
                bar.refresh()
                for input_kind, tasks in tasks_by_input.items():
                    todo = [t for t in tasks if not set(_task_keys(t)) <= done]
                    n_skip = len(tasks) - len(todo)
                    summary.n_total += len(tasks)
                    summary.n_skipped += n_skip
                    if summary.n_skipped:
                        bar.set_postfix_str(
                            f"{summary.n_skipped} already in {store.path.name}",
                            refresh=False,
                        )
                    bar.update(n_skip)
                    if not todo:
                        continue
                    data = executor.put_data(*loaded[input_kind])
                    for task in todo:
                        executor.submit(task, data)
                        # Commit each finished fit at once (a serial fit is finished
                        # here; Dask results are taken as they arrive).
                        _collect(executor, store, summary, bar, block=False)
        while executor.pending():
            _collect(executor, store, summary, bar, block=True)
        _collect(executor, store, summary, bar, block=False)
        bar.close()
    finally:
        executor.close()
    df = _select(store.to_dataframe(), wanted)
    df.attrs["summary"] = summary
    logger.info(
        f"{summary.n_run} fits run, {summary.n_skipped} found in {store.path}, "
        f"{summary.n_failed} failed."
    )
    if summary.failures:
        err = RuntimeError(
            f"{summary.n_failed} fit(s) failed (the {summary.n_run} others are stored in "
            f"{store.path}; rerun to retry the failed ones):\n"
            + "\n".join(summary.failures)
        )
        err.summary = summary
        err.results = df
        raise err
    return df
