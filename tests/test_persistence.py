"""Save files written by earlier versions load and predict as they did."""
import io
import sys
from pathlib import Path

import numpy as np
import pytest

from mne_neurosketch.estimator import NeuroSketchClassifier

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from make_saved_v4 import fixture_epochs  # noqa: E402


def test_version_4_file_predicts_as_when_written():
    """The file committed at format 4 (fp32) gives the writer's probabilities."""
    epochs, _ = fixture_epochs()
    expected = np.load(DATA / "saved_v4_expected.npz")
    clf = NeuroSketchClassifier.load(DATA / "saved_v4.pt", device="cpu")
    np.testing.assert_array_equal(clf.classes_, expected["classes"])
    assert clf.ch_names_ == epochs.ch_names
    proba = clf.predict_proba(epochs[40:])
    # Other CPUs round fp32 convolutions differently, hence the tolerance.
    np.testing.assert_allclose(proba, expected["proba"], atol=1e-5)
    np.testing.assert_array_equal(clf.predict(epochs[40:]),
                                  expected["classes"][expected["proba"].argmax(1)])


def test_version_4_file_refits():
    epochs, y = fixture_epochs()
    clf = NeuroSketchClassifier.load(DATA / "saved_v4.pt", device="cpu")
    clf.set_params(max_epochs=1).fit(epochs[:40], y[:40])
    assert clf.predict_proba(epochs[40:]).shape == (20, 3)


@pytest.mark.parametrize("field", ["version", "state_dict", "classes"])
def test_fixture_damaged_names_the_field(tmp_path, field):
    import torch
    data = torch.load(DATA / "saved_v4.pt", weights_only=True)
    del data[field]
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=str(tmp_path / "bad.pt")):
        NeuroSketchClassifier.load(tmp_path / "bad.pt")


#: What a pickle of a fitted NeuroSketchClassifier written before the estimator
#: was split into rooms (commit 1485538) names, read with pickle's find_class.
PICKLED_BEFORE_ROOMS = [
    ("mne_neurosketch.augmentation", "ChannelMasking"),
    ("mne_neurosketch.augmentation", "Mixup"),
    ("mne_neurosketch.augmentation", "OneHotBCEWithLogitsLoss"),
    ("mne_neurosketch.augmentation", "RandomShift"),
    ("mne_neurosketch.augmentation", "RecipeAugmentation"),
    ("mne_neurosketch.augmentation", "SNRNoise"),
    ("mne_neurosketch.augmentation", "TimeMasking"),
    ("mne_neurosketch.augmentation", "WarmupCosineSchedule"),
    ("mne_neurosketch.estimator", "NeuroSketchClassifier"),
    ("mne_neurosketch.estimator", "_Loader"),
    ("mne_neurosketch.estimator", "_RecipeNet"),
    ("mne_neurosketch.estimator", "_log_info"),
    ("mne_neurosketch.estimator", "_softmax"),
    ("mne_neurosketch.models.neurosketch", "NeuroSketch"),
]


@pytest.mark.parametrize("module, name", PICKLED_BEFORE_ROOMS)
def test_names_in_earlier_pickles_still_resolve(module, name):
    import pickle

    found = pickle.Unpickler(io.BytesIO(b"")).find_class(module, name)
    assert callable(found)


def test_pickle_of_a_loaded_fixture_predicts_the_same():
    import pickle

    epochs, _ = fixture_epochs()
    clf = NeuroSketchClassifier.load(DATA / "saved_v4.pt", device="cpu")
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(epochs[40:]),
                                  clf.predict_proba(epochs[40:]))
