"""Trial helpers shared by the corpus modules: flat-trial rejection, simulated classes."""

# License: BSD (3-clause)

from __future__ import annotations

import numpy as np

__all__ = ["class_patterns", "nonflat_trials"]


def nonflat_trials(X: np.ndarray) -> np.ndarray:
    """Indices of trials without a flat channel (the paper's ``check_ieeg``).

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_chans, n_times)
        Trials.

    Returns
    -------
    keep : ndarray of int
        Indices of the trials whose every channel has ``max - min != 0``.
    """
    X = np.asarray(X)
    return np.flatnonzero(np.all(np.ptp(X, axis=-1) != 0, axis=1))


def class_patterns(n_classes: int, n_chans: int, n_times: int, *, seed=0) -> np.ndarray:
    """Smooth class-specific patterns of unit standard deviation (for simulators).

    ``simulate_<corpus>(class_signal=a)`` adds ``a * std * class_patterns(...)[y]`` to
    each simulated window so that a decoder can learn the classes.

    Parameters
    ----------
    n_classes, n_chans, n_times : int
        Shape of the result.
    seed : int
        Seed of the patterns.

    Returns
    -------
    patterns : ndarray, shape (n_classes, n_chans, n_times)
        One spatio-temporal pattern per class.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n_times, endpoint=False)
    freqs = rng.uniform(1, 6, size=(n_classes, n_chans, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(n_classes, n_chans, 1))
    gains = rng.standard_normal((n_classes, n_chans, 1))
    pat = gains * np.sin(2 * np.pi * freqs * t + phases)
    return pat / pat.std(axis=(1, 2), keepdims=True)
