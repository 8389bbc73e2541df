"""Where the decoder's samples come from and where its decisions go.

- :class:`ReplayStream` plays a :class:`mne.io.Raw` in chunks through the
  reading methods of :class:`mne_lsl.stream.StreamLSL` (``acquire``,
  ``n_new_samples``, ``get_data``, ``info``), without LSL: :func:`replay` and
  the tests decode recordings with it, through the live code path.
- The LSL side (MNE-LSL, the ``online`` extra): connecting to a stream by
  name with manual acquisition, a marker inlet, the decisions' outlets.
"""

# License: BSD (3-clause)

from __future__ import annotations

import math

import mne
import numpy as np

from ..utils import _validate_type, logger

__all__ = ["ReplayStream"]

#: How long (s) to look for a stream by name before saying it is not there.
RESOLVE_TIMEOUT = 5.0


def import_mne_lsl():
    """``mne_lsl``, or an ImportError that names the extra to install."""
    try:
        import mne_lsl
        import mne_lsl.lsl
        import mne_lsl.stream  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "Decoding a live LSL stream needs MNE-LSL, which is not installed "
            f"({err}). Install the online extra: pip install "
            "'mne-neurosketch[online]' (or pip install mne-lsl). Decoding a "
            "recording with mne_neurosketch.online.replay does not need it."
        ) from err
    return mne_lsl


def lsl_clock():
    """The LSL clock when MNE-LSL is there (decisions carry LSL times), else
    the monotonic clock."""
    try:
        from mne_lsl.lsl import local_clock
    except ImportError:
        import time

        return time.perf_counter
    return local_clock


def connect_stream(name, bufsize, timeout=RESOLVE_TIMEOUT):
    """A StreamLSL connected to the stream ``name``, acquired manually."""
    mne_lsl = import_mne_lsl()
    stream = mne_lsl.stream.StreamLSL(bufsize, name=name)
    try:
        stream.connect(acquisition_delay=None, processing_flags=["clocksync"],
                       timeout=timeout)
    except RuntimeError as err:
        raise ConnectionError(
            f"Cannot connect to the LSL stream {name!r} ({err}). Check that its "
            "source is running on this network (mne_lsl.lsl.resolve_streams() "
            "lists the streams it sees) and that the name is exact.") from None
    logger.info(f"Connected to the LSL stream {name!r}: {len(stream.ch_names)} "
                f"channels at {stream.info['sfreq']:g} Hz.")
    return stream


def connect_markers(name, timeout=RESOLVE_TIMEOUT):
    """A StreamInlet on the marker stream ``name`` (string or numeric)."""
    lsl = import_mne_lsl().lsl
    found = lsl.resolve_streams(timeout=timeout, name=name)
    if len(found) != 1:
        raise ConnectionError(
            f"Found {len(found)} LSL streams named {name!r} for marker_stream, "
            "expected exactly one. Check the marker source is running and that "
            "its name is unique (mne_lsl.lsl.resolve_streams() lists them).")
    inlet = lsl.StreamInlet(found[0], processing_flags=["clocksync"])
    inlet.open_stream(timeout=timeout)
    return inlet


class DecisionOutlet:
    """The LSL outlets of the decisions: class index and probabilities, and
    optionally the label as a string."""

    def __init__(self, name, classes, labels=False):
        lsl = import_mne_lsl().lsl
        names = ["class", *(f"p_{c}" for c in classes)]
        info = lsl.StreamInfo(name, "NeuroSketch", len(names), 0.0, "float64", name)
        info.set_channel_names(names)
        self.outlet = lsl.StreamOutlet(info)
        self.labels = None
        if labels:
            info = lsl.StreamInfo(f"{name}-labels", "Markers", 1, 0.0, "string",
                                  f"{name}-labels")
            info.set_channel_names(["label"])
            self.labels = lsl.StreamOutlet(info)
        logger.info(f"Publishing decisions on the LSL stream {name!r} "
                    f"(channels {names}).")

    def push(self, index, proba, label, timestamp):
        sample = np.concatenate([[float(index)], np.asarray(proba, np.float64)])
        self.outlet.push_sample(sample, timestamp=timestamp)
        if self.labels is not None:
            self.labels.push_sample([str(label)], timestamp=timestamp)

    def close(self):
        for outlet in (self.labels, self.outlet):
            if outlet is not None:
                outlet._del()
        self.outlet = self.labels = None


class ReplayStream:
    """A recording read as a live stream, chunk by chunk, without LSL.

    It has the reading methods of :class:`mne_lsl.stream.StreamLSL` with
    manual acquisition: each :meth:`acquire` delivers the next chunk,
    :attr:`n_new_samples` counts what was delivered since the last
    :meth:`get_data`. :class:`OnlineDecoder` reads it as it reads an LSL
    stream, so :func:`replay` runs the live code path on a recording.

    Parameters
    ----------
    raw : mne.io.Raw
        The recording (loaded into memory).
    chunk_size : int | tuple of int
        Samples per chunk, or ``(low, high)``: chunks of random sizes drawn
        uniformly in ``[low, high]``.
    seed : int | None
        Seed of the random chunk sizes.

    Attributes
    ----------
    info : mne.Info
        The recording's info.
    """

    def __init__(self, raw, chunk_size=32, *, seed=None):
        _validate_type(raw, mne.io.BaseRaw, "raw")
        sizes = (chunk_size, chunk_size) if np.isscalar(chunk_size) else chunk_size
        if len(sizes) != 2 or not 1 <= int(sizes[0]) <= int(sizes[1]):
            raise ValueError(f"chunk_size must be a positive int or a (low, high) "
                             f"pair with 1 <= low <= high, got {chunk_size!r}.")
        self._sizes = (int(sizes[0]), int(sizes[1]))
        self._rng = np.random.default_rng(seed)
        self._raw = raw
        self._data = raw.get_data()
        self._times = raw.times
        self.info = raw.info
        self._pos = 0
        self._n_new = 0

    def __repr__(self):
        return (f"<ReplayStream | {self._pos} of {self._data.shape[1]} samples "
                f"delivered, {len(self.ch_names)} channels>")

    @property
    def ch_names(self):
        """The channel names."""
        return self.info["ch_names"]

    @property
    def n_new_samples(self):
        """Samples delivered since the last :meth:`get_data`."""
        return self._n_new

    @property
    def n_buffer(self):
        """Samples :meth:`get_data` can return (the whole recording)."""
        return self._data.shape[1]

    @property
    def exhausted(self):
        """Whether every sample was delivered."""
        return self._pos >= self._data.shape[1]

    def acquire(self):
        """Deliver the next chunk."""
        low, high = self._sizes
        size = low if low == high else int(self._rng.integers(low, high + 1))
        stop = min(self._pos + size, self._data.shape[1])
        self._n_new += stop - self._pos
        self._pos = stop

    def get_data(self, winsize=None, picks=None, exclude=()):
        """The last ``winsize`` seconds delivered, as ``StreamLSL.get_data``.

        Parameters
        ----------
        winsize : float | None
            Seconds (``ceil(winsize * sfreq)`` samples); ``None``: all delivered.
        picks : str | list | None
            Channels (MNE picks); ``None``: all.
        exclude : list of str
            Channels left out of ``picks``.

        Returns
        -------
        data : ndarray, shape (n_chans, n_samples)
            The samples.
        timestamps : ndarray, shape (n_samples,)
            Their times (the recording's, from 0).
        """
        n = self._pos if winsize is None else math.ceil(winsize * self.info["sfreq"])
        n = min(n, self._pos)
        idx = mne.io.pick._picks_to_idx(self.info, picks, none="all", exclude=exclude)
        self._n_new = 0
        return self._data[idx, self._pos - n:self._pos], self._times[self._pos - n:
                                                                     self._pos]

    def markers(self):
        """The recording's annotations as a marker stream (``pull_chunk``).

        Each annotation is released once the sample at its onset is delivered,
        with the time of that sample, its description as the marker.

        Returns
        -------
        markers : object
            What :class:`OnlineDecoder` takes as ``marker_stream``.
        """
        return _ReplayMarkers(self)


class _ReplayMarkers:
    """The annotations of a :class:`ReplayStream`, released as it plays."""

    def __init__(self, stream):
        annot = stream._raw.annotations
        samples = stream._raw.time_as_index(annot.onset, use_rounding=True,
                                            origin=annot.orig_time)
        inside = (samples >= 0) & (samples < len(stream._times))
        order = np.argsort(samples[inside], kind="stable")
        self._samples = samples[inside][order]
        self._descriptions = list(np.asarray(annot.description)[inside][order])
        self._stream = stream
        self._next = 0

    def pull_chunk(self, timeout=0.0, max_samples=1024):
        end = np.searchsorted(self._samples, self._stream._pos)
        take = slice(self._next, min(end, self._next + max_samples))
        self._next = take.stop
        values = [[d] for d in self._descriptions[take]]
        return values, self._stream._times[self._samples[take]]
