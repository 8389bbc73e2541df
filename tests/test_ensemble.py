"""EnsembleClassifier: seeded members, fold members validating on their fold."""

import pickle

import numpy as np
import pytest
import torch
from mne.utils import catch_logging
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

# _one_thread: the autouse fixture running these tiny networks on one thread.
from test_estimator import TINY, _one_thread  # noqa: F401
from test_selection import ID_CHANNEL, SeenTrials

from mne_neurosketch.ensemble import EnsembleClassifier
from mne_neurosketch.estimator import NeuroSketchClassifier
from mne_neurosketch.representations import ERPPrototypes


def task(n=40, n_chans=3, n_times=64, seed=0):
    """Two classes of noise, one shifted on channel 0; channel ``ID_CHANNEL``
    holds the trial's index, so that a network's batches say which trials they
    are."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_chans, n_times)).astype(np.float32)
    y = np.array(["left", "right"] * (n // 2))
    X[y == "right", 0] += 1.0
    X[:, ID_CHANNEL] = np.arange(n, dtype=np.float32)[:, None]
    return X, y


def tiny(**kwargs):
    params = dict(module_kwargs=TINY, max_epochs=2, batch_size=8, valid_size=None,
                  random_state=0, verbose=False, device="cpu", scaling=None)
    params.update(kwargs)
    return NeuroSketchClassifier(**params)


def seen(net_estimator):
    return dict(net_estimator.net_.callbacks_)["seen"]


def test_seed_members_differ_and_the_proba_is_their_mean():
    X, y = task()
    ens = EnsembleClassifier(tiny(), n_members=3, random_state=0).fit(X, y)
    seeds = [m.random_state for m in ens.estimators_]
    assert len(set(seeds)) == 3 and all(isinstance(s, int) for s in seeds)
    assert ens.valid_indices_ is None
    first = [m.module_.state_dict() for m in ens.estimators_]
    key = next(k for k, v in first[0].items() if v.is_floating_point())
    assert not torch.equal(first[0][key], first[1][key])
    assert not torch.equal(first[1][key], first[2][key])
    probas = [m.predict_proba(X) for m in ens.estimators_]
    assert not np.array_equal(probas[0], probas[1])
    proba = ens.predict_proba(X)
    np.testing.assert_array_equal(proba, np.mean(probas, axis=0))
    np.testing.assert_array_equal(ens.predict(X), ens.classes_[proba.argmax(axis=1)])
    assert list(ens.classes_) == ["left", "right"] and ens.n_features_in_ == 3
    # the same random_state draws the same seeds; another draws others
    again = EnsembleClassifier(tiny(), n_members=3, random_state=0).fit(X, y)
    assert [m.random_state for m in again.estimators_] == seeds
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    other = EnsembleClassifier(tiny(), n_members=3, random_state=1)
    assert [m.random_state for m in other.fit(X, y).estimators_] != seeds


def test_nested_random_states_are_seeded_and_4d_trials_accepted():
    X, y = task(n=24)
    planes = ERPPrototypes().fit(X, y).transform(X)  # (n, n_chans, n_times, 3)
    ens = EnsembleClassifier(make_pipeline(ERPPrototypes(), tiny()), n_members=2,
                             random_state=0).fit(X, y)
    seeds = [m.get_params()["neurosketchclassifier__random_state"]
             for m in ens.estimators_]
    assert len(set(seeds)) == 2 and 0 not in seeds
    assert ens.predict_proba(X).shape == (24, 2)
    on_planes = EnsembleClassifier(tiny(), n_members=2, random_state=0).fit(planes, y)
    assert all(m.n_bands_ == 3 for m in on_planes.estimators_)
    assert on_planes.predict(planes).shape == (24,)
    tags = get_tags(on_planes)
    assert tags.input_tags.three_d_array and tags.estimator_type == "classifier"


def test_fold_members_validate_on_their_own_fold_only():
    X, y = task(n=40)
    subjects = np.repeat([1, 2], 20)  # per trial: must be split with the trials
    clf = tiny(callbacks=[("seen", SeenTrials())], augmentation=None)
    ens = EnsembleClassifier(clf, n_members=4, members="folds", random_state=0,
                             verbose="INFO")
    with catch_logging() as log:
        ens.fit(X, y, subjects=subjects)
        log = log.getvalue()
    assert "Ensemble member 4/4: 30 training trials" in log
    folds = ens.valid_indices_
    assert sorted(np.concatenate(folds).tolist()) == list(range(40))  # a partition
    for k, (fold, member) in enumerate(zip(folds, ens.estimators_)):
        assert len(fold) == 10 and set(y[fold]) == {"left", "right"}  # stratified
        trials = seen(member)
        assert trials.valid == set(fold.tolist())
        assert trials.train == set(range(40)) - set(fold.tolist())
        history = member.history_
        assert "valid_acc" in history[-1]
        assert sum(b.get("valid_batch_size", 0) for b in history[-1, "batches"]) == 10
        for other in folds[k + 1:]:
            assert not set(fold) & set(other)
    assert len({m.random_state for m in ens.estimators_}) == 4


def test_fold_members_without_validation_train_on_the_other_folds():
    # DummyClassifier takes no X_valid: each member trains on its training
    # part, with sample_weight split alike (its prior is the weighted one).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = np.repeat([0, 1, 2], 10)
    weights = rng.uniform(0.1, 5.0, size=30)
    ens = EnsembleClassifier(DummyClassifier(strategy="prior"), n_members=3,
                             members="folds", random_state=0)
    ens.fit(X, y, sample_weight=weights)
    for fold, member in zip(ens.valid_indices_, ens.estimators_):
        train = np.setdiff1d(np.arange(30), fold)
        prior = np.bincount(y[train], weights=weights[train]) / weights[train].sum()
        np.testing.assert_allclose(member.class_prior_, prior)
    np.testing.assert_allclose(
        ens.predict_proba(X[:1])[0],
        np.mean([m.class_prior_ for m in ens.estimators_], axis=0))


def test_bad_arguments_are_named():
    X, y = task(n=12)
    with pytest.raises(ValueError, match=r"Invalid value for the 'members' parameter\. "
                       r"Allowed values are 'seeds' and 'folds', but got 'bags'"):
        EnsembleClassifier(tiny(), members="bags").fit(X, y)
    for n_members in (1, 2.0, True, "5"):
        with pytest.raises(ValueError, match=r"'n_members' parameter\. Allowed "
                           "values are integers of at least 2"):
            EnsembleClassifier(tiny(), n_members=n_members).fit(X, y)
    with pytest.raises(ValueError, match=r"n_members=7 needs at least 7 trials of "
                       r"each class .* has 6\. Use fewer members \(n_members=6"):
        EnsembleClassifier(tiny(), n_members=7, members="folds").fit(X, y)
    with pytest.raises(ValueError, match="'estimator' parameter: .*predict_proba"):
        EnsembleClassifier(RidgeClassifier()).fit(X.reshape(12, -1), y)
    with pytest.raises(ValueError, match="X_valid and y_valid cannot be passed with "
                       "members='folds'"):
        EnsembleClassifier(tiny(), n_members=2, members="folds").fit(
            X, y, X_valid=X, y_valid=y)
    with pytest.raises(ValueError, match="X has 12 and y has 5"):
        EnsembleClassifier(tiny(), n_members=2).fit(X, y[:5])
    with pytest.warns(RuntimeWarning, match="GaussianNB has no random_state"):
        EnsembleClassifier(GaussianNB(), n_members=2).fit(X.reshape(12, -1), y)


def test_clone_params_and_pickle_of_a_fitted_ensemble():
    X, y = task(n=24)
    ens = EnsembleClassifier(tiny(), n_members=2, members="folds", random_state=3)
    params = ens.get_params(deep=False)
    assert EnsembleClassifier(**params).get_params(deep=False) == params
    copy = clone(ens)
    assert copy.estimator is not ens.estimator
    assert copy.get_params()["estimator__random_state"] == 0
    copy.set_params(estimator__max_epochs=1, n_members=3)
    assert copy.estimator.max_epochs == 1 and ens.estimator.max_epochs == 2
    ens.fit(X, y)
    restored = pickle.loads(pickle.dumps(ens))
    np.testing.assert_array_equal(restored.predict_proba(X), ens.predict_proba(X))
    assert not hasattr(clone(ens), "estimators_")


@parametrize_with_checks([EnsembleClassifier(LogisticRegression(), n_members=2,
                                             members="folds", random_state=0)])
def test_sklearn_compatible(estimator, check):
    # on 2-D features, with fold members (indexing of arrays, frames, sparse)
    check(estimator)
