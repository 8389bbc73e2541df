"""Write ``saved_v4.pt`` and ``saved_v4_expected.npz``: a save file fixture.

Run once, with the version whose save format the fixture pins (format 4 was
written by commit 1485538), from the repository root::

    python tests/data/make_saved_v4.py

``tests/test_persistence.py`` loads the file with the current code and checks it
predicts what the writing version predicted.  Never regenerate it to make that
test pass: a new format gets a new fixture beside this one.
"""
from pathlib import Path

import mne
import numpy as np
import torch

from mne_neurosketch.estimator import NeuroSketchClassifier

HERE = Path(__file__).parent
TINY = dict(depths=(1, 1, 1, 1), widths=(8, 8, 8, 8), stem_channels=(8, 8, 8), head_dim=2)


def fixture_epochs(n=60, n_chans=4, n_times=96, seed=0):
    """Three classes that differ by the frequency of a sine in noise, as Epochs."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 3)
    t = np.arange(n_times) / n_times
    X = rng.standard_normal((n, n_chans, n_times))
    freq = np.array([3.0, 6.0, 9.0])[y][:, None]
    X[:, :2] += 0.8 * np.sin(2 * np.pi * freq * t)[:, None]
    info = mne.create_info([f"EEG{i}" for i in range(n_chans)], 96.0, "eeg")
    events = np.c_[np.arange(n) * 200, np.zeros(n, int), y + 1]
    epochs = mne.EpochsArray(X * 1e-5, info, events, event_id={"a": 1, "b": 2, "c": 3},
                             verbose=False)
    return epochs, y


if __name__ == "__main__":
    torch.manual_seed(0)
    epochs, y = fixture_epochs()
    clf = NeuroSketchClassifier(module_kwargs=TINY, max_epochs=20, batch_size=8,
                                valid_size=None, random_state=0, verbose=False,
                                device="cpu", amp=False)
    clf.fit(epochs[:40], y[:40])
    clf.save(HERE / "saved_v4.pt")
    np.savez(HERE / "saved_v4_expected.npz", proba=clf.predict_proba(epochs[40:]),
             classes=clf.classes_)
