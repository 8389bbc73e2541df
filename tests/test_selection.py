"""SelectByValidation and fit_with_validation: choices made on training trials only."""

import pickle

import numpy as np
import pytest
import sklearn
import torch
from mne.utils import catch_logging
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import Callback

# _one_thread: the autouse fixture running these tiny networks on one thread.
from test_estimator import TINY, _one_thread  # noqa: F401

from mne_neurosketch.estimator import NeuroSketchClassifier
from mne_neurosketch.representations import ERPPrototypes
from mne_neurosketch.selection import SelectByValidation, fit_with_validation

#: The channel of ``trials`` that holds each trial's index.
ID_CHANNEL = 2


def features(n=60, seed=0):
    """2-D, two classes apart along the first feature (LogisticRegression
    separates them; the majority class scores 0.5)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, 4))
    X[:, 0] += 4.0 * y
    return X, y


def trials(n=40, seed=0):
    """3-D trials, channel ``ID_CHANNEL`` holding each trial's index."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3, 64)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1, 0] += 1.0
    X[:, ID_CHANNEL] = np.arange(n, dtype=np.float32)[:, None]
    return X, y


def tiny(**kwargs):
    params = dict(module_kwargs=TINY, max_epochs=3, batch_size=8, random_state=0,
                  verbose=False, device="cpu", scaling=None, augmentation=None,
                  amp=False, callbacks=[("seen", SeenTrials())])
    params.update(kwargs)
    return NeuroSketchClassifier(**params)


class SeenTrials(Callback):
    """Records the trials (by index) of training and validation batches."""

    def initialize(self):
        self.train, self.valid = set(), set()
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        ids = batch[0][:, ID_CHANNEL, 0]
        if ids.ndim > 1:  # planes (n, n_chans, n_times, n_planes): the trial first
            ids = ids[:, 0]
        (self.train if training else self.valid).update(
            int(i) for i in torch.as_tensor(ids).round().tolist())


def split(y, valid_size=0.2, random_state=0):
    """The selection's split: training and validation indices."""
    return train_test_split(np.arange(len(y)), test_size=valid_size, stratify=y,
                            random_state=random_state)


def test_the_better_candidate_is_chosen_and_not_refitted():
    X, y = features()
    sel = SelectByValidation([("majority", DummyClassifier(strategy="most_frequent")),
                              ("logreg", LogisticRegression())],
                             valid_size=0.3, random_state=0, verbose="INFO")
    with catch_logging() as log:
        sel.fit(X, y)
        log = log.getvalue()
    assert sel.best_name_ == "logreg"
    assert list(sel.validation_scores_) == ["majority", "logreg"]
    assert sel.validation_scores_["majority"] == 0.5  # stratified split, 2 classes
    assert sel.validation_scores_["logreg"] >= 0.9
    assert "Chose 'logreg'" in log and "majority: 0.5000" in log
    train, valid = split(y, 0.3)
    assert len(valid) == 18
    # kept as fitted on the training part of the split, not refitted on all
    alone = LogisticRegression().fit(X[train], y[train])
    np.testing.assert_array_equal(sel.best_estimator_.coef_, alone.coef_)
    assert sel.validation_scores_["logreg"] == alone.score(X[valid], y[valid])
    np.testing.assert_array_equal(sel.predict(X), alone.predict(X))
    np.testing.assert_array_equal(sel.predict_proba(X), alone.predict_proba(X))
    assert sel.score(X, y) == alone.score(X, y)
    assert list(sel.classes_) == [0, 1] and sel.n_features_in_ == 4


def test_a_tie_keeps_the_first_listed():
    X, y = features()
    majority, prior = (DummyClassifier(strategy=s) for s in ("most_frequent", "prior"))
    for first, second in (("a", "b"), ("b", "a")):
        sel = SelectByValidation([(first, majority), (second, prior)]).fit(X, y)
        assert sel.validation_scores_[first] == sel.validation_scores_[second]
        assert sel.best_name_ == first
        assert sel.best_estimator_.strategy == "most_frequent"


def test_scoring_is_used():
    X, y = features()
    y[:40] = 0  # 50 of 60 in class 0: the majority's accuracy is high, not its
    # balanced accuracy
    sel = SelectByValidation([("majority", DummyClassifier())],
                             scoring="balanced_accuracy", random_state=0).fit(X, y)
    assert sel.validation_scores_["majority"] == 0.5
    sel = SelectByValidation([("majority", DummyClassifier())], random_state=0)
    assert sel.fit(X, y).validation_scores_["majority"] == pytest.approx(10 / 12)


def test_a_network_candidate_validates_on_the_selection_split():
    X, y = trials(n=40)
    sel = SelectByValidation([("raw", tiny(lr=1e-2)),
                              ("erp", make_pipeline(ERPPrototypes(), tiny(lr=1e-2)))],
                             valid_size=0.25, random_state=1).fit(X, y)
    train, valid = split(y, 0.25, random_state=1)
    assert len(sel.validation_scores_) == 2
    best = sel.best_estimator_ if sel.best_name_ == "raw" else sel.best_estimator_[-1]
    history = best.history_
    assert sum(b.get("valid_batch_size", 0) for b in history[-1, "batches"]) == 10
    # the score the selection saw is that of the epoch the network kept
    assert sel.validation_scores_[sel.best_name_] == pytest.approx(
        max(history[:, "valid_acc"]))
    trials_seen = dict(best.net_.callbacks_)["seen"]
    assert trials_seen.valid == set(valid.tolist())
    assert trials_seen.train == set(train.tolist())


def test_fit_with_validation_on_a_pipeline_fits_the_front_on_training_trials():
    X, y = trials(n=40)
    train, valid = split(y, 0.25)
    pipe = make_pipeline(ERPPrototypes(), tiny())
    assert fit_with_validation(pipe, X[train], y[train], X[valid], y[valid]) is pipe
    prototypes = pipe[0].prototypes_  # (n_chans, n_times, n_classes)
    for k in (0, 1):
        np.testing.assert_allclose(prototypes[..., k],
                                   X[train][y[train] == k].mean(axis=0), rtol=1e-6)
    trials_seen = dict(pipe[-1].net_.callbacks_)["seen"]
    assert trials_seen.valid == set(valid.tolist())
    assert trials_seen.train == set(train.tolist())
    # per-step parameters as Pipeline.fit takes them; a bare one is refused
    subjects = np.ones(len(train))
    fit_with_validation(pipe, X[train], y[train], X[valid], y[valid],
                        neurosketchclassifier__subjects=subjects)
    with pytest.raises(ValueError, match="does not accept the subjects parameter"):
        fit_with_validation(pipe, X[train], y[train], X[valid], y[valid],
                            subjects=subjects)
    # an estimator without X_valid is fitted on the training trials alone
    Xf, yf = features()
    logreg = fit_with_validation(make_pipeline(StandardScaler(), LogisticRegression()),
                                 Xf[:40], yf[:40], Xf[40:], yf[40:])
    np.testing.assert_allclose(logreg[0].mean_, Xf[:40].mean(axis=0))


def test_metadata_routing_splits_per_trial_parameters():
    X, y = features()
    weights = np.random.default_rng(1).uniform(0.1, 5.0, size=len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        sel = SelectByValidation(
            [("weighted", LogisticRegression().set_fit_request(sample_weight=True)),
             ("majority", DummyClassifier().set_fit_request(sample_weight=False))],
            random_state=0)
        sel.fit(X, y, sample_weight=weights)
    train, _ = split(y)
    alone = LogisticRegression().fit(X[train], y[train], sample_weight=weights[train])
    np.testing.assert_allclose(sel.best_estimator_.coef_, alone.coef_)


def test_bad_arguments_are_named():
    X, y = features()
    logreg = LogisticRegression()
    for candidates in ([], logreg, [logreg], [("a", logreg, 1)], [(1, logreg)]):
        with pytest.raises(ValueError, match="'candidates' parameter"):
            SelectByValidation(candidates).fit(X, y)
    with pytest.raises(ValueError, match="candidate 'a' is not an estimator"):
        SelectByValidation([("a", "logreg")]).fit(X, y)
    with pytest.raises(ValueError, match="must be unique, but got 'a' more than once"):
        SelectByValidation([("a", logreg), ("b", logreg), ("a", logreg)]).fit(X, y)
    for valid_size in (0, 1.0, -2, 1.5, True, "0.2"):
        with pytest.raises(ValueError, match=r"Invalid value for the 'valid_size' "
                           r"parameter\. Allowed values are numbers between 0 and 1"):
            SelectByValidation([("a", logreg)], valid_size=valid_size).fit(X, y)
    with pytest.raises(ValueError, match="Cannot hold out a stratified validation "
                       "split with valid_size=1 from 60 trials"):
        SelectByValidation([("a", logreg)], valid_size=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 60 and y has 10"):
        SelectByValidation([("a", logreg)]).fit(X, y[:10])


def test_clone_params_and_pickle():
    X, y = features()
    sel = SelectByValidation([("a", LogisticRegression(C=0.5)), ("b", DummyClassifier())],
                             valid_size=10, scoring="accuracy", random_state=2)
    params = sel.get_params(deep=False)
    assert SelectByValidation(**params).get_params(deep=False) == params
    copy = clone(sel)
    assert copy.candidates[0][1] is not sel.candidates[0][1]
    assert copy.candidates[0][1].C == 0.5 and copy.valid_size == 10
    sel.fit(X, y)
    restored = pickle.loads(pickle.dumps(sel))
    assert restored.best_name_ == "a"
    np.testing.assert_array_equal(restored.predict_proba(X), sel.predict_proba(X))
    assert not hasattr(clone(sel), "best_estimator_")


@parametrize_with_checks([SelectByValidation([("a", LogisticRegression(C=0.01)),
                                              ("b", LogisticRegression())],
                                             random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
