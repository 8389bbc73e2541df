"""Filter-bank input for the Riemannian pipelines of the benchmark."""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["StackFilterBank"]


class StackFilterBank(TransformerMixin, BaseEstimator):
    """Stack the bands of a MOABB filter bank as extra channels.

    A filter-bank paradigm gives ``(n_trials, n_chans, n_times, n_bands)``;
    this returns ``(n_trials, n_bands * n_chans, n_times)`` (band-major, as
    :class:`moabb.pipelines.ExtendedSSVEPSignal`), so one covariance matrix
    holds the cross-band structure. 3-D input passes through unchanged, so the
    same pipeline runs on filter-bank and single-band paradigms.
    """

    def fit(self, X, y=None):
        """Do nothing (stateless).

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times[, n_bands])
            The trials.
        y : None
            Ignored.

        Returns
        -------
        self : StackFilterBank
            The transformer.
        """
        return self

    def transform(self, X):
        """Stack the bands.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_chans, n_times[, n_bands])
            The trials.

        Returns
        -------
        X : ndarray, shape (n_trials, n_bands * n_chans, n_times)
            The stacked trials.
        """
        X = np.asarray(X)
        if X.ndim == 3:
            return X
        if X.ndim != 4:
            raise ValueError(
                "X must have shape (n_trials, n_chans, n_times) or, from a filter-"
                f"bank paradigm, (n_trials, n_chans, n_times, n_bands); got {X.shape}."
            )
        n_trials, n_chans, n_times, n_bands = X.shape
        return X.transpose(0, 3, 1, 2).reshape(n_trials, n_bands * n_chans, n_times)


# Its public home (and the name inside stored pipelines' parameter hashes).
StackFilterBank.__module__ = "mne_neurosketch.benchmark.pipelines"
