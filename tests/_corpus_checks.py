"""Checks shared by the corpus tests: one NeuroSketch epoch and one MOABB evaluation."""

import numpy as np
import torch
from braindecode import EEGClassifier
from moabb.evaluations import WithinSessionEvaluation
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mne_neurosketch import NeuroSketch
from mne_neurosketch.paradigms import MultiClassDecoding

# A tiny NeuroSketch: same architecture, few and narrow layers.
TINY = dict(
    module__depths=(1, 1, 1, 1),
    module__widths=(8, 8, 8, 8),
    module__stem_channels=(8, 8, 8),
)


def _flatten(X):
    # every 8th sample keeps the class patterns (smooth) and the fit cheap
    return X[:, :, ::8].reshape(len(X), -1)


def fit_neurosketch_one_epoch(windows):
    """Train a tiny NeuroSketch for one epoch on a braindecode windows dataset."""
    torch.manual_seed(0)
    clf = EEGClassifier(
        NeuroSketch,
        **TINY,
        max_epochs=1,
        batch_size=8,
        train_split=None,
        iterator_train__drop_last=False,
        optimizer=torch.optim.AdamW,
        verbose=0,
    )
    clf.fit(windows, y=None)
    n_classes = len(np.unique(windows.get_metadata()["target"]))
    assert len(clf.history) == 1
    assert np.isfinite(clf.history[-1]["train_loss"])
    assert clf.module_.n_outputs == n_classes
    proba = clf.predict_proba(windows)
    assert proba.shape == (len(windows), n_classes)
    return clf


def run_within_session(dataset, tmp_path, **kwargs):
    """Run MOABB's WithinSessionEvaluation with a cheap linear pipeline."""
    evaluation = WithinSessionEvaluation(
        paradigm=MultiClassDecoding(),
        datasets=[dataset],
        overwrite=True,
        hdf5_path=str(tmp_path / "moabb_results"),
        random_state=0,
        **kwargs,
    )
    pipe = make_pipeline(
        FunctionTransformer(_flatten), StandardScaler(), LogisticRegression(max_iter=200)
    )
    results = evaluation.process({"flat-lr": pipe})
    assert {"score", "subject", "session", "dataset", "pipeline"} <= set(results.columns)
    assert (results["dataset"] == dataset.code).all()
    assert results["score"].between(0, 1).all()
    return results
