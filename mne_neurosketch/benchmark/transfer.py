"""Fits of the transfer protocols: pretrain on other subjects, then fine-tune.

The transfer protocols of :mod:`~mne_neurosketch.benchmark.protocols`
(``transfer``, ``zero-shot`` and their ``-unaligned`` variants) give folds
whose ``source`` trials are every trial of the OTHER subjects and whose
``train``/``test`` trials are the target subject's within-session fold.
:func:`fit_transfer` turns such a fold into a fitted estimator:

1. Alignment (``fold.align``): every subject is re-centred on its own
   unlabelled trials (:mod:`mne_neurosketch.alignment`); the target's
   reference is its training fold (``fold.reference``), never its test fold.
   Networks get :class:`~mne_neurosketch.alignment.EuclideanAlignment` of the
   signals; a pipeline with pyriemann's ``Covariances`` gets
   :class:`~mne_neurosketch.alignment.RiemannianAlignment` right after it.
2. Pretraining on the source trials. The pretrained model is cached on disk
   per (dataset, left-out subject, pipeline, parameters hash, alignment,
   source subjects), so the target's folds, the ``zero-shot`` protocol and a
   resumed run all reuse it (a network in its ``save`` format, ``.pt``; a
   classical pipeline pickled, ``.pkl``: read only files this cache wrote). A
   pretraining is written to a temporary file and renamed when finished: an
   interrupted one leaves no file that would be reused, a finished one is
   never recomputed. A lock file keeps two Dask workers from pretraining the
   same model at once.
   A network with ``domain_bn`` pretrains on one source subject per batch
   (``subjects``). The cache key leaves out the settings of the fine-tuning
   alone (:func:`~mne_neurosketch.benchmark.pipelines.pretraining_key`), so
   ``NeuroSketch+epoch0`` fine-tunes the models ``NeuroSketch`` pretrained.
3. Fine-tuning on the target's training fold (``transfer``): the network
   starts from the pretrained weights (``init_weights``, so its ``freeze``,
   ``finetune_lr_scale``, ``finetune_epochs`` and ``finetune_epoch0`` apply);
   a classical pipeline, or any estimator without weights to start from (an
   ensemble), is refitted on the source trials and the target's training fold
   together. ``zero-shot`` skips this step; with ``domain_bn``, the
   pretrained network then takes the BatchNorm statistics of the target's
   reference (``adapt_domain``), its unlabelled training fold.

The returned estimator is a :class:`~sklearn.pipeline.Pipeline` that aligns
the target's trials with the target's reference before predicting.
"""

# License: BSD (3-clause)

from __future__ import annotations

import contextlib
import copy
import os
import pickle
import re
from hashlib import sha1
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from ..alignment import EuclideanAlignment, RiemannianAlignment
from ..datasets._array import WindowsArray
from ..utils import logger

__all__ = ["fit_transfer", "pretrained_dir"]


def pretrained_dir(results_path) -> Path:
    """The cache of pretrained models of a results file: ``<stem>.pretrained/``.

    Parameters
    ----------
    results_path : path-like
        The results file (SQLite).

    Returns
    -------
    folder : pathlib.Path
        The folder next to it (created when a model is first written).
    """
    path = Path(results_path)
    return path.with_name(path.stem + ".pretrained")


def _array(X) -> np.ndarray:
    """Trials as an array (lazy corpus windows are read)."""
    if isinstance(X, WindowsArray):
        return X.to_numpy(np.float32)
    return np.asarray(X)


def _split_pipeline(estimator, align: bool):
    """``(front steps, aligner, back estimator)`` of ``estimator``.

    The front steps (e.g. filter-bank stacking and covariances) are per-trial
    and unsupervised; the aligner goes between them and the back.
    """
    if not align:
        return [], None, estimator
    if isinstance(estimator, Pipeline):
        from pyriemann.estimation import Covariances

        steps = list(estimator.steps)
        for i, (_, step) in enumerate(steps):
            if isinstance(step, Covariances):
                back = steps[i + 1:]
                back = back[0][1] if len(back) == 1 else Pipeline(back)
                aligner = RiemannianAlignment(estimator=step.estimator)
                return steps[: i + 1], aligner, back
    return [], EuclideanAlignment(), estimator


def _front(steps, X):
    for _, step in steps:
        X = step.fit_transform(X)
    return X


def _has_weights(estimator) -> bool:
    """Whether the estimator can start a fit from pretrained weights."""
    return "init_weights" in estimator.get_params(deep=False)


def cache_file(cache_dir, dataset, pipeline, params_hash, fold) -> Path:
    """The file of the model pretrained for ``fold``'s target subject.

    Parameters
    ----------
    cache_dir : path-like
        The cache folder (see :func:`pretrained_dir`).
    dataset, pipeline, params_hash : str
        The dataset code, pipeline name and parameters hash of the fit.
    fold : Fold
        A transfer fold (its target subject, alignment and source subjects
        decide the pretraining).

    Returns
    -------
    path : pathlib.Path
        The ``.pt`` file (written by the estimator's ``save``).
    """
    subjects = ",".join(sorted(set(map(str, fold.source_subjects))))
    tag = sha1(f"{subjects}|{len(fold.source)}".encode()).hexdigest()[:8]
    safe = re.compile(r"[^\w.-]+")
    kind = "aligned" if fold.align else "raw"
    name = f"{kind}-{tag}-subject-{safe.sub('_', str(fold.subject))}.pt"
    folder = Path(cache_dir) / safe.sub("_", dataset)
    return folder / f"{safe.sub('_', pipeline)}-{params_hash}" / name


@contextlib.contextmanager
def _lock(path: Path):
    """Hold an exclusive lock on ``path``'s lock file (released if the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no advisory locks on Windows
        yield
        return
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _save(model, path: Path) -> None:
    if hasattr(model, "save"):  # the estimator's own portable format
        model.save(path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(model, fh)


def _load(back, path: Path):
    if hasattr(back, "save"):
        return type(back).load(path)
    with open(path, "rb") as fh:  # a file this cache wrote
        return pickle.load(fh)


def _domain_bn(estimator) -> bool:
    """Whether the network keeps per-subject BatchNorm statistics."""
    return bool(estimator.get_params(deep=False).get("domain_bn"))


def _fit_source(back, X, y, subjects):
    """Fit a clone of ``back`` on the source trials (by subject with domain_bn)."""
    if _domain_bn(back):
        return clone(back).fit(X, y, subjects=subjects)
    return clone(back).fit(X, y)


def _pretrain(back, source, path: Path | None):
    """Fit ``back`` on ``source()``'s trials, or read the cached fit from ``path``."""
    if path is None:
        return _fit_source(back, *source())
    if not hasattr(back, "save"):
        path = path.with_suffix(".pkl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path):
        if path.is_file():
            logger.info(f"Reusing the pretrained model {path}")
            return _load(back, path)
        X, y, subjects = source()
        logger.info(f"Pretraining on {len(y)} trials; saving it to {path}")
        model = _fit_source(back, X, y, subjects)
        # The runner's progress hook is not a parameter worth saving.
        callbacks = back.get_params(deep=False).get("callbacks")
        if isinstance(callbacks, list):
            model.set_params(
                callbacks=[c for c in callbacks if c[0] != "neurosketch_progress"]
                or None
            )
        partial = path.with_name(f"{path.name}.{os.getpid()}.part")
        _save(model, partial)
        os.replace(partial, path)  # atomic: the file exists only when complete
    return model


def _check_no_leak(fold) -> None:
    """The target subject's trials never reach the pretraining."""
    target = np.concatenate([fold.train, fold.test, fold.reference])
    if np.isin(fold.source, target).any() or str(fold.subject) in set(
        map(str, fold.source_subjects)
    ):
        raise RuntimeError(
            f"Transfer fold of subject {fold.subject}: target trials are in the "
            "pretraining set. This is a bug; please report it."
        )


def fit_transfer(estimator, X, y, fold, cache: Path | None = None):
    """Pretrain on ``fold.source``, fine-tune on ``fold.train``; see the module doc.

    Parameters
    ----------
    estimator : sklearn.base.BaseEstimator
        The unfitted pipeline.
    X : ndarray | WindowsArray
        The trials of every subject (indexed by the fold).
    y : ndarray
        Their labels.
    fold : Fold
        A transfer fold (``fold.source`` is set).
    cache : path-like | None
        The pretrained model's file (:func:`cache_file`); ``None`` pretrains
        without caching.

    Returns
    -------
    estimator : sklearn.pipeline.Pipeline
        Fitted; it aligns the target's trials before predicting.
    """
    _check_no_leak(fold)
    front, aligner, back = _split_pipeline(estimator, fold.align)

    def source():  # only computed when no cached model spares it
        X_src = _front(front, _array(X[fold.source]))
        if aligner is not None:  # each source subject on its own reference
            X_src = clone(aligner).fit_transform(X_src, subjects=fold.source_subjects)
        return X_src, y[fold.source], fold.source_subjects

    X_tgt = _front(front, _array(X[fold.train])) if len(fold.train) else None
    # the target's reference (its unlabelled training fold, never its test fold)
    reference = _front(front, _array(X[fold.reference]))
    if aligner is not None:
        aligner.fit(reference, X_target_unlabeled=reference)
        reference = aligner.transform(reference)
        if X_tgt is not None:
            X_tgt = aligner.transform(X_tgt)
    if _has_weights(back):
        model = _pretrain(back, source, cache)
        if X_tgt is not None:
            init = str(cache) if cache is not None else model
            model = clone(back).set_params(init_weights=init).fit(X_tgt, y[fold.train])
        elif _domain_bn(back):  # zero-shot: the target's statistics, of its reference
            model = copy.deepcopy(model).adapt_domain(reference)
    elif X_tgt is not None:  # no weights to start from: source + target together
        X_src, y_src, _ = source()
        model = clone(back).fit(
            np.concatenate([X_src, X_tgt]), np.concatenate([y_src, y[fold.train]])
        )
    else:  # the same source model for every fold of the target: cached too
        model = _pretrain(back, source, cache)
    steps = list(front) + ([("align", aligner)] if aligner is not None else [])
    return Pipeline([*steps, ("model", model)])
