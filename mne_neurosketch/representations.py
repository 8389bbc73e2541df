"""Input representations a network can read besides the raw signal.

Each is a scikit-learn transformer that turns trials ``(n_trials, n_chans,
n_times)`` into planes ``(n_trials, n_chans, n_samples, n_planes)``, the
filter-bank layout that :class:`~mne_neurosketch.NeuroSketchClassifier` reads
(``n_bands`` of :class:`~mne_neurosketch.NeuroSketch`), and that the baselines
read with :class:`~mne_neurosketch.benchmark.pipelines.StackFilterBank`:

- :class:`HarmonicBands`: narrow bands around stimulation frequencies and their
  harmonics (SSVEP; with one harmonic and 0.5 Hz, the bands of MOABB's
  ``FilterBankSSVEP``);
- :class:`ComplexSpectrum`: the real and imaginary parts of each channel's
  spectrum, so that the phase is kept (SSVEP);
- :class:`ERPPrototypes`: the trial next to the class averages of the
  training trials (ERP; what Xdawn covariances give the Riemannian pipelines),
  computed in ``fit`` so that no test trial leaks in.
"""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._docs import fill_doc
from .utils import _check_option, _Rule

__all__ = ["ComplexSpectrum", "ERPPrototypes", "HarmonicBands"]

_POSITIVE = _Rule("positive numbers", lambda v: isinstance(v, (int, float))
                  and not isinstance(v, bool) and v > 0)


def _trials(X):
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(
            "Invalid value for the 'X' parameter: expected trials of shape "
            f"(n_trials, n_chans, n_times), got an array of shape {X.shape}.")
    return X


class _Planes(TransformerMixin, BaseEstimator):
    """Trials to planes; a subclass computes them in ``_planes`` from what its
    ``fit`` set (``_fitted``)."""

    _fitted = ""

    @fill_doc
    def transform(self, X):
        """Compute the planes of each trial.

        Parameters
        ----------
        %(X_trials)s

        Returns
        -------
        planes : ndarray, shape (n_trials, n_chans, n_samples, n_planes)
            The planes, as the class describes them.
        """
        check_is_fitted(self, self._fitted)
        return self._planes(_trials(X))


class HarmonicBands(_Planes):
    """Narrow bands at stimulation frequencies and their harmonics, as planes.

    Each band ``[h * f - half_width, h * f + half_width]`` (``f`` in ``freqs``,
    ``h`` from 1 to ``n_harmonics``, bands above Nyquist left out) is a
    zero-phase Butterworth band-pass of each trial on its own.

    Parameters
    ----------
    freqs : list of float
        Stimulation frequencies (Hz).
    sfreq : float
        Sampling frequency of the trials (Hz).
    n_harmonics : int, default=1
        Harmonics per frequency (1: the fundamental only, MOABB's bands).
    half_width : float, default=0.5
        Half the width of each band (Hz).
    order : int, default=4
        Butterworth order.
    """

    _fitted = "sos_"

    def __init__(self, freqs, sfreq, n_harmonics=1, half_width=0.5, order=4):
        self.freqs = freqs
        self.sfreq = sfreq
        self.n_harmonics = n_harmonics
        self.half_width = half_width
        self.order = order

    def fit(self, X, y=None):
        """Design the filters.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_chans, n_times)
            Training trials (only checked).
        y : None
            Ignored.

        Returns
        -------
        self : HarmonicBands
            The transformer.
        """
        _trials(X)
        _check_option("sfreq", self.sfreq, (_POSITIVE,))
        _check_option("half_width", self.half_width, (_POSITIVE,))
        nyquist = self.sfreq / 2
        self.bands_ = [(h * f - self.half_width, h * f + self.half_width)
                       for f in self.freqs for h in range(1, int(self.n_harmonics) + 1)
                       if h * f + self.half_width < nyquist]
        if not self.bands_:
            raise ValueError(
                f"Invalid value for the 'freqs' parameter: no band of {self.freqs} "
                f"lies below the Nyquist frequency ({nyquist:g} Hz).")
        self.sos_ = [butter(self.order, band, "bandpass", fs=self.sfreq, output="sos")
                     for band in self.bands_]
        return self

    def _planes(self, X):
        return np.stack([sosfiltfilt(sos, X, axis=-1) for sos in self.sos_],
                        axis=-1).astype(np.float32)


class ComplexSpectrum(_Planes):
    """The real and imaginary parts of each channel's spectrum, as two planes.

    Parameters
    ----------
    sfreq : float
        Sampling frequency of the trials (Hz).
    fmin, fmax : float
        The band of frequencies kept (Hz).
    """

    _fitted = "bins_"

    def __init__(self, sfreq, fmin=3.0, fmax=35.0):
        self.sfreq, self.fmin, self.fmax = sfreq, fmin, fmax

    def fit(self, X, y=None):
        """Choose the frequency bins.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_chans, n_times)
            Training trials (their length sets the bins).
        y : None
            Ignored.

        Returns
        -------
        self : ComplexSpectrum
            The transformer.
        """
        X = _trials(X)
        _check_option("sfreq", self.sfreq, (_POSITIVE,))
        freqs = np.fft.rfftfreq(X.shape[-1], 1 / self.sfreq)
        self.bins_ = np.flatnonzero((freqs >= self.fmin) & (freqs <= self.fmax))
        if len(self.bins_) < 2:
            raise ValueError(
                f"Invalid value for the 'fmin' and 'fmax' parameters: [{self.fmin}, "
                f"{self.fmax}] Hz holds {len(self.bins_)} frequency bin(s) of trials "
                f"of {X.shape[-1]} samples at {self.sfreq:g} Hz; widen the band.")
        self.freqs_ = freqs[self.bins_]
        self.n_times_ = X.shape[-1]
        return self

    def _planes(self, X):
        if X.shape[-1] != self.n_times_:
            raise ValueError(
                f"Invalid value for the 'X' parameter: trials of {X.shape[-1]} "
                f"samples, but fit saw {self.n_times_}. Crop the trials alike.")
        spectrum = np.fft.rfft(X, axis=-1)[..., self.bins_] / X.shape[-1]
        return np.stack([spectrum.real, spectrum.imag], axis=-1).astype(np.float32)


class ERPPrototypes(_Planes):
    """Each trial next to the class averages of the training trials, as planes.

    ``fit`` averages the training trials of each class; ``transform`` stacks
    every trial with these prototypes, so that a network can compare the trial
    with each class's average response (as Xdawn covariances do).
    """

    _fitted = "prototypes_"

    def fit(self, X, y):
        """Average the training trials per class.

        Parameters
        ----------
        X : array-like, shape (n_trials, n_chans, n_times)
            Training trials.
        y : array-like, shape (n_trials,)
            Their labels.

        Returns
        -------
        self : ERPPrototypes
            The transformer.
        """
        X = _trials(X)
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(
                f"X and y have different numbers of trials: X has {len(X)} and y has "
                f"{len(y)}. Pass one label per trial.")
        self.classes_ = np.unique(y)
        self.prototypes_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_],
                                    axis=-1)
        return self

    def _planes(self, X):
        if X.shape[1:] != self.prototypes_.shape[:2]:
            raise ValueError(
                f"Invalid value for the 'X' parameter: trials of shape {X.shape[1:]}, "
                f"but fit saw {self.prototypes_.shape[:2]}.")
        prototypes = np.broadcast_to(self.prototypes_, (len(X), *self.prototypes_.shape))
        return np.concatenate([X[..., None], prototypes], axis=-1)
