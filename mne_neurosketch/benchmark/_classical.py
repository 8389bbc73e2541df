"""Classical pipelines of the benchmark, one builder each, per paradigm.

As MOABB's benchmark configures them:

- SSVEP: OAS covariances of the filter bank stacked as channels, then the
  tangent space and a logistic regression (``TSLR``) or the minimum distance to
  the Riemannian mean (``MDM``); canonical correlation (``CCA``) and
  task-related component analysis (``TRCA``) against the stimulus frequencies.
- ERP: Xdawn covariances (2 filters per class, OAS), then the tangent space and
  a logistic regression (``XdawnTSLR``) or MDM (``XdawnMDM``).
- Transfer: ``TSLR-aligned`` / ``MDM-aligned`` re-centre each subject's
  covariances (:class:`~mne_neurosketch.alignment.RiemannianAlignment`).
"""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

__all__ = ["BUILDERS", "SSVEPEpochsAdapter"]


def _covariance_steps(aligned=False):
    from pyriemann.estimation import Covariances

    from ._filterbank import StackFilterBank

    steps = [("stack", StackFilterBank()), ("cov", Covariances(estimator="oas"))]
    if aligned:
        from ..alignment import RiemannianAlignment

        steps.append(("align", RiemannianAlignment(metric="riemann", estimator="oas")))
    return steps


def _xdawn_steps():
    from pyriemann.estimation import XdawnCovariances

    return [("xdawncov", XdawnCovariances(nfilter=2, estimator="oas",
                                          xdawn_estimator="scm"))]


def _tslr():
    from pyriemann.tangentspace import TangentSpace
    from sklearn.linear_model import LogisticRegression

    return [("ts", TangentSpace(metric="riemann")),
            ("lr", LogisticRegression(C=1.0, max_iter=1000))]


def _mdm():
    from pyriemann.classification import MDM

    return [("mdm", MDM(metric="riemann"))]


def _pipeline(*parts):
    from sklearn.pipeline import Pipeline

    return lambda **_: Pipeline([step for part in parts for step in part()])


class SSVEPEpochsAdapter(ClassifierMixin, BaseEstimator):
    """Run a MOABB SSVEP classifier that reads :class:`mne.Epochs` on arrays.

    MOABB's :class:`~moabb.pipelines.SSVEP_CCA` and
    :class:`~moabb.pipelines.SSVEP_TRCA` take Epochs and read the sampling
    frequency and each class's stimulus frequency from them; the benchmark
    hands arrays and encoded labels. This wraps the trials in an
    :class:`mne.EpochsArray` and names each class by its frequency.

    Parameters
    ----------
    estimator : sklearn estimator
        ``SSVEP_CCA()`` or ``SSVEP_TRCA()`` (cloned at fit).
    sfreq : float
        Sampling frequency of the trials (Hz).
    freqs : dict | list
        Stimulus frequency (Hz) of each class: ``{label: Hz}``, or a list in
        the order of the sorted class labels. Every class needs one: these
        methods cannot decode a class without a stimulus (e.g. "rest").

    Attributes
    ----------
    estimator_ : sklearn estimator
        The fitted MOABB classifier.
    classes_ : ndarray
        The class labels.
    """

    def __init__(self, estimator, sfreq, freqs):
        self.estimator = estimator
        self.sfreq = sfreq
        self.freqs = freqs

    def _class_freqs(self, classes):
        freqs = self.freqs
        if not isinstance(freqs, dict):
            freqs = list(freqs)
            if len(freqs) != len(classes):
                raise ValueError(
                    f"Invalid value for the 'freqs' parameter: {len(freqs)} "
                    f"frequencies for {len(classes)} classes {classes.tolist()}. Give "
                    "one stimulus frequency per class, in sorted label order."
                )
            freqs = dict(zip(classes, freqs))
        missing = [c for c in classes.tolist() if freqs.get(c) is None]
        if missing:
            raise ValueError(
                f"Invalid value for the 'freqs' parameter: class(es) {missing} have "
                "no stimulus frequency. CCA and TRCA decode stimulus frequencies "
                "only; select the stimulated classes (e.g. MOABB's SSVEP "
                "paradigm with events=[...])."
            )
        return {c: float(freqs[c]) for c in classes}

    def _epochs(self, X, y=None):
        import mne

        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3:
            raise ValueError(
                f"X must be 3-D (n_trials, n_chans, n_times), got shape {X.shape}. "
                "CCA and TRCA take the broad-band signal, not a filter bank."
            )
        info = mne.create_info(X.shape[1], float(self.sfreq), "eeg")
        codes = np.ones(len(X), int) if y is None else np.searchsorted(
            self.classes_, y) + 1
        events = np.column_stack([np.arange(len(X)), np.zeros(len(X), int), codes])
        event_id = {self.event_names_[c]: i + 1 for i, c in enumerate(self.classes_)}
        if y is None:  # test trials: any one declared event
            event_id = {next(iter(event_id)): 1}
        return mne.EpochsArray(X, info, events=events, event_id=event_id,
                               verbose=False)

    def fit(self, X, y):
        """Fit the MOABB classifier on the trials.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            The trials.
        y : array-like, shape (n_trials,)
            Their labels.

        Returns
        -------
        self : SSVEPEpochsAdapter
            The fitted classifier.
        """
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        freqs = self._class_freqs(self.classes_)
        self.event_names_ = {c: f"{freqs[c]:g}" for c in self.classes_}
        if len(set(self.event_names_.values())) != len(self.classes_):
            raise ValueError(f"Two classes share a stimulus frequency: {freqs}.")
        names = np.array([self.event_names_[c] for c in y])
        self.estimator_ = clone(self.estimator).fit(self._epochs(X, y), names)
        self.labels_of_ = {name: c for c, name in self.event_names_.items()}
        return self

    def predict(self, X):
        """Labels of the trials (``classes_`` values)."""
        check_is_fitted(self, "estimator_")
        names = self.estimator_.predict(self._epochs(X))
        return np.array([self.labels_of_[str(n)] for n in names])

    def predict_proba(self, X):
        """Scores of each class (rows sum to 1), in ``classes_`` order."""
        check_is_fitted(self, "estimator_")
        proba = np.asarray(self.estimator_.predict_proba(self._epochs(X)))
        # both MOABB classifiers order their scores as their sorted labels
        order = [list(self.estimator_.freqs_).index(self.event_names_[c])
                 for c in self.classes_]
        return proba[:, order]


def _ssvep(kind):
    def build(*, sfreq, freqs, **_):
        from moabb.pipelines import SSVEP_CCA, SSVEP_TRCA

        # TRCA's filter bank has at most one band per stimulus frequency.
        estimator = SSVEP_CCA(n_harmonics=3) if kind == "CCA" else SSVEP_TRCA(
            n_fbands=min(5, len(freqs)))
        return SSVEPEpochsAdapter(estimator, sfreq=sfreq, freqs=freqs)

    return build


#: Builder of each classical pipeline, by canonical name.
BUILDERS = {
    "TSLR": _pipeline(_covariance_steps, _tslr),
    "MDM": _pipeline(_covariance_steps, _mdm),
    "TSLR-aligned": _pipeline(lambda: _covariance_steps(aligned=True), _tslr),
    "MDM-aligned": _pipeline(lambda: _covariance_steps(aligned=True), _mdm),
    "XdawnTSLR": _pipeline(_xdawn_steps, _tslr),
    "XdawnMDM": _pipeline(_xdawn_steps, _mdm),
    "CCA": _ssvep("CCA"),
    "TRCA": _ssvep("TRCA"),
}
