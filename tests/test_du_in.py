"""Du-IN adapter: the released pickles read safely, in order, with the paper's options."""

import pickle

import mne
import numpy as np
import pytest
import torch
from _corpus_checks import fit_neurosketch_one_epoch, run_within_session
from sklearn.model_selection import train_test_split

from mne_neurosketch.datasets._pickle import UnsafePickleError
from mne_neurosketch.datasets.du_in import (
    DUIN_SELECTED_CHANNELS,
    DuIN,
    DuINMOABB,
    _duin_dotdict_class,
    simulate_du_in,
)
from mne_neurosketch.paradigms import MultiClassDecoding

RUNS = (2, 10, 1)  # written out of order: run10 sorts before run2 as text


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("duin")
    return simulate_du_in(path, subjects=(1,), runs=RUNS, class_signal=1.0)


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _run_dir(root, run, subject=1):
    return (
        root
        / "data/seeg.he2023xuanwu"
        / f"{subject:03d}"
        / "word-recitation"
        / f"run{run}"
        / "dataset.bipolar.default.unaligned"
    )


def _expected(root, channels, run_numbers=RUNS):
    """Trials, words and runs read with plain pickle (trusted: we wrote them)."""
    X, words, runs = [], [], []
    with _duin_dotdict_class():
        for run in sorted(run_numbers):
            with open(_run_dir(root, run) / "info", "rb") as fid:
                ch_names = pickle.load(fid)["ch_names"]
            with open(_run_dir(root, run) / "data", "rb") as fid:
                records = pickle.load(fid)
            picks = [ch_names.index(ch) for ch in channels]
            X += [r["data_s"][picks] for r in records]
            words += [r["name"] for r in records]
            runs += [run] * len(records)
    vocab = sorted(set(words))
    return np.array(X), np.array([vocab.index(w) for w in words]), words, np.array(runs)


def _windows(ds):
    X = np.stack([ds[i][0] for i in range(len(ds))])
    md = ds.get_metadata()
    return X, md


def test_trials_labels_and_order(root, tmp_path):
    """Runs in numeric order, paper channels, sorted-word labels, raw volts."""
    ds = DuIN(1, path=root, normalize=None, cache_dir=tmp_path)
    X_exp, y_exp, words, runs = _expected(root, DUIN_SELECTED_CHANNELS[1])
    X, md = _windows(ds)
    assert ds.description["run"].tolist() == ["1", "2", "10"]
    assert X.shape == (len(y_exp), 10, 3000)
    np.testing.assert_allclose(X, X_exp, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(md["target"], y_exp)
    assert md["word"].tolist() == words
    np.testing.assert_array_equal(md["run"].astype(int), runs)
    raw = ds.datasets[0].raw
    assert raw.ch_names == DUIN_SELECTED_CHANNELS[1]
    assert set(raw.get_channel_types()) == {"seeg"} and raw.info["sfreq"] == 1000.0
    assert ds.class_names[:3] == ["word00", "word01", "word02"]
    # The path can also be the release folder itself, or come from the config key.
    ds2 = DuIN(1, path=root / "data/seeg.he2023xuanwu", normalize=None, cache=False)
    np.testing.assert_array_equal(_windows(ds2)[0], X)


def test_zscore_on_training_trials(root, tmp_path):
    """Default statistics come from the paper's training trials only."""
    X_raw, y, _, runs = _expected(root, DUIN_SELECTED_CHANNELS[1])
    train, _ = train_test_split(
        np.arange(len(y)), test_size=0.4, stratify=y, random_state=42, shuffle=True
    )
    for normalize, ref in (("train", X_raw[train]), ("subject", X_raw)):
        expected = (X_raw - ref.mean(axis=(0, 2), keepdims=True)) / ref.std(
            axis=(0, 2), keepdims=True
        )
        X, _ = _windows(DuIN(1, path=root, normalize=normalize, cache_dir=tmp_path))
        np.testing.assert_allclose(X, expected, rtol=1e-4, atol=1e-5)
    # Grouped by run: test = first run, validation = last run, train = the rest.
    ref = X_raw[runs == 2]
    expected = (X_raw - ref.mean(axis=(0, 2), keepdims=True)) / ref.std(
        axis=(0, 2), keepdims=True
    )
    X, _ = _windows(DuIN(1, path=root, split="run", cache=False))
    np.testing.assert_allclose(X, expected, rtol=1e-4, atol=1e-5)


def test_channel_options_and_flat_trials(tmp_path):
    """All channels, explicit lists, and trials with a flat channel dropped."""
    root = simulate_du_in(tmp_path, runs=(1, 2), n_channels=13)
    ds = DuIN(1, path=root, channels="all", normalize=None, cache=False)
    assert ds.datasets[0].raw.ch_names == DUIN_SELECTED_CHANNELS[1] + ["X1", "X2", "X3"]
    ds = DuIN(1, path=root, channels={1: ["X2", "SM8"]}, normalize=None, cache=False)
    X_exp, _, _, _ = _expected(root, ["X2", "SM8"], (1, 2))
    np.testing.assert_allclose(_windows(ds)[0], X_exp, rtol=1e-6, atol=1e-12)
    # Flatten channel SM9 of trial 4 of run 1: that trial is dropped.
    fname = _run_dir(root, 1) / "data"
    with _duin_dotdict_class():
        records = pickle.loads(fname.read_bytes())
        records[4]["data_s"][1] = 0.5
        fname.write_bytes(pickle.dumps(records, protocol=4))
    ds = DuIN(1, path=root, normalize=None, cache=False)
    md = ds.get_metadata()
    assert len(md) == len(X_exp) - 1
    assert 4 not in md.loc[md["run"] == "1", "trial"].tolist()


def test_cache_and_config_key(root, tmp_path, monkeypatch):
    """The second load comes from the cache; the config key gives the path."""
    ds1 = DuIN(1, path=root, cache_dir=tmp_path)
    monkeypatch.setenv("MNE_DATASETS_DUIN_PATH", str(root))
    with mne.utils.catch_logging(verbose="info") as log:
        ds2 = DuIN(1, cache_dir=tmp_path)
    assert "from cache" in log.getvalue()
    np.testing.assert_array_equal(_windows(ds1)[0], _windows(ds2)[0])


def test_train_one_epoch_and_moabb(root, tmp_path, one_thread):
    """One NeuroSketch epoch on the windows; a MOABB within-session evaluation."""
    ds = DuIN(1, path=root, cache_dir=tmp_path)
    clf = fit_neurosketch_one_epoch(ds)
    assert clf.predict(ds).shape == (len(ds),)

    dataset = DuINMOABB(root, subjects=[1], cache_dir=tmp_path)
    X, labels, meta = MultiClassDecoding().get_data(dataset, [1])
    assert X.shape == (len(ds), 10, 3000)
    np.testing.assert_allclose(X, _windows(ds)[0], rtol=1e-5, atol=1e-6)
    assert sorted(set(labels)) == ["word00", "word01", "word02"]
    res = run_within_session(dataset, tmp_path, n_splits=2)
    assert len(res) == 1 and res["samples"].iloc[0] == len(ds)
    # 3 words (chance 1/3): 1.0 over simulator seeds 0-5 at class_signal=1
    assert res["score"].iloc[0] > 0.8


def test_bad_inputs(tmp_path):
    """Missing, truncated, wrong-key, wrong-shape and hostile files are named."""
    with pytest.raises(FileNotFoundError, match="liulab-repository/Du-IN"):
        DuIN(1, path=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="layout"):
        DuIN(1, path=tmp_path)
    root = simulate_du_in(tmp_path / "d", runs=(1, 2))
    with pytest.raises(FileNotFoundError, match="subject 2"):
        DuIN(2, path=root, cache=False)
    data, info = _run_dir(root, 2) / "data", _run_dir(root, 2) / "info"
    good, good_info = data.read_bytes(), info.read_bytes()

    (_run_dir(root, 2) / "info").rename(_run_dir(root, 2) / "info.bak")
    with pytest.raises(FileNotFoundError, match=r"run2.*info"):
        DuIN(1, path=root, cache=False)
    (_run_dir(root, 2) / "info.bak").rename(_run_dir(root, 2) / "info")

    data.write_bytes(good[: len(good) // 3])
    with pytest.raises(ValueError, match=r"Du-IN data file .*run2.*truncated"):
        DuIN(1, path=root, cache=False)

    with _duin_dotdict_class() as StandIn:
        data.write_bytes(pickle.dumps([StandIn(name="x", signal=np.zeros(3))]))
        with pytest.raises(ValueError, match=r"'name' and 'data_s'.*signal"):
            DuIN(1, path=root, cache=False)
        data.write_bytes(pickle.dumps([StandIn(name="x", data_s=np.zeros((12, 100)))]))
        with pytest.raises(ValueError, match=r"shape \(12, 3000\).*\(12, 100\)"):
            DuIN(1, path=root, cache=False)
        data.write_bytes(good)
        (_run_dir(root, 2) / "info").write_bytes(
            pickle.dumps(StandIn(ch_names=["A", "B"]))
        )
        with pytest.raises(ValueError, match=r"Channels \[.*SM8.*\] are not in .*run2"):
            DuIN(1, path=root, cache=False)
        (_run_dir(root, 2) / "info").write_bytes(pickle.dumps(StandIn(names=["A"])))
        with pytest.raises(ValueError, match="no 'ch_names' list"):
            DuIN(1, path=root, cache=False)

    class Evil:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'ran')!r}, 'w').close()",))

    info.write_bytes(good_info)
    data.write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(UnsafePickleError, match=r"run2.*builtins\.exec"):
        DuIN(1, path=root, cache=False)
    assert not (tmp_path / "ran").exists()

    with pytest.raises(ValueError, match="'normalize'"):
        DuIN(1, path=root, normalize="global")
    with pytest.raises(ValueError, match="'channels'"):
        DuIN(1, path=root, channels=["SM8"])
    with pytest.raises(ValueError, match="Invalid subject 13"):
        DuIN(13, path=root)


def test_protocol_splits(root, tmp_path):
    """The paper's simple split and leave-one-run-out."""
    ds = DuIN(1, path=root, cache_dir=tmp_path)
    md = ds.get_metadata()
    y = md["target"].to_numpy()
    ((train, valid, test),) = ds.protocol_splits()
    exp_train, rest = train_test_split(
        np.arange(len(y)), test_size=0.4, stratify=y, random_state=42, shuffle=True
    )
    exp_valid, exp_test = train_test_split(
        rest, test_size=0.5, stratify=y[rest], random_state=42, shuffle=True
    )
    for got, exp in ((train, exp_train), (valid, exp_valid), (test, exp_test)):
        np.testing.assert_array_equal(got, exp)
    folds = ds.protocol_splits("grouped", group="run")
    with pytest.warns(FutureWarning, match="protocol='grouped'"):
        legacy = ds.protocol_splits("run")  # the former name
    for fold, old in zip(folds, legacy, strict=True):
        for got, exp in zip(fold, old, strict=True):
            np.testing.assert_array_equal(got, exp)
    assert len(folds) == 3
    runs = md["run"].to_numpy()
    for (train, valid, test), (test_run, valid_run) in zip(
        folds, (("1", "2"), ("10", "1"), ("2", "10"))
    ):
        assert set(runs[test]) == {test_run} and set(runs[valid]) == {valid_run}
        assert len(train) + len(valid) + len(test) == len(y)
    with pytest.raises(ValueError, match="'protocol'"):
        ds.protocol_splits("trial")
