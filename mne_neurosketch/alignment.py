"""Re-centre each subject's data before decoding across subjects.

Subjects (and sessions) differ in head shape, impedances and amplifier gain,
so a decoder trained on some subjects sees a shifted input distribution on
another. Re-centring each subject to a common reference before training and
testing removes most of that shift without any label:

- :class:`EuclideanAlignment` works on the signals (He & Wu 2020): each
  subject's trials are multiplied by the inverse square root of that subject's
  mean spatial covariance, so every subject's mean covariance becomes the
  identity. Any network or pipeline can follow it.
- :class:`RiemannianAlignment` does the same on covariance matrices, with the
  Riemannian mean (Zanini et al. 2018), for the classical pipelines
  (covariances, tangent space, MDM). It builds on :mod:`pyriemann.utils`.

Both follow MOABB's transfer-learning conventions (``CrossSubjectEvaluation``
with ``cv_kwargs={"calibration_size": ...}`` or a ``cs_mode``): ``fit`` accepts
the routed metadata ``subjects`` (the subject of each training trial) and the
target subject's calibration slice ``X_target_unlabeled`` or
``X_target_labeled`` (labels are not used: the re-centring is unsupervised).

Under scikit-learn's metadata routing (MOABB's evaluations fit with it on),
both request ``subjects`` and ``X_target_unlabeled`` by default, as
scikit-learn's group splitters request ``groups``: a pipeline built without
routing, where ``set_fit_request`` cannot be called, still re-centres each
source subject on its own trials and the target on its calibration trials.
``y_target_labeled`` is never requested (no label is used). Whether the
*labeled* calibration slice ``X_target_labeled`` is used is left to you, with
``set_fit_request(X_target_labeled=True)`` inside
``sklearn.config_context(enable_metadata_routing=True)``: a classifier after
the aligner must say whether it uses it too (fine-tuning), and MOABB offers it
to every step once one step requests it.
"""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .utils import _check_subjects

__all__ = ["EuclideanAlignment", "RiemannianAlignment"]


def _inv_sqrtm(matrix: np.ndarray) -> np.ndarray:
    """Inverse square root of a symmetric positive definite matrix, or of each
    matrix of a stack ``(..., n, n)``."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors / np.sqrt(values)[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def _out_dtype(X):
    """float32 stays float32 (the networks' input); anything else is float64."""
    return np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64


class _Recentring(TransformerMixin, BaseEstimator):
    """Shared logic: one reference per group, the target's one at test time.

    Subclasses give the input's dimensionality, the reference of a set of
    trials (``_reference``) and how to apply its inverse square root
    (``_apply``).
    """

    _input_name = "trials"
    _ndims = (3,)

    #: What fit uses is requested by default (see the module docstring);
    #: the labels of the calibration slice are never used.
    __metadata_request__fit = {"subjects": True, "X_target_unlabeled": True,
                               "y_target_labeled": False}

    def _check_X(self, X, name="X") -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim not in self._ndims:
            dims = " or ".join(f"{n}-D" for n in self._ndims)
            raise ValueError(
                f"{name} must be a {dims} array of {self._input_name}, got an array "
                f"of shape {X.shape} instead."
            )
        if not np.isfinite(X).all():
            raise ValueError(
                f"{name} contains NaN or infinite values. Remove or repair those "
                f"{self._input_name} before re-centring."
            )
        return X

    def _whitener(self, X) -> np.ndarray:
        # One reference, or one per band of a filter bank (a stack).
        reference = self._reference(X)
        # A small ridge keeps rank-deficient data (average reference, a flat
        # channel) invertible; it is relative, so units do not matter.
        n = reference.shape[-1]
        ridge = self.reg * np.trace(reference, axis1=-2, axis2=-1) / n
        return _inv_sqrtm(reference + ridge[..., None, None] * np.eye(n))

    def _target(self, X_target_unlabeled, X_target_labeled):
        parts = [
            self._check_X(self._target_input(x), name)
            for x, name in ((X_target_unlabeled, "X_target_unlabeled"),
                            (X_target_labeled, "X_target_labeled"))
            if x is not None and len(x)
        ]
        return np.concatenate(parts) if parts else None

    def _target_input(self, X):
        """The target's calibration trials in this step's input space."""
        return X

    def fit(self, X, y=None, subjects=None, X_target_unlabeled=None,
            X_target_labeled=None, y_target_labeled=None):
        """Store the target subject's reference, when its data are given.

        Parameters
        ----------
        X : ndarray
            Training data (all source subjects).
        y : array-like | None
            Ignored (the re-centring uses no label).
        subjects : array-like, shape (n_trials,) | None
            The subject (or subject-session) of each training trial, as MOABB
            routes it. ``None`` treats ``X`` as one subject.
        X_target_unlabeled, X_target_labeled : ndarray | None
            The target subject's calibration trials. When given, ``transform``
            re-centres with their reference; otherwise with the reference of
            the data it is given.
        y_target_labeled : array-like | None
            Ignored.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        X = self._check_X(X)
        _check_subjects(subjects, len(X))
        self.n_features_in_ = X.shape[1]
        target = self._target(X_target_unlabeled, X_target_labeled)
        self.target_whitener_ = None if target is None else self._whitener(target)
        return self

    def fit_transform(self, X, y=None, subjects=None, X_target_unlabeled=None,
                      X_target_labeled=None, y_target_labeled=None):
        """Fit, then re-centre each subject of ``X`` with its own reference.

        Parameters are those of :meth:`fit`.

        Returns
        -------
        X_new : ndarray
            The re-centred training data, in the order of ``X``.
        """
        self.fit(X, y, subjects=subjects, X_target_unlabeled=X_target_unlabeled,
                 X_target_labeled=X_target_labeled)
        dtype = _out_dtype(X)
        X = self._check_X(X)
        groups = np.zeros(len(X)) if subjects is None else np.asarray(subjects)
        out = np.empty(X.shape, dtype=dtype)
        for group in np.unique(groups):
            mask = groups == group
            out[mask] = self._apply(X[mask], self._whitener(X[mask]))
        return out

    def transform(self, X):
        """Re-centre the trials of ONE subject (the target).

        With a target reference from ``fit`` it is used; otherwise the reference
        is computed from ``X`` itself (no label is used), so pass one subject's
        (or session's) trials at a time, as MOABB's evaluations do.

        Parameters
        ----------
        X : ndarray
            Trials of one subject.

        Returns
        -------
        X_new : ndarray
            The re-centred trials.
        """
        check_is_fitted(self, "n_features_in_")
        dtype = _out_dtype(X)
        X = self._check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} channels, but this {type(self).__name__} was "
                f"fitted on {self.n_features_in_}. Pass the channels used in fit."
            )
        whitener = self.target_whitener_
        if whitener is None:
            if len(X) < 2:
                raise ValueError(
                    f"{type(self).__name__}.transform got a single trial and has no "
                    "target reference: one trial cannot estimate a subject's "
                    "reference. Fit with the target's calibration trials "
                    "(X_target_unlabeled or X_target_labeled), or transform all "
                    "of a subject's trials at once."
                )
            whitener = self._whitener(X)
        return self._apply(X, whitener).astype(dtype, copy=False)


class EuclideanAlignment(_Recentring):
    """Euclidean alignment of raw trials, per subject (He & Wu 2020).

    Each subject's trials ``X_i`` (channels x times) become ``R^{-1/2} X_i``,
    where ``R`` is that subject's mean spatial covariance ``mean(X_i X_i^T /
    n_times)``; afterwards every subject's mean covariance is the identity.
    The output keeps the input's shape, so any network or signal pipeline can
    follow. A MOABB filter bank, ``(n_trials, n_chans, n_times, n_bands)``, is
    aligned band by band, with one reference per band. See the module docstring
    for MOABB's transfer conventions.

    Parameters
    ----------
    reg : float
        Ridge added to the reference, relative to its mean eigenvalue, so that
        rank-deficient data stay invertible.

    Attributes
    ----------
    target_whitener_ : ndarray, shape (n_chans, n_chans) | None
        ``R^{-1/2}`` of the target subject's calibration trials, if given;
        ``(n_bands, n_chans, n_chans)`` for a filter bank.
    n_features_in_ : int
        Number of channels seen in ``fit``.

    References
    ----------
    .. [1] He H, Wu D (2020). Transfer learning for brain-computer interfaces:
       a Euclidean space data alignment approach. IEEE Trans Biomed Eng 67(2).
    """

    _ndims = (3, 4)

    def __init__(self, reg=1e-6):
        self.reg = reg

    def _reference(self, X):
        if X.ndim == 4:  # filter bank: (n_bands, n_chans, n_chans)
            return np.einsum("nctb,ndtb->bcd", X, X) / (X.shape[0] * X.shape[2])
        return np.einsum("nct,ndt->cd", X, X) / (X.shape[0] * X.shape[2])

    def _apply(self, X, whitener):
        if X.ndim == 4:
            return np.einsum("bcd,ndtb->nctb", whitener, X)
        return np.einsum("cd,ndt->nct", whitener, X)


class RiemannianAlignment(_Recentring):
    """Riemannian re-centring of covariance matrices, per subject.

    Each subject's covariance matrices ``C_i`` become ``M^{-1/2} C_i M^{-1/2}``,
    where ``M`` is that subject's Riemannian (or other pyriemann) mean, so that
    every subject's mean is the identity (Zanini et al. 2018), as pyriemann's
    :class:`~pyriemann.transfer.TLCenter` does with domain-encoded labels. Place
    it between :class:`~pyriemann.estimation.Covariances` and a tangent space or
    MDM. See the module docstring for MOABB's transfer conventions.

    Parameters
    ----------
    metric : str
        The mean used as reference (see :func:`pyriemann.geometry.mean.gmean`).
    estimator : str
        Covariance estimator (:class:`~pyriemann.estimation.Covariances`) for
        target calibration trials that arrive as raw signals: MOABB routes the
        raw calibration slice to every step, so this should match the
        estimator of the ``Covariances`` step before this one. A filter bank
        ``(n_trials, n_chans, n_times, n_bands)`` has its bands stacked as
        channels first, band-major (as the benchmark's ``TSLR-aligned`` and
        MOABB's ``ExtendedSSVEPSignal`` do).
    reg : float
        Ridge added to the reference, relative to its mean eigenvalue.

    Attributes
    ----------
    target_whitener_ : ndarray, shape (n_chans, n_chans) | None
        ``M^{-1/2}`` of the target subject's calibration matrices, if given.
    n_features_in_ : int
        Number of channels seen in ``fit``.

    References
    ----------
    .. [1] Zanini P, Congedo M, Jutten C, Said S, Berthoumieu Y (2018).
       Transfer learning: a Riemannian geometry framework with applications to
       brain-computer interfaces. IEEE Trans Biomed Eng 65(5).
    """

    _input_name = "covariance matrices"

    def __init__(self, metric="riemann", estimator="oas", reg=0.0):
        self.metric = metric
        self.estimator = estimator
        self.reg = reg

    def _target_input(self, X):
        X = np.asarray(X)
        if X.ndim == 4:
            # A MOABB filter bank (n, n_chans, n_times, n_bands): its bands
            # stacked as channels, band-major, as the benchmark's pipelines and
            # MOABB's ExtendedSSVEPSignal give them to Covariances.
            n_trials, n_chans, n_times, n_bands = X.shape
            X = X.transpose(0, 3, 1, 2).reshape(n_trials, n_bands * n_chans, n_times)
        if X.ndim == 3 and X.shape[1] != X.shape[2]:
            from pyriemann.estimation import Covariances

            return Covariances(estimator=self.estimator).fit_transform(X)
        return X

    def _check_X(self, X, name="X"):
        X = super()._check_X(X, name)
        if X.shape[1] != X.shape[2]:
            raise ValueError(
                f"{name} must hold square covariance matrices (n, n_chans, n_chans), "
                f"got shape {X.shape}. Put pyriemann's Covariances before "
                f"{type(self).__name__}, or use EuclideanAlignment on raw trials."
            )
        return X

    def _reference(self, X):
        from pyriemann.geometry.mean import gmean

        return gmean(X, metric=self.metric)

    def _apply(self, X, whitener):
        return whitener @ X @ whitener
