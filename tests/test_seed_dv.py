"""SEED-DV adapter: real on-disk format, the paper's windows, meta tasks, splits."""

import numpy as np
import pytest
from _corpus_checks import fit_neurosketch_one_epoch, run_within_session

from mne_neurosketch.datasets import (
    SEED_DV_CHANNELS,
    SEEDDV,
    SEEDDVMOABB,
    simulate_seed_dv,
)
from mne_neurosketch.paradigms import MultiClassDecoding
from mne_neurosketch.splits import GroupedSplit, groups_of


def _paper_windows(eeg, labels):
    """The paper's reshape_eeg + labels, written out with explicit loops."""
    X, y = [], []
    n_blocks, n_concepts = labels.shape
    for b in range(n_blocks):
        for j in range(n_concepts):
            for k in range(5):
                start = j * 2600 + 3 * 200 + k * 2 * 200
                X.append(eeg[b, :, start : start + 400])
                y.append(labels[b, j] - 1)
    return np.stack(X), np.array(y)


def _window_array(ds):
    return np.stack([ds[i][0] for i in range(len(ds))])


@pytest.fixture
def seed_root(tmp_path):
    return simulate_seed_dv(tmp_path, subjects=(1, 2), class_signal=3.0, seed=1)


@pytest.mark.parametrize("layout", ["release", "neurosketch"])
def test_windows_match_paper(tmp_path, layout):
    root = simulate_seed_dv(tmp_path, subjects=(3,), layout=layout, seed=2)
    meta = root / ("meta-info" if layout == "release" else "Video/meta-info")
    eeg = np.load(root / "EEG" / "sub3.npy")
    labels = np.load(meta / "All_video_label.npy")
    assert eeg.shape == (2, 62, 3 * 2600) and labels.shape == (2, 3)
    X_exp, y_exp = _paper_windows(eeg, labels)

    # the parent folder works too (folder_names)
    ds = SEEDDV(3, path=tmp_path, cache_dir=tmp_path / "cache")
    assert len(ds) == 30 and len(ds.datasets) == 2
    raw = ds.datasets[0].raw
    assert raw.ch_names == list(SEED_DV_CHANNELS) and len(raw.ch_names) == 62
    assert set(raw.get_channel_types()) == {"eeg"} and raw.info["sfreq"] == 200.0
    # the continuous (float64) raws hold the float32 windows exactly
    got64 = np.concatenate(
        [d.raw.get_data().reshape(62, -1, 400).transpose(1, 0, 2) for d in ds.datasets]
    )
    np.testing.assert_array_equal(got64, X_exp.astype(np.float32))
    X = _window_array(ds)
    assert X.dtype == np.float32 and X.shape == (30, 62, 400)
    np.testing.assert_array_equal(X, X_exp.astype(np.float32))
    md = ds.get_metadata()
    np.testing.assert_array_equal(md["target"], y_exp)
    np.testing.assert_array_equal(md["block"], np.repeat([0, 1], 15))
    np.testing.assert_array_equal(md["clip"], np.tile(np.arange(5), 6))
    np.testing.assert_array_equal(md["concept"], np.repeat(labels.ravel(), 5))
    np.testing.assert_array_equal(md["trial"], np.repeat(np.arange(6), 5))
    assert list(ds.description["run"]) == ["0", "1"]
    assert ds.class_names[0] == "concept_01" and len(ds.class_names) == 40


def test_meta_tasks(tmp_path):
    root = simulate_seed_dv(tmp_path, seed=3)
    meta = root / "meta-info"
    color = np.load(meta / "All_video_color.npy").ravel()
    number = np.load(meta / "All_video_obj_number.npy").ravel()
    flow = np.load(meta / "All_video_optical_flow_score.npy").ravel()
    face = np.load(meta / "All_video_face_apperance.npy").ravel()
    expected = {
        "color": color if color.min() == 0 else color - 1,
        "number": number - 1,
        "speed": (flow > np.median(flow)).astype(int),
        "face": face,
    }
    for task, y in expected.items():
        ds = SEEDDV(1, path=root, task=task, cache=False)
        np.testing.assert_array_equal(ds.get_metadata()["target"], y, err_msg=task)
    ds = SEEDDV(1, path=root, task="speed", speed_threshold=1.799, cache=False)
    np.testing.assert_array_equal(ds.get_metadata()["target"], (flow > 1.799).astype(int))
    with pytest.raises(ValueError, match="'task' parameter"):
        SEEDDV(1, path=root, task="mood")


def test_one_epoch_and_leave_one_block_out(seed_root):
    ds = SEEDDV(1, path=seed_root, cache=False)
    fit_neurosketch_one_epoch(ds)
    groups = groups_of(ds, "block")
    splits = list(GroupedSplit().split(np.zeros(len(ds)), groups=groups))
    assert len(splits) == 2
    for train, test in splits:
        assert set(groups[train]).isdisjoint(groups[test])
        assert len(np.unique(groups[test])) == 1


def test_moabb_within_session(seed_root, tmp_path):
    dataset = SEEDDVMOABB(seed_root, subjects=[1, 2], cache_dir=tmp_path / "cache")
    assert dataset.code == "SEED-DV" and dataset.interval == [0.0, 399 / 200]
    X, labels, meta = MultiClassDecoding().get_data(dataset, [1])
    windows = SEEDDV(1, path=seed_root, cache_dir=tmp_path / "cache")
    # Raws in volts (SEED-DV's unit), MOABB's arrays in µV.
    np.testing.assert_array_equal(
        X,
        1e6
        * np.array(
            windows.datasets[0]
            .raw.get_data()
            .reshape(62, 15, 400)
            .transpose(1, 0, 2)
            .tolist()
            + windows.datasets[1]
            .raw.get_data()
            .reshape(62, 15, 400)
            .transpose(1, 0, 2)
            .tolist()
        ),
    )
    codes = windows.get_metadata()["target"].to_numpy()
    np.testing.assert_array_equal(labels, np.array(windows.class_names)[codes])
    np.testing.assert_array_equal(meta["run"], np.repeat(["0", "1"], 15))
    results = run_within_session(dataset, tmp_path)
    assert len(results) == 2 and (results["samples"] == 30).all()
    dataset.subject_list = [1]
    assert results["score"].min() > 0.8  # class_signal=3 is easy to decode
    # the official protocol through MOABB: leave one block (= MOABB run) out
    loblo = run_within_session(
        dataset,
        tmp_path,
        cv_class=GroupedSplit,
        cv_kwargs={"n_splits": None},
        groups="run",
    )
    assert len(loblo) == 1


def _write(root, name, array):
    np.save(root / name, array)


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SEEDDV(1, path=tmp_path / "nowhere")
    root = simulate_seed_dv(tmp_path, subjects=(1,), seed=4)
    with pytest.raises(FileNotFoundError, match=r"sub2\.npy"):
        SEEDDV(2, path=root, cache=False)
    with pytest.raises(ValueError, match="Invalid subject 21"):
        SEEDDV(21, path=root)
    label_file = root / "meta-info" / "All_video_label.npy"
    good = np.load(label_file)
    # labels out of range
    _write(root / "meta-info", "All_video_label.npy", np.where(good == 1, 41, good))
    with pytest.raises(ValueError, match=r"All_video_label\.npy.*1\.\.40"):
        SEEDDV(1, path=root, cache=False)
    # label shape not matching the EEG
    _write(root / "meta-info", "All_video_label.npy", good[:, :2])
    with pytest.raises(ValueError, match=r"sub1\.npy has shape .*expected"):
        SEEDDV(1, path=root, cache=False)
    _write(root / "meta-info", "All_video_label.npy", good)
    # missing meta file of a meta task
    (root / "meta-info" / "All_video_color.npy").unlink()
    with pytest.raises(FileNotFoundError, match="All_video_color"):
        SEEDDV(1, path=root, task="color", cache=False)
    # truncated EEG file
    eeg_file = root / "EEG" / "sub1.npy"
    blob = eeg_file.read_bytes()
    eeg_file.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"sub1\.npy.*truncated"):
        SEEDDV(1, path=root, cache=False)
    # a pickled object instead of an array is refused (never unpickled)
    np.save(eeg_file, np.array({"a": 1}, dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"sub1\.npy holds pickled"):
        SEEDDV(1, path=root, cache=False)
    # NaN samples
    eeg = np.random.default_rng(0).standard_normal((2, 62, 3 * 2600))
    eeg[1, 3, 700] = np.nan
    np.save(eeg_file, eeg)
    with pytest.raises(ValueError, match=r"sub1\.npy contains NaN"):
        SEEDDV(1, path=root, cache=False)
