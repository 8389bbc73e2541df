"""Online decoding without LSL: a Raw replayed in random chunks through the
decoder's live code path (mne_neurosketch.online)."""

import sys

import mne
import numpy as np
import pytest
import torch
from scipy.signal import sosfilt, sosfilt_zi
from sklearn.pipeline import make_pipeline

from mne_neurosketch.alignment import EuclideanAlignment
from mne_neurosketch.estimator import NeuroSketchClassifier
from mne_neurosketch.online import (
    CausalFilter,
    OnlineDecoder,
    ReplayStream,
    RunningAlignment,
    causal_filter,
    replay,
)
from mne_neurosketch.online._decoder import torch_threads
from mne_neurosketch.online._streams import import_mne_lsl

#: A NeuroSketch small enough for CPU tests.
TINY = dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8), stem_channels=(8, 8, 8), head_dim=2)
SFREQ = 128.0
N_TIMES = 64  # the windows: 0.5 s
EVENT_ID = dict(rare=2, frequent=1)
BAND = (1.0, 20.0)


def make_raw(seconds=60, seed=0, counter=False):
    """Four EEG channels in volts, a stim channel STI (events every 0.7 s, code 2
    followed by a positive deflection on every channel) and an optional
    sample counter CNT."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SFREQ)
    onsets = np.arange(int(SFREQ), n - int(SFREQ), int(0.7 * SFREQ))
    codes = rng.choice([1, 2], len(onsets), p=[0.7, 0.3])
    eeg = rng.standard_normal((4, n)) * 10e-6 + 40e-6  # a DC offset, as amplifiers
    for onset, code in zip(onsets, codes):
        eeg[:, onset + 10:onset + 40] += (code == 2) * 15e-6
    stim = np.zeros(n)
    stim[onsets] = codes
    names, types, rows = ["C3", "Cz", "C4", "Pz", "STI"], ["eeg"] * 4 + ["stim"], [
        eeg, stim[None]]
    if counter:
        names, types = names + ["CNT"], types + ["misc"]
        rows.append(np.arange(n)[None])
    info = mne.create_info(names, SFREQ, types)
    return mne.io.RawArray(np.vstack(rows), info, verbose=False)


def epochs_of(raw):
    events = mne.find_events(raw, "STI", consecutive=True, shortest_event=1,
                             verbose=False)
    return mne.Epochs(raw, events, EVENT_ID, tmin=0, tmax=(N_TIMES - 1) / SFREQ,
                      baseline=None, preload=True, verbose=False)


@pytest.fixture(scope="module")
def clf():
    """A tiny network fitted on Epochs of the causally filtered recording."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    epochs = epochs_of(causal_filter(make_raw(seed=1), *BAND, verbose=False))
    est = NeuroSketchClassifier(module_kwargs=TINY, max_epochs=3, batch_size=16,
                                valid_size=None, random_state=0, verbose=False,
                                device="cpu").fit(epochs)
    torch.set_num_threads(n_threads)
    return est


def test_replay_in_random_chunks_decides_as_predict_proba(clf):
    raw = make_raw()
    decisions = replay(clf, raw, events="STI", event_id=EVENT_ID, filter=BAND,
                       chunk_size=(1, 97))
    epochs = epochs_of(causal_filter(raw, *BAND, verbose=False))
    # one window per event, at the event, in order
    assert len(decisions) == len(epochs.events)
    np.testing.assert_array_equal(decisions["sample"] - (N_TIMES - 1),
                                  epochs.events[:, 0])
    names = {code: name for name, code in EVENT_ID.items()}
    assert list(decisions["event"]) == [names[c] for c in epochs.events[:, 2]]
    proba = clf.predict_proba(epochs)
    columns = [f"p_{c}" for c in clf.classes_]
    assert np.abs(decisions[columns].to_numpy() - proba).max() <= 1e-6
    np.testing.assert_array_equal(decisions["label"], clf.predict(epochs))
    stats = decisions.attrs["stats"]
    assert stats["samples_received"] == raw.n_times
    assert stats["samples_lost"] == stats["windows_late"] == 0
    assert stats["windows_decided"] == len(decisions)


def test_chunk_sizes_do_not_change_decisions(clf):
    raw = make_raw(seconds=20)
    one = replay(clf, raw, hop=0.25, filter=BAND, chunk_size=1)
    many = replay(clf, raw, hop=0.25, filter=BAND, chunk_size=(50, 400))
    columns = ["sample", "label", *(f"p_{c}" for c in clf.classes_)]
    np.testing.assert_array_equal(one[columns], many[columns])


def test_sliding_windows_are_the_file_slices(clf):
    raw = make_raw(seconds=20)
    hop = 16
    decisions = replay(clf, raw, hop=hop / SFREQ, chunk_size=(1, 40))
    data = raw.get_data(picks=clf.ch_names_, units="uV")
    starts = np.arange(0, raw.n_times - N_TIMES + 1, hop)
    windows = np.stack([data[:, s:s + N_TIMES] for s in starts]).astype(np.float32)
    assert len(decisions) == len(starts)
    np.testing.assert_array_equal(decisions["sample"], starts + N_TIMES - 1)
    proba = clf.predict_proba(windows)
    columns = [f"p_{c}" for c in clf.classes_]
    assert np.abs(decisions[columns].to_numpy() - proba).max() <= 1e-6
    np.testing.assert_array_equal(decisions["index"], proba.argmax(1))


def test_smoothing_averages_the_last_windows(clf):
    raw = make_raw(seconds=10)
    plain = replay(clf, raw, hop=0.125)
    smooth = replay(clf, raw, hop=0.125, smoothing=3)
    columns = [f"p_{c}" for c in clf.classes_]
    p = plain[columns].to_numpy()
    expected = np.stack([p[max(0, i - 2):i + 1].mean(0) for i in range(len(p))])
    np.testing.assert_allclose(smooth[columns].to_numpy(), expected, atol=1e-12)
    np.testing.assert_array_equal(smooth["index"], expected.argmax(1))


def test_late_windows_dropped_and_counted(clf):
    # Chunks of 10 s: the windows ending 0 and 0.5 s before a chunk's end are
    # decided, the older ones are later than max_lag=0.75 s and dropped.
    raw = make_raw(seconds=40)
    stream = ReplayStream(raw, chunk_size=int(10 * SFREQ))
    with OnlineDecoder(clf, stream, hop=0.5, max_lag=0.75) as decoder:
        decoder.run()
    stats = decoder.stats()
    ends = np.arange(N_TIMES, raw.n_times + 1, int(0.5 * SFREQ))
    age = (-ends) % int(10 * SFREQ)
    assert stats["windows_decided"] == np.sum(age <= int(0.5 * SFREQ))
    assert stats["windows_late"] == np.sum(age > int(0.5 * SFREQ))
    assert set(decoder.decisions_["sample"] + 1) == set(ends[age <= int(0.5 * SFREQ)])


def test_events_from_annotations_as_markers(clf):
    raw = make_raw(seconds=20)
    events = mne.find_events(raw, "STI", consecutive=True, shortest_event=1,
                             verbose=False)
    names = {code: name for name, code in EVENT_ID.items()}
    raw.set_annotations(mne.Annotations(events[:, 0] / SFREQ, 0,
                                        [names[c] for c in events[:, 2]]))
    by_stim = replay(clf, raw, events="STI", event_id=EVENT_ID, chunk_size=(1, 60))
    by_markers = replay(clf, raw, events="annotations", event_id=EVENT_ID,
                        chunk_size=(1, 60))
    columns = ["sample", "event", "label", *(f"p_{c}" for c in clf.classes_)]
    np.testing.assert_array_equal(by_stim[columns], by_markers[columns])


def test_lost_samples_counted_from_the_counter(clf):
    raw = make_raw(seconds=10, counter=True)
    data = raw.get_data()
    keep = np.ones(raw.n_times, bool)
    keep[300:305] = keep[700:701] = False  # 6 samples lost on the way
    holed = mne.io.RawArray(data[:, keep], raw.info, verbose=False)
    stream = ReplayStream(holed, chunk_size=(1, 30), seed=0)
    with pytest.warns(RuntimeWarning, match="samples lost"):
        with OnlineDecoder(clf, stream, hop=0.25, counter="CNT") as decoder:
            decoder.run()
    assert decoder.stats()["samples_lost"] == 6
    assert decoder.stats()["samples_received"] == keep.sum()
    assert (decoder.decisions_["counter"] >= decoder.decisions_["sample"]).all()


def test_causal_filter_in_chunks_equals_sosfilt(rng):
    x = rng.standard_normal((3, 5000)) + 5.0
    filt = CausalFilter(1.0, 30.0, 256.0)
    pieces, start = [], 0
    while start < x.shape[1]:
        stop = start + int(rng.integers(1, 300))
        pieces.append(filt(x[:, start:stop]))
        start = stop
    zi = sosfilt_zi(filt.sos)[:, None, :] * x[:, 0][None, :, None]
    whole = sosfilt(filt.sos, x, axis=-1, zi=zi)[0]
    np.testing.assert_allclose(np.hstack(pieces), whole, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(causal_filter(x, 1.0, 30.0, sfreq=256.0), whole,
                               rtol=1e-12, atol=1e-12)
    # the steady state of the first sample: no step transient from the offset
    assert np.abs(whole[:, :50]).max() < 10


def test_causal_filter_of_raw_leaves_the_stim_channel(clf):
    raw = make_raw(seconds=5)
    out = causal_filter(raw, *BAND, verbose=False)
    np.testing.assert_array_equal(out.get_data("STI"), raw.get_data("STI"))
    filt = CausalFilter(*BAND, SFREQ)
    np.testing.assert_allclose(out.get_data("eeg"), filt(raw.get_data("eeg")))
    with pytest.raises(ValueError, match="sfreq is required"):
        causal_filter(raw.get_data(), *BAND)
    with pytest.raises(ValueError, match="continuous recording"):
        causal_filter(np.zeros((2, 3, 100)), *BAND, sfreq=SFREQ)
    with pytest.raises(ValueError, match="needs l_freq, h_freq or both"):
        CausalFilter(None, None, SFREQ)


def test_running_alignment_equals_batch_alignment(rng):
    X = rng.standard_normal((30, 4, 100)) * np.array([3.0, 1.0, 0.2, 2.0])[:, None]
    running = RunningAlignment().fit(X[:10])
    for i in range(10, 30, 7):  # unlabelled windows, a few at a time
        running.partial_fit(X[i:i + 7])
    assert running.n_trials_ == 30
    batch = EuclideanAlignment().fit_transform(X)
    np.testing.assert_allclose(running.transform(X), batch, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(RunningAlignment().fit_transform(X), batch, rtol=1e-9,
                               atol=1e-12)
    target = EuclideanAlignment().fit(X[:5], X_target_unlabeled=X)
    np.testing.assert_allclose(running.whitener_, target.target_whitener_, rtol=1e-9)
    with pytest.raises(ValueError, match="has 3 channels"):
        running.partial_fit(X[:2, :3])


def test_decoder_updates_a_copy_of_the_running_alignment(clf):
    raw = make_raw(seconds=20)
    epochs = epochs_of(causal_filter(raw, *BAND, verbose=False))
    calibration = epochs.get_data(picks="eeg", units="uV")[:10].astype(np.float32)
    start = RunningAlignment().fit(calibration)
    with OnlineDecoder(clf, ReplayStream(raw, chunk_size=(1, 50)), events="STI",
                       event_id=EVENT_ID, filter=BAND, alignment=start,
                       max_lag=None) as decoder:
        decoder.run()
    assert start.n_trials_ == 10  # the caller's is left as it was
    aligned = decoder.alignment_
    assert aligned.n_trials_ == 10 + len(epochs)
    # each window was aligned with the reference of everything up to it
    windows = epochs.get_data(picks="eeg", units="uV").astype(np.float32)
    last = RunningAlignment().fit(np.concatenate([calibration, windows]))
    np.testing.assert_allclose(aligned.whitener_, last.whitener_, rtol=1e-6)
    expected = clf.predict_proba(last.transform(windows[-1:]))[0]
    got = decoder.decisions_[[f"p_{c}" for c in clf.classes_]].to_numpy()[-1]
    assert np.abs(got - expected).max() <= 1e-6


def test_pipeline_with_euclidean_alignment(clf):
    raw = make_raw(seconds=10)
    pipe = make_pipeline(EuclideanAlignment(), clf)
    stream = ReplayStream(raw)
    with pytest.raises(ValueError, match="alignment=RunningAlignment"):
        OnlineDecoder(pipe, stream, hop=0.5)
    windows = np.stack([raw.get_data(picks="eeg", units="uV")[:, :N_TIMES]] * 3)
    decoder = OnlineDecoder(pipe, stream, hop=0.5,
                            alignment=RunningAlignment().fit(windows))
    assert decoder._steps == [] and decoder.estimator_ is clf


def test_saved_file_decides_as_the_estimator(clf, tmp_path):
    raw = make_raw(seconds=10)
    clf.save(tmp_path / "clf.pt")
    from_file = replay(tmp_path / "clf.pt", raw, hop=0.5, filter=BAND)
    direct = replay(clf, raw, hop=0.5, filter=BAND)
    columns = [f"p_{c}" for c in clf.classes_]
    assert np.abs(from_file[columns].to_numpy() - direct[columns].to_numpy()).max() \
        <= 1e-6


def test_inference_on_one_thread_restores_the_callers(clf):
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    decoder = OnlineDecoder(clf, ReplayStream(make_raw(seconds=5)), hop=0.5)
    decoder.run()
    assert torch.get_num_threads() == before


def test_arrays_fit_needs_the_channels(rng, clf):
    raw = make_raw(seconds=5)
    X = rng.standard_normal((20, 3, N_TIMES)).astype(np.float32) * 1e-5
    y = np.repeat([0, 1], 10)
    arrays = NeuroSketchClassifier(module_kwargs=TINY, max_epochs=1, batch_size=8,
                                   valid_size=None, random_state=0, verbose=False,
                                   device="cpu").fit(X, y)
    with pytest.raises(ValueError, match="Pass picks="):
        OnlineDecoder(arrays, ReplayStream(raw), hop=0.5)
    decoder = OnlineDecoder(arrays, ReplayStream(raw), hop=0.5, picks=["C3", "Cz", "C4"])
    np.testing.assert_array_equal(decoder._factors, 1.0)  # volts, as fitted
    np.testing.assert_array_equal(OnlineDecoder(clf, ReplayStream(raw), hop=0.5)
                                  ._factors, 1e6)  # µV, as the Epochs were read


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "either hop"),
    (dict(hop=0.5, events="STI"), "got both"),
    (dict(events="STX"), "no channel 'STX'"),
    (dict(events="STI", smoothing=3), "needs hop"),
    (dict(hop=-1.0), "'hop' parameter"),
    (dict(hop=0.5, counter="CNT"), "no channel 'CNT'"),
])
def test_bad_arguments_are_named(clf, kwargs, match):
    with pytest.raises(ValueError, match=match):
        OnlineDecoder(clf, ReplayStream(make_raw(seconds=3)), **kwargs)


def test_missing_channel_and_sfreq_are_named(clf):
    raw = make_raw(seconds=3)
    with pytest.raises(ValueError, match=r"lacks 1 of the channels.*\['Pz'\]"):
        OnlineDecoder(clf, ReplayStream(raw.copy().drop_channels(["Pz"])), hop=0.5)
    with pytest.raises(ValueError, match="fitted at 128 Hz"):
        OnlineDecoder(clf, ReplayStream(raw.copy().resample(256)), hop=0.5)
    with pytest.raises(TypeError, match="without 'acquire'"):
        OnlineDecoder(clf, raw, hop=0.5)


def test_missing_mne_lsl_names_the_extra(clf, monkeypatch):
    monkeypatch.setitem(sys.modules, "mne_lsl", None)
    with pytest.raises(ImportError, match=r"mne-neurosketch\[online\]"):
        import_mne_lsl()
    with pytest.raises(ImportError, match=r"mne-neurosketch\[online\]"):
        OnlineDecoder(clf, "a-stream", hop=0.5)
