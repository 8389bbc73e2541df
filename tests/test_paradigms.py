"""The generic multi-class MOABB paradigm on EEG (MOABB's FakeDataset) and ECoG."""

import numpy as np
import pytest
from moabb.datasets.fake import FakeDataset
from moabb.evaluations import WithinSessionEvaluation
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mne_neurosketch.datasets import FacesHousesMOABB, simulate_faces_houses
from mne_neurosketch.paradigms import MultiClassDecoding


def _flat(X):
    return X.reshape(len(X), -1)


@pytest.fixture
def fake():
    return FakeDataset(
        event_list=("a", "b", "c"),
        n_sessions=1,
        n_runs=1,
        n_subjects=2,
        n_events=30,
        duration=60,
        sfreq=64,
        seed=0,
    )


def test_events_and_validity(fake):
    p = MultiClassDecoding()
    assert p.is_valid(fake) and p.used_events(fake) == fake.event_id
    assert p.scoring == "accuracy" and p.datasets == []
    p = MultiClassDecoding(events=["c", "a"])
    assert p.used_events(fake) == {"c": fake.event_id["c"], "a": fake.event_id["a"]}
    assert MultiClassDecoding(n_classes=2).used_events(fake) == dict(
        list(fake.event_id.items())[:2]
    )
    assert not MultiClassDecoding(events=["a", "zz"]).is_valid(fake)
    assert not MultiClassDecoding(n_classes=4).is_valid(fake)
    assert MultiClassDecoding(scorer="balanced_accuracy").scoring == "balanced_accuracy"
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        MultiClassDecoding(n_classes=1)
    with pytest.raises(ValueError, match="only 1 events"):
        MultiClassDecoding(events=["a"], n_classes=2)


def test_no_filter_by_default_and_optional_band(fake):
    X, labels, meta = MultiClassDecoding().get_data(fake, [1], return_epochs=True)
    raw = fake.get_data([1])[1]["0"]["0"]
    events = X.events[:, 0]
    n = X.get_data().shape[-1]
    expected = np.stack([raw.get_data(picks="eeg")[:, s : s + n] for s in events])
    np.testing.assert_allclose(X.get_data(), expected)  # untouched samples
    Xf, labels_f, _ = MultiClassDecoding(fmin=4, fmax=20).get_data(fake, [1])
    assert Xf.shape == (len(expected), *expected.shape[1:])
    assert not np.allclose(Xf, expected * 1e6)
    np.testing.assert_array_equal(labels, labels_f)
    assert set(labels) == {"a", "b", "c"}


def test_within_session_on_eeg_and_ecog(fake, tmp_path):
    pipe = make_pipeline(FunctionTransformer(_flat), LogisticRegression(max_iter=100))
    ev = WithinSessionEvaluation(
        paradigm=MultiClassDecoding(),
        datasets=[fake],
        overwrite=True,
        hdf5_path=str(tmp_path / "res"),
        random_state=0,
    )
    res = ev.process({"lr": pipe})
    assert len(res) == 2 and set(res["n_classes"]) == {3}

    root = simulate_faces_houses(tmp_path, n_stimuli=20, n_chans=4, class_signal=3.0)
    ecog = FacesHousesMOABB(root, subjects=[1], cache_dir=tmp_path / "cache")
    X, labels, _ = MultiClassDecoding().get_data(ecog, [1])
    assert X.shape == (20, 4, 400)  # MOABB's default would drop the ECoG channels
    ev = WithinSessionEvaluation(
        paradigm=MultiClassDecoding(),
        datasets=[ecog],
        overwrite=True,
        hdf5_path=str(tmp_path / "res"),
        random_state=0,
    )
    res = ev.process({"lr": pipe})
    assert res["score"].iloc[0] > 0.8 and res["channels"].iloc[0] == 4
