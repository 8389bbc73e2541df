"""Average several trainings of one classifier to reduce its variance.

A network trained on a small EEG dataset (tens to a few hundred trials) gives
noticeably different predictions from one seed to the next, and from one
validation hold-out to the next: which trials it validated on decides its
best epoch. :class:`EnsembleClassifier` trains several members and averages
their probabilities, which lowers that variance at the price of training time:

- ``members="seeds"``: the same training set, a different seed per member
  (weights, shuffling, augmentations, hold-out);
- ``members="folds"``: stratified folds of the training trials; each member
  trains on all folds but one and validates on that one (early stopping and
  best epoch, through
  :func:`~mne_neurosketch.selection.fit_with_validation`), so every training
  trial is used for training by all members but one and for validation by
  exactly one.

Every member is fitted on the training trials only, so a cross-validation of
the ensemble measures the whole procedure.
"""

# License: BSD (3-clause)

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.validation import check_is_fitted

from .selection import (
    _labels,
    _routing_enabled,
    _tags_3d,
    _take,
    _trial_params,
    fit_with_validation,
)
from .utils import _check_option, _log_level, _Rule, logger, warn

__all__ = ["EnsembleClassifier"]

_AT_LEAST_TWO = _Rule("integers of at least 2", lambda v: isinstance(
    v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 2)
_SEED_MAX = np.iinfo(np.int32).max


def _seed_names(estimator):
    """The ``random_state`` parameters of ``estimator`` (nested ones too)."""
    return sorted(name for name in estimator.get_params(deep=True)
                  if name == "random_state" or name.endswith("__random_state"))


class EnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Average the probabilities of several trainings of one classifier.

    Each member is a clone of ``estimator`` whose ``random_state`` parameters
    (its own and those of nested steps, ``step__random_state``) are set to
    integers drawn from ``random_state``. See the module docstring for the two
    kinds of members.

    Parameters
    ----------
    estimator : estimator
        The classifier (or pipeline) to train several times; it must have
        ``predict_proba``, e.g. a
        :class:`~mne_neurosketch.NeuroSketchClassifier`.
    n_members : int, default=5
        Number of members (at least 2); with ``members="folds"``, the number
        of folds.
    members : {"seeds", "folds"}, default="seeds"
        ``"seeds"``: every member trains on all trials with its own seed.
        ``"folds"``: member ``k`` trains on all stratified folds but the
        ``k``-th, and validates on it when its (last step's) ``fit`` accepts
        ``X_valid`` (as :class:`~mne_neurosketch.NeuroSketchClassifier` does);
        each class needs at least ``n_members`` trials.
    random_state : int | numpy.random.RandomState | None
        Seeds the members' seeds and the folds. With an int, two fits draw the
        same seeds.
    verbose : bool | str | int | None
        MNE-style log level of this estimator's calls (``None``: the current
        MNE level). At ``"INFO"`` each member is logged as it starts.

    Attributes
    ----------
    estimators_ : list of estimator
        The fitted members.
    valid_indices_ : list of ndarray | None
        With ``members="folds"``, the training trials (indices into ``X``)
        each member validated on; ``None`` with ``members="seeds"``.
    classes_ : ndarray of shape (n_classes,)
        Class labels (the same for every member).
    n_features_in_ : int
        Number of features (channels for trials) seen in ``fit``, when the
        members have it.

    See Also
    --------
    mne_neurosketch.selection.SelectByValidation
    sklearn.ensemble.BaggingClassifier

    Notes
    -----
    Fit parameters go to every member's ``fit`` (under scikit-learn's
    metadata routing, those the estimator requests). With ``members="folds"``
    the parameters with one entry per trial (``subjects``, ``sample_weight``)
    are split with the trials; ``X_valid`` cannot be passed, each member
    validating on its own fold. Training time is ``n_members`` times that of
    one fit.
    """

    def __init__(self, estimator, *, n_members=5, members="seeds", random_state=None,
                 verbose=None):
        self.estimator = estimator
        self.n_members = n_members
        self.members = members
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        return _tags_3d(super().__sklearn_tags__(), [self.estimator])

    def get_metadata_routing(self):
        """Get the metadata routing of this object: ``fit`` to the estimator's.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
            The routing.
        """
        return MetadataRouter(owner=self).add(
            estimator=self.estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"))

    def _check_params(self, fit_params):
        _check_option("members", self.members, ("seeds", "folds"))
        _check_option("n_members", self.n_members, (_AT_LEAST_TWO,))
        if not (hasattr(self.estimator, "fit") and hasattr(self.estimator,
                                                           "predict_proba")):
            raise ValueError(
                "Invalid value for the 'estimator' parameter: the ensemble averages "
                "probabilities, so it needs a classifier with fit and predict_proba, "
                f"but got {self.estimator!r}.")
        if self.members == "folds" and {"X_valid", "y_valid"} & set(fit_params):
            raise ValueError(
                "X_valid and y_valid cannot be passed with members='folds': each "
                "member validates on its own fold of X. Leave them out, or use "
                "members='seeds'.")

    def _folds(self, y, rng):
        """Training and validation indices of each member (``None``: all trials)."""
        if self.members == "seeds":
            return [(None, None)] * self.n_members
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() < self.n_members:
            raise ValueError(
                f"members='folds' with n_members={self.n_members} needs at least "
                f"{self.n_members} trials of each class (one per fold), but class "
                f"{classes[counts.argmin()]!r} has {counts.min()}. Use fewer members "
                f"(n_members={max(2, counts.min())} or less), or members='seeds'.")
        cv = StratifiedKFold(self.n_members, shuffle=True,
                             random_state=rng.randint(_SEED_MAX))
        return list(cv.split(np.zeros((len(y), 1)), y))

    def _seeded_clone(self, rng, names):
        member = clone(self.estimator)
        member.set_params(**{name: int(rng.randint(_SEED_MAX)) for name in names})
        return member

    def fit(self, X, y, **fit_params):
        """Train the members.

        Parameters
        ----------
        X : array-like, shape (n_trials, ...)
            Training trials (2-D features, 3-D trials, 4-D filter banks).
        y : array-like, shape (n_trials,)
            Their labels.
        **fit_params : dict
            Parameters of the members' ``fit`` (e.g. ``subjects``).

        Returns
        -------
        self : EnsembleClassifier
            The fitted ensemble.
        """
        with _log_level(self.verbose):
            self._check_params(fit_params)
            y = _labels(self, X, y)
            if _routing_enabled():
                fit_params = process_routing(self, "fit", **fit_params).estimator.fit
            rng = check_random_state(self.random_state)
            folds = self._folds(y, rng)
            names = _seed_names(self.estimator)
            if not names and self.members == "seeds":
                warn(f"{type(self.estimator).__name__} has no random_state parameter: "
                     "with members='seeds' the members differ only if its fit is "
                     "random by itself.")
            members = []
            for k, (train, valid) in enumerate(folds, start=1):
                member = self._seeded_clone(rng, names)
                if train is None:
                    logger.info(f"Ensemble member {k}/{self.n_members}: all "
                                f"{len(y)} trials, seed(s) "
                                f"{[member.get_params()[n] for n in names]}.")
                    member.fit(X, y, **fit_params)
                else:
                    logger.info(f"Ensemble member {k}/{self.n_members}: {len(train)} "
                                f"training trials, validated on fold {k} "
                                f"({len(valid)} trials).")
                    fit_with_validation(member, _take(X, train), y[train],
                                        _take(X, valid), y[valid],
                                        **_trial_params(fit_params, train, len(y)))
                members.append(member)
            self._set_members(members, [v for _, v in folds])
        return self

    def _set_members(self, members, valid):
        classes = [np.asarray(m.classes_) for m in members]
        for k, c in enumerate(classes[1:], start=2):
            if not np.array_equal(c, classes[0]):
                raise ValueError(
                    f"Ensemble member {k} learned the classes {c.tolist()} but member "
                    f"1 learned {classes[0].tolist()}; their probabilities cannot be "
                    "averaged. Give every member all classes.")
        self.estimators_ = members
        self.valid_indices_ = None if valid[0] is None else valid
        self.classes_ = classes[0]
        if hasattr(members[0], "n_features_in_"):
            self.n_features_in_ = members[0].n_features_in_

    def predict_proba(self, X):
        """Class probabilities: the mean of the members' probabilities.

        Parameters
        ----------
        X : array-like, shape (n_trials, ...)
            Trials shaped like the training trials.

        Returns
        -------
        proba : ndarray of shape (n_trials, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self, "estimators_")
        with _log_level(self.verbose):
            return np.mean([m.predict_proba(X) for m in self.estimators_], axis=0)

    def predict(self, X):
        """Predict class labels: the most probable class of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like, shape (n_trials, ...)
            Trials shaped like the training trials.

        Returns
        -------
        y_pred : ndarray of shape (n_trials,)
            Predicted labels, from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
