"""braindecode users stay braindecode users: EEGClassifier(NeuroSketch) with the
recipe's parts, and skorch callbacks passed through NeuroSketchClassifier."""

import numpy as np
import torch
from braindecode import EEGClassifier
from braindecode.augmentation import AugmentedDataLoader
from skorch.callbacks import Callback, LRScheduler

from mne_neurosketch import NeuroSketch, NeuroSketchClassifier
from mne_neurosketch.augmentation import (
    OneHotBCEWithLogitsLoss,
    WarmupCosineSchedule,
    make_recipe_transforms,
)


def _data(n=24, n_chans=4, n_times=96, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, n_chans, n_times)).astype(np.float32)
    X[y == 1, 0] += 1.0  # learnable, but not what these tests check
    return X, y


def test_eegclassifier_with_neurosketch_and_the_recipe():
    """The user guide's recipe inside a plain braindecode EEGClassifier."""
    X, y = _data()
    max_epochs, batch_size = 2, 8
    schedule = WarmupCosineSchedule(max_epochs * len(X) // batch_size, 0.1)
    clf = EEGClassifier(
        NeuroSketch,
        module__preset="base",
        criterion=OneHotBCEWithLogitsLoss,
        optimizer=torch.optim.AdamW,
        optimizer__weight_decay=0.05,
        lr=1e-3,
        batch_size=batch_size,
        max_epochs=max_epochs,
        iterator_train=AugmentedDataLoader,
        iterator_train__transforms=make_recipe_transforms(mixup_p=0.0, random_state=0),
        callbacks=[
            (
                "lr_scheduler",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.LambdaLR,
                    lr_lambda=schedule,
                    step_every="batch",
                ),
            )
        ],
        train_split=None,
        device="cpu",
        verbose=0,
    )
    clf.fit(X, y)
    assert isinstance(clf.module_, NeuroSketch)
    assert len(clf.history) == max_epochs
    assert clf.predict_proba(X).shape == (len(X), 2)


class _Epochs(Callback):
    """Counts the epochs it sees (its own state: copied at each fit)."""

    def __init__(self):
        self.seen = 0

    def on_epoch_end(self, net, **kwargs):
        self.seen += 1
        net.history.record("seen_by_callback", self.seen)


def test_callbacks_pass_through_the_estimator():
    X, y = _data()
    mine = _Epochs()
    clf = NeuroSketchClassifier(
        "EEGNet", max_epochs=3, batch_size=8, callbacks=[("count", mine)],
        device="cpu", random_state=0,
    )
    clf.fit(X, y)
    # The callback ran after every epoch of the recipe's training...
    assert clf.history_[:, "seen_by_callback"] == [1, 2, 3]
    # ...on a copy: the parameter is the user's untouched object.
    assert clf.get_params()["callbacks"][0][1] is mine and mine.seen == 0
