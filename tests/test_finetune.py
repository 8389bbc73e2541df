"""Fine-tuning in NeuroSketchClassifier: warm start, initial weights, frozen
layers, learning-rate scaling, new heads, and transfer through MOABB."""

import json
import sqlite3
from pathlib import Path

import mne
import numpy as np
import pytest
import torch
from _outputs import assert_same_outputs
from sklearn import config_context
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

# _one_thread: the autouse fixture running these tiny networks on one thread.
from test_estimator import (  # noqa: F401
    TINY,
    TRAINED,
    _one_thread,
    make_task,
    separable_task,
    tiny_clf,
    trained_clf,
)

from mne_neurosketch.alignment import EuclideanAlignment
from mne_neurosketch.estimator import NeuroSketchClassifier


def params_of(clf):
    """The trained parameters (not buffers), copied, by name."""
    return {n: p.detach().clone() for n, p in clf.module_.named_parameters()}


def split_head(params):
    head = {n: p for n, p in params.items() if "final_layer" in n.split(".")}
    body = {n: p for n, p in params.items() if n not in head}
    return body, head


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.fixture(scope="module")
def pretrained():
    """A tiny NeuroSketch trained on the 3-class task."""
    X, y = make_task(60)
    return tiny_clf(max_epochs=2).fit(X, y)


# ---------------------------------------------------------------------------
# Starting from pretrained weights
# ---------------------------------------------------------------------------
def test_warm_start_continues_from_the_previous_fit():
    X, y = make_task(60)
    X2, y2 = make_task(60, seed=1)
    clf = tiny_clf(max_epochs=2, warm_start=True).fit(X, y)
    first = params_of(clf)
    # A second fit at a negligible learning rate stays at the first fit's
    # weights: it continued from them rather than from a new initialisation.
    clf.set_params(lr=1e-12).fit(X2, y2)
    for name, value in params_of(clf).items():
        torch.testing.assert_close(value, first[name], rtol=0, atol=1e-6)
    # Without warm_start the same fit starts afresh, far from the first fit.
    fresh = clone(clf).set_params(warm_start=False).fit(X2, y2)
    assert not torch.allclose(params_of(fresh)["stem.0.conv.weight"],
                              first["stem.0.conv.weight"], atol=1e-3)


def test_warm_start_with_frozen_body_trains_only_the_head():
    X, y = make_task(60)
    X2, y2 = make_task(60, seed=1)
    clf = tiny_clf(max_epochs=2, warm_start=True, freeze="body").fit(X, y)
    body, head = split_head(params_of(clf))  # the first fit trains everything
    clf.fit(X2, y2)
    body2, head2 = split_head(params_of(clf))
    assert_identical(body2, body)
    assert not torch.equal(head2["final_layer.weight"], head["final_layer.weight"])
    # Frozen parameters get no gradient and sit in no optimizer group.
    in_groups = {id(p) for g in clf.net_.optimizer_.param_groups for p in g["params"]}
    for _, param in clf.module_.named_parameters():
        frozen = not param.requires_grad
        assert frozen == (id(param) not in in_groups)
    assert {n for n, p in clf.module_.named_parameters() if p.requires_grad} == set(head)


@pytest.mark.parametrize("source", ["file", "estimator", "state_dict", "state_file"])
def test_init_weights_new_classes_reinitialise_the_head_only(pretrained, tmp_path,
                                                             source):
    if source == "file":
        init = tmp_path / "pretrained.pt"
        pretrained.save(init)
    elif source == "estimator":
        init = pretrained
    elif source == "state_dict":
        init = pretrained.module_.state_dict()
    else:
        init = str(tmp_path / "state.pt")
        torch.save(pretrained.module_.state_dict(), init)
    X, y = make_task(40, seed=2)
    y = np.array(["left", "right"])[y % 2]  # another class set, two classes
    with mne.utils.catch_logging() as log:
        clf = tiny_clf(max_epochs=1, init_weights=init, freeze="body",
                       verbose="INFO").fit(X, y)
    text = log.getvalue()
    assert "re-initialising the head (final_layer)" in text
    assert "Fine-tuning NeuroSketch on 40 trials" in text
    body, head = split_head(params_of(clf))
    pre_body, pre_head = split_head(params_of(pretrained))
    assert_identical(body, pre_body)
    assert head["final_layer.weight"].shape[0] == 2
    assert pre_head["final_layer.weight"].shape[0] == 3
    assert list(clf.classes_) == ["left", "right"]


def test_same_classes_keep_the_pretrained_head(pretrained):
    X, y = make_task(60, seed=1)
    with mne.utils.catch_logging() as log:
        clf = tiny_clf(max_epochs=1, init_weights=pretrained, lr=1e-12,
                       verbose="INFO").fit(X, y)
    assert "re-initialising" not in log.getvalue()
    for name, value in params_of(clf).items():
        torch.testing.assert_close(value, params_of(pretrained)[name], rtol=0,
                                   atol=1e-6)


def test_freeze_by_prefix(pretrained):
    X, y = make_task(60, seed=1)
    clf = tiny_clf(max_epochs=1, init_weights=pretrained,
                   freeze=["stem", "blocks.0"]).fit(X, y)
    after, before = params_of(clf), params_of(pretrained)
    frozen = [n for n in before if n.startswith(("stem.", "blocks.0."))]
    assert frozen
    for name in before:
        assert torch.equal(after[name], before[name]) == (name in frozen), name


def test_lr_scale_sets_the_body_groups_lr(pretrained):
    X, y = make_task(60, seed=1)
    clf = tiny_clf(max_epochs=1, lr=2e-3, init_weights=pretrained,
                   finetune_lr_scale=0.1).fit(X, y)
    names = {id(p): n for n, p in clf.module_.named_parameters()}
    groups = clf.net_.optimizer_.param_groups
    assert len(groups) == 4  # (body, head) x (decayed weights, biases and norms)
    for group in groups:
        heads = {names[id(p)].startswith("final_layer.") for p in group["params"]}
        assert len(heads) == 1
        expected = 2e-3 if heads.pop() else 2e-4
        assert group["initial_lr"] == pytest.approx(expected, rel=1e-12)
        # Weight decay still skips biases and normalisation parameters.
        ndims = {p.ndim > 1 for p in group["params"]}
        assert len(ndims) == 1
        assert group["weight_decay"] == (0.05 if ndims.pop() else 0.0)
    # A fit from a new initialisation ignores the fine-tuning settings.
    plain = clone(clf).set_params(init_weights=None).fit(X, y)
    assert {g["initial_lr"] for g in plain.net_.optimizer_.param_groups} == {2e-3}


def test_finetune_epochs_sets_the_budget(pretrained):
    X, y = make_task(60, seed=1)
    clf = tiny_clf(max_epochs=1, init_weights=pretrained, finetune_epochs=3).fit(X, y)
    assert len(clf.history_) == 3
    assert len(tiny_clf(max_epochs=1, finetune_epochs=3).fit(X, y).history_) == 1


@pytest.mark.parametrize("module", ["EEGNet", "ShallowFBCSPNet", "BDTCN"])
def test_braindecode_models_fine_tune_with_a_new_head(module):
    # BDTCN's trainable head is base_tcn.final_layer: a nested final_layer counts.
    X, y = make_task(60, n_chans=4, n_times=128)
    params = dict(module=module, module_kwargs=None, max_epochs=1)
    source = tiny_clf(**params).fit(X, y)
    clf = tiny_clf(**params, init_weights=source, freeze="body",
                   finetune_lr_scale=0.5).fit(X, y % 2)
    body, head = split_head(params_of(clf))
    pre_body, pre_head = split_head(params_of(source))
    assert body and head
    assert_identical(body, pre_body)
    assert {p.shape[0] for n, p in head.items() if n.endswith("weight")} == {2}
    assert {p.shape[0] for n, p in pre_head.items() if n.endswith("weight")} == {3}
    # Without freezing, the body trains too (at half the learning rate).
    clf = tiny_clf(**params, init_weights=source, finetune_lr_scale=0.5).fit(X, y)
    body, _ = split_head(params_of(clf))
    assert any(not torch.equal(body[n], pre_body[n]) for n in body)


def test_save_load_after_fine_tuning(pretrained, tmp_path):
    X, y = separable_task(60, seed=1)
    # fine-tuned long enough for its outputs to differ across trials
    clf = tiny_clf(**TRAINED, init_weights=pretrained.module_.state_dict(),
                   freeze=["stem"], finetune_lr_scale=0.5).fit(X, y)
    clf.save(tmp_path / "tuned.pt")
    loaded = NeuroSketchClassifier.load(tmp_path / "tuned.pt")
    assert loaded.init_weights is None  # a state dict is not stored, the result is
    assert loaded.freeze == ["stem"] and loaded.finetune_lr_scale == 0.5
    assert_same_outputs(loaded.predict_proba(X), clf.predict_proba(X))
    # A loaded estimator warm-starts from its saved weights.
    loaded.set_params(warm_start=True, freeze="body").fit(X, y)
    assert_identical(split_head(params_of(loaded))[0], split_head(params_of(clf))[0])


# ---------------------------------------------------------------------------
# Transfer: fine-tuning on a target's labeled calibration trials
# ---------------------------------------------------------------------------
def test_target_fine_tuning_after_source_training():
    X, y = make_task(90)
    Xt, yt = make_task(12, seed=5)
    source_only = tiny_clf(max_epochs=2).fit(X, y)
    assert source_only.n_finetune_trials_ == 0
    clf = tiny_clf(max_epochs=2, freeze="body", finetune_epochs=3)
    with mne.utils.catch_logging() as log:
        clf.set_params(verbose="INFO").fit(X, y, X_target_labeled=Xt,
                                           y_target_labeled=yt)
    assert "Fine-tuning on 12 labeled target trials for 3 epochs" in log.getvalue()
    assert clf.n_finetune_trials_ == 12
    assert len(clf.history_) == 3
    # The source training is the one of a plain fit (same seeds); then only
    # the head moved.
    body, head = split_head(params_of(clf))
    src_body, src_head = split_head(params_of(source_only))
    assert_identical(body, src_body)
    assert not torch.equal(head["final_layer.weight"], src_head["final_layer.weight"])


def test_subjects_and_unlabeled_target_are_accepted_and_ignored():
    X, y = separable_task(60)
    plain = trained_clf(X, y)
    routed = tiny_clf(**TRAINED).fit(X, y, subjects=np.repeat([1, 2], 30),
                                     X_target_unlabeled=separable_task(10, seed=3)[0])
    assert_same_outputs(routed.predict_proba(X), plain.predict_proba(X))
    assert routed.n_finetune_trials_ == 0


class RecordingClassifier(NeuroSketchClassifier):
    """Records which trials reach fit (the test's view of the leakage)."""

    calls = []

    def fit(self, X, y=None, *, subjects=None, X_target_labeled=None,
            y_target_labeled=None):
        super().fit(X, y, subjects=subjects, X_target_labeled=X_target_labeled,
                    y_target_labeled=y_target_labeled)
        type(self).calls.append(dict(
            X=np.asarray(X), subjects=np.asarray(subjects), X_target=X_target_labeled,
            n_finetune=self.n_finetune_trials_, history=len(self.history_)))
        return self


def _rows(X):
    return {row.tobytes() for row in np.asarray(X, dtype=np.float64)}


def cross_subject_with_calibration(tmp_path, *steps, transform_input=None):
    """MOABB's CrossSubjectEvaluation with a labeled calibration slice, on a
    pipeline ending in a RecordingClassifier; its fit calls and the data."""
    from moabb.datasets.fake import FakeDataset
    from moabb.evaluations import CrossSubjectEvaluation
    from moabb.paradigms import MotorImagery

    dataset = FakeDataset(["left_hand", "right_hand"], n_subjects=3, n_sessions=1,
                          n_runs=1, n_events=20, duration=40, seed=4)
    paradigm = MotorImagery(n_classes=2, events=["left_hand", "right_hand"],
                            tmin=0, tmax=0.5)
    RecordingClassifier.calls = []
    with config_context(enable_metadata_routing=True):
        clf = RecordingClassifier(module_kwargs=TINY, max_epochs=1, batch_size=8,
                                  valid_size=None, finetune_epochs=2,
                                  finetune_lr_scale=0.1, random_state=0,
                                  verbose=False)
        clf.set_fit_request(subjects=True, X_target_labeled=True,
                            y_target_labeled=True)
        pipe = make_pipeline(*steps, clf, transform_input=transform_input)
    evaluation = CrossSubjectEvaluation(
        paradigm=paradigm, datasets=[dataset], overwrite=True,
        hdf5_path=str(tmp_path),
        cv_kwargs={"calibration_size": 0.3, "calibration_labeled": True})
    results = evaluation.process({"NS_FT": pipe})
    assert len(results) == 3 and results["score"].between(0, 1).all()
    assert len(RecordingClassifier.calls) == 3  # one per target subject
    X_all, _, meta = paradigm.get_data(dataset)
    return RecordingClassifier.calls, X_all, meta


def test_moabb_cross_subject_fine_tunes_on_labeled_calibration(tmp_path):
    calls, X_all, meta = cross_subject_with_calibration(tmp_path)
    for call in calls:
        target = (set(meta["subject"]) - set(call["subjects"])).pop()
        target_rows = _rows(X_all[(meta["subject"] == target).to_numpy()])
        calibration = _rows(call["X_target"])
        # The estimator fine-tuned, on a strict part of the target's trials ...
        assert call["n_finetune"] == len(call["X_target"]) > 0
        assert call["history"] == 2
        assert calibration < target_rows
        # ... and no other target trial (its test trials) reached fit.
        assert not _rows(call["X"]) & target_rows


def test_moabb_calibration_aligned_through_transform_input(tmp_path):
    # MOABB routes the slice raw; the pipeline's transform_input passes it
    # through the alignment (fitted with the target's reference) first.
    ea = EuclideanAlignment()
    with config_context(enable_metadata_routing=True):
        ea.set_fit_request(subjects=True, X_target_labeled=True,
                           y_target_labeled=False)
    calls, _, _ = cross_subject_with_calibration(
        tmp_path, ea, transform_input=["X_target_labeled"])
    for call in calls:
        X_target = call["X_target"].astype(np.float64)
        assert call["n_finetune"] == len(X_target) > 0
        mean_cov = np.einsum("nct,ndt->cd", X_target, X_target) / (
            X_target.shape[0] * X_target.shape[2])
        np.testing.assert_allclose(mean_cov, np.eye(len(mean_cov)), atol=1e-3)


# ---------------------------------------------------------------------------
# Stored benchmark results still match
# ---------------------------------------------------------------------------
STORED = Path(__file__).parents[1] / "benchmarks/results/kalunga2016/kalunga2016.sqlite"


@pytest.mark.skipif(not STORED.is_file(), reason="needs the stored Kalunga results")
def test_stored_fits_still_match_and_fine_tuning_changes_the_hash():
    from mne_neurosketch.benchmark.pipelines import params_hash, pipeline_params

    with sqlite3.connect(STORED) as con:
        row, = con.execute("SELECT params FROM fits WHERE pipeline = 'NeuroSketch' "
                           "LIMIT 1").fetchone()
    stored = json.loads(row)["pipeline"]
    clf = NeuroSketchClassifier(**{k: v for k, v in stored.items() if k != "class"})
    # The fine-tuning parameters at their defaults leave the hash of the fits
    # stored before they existed unchanged, so a resumed run reuses them ...
    assert pipeline_params(clf) == stored
    # ... and any fine-tuning setting makes it another pipeline.
    hashes = {params_hash(clone(clf).set_params(**p)) for p in [
        {}, {"warm_start": True}, {"freeze": "body"}, {"finetune_lr_scale": 0.1},
        {"finetune_epochs": 5}, {"init_weights": "pretrained.pt"}]}
    assert len(hashes) == 6


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("params, match", [
    (dict(freeze="stem"), "Invalid value for the 'freeze' parameter"),
    (dict(freeze=[]), "Invalid value for the 'freeze' parameter"),
    (dict(finetune_lr_scale=0), "Invalid value for the 'finetune_lr_scale'"),
    (dict(finetune_epochs=0), "Invalid value for the 'finetune_epochs'"),
    (dict(warm_start="yes"), "Invalid value for the 'warm_start'"),
    (dict(init_weights=3), "Invalid value for the 'init_weights' parameter"),
    (dict(init_weights="no/such/file.pt"), "No such file.*init_weights takes"),
    (dict(init_weights=NeuroSketchClassifier()), "unfitted NeuroSketchClassifier"),
])
def test_bad_finetune_params(params, match):
    X, y = make_task(30)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        tiny_clf(max_epochs=1, **params).fit(X, y)


def test_bad_prefix_and_mismatched_weights(pretrained):
    X, y = make_task(60, seed=1)
    with pytest.raises(ValueError, match="'stems' matches no parameter.*'stem'"):
        tiny_clf(max_epochs=1, init_weights=pretrained, freeze=["stems"]).fit(X, y)
    with pytest.raises(ValueError, match="do not fit the EEGNet"):
        tiny_clf(max_epochs=1, module="EEGNet", module_kwargs=None,
                 init_weights=pretrained).fit(X, y)


@pytest.mark.parametrize("kwargs, match", [
    (dict(y_target_labeled=np.zeros(4)), "y_target_labeled was given without "
                                         "X_target_labeled"),
    (dict(X_target_labeled=np.zeros((4, 4, 96))), "X_target_labeled was given "
                                                  "without y_target_labeled"),
    (dict(X_target_labeled=np.zeros((4, 3, 96)), y_target_labeled=np.zeros(4)),
     "X_target_labeled has 3 channels, but X has 4"),
    (dict(X_target_labeled=np.zeros((4, 4, 96)), y_target_labeled=[0, 1, 7, 7]),
     r"labels not seen in y: \[7\]"),
    (dict(X_target_labeled=np.zeros((4, 4, 96)), y_target_labeled=[0, 1]),
     "one label per trial"),
    (dict(subjects=[1, 2]), "subjects has 2 entries but X has 30"),
])
def test_bad_target_data(kwargs, match):
    X, y = make_task(30)
    with pytest.raises(ValueError, match=match):
        tiny_clf(max_epochs=1).fit(X, y, **kwargs)


def test_bad_init_weights_files(tmp_path):
    X, y = make_task(30)
    (tmp_path / "text.pt").write_text("not weights")
    match = r"(?s)Cannot read .*text.pt.*init_weights takes"
    with pytest.raises(ValueError, match=match):
        tiny_clf(max_epochs=1, init_weights=tmp_path / "text.pt").fit(X, y)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holds neither"):
        tiny_clf(max_epochs=1, init_weights=tmp_path / "list.pt").fit(X, y)
