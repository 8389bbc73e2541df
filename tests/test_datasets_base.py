"""Shared corpus machinery: paths, recordings, windows, MOABB dataset and the cache."""

import json
import multiprocessing
import os
import pickle
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest
from _toy_corpus import _Toy, _ToyMOABB, _ToyReader, make_toy
from _toy_corpus import windows as _windows

from mne_neurosketch.datasets import _cache
from mne_neurosketch.datasets._windows import LazyWindowsDataset
from mne_neurosketch.datasets.base import (
    Recording,
    config_key,
    nonflat_trials,
    recordings_to_windows,
    resolve_path,
)
from mne_neurosketch.paradigms import MultiClassDecoding


@pytest.fixture
def toy(tmp_path):
    root = tmp_path / "toy"
    return root, make_toy(root)


@pytest.fixture
def counter():
    return multiprocessing.Value("i", 0)


# ----------------------------------------------------------------------- paths
def test_config_key():
    assert config_key("SEED-DV") == "MNE_DATASETS_SEEDDV_PATH"
    assert config_key("FacesHouses") == "MNE_DATASETS_FACESHOUSES_PATH"


def test_resolve_path(toy, tmp_path, monkeypatch):
    root, _ = toy
    kw = dict(
        code="Toy-Corpus",
        publisher="PUB",
        layout="LAYOUT",
        is_root=lambda f: any(f.glob("sub-*.npy")),
        folder_names=("toy",),
    )
    monkeypatch.setenv("_MNE_FAKE_HOME_DIR", str(tmp_path))
    monkeypatch.delenv("MNE_DATASETS_TOYCORPUS_PATH", raising=False)
    assert resolve_path(root, **kw) == root
    assert resolve_path(tmp_path, **kw) == root  # parent + folder_names
    with pytest.raises(FileNotFoundError, match="MNE_DATASETS_TOYCORPUS_PATH") as err:
        resolve_path(None, **kw)
    msg = str(err.value)
    assert "MNE_DATASETS_TOYCORPUS_PATH" in msg and "PUB" in msg and "LAYOUT" in msg
    assert "mne.set_config" in msg
    monkeypatch.setenv("MNE_DATASETS_TOYCORPUS_PATH", str(root))
    assert resolve_path(None, **kw) == root
    monkeypatch.setenv("MNE_DATASETS_TOYCORPUS_PATH", str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match="config key .* does not exist|gone"):
        resolve_path(None, **kw)
    (tmp_path / "other").mkdir()
    with pytest.raises(FileNotFoundError, match="does not have the layout"):
        resolve_path(tmp_path / "other", **kw)


# ------------------------------------------------------------------ recordings
def test_recording_from_windows_and_validate():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 3, 5)).astype(np.float32)
    rec = Recording.from_windows(
        X,
        [0, 1, 2, 0],
        ch_names=list("abc"),
        ch_types="eeg",
        sfreq=10,
        description=dict(subject=1, session="0", run="0"),
        source="f.npy",
    )
    assert rec.data.dtype == np.float32 and rec.data.flags.c_contiguous
    np.testing.assert_array_equal(rec.X, X)
    np.testing.assert_array_equal(rec.data[:, 5:10], X[1])  # windows end to end
    rec.validate(3)
    with pytest.raises(ValueError, match=r"f\.npy: labels \[2\] are out of range"):
        rec.validate(2)
    rec.description["run"] = "run 1"
    with pytest.raises(ValueError, match="run must be a string MOABB accepts"):
        rec.validate(3)
    rec.description["run"] = "0"
    rec.data[1, 3] = np.inf
    with pytest.raises(ValueError, match=r"f\.npy contains NaN or infinite"):
        rec.validate(3)
    with pytest.raises(ValueError, match="must be 3-D"):
        Recording.from_windows(
            X[0], [0], ch_names=list("abc"), ch_types="eeg", sfreq=1, description={}
        )


def test_nonflat_trials():
    X = np.random.default_rng(2).standard_normal((4, 2, 6))
    X[1, 1] = 3.0
    X[3, 0] = 0.0
    np.testing.assert_array_equal(nonflat_trials(X), [0, 2])


# --------------------------------------------------------- braindecode + MOABB
def test_windows_dataset(toy, tmp_path):
    root, arrays = toy
    ds = _Toy([2, 1], path=root, cache=False)
    assert len(ds) == 24 and len(ds.datasets) == 4
    np.testing.assert_allclose(
        _windows(ds), np.concatenate([arrays[2], arrays[1]]), rtol=1e-6, atol=1e-6
    )
    desc = ds.description
    assert list(desc["subject"]) == [2, 2, 1, 1] and list(desc["run"]) == ["0", "1"] * 2
    md = ds.get_metadata()
    np.testing.assert_array_equal(md["target"], np.tile(np.arange(12) % 3, 2))
    raw = ds.datasets[0].raw
    assert raw.get_channel_types() == ["ecog", "ecog", "seeg"]
    assert list(raw.annotations.description[:3]) == ["left", "right", "rest"]
    np.testing.assert_allclose(raw.annotations.onset[:3], [0.0, 0.2, 0.4])
    # the public helper builds the same thing from recordings
    recs = _ToyReader(root).read_subject(1)
    other = recordings_to_windows(recs, ["l", "r", "x"])
    np.testing.assert_allclose(_windows(other), arrays[1], rtol=1e-6, atol=1e-6)


def test_moabb_dataset_keeps_ieeg(toy, tmp_path):
    root, arrays = toy
    dataset = _ToyMOABB(root, cache_dir=tmp_path / "cache")
    assert dataset.event_id == {"left": 1, "right": 2, "rest": 3}
    assert dataset.interval == [0.0, 19 / 100] and dataset.unit_factor == 1.0
    X, labels, meta = MultiClassDecoding().get_data(dataset, [1, 2])
    assert X.shape == (24, 3, 20)  # ECoG and sEEG channels kept, n_times exact
    # float32 in the cache; MNE's float64 copy holds the same values
    expected = np.concatenate([arrays[1], arrays[2]]).astype(np.float32)
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(labels, np.array(["left", "right", "rest"] * 8))
    assert list(meta["run"].unique()) == ["0", "1"]
    assert dataset.data_path(1) == [str(root / "sub-1.npy")]


# ------------------------------------------------------------------------ cache
def _entry(cache_dir, reader, subject):
    return _cache.entry_path(cache_dir, reader.code, subject, reader.cache_params())


def test_cache_hit_and_keys(toy, tmp_path, counter, monkeypatch):
    root, arrays = toy
    cache_dir = tmp_path / "cache"
    first = _Toy(1, path=root, cache_dir=cache_dir, counter=counter)
    assert counter.value == 1
    second = _Toy(1, path=root, cache_dir=cache_dir, counter=counter)
    assert counter.value == 1  # served by the cache
    np.testing.assert_array_equal(_windows(first), _windows(second))
    lazy = second.datasets[0]
    assert isinstance(lazy._data, np.memmap)  # memory-mapped, read on demand
    assert lazy._data.dtype == np.float32
    lazy.raw._data[0, 0] = 123.0  # user edits never reach the cache
    assert lazy[0][0][0, 0] == np.float32(123.0)  # ... but the windows see them
    third = _Toy(1, path=root, cache_dir=cache_dir, counter=counter)
    assert third.datasets[0][0][0][0, 0] != 123.0 and counter.value == 1
    # another preprocessing parameter, task or package version: another entry
    _Toy(1, path=root, cache_dir=cache_dir, counter=counter, gain=2.0)
    assert counter.value == 2
    _Toy(1, path=root, cache_dir=cache_dir, counter=counter, task="other")
    assert counter.value == 3
    monkeypatch.setattr(_cache, "__version__", "99.0")
    _Toy(1, path=root, cache_dir=cache_dir, counter=counter)
    assert counter.value == 4
    # nothing temporary is left behind
    leftovers = [
        p for p in cache_dir.rglob(".*") if ".tmp-" in p.name or "trash" in p.name
    ]
    assert leftovers == []
    # cache=False never touches it
    _Toy(2, path=root, cache=False, cache_dir=cache_dir, counter=counter)
    assert not _entry(cache_dir, _ToyReader(root), 2).exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "delete"])
def test_corrupt_entry_is_rebuilt(toy, tmp_path, counter, damage):
    root, arrays = toy
    cache_dir = tmp_path / "cache"
    expected = _windows(_Toy(1, path=root, cache_dir=cache_dir, counter=counter))
    entry = _entry(cache_dir, _ToyReader(root), 1)
    target = entry / "rec001_data.npy"
    if damage == "flip":
        blob = bytearray(target.read_bytes())
        blob[-10] ^= 0xFF
        target.write_bytes(bytes(blob))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-64])
    elif damage == "manifest":
        (entry / "manifest.json").write_text("{not json")
    else:
        target.unlink()
    with pytest.warns(RuntimeWarning, match="Corrupt cache entry .*, rebuilding"):
        ds = _Toy(1, path=root, cache_dir=cache_dir, counter=counter)
    assert counter.value == 2
    np.testing.assert_array_equal(_windows(ds), expected)
    # the rebuilt entry is healthy again
    _Toy(1, path=root, cache_dir=cache_dir, counter=counter)
    assert counter.value == 2


def test_stale_entry_is_rebuilt(toy, tmp_path, counter):
    root, arrays = toy
    cache_dir = tmp_path / "cache"
    _Toy(1, path=root, cache_dir=cache_dir, counter=counter)
    new = arrays[1] + 1.0
    np.save(root / "sub-1.npy", new)
    os.utime(root / "sub-1.npy", ns=(1, 1))  # also change the mtime for sure
    ds = _Toy(1, path=root, cache_dir=cache_dir, counter=counter)
    assert counter.value == 2
    np.testing.assert_allclose(_windows(ds), new, rtol=1e-6, atol=1e-6)
    manifest = json.loads(
        (_entry(cache_dir, _ToyReader(root), 1) / "manifest.json").read_text()
    )
    assert manifest["sources"][0][0] == str((root / "sub-1.npy").resolve())


def test_failed_read_publishes_nothing(toy, tmp_path):
    root, _ = toy
    np.save(root / "sub-2.npy", np.full((12, 3, 20), np.nan))
    with pytest.raises(ValueError, match="contains NaN"):
        _Toy(2, path=root, cache_dir=tmp_path / "cache")
    assert not _entry(tmp_path / "cache", _ToyReader(root), 2).exists()


def test_unwritable_cache_warns_and_loads(toy, tmp_path):
    root, arrays = toy
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(RuntimeWarning, match="continuing without cache"):
        ds = _Toy(1, path=root, cache_dir=blocker / "cache")
    np.testing.assert_allclose(_windows(ds), arrays[1], rtol=1e-6, atol=1e-6)


def _load_many(args):
    root, cache_dir, n, discard = args
    out = []
    for i in range(n):
        reader = _ToyReader(root)
        if discard and i % 2:
            _cache.discard_entry(_entry(cache_dir, reader, 1))
        recs = reader.load_subject(1, cache_dir=cache_dir, verbose="error")
        out.append(float(np.concatenate([r.X for r in recs]).sum()))
    return out


def test_concurrent_readers_and_writers(toy, tmp_path):
    root, arrays = toy
    cache_dir = tmp_path / "cache"
    expected = float(arrays[1].sum())
    ctx = multiprocessing.get_context("fork")
    jobs = [(root, cache_dir, 6, False)] * 3 + [(root, cache_dir, 6, True)]
    with ctx.Pool(4) as pool:
        results = pool.map(_load_many, jobs)
    for res in results:
        np.testing.assert_allclose(res, expected)
    entries = [p for p in (cache_dir / "Toy-Corpus" / "sub-1").iterdir()]
    assert [p.name for p in entries] == [_entry(cache_dir, _ToyReader(root), 1).name]


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MNE_NEUROSKETCH_CACHE_DIR", str(tmp_path / "c"))
    assert _cache.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MNE_NEUROSKETCH_CACHE_DIR")
    monkeypatch.setenv("_MNE_FAKE_HOME_DIR", str(tmp_path))
    monkeypatch.setenv("MNE_DATA", str(tmp_path / "data"))
    assert _cache.default_cache_dir() == tmp_path / "data" / "neurosketch_cache"
    assert isinstance(_cache.default_cache_dir(), Path)
    assert mne.get_config("MNE_NEUROSKETCH_CACHE_DIR") is None


# ------------------------------------------------------------ lazy vs eager
def _corpus(kind, tmp_path):
    """A small simulated corpus: (windows dataset class kwargs, reader)."""
    if kind == "toy":
        root = tmp_path / "toy"
        make_toy(root)
        return _Toy, root, _ToyReader(root), [2, 1]
    if kind == "seed_dv":
        from mne_neurosketch.datasets.seed_dv import SEEDDV, simulate_seed_dv

        simulate_seed_dv(tmp_path, subjects=(1, 2), seed=3)
        ds_cls, reader_cls = SEEDDV, type(SEEDDV(1, path=tmp_path, cache=False).reader)
        return ds_cls, tmp_path, reader_cls(tmp_path), [2, 1]
    from mne_neurosketch.datasets.chisco import Chisco, simulate_chisco

    root = simulate_chisco(tmp_path, subjects=(1,), runs=(1, 2, 10), n_unmapped=1)
    reader = type(Chisco(1, path=root, cache=False).reader)(root)
    return Chisco, root, reader, [1]


@pytest.mark.parametrize("kind", ["toy", "seed_dv", "chisco"])
def test_lazy_windows_equal_eager(kind, tmp_path):
    """The lazy cached windows are today's eager windows: same data, labels, order."""
    from braindecode.datasets import EEGWindowsDataset
    from torch.utils.data import DataLoader

    ds_cls, root, reader, subjects = _corpus(kind, tmp_path)
    names = reader.class_names()
    # the eager path: every recording read, held as a Raw, windows cut from it
    eager = []
    for subject in subjects:
        for rec in reader.read_subject(subject):
            starts = np.arange(rec.n_windows) * rec.n_times
            md = pd.DataFrame(
                dict(
                    i_window_in_trial=0,
                    i_start_in_trial=starts,
                    i_stop_in_trial=starts + rec.n_times,
                    target=rec.y,
                )
            )
            eager.append(EEGWindowsDataset(rec.to_raw(names), md, rec.description))
    X_eager = np.stack([d[i][0] for d in eager for i in range(len(d))])
    y_eager = np.concatenate([d.y for d in eager])
    for cache in (False, True, True):  # no cache, cache write, cache read
        lazy = ds_cls(subjects, path=root, cache=cache, cache_dir=tmp_path / "c")
        assert all(isinstance(d, LazyWindowsDataset) for d in lazy.datasets)
        X = np.stack([lazy[i][0] for i in range(len(lazy))])
        assert X.dtype == np.float32
        np.testing.assert_array_equal(X, X_eager)
        np.testing.assert_array_equal(lazy.get_metadata()["target"], y_eager)
        assert [d.description.to_dict() for d in lazy.datasets] == [
            d.description.to_dict() for d in eager
        ]
    # cached windows are read from the file, and survive pickling (loader workers)
    assert all(d._file is not None for d in lazy.datasets)
    clone = pickle.loads(pickle.dumps(lazy))
    np.testing.assert_array_equal(clone[len(clone) - 1][0], X_eager[-1])
    loader = DataLoader(lazy, batch_size=4, num_workers=2, shuffle=False)
    batches = [(xb.numpy(), yb.numpy()) for xb, yb, _ in loader]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), X_eager)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y_eager)
    # the MOABB view's raws are the same float32 values (float64 only there)
    raw = lazy.datasets[0].raw
    assert raw.get_data().dtype == np.float64
    np.testing.assert_array_equal(
        raw.get_data()[:, : reader.n_times], X_eager[0].astype(np.float64)
    )
