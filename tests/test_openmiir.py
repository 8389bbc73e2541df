"""OpenMIIR adapter: FIF recordings + stimulus spreadsheets -> 600-sample patches."""

import mne
import numpy as np
import pytest
import torch
from _corpus_checks import run_within_session
from braindecode import EEGClassifier
from openpyxl import load_workbook

from mne_neurosketch import NeuroSketch
from mne_neurosketch.datasets.openmiir import (
    OPENMIIR_CH_NAMES,
    STIMULUS_IDS,
    OpenMIIR,
    OpenMIIRMOABB,
    merge_audio_onsets,
    simulate_openmiir,
)
from mne_neurosketch.paradigms import MultiClassDecoding

TINY = dict(depths=(1, 1, 1, 1), widths=(8, 8, 16, 16), stem_channels=(8, 8, 8))
STIMULI = (24, 2)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("openmiir")
    # Subject 1 = P01 (metadata v1, bad T8, no mastoids); 5 = P09 (v2, mastoids).
    return simulate_openmiir(path, subjects=(1, 5), stimuli=STIMULI, class_signal=1.0)


@pytest.fixture
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _lengths(root, version):
    sheet = load_workbook(root / f"meta/Stimuli_Meta.v{version}.xlsx").worksheets[0]
    return {int(r[0]): float(r[5]) for r in sheet.iter_rows(min_row=2, values_only=True)}


def _reference_trials(root, participant, conditions, lengths):
    """Trials cut by mne.Epochs on a raw preprocessed with plain MNE calls."""
    raw = mne.io.read_raw_fif(
        root / f"eeg/mne/{participant}-raw.fif", preload=True, verbose="error"
    )
    events = mne.find_events(raw, "STI 014", shortest_event=0, verbose="error")
    # Audio onset = the 1000 event right after each trial event.
    trials = [
        (events[i + 1, 0], code)
        for i, (_, _, code) in enumerate(events[:-1])
        if code < 1000 and events[i + 1, 2] == 1000
    ]
    raw.pick(OPENMIIR_CH_NAMES).set_montage("biosemi64")
    raw.interpolate_bads(reset_bads=True, verbose="error")
    raw.set_eeg_reference("average", verbose="error")
    raw.filter(
        0.5,
        30,
        filter_length="10s",
        l_trans_bandwidth=0.5,
        h_trans_bandwidth=0.5,
        method="fft",
        verbose="error",
    )
    out = []
    # The paper's order: stimulus, then condition as listed, then time.
    for label, stim in enumerate(STIMULUS_IDS):
        for sample, code in (
            (sample, code)
            for cond in conditions
            for sample, code in sorted(trials)
            if code == stim * 10 + cond
        ):
            epochs = mne.Epochs(
                raw,
                np.array([[sample, 0, code]]),
                tmin=0,
                tmax=lengths[stim],
                baseline=(0, 0),
                preload=True,
                verbose="error",
            )
            out.append((epochs.get_data()[0], label, sample - raw.first_samp))
    return out


@pytest.mark.parametrize(
    "task, conditions", [("perception", (1,)), ("imagination", (2, 3, 4))]
)
def test_patches_labels_order(root, tmp_path, task, conditions):
    """Patches match mne.Epochs of the song length cut into 600-sample windows."""
    ds = OpenMIIR([1, 5], path=root, task=task, cache_dir=tmp_path)
    assert ds.description["participant"].tolist() == ["P01", "P09"]
    for i_rec, (participant, version) in enumerate((("P01", 1), ("P09", 2))):
        rec = ds.datasets[i_rec]
        lengths = _lengths(root, version)
        ref = _reference_trials(root, participant, conditions, lengths)
        n_per_trial = [(len(t[0][0])) // 600 for t in ref]
        assert [int(round(lengths[STIMULUS_IDS[t[1]]] * 512)) + 1 for t in ref] == [
            t[0].shape[1] for t in ref
        ]
        assert len(rec) == sum(n_per_trial)
        X = np.stack([rec[i][0] for i in range(len(rec))])
        assert X.shape[1:] == (64, 600) and rec.raw.ch_names == OPENMIIR_CH_NAMES
        expected = np.concatenate(
            [
                t[0][:, : n * 600].reshape(64, n, 600).transpose(1, 0, 2)
                for t, n in zip(ref, n_per_trial)
            ]
        )
        np.testing.assert_allclose(X, expected, rtol=1e-4, atol=1e-9)
        md = rec.metadata
        np.testing.assert_array_equal(
            md["target"], np.repeat([t[1] for t in ref], n_per_trial)
        )
        np.testing.assert_array_equal(
            md["onset"], np.repeat([t[2] for t in ref], n_per_trial)
        )
        assert set(md["condition"]) == set(conditions)
        # One reference for every subject: the channel average is zero.
        np.testing.assert_allclose(X.mean(axis=1), 0, atol=1e-9)
        # Patches of one trial share its trial id; trials differ.
        assert md.groupby("trial")["onset"].nunique().eq(1).all()
        assert md["trial"].nunique() == len(ref)


def test_imagination_order_is_stimulus_condition_time(tmp_path):
    """Patches come stimulus by stimulus, then condition 2, 3, 4, then in time.

    With two repetitions the recording interleaves the conditions in time
    (2, 3, 4, 2, 3, 4), so this order differs from time order.
    """
    root = simulate_openmiir(
        tmp_path, subjects=(1,), stimuli=(24, 2), conditions=(2, 3, 4), n_repetitions=2
    )
    raw = mne.io.read_raw_fif(root / "eeg/mne/P01-raw.fif", verbose="error")
    events = mne.find_events(raw, "STI 014", shortest_event=0, verbose="error")
    codes = events[:, 2]
    # (stimulus, condition, audio onset) of every trial, in recording order.
    recorded = [
        (code // 10, code % 10, events[i + 1, 0] - raw.first_samp)
        for i, code in enumerate(codes[:-1])
        if code < 1000 and codes[i + 1] == 1000
    ]
    assert [c for s, c, _ in recorded if s == 24] == [2, 3, 4, 2, 3, 4]
    expected = [
        (stim, cond, onset)
        for stim in (2, 24)  # labels 1 and 11: STIMULUS_IDS order
        for cond in (2, 3, 4)
        for s, c, onset in recorded
        if (s, c) == (stim, cond)
    ]
    md = OpenMIIR(1, path=root, task="imagination", cache=False).datasets[0].metadata
    trials = md.drop_duplicates("trial")
    got = list(zip(trials["stimulus"], trials["condition"], trials["onset"]))
    assert got == expected
    # Patches of a trial stay together and in time order.
    assert (
        md.groupby("trial", sort=False)["patch"]
        .apply(lambda p: list(p) == list(range(len(p))))
        .all()
    )
    assert (md["trial"].diff().fillna(1) != 0).sum() == len(expected)


def test_bad_channels_zeroed_option(root, tmp_path):
    """bad_channels='zero' is the paper's zeroing; the default interpolates."""
    interp = OpenMIIR(1, path=root, cache=False).datasets[0]
    zeroed = OpenMIIR(1, path=root, bad_channels="zero", cache=False).datasets[0]
    t8 = OPENMIIR_CH_NAMES.index("T8")
    Xz = np.stack([zeroed[i][0] for i in range(len(zeroed))])
    Xi = np.stack([interp[i][0] for i in range(len(interp))])
    assert np.all(Xz[:, t8] == 0) and np.abs(Xi[:, t8]).max() > 0
    good = [k for k in range(64) if k != t8]
    np.testing.assert_allclose(Xz[:, good].mean(axis=1), 0, atol=1e-9)


def test_metadata_version_by_subject(tmp_path):
    """P01 reads Stimuli_Meta.v1.xlsx, P09 reads v2.xlsx."""
    root = simulate_openmiir(tmp_path, subjects=(1, 5), stimuli=(24,), conditions=(1,))
    fname = root / "meta/Stimuli_Meta.v2.xlsx"
    book = load_workbook(fname)
    sheet = book.worksheets[0]
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == 24:
            row[5].value = 1.5  # 769 samples: one patch instead of five
    book.save(fname)
    ds = OpenMIIR([1, 5], path=root, cache=False)
    assert [len(d) for d in ds.datasets] == [5, 1]


def test_merge_audio_onsets():
    events = np.array(
        [
            [10, 0, 241],
            [15, 0, 1000],
            [40, 0, 22],
            [60, 0, 1111],
            [62, 0, 1000],
            [70, 0, 2001],
            [90, 0, 13],
        ]
    )
    merged = merge_audio_onsets(events)
    np.testing.assert_array_equal(
        merged, [[15, 0, 241], [40, 0, 22], [62, 0, 1111], [70, 0, 2001], [90, 0, 13]]
    )


def test_train_one_epoch_and_moabb(root, tmp_path, one_thread):
    """One NeuroSketch epoch on the patches; a MOABB within-session evaluation."""
    ds = OpenMIIR(1, path=root, task="imagination", cache_dir=tmp_path)
    # Targets are 1 and 11 (stimuli 2 and 24), so the 12 outputs are given
    # explicitly (_corpus_checks infers n_outputs from the targets present).
    clf = EEGClassifier(
        NeuroSketch,
        module__n_outputs=len(ds.class_names),
        **{f"module__{k}": v for k, v in TINY.items()},
        max_epochs=1,
        train_split=None,
        batch_size=8,
        verbose=0,
    )
    clf.fit(ds, y=None)
    assert len(clf.history) == 1 and np.isfinite(clf.history[-1, "train_loss"])

    dataset = OpenMIIRMOABB(root, task="imagination", subjects=[1], cache_dir=tmp_path)
    X, labels, _ = MultiClassDecoding().get_data(dataset, [1])
    assert X.shape == (len(ds), 64, 600)
    assert set(labels) == {ds.class_names[STIMULUS_IDS.index(s)] for s in STIMULI}
    res = run_within_session(dataset, tmp_path, n_splits=2)
    assert len(res) == 1 and res["samples"].iloc[0] == len(ds)


def test_bad_inputs(tmp_path):
    """Missing, truncated and incomplete files give errors naming them."""
    with pytest.raises(FileNotFoundError, match="OpenMIIR"):
        OpenMIIR(1, path=tmp_path / "nowhere")
    root = simulate_openmiir(tmp_path, subjects=(1,), stimuli=(24,), conditions=(1,))
    with pytest.raises(FileNotFoundError, match=r"subject 5 \(P09\).*P09-raw\.fif"):
        OpenMIIR(5, path=root, cache=False)
    with pytest.raises(ValueError, match="'bad_channels'"):
        OpenMIIR(1, path=root, bad_channels="drop")

    fname = root / "meta/Stimuli_Meta.v1.xlsx"
    good = fname.read_bytes()
    book = load_workbook(fname)
    sheet = book.worksheets[0]
    row = next(r for r in range(2, 14) if sheet.cell(r, 1).value == 24)
    sheet.delete_rows(row)
    book.save(fname)
    with pytest.raises(ValueError, match=r"v1\.xlsx has no row for stimulus 24"):
        OpenMIIR(1, path=root, cache=False)
    book = load_workbook(fname)
    book.worksheets[0].cell(2, 6).value = "n/a"
    book.save(fname)
    with pytest.raises(ValueError, match=r"v1\.xlsx, row 2, column 6.*'n/a'"):
        OpenMIIR(1, path=root, cache=False)
    book = load_workbook(fname)
    book.worksheets[0].delete_cols(10, 8)
    book.save(fname)
    with pytest.raises(ValueError, match="17 columns"):
        OpenMIIR(1, path=root, cache=False)
    fname.write_bytes(good[:500])
    with pytest.raises(ValueError, match=r"v1\.xlsx .*truncated"):
        OpenMIIR(1, path=root, cache=False)
    fname.unlink()
    with pytest.raises(FileNotFoundError, match=r"Stimuli_Meta\.v1\.xlsx"):
        OpenMIIR(1, path=root, cache=False)
    fname.write_bytes(good)

    raw_fname = root / "eeg/mne/P01-raw.fif"
    raw_bytes = raw_fname.read_bytes()
    raw_fname.write_bytes(raw_bytes[: len(raw_bytes) // 2])
    with pytest.raises(ValueError, match=r"P01-raw\.fif .*truncated"):
        OpenMIIR(1, path=root, cache=False)
    raw = mne.io.RawArray(
        np.zeros((2, 1000)), mne.create_info(["Fp1", "STI 014"], 512.0, ["eeg", "stim"])
    )
    raw.save(raw_fname, overwrite=True, verbose="error")
    with pytest.raises(ValueError, match=r"P01-raw\.fif lacks the Biosemi-64"):
        OpenMIIR(1, path=root, cache=False)


def test_protocol_splits(root, tmp_path):
    """Trial-grouped folds by default; the paper's patch-level folds as option."""
    ds = OpenMIIR(1, path=root, task="imagination", cache_dir=tmp_path)
    trial = ds.get_metadata()["trial"].to_numpy()
    folds = ds.protocol_splits()
    assert len(folds) == 5
    for train, valid, test in folds:
        parts = [set(trial[p]) for p in (train, valid, test)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert len(train) + len(valid) + len(test) == len(ds)
    with pytest.warns(FutureWarning, match="protocol='grouped'"):
        legacy = ds.protocol_splits("trial")  # the former name
    for fold, old in zip(folds, legacy, strict=True):
        for got, exp in zip(fold, old, strict=True):
            np.testing.assert_array_equal(got, exp)
    paper = ds.protocol_splits("paper")
    assert len(paper) == 3
    np.testing.assert_array_equal(paper[0][2], paper[1][2])  # the fixed test set
    assert any(set(trial[tr]) & set(trial[te]) for tr, _, te in paper)  # the leak
