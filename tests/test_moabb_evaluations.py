"""MOABB's own evaluations run the package's pipelines, in every cross-subject mode.

MOABB's classes, not a re-implementation: ``WithinSessionEvaluation``,
``CrossSessionEvaluation`` and ``CrossSubjectEvaluation`` in each
``CrossSubjectMode`` of MOABB 1.7, on its ``FakeDataset`` with tiny budgets,
with NeuroSketch alone, with Euclidean alignment, and a classical pipeline
with Riemannian alignment, all in one ``evaluation.process`` call. Beside
those built under metadata routing with their requests, the same kinds of
pipeline built without routing (where ``set_fit_request`` cannot be called:
the steps' default requests decide) run in the same call: the package's
``TSLR-aligned`` and braindecode's EEGNet trained by its customary recipe
after an aligner. Each mode's metadata is checked to reach the step that
asked for it.
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
from moabb.paradigms import FilterBankMotorImagery, MotorImagery
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from sklearn import config_context
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from test_estimator import TINY

# records what reached the classifier's fit (a list shared by MOABB's clones)
from test_finetune import RecordingClassifier as Recorder

from mne_neurosketch.alignment import EuclideanAlignment, RiemannianAlignment
from mne_neurosketch.benchmark.pipelines import make_pipeline as package_pipeline

N_EVENTS = 20  # trials per subject
MODES = [m.value for m in CrossSubjectMode if not m.trialwise]


class _Records:
    """Records the metadata MOABB routed to an aligner (a list per class)."""

    def fit(self, X, y=None, *, subjects=None, X_target_unlabeled=None,
            X_target_labeled=None):
        super().fit(X, y, subjects=subjects, X_target_unlabeled=X_target_unlabeled,
                    X_target_labeled=X_target_labeled)
        type(self).calls.append(dict(
            subjects=None if subjects is None else len(set(subjects)),
            unlabeled=0 if X_target_unlabeled is None else len(X_target_unlabeled),
            labeled=0 if X_target_labeled is None else len(X_target_labeled)))
        return self


class RecordingAlignment(_Records, EuclideanAlignment):
    calls = []


class RecordingRiemannian(_Records, RiemannianAlignment):
    calls = []


class UnroutedAlignment(RecordingAlignment):
    """The same, in the pipelines built without routing."""

    calls = []


class Unrouted(Recorder):
    """A network of a pipeline built without routing."""

    calls = []


def _data(n_sessions=1):
    dataset = FakeDataset(["left_hand", "right_hand"], n_subjects=3,
                          n_sessions=n_sessions, n_runs=1, n_events=N_EVENTS,
                          duration=40, seed=5)
    paradigm = MotorImagery(n_classes=2, events=["left_hand", "right_hand"],
                            tmin=0, tmax=0.5)
    return dataset, paradigm


NETWORK = dict(module_kwargs=TINY, max_epochs=1, batch_size=8, valid_size=None,
               finetune_epochs=1, random_state=0, device="cpu", verbose=False)


def _network(**request):
    return Recorder(**NETWORK).set_fit_request(**request)


def _pipelines():
    """Pipelines built under routing, with requests, and without routing."""
    with config_context(enable_metadata_routing=True):
        labeled = dict(X_target_labeled=True, y_target_labeled=True)
        pipes = {
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
    # Routing is off here: the steps' default requests decide what they get.
    pipes["EA+NeuroSketch, no requests"] = make_pipeline(UnroutedAlignment(),
                                                         Unrouted(**NETWORK))
    pipes["TSLR-aligned"] = package_pipeline("TSLR-aligned")
    pipes["EA+EEGNet-customary"] = make_pipeline(
        EuclideanAlignment(),
        package_pipeline("EEGNet-customary", max_epochs=1, batch_size=8, device="cpu"))
    return pipes


def _evaluation(mode, tmp_path):
    dataset, paradigm = _data()
    return CrossSubjectEvaluation(paradigm=paradigm, datasets=[dataset],
                                  overwrite=True, hdf5_path=str(tmp_path), cs_mode=mode)


def _reset():
    Recorder.calls, Unrouted.calls = [], []
    RecordingAlignment.calls, UnroutedAlignment.calls = [], []


def _check_cross_subject(mode, results, n_pipelines):
    assert len(results) == 3 * n_pipelines  # 3 target subjects
    assert np.isfinite(results["score"]).all()
    cs_mode = CrossSubjectMode(mode)
    size = cs_mode.calibration_size
    # the labeled calibration reaches the classifiers that requested it, which
    # fine-tune on it
    finetuned = [call["n_finetune"] for call in Recorder.calls]
    assert len(finetuned) == 6  # two networks x 3 target subjects
    if cs_mode.calibration_labeled:
        expected = round(size * N_EVENTS)
        assert all(abs(n - expected) <= 1 for n in finetuned), finetuned
    else:
        assert finetuned == [0] * 6
    # ... never the one that did not
    assert [call["n_finetune"] for call in Unrouted.calls] == [0] * 3
    # every aligner re-centres the two source subjects each on its own: the
    # one built without routing too, by its default request
    for recorder in (RecordingAlignment, UnroutedAlignment):
        assert [call["subjects"] for call in recorder.calls] == [2] * 3
    # the unlabelled target trials reach the aligners, the labeled ones only
    # the aligner that asked for them
    unlabeled = size and not cs_mode.calibration_labeled
    for recorder in (RecordingAlignment, UnroutedAlignment):
        n = [call["unlabeled"] for call in recorder.calls]
        assert all(k >= round(size * N_EVENTS) - 1 for k in n) if unlabeled else (
            n == [0] * 3)
    labeled = [call["labeled"] for call in RecordingAlignment.calls]
    assert all(labeled) if cs_mode.calibration_labeled else labeled == [0] * 3
    assert [call["labeled"] for call in UnroutedAlignment.calls] == [0] * 3


@pytest.mark.parametrize("mode", MODES)
def test_cross_subject_every_mode(mode, tmp_path):
    _reset()
    pipes = _pipelines()
    results = _evaluation(mode, tmp_path).process(pipes)
    assert set(results["pipeline"]) == set(pipes)
    _check_cross_subject(mode, results, len(pipes))


def test_cross_subject_under_global_routing(tmp_path):
    """The same call with routing switched on around it, as a script that sets
    it once at the top would run it (MOABB's scoring then routes too)."""
    _reset()
    mode = "train_and_target_labeled_20p"
    with config_context(enable_metadata_routing=True):
        pipes = _pipelines()
        results = _evaluation(mode, tmp_path).process(pipes)
    _check_cross_subject(mode, results, len(pipes))


def test_cross_subject_trialwise(tmp_path):
    """One target trial at a time: an alignment has no target reference to use."""
    _reset()
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
    _reset()
    dataset, paradigm = _data(n_sessions)
    kwargs = dict(n_splits=2, random_state=0) if n_sessions == 1 else {}
    evaluation = evaluation_class(paradigm=paradigm, datasets=[dataset],
                                  overwrite=True, hdf5_path=str(tmp_path), **kwargs)
    pipes = _pipelines()
    results = evaluation.process(pipes)
    n_rows = 1 if n_sessions == 1 else 2  # per subject
    assert len(results) == 3 * n_rows * len(pipes)
    assert np.isfinite(results["score"]).all()
    # no subject metadata or calibration here: each fit is one subject's
    assert {call["n_finetune"] for call in Recorder.calls + Unrouted.calls} == {0}
    for recorder in (RecordingAlignment, UnroutedAlignment):
        assert recorder.calls and all(
            call == dict(subjects=None, unlabeled=0, labeled=0)
            for call in recorder.calls)


def test_package_tslr_aligned_on_a_filter_bank(tmp_path):
    """The benchmark's TSLR-aligned, built without routing, on a filter-bank
    paradigm: MOABB routes the target's calibration slice raw, a filter bank
    (MOABB 1.7's evaluations keep its first band only: still 4-D), which the
    aligner stacks as the pipeline stacks the training trials."""
    RecordingRiemannian.calls = []
    dataset, _ = _data()
    paradigm = FilterBankMotorImagery(filters=[[8, 12], [12, 16]], n_classes=2,
                                      events=["left_hand", "right_hand"], tmin=0,
                                      tmax=0.5)
    pipe = package_pipeline("TSLR-aligned").set_params(
        align=RecordingRiemannian(estimator="oas"))
    evaluation = CrossSubjectEvaluation(
        paradigm=paradigm, datasets=[dataset], overwrite=True,
        hdf5_path=str(tmp_path), cs_mode="train_and_target_unlabeled_20p")
    results = evaluation.process({"TSLR-aligned": pipe})
    assert len(results) == 3 and np.isfinite(results["score"]).all()
    assert [(call["subjects"], call["unlabeled"] > 0)
            for call in RecordingRiemannian.calls] == [(2, True)] * 3


def test_same_pipelines_outside_moabb_routing_off():
    """The pipelines MOABB ran fit and score in plain scikit-learn, routing off."""
    dataset, paradigm = _data()
    X, labels, _ = paradigm.get_data(dataset, subjects=[1])
    y = (labels == "left_hand").astype(int)
    pipes = _pipelines()
    # scikit-learn's own rule: transform_input needs routing (MOABB fits with it)
    with pytest.raises(ValueError, match="`transform_input` parameter can only be set"):
        pipes.pop("EA+NeuroSketch").fit(X, y)
    for name, pipe in pipes.items():
        scores = cross_val_score(pipe, X, y, cv=2)
        assert np.isfinite(scores).all(), name
