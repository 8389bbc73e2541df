"""FacesHouses adapter: Miller's .mat files, fixed 400-sample epochs, ECoG kept."""

import numpy as np
import pytest
import scipy.io
from _corpus_checks import fit_neurosketch_one_epoch, run_within_session

from mne_neurosketch.datasets import (
    FACES_HOUSES_SUBJECTS,
    FacesHouses,
    FacesHousesMOABB,
    simulate_faces_houses,
)
from mne_neurosketch.paradigms import MultiClassDecoding


def _mat(root, subject):
    s = FACES_HOUSES_SUBJECTS[subject - 1]
    return root / "data" / s / f"{s}_faceshouses.mat"


def _expected(fname, min_len=200):
    """Onsets of picture runs by a plain loop over stim, then 400-sample epochs."""
    mat = scipy.io.loadmat(fname)
    data, stim = mat["data"], mat["stim"].ravel().astype(int)
    runs, start = [], None
    for i, v in enumerate(list(stim) + [0]):
        if v in (0, 101):
            if start is not None:
                runs.append((start, i - start, stim[start]))
                start = None
        elif start is None:
            start = i
    X, y, codes = [], [], []
    for start, length, code in runs:
        if length >= min_len and 1 <= code <= 100:
            X.append(data[start : start + 400].T)
            y.append(0 if code > 50 else 1)  # face 0, house 1
            codes.append(code)
    return np.stack(X), np.array(y), np.array(codes)


def _paper_epochs(fname):
    """The reference split_epochs + np.stack: epoch = the whole stimulus run."""
    mat = scipy.io.loadmat(fname)
    data, stim = mat["data"], mat["stim"].ravel().astype(int)
    active = ~np.isin(stim, [0, 101])
    edges = np.diff(np.r_[0, active.astype(int), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return np.stack([data[a:b].T for a, b in zip(starts, stops)])


def test_windows_match_paper(tmp_path):
    root = simulate_faces_houses(tmp_path, subjects=(1, 12), seed=1)
    ds = FacesHouses([1, 12], path=tmp_path, cache_dir=tmp_path / "cache")
    assert list(ds.description["subject_code"]) == ["aa", "rr"]
    offset = 0
    for k, subject in enumerate((1, 12)):
        X_exp, y_exp, codes = _expected(_mat(root, subject))
        # regular runs: identical to the paper's own epochs
        np.testing.assert_array_equal(_paper_epochs(_mat(root, subject)), X_exp)
        rec = ds.datasets[k]
        assert rec.raw.ch_names == [f"ECOG{i:03d}" for i in range(1, 6)]
        assert set(rec.raw.get_channel_types()) == {"ecog"}
        assert rec.raw.info["sfreq"] == 1000.0
        got = rec.raw.get_data().reshape(5, -1, 400).transpose(1, 0, 2)
        np.testing.assert_array_equal(got, X_exp)
        X = np.stack([ds[offset + i][0] for i in range(len(rec))])
        np.testing.assert_array_equal(X, X_exp.astype(np.float32))
        np.testing.assert_array_equal(rec.metadata["target"], y_exp)
        np.testing.assert_array_equal(rec.metadata["stimulus"], codes)
        offset += len(rec)
    assert ds.class_names == ["face", "house"]


def test_irregular_runs_do_not_crash(tmp_path):
    root = simulate_faces_houses(tmp_path, irregular=True, seed=2)
    # the paper's np.stack fails on such a file
    with pytest.raises(ValueError, match="all input arrays must have the same shape"):
        _paper_epochs(_mat(root, 1))
    ds = FacesHouses(1, path=root, cache=False)
    X_exp, y_exp, _ = _expected(_mat(root, 1))
    assert len(ds) == 8 == len(X_exp)  # the 3-sample glitch is not a trial
    got = ds.datasets[0].raw.get_data().reshape(5, -1, 400).transpose(1, 0, 2)
    np.testing.assert_array_equal(got, X_exp)
    np.testing.assert_array_equal(ds.get_metadata()["target"], y_exp)


def test_scaling(tmp_path):
    root = simulate_faces_houses(tmp_path, seed=3)
    data = scipy.io.loadmat(_mat(root, 1))["data"]
    X_exp, _, _ = _expected(_mat(root, 1))

    def windows(ds):
        return ds.datasets[0].raw.get_data().reshape(5, -1, 400).transpose(1, 0, 2)

    np.testing.assert_allclose(
        windows(FacesHouses(1, path=root, scale="std", cache=False)), X_exp / data.std()
    )
    np.testing.assert_allclose(
        windows(FacesHouses(1, path=root, scale=0.0298e-6, cache=False)),
        X_exp * 0.0298e-6,
    )
    with pytest.raises(ValueError, match="'scale' parameter"):
        FacesHouses(1, path=root, scale="zscore")


def test_one_epoch_and_moabb(tmp_path):
    root = simulate_faces_houses(tmp_path, n_stimuli=20, class_signal=3.0, seed=4)
    ds = FacesHouses(1, path=root, cache_dir=tmp_path / "cache")
    fit_neurosketch_one_epoch(ds)
    dataset = FacesHousesMOABB(root, subjects=[1], cache_dir=tmp_path / "cache")
    X, labels, _ = MultiClassDecoding().get_data(dataset, [1])
    assert X.shape == (20, 5, 400)  # ECoG channels kept by the MOABB dataset
    got = ds.datasets[0].raw.get_data().reshape(5, -1, 400).transpose(1, 0, 2)
    # MOABB's arrays in µV: amplifier units of 0.0298 µV.
    np.testing.assert_allclose(X, got * 0.0298, rtol=1e-6)
    np.testing.assert_array_equal(
        labels, np.array(["face", "house"])[ds.get_metadata()["target"]]
    )
    results = run_within_session(dataset, tmp_path)
    assert results["score"].iloc[0] > 0.8


def test_bad_inputs(tmp_path, monkeypatch):
    monkeypatch.delenv("MNE_DATASETS_FACESHOUSES_PATH", raising=False)
    monkeypatch.setenv("MNE_DONTWRITE_HOME", "true")
    monkeypatch.setenv("_MNE_FAKE_HOME_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="MNE_DATASETS_FACESHOUSES_PATH"):
        FacesHouses(1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="layout"):
        FacesHouses(1, path=tmp_path / "empty")
    root = simulate_faces_houses(tmp_path, seed=5)
    with pytest.raises(FileNotFoundError, match=r"ap_faceshouses\.mat"):
        FacesHouses(2, path=root, cache=False)
    fname = _mat(root, 1)
    mat = scipy.io.loadmat(fname)
    # wrong keys
    scipy.io.savemat(fname, {"data": mat["data"], "srate": mat["srate"]})
    with pytest.raises(KeyError, match=r"aa_faceshouses\.mat lacks.*stim"):
        FacesHouses(1, path=root, cache=False)
    # data and stim lengths differ
    scipy.io.savemat(
        fname, {"data": mat["data"][:-5], "stim": mat["stim"], "srate": 1000.0}
    )
    with pytest.raises(ValueError, match=r"aa_faceshouses\.mat.*same length"):
        FacesHouses(1, path=root, cache=False)
    # NaN samples
    data = mat["data"].copy()
    data[600, 2] = np.nan
    scipy.io.savemat(fname, {"data": data, "stim": mat["stim"], "srate": 1000.0})
    with pytest.raises(ValueError, match=r"aa_faceshouses\.mat contains NaN"):
        FacesHouses(1, path=root, cache=False)
    # truncated file
    scipy.io.savemat(fname, {"data": mat["data"], "stim": mat["stim"], "srate": 1000.0})
    blob = fname.read_bytes()
    fname.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"aa_faceshouses\.mat.*truncated"):
        FacesHouses(1, path=root, cache=False)
    with pytest.raises(ValueError, match="Invalid subject 15"):
        FacesHouses(15, path=root)
