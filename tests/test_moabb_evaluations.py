"""MOABB's own evaluations run the package's pipelines, in every cross-subject mode.

MOABB's classes, not a re-implementation: ``WithinSessionEvaluation``,
``CrossSessionEvaluation`` and ``CrossSubjectEvaluation`` in each
``CrossSubjectMode`` of MOABB 1.7, on its ``FakeDataset`` with tiny budgets,
with NeuroSketch alone, with Euclidean alignment, and a classical pipeline
with Riemannian alignment. Each mode's metadata is checked to reach the step
that asked for it.
"""

import numpy as np
import pytest
from moabb.datasets.fake import FakeDataset
from moabb.evaluations import (
    CrossSessionEvaluation,
    CrossSubjectEvaluation,
    WithinSessionEvaluation,
)
from moabb.evaluations.protocols import CrossSubjectMode
from moabb.paradigms import MotorImagery
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from sklearn import config_context
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from test_estimator import TINY

# records what reached the classifier's fit (a list shared by MOABB's clones)
from test_finetune import RecordingClassifier as Recorder

from mne_neurosketch.alignment import EuclideanAlignment, RiemannianAlignment

N_EVENTS = 20  # trials per subject


class RecordingAlignment(EuclideanAlignment):
    """Records the unlabelled target trials MOABB routed to the aligner."""

    calls = []

    def fit(self, X, y=None, *, subjects=None, X_target_unlabeled=None,
            X_target_labeled=None):
        super().fit(X, y, subjects=subjects, X_target_unlabeled=X_target_unlabeled,
                    X_target_labeled=X_target_labeled)
        type(self).calls.append(
            0 if X_target_unlabeled is None else len(X_target_unlabeled))
        return self


def _data(n_sessions=1):
    dataset = FakeDataset(["left_hand", "right_hand"], n_subjects=3,
                          n_sessions=n_sessions, n_runs=1, n_events=N_EVENTS,
                          duration=40, seed=5)
    paradigm = MotorImagery(n_classes=2, events=["left_hand", "right_hand"],
                            tmin=0, tmax=0.5)
    return dataset, paradigm


def _network(**request):
    return Recorder(module_kwargs=TINY, max_epochs=1, batch_size=8, valid_size=None,
                    finetune_epochs=1, random_state=0, device="cpu",
                    verbose=False).set_fit_request(**request)


def _pipelines():
    with config_context(enable_metadata_routing=True):
        labeled = dict(X_target_labeled=True, y_target_labeled=True)
        return {
            "NeuroSketch": _network(**labeled),
            "EA+NeuroSketch": make_pipeline(
                RecordingAlignment().set_fit_request(
                    subjects=True, X_target_unlabeled=True, X_target_labeled=True),
                _network(**labeled), transform_input=["X_target_labeled"]),
            "RA+TSLR": make_pipeline(
                Covariances("oas"),
                RiemannianAlignment().set_fit_request(subjects=True,
                                                      X_target_unlabeled=True),
                TangentSpace(), LogisticRegression()),
        }


def _evaluation(mode, tmp_path):
    dataset, paradigm = _data()
    return CrossSubjectEvaluation(paradigm=paradigm, datasets=[dataset],
                                  overwrite=True, hdf5_path=str(tmp_path), cs_mode=mode)


@pytest.mark.parametrize("mode", [m.value for m in CrossSubjectMode
                                  if not m.trialwise])
def test_cross_subject_every_mode(mode, tmp_path):
    Recorder.calls, RecordingAlignment.calls = [], []
    results = _evaluation(mode, tmp_path).process(_pipelines())
    finetuned = [call["n_finetune"] for call in Recorder.calls]
    assert len(results) == 9  # 3 target subjects x 3 pipelines
    assert np.isfinite(results["score"]).all()
    cs_mode = CrossSubjectMode(mode)
    size = cs_mode.calibration_size
    # the labeled calibration reaches the classifier, which fine-tunes on it
    assert len(finetuned) == 6  # two networks x 3 target subjects
    if cs_mode.calibration_labeled:
        expected = round(size * N_EVENTS)
        assert all(abs(n - expected) <= 1 for n in finetuned), finetuned
    else:
        assert finetuned == [0] * 6
    # the unlabelled target trials reach the aligner that asked for them
    assert len(RecordingAlignment.calls) == 3
    if size and not cs_mode.calibration_labeled:
        assert all(n >= round(size * N_EVENTS) - 1 for n in RecordingAlignment.calls)
    else:
        assert RecordingAlignment.calls == [0] * 3


def test_cross_subject_trialwise(tmp_path):
    """One target trial at a time: an alignment has no target reference to use."""
    Recorder.calls = []
    pipes = _pipelines()
    results = _evaluation("train_trialwise", tmp_path).process(
        {"NeuroSketch": pipes.pop("NeuroSketch")})
    assert len(results) == 3 and np.isfinite(results["score"]).all()
    assert [call["n_finetune"] for call in Recorder.calls] == [0] * 3
    # each alignment says what it needs instead of guessing a reference
    for name, pipe in pipes.items():
        with pytest.raises(ValueError, match="single trial and has no target reference"):
            _evaluation("train_trialwise", tmp_path / name).process({name: pipe})


@pytest.mark.parametrize("evaluation_class, n_sessions",
                         [(WithinSessionEvaluation, 1), (CrossSessionEvaluation, 2)])
def test_within_and_cross_session(evaluation_class, n_sessions, tmp_path):
    dataset, paradigm = _data(n_sessions)
    kwargs = dict(n_splits=2, random_state=0) if n_sessions == 1 else {}
    evaluation = evaluation_class(paradigm=paradigm, datasets=[dataset],
                                  overwrite=True, hdf5_path=str(tmp_path), **kwargs)
    pipes = _pipelines()
    results = evaluation.process({"NeuroSketch": pipes["NeuroSketch"]})
    assert len(results) == 3 * (1 if n_sessions == 1 else 2)
    assert np.isfinite(results["score"]).all()
