"""Run pipelines x datasets x subjects x folds, one stored row per fit.

The runner loads each subject's trials once per paradigm (through MOABB, so
any MOABB dataset and the corpus datasets of :mod:`mne_neurosketch.datasets`
work the same way), splits them with a :mod:`protocol
<mne_neurosketch.benchmark.protocols>`, skips the fits already in the
:class:`~mne_neurosketch.benchmark.store.ResultsStore`, runs the others
serially or on a Dask cluster, and writes each fit's row as soon as it
finishes. Only the process that runs :func:`run_benchmark` writes the store,
so workers need no access to it.
"""

# License: BSD (3-clause)

from __future__ import annotations

import inspect
import json
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha1
from logging import DEBUG, WARNING

import numpy as np
import pandas as pd
from mne.utils import use_log_level
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, get_scorer
from sklearn.preprocessing import LabelEncoder
from tqdm.auto import tqdm

from ..datasets._array import WindowsArray, dataset_targets
from ..datasets.base import CorpusMOABBDataset, CorpusWindowsDataset
from ..utils import _validate_type, logger, verbose
from .datasets import BenchmarkDataset, resolve_dataset
from .pipelines import (
    PIPELINES,
    _stable,
    params_hash,
    pipeline_params,
    resolve_model_name,
)
from .protocols import Fold, Protocol, make_protocol
from .store import FitRecord, ResultsStore, _as_store, fit_key
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


@dataclass
class _Task:
    """One fit to run: picklable, so it can travel to a Dask worker."""

    pipeline_name: str
    estimator: BaseEstimator
    params_hash: str
    data_hash: str
    fold: Fold
    dataset: str
    protocol: str
    scoring: object
    n_classes: int
    n_sessions: dict
    sessions: np.ndarray
    params: dict
    # The caller's MNE log level: worker processes start at MNE's default.
    log_level: int = WARNING
    # Transfer protocols: the cache folder of pretrained models.
    pretrained: str | None = None

    def describe(self) -> str:
        f = self.fold
        return (
            f"{self.dataset} subject {f.subject} session {f.session} fold {f.index} "
            f"{self.pipeline_name}"
        )


def _paradigm_params(paradigm) -> dict:
    """The paradigm's settings (they decide the trials), JSON-able."""
    out = {"class": type(paradigm).__qualname__}
    for name, value in sorted(vars(paradigm).items()):
        if not name.startswith("_"):
            out[name] = _stable(value)
    return out


def _fit_hash(estimator, paradigm) -> tuple[str, str, dict]:
    """The pipeline's :func:`~.pipelines.params_hash`, the data's hash, both inputs.

    The data hash covers what decides the trials (the paradigm's settings); it
    is a key field of its own so that the ``params_hash`` column is exactly
    ``params_hash(estimator)``.
    """
    params = {
        "pipeline": pipeline_params(estimator),
        "paradigm": _paradigm_params(paradigm),
    }
    data = {"paradigm": params["paradigm"]}
    text = json.dumps(data, sort_keys=True, default=str)
    return params_hash(estimator), sha1(text.encode()).hexdigest()[:12], params


def _final_step(estimator):
    """The estimator itself, or the last step of a Pipeline."""
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _numerics_of(estimator) -> str:
    """How a fitted network computed: its training and inference paths."""
    final = _final_step(estimator)
    paths = [getattr(final, name, None) for name in ("train_path_", "inference_path_")]
    return " / ".join(p for p in paths if p)  # no "|": it lands in Markdown tables


def _device_of(estimator) -> str:
    """Where a fitted estimator ran."""
    final = _final_step(estimator)
    net = getattr(final, "net_", None)
    if net is not None and getattr(net, "device", None) is not None:
        return str(net.device)
    for attr in ("device_", "device"):
        device = getattr(final, attr, None)
        if device is not None:
            device = str(device)
            if device == "auto":
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            return device
    return "cpu"


def _fit(estimator, X, y, fold: Fold):
    """Fit on the training trials (with the fold's validation set if accepted)."""
    X_train, y_train = _input_for(estimator, X[fold.train]), y[fold.train]
    if fold.valid is not None and len(fold.valid):
        fit_params = inspect.signature(estimator.fit).parameters
        if "X_valid" in fit_params:
            X_valid = _input_for(estimator, X[fold.valid])
            return estimator.fit(X_train, y_train, X_valid=X_valid, y_valid=y[fold.valid])
    return estimator.fit(X_train, y_train)


def _run_task(task: _Task, X: np.ndarray, y: np.ndarray, on_epoch=None) -> list[dict]:
    """Fit and score one fold; return the rows (plain dicts) to store."""
    # Epoch tables only at DEBUG: at INFO the run logs one line per fit.
    level = task.log_level if task.log_level <= DEBUG else max(task.log_level, WARNING)
    with use_log_level(level):
        return _fit_and_score(task, X, y, on_epoch)


def _with_epoch_hook(estimator, on_epoch):
    """Add a skorch callback calling ``on_epoch(epoch, max_epochs)`` to each network.

    Added to the fitted clone only: the stored parameters (and their hash) stay
    those of the pipeline.
    """
    from skorch.callbacks import Callback

    class _EpochHook(Callback):
        def on_epoch_end(self, net, **kwargs):
            on_epoch(len(net.history), net.max_epochs)

    for name, value in estimator.get_params().items():
        if name == "callbacks" or name.endswith("__callbacks"):
            if value is None or isinstance(value, (list, tuple)):
                hook = ("neurosketch_progress", _EpochHook())
                estimator.set_params(**{name: [*(value or []), hook]})
    return estimator


def _fit_and_score(task: _Task, X: np.ndarray, y: np.ndarray, on_epoch=None):
    estimator = clone(task.estimator)
    if on_epoch is not None:
        estimator = _with_epoch_hook(estimator, on_epoch)
    t0 = time.perf_counter()
    if task.fold.source is not None:  # a transfer protocol
        from .transfer import cache_file, fit_transfer

        cache = task.pretrained and cache_file(
            task.pretrained, task.dataset, task.pipeline_name, task.params_hash, task.fold
        )
        estimator = fit_transfer(estimator, X, y, task.fold, cache=cache or None)
    else:
        _fit(estimator, X, y, task.fold)
    fit_time = time.perf_counter() - t0
    scorer = get_scorer(task.scoring)
    test = task.fold.test
    if task.fold.score_by_session:
        parts = [
            (str(s), test[task.sessions[test] == s])
            for s in pd.unique(task.sessions[test])
        ]
    else:
        parts = [(task.fold.session, test)]
    device, numerics = _device_of(estimator), _numerics_of(estimator)
    rows = []
    for session, idx in parts:
        t0 = time.perf_counter()
        X_test = _input_for(estimator, X[idx])
        score = float(scorer(estimator, X_test, y[idx]))
        y_pred = estimator.predict(X_test)
        score_time = time.perf_counter() - t0
        rows.append(
            dict(
                dataset=task.dataset,
                protocol=task.protocol,
                subject=task.fold.subject,
                session=session,
                fold=task.fold.index,
                pipeline=task.pipeline_name,
                params_hash=task.params_hash,
                data_hash=task.data_hash,
                score=score,
                fit_time=fit_time,
                score_time=score_time,
                samples=len(task.fold.train),
                samples_test=len(idx),
                n_classes=task.n_classes,
                channels=int(X.shape[1]),
                n_sessions=task.n_sessions[task.fold.subject],
                device=device,
                numerics=numerics,
                host=socket.gethostname(),
                params=task.params,
                scores=dict(
                    accuracy=float(accuracy_score(y[idx], y_pred)),
                    balanced_accuracy=float(balanced_accuracy_score(y[idx], y_pred)),
                ),
            )
        )
    return rows


def _task_keys(task: _Task) -> list[str]:
    fold = task.fold
    if fold.score_by_session:
        sessions = [str(s) for s in pd.unique(task.sessions[fold.test])]
    else:
        sessions = [fold.session]
    return [
        fit_key(
            task.dataset,
            task.protocol,
            fold.subject,
            s,
            fold.index,
            task.pipeline_name,
            task.params_hash,
            task.data_hash,
        )
        for s in sessions
    ]


# ----------------------------------------------------------------------------- executors
class _Serial:
    """Runs tasks in this process as they are submitted.

    With ``progress``, a second line under the bar follows the epochs of the
    network being trained (a fit can take minutes).
    """

    def __init__(self, progress: bool = False):
        self._done = []
        self._progress = progress

    def put_data(self, X, y):
        return X, y

    def submit(self, task, data):
        line = _EpochLine(task) if self._progress else None
        try:
            self._done.append((task, _run_task(task, *data, on_epoch=line), None))
        except Exception:  # noqa: BLE001 - reported, not swallowed
            self._done.append((task, None, traceback.format_exc()))
        finally:
            if line is not None:
                line.close()

    def ready(self, block: bool):
        done, self._done = self._done, []
        return done

    def close(self):
        pass


class _EpochLine:
    """The inner progress line: the epochs of the fit in progress."""

    def __init__(self, task: _Task):
        self._desc = (
            f"  {task.pipeline_name}, subject {task.fold.subject} fold {task.fold.index}"
        )
        self._bar = None

    def __call__(self, epoch: int, max_epochs: int) -> None:
        if self._bar is None:
            self._bar = tqdm(
                total=max_epochs, desc=self._desc, unit="epoch", position=1, leave=False
            )
        self._bar.n = epoch
        self._bar.refresh()  # every epoch shows, however fast (tqdm skips < 0.1 s)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class _Dask:
    """Runs tasks on a dask.distributed cluster; results come back as they finish.

    GPU fits ask for the worker resource ``GPU`` (one unit), so a worker started
    with ``--resources GPU=1`` trains one network at a time.
    """

    def __init__(self, scheduler=None, n_workers=None, gpu=False):
        from distributed import Client, LocalCluster, as_completed

        self._cluster = None
        if scheduler is None:
            self._cluster = LocalCluster(
                n_workers=n_workers or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                resources={"GPU": 1} if gpu else None,
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(scheduler)
        self._gpu = gpu
        self._pending = as_completed()
        self._tasks = {}
        logger.info(f"Dask cluster: {self.client}")

    def put_data(self, X, y):
        return self.client.scatter([X, y], broadcast=False)

    def submit(self, task, data):
        resources = {"GPU": 1} if self._gpu and _uses_device(task.estimator) else None
        future = self.client.submit(
            _run_task, task, *data, pure=False, resources=resources
        )
        self._tasks[future.key] = task
        self._pending.add(future)

    def ready(self, block: bool):
        if not block and not self._pending.has_ready():
            return []
        futures = (
            self._pending.next_batch(block=True)
            if block
            else self._pending.next_batch(block=False)
        )
        out = []
        for future in futures:
            task = self._tasks.pop(future.key)
            try:
                out.append((task, future.result(), None))
            except Exception:  # noqa: BLE001 - reported, not swallowed
                out.append((task, None, traceback.format_exc()))
            future.release()
        return out

    def pending(self) -> int:
        return self._pending.count()

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


# ----------------------------------------------------------------------------- data
def _input_for(estimator, X):
    """Lazy windows go to the deep estimator as they are (it streams them); other
    pipelines get the float64 array MOABB would have given them."""
    from ..estimator import NeuroSketchClassifier

    if isinstance(X, WindowsArray) and not isinstance(estimator, NeuroSketchClassifier):
        return X.to_numpy(np.float64)
    return X


def _streams(spec: BenchmarkDataset, paradigm) -> bool:
    """Whether MOABB's trials are exactly the corpus' cached windows."""
    from ..paradigms import MultiClassDecoding

    untouched = ("fmin", "fmax", "tmax", "baseline", "channels", "resample", "events",
                 "n_classes")
    return (
        isinstance(spec.dataset, CorpusMOABBDataset)
        and type(paradigm) is MultiClassDecoding
        and all(getattr(paradigm, name, None) is None for name in untouched)
        and paradigm.tmin == 0
    )


def _load_windows(spec: BenchmarkDataset, subjects):
    """Several subjects' trials as a lazy view of the corpus cache (never stacked).

    Gives what :func:`_load` gets from MOABB (same trials, order, labels and
    metadata), but each window is read from the memory-mapped cache when a fit
    needs it, so a cross-subject fold's memory does not grow with the subjects.
    """
    ds = spec.dataset
    windows = CorpusWindowsDataset(
        ds.reader, list(subjects), cache=ds.cache, cache_dir=ds.cache_dir
    )
    labels = np.asarray(windows.class_names)[dataset_targets(windows)]
    metadata = pd.DataFrame(
        {
            key: np.concatenate([[d.description[key]] * len(d) for d in windows.datasets])
            for key in ("subject", "session", "run")
        }
    )
    return WindowsArray(windows, scale=ds.array_factor), labels, metadata


def _load(spec: BenchmarkDataset, paradigm, subjects, extra_columns=(), lazy=False):
    if lazy and not extra_columns and _streams(spec, paradigm):
        return _load_windows(spec, subjects)
    kwargs = {}
    if extra_columns:
        from moabb.datasets.base import BaseDataset

        method = getattr(type(spec.dataset), "get_additional_metadata", None)
        if method is None or method is BaseDataset.get_additional_metadata:
            raise ValueError(
                f"{spec.code} gives no per-trial metadata column {list(extra_columns)} "
                "(MOABB's get_additional_metadata); group by 'run' (--group run) or "
                "choose another protocol."
            )
        kwargs["additional_metadata"] = list(extra_columns)
    X, labels, metadata = paradigm.get_data(
        spec.dataset, subjects=list(subjects), **kwargs
    )
    X = np.asarray(X)
    return X, np.asarray(labels), metadata.reset_index(drop=True)


def _units(spec: BenchmarkDataset, protocol: Protocol, subjects):
    """Subject sets loaded together: one subject at a time unless folds mix subjects."""
    if protocol.scope == "dataset":
        return [tuple(subjects)]
    return [(s,) for s in subjects]


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
    gpu = (
        any(
            str(value).startswith(("cuda", "auto"))
            for plan in plans
            for est in plan.estimators.values()
            for name, value in est.get_params().items()
            if _is_device_param(name)
        )
        and _cuda_available()
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
        while isinstance(executor, _Dask) and executor.pending():
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


def _is_device_param(name: str) -> bool:
    return name == "device" or name.endswith("__device")


def _uses_device(estimator) -> bool:
    """Whether the estimator has a torch ``device`` (a network to train)."""
    return any(_is_device_param(name) for name in estimator.get_params())


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _collect(executor, store: ResultsStore, summary: RunSummary, bar, block: bool):
    for task, rows, error in executor.ready(block):
        bar.update(1)
        if error is not None:
            summary.n_failed += 1
            last = error.strip().splitlines()[-1]
            summary.failures.append(f"{task.describe()}: {last}")
            logger.error(f"Fit failed: {task.describe()}\n{error}")
            continue
        store.add([FitRecord(**row) for row in rows])
        summary.n_run += 1
        for row in rows:
            logger.info(
                f"{task.describe()}: score {row['score']:.3f} "
                f"(fit {row['fit_time']:.1f} s on {row['device']})"
            )


def _select(df: pd.DataFrame, wanted) -> pd.DataFrame:
    if df.empty:
        return df
    keys = set(wanted)
    columns = ("dataset", "protocol", "pipeline", "params_hash", "data_hash")
    mask = [key in keys for key in zip(*(df[c] for c in columns))]
    return df[np.asarray(mask, bool)].reset_index(drop=True)


@dataclass
class _Plan:
    """The fits of one dataset under one protocol."""

    spec: BenchmarkDataset
    protocol: Protocol
    protocol_id: str
    subjects: list
    estimators: dict
    inputs: dict  # pipeline name -> input kind
    hashes: dict  # pipeline name -> (params hash, data hash, params)
    wanted: list = field(default_factory=list)
    pretrained: str | None = None  # cache folder of pretrained models

    def settings(self) -> dict:
        """What was resolved for this dataset (see :class:`RunSummary`)."""
        budget = {
            name: {
                key: est.get_params()[key]
                for key in ("max_epochs", "batch_size", "patience")
                if key in est.get_params()
            }
            for name, est in self.estimators.items()
            if _uses_device(est)
        }
        return dict(
            protocol=self.protocol.describe(), subjects=list(self.subjects),
            budget=budget,
        )

    def expected_fits(self, unit=None) -> int | None:
        """Fits expected for ``unit`` (default: every subject), before loading."""
        subjects = self.subjects if unit is None else unit
        if unit is None and self.protocol.scope == "subject":
            # Summed per subject, as the units are loaded.
            per = [self.expected_fits((s,)) for s in subjects]
            return None if None in per else sum(per)
        n_folds = self.protocol.expected_folds(
            len(subjects), int(getattr(self.spec.dataset, "n_sessions", 1) or 1)
        )
        return None if n_folds is None else n_folds * len(self.estimators)

    def iter_units(self):
        """Yield ``(unit, {input kind: [tasks]}, {input kind: (X, y)})`` per unit."""
        for unit in _units(self.spec, self.protocol, self.subjects):
            loaded = {}
            extra = [
                c
                for c in getattr(self.protocol, "extra_columns", ())
                if c not in ("subject", "session", "run")
            ]
            for kind in sorted(set(self.inputs.values())):
                loaded[kind] = _load(
                    self.spec, self.spec.paradigm(kind), unit, extra,
                    lazy=self.protocol.scope == "dataset",  # several subjects at once
                )
            X0, labels0, meta = next(iter(loaded.values()))
            for kind, (X, labels, m) in loaded.items():
                if len(labels) != len(labels0) or not np.array_equal(labels, labels0):
                    raise RuntimeError(
                        f"{self.spec.code}: the {kind!r} paradigm gives other trials "
                        "than the others; the pipelines would not be compared on the "
                        "same data."
                    )
            y = LabelEncoder().fit_transform(labels0)
            sessions = meta["session"].astype(str).to_numpy()
            n_sessions = {
                str(s): int(
                    meta.loc[meta["subject"].astype(str) == str(s), "session"].nunique()
                )
                for s in meta["subject"].unique()
            }
            folds = list(self.protocol.split(y, meta))
            if not folds:
                logger.warning(
                    f"{self.spec.code}: the {self.protocol.name} protocol gives no fold "
                    f"for subject(s) {list(unit)} (e.g. a single session for "
                    "cross-session); skipped."
                )
            tasks = {kind: [] for kind in loaded}
            for fold in folds:
                for name, estimator in self.estimators.items():
                    h, data_h, params = self.hashes[name]
                    tasks[self.inputs[name]].append(
                        _Task(
                            pipeline_name=name,
                            estimator=estimator,
                            params_hash=h,
                            data_hash=data_h,
                            fold=fold,
                            dataset=self.spec.code,
                            protocol=self.protocol_id,
                            scoring=self.spec.paradigm(self.inputs[name]).scoring,
                            n_classes=len(np.unique(y)),
                            n_sessions=n_sessions,
                            sessions=sessions,
                            params=params,
                            log_level=logger.level,
                            pretrained=self.pretrained,
                        )
                    )
            yield unit, tasks, {k: (X, y) for k, (X, _, _) in loaded.items()}


def _protocol_for(spec: BenchmarkDataset, protocol, params, random_state) -> Protocol:
    """The protocol to run on ``spec``: the dataset's defaults, then ``params``."""
    if isinstance(protocol, Protocol):
        if params:
            raise ValueError(
                "protocol_params applies to a protocol given by name; set the "
                f"parameters of the {type(protocol).__name__} object instead."
            )
        return protocol
    _validate_type(protocol, (str, Protocol, None), "protocol")
    name = spec.default_protocol if protocol in (None, "default") else protocol
    merged = {"random_state": random_state}  # dropped by protocols that do not shuffle
    if name == spec.default_protocol:
        merged.update(spec.protocol_params)
    merged.update(params or {})
    return make_protocol(name, **merged)


def _pipelines_for(spec: BenchmarkDataset, pipelines, budget, device, random_state):
    """Estimators given as objects as they are; names built with ``spec``'s budget."""
    if isinstance(pipelines, Mapping):
        return dict(pipelines)
    from .pipelines import PIPELINES, make_pipelines, resolve_model_name

    kwargs = dict(device=device, random_state=random_state,
                  **{**spec.budget, **(budget or {})})
    out, sfreq = {}, None
    for name in pipelines:
        # Only the networks that need it get the sampling rate (others' hashes
        # stay as they were).
        extra = {}
        if "sfreq" in PIPELINES[resolve_model_name(name)].needs:
            sfreq = sfreq or _sampling_rate(spec)
            extra["sfreq"] = sfreq
        out.update(make_pipelines([name], **kwargs, **extra))
    return out


def _sampling_rate(spec: BenchmarkDataset) -> float:
    """Sampling rate of the trials the pipelines get (networks that need it)."""
    paradigm = spec.paradigm()
    if getattr(paradigm, "resample", None):
        return float(paradigm.resample)
    # MOABB datasets do not state it: read the first subject's epochs.
    epochs, _, _ = paradigm.get_data(
        spec.dataset, subjects=spec.subjects[:1], return_epochs=True
    )
    return float(epochs.info["sfreq"])


def _plan(spec: BenchmarkDataset, proto: Protocol, subjects, estimators) -> _Plan:
    subjects = list(spec.subjects if subjects is None else subjects)
    spec.check_subjects(subjects)
    proto_id = proto.id
    if proto.scope == "dataset":
        # The training set depends on which subjects take part.
        proto_id += "[subjects=" + ",".join(map(str, sorted(subjects))) + "]"
    # Inputs without a paradigm of their own share the "signal" one (loaded once).
    inputs = {
        name: kind if kind in spec.paradigms else "signal"
        for name, kind in ((n, _input_kind(n)) for n in estimators)
    }
    hashes = {
        name: _fit_hash(est, spec.paradigm(inputs[name]))
        for name, est in estimators.items()
    }
    plan = _Plan(spec, proto, proto_id, subjects, estimators, inputs, hashes)
    plan.wanted = [(spec.code, proto_id, name, *hashes[name][:2]) for name in estimators]
    return plan


def _input_kind(name: str) -> str:
    try:
        return PIPELINES[resolve_model_name(name)].input
    except ValueError:
        return "signal"
