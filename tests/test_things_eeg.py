"""ThingsEEG adapter: THINGS-EEG2 preprocessed .npy dicts, test and train tasks."""

import os

import numpy as np
import pytest
from _corpus_checks import fit_neurosketch_one_epoch, run_within_session

from mne_neurosketch.datasets import (
    THINGS_EEG_CHANNELS,
    ThingsEEG,
    ThingsEEGMOABB,
    simulate_things_eeg,
)
from mne_neurosketch.datasets._pickle import UnsafePickleError
from mne_neurosketch.paradigms import MultiClassDecoding

CH17 = "P7 P5 P3 P1 Pz P2 P4 P6 P8 PO7 PO3 POz PO4 PO8 O1 Oz O2".split()


def _load(fname):
    # trusted (written by the test): plain np.load
    return np.load(fname, allow_pickle=True).item()


def _trials(ds):
    return np.concatenate(
        [d.raw.get_data().reshape(17, -1, 100).transpose(1, 0, 2) for d in ds.datasets]
    )


def test_test_task_matches_paper(tmp_path):
    root = simulate_things_eeg(tmp_path, subjects=(2,), seed=1)
    eeg = _load(root / "sub-02" / "preprocessed_eeg_test.npy")["preprocessed_eeg_data"]
    assert eeg.shape == (4, 5, 17, 100)
    X_exp, y_exp = [], []
    for img in range(eeg.shape[0]):  # 't r c l -> (t r) c l', label = image
        for rep in range(eeg.shape[1]):
            X_exp.append(eeg[img, rep])
            y_exp.append(img)
    ds = ThingsEEG(2, path=tmp_path, cache_dir=tmp_path / "cache")
    assert ds.datasets[0].raw.ch_names == CH17 == list(THINGS_EEG_CHANNELS)
    assert ds.datasets[0].raw.info["sfreq"] == 100.0
    # windows are float32 from the reader on
    np.testing.assert_array_equal(_trials(ds), np.stack(X_exp).astype(np.float32))
    md = ds.get_metadata()
    np.testing.assert_array_equal(md["target"], y_exp)
    np.testing.assert_array_equal(md["repetition"], np.tile(np.arange(5), 4))
    assert len(ds.class_names) == 200 and ds.class_names[3] == "image_003"
    # the cached load gives the same windows
    again = ThingsEEG(2, path=tmp_path, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(_trials(again), np.stack(X_exp).astype(np.float32))


@pytest.mark.parametrize("n_concepts", [2, 3])
def test_train_labels_from_shape(tmp_path, n_concepts):
    root = simulate_things_eeg(
        tmp_path, tasks=("train",), n_train_concepts=n_concepts, seed=2
    )
    eeg = _load(root / "sub-01" / "preprocessed_eeg_training.npy")[
        "preprocessed_eeg_data"
    ]
    n_cond, n_rep = eeg.shape[:2]
    assert n_cond == 10 * n_concepts
    ds = ThingsEEG(1, path=root, task="train", cache=False)
    y_exp = [cond // 10 for cond in range(n_cond) for _ in range(n_rep)]
    np.testing.assert_array_equal(ds.get_metadata()["target"], y_exp)
    np.testing.assert_array_equal(
        _trials(ds), eeg.reshape(-1, 17, 100).astype(np.float32)
    )
    with pytest.raises(ValueError, match="multiple of images_per_concept=7"):
        ThingsEEG(1, path=root, task="train", images_per_concept=7, cache=False)


def test_flat_trials_dropped(tmp_path):
    root = simulate_things_eeg(tmp_path, tasks=("test",), seed=3)
    fname = root / "sub-01" / "preprocessed_eeg_test.npy"
    content = _load(fname)
    content["preprocessed_eeg_data"][1, 2, 5] = 0.7  # trial 1*5+2 has a flat channel
    np.save(fname, content)
    ds = ThingsEEG(1, path=root, cache=False)
    assert len(ds) == 19
    md = ds.get_metadata()
    assert not ((md["image"] == 1) & (md["repetition"] == 2)).any()
    assert len(ThingsEEG(1, path=root, drop_flat=False, cache=False)) == 20


def test_one_epoch_and_moabb(tmp_path):
    root = simulate_things_eeg(tmp_path, tasks=("test",), class_signal=3.0, seed=4)
    ds = ThingsEEG(1, path=root, cache_dir=tmp_path / "cache")
    fit_neurosketch_one_epoch(ds)
    dataset = ThingsEEGMOABB(root, subjects=[1], cache_dir=tmp_path / "cache")
    X, labels, _ = MultiClassDecoding().get_data(dataset, [1])
    # Unitless (whitened) trials are read as µV: MOABB's arrays keep their values.
    np.testing.assert_allclose(X, _trials(ds), rtol=1e-6)
    results = run_within_session(dataset, tmp_path)
    assert results["score"].iloc[0] > 0.8


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_bad_inputs(tmp_path):
    root = simulate_things_eeg(tmp_path, tasks=("test",), seed=5)
    fname = root / "sub-01" / "preprocessed_eeg_test.npy"
    good = _load(fname)
    with pytest.raises(FileNotFoundError, match="preprocessed_eeg_training"):
        ThingsEEG(1, path=root, task="train", cache=False)
    # wrong keys
    np.save(fname, {"eeg": good["preprocessed_eeg_data"], "ch_names": CH17})
    with pytest.raises(KeyError, match=r"preprocessed_eeg_test\.npy lacks"):
        ThingsEEG(1, path=root, cache=False)
    # wrong shape
    np.save(fname, dict(good, preprocessed_eeg_data=good["preprocessed_eeg_data"][0]))
    with pytest.raises(ValueError, match=r"preprocessed_eeg_test\.npy.*4-D"):
        ThingsEEG(1, path=root, cache=False)
    np.save(fname, dict(good, ch_names=CH17[:-1]))
    with pytest.raises(ValueError, match=r"16 channel names"):
        ThingsEEG(1, path=root, cache=False)
    # a plain array, not a dict
    np.save(fname, good["preprocessed_eeg_data"])
    with pytest.raises(ValueError, match="expected a dict"):
        ThingsEEG(1, path=root, cache=False)
    # truncated
    np.save(fname, good)
    blob = fname.read_bytes()
    fname.write_bytes(blob[: len(blob) // 3])
    with pytest.raises(ValueError, match=r"preprocessed_eeg_test\.npy.*truncated"):
        ThingsEEG(1, path=root, cache=False)
    # NaN
    bad = dict(good)
    bad["preprocessed_eeg_data"] = good["preprocessed_eeg_data"].copy()
    bad["preprocessed_eeg_data"][0, 0, 0, 0] = np.nan
    np.save(fname, bad)
    with pytest.raises(ValueError, match="contains NaN"):
        ThingsEEG(1, path=root, cache=False)
    # a hostile pickle is refused and runs nothing
    marker = tmp_path / "pwned"
    boom = _Boom()
    boom.marker = marker
    np.save(fname, dict(good, times=boom), allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="Refusing to unpickle"):
        ThingsEEG(1, path=root, cache=False)
    assert not marker.exists()
