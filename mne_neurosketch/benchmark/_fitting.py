"""One fit of the benchmark: a picklable task, and how it is fitted and scored.

A :class:`_Task` is what an executor (:mod:`._executors`) runs, in this process
or on a Dask worker: :func:`_run_task` fits a clone of its pipeline on the
fold's training trials and returns one row per scored session, as plain dicts
for the :class:`~mne_neurosketch.benchmark.store.ResultsStore`. Dask pickles
the task and :func:`_run_task` by their qualified names, so both live at the
top level of this module.
"""

# License: BSD (3-clause)

from __future__ import annotations

import inspect
import json
import socket
import time
from dataclasses import dataclass
from hashlib import sha1
from logging import DEBUG, WARNING

import numpy as np
import pandas as pd
from mne.utils import use_log_level
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, get_scorer

from ..datasets._array import WindowsArray
from .pipelines import _stable, params_hash, pipeline_params
from .protocols import Fold
from .store import fit_key


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


# ----------------------------------------------------------------------------- keys
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


def _task_keys(task: _Task) -> list[str]:
    """The store keys of the rows ``task`` writes (one per scored session)."""
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


# ----------------------------------------------------------------------------- devices
def _device_params(estimator) -> dict:
    """The estimator's torch ``device`` parameters (a network's, nested or not)."""
    return {
        name: value
        for name, value in estimator.get_params().items()
        if name == "device" or name.endswith("__device")
    }


def _uses_device(estimator) -> bool:
    """Whether the estimator has a torch ``device`` (a network to train)."""
    return bool(_device_params(estimator))


def _on_cuda(device) -> bool:
    """Whether a ``device`` parameter puts its network on a GPU of this machine."""
    from ..numerics import resolve_device

    if device is None:  # skorch's "leave the module where it is": the CPU here
        return False
    try:
        return str(resolve_device(str(device))).startswith("cuda")
    except ValueError:  # no CUDA here (or no device torch knows): not on a GPU
        return False


def _final_step(estimator):
    """The estimator itself, or the last step of a Pipeline."""
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _numerics_of(estimator) -> str:
    """How a fitted network computed: its training and inference paths."""
    final = _final_step(estimator)
    paths = [getattr(final, name, None) for name in ("train_path_", "inference_path_")]
    return " / ".join(p for p in paths if p)  # no "|": it lands in Markdown tables


def _choices_of(estimator) -> dict:
    """What a fit chose on its training trials: the fine-tuning epoch it kept
    (``finetune_epoch0``; 0 is the pretrained weights), the candidate a
    :class:`~mne_neurosketch.SelectByValidation` kept."""
    final = _final_step(estimator)
    choices = {}
    if getattr(final, "finetune_epoch_", None) is not None:
        choices["finetune_epoch"] = int(final.finetune_epoch_)
    if getattr(final, "best_name_", None) is not None:
        choices["chosen"] = str(final.best_name_)
        choices["validation_scores"] = {
            k: float(v) for k, v in final.validation_scores_.items()}
    return choices


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
            if device == "auto":  # a fitted estimator ran: only "auto" to resolve
                from ..numerics import resolve_device

                device = resolve_device(device)
            return device
    return "cpu"


# ----------------------------------------------------------------------------- fitting
def _input_for(estimator, X):
    """Lazy windows go to the deep estimator as they are (it streams them); other
    pipelines get the float64 array MOABB would have given them."""
    from ..estimator import NeuroSketchClassifier

    if isinstance(X, WindowsArray) and not isinstance(estimator, NeuroSketchClassifier):
        return X.to_numpy(np.float64)
    return X


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
        from .pipelines import pretraining_key
        from .transfer import cache_file, fit_transfer

        cache = task.pretrained and cache_file(
            task.pretrained, task.dataset,
            *pretraining_key(task.pipeline_name, task.estimator), task.fold
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
    choices = _choices_of(estimator)
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
                    **({"choices": choices} if choices else {}),
                ),
            )
        )
    return rows
