"""Euclidean alignment with a reference that keeps learning online."""

# License: BSD (3-clause)

from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..alignment import EuclideanAlignment, _out_dtype

__all__ = ["RunningAlignment"]


class _Whitening(EuclideanAlignment):
    """EuclideanAlignment's maths on a reference given as it is: its input
    checks, its mean covariance, its ridge and inverse square root."""

    def _reference(self, X):
        return X if X.ndim == 2 else super()._reference(X)


class RunningAlignment(TransformerMixin, BaseEstimator):
    """Euclidean alignment whose reference is a running mean (He & Wu 2020).

    The reference is the mean spatial covariance of every trial seen so far:
    the calibration trials given to :meth:`fit` (the warm start), then each
    unlabelled window passed to :meth:`partial_fit`, all weighted alike. After
    the same trials, in any number of calls, it is the reference of
    :class:`~mne_neurosketch.alignment.EuclideanAlignment` on those trials, and
    :meth:`transform` whitens as that batch alignment does (the same ridge and
    inverse square root). :class:`OnlineDecoder` updates it with each window
    before aligning that window (``alignment=``).

    Parameters
    ----------
    reg : float
        Ridge added to the reference, relative to its mean eigenvalue, as in
        :class:`~mne_neurosketch.alignment.EuclideanAlignment`.

    Attributes
    ----------
    sum_ : ndarray, shape (n_chans, n_chans)
        Sum of the per-trial covariances seen so far.
    n_trials_ : int
        Number of trials seen so far.
    n_features_in_ : int
        Number of channels.
    """

    def __init__(self, reg=1e-6):
        self.reg = reg

    def _maths(self):
        return _Whitening(reg=self.reg)

    def fit(self, X, y=None):
        """Start the reference from calibration trials (labels are not used).

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            Calibration trials of the subject (and session) to decode.
        y : None
            Ignored.

        Returns
        -------
        self : RunningAlignment
            The fitted alignment.
        """
        for name in ("sum_", "n_trials_", "n_features_in_"):
            self.__dict__.pop(name, None)
        return self.partial_fit(X)

    def partial_fit(self, X, y=None):
        """Add trials (unlabelled windows) to the running reference.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            The new trials.
        y : None
            Ignored.

        Returns
        -------
        self : RunningAlignment
            The updated alignment.
        """
        maths = self._maths()
        X = self._check_channels(maths._check_X(X), "started on")
        if len(X) == 0:
            return self
        # EuclideanAlignment's reference is a mean over trials: keep the sum
        part = maths._reference(X) * len(X)
        self.sum_ = part if not hasattr(self, "sum_") else self.sum_ + part
        self.n_trials_ = getattr(self, "n_trials_", 0) + len(X)
        self.n_features_in_ = X.shape[1]
        return self

    def _check_channels(self, X, verb):
        n = getattr(self, "n_features_in_", None)
        if n is not None and X.shape[1] != n:
            raise ValueError(
                f"X has {X.shape[1]} channels, but this RunningAlignment was {verb} "
                f"{n}. Pass the channels used in fit.")
        return X

    @property
    def whitener_(self):
        """``R^{-1/2}`` of the running reference ``R`` (with the ridge)."""
        check_is_fitted(self, "n_trials_")
        return self._maths()._whitener(self.sum_ / self.n_trials_)

    def transform(self, X):
        """Align trials with the current reference (which they do not update).

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            Trials of the subject the reference was built on.

        Returns
        -------
        X_new : ndarray
            The aligned trials (float32 stays float32).
        """
        check_is_fitted(self, "n_trials_")
        dtype = _out_dtype(X)
        maths = self._maths()
        X = self._check_channels(maths._check_X(X), "fitted on")
        return maths._apply(X, self.whitener_).astype(dtype, copy=False)

    def fit_transform(self, X, y=None):
        """Start the reference from ``X`` and align ``X`` with it.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times)
            Trials of one subject.
        y : None
            Ignored.

        Returns
        -------
        X_new : ndarray
            The aligned trials, as ``EuclideanAlignment().fit_transform(X)``.
        """
        return self.fit(X).transform(X)
