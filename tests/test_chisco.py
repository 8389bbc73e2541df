"""Chisco adapter: derivative pickles and epochs, labels from textmaps.json."""

import json
import pickle

import mne
import numpy as np
import pytest
import torch
from _corpus_checks import fit_neurosketch_one_epoch, run_within_session

from mne_neurosketch.datasets._pickle import UnsafePickleError
from mne_neurosketch.datasets.chisco import (
    CHISCO_CH_NAMES,
    Chisco,
    ChiscoMOABB,
    run_number,
    simulate_chisco,
)
from mne_neurosketch.paradigms import MultiClassDecoding

RUNS = (10, 2, 1)  # run-010 sorts before run-02 as text


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("chisco")
    return simulate_chisco(
        path, runs=RUNS, n_trials_per_run=5, n_unmapped=1, fif=True, class_signal=1.0
    )


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _pkl(root, task, run, subject=1):
    sub = f"sub-{subject:02d}"
    return (
        root
        / "derivatives/preprocessed_pkl"
        / sub
        / "eeg"
        / f"{sub}_task-{task}_run-0{run}_eeg.pkl"
    )


def _expected(root, task):
    """µV trials, labels, texts and runs from the files, read with plain pickle."""
    textmaps = json.loads((root / "json/textmaps.json").read_text(encoding="utf-8"))
    X, y, texts, runs, n_unmapped = [], [], [], [], 0
    for run in sorted(RUNS):
        with open(_pkl(root, task, run), "rb") as fid:
            trials = pickle.load(fid)
        for trial in trials:
            text = trial["text"].strip()
            if text not in textmaps:
                n_unmapped += 1
                continue
            X.append(trial["input_features"][0, :122] * 1e6)
            y.append(textmaps[text])
            texts.append(text)
            runs.append(str(run))
    return np.array(X), np.array(y), texts, runs, n_unmapped


def _windows(ds):
    return np.stack([ds[i][0] for i in range(len(ds))]), ds.get_metadata()


@pytest.mark.parametrize("task, n_times", [("read", 2501), ("imagine", 1651)])
def test_trials_labels_and_order(root, tmp_path, task, n_times):
    """122 channels in µV, stripped texts, runs by number, unmapped dropped + logged."""
    X_exp, y_exp, texts, runs, n_unmapped = _expected(root, task)
    assert n_unmapped == len(RUNS)
    with mne.utils.catch_logging(verbose="info") as log:
        ds = Chisco(1, path=root, task=task, cache_dir=tmp_path)
    assert f"{n_unmapped} trial(s) with a sentence missing" in log.getvalue()
    X, md = _windows(ds)
    assert X.shape == (len(y_exp), 122, n_times)
    np.testing.assert_allclose(X, X_exp, rtol=1e-6, atol=1e-4)
    assert np.abs(X).max() > 1  # µV, not V
    np.testing.assert_array_equal(md["target"], y_exp)
    assert md["text"].tolist() == texts and md["run"].tolist() == runs
    assert ds.description["run"].tolist() == ["1", "2", "10"]
    assert ds.datasets[0].raw.ch_names == CHISCO_CH_NAMES
    assert ds.class_names[:2] == ["类别0", "类别1"] and len(ds.class_names) == 39
    # The parent folder works too.
    ds2 = Chisco(1, path=root.parent, task=task, cache=False, verbose="error")
    assert len(ds2) == len(ds)


def test_fif_derivative_matches_pickles(root, tmp_path):
    """preprocessed_fif epochs give the same trials; 'auto' falls back to them."""
    X_pkl, md_pkl = _windows(Chisco(1, path=root, task="imagine", cache=False))
    X_fif, md_fif = _windows(
        Chisco(1, path=root, task="imagine", source="fif", cache=False)
    )
    np.testing.assert_allclose(X_fif, X_pkl, rtol=1e-6, atol=1e-4)
    assert md_fif["text"].tolist() == md_pkl["text"].tolist()
    only_fif = tmp_path / "fifonly"
    simulate_chisco(
        only_fif, tasks=("imagine",), runs=(1, 2), n_trials_per_run=3, fif=True
    )
    for f in (only_fif / "Chisco/derivatives/preprocessed_pkl/sub-01/eeg").iterdir():
        f.unlink()
    ds = Chisco(1, path=only_fif / "Chisco", task="imagine", cache=False)
    assert len(ds) == 6 and ds.datasets[0].raw.ch_names == CHISCO_CH_NAMES


def test_run_number():
    assert run_number("sub-01_task-read_run-01_eeg.pkl") == 1
    assert run_number("sub-01_task-imagine_run-045_eeg.fif") == 45
    with pytest.raises(ValueError, match="not a Chisco derivative file name"):
        run_number("sub-01_read.pkl")


def test_train_one_epoch_and_moabb(root, tmp_path, one_thread):
    """One NeuroSketch epoch on the windows; a MOABB within-session evaluation."""
    ds = Chisco(1, path=root, task="imagine", cache_dir=tmp_path)
    fit_neurosketch_one_epoch(ds)

    dataset = ChiscoMOABB(root, task="imagine", subjects=[1], cache_dir=tmp_path)
    X, labels, _ = MultiClassDecoding().get_data(dataset, [1])
    np.testing.assert_allclose(X, _windows(ds)[0], rtol=1e-5, atol=1e-3)
    res = run_within_session(dataset, tmp_path, n_splits=2)
    assert len(res) == 1 and res["samples"].iloc[0] == len(ds)


def test_bad_inputs(tmp_path):
    """Missing, truncated, wrong-key, wrong-shape, hostile and unmapped inputs."""
    with pytest.raises(FileNotFoundError, match="ds005170"):
        Chisco(1, path=tmp_path / "nowhere")
    root = simulate_chisco(tmp_path, tasks=("imagine",), runs=(1, 2), n_trials_per_run=3)
    with pytest.raises(FileNotFoundError, match="No Chisco 'read' files for subject 1"):
        Chisco(1, path=root, task="read", cache=False)
    with pytest.raises(ValueError, match="'source'"):
        Chisco(1, path=root, source="edf")
    fname = _pkl(root, "imagine", 2)
    good = fname.read_bytes()

    fname.write_bytes(good[:1000])
    with pytest.raises(ValueError, match=r"run-02_eeg\.pkl .*truncated"):
        Chisco(1, path=root, task="imagine", cache=False)
    fname.write_bytes(pickle.dumps([{"sentence": "x", "input_features": np.zeros(3)}]))
    with pytest.raises(
        ValueError, match=r"Trial 0 .*run-02.*'text' and 'input_features'"
    ):
        Chisco(1, path=root, task="imagine", cache=False)
    fname.write_bytes(
        pickle.dumps([{"text": "x", "input_features": np.zeros((1, 125, 2501))}])
    )
    with pytest.raises(ValueError, match=r"shape \(1, 125, 1651\).*\(1, 125, 2501\)"):
        Chisco(1, path=root, task="imagine", cache=False)

    class Evil:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'ran')!r}, 'w').close()",))

    fname.write_bytes(pickle.dumps([{"text": Evil(), "input_features": np.zeros(1)}]))
    with pytest.raises(UnsafePickleError, match=r"run-02_eeg\.pkl.*builtins\.exec"):
        Chisco(1, path=root, task="imagine", cache=False)
    assert not (tmp_path / "ran").exists()
    fname.write_bytes(good)

    # A sentence missing from textmaps is dropped (not a KeyError).
    textmaps = root / "json/textmaps.json"
    mapping = json.loads(textmaps.read_text(encoding="utf-8"))
    first = sorted(mapping)[0]
    textmaps.write_text(
        json.dumps({k: v for k, v in mapping.items() if k != first}, ensure_ascii=False),
        encoding="utf-8",
    )
    ds = Chisco(1, path=root, task="imagine", cache=False)
    assert len(ds) == 5 and first not in ds.get_metadata()["text"].tolist()
    textmaps.write_text(json.dumps({first: 40}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"textmaps\.json.*outside 0\.\.38"):
        Chisco(1, path=root, task="imagine", cache=False)
    textmaps.unlink()
    with pytest.raises(FileNotFoundError, match="textmaps.json"):
        Chisco(1, path=root, task="imagine", cache=False)

    # An epochs file without the 'Word' metadata column.
    fif_root = simulate_chisco(
        tmp_path / "f", tasks=("imagine",), runs=(1,), n_trials_per_run=2, fif=True
    )
    fif = (
        fif_root
        / "derivatives/preprocessed_fif/sub-01/eeg/sub-01_task-imagine_run-01_eeg.fif"
    )
    epochs = mne.read_epochs(fif, verbose="error")
    epochs.metadata = None
    epochs.save(fif, overwrite=True, verbose="error")
    with pytest.raises(
        ValueError, match=r"run-01_eeg\.fif has no metadata column 'Word'"
    ):
        Chisco(1, path=fif_root, task="imagine", source="fif", cache=False)


def test_protocol_splits(root, tmp_path):
    """The paper's n_fold split: a fixed test set and 3 folds on the rest."""
    ds = Chisco(1, path=root, task="imagine", cache_dir=tmp_path)
    folds = ds.protocol_splits()
    assert len(folds) == 3
    for train, valid, test in folds:
        np.testing.assert_array_equal(test, folds[0][2])
        assert len(set(train) | set(valid) | set(test)) == len(ds)
    with pytest.warns(FutureWarning, match="protocol='paper'"):
        legacy = ds.protocol_splits("n_fold")  # the former name
    for fold, old in zip(folds, legacy, strict=True):
        for got, exp in zip(fold, old, strict=True):
            np.testing.assert_array_equal(got, exp)
    explicit = ds.protocol_splits("paper", method="n_fold")
    np.testing.assert_array_equal(explicit[1][0], folds[1][0])
    with pytest.raises(ValueError, match="'protocol'"):
        ds.protocol_splits("trial")
    with pytest.raises(TypeError, match="no parameter.*'group'"):
        ds.protocol_splits("paper", group="run")
