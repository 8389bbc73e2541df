"""OnlineDecoder: a fitted estimator deciding on a running stream.

One code path for live streams and recordings: samples arrive in chunks
(from LSL or a :class:`~mne_neurosketch.online.ReplayStream`), are picked in
the fit's channel order, filtered causally, kept in a history indexed by an
absolute sample count, cut into windows (after each event, or every ``hop``)
and scored by the estimator's own :meth:`predict_proba` on one torch thread.
"""

# License: BSD (3-clause)

from __future__ import annotations

import contextlib
import copy
import os
import sys
import time
from collections import deque

import mne
import numpy as np
import pandas as pd
import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._docs import fill_doc
from .._estimator.inputs import _check_sfreq, _epochs_units
from ..alignment import EuclideanAlignment
from ..estimator import NeuroSketchClassifier
from ..utils import _check_option, _Rule, _validate_type, logger, verbose, warn
from ._alignment import RunningAlignment
from ._filter import CausalFilter
from ._streams import (
    DecisionOutlet,
    ReplayStream,
    connect_markers,
    connect_stream,
    lsl_clock,
)

__all__ = ["OnlineDecoder", "replay"]

_POSITIVE = _Rule("positive numbers", lambda v: v > 0)
_POSITIVE_INT = _Rule("positive integers", lambda v: int(v) == v and v >= 1)


@contextlib.contextmanager
def torch_threads(n):
    """Run torch on ``n`` intra-op threads inside, the caller's count after."""
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


def _resolve_estimator(estimator):
    """The fitted classifier, and the transforms of a Pipeline before it."""
    if isinstance(estimator, (str, os.PathLike)):
        # load()'s rules: a weights-only file, classes from an allow-list
        estimator = NeuroSketchClassifier.load(estimator, device="cpu")
    steps = []
    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps[:-1] if step != "passthrough"]
        estimator = estimator.steps[-1][1]
    for attr in ("predict_proba", "classes_", "n_chans_", "n_times_"):
        if not hasattr(estimator, attr):
            raise TypeError(
                "estimator must be a fitted NeuroSketchClassifier, a file written by "
                "its save(), or a scikit-learn Pipeline ending in one; got "
                f"{type(estimator).__name__} without {attr!r}. Fit it first.")
    check_is_fitted(estimator, "net_")
    if getattr(estimator, "n_bands_", 1) > 1:
        raise ValueError(
            f"This estimator was fitted on a filter bank of {estimator.n_bands_} "
            "bands; the online decoder feeds plain signals. Fit on plain trials.")
    return estimator, steps


class _History:
    """The last ``capacity`` samples (rows: channels, then meta rows), indexed
    by their absolute sample number since the stream started."""

    def __init__(self, n_rows, capacity):
        self.data = np.zeros((n_rows, capacity))
        self.capacity = capacity
        self.n = 0  # samples appended so far

    @property
    def first(self):
        """Absolute number of the oldest sample still held."""
        return max(0, self.n - self.capacity)

    def append(self, block):
        block = block[:, -self.capacity:]
        idx = np.arange(self.n, self.n + block.shape[1]) % self.capacity
        self.data[:, idx] = block
        self.n += block.shape[1]

    def get(self, start, stop):
        return self.data[:, np.arange(start, stop) % self.capacity]


class _Event:
    __slots__ = ("sample", "name", "arrival")

    def __init__(self, sample, name, arrival):
        self.sample, self.name, self.arrival = sample, name, arrival


@fill_doc
class OnlineDecoder:
    """Decide on a running EEG stream with a fitted estimator.

    The decoder reads a stream in chunks, keeps the fit's channels in the fit's
    order and units, filters them causally (its own :class:`CausalFilter`,
    whose state carries across chunks), cuts windows of the fit's length and
    scores each with the estimator's :meth:`predict_proba` (its input checks,
    scaling and inference path) on one torch thread. Two modes: event-locked
    (``events`` or ``marker_stream``: one window per event, decided once it is
    complete) and sliding (``hop``: a window every ``hop`` seconds). Decisions
    go to :attr:`decisions_`, and optionally to an LSL outlet stamped with the
    LSL time of the window's last sample.

    The decisions are a function of the samples alone, never of when they
    came, except that a window completed more than ``max_lag`` seconds behind
    the newest sample is dropped and counted (a live decision that late is of
    no use). :func:`replay` runs this same path over a recording.

    Parameters
    ----------
    estimator : NeuroSketchClassifier | path-like | sklearn.pipeline.Pipeline
        A fitted estimator, a file written by its ``save()`` (read with
        :meth:`~mne_neurosketch.NeuroSketchClassifier.load`'s safety rules), or
        a fitted Pipeline ending in one; the Pipeline's other steps transform
        each window (an :class:`~mne_neurosketch.alignment.EuclideanAlignment`
        step is replaced by ``alignment`` when given).
    stream : str | mne_lsl.stream.StreamLSL | ReplayStream | object
        An LSL stream name (connected here, with manual acquisition: needs the
        ``online`` extra), a :class:`mne_lsl.stream.StreamLSL` (best connected
        with ``acquisition_delay=None``: a background acquisition can lose
        samples between ``n_new_samples`` and ``get_data``), a
        :class:`ReplayStream`, or any object with the same ``info``,
        ``acquire()``, ``n_new_samples`` and ``get_data(winsize)``.
    hop : float | None
        Sliding mode: seconds between two windows.
    events : str | None
        Event-locked mode: the stim channel of the stream carrying event codes
        (an event where the value becomes non-zero or changes, as
        ``mne.find_events(consecutive=True)``).
    event_id : dict | None
        ``{name: code}`` of the events to decide, as in MNE; a marker matches a
        name, or a code (numeric markers). ``None``: every event.
    marker_stream : str | object | None
        Event-locked mode: an LSL marker stream name (string markers, or one
        numeric channel of codes), an inlet, or an object with
        ``pull_chunk(timeout)`` such as :meth:`ReplayStream.markers`. A marker
        is placed at the sample whose timestamp is nearest to its own.
    tmin : float
        Start of an event's window relative to the event, in seconds; the
        window lasts the fit's ``n_times`` samples.
    filter : tuple | CausalFilter | None
        ``(l_freq, h_freq)`` for a :class:`CausalFilter` (order 4), a
        :class:`CausalFilter` (copied, without state), or ``None``. Train on
        the same filter (:func:`causal_filter`).
    alignment : RunningAlignment | None
        A running Euclidean alignment, best warm-started with ``fit`` on
        calibration trials; copied, then updated with every window (decided
        or not) before it aligns it. The decoder's copy is ``alignment_``.
    smoothing : int
        Sliding mode: average the probabilities of the last ``smoothing``
        windows (restarted after a dropped window).
    picks : list of str | None
        The channels, in order, for an estimator fitted on arrays (no
        ``ch_names_``); default the stream's data channels. An estimator
        fitted on Epochs picks its ``ch_names_`` by name.
    counter : str | None
        A channel holding a sample counter (many amplifiers send one): a gap
        in it counts lost samples.
    max_lag : float | None
        Drop (and count) windows completed more than this many seconds behind
        the stream; ``None`` decides every window (as :func:`replay` does).
    outlet : str | None
        Name of an LSL outlet (irregular rate, float64) for the decisions:
        channel ``class`` (the class index) then ``p_<class>`` per class.
    label_outlet : bool
        Also publish the label as a string on ``<outlet>-labels``.
    bufsize : float
        Seconds of signal kept (and of the LSL inlet's buffer).
    n_threads : int
        Torch intra-op threads during inference (restored after each call).
    poll : float
        Seconds :meth:`run` sleeps when no sample came.
    %(verbose)s

    Attributes
    ----------
    estimator_ : NeuroSketchClassifier
        The classifier.
    stream : object
        The stream read.
    filter_ : CausalFilter | None
        The decoder's filter, with its state.
    alignment_ : RunningAlignment | None
        The decoder's running alignment.
    n_received_ : int
        Samples received so far.

    See Also
    --------
    replay, causal_filter, RunningAlignment
    """

    @verbose
    def __init__(self, estimator, stream, *, hop=None, events=None, event_id=None,
                 marker_stream=None, tmin=0.0, filter=None, alignment=None,
                 smoothing=1, picks=None, counter=None, max_lag=0.5, outlet=None,
                 label_outlet=False, bufsize=30.0, n_threads=1, poll=0.002,
                 verbose=None):
        self.estimator_, steps = _resolve_estimator(estimator)
        self._check_scalars(tmin, smoothing, max_lag, bufsize, n_threads, poll, hop)
        self._owned = []  # what close() disconnects, in order
        try:
            self.stream = self._open(stream, bufsize)
            info = self.stream.info
            self.sfreq = float(info["sfreq"])
            _check_sfreq(self.estimator_, self.sfreq, "stream")
            self.n_times = int(self.estimator_.n_times_)
            self._fit_idx = self._fit_channels(info, picks)
            self._factors = self._unit_factors(info)
            self._counter_idx = self._channel(info, counter, "counter")
            self._mode = self._set_mode(hop, events, marker_stream, event_id, smoothing)
            self._stim_idx = self._channel(info, events, "events")
            self._markers = self._open_markers(marker_stream)
            self._offset = int(round(tmin * self.sfreq))
            self.filter_ = self._make_filter(filter)
            self.alignment_, self._steps = self._transforms(alignment, steps)
            self.smoothing, self.max_lag = int(smoothing), max_lag
            self.n_threads, self.poll = n_threads, poll
            need = self.n_times + abs(self._offset) + int(self.sfreq)
            capacity = max(int(np.ceil(bufsize * self.sfreq)), need)
            # rows: the fit's channels, then timestamp, arrival time, counter
            self._history = _History(len(self._fit_idx) + 3, capacity)
            self._clock = lsl_clock()
            self._outlet = None
            if outlet is not None:
                self._outlet = DecisionOutlet(outlet, self.estimator_.classes_,
                                              label_outlet)
                self._owned.insert(0, self._outlet.close)
            self._reset_state()
            self._warm_up()
        except BaseException:
            self.close()  # what was connected before the error
            raise

    # -- set-up --------------------------------------------------------------
    @staticmethod
    def _check_scalars(tmin, smoothing, max_lag, bufsize, n_threads, poll, hop):
        _validate_type(tmin, "numeric", "tmin")
        for name, value in (("bufsize", bufsize), ("poll", poll)):
            _validate_type(value, "numeric", name)
            _check_option(name, value, [_POSITIVE])
        for name, value in (("max_lag", max_lag), ("hop", hop)):
            _validate_type(value, ("numeric", None), name)
            _check_option(name, value, [None, _POSITIVE])
        for name, value in (("smoothing", smoothing), ("n_threads", n_threads)):
            _validate_type(value, "int", name)
            _check_option(name, value, [_POSITIVE_INT])

    def _open(self, stream, bufsize):
        if isinstance(stream, str):
            stream = connect_stream(stream, bufsize)
            self._owned.append(stream.disconnect)
            return stream
        for attr in ("info", "acquire", "n_new_samples", "get_data"):
            if not hasattr(stream, attr):
                raise TypeError(
                    "stream must be an LSL stream name, a connected "
                    "mne_lsl.stream.StreamLSL, a ReplayStream or an object with "
                    f"their reading methods; got {type(stream).__name__} without "
                    f"{attr!r}.")
        if not stream.info["sfreq"]:
            raise ValueError("The stream has an irregular sampling rate (sfreq 0); "
                             "the decoder needs a regularly sampled signal stream.")
        return stream

    def _fit_channels(self, info, picks):
        """Indices in the stream of the fit's channels, in the fit's order."""
        est = self.estimator_
        names = getattr(est, "ch_names_", None)
        if names is None:
            if picks is None:
                idx = mne.io.pick._picks_to_idx(info, "data", exclude=())
                names = [info["ch_names"][i] for i in idx]
            else:
                names = list(picks)
        elif picks is not None and list(picks) != list(names):
            raise ValueError(
                f"picks={list(picks)} differs from the {len(names)} channels the "
                f"estimator was fitted on ({names}), which the decoder picks by "
                "name; leave picks=None.")
        missing = [ch for ch in names if ch not in info["ch_names"]]
        if missing:
            raise ValueError(
                f"The stream lacks {len(missing)} of the channels the decoder needs: "
                f"{missing} (the stream has {info['ch_names']}). Stream those "
                "channels, or rename them in the source to the fit's names.")
        if len(names) != est.n_chans_:
            raise ValueError(
                f"The stream's data channels are {names} ({len(names)}), but the "
                f"estimator was fitted on {est.n_chans_} channels of arrays. Pass "
                "picks=[...] with the channel names in the fit's order.")
        self.ch_names = list(names)
        return np.array([info["ch_names"].index(ch) for ch in names])

    def _unit_factors(self, info):
        """Per channel: the stream's unit to SI, then SI to the fit's units.

        An estimator fitted on Epochs read them in per-type units (µV for
        EEG unless its ``units`` says otherwise): the same units here, with
        MNE's own factors. One fitted on arrays gets SI units (volts), which
        its ``scaling_`` expects when it was fitted on MNE or MOABB data.
        """
        si = np.array([10.0 ** info["chs"][i]["unit_mul"] for i in self._fit_idx])
        if getattr(self.estimator_, "ch_names_", None) is None:
            return si
        from mne.io.base import _get_ch_factors

        picked = mne.pick_info(info, self._fit_idx)
        units = _epochs_units(picked, self.estimator_.units)
        return si * _get_ch_factors(picked, units, np.arange(len(self._fit_idx)))

    @staticmethod
    def _channel(info, name, argument):
        if name is None:
            return None
        _validate_type(name, str, argument)
        if name not in info["ch_names"]:
            raise ValueError(
                f"Invalid value for the {argument!r} parameter: the stream has no "
                f"channel {name!r}; its channels are {info['ch_names']}.")
        return info["ch_names"].index(name)

    def _set_mode(self, hop, events, marker_stream, event_id, smoothing):
        locked = events is not None or marker_stream is not None
        if locked == (hop is not None):
            raise ValueError(
                "Give either hop=<seconds> (sliding windows) or events=<stim channel> "
                "or marker_stream=<name> (a window after each event); got "
                + ("both." if locked else "neither."))
        if events is not None and marker_stream is not None:
            raise ValueError("Give events (a stim channel) or marker_stream, not both.")
        if locked and smoothing != 1:
            raise ValueError("smoothing averages successive sliding windows; it needs "
                             "hop, not events. Pass smoothing=1.")
        self.hop = None if hop is None else max(1, int(round(hop * self.sfreq)))
        if event_id is not None:
            _validate_type(event_id, dict, "event_id")
        self.event_id = event_id
        self._names = None if event_id is None else {
            int(code): name for name, code in event_id.items()}
        return "events" if locked else "sliding"

    def _open_markers(self, marker_stream):
        if isinstance(marker_stream, str):
            inlet = connect_markers(marker_stream, timeout=5.0)
            self._owned.insert(0, inlet._del)
            return inlet
        if marker_stream is not None and not hasattr(marker_stream, "pull_chunk"):
            raise TypeError(f"marker_stream must be an LSL stream name or have "
                            f"pull_chunk(); got {type(marker_stream).__name__}.")
        return marker_stream

    def _make_filter(self, filt):
        if filt is None:
            return None
        if isinstance(filt, CausalFilter):
            if not np.isclose(filt.sfreq, self.sfreq):
                raise ValueError(f"The filter was designed at {filt.sfreq:g} Hz but "
                                 f"the stream is sampled at {self.sfreq:g} Hz.")
            return filt.fresh()
        if not isinstance(filt, (tuple, list)) or len(filt) != 2:
            raise TypeError("filter must be (l_freq, h_freq), a CausalFilter or None, "
                            f"got {filt!r}.")
        return CausalFilter(filt[0], filt[1], self.sfreq)

    def _transforms(self, alignment, steps):
        """The running alignment (a copy) and the Pipeline steps kept."""
        if alignment is not None:
            _validate_type(alignment, RunningAlignment, "alignment")
            alignment = copy.deepcopy(alignment)
        kept = []
        for step in steps:
            if isinstance(step, EuclideanAlignment):
                if alignment is not None:
                    continue  # the running alignment takes its place
                if getattr(step, "target_whitener_", None) is None:
                    raise ValueError(
                        "The Pipeline aligns with EuclideanAlignment, which has no "
                        "target reference and cannot align one window at a time. Pass "
                        "alignment=RunningAlignment().fit(calibration_trials).")
            kept.append(step)
        return alignment, kept

    def _reset_state(self):
        self.n_received_ = 0
        self._last_stim = None
        self._last_counter = None
        self._pending = []  # _Event, in sample order
        self._unplaced = []  # markers that came before any sample
        self._next_end = self.n_times if self._mode == "sliding" else None
        self._recent = deque(maxlen=self.smoothing)
        self._rows = []
        self._counts = dict(samples_lost=0, windows_late=0, windows_incomplete=0)
        self._wall = self._cpu = self._thread_cpu = 0.0
        self._passive = False

    def _warm_up(self):
        """One prediction on zeros: the first real window pays no set-up."""
        x = np.zeros((1, len(self._fit_idx), self.n_times), np.float32)
        with torch_threads(self.n_threads):
            self.estimator_.predict_proba(x)

    # -- reading -------------------------------------------------------------
    def step(self):
        """Read what arrived and decide every window it completes.

        Returns
        -------
        n_new : int
            The number of samples read.
        """
        chunk = self._read()
        if chunk is not None:
            self._ingest(*chunk)
        if self._markers is not None:
            self._read_markers()
        self._decide()
        return 0 if chunk is None else chunk[0].shape[1]

    def _read(self):
        stream = self.stream
        if not self._passive:
            try:
                stream.acquire()
            except RuntimeError as err:
                if "automatically" not in str(err):
                    raise
                self._passive = True
                warn("The stream acquires in a background thread: samples that "
                     "arrive between n_new_samples and get_data() can be lost. "
                     "Connect it with acquisition_delay=None, or pass its name.")
        n_new = stream.n_new_samples
        if not n_new:
            return None
        n_buffer = getattr(stream, "n_buffer", n_new)
        if n_new > n_buffer:
            self._lose(n_new - n_buffer, "the stream's buffer overflowed; pass a "
                       "larger bufsize")
            n_new = n_buffer
        # half a sample less: ceil(winsize * sfreq) is n_new even when
        # n_new / sfreq * sfreq rounds up
        data, ts = stream.get_data(winsize=(n_new - 0.5) / self.sfreq, exclude=())
        arrival = self._clock()
        return data[:, -n_new:], np.asarray(ts)[-n_new:], arrival

    def _lose(self, n, why):
        self._counts["samples_lost"] += int(n)
        warn(f"{n} samples lost after sample {self.n_received_}: {why}.")

    def _ingest(self, data, ts, arrival):
        n = data.shape[1]
        counter = np.full(n, np.nan)
        if self._counter_idx is not None:
            counter = data[self._counter_idx].astype(np.float64)
            self._check_counter(counter)
        x = data[self._fit_idx].astype(np.float64)
        if self.filter_ is not None:
            x = self.filter_(x)
        meta = np.vstack([ts, np.full(n, arrival), counter])
        self._history.append(np.vstack([x, meta]))
        if self._stim_idx is not None:
            self._stim_events(data[self._stim_idx], arrival)
        self.n_received_ += n
        if self._unplaced:
            markers, self._unplaced = self._unplaced, []
            for name, stamp, came in markers:
                self._place_marker(name, stamp, came)

    def _check_counter(self, counter):
        previous = self._last_counter
        steps = np.diff(counter if previous is None else np.r_[previous, counter])
        gaps = steps[steps > 1] - 1
        if len(gaps):
            self._lose(int(gaps.sum()), f"{len(gaps)} gap(s) in the counter channel")
        if (steps < 1).any():
            warn("The counter channel went backwards or repeated (a restarted "
                 "source, or a file played in a loop).")
        self._last_counter = counter[-1]

    def _stim_events(self, stim, arrival):
        previous = stim[0] if self._last_stim is None else self._last_stim
        before = np.r_[previous, stim[:-1]]
        for i in np.flatnonzero((stim != 0) & (stim != before)):
            name = self._event_name(stim[i])
            if name is not None:
                self._add_event(self.n_received_ + int(i), name, arrival)
        self._last_stim = stim[-1]

    def _event_name(self, value):
        """The event's name in event_id, or None for an event not asked for."""
        if isinstance(value, str):
            if self.event_id is None or value in self.event_id:
                return value
            try:
                value = float(value)
            except ValueError:
                return None
        code = int(round(float(value)))
        if self._names is None:
            return str(code)
        return self._names.get(code)

    def _add_event(self, sample, name, arrival):
        self._pending.append(_Event(sample, name, arrival))
        self._pending.sort(key=lambda e: e.sample)

    def _read_markers(self):
        values, stamps = self._markers.pull_chunk(timeout=0.0)
        if not len(stamps):
            return
        came = self._clock()
        for value, stamp in zip(values, stamps):
            name = self._event_name(value[0])
            if name is not None:
                self._place_marker(name, float(stamp), came)

    def _place_marker(self, name, stamp, came):
        if self.n_received_ == 0:
            self._unplaced.append((name, stamp, came))
            return
        newest = self.n_received_ - 1
        newest_stamp = self._history.get(newest, newest + 1)[-3, 0]
        sample = newest + int(round((stamp - newest_stamp) * self.sfreq))
        self._add_event(sample, name, came)

    # -- deciding ------------------------------------------------------------
    def _decide(self):
        if self._mode == "sliding":
            while self._next_end <= self.n_received_:
                self._window(self._next_end - self.n_times, None, None)
                self._next_end += self.hop
            return
        while self._pending:
            event = self._pending[0]
            start = event.sample + self._offset
            if start + self.n_times > self.n_received_:
                break
            self._pending.pop(0)
            if start < self._history.first:
                self._counts["windows_incomplete"] += 1
                logger.debug(f"Event {event.name!r} at sample {event.sample}: its "
                             "window starts before the signal kept; skipped.")
                continue
            self._window(start, event.name, event.arrival)

    def _window(self, start, event, event_arrival):
        """Decide the window starting at ``start`` (or drop it when late)."""
        stop = start + self.n_times
        block = self._history.get(start, stop)
        stamp, arrival, counter = block[-3:, -1]
        if event_arrival is not None:
            arrival = max(arrival, event_arrival)
        x = (block[:-3] * self._factors[:, None]).astype(np.float32)[None]
        if self.alignment_ is not None:
            # every window updates the reference, decided or not
            self.alignment_.partial_fit(x)
        if self.max_lag is not None:
            newest_arrival = self._history.get(self.n_received_ - 1,
                                               self.n_received_)[-2, 0]
            lag = ((self.n_received_ - stop) / self.sfreq
                   + self._clock() - newest_arrival)
            if lag > self.max_lag:
                self._counts["windows_late"] += 1
                self._recent.clear()
                return
        proba, seconds = self._predict(x)
        self._recent.append(proba)
        if len(self._recent) > 1:
            proba = np.mean(self._recent, axis=0)
        index = int(np.argmax(proba))
        label = self.estimator_.classes_[index]
        if self._outlet is not None:
            self._outlet.push(index, proba, label, stamp)
        pushed = self._clock()
        row = dict(sample=stop - 1, event=event, label=label, index=index)
        row.update({f"p_{c}": p for c, p in zip(self.estimator_.classes_, proba)})
        row.update(window_end=stamp, arrival=arrival, push_time=pushed,
                   latency=pushed - arrival, inference=seconds)
        if self._counter_idx is not None:
            row["counter"] = int(counter)
        self._rows.append(row)

    def _predict(self, x):
        if self.alignment_ is not None:
            x = self.alignment_.transform(x)
        for step in self._steps:
            x = step.transform(x)
        start = time.perf_counter()
        with torch_threads(self.n_threads):
            proba = self.estimator_.predict_proba(x)[0]
        return proba, time.perf_counter() - start

    # -- running -------------------------------------------------------------
    def run(self, duration=None, *, max_decisions=None, progress=False):
        """Decode until ``duration`` seconds passed or the stream ran out.

        A replayed recording is read as fast as it can be; a live stream is
        polled, sleeping ``poll`` seconds when nothing came. Ctrl-C stops it;
        every decision made so far is in :attr:`decisions_`.

        Parameters
        ----------
        duration : float | None
            Seconds to run (``None``: until the stream runs out, or forever).
        max_decisions : int | None
            Stop after this many decisions.
        progress : bool
            Show a status line (elapsed time, decisions, lost samples, late
            windows, latency) on stderr, updated every second.

        Returns
        -------
        self : OnlineDecoder
            The decoder.
        """
        start, cpu, thread_cpu = time.perf_counter(), time.process_time(), \
            time.thread_time()
        shown = start
        try:
            while True:
                n_new = self.step()
                now = time.perf_counter()
                if duration is not None and now - start >= duration:
                    break
                if max_decisions is not None and len(self._rows) >= max_decisions:
                    break
                if not n_new:
                    if getattr(self.stream, "exhausted", False):
                        break
                    time.sleep(self.poll)
                if progress and now - shown >= 1.0:
                    shown = now
                    self._status(now - start + self._wall)
        finally:
            self._wall += time.perf_counter() - start
            self._cpu += time.process_time() - cpu
            self._thread_cpu += time.thread_time() - thread_cpu
            if progress:
                self._status(self._wall, end="\n")
        return self

    def _status(self, elapsed, end=""):
        stats = self.stats()
        line = (f"\r{elapsed:7.1f} s  {stats['windows_decided']} decisions  "
                f"{stats['samples_lost']} samples lost  {stats['windows_late']} late")
        if stats["windows_decided"]:
            line += f"  latency p50 {1e3 * stats['latency_p50']:.1f} ms"
        print(line, end=end, file=sys.stderr, flush=True)

    # -- results -------------------------------------------------------------
    @property
    def decisions_(self):
        """The decisions, one row per window (a :class:`pandas.DataFrame`).

        Columns: ``sample`` (the window's last sample, counted from the first
        sample received), ``event`` (event-locked mode), ``label``, ``index``
        (in ``classes_``), ``p_<class>`` (the probabilities, smoothed when
        asked), ``window_end`` (the stream's timestamp of the last sample),
        ``arrival`` (when the decoder had all the window needed), ``push_time``
        (when the decision was published), ``latency`` (``push_time -
        arrival``), ``inference`` (seconds in ``predict_proba``), and
        ``counter`` (the counter channel at the last sample, when given).
        Times are LSL clock seconds when MNE-LSL is installed.
        """
        columns = ["sample", "event", "label", "index",
                   *(f"p_{c}" for c in self.estimator_.classes_),
                   "window_end", "arrival", "push_time", "latency", "inference"]
        if self._counter_idx is not None:
            columns.append("counter")
        return pd.DataFrame(self._rows, columns=columns)

    def stats(self):
        """What was received, lost, dropped and how fast it was decided.

        Returns
        -------
        stats : dict
            ``samples_received``, ``samples_lost`` (buffer overflows and
            counter gaps), ``windows_decided``, ``windows_late`` (dropped for
            ``max_lag``), ``windows_incomplete`` (events whose window was not
            in the signal kept), ``latency_p50``, ``latency_p99``,
            ``inference_p50``, ``inference_p99`` (seconds), ``duration``
            (seconds in :meth:`run`), ``cpu_share`` (process CPU time over
            wall time, all threads: 1.0 is one core) and
            ``decoder_cpu_share`` (the decoding thread's alone).
        """
        latency = [r["latency"] for r in self._rows]
        inference = [r["inference"] for r in self._rows]

        def pct(values, q):
            return float(np.percentile(values, q)) if values else float("nan")

        wall = self._wall or float("nan")
        return dict(samples_received=self.n_received_, **self._counts,
                    windows_decided=len(self._rows),
                    latency_p50=pct(latency, 50), latency_p99=pct(latency, 99),
                    inference_p50=pct(inference, 50), inference_p99=pct(inference, 99),
                    duration=self._wall, cpu_share=self._cpu / wall,
                    decoder_cpu_share=self._thread_cpu / wall)

    def close(self):
        """Close the outlet, then the marker inlet, then the stream (those the
        decoder opened), in this order."""
        owned, self._owned = self._owned, []
        for close in owned:
            try:
                close()
            except Exception as err:  # a closing error must not hide the others
                logger.debug(f"Closing {close}: {err}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        mode = (f"hop {self.hop} samples" if self._mode == "sliding"
                else f"event-locked, tmin {self._offset} samples")
        return (f"<OnlineDecoder | {type(self.estimator_).__name__}, {mode}, "
                f"{len(self._rows)} decisions>")


@verbose
def replay(estimator, raw, *, hop=None, events=None, event_id=None, tmin=0.0,
           filter=None, alignment=None, smoothing=1, picks=None, counter=None,
           chunk_size=32, verbose=None):
    """Decode a recording through the live code path, without LSL.

    The recording is played by a :class:`ReplayStream` into an
    :class:`OnlineDecoder` with ``max_lag=None``: the decisions are those a
    live run makes on the same samples from the same first sample, whatever
    the chunk sizes.

    Parameters
    ----------
    estimator : NeuroSketchClassifier | path-like | sklearn.pipeline.Pipeline
        As for :class:`OnlineDecoder`.
    raw : mne.io.Raw
        The recording (raw, not filtered: the decoder filters causally).
    hop, event_id, tmin, filter, alignment, smoothing, picks, counter
        As for :class:`OnlineDecoder`.
    events : str | None
        The stim channel of the events, or ``"annotations"`` to place them at
        the recording's annotations (as a marker stream would).
    chunk_size : int | tuple of int
        As for :class:`ReplayStream` (the decisions do not depend on it).
    %(verbose)s

    Returns
    -------
    decisions : pandas.DataFrame
        :attr:`OnlineDecoder.decisions_`; ``decisions.attrs["stats"]`` holds
        :meth:`OnlineDecoder.stats`.
    """
    stream = ReplayStream(raw, chunk_size=chunk_size)
    markers = None
    if events == "annotations":
        events, markers = None, stream.markers()
    with OnlineDecoder(estimator, stream, hop=hop, events=events, event_id=event_id,
                       marker_stream=markers, tmin=tmin, filter=filter,
                       alignment=alignment, smoothing=smoothing, picks=picks,
                       counter=counter, max_lag=None) as decoder:
        decoder.run()
    decisions = decoder.decisions_
    decisions.attrs["stats"] = decoder.stats()
    return decisions
