"""MuseP300 adapter: FIF runs, 1-30 Hz, 0-0.8 s epochs, 100 µV rejection, MOABB P300."""

import re
from pathlib import Path

import mne
import numpy as np
import pytest
from moabb.evaluations import WithinSessionEvaluation
from moabb.paradigms import P300
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mne_neurosketch.datasets import MuseP300, MuseP300MOABB, simulate_muse_p300
from mne_neurosketch.paradigms import MultiClassDecoding

REAL = Path(__file__).resolve().parent / ".." / ".." / "shared" / "data" / "muse-p300"
CHANNELS = ["TP9", "AF7", "AF8", "TP10"]


def _runs(root, subject):
    """(session, run, file) of a subject, in numeric session and run order."""
    found = []
    for fname in (root / f"sub-{subject:02d}").iterdir():
        m = re.fullmatch(r"sub-\d+_ses-(\d+)_run-(\d+)_raw\.fif", fname.name)
        found.append((int(m[1]), int(m[2]), fname))
    return sorted(found)


def _expected(root, subject):
    """The README's recipe on the concatenated runs, rejection by a plain ptp test.

    Returns one ``(session, run, X, y)`` per run that keeps an epoch.
    """
    runs = _runs(root, subject)
    raws = [mne.io.read_raw_fif(f, preload=True, verbose="error") for *_, f in runs]
    lengths = np.cumsum([r.n_times for r in raws])
    raw = mne.concatenate_raws(raws, verbose="error")
    events = mne.find_events(raw, stim_channel="STI", shortest_event=1, verbose="error")
    raw.filter(1.0, 30.0, picks="eeg", verbose="error")
    epochs = mne.Epochs(
        raw, events, dict(NonTarget=1, Target=2), tmin=0.0, tmax=0.8, baseline=None,
        picks=CHANNELS, preload=True, verbose="error",
    )  # fmt: skip
    X = epochs.get_data()
    keep = np.ptp(X, axis=-1).max(axis=1) <= 100e-6
    run_of = np.searchsorted(lengths, epochs.events[:, 0], side="right")
    out = []
    for k, (session, run, _) in enumerate(runs):
        sel = keep & (run_of == k)
        if sel.any():
            out.append((str(session), str(run), X[sel], epochs.events[sel, 2] - 1))
    return out


def _flatten(X):
    return X[:, :, ::8].reshape(len(X), -1)


def _check_against_reference(ds, root, subjects):
    recs = iter(ds.datasets)
    for subject in subjects:
        for session, run, X, y in _expected(root, subject):
            rec = next(recs)
            assert rec.description[["subject", "session", "run"]].tolist() == [
                subject, session, run,
            ]  # fmt: skip
            got = np.stack([rec[i][0] for i in range(len(rec))])
            assert got.dtype == np.float32
            assert got.shape == (len(y), 4, 206)
            np.testing.assert_allclose(got, X, rtol=1e-5, atol=1e-12)
            np.testing.assert_array_equal(rec.metadata["target"], y)
    assert next(recs, None) is None


def test_windows_match_reference(tmp_path):
    root = simulate_muse_p300(
        tmp_path / "muse-p300", subjects=(1, 2), n_sessions=2, n_runs=2, n_stimuli=30,
        n_artifacts=2, seed=1,
    )  # fmt: skip
    ds = MuseP300([1, 2], path=tmp_path, cache_dir=tmp_path / "cache")
    assert ds.class_names == ["NonTarget", "Target"]
    assert list(ds.description.columns) == ["subject", "session", "run"]
    assert len(ds.datasets) == 8  # 2 subjects x 2 sessions x 2 runs
    _check_against_reference(ds, root, (1, 2))
    assert len(ds) < 8 * 30  # the blinks were dropped
    rec = ds.datasets[0]
    assert rec.raw.ch_names == CHANNELS and rec.raw.info["sfreq"] == 256.0
    events = mne.find_events(
        mne.io.read_raw_fif(_runs(root, 1)[0][2], verbose="error"), "STI",
        shortest_event=1, verbose="error",
    )  # fmt: skip
    assert np.sum(events[:, 2] == 2) == 5  # 1 in 6 stimuli is a target
    assert all(
        mne.io.read_raw_fif(f, verbose="error").orig_format == "single"
        for *_, f in _runs(root, 1)
    )  # float32 files, as the real ones
    assert set(rec.metadata["onset"]) <= set(events[:, 0])

    again = MuseP300([1, 2], path=root, cache_dir=tmp_path / "cache")  # from the cache
    assert list((tmp_path / "cache" / "MuseP300").iterdir())
    for a, b in zip(ds.datasets, again.datasets):
        np.testing.assert_array_equal(
            np.stack([a[i][0] for i in range(len(a))]),
            np.stack([b[i][0] for i in range(len(b))]),
        )
        assert a.metadata.equals(b.metadata)
        assert a.description.equals(b.description)


def test_preprocessing_parameters(tmp_path):
    root = simulate_muse_p300(tmp_path, n_runs=1, n_stimuli=20, n_artifacts=3, seed=2)
    kept = MuseP300(1, path=root, reject=None, tmax=0.5, cache=False)
    assert len(kept) == 20 and kept[0][0].shape == (4, 129)
    assert len(MuseP300(1, path=root, cache=False)) < 20
    for name, value in (("reject", -1.0), ("tmax", None), ("l_freq", "1")):
        with pytest.raises(ValueError, match=f"'{name}' parameter"):
            MuseP300(1, path=root, **{name: value})
    with pytest.raises(ValueError, match="'l_freq' parameter.*below h_freq"):
        MuseP300(1, path=root, l_freq=40.0)


def test_moabb_p300_evaluation(tmp_path):
    root = simulate_muse_p300(tmp_path, n_runs=2, n_stimuli=60, seed=3)
    dataset = MuseP300MOABB(root, subjects=[1], cache_dir=tmp_path / "cache")
    assert dataset.paradigm == "p300"
    assert dataset.event_id == {"NonTarget": 1, "Target": 2}
    paradigm = P300()
    assert paradigm.is_valid(dataset)
    # Raws in volts, arrays in µV: MOABB's convention. The unfiltered trials are
    # the braindecode windows, sample for sample.
    windows = MuseP300(1, path=root, cache_dir=tmp_path / "cache")
    X_win = np.stack([windows[i][0] for i in range(len(windows))])
    X, labels, meta = MultiClassDecoding().get_data(dataset, [1])
    np.testing.assert_allclose(X, X_win * 1e6, rtol=1e-6)
    np.testing.assert_array_equal(
        labels, np.array(["NonTarget", "Target"])[windows.get_metadata()["target"]]
    )
    assert meta["run"].tolist() == ["1"] * 60 + ["2"] * 60

    pipe = make_pipeline(
        FunctionTransformer(_flatten),
        StandardScaler(),
        LogisticRegression(max_iter=200),
    )
    # MOABB's P300 (1-24 Hz again) and the corpus' own trials, both by ROC-AUC.
    for paradigm in (paradigm, MultiClassDecoding(scorer="roc_auc")):
        assert paradigm.scoring == "roc_auc"
        evaluation = WithinSessionEvaluation(
            paradigm=paradigm,
            datasets=[dataset],
            overwrite=True,
            hdf5_path=str(tmp_path / "moabb_results"),
            random_state=0,
        )
        results = evaluation.process({"flat-lr": pipe})
        assert len(results) == 1 and results["dataset"].iloc[0] == "MuseP300"
        assert results["samples"].iloc[0] == 120
        # a 5 µV deflection over ~1.4 µV of filtered noise: near-perfect AUC
        assert results["score"].iloc[0] > 0.9


def test_bad_inputs(tmp_path, monkeypatch):
    monkeypatch.delenv("MNE_DATASETS_MUSEP300_PATH", raising=False)
    monkeypatch.setenv("MNE_DONTWRITE_HOME", "true")
    monkeypatch.setenv("_MNE_FAKE_HOME_DIR", str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=r"MNE_DATASETS_MUSEP300_PATH(.|\n)*eeg-notebooks"
    ):
        MuseP300(1)
    with pytest.raises(FileNotFoundError, match="BSD-3-Clause"):
        MuseP300MOABB().data_path(1)
    with pytest.raises(FileNotFoundError, match=r"nowhere.*does not exist"):
        MuseP300(1, path=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="layout"):
        MuseP300(1, path=tmp_path / "empty")

    root = simulate_muse_p300(tmp_path / "muse", n_runs=2, n_stimuli=12, seed=4)
    (root / "sub-02").mkdir()
    with pytest.raises(FileNotFoundError, match=r"subject 2.*sub-02"):
        MuseP300(2, path=root, cache=False)
    with pytest.raises(ValueError, match="Invalid subject 6"):
        MuseP300(6, path=root)
    monkeypatch.setenv("MNE_DATASETS_MUSEP300_PATH", str(root))  # the config key
    assert len(MuseP300(1, cache=False).datasets) == 2

    fname = root / "sub-01" / "sub-01_ses-1_run-2_raw.fif"
    raw = mne.io.read_raw_fif(fname, preload=True, verbose="error")
    raw.copy().drop_channels(["STI"]).save(fname, overwrite=True, verbose="error")
    with pytest.raises(ValueError, match=r"sub-01_ses-1_run-2_raw\.fif lacks.*'STI'"):
        MuseP300(1, path=root, cache=False)
    raw.copy().resample(128, verbose="error").save(fname, overwrite=True, verbose="error")
    with pytest.raises(ValueError, match=r"run-2_raw\.fif is sampled at 128\.0 Hz"):
        MuseP300(1, path=root, cache=False)
    raw.save(fname, fmt="single", overwrite=True, verbose="error")
    blob = fname.read_bytes()
    fname.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"run-2_raw\.fif .*truncated"):
        MuseP300(1, path=root, cache=False)


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/data/muse-p300")
def test_real_recordings():
    # Epochs (targets) after the README's preprocessing; the README's reference
    # point gives subjects 1, 2, 3 and 5, subject 4 (one short run) is ours.
    counts = {1: (3048, 479), 2: (1518, 236), 3: (2315, 376), 4: (85, 10), 5: (400, 69)}
    ds = MuseP300(path=REAL, cache=False)
    md = ds.get_metadata()
    for subject, (n, n_targets) in counts.items():
        y = md.loc[md["subject"] == subject, "target"]
        assert (len(y), int(y.sum())) == (n, n_targets)
    # One recording per run, but subject 5's runs 4 and 5 lose every epoch.
    n_runs = ds.description.groupby("subject").size().to_dict()
    assert n_runs == {1: 16, 2: 8, 3: 15, 4: 1, 5: 3}
    _check_against_reference(MuseP300([2, 4], path=REAL, cache=False), REAL, (2, 4))
