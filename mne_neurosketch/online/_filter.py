"""The causal filter the decoder runs, and the same filter over a recording.

A decoder cannot look ahead, so it filters causally (a forward IIR pass whose
state carries from one chunk to the next); a zero-phase filter (MNE's
default) looks at the future and shifts nothing in time. The two give a
network different inputs, so a model must be trained on the filter it will
run with: :func:`causal_filter` filters training data exactly as
:class:`CausalFilter` does online, chunk by chunk or all at once.
"""

# License: BSD (3-clause)

from __future__ import annotations

import copy

import mne
import numpy as np
from scipy.signal import sosfilt, sosfilt_zi

from ..utils import _check_option, _Rule, _validate_type, logger, verbose

__all__ = ["CausalFilter", "causal_filter"]

_POSITIVE_INT = _Rule("positive integers", lambda v: v >= 1)


class CausalFilter:
    """A causal IIR filter that keeps its state from one chunk to the next.

    The design is MNE's (:func:`mne.filter.create_filter` with
    ``method="iir"``, ``phase="forward"``, second-order sections); the filtering
    is scipy's :func:`~scipy.signal.sosfilt` with its state carried between
    calls, so filtering a recording in chunks of any size gives the same
    samples as filtering it at once. The state starts at the steady state of
    the first sample (no step transient from a DC offset), a function of the
    data alone.

    Parameters
    ----------
    l_freq, h_freq : float | None
        Band edges in Hz, as in :meth:`mne.io.Raw.filter` (``None``: no
        high-pass, or no low-pass).
    sfreq : float
        Sampling frequency of the signal.
    order : int
        Order of the Butterworth design (MNE's ``iir_params["order"]``).

    Attributes
    ----------
    sos : ndarray, shape (n_sections, 6)
        The second-order sections.
    zi : ndarray | None
        The filter state, ``None`` before the first chunk.
    """

    def __init__(self, l_freq, h_freq, sfreq, *, order=4):
        _validate_type(sfreq, "numeric", "sfreq")
        _validate_type(order, "int", "order")
        _check_option("order", order, [_POSITIVE_INT])
        if l_freq is None and h_freq is None:
            raise ValueError("CausalFilter needs l_freq, h_freq or both; got None "
                             "for both. Pass filter=None to the decoder for no filter.")
        self.l_freq, self.h_freq, self.sfreq, self.order = l_freq, h_freq, sfreq, order
        params = dict(order=int(order), ftype="butter", output="sos")
        self.sos = mne.filter.create_filter(
            None, float(sfreq), l_freq, h_freq, method="iir", iir_params=params,
            phase="forward", verbose=False)["sos"]
        self.zi = None

    def __repr__(self):
        band = f"{self.l_freq}-{self.h_freq} Hz"
        return f"<CausalFilter | {band}, order {self.order}, {self.sfreq:g} Hz>"

    def reset(self):
        """Forget the state: the next chunk starts a new recording.

        Returns
        -------
        self : CausalFilter
            The filter.
        """
        self.zi = None
        return self

    def fresh(self):
        """A copy of this filter without state (the same design).

        Returns
        -------
        filt : CausalFilter
            The copy.
        """
        return copy.deepcopy(self).reset()

    def __call__(self, x):
        """Filter the next chunk.

        Parameters
        ----------
        x : ndarray, shape (n_chans, n_new)
            The chunk (time last).

        Returns
        -------
        y : ndarray, shape (n_chans, n_new)
            The filtered chunk, float64.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] == 0:
            return x.copy()
        if self.zi is None:
            # steady state for the first sample's value, channel by channel
            self.zi = sosfilt_zi(self.sos)[:, None, :] * x[:, 0][None, :, None]
        y, self.zi = sosfilt(self.sos, x, axis=-1, zi=self.zi)
        return y


@verbose
def causal_filter(inst, l_freq, h_freq, *, sfreq=None, order=4, picks="data",
                  verbose=None):
    """Filter a recording causally, exactly as :class:`OnlineDecoder` will.

    Train on what the decoder will see: filter the calibration recording with
    this function, then cut epochs and fit. The result equals what a
    :class:`CausalFilter` started on the recording's first sample gives, in
    chunks of any size.

    Parameters
    ----------
    inst : mne.io.Raw | ndarray, shape (n_chans, n_times)
        The continuous recording (whole: epochs would each restart the filter).
    l_freq, h_freq : float | None
        Band edges in Hz, as for :class:`CausalFilter`.
    sfreq : float | None
        Sampling frequency of an array ``inst`` (taken from a Raw's info).
    order : int
        Butterworth order, as for :class:`CausalFilter`.
    picks : str | list
        Channels of a Raw to filter (MNE picks; default: the data channels, so
        a stim channel keeps its codes).
    %(verbose)s

    Returns
    -------
    out : mne.io.Raw | ndarray
        A filtered copy (a Raw is loaded into memory).
    """
    if isinstance(inst, mne.io.BaseRaw):
        out = inst.copy().load_data()
        idx = mne.io.pick._picks_to_idx(out.info, picks, exclude=())
        filt = CausalFilter(l_freq, h_freq, out.info["sfreq"], order=order)
        out._data[idx] = filt(out._data[idx])
        logger.info(f"Filtered {len(idx)} channels causally, {filt!r}.")
        return out
    _validate_type(inst, np.ndarray, "inst")
    if sfreq is None:
        raise ValueError("sfreq is required when inst is an array: pass the sampling "
                         "frequency of the recording, e.g. sfreq=256.")
    if inst.ndim != 2:
        raise ValueError(f"inst must be a continuous recording shaped (n_chans, "
                         f"n_times), got an array of shape {inst.shape}; filter the "
                         "recording before cutting it into epochs.")
    return CausalFilter(l_freq, h_freq, sfreq, order=order)(inst)
