"""Choose among candidate pipelines on a validation split of the training trials.

On small EEG datasets, which representation (raw signal, ERP prototypes,
narrow bands) or which training option suits a subject is itself a choice
learned from data. Making it on the test trials, or on the scores of a
cross-validation whose test folds also report the result, overstates the
accuracy. :class:`SelectByValidation` makes it on the training trials only
(nested validation): ``fit`` holds out one stratified split of them, trains
every candidate on the rest and keeps the one that scores best on the split.

:func:`fit_with_validation` fits an estimator with a given validation set: a
:class:`~mne_neurosketch.NeuroSketchClassifier` (or a pipeline ending with
one) then early-stops and chooses its best epoch on that set, instead of
holding out another part of its training trials. The selection and
:class:`~mne_neurosketch.ensemble.EnsembleClassifier` (whose members can each
validate on an inner fold) both use it.
"""

# License: BSD (3-clause)

from __future__ import annotations

import inspect
import numbers

import numpy as np
from scipy.sparse import issparse
from sklearn import get_config
from sklearn.base import ClassifierMixin, clone
from sklearn.metrics import check_scoring
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils import column_or_1d, get_tags
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .utils import _check_option, _log_level, _Rule, logger

__all__ = ["SelectByValidation", "fit_with_validation"]

_VALID_SIZE = _Rule(
    "numbers between 0 and 1 (a fraction) and positive integers (a number of "
    "trials)",
    lambda v: isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
    and (0 < v < 1 if not isinstance(v, numbers.Integral) else v >= 1))


# ------------------------------------------------------------------ shared helpers
def _routing_enabled():
    return bool(get_config().get("enable_metadata_routing", False))


def _n_trials(X):
    """Number of trials of ``X`` (an array, :class:`mne.Epochs`, a list...)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    return len(X) if hasattr(X, "__len__") else len(np.asarray(X))


def _take(X, indices):
    """Trials ``indices`` of ``X`` (an array, :class:`mne.Epochs`, a list...)."""
    if issparse(X):
        return X.tocsr()[indices]
    if hasattr(X, "iloc"):  # pandas
        return X.iloc[indices]
    if isinstance(X, (list, tuple)):
        return [X[i] for i in indices]
    if not hasattr(X, "__getitem__"):
        X = np.asarray(X)
    return X[indices]


def _labels(owner, X, y):
    """``y`` as a 1-D array of class labels, one per trial of ``X``."""
    if y is None:
        raise ValueError(
            f"{type(owner).__name__} requires y to be passed, but the target y is "
            "None. Pass the label of each training trial.")
    y = column_or_1d(y, warn=True)
    if len(y) == 0:
        raise ValueError(
            f"{type(owner).__name__} got 0 training trials; pass at least one trial "
            "of each of 2 classes.")
    check_classification_targets(y)
    if len(y) != _n_trials(X):
        raise ValueError(
            f"X and y have different numbers of trials: X has {_n_trials(X)} and y "
            f"has {len(y)}. Pass one label per trial.")
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"{type(owner).__name__} needs at least 2 classes to train, but y "
            f"contains only one class: {y[0]!r}.")
    return y


def _per_trial(name, value, n_trials):
    """Whether a fit parameter holds one entry per training trial.

    As scikit-learn's cross-validation does, an array-like as long as ``X`` is
    per trial (``subjects``, ``sample_weight``), except the parameters named
    ``X_*`` or ``y_*`` (``X_valid``, ``X_target_unlabeled``...), which hold
    other trials.
    """
    if name.rsplit("__", 1)[-1].startswith(("X_", "y_")):
        return False
    if not (hasattr(value, "shape") or isinstance(value, (list, tuple))):
        return False
    return _n_trials(value) == n_trials


def _trial_params(params, indices, n_trials):
    """The fit parameters of the trials ``indices`` (per-trial ones indexed)."""
    return {name: _take(value, indices) if _per_trial(name, value, n_trials) else value
            for name, value in params.items()}


def _tags_3d(tags, estimators):
    """Tags of a meta-estimator of ``estimators``: 2-D features and 3-D (4-D)
    trials, sparse input when all of them take it."""
    tags.input_tags.two_d_array = True
    tags.input_tags.three_d_array = True
    try:
        tags.input_tags.sparse = all(get_tags(e).input_tags.sparse for e in estimators)
    except (AttributeError, TypeError, ValueError):  # not (yet) valid estimators
        tags.input_tags.sparse = False
    return tags


# ------------------------------------------------------------------ validation
def _accepts_validation(estimator):
    """Whether ``estimator`` (or a pipeline's last step) takes ``X_valid``."""
    if isinstance(estimator, Pipeline):
        last = estimator.steps[-1][1]
        return last not in (None, "passthrough") and _accepts_validation(last)
    fit = getattr(estimator, "fit", None)
    if fit is None:
        return False
    parameters = inspect.signature(fit).parameters
    return "X_valid" in parameters and "y_valid" in parameters


def _pipeline_params(pipeline, params):
    """``{step name: {method: params}}`` of ``pipeline.fit(**params)``, as the
    pipeline itself routes them (by requests under metadata routing, by
    ``step__param`` names otherwise)."""
    if _routing_enabled():
        routed = process_routing(pipeline, "fit", **params)
        return {name: routed[name] for name, step in pipeline.steps
                if step not in (None, "passthrough")}
    out = {name: {"fit": {}, "fit_transform": {}} for name, _ in pipeline.steps}
    for key, value in params.items():
        step, sep, param = key.partition("__")
        if not sep or step not in out:
            raise ValueError(
                f"Pipeline.fit does not accept the {key} parameter. Pass parameters "
                "to specific steps of the pipeline as stepname__parameter, e.g. "
                f"{pipeline.steps[-1][0]}__{key}, or enable scikit-learn's "
                "metadata routing.")
        out[step]["fit"][param] = out[step]["fit_transform"][param] = value
    return out


def fit_with_validation(estimator, X_train, y_train, X_valid, y_valid, **fit_params):
    """Fit ``estimator`` on training trials with a given validation set.

    When the estimator's ``fit`` accepts ``X_valid`` and ``y_valid`` (as
    :meth:`NeuroSketchClassifier.fit <mne_neurosketch.NeuroSketchClassifier.fit>`
    does), it gets them, and early-stops and chooses its best epoch on them
    instead of holding out part of ``X_train``. A
    :class:`~sklearn.pipeline.Pipeline` whose last step accepts them has its
    front steps fitted on ``X_train`` (in place, as ``Pipeline.fit`` does),
    ``X_valid`` transformed through them, and its last step fitted with the
    transformed validation set. Any other estimator is fitted on ``X_train``
    alone.

    Parameters
    ----------
    estimator : estimator
        The (unfitted) classifier or pipeline; fitted in place.
    X_train : array-like, shape (n_trials, ...)
        Training trials.
    y_train : array-like, shape (n_trials,)
        Their labels.
    X_valid : array-like, shape (n_valid, ...)
        Validation trials.
    y_valid : array-like, shape (n_valid,)
        Their labels.
    **fit_params : dict
        Other parameters of ``fit``, for the training trials (e.g.
        ``subjects``). A pipeline routes them as its own ``fit`` would.

    Returns
    -------
    estimator : estimator
        The fitted estimator.
    """
    if not _accepts_validation(estimator):
        return estimator.fit(X_train, y_train, **fit_params)
    if not isinstance(estimator, Pipeline):
        return estimator.fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid,
                             **fit_params)
    params = _pipeline_params(estimator, fit_params)
    *front, (last_name, last) = estimator.steps
    for name, step in front:
        if step in (None, "passthrough"):
            continue
        step_params = params[name]
        if hasattr(step, "fit_transform"):
            X_train = step.fit_transform(X_train, y_train,
                                         **step_params.get("fit_transform", {}))
        else:
            X_train = step.fit(X_train, y_train, **step_params.get("fit", {})
                               ).transform(X_train, **step_params.get("transform", {}))
        # The validation trials only pass through what the training trials fitted.
        X_valid = step.transform(X_valid)
    fit_with_validation(last, X_train, y_train, X_valid, y_valid,
                        **params[last_name].get("fit", {}))
    return estimator


# ------------------------------------------------------------------ the selection
def _rank(score):
    """A score for comparisons: NaN (a failed scoring) ranks last."""
    return -np.inf if np.isnan(score) else score


def _check_candidates(candidates):
    """``candidates`` as a list of ``(name, estimator)`` pairs, or a clear error."""
    prefix = "Invalid value for the 'candidates' parameter"
    if not isinstance(candidates, (list, tuple)) or len(candidates) == 0:
        raise ValueError(
            f"{prefix}: expected a non-empty list of (name, estimator) pairs, like "
            f"the steps of a Pipeline, but got {candidates!r} instead.")
    for item in candidates:
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and isinstance(item[0], str)):
            raise ValueError(
                f"{prefix}: each candidate must be a (name, estimator) pair with a "
                f"str name, but got {item!r}.")
        if not hasattr(item[1], "fit"):
            raise ValueError(
                f"{prefix}: candidate {item[0]!r} is not an estimator (it has no "
                f"fit method): {item[1]!r}.")
    names = [name for name, _ in candidates]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(
            f"{prefix}: names must be unique, but got {', '.join(map(repr, twice))} "
            "more than once.")
    return list(candidates)


class SelectByValidation(ClassifierMixin, _BaseComposition):
    """Keep the candidate that scores best on a validation split of the training set.

    ``fit`` holds out one stratified split of the training trials
    (``valid_size`` of them), fits a clone of every candidate on the rest with
    :func:`fit_with_validation`, scores it on the split and keeps the best one,
    the first listed on a tie. A
    :class:`~mne_neurosketch.NeuroSketchClassifier` candidate early-stops and
    chooses its best epoch on that same split, so its score there is that of
    the epoch it kept. The chosen candidate is kept as fitted and is **not**
    refitted on all trials: it already chose its best epoch on this split, and
    a refit would have no validation trials left to choose one. Every choice
    is made on the training trials only, so a cross-validation of this
    estimator measures the whole procedure (nested validation).

    Parameters
    ----------
    candidates : list of (str, estimator)
        The candidates, named as the steps of a
        :class:`~sklearn.pipeline.Pipeline` (unique names), e.g. the same
        network on the raw trials and after
        :class:`~mne_neurosketch.representations.ERPPrototypes`.
    valid_size : float | int, default=0.2
        Fraction (or number) of the training trials held out, stratified.
    scoring : str | callable | None
        How a candidate is scored on the split
        (:func:`sklearn.metrics.check_scoring`); ``None`` uses its ``score``
        (accuracy for classifiers).
    random_state : int | numpy.random.RandomState | None
        Seeds the split; the candidates keep their own ``random_state``.
    verbose : bool | str | int | None
        MNE-style log level of this estimator's calls (``None``: the current
        MNE level). At ``"INFO"`` the scores and the choice are logged.

    Attributes
    ----------
    best_name_ : str
        Name of the chosen candidate.
    best_estimator_ : estimator
        The chosen candidate, fitted on the training part of the split.
    validation_scores_ : dict
        Score of each candidate on the split, by name, in the order listed.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features (channels for trials) seen in ``fit``, when the
        chosen candidate has it.

    See Also
    --------
    mne_neurosketch.ensemble.EnsembleClassifier
    sklearn.model_selection.GridSearchCV

    Notes
    -----
    Under scikit-learn's metadata routing each candidate gets the parameters it
    requests, as in a pipeline; otherwise every candidate gets every fit
    parameter. Parameters with one entry per trial (``subjects``) are split
    with the trials.
    """

    def __init__(self, candidates, *, valid_size=0.2, scoring=None, random_state=None,
                 verbose=None):
        self.candidates = candidates
        self.valid_size = valid_size
        self.scoring = scoring
        self.random_state = random_state
        self.verbose = verbose

    def get_params(self, deep=True):
        """Get the parameters, and the candidates' as ``<name>__<param>``.

        Parameters
        ----------
        deep : bool, default=True
            Also return the candidates' parameters (as a Pipeline does for its
            steps), so that a grid search or a results hash sees them.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("candidates", deep=deep)

    def set_params(self, **params):
        """Set the parameters, and the candidates' as ``<name>__<param>``.

        Parameters
        ----------
        **params : dict
            Parameters of this estimator or of its candidates.

        Returns
        -------
        self : SelectByValidation
            This estimator.
        """
        self._set_params("candidates", **params)
        return self

    def __sklearn_tags__(self):
        candidates = self.candidates if isinstance(self.candidates, (list, tuple)) else []
        return _tags_3d(super().__sklearn_tags__(),
                        [c[1] for c in candidates if isinstance(c, (list, tuple))
                         and len(c) == 2])

    def get_metadata_routing(self):
        """Get the metadata routing of this object: ``fit`` to each candidate's.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
            The routing.
        """
        router = MetadataRouter(owner=self)
        for name, candidate in _check_candidates(self.candidates):
            router.add(method_mapping=MethodMapping().add(caller="fit", callee="fit"),
                       **{name: candidate})
        return router

    def fit(self, X, y, **fit_params):
        """Fit every candidate on a split of ``X`` and keep the best one.

        Parameters
        ----------
        X : array-like, shape (n_trials, ...)
            Training trials (2-D features, 3-D trials, 4-D filter banks).
        y : array-like, shape (n_trials,)
            Their labels.
        **fit_params : dict
            Parameters of the candidates' ``fit`` (e.g. ``subjects``).

        Returns
        -------
        self : SelectByValidation
            The fitted selection.
        """
        with _log_level(self.verbose):
            candidates = _check_candidates(self.candidates)
            _check_option("valid_size", self.valid_size, (_VALID_SIZE,))
            y = _labels(self, X, y)
            train, valid = self._split(y)
            if _routing_enabled():
                routed = process_routing(self, "fit", **fit_params)
                params = {name: routed[name].fit for name, _ in candidates}
            else:
                params = {name: fit_params for name, _ in candidates}
            X_tr, X_va = _take(X, train), _take(X, valid)
            logger.info(f"Selecting among {len(candidates)} candidates on "
                        f"{len(valid)} validation trials ({len(train)} for training).")
            scores, best = {}, None
            for name, candidate in candidates:
                fitted = fit_with_validation(
                    clone(candidate), X_tr, y[train], X_va, y[valid],
                    **_trial_params(params[name], train, len(y)))
                scores[name] = float(check_scoring(fitted, self.scoring)(
                    fitted, X_va, y[valid]))
                logger.info(f"  {name}: {scores[name]:.4f}")
                if best is None or _rank(scores[name]) > _rank(scores[best[0]]):
                    best = (name, fitted)
            self.validation_scores_ = scores
            self.best_name_, self.best_estimator_ = best
            logger.info(f"Chose {self.best_name_!r} "
                        f"(validation score {scores[self.best_name_]:.4f}).")
            self.classes_ = np.asarray(self.best_estimator_.classes_)
            if hasattr(self.best_estimator_, "n_features_in_"):
                self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    def _split(self, y):
        """Indices of the training and validation trials."""
        try:
            return train_test_split(np.arange(len(y)), test_size=self.valid_size,
                                    stratify=y, random_state=self.random_state)
        except ValueError as err:
            raise ValueError(
                f"Cannot hold out a stratified validation split with valid_size="
                f"{self.valid_size!r} from {len(y)} trials of {len(np.unique(y))} "
                f"classes ({err}). Each class needs at least 2 trials and the split "
                "at least one trial per class; change valid_size.") from None

    def predict(self, X):
        """Predict class labels with the chosen candidate.

        Parameters
        ----------
        X : array-like, shape (n_trials, ...)
            Trials shaped like the training trials.

        Returns
        -------
        y_pred : ndarray of shape (n_trials,)
            Predicted labels.
        """
        check_is_fitted(self, "best_estimator_")
        with _log_level(self.verbose):
            return self.best_estimator_.predict(X)

    def predict_proba(self, X):
        """Class probabilities of the chosen candidate.

        Parameters
        ----------
        X : array-like, shape (n_trials, ...)
            Trials shaped like the training trials.

        Returns
        -------
        proba : ndarray of shape (n_trials, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self, "best_estimator_")
        with _log_level(self.verbose):
            return self.best_estimator_.predict_proba(X)

    def score(self, X, y, sample_weight=None):
        """The chosen candidate's ``score`` (accuracy for classifiers).

        Parameters
        ----------
        X : array-like, shape (n_trials, ...)
            Test trials.
        y : array-like, shape (n_trials,)
            True labels.
        sample_weight : array-like of shape (n_trials,) | None
            Sample weights.

        Returns
        -------
        score : float
            The score.
        """
        check_is_fitted(self, "best_estimator_")
        with _log_level(self.verbose):
            if sample_weight is None:
                return self.best_estimator_.score(X, y)
            return self.best_estimator_.score(X, y, sample_weight=sample_weight)
